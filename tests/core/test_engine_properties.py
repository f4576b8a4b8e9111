"""The engine's laws over random conversations and status histories."""

from __future__ import annotations

import os
import random
from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.core.clocks import RecordStatus, compute, recompute
from connector.core.escalation import diff
from connector.core.model import Message, Role, Status, StatusChange
from tests.support.engine_helpers import DEFAULT_POLICY, Channel, Priority, policy_from, t, ticket

POLICY = policy_from()
START = t(2, 8)
KINDS = ["customer", "agent", "note", "auto", "pending", "open", "solved", "closed"]

happenings = st.lists(st.tuples(st.integers(0, 7 * 24 * 60), st.sampled_from(KINDS)), max_size=12)
levels = st.sampled_from(["Standard", "Office", "Urgent SLA"])
EXAMPLES = int(os.environ.get("ENGINE_EXAMPLES", "150"))  # raise it for a deeper search
common = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build(items, until_minutes=None):
    """The ticket and messages as the host shows them after the happenings up to `until`."""
    messages, changes = [], [StatusChange(START, Status.NEW)]
    for i, (minute, kind) in enumerate(sorted(items)):
        if until_minutes is not None and minute > until_minutes:
            break
        at = START + timedelta(minutes=minute)
        if kind in ("customer", "agent", "note", "auto"):
            role = Role.CUSTOMER if kind in ("customer", "auto") else Role.AGENT
            messages.append(Message(f"m{i}", at, role, public=kind != "note", auto_generated=kind == "auto"))
        else:
            changes.append(StatusChange(at, Status(kind)))
    status = changes[-1].status
    return ticket(START, status=status, status_history=tuple(changes), updated_at=START), messages


@common
@given(happenings, levels, st.integers(0, 10 * 24 * 60))
def test_recomputing_the_same_input_gives_the_same_records(items, level_name, now_minutes):
    level = POLICY.levels[level_name]
    now = START + timedelta(minutes=now_minutes)
    tk, messages = build(items)
    first = compute(tk, messages, level, level.calendar, ["pending"], now)
    shuffled = list(messages)
    random.Random(now_minutes).shuffle(shuffled)
    assert compute(tk, shuffled, level, level.calendar, ["pending"], now) == first
    assert [r.ident for r in first] == sorted(r.ident for r in first)  # recompute relies on the order


@common
@given(happenings, levels, st.integers(0, 10 * 24 * 60))
def test_business_time_is_the_calendars_elapsed_time_minus_pauses(items, level_name, now_minutes):
    level = POLICY.levels[level_name]
    now = START + timedelta(minutes=now_minutes)
    tk, messages = build(items)
    for record in compute(tk, messages, level, level.calendar, ["pending"], now):
        end = record.stop if record.stop is not None else max(now, record.start)
        assert record.business == level.calendar.elapsed(record.start, end) - record.paused
        assert record.business >= timedelta(0) and record.due >= record.start
        if record.stop is not None:
            assert (record.status is RecordStatus.MET) == (record.stop <= record.due)


@common
@given(happenings, st.lists(st.integers(0, 10 * 24 * 60), min_size=1, max_size=8))
def test_events_for_a_record_never_repeat(items, cycle_minutes):
    seen: set[str] = set()
    previous = []
    for minute in sorted(cycle_minutes):
        now = START + timedelta(minutes=minute)
        tk, messages = build(items, until_minutes=minute)
        records = recompute(tk, messages, POLICY, previous, now)
        for event in diff(previous, records, now):
            assert event.key not in seen, event.key
            seen.add(event.key)
        previous = records


@common
@given(happenings, st.integers(0, 10 * 24 * 60))
def test_a_deleted_ticket_has_nothing_running(items, now_minutes):
    tk, messages = build(items)
    now = START + timedelta(minutes=now_minutes)
    gone = replace(tk, deleted=True, updated_at=now)
    for record in recompute(gone, messages, POLICY, [], now):
        assert record.status in (RecordStatus.MET, RecordStatus.BREACHED, RecordStatus.CANCELLED)
        assert record.next_check_at is None


@common
@given(happenings, st.sampled_from(["email", "chat", "phone"]), st.integers(0, 10 * 24 * 60))
def test_records_come_in_metric_and_sequence_order(items, channel, now_minutes):
    # recompute returns compute's list as it is when there is nothing earlier to merge
    tk, messages = build(items)
    records = recompute(
        replace(tk, channel=Channel(channel)), messages, POLICY, (), START + timedelta(minutes=now_minutes)
    )
    assert [r.ident for r in records] == sorted(r.ident for r in records)


TIGHTER = policy_from(
    DEFAULT_POLICY.replace('first_reply = "1h"', 'first_reply = "20m"', 1)
    .replace('next_reply = "30m"', 'next_reply = "10m"', 1)
    .replace('resolution = "8h"', 'resolution = "3h"')
)
LOOSER = policy_from(
    DEFAULT_POLICY.replace('first_reply = "1h"', 'first_reply = "3h"', 1)
    .replace('next_reply = "30m"', 'next_reply = "2h"', 1)
    .replace('resolution = "8h"', 'resolution = "2d"')
)
CHANGES = [
    {"priority": Priority(3, "high")},
    {"priority": Priority(1, "low")},
    {"tags": frozenset({"URGENT"})},
    {"priority": Priority(3, "high"), "tags": frozenset({"URGENT"})},
]


@common
@given(
    happenings,
    st.integers(0, 10 * 24 * 60),
    st.integers(0, 3 * 24 * 60),
    st.sampled_from(CHANGES),
    st.sampled_from([POLICY, TIGHTER, LOOSER]),
    st.booleans(),
)
def test_a_decided_record_keeps_its_verdict_and_terms(items, now_minutes, later_minutes, change, policy, was_high):
    """With nothing new said or done on the ticket, whatever changes later, its level, its
    priority or the configured targets, a record already met or breached keeps its level, target,
    due time and verdict."""
    tk, messages = build(items, until_minutes=now_minutes)
    if was_high:
        tk = replace(tk, priority=Priority(3, "high"))
    now = START + timedelta(minutes=now_minutes)
    before = recompute(tk, messages, POLICY, [], now)
    after = {
        r.ident: r
        for r in recompute(replace(tk, **change), messages, policy, before, now + timedelta(minutes=later_minutes))
    }
    for old in before:
        if old.status.is_decided:
            new = after[old.ident]
            assert (new.level, new.target, new.due, new.stop, new.status) == (
                old.level,
                old.target,
                old.due,
                old.stop,
                old.status,
            ), old.ident


@common
@given(happenings, st.integers(1, 5 * 24 * 60), st.integers(0, 3 * 24 * 60))
def test_closing_a_solved_ticket_changes_none_of_its_records(items, close_after, later_minutes):
    """Helpdesks close solved tickets days later: the clocks stopped when it was solved."""
    tk, messages = build(items + [(7 * 24 * 60, "solved")])
    closed_at = tk.status_history[-1].at + timedelta(minutes=close_after)
    now = closed_at + timedelta(minutes=later_minutes)
    closed = replace(
        tk, status=Status.CLOSED, status_history=tk.status_history + (StatusChange(closed_at, Status.CLOSED),)
    )
    assert recompute(closed, messages, POLICY, [], now) == recompute(tk, messages, POLICY, [], now)
