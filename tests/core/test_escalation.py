from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from connector.core.clocks import recompute
from connector.core.escalation import Escalation, diff, plan
from connector.core.model import Priority, Status
from connector.core.policy import Policy
from connector.store.codec import RECORD_COLUMNS, record_from_row, record_to_row
from tests.support.engine_helpers import DEFAULT_POLICY, agent, customer, history, load_settings, policy_from, t, ticket

SETTINGS = load_settings()
POLICY = policy_from()
ESCALATION = Escalation.from_policy(POLICY, SETTINGS)


def cycle(tk, messages, now, previous=()):
    records = recompute(tk, messages, POLICY, previous, now)
    return records, diff(previous, records, now)


def kinds(events):
    return [(e.metric, e.seq, e.kind) for e in events]


def test_a_ticket_nobody_answers_walks_up_the_ladder_once():
    tk, messages = ticket(t(2, 10), number="1042", title="Printer on fire"), [customer(t(2, 10))]
    records, events = cycle(tk, messages, t(2, 10, 1))
    assert kinds(events) == [("first_reply", 1, "started"), ("resolution", 1, "started")]
    records, events = cycle(tk, messages, t(2, 10, 50), records)
    assert kinds(events) == [("first_reply", 1, "step:0")]
    assert [a.kind for a in plan(events, ESCALATION, tk, t(2, 10, 50))] == ["add_tags"]
    # nothing new: nothing emitted
    records, events = cycle(tk, messages, t(2, 10, 55), records)
    assert events == []
    # the breach and the step two hours later fall into one late cycle: each is its own event
    records, events = cycle(tk, messages, t(2, 13, 5), records)
    assert kinds(events) == [("first_reply", 1, "step:1"), ("first_reply", 1, "step:2"), ("first_reply", 1, "breached")]
    actions = plan(events, ESCALATION, tk, t(2, 13, 5))
    assert [(a.kind, a.key) for a in actions] == [
        ("add_tags", "test:1:first_reply:1:step@0:add_tags"),
        ("remove_tags", "test:1:first_reply:1:step@0:remove_tags"),
        ("raise_priority", "test:1:first_reply:1:step@0:raise_priority"),
        ("add_note", "test:1:first_reply:1:step@0:add_note"),
        ("notify", "test:1:first_reply:1:step@+2h:notify"),
    ]
    note = actions[3].payload["text"]
    assert note == "SLA first_reply (Standard) breached on 1042: due 2026-11-02 11:00 UTC, overdue 2h5m"
    notify = actions[4].payload
    assert notify["recipients"] == ["lead@help.example", "assignee"]
    assert notify["subject"] == "SLA first_reply breached on ticket 1042"


def test_a_priority_is_never_lowered():
    tk = ticket(t(2, 10), priority=Priority(4, "urgent"))
    records, _ = cycle(tk, [customer(t(2, 10))], t(2, 10, 1))
    _, events = cycle(tk, [customer(t(2, 10))], t(2, 11, 1), records)
    assert "raise_priority" not in [a.kind for a in plan(events, ESCALATION, tk, t(2, 11, 1))]
    normal = ticket(t(2, 10), priority=Priority(2, "normal"))
    assert "raise_priority" in [a.kind for a in plan(events, ESCALATION, normal, t(2, 11, 1))]


def test_late_steps_and_stopped_records_write_nothing():
    tk = ticket(t(2, 10))
    # the first sync of a ticket that breached last week: events are kept, no action is planned
    _, events = cycle(tk, [customer(t(2, 10))], t(9, 10))
    assert "breached" in [e.kind for e in events]
    assert plan(events, ESCALATION, tk, t(9, 10)) == []
    # within the catch-up window the same events do act
    assert plan(events, ESCALATION, tk, t(2, 13, 30)) != []


def test_pause_resume_met_and_cancel_events_have_distinct_keys():
    messages = [customer(t(2, 10))]
    pending = ticket(
        t(2, 10), status=Status.PENDING, status_history=history((t(2, 10), Status.OPEN), (t(2, 10, 10), Status.PENDING))
    )
    records, events = cycle(pending, messages, t(2, 10, 20))
    assert ("first_reply", 1, "paused") in kinds(events)
    reopened = ticket(
        t(2, 10),
        status=Status.OPEN,
        status_history=pending.status_history
        + history((t(2, 10, 30), Status.OPEN), (t(2, 10, 40), Status.PENDING), (t(2, 10, 45), Status.OPEN)),
    )
    records, events = cycle(reopened, messages, t(2, 10, 50), records)
    keys = [e.key for e in events if e.metric == "first_reply"]
    assert keys == [
        "test:1:first_reply:1:resumed@2026-11-02T10:10:00+00:00/2026-11-02T10:30:00+00:00",
        "test:1:first_reply:1:paused@2026-11-02T10:40:00+00:00",
        "test:1:first_reply:1:resumed@2026-11-02T10:40:00+00:00/2026-11-02T10:45:00+00:00",
    ]
    deleted = replace(reopened, deleted=True, updated_at=t(2, 10, 55))
    _, events = cycle(deleted, messages, t(2, 11), records)
    assert kinds(events) == [("first_reply", 1, "cancelled"), ("resolution", 1, "cancelled")]


def test_a_level_override_of_the_ladder():
    urgent = ESCALATION.ladders["Urgent SLA"]
    assert [s.at for s in urgent] == ["-20%", "0", "+2h"]  # no own steps: the default ladder
    assert ESCALATION.catch_up == timedelta(days=1)


def tagging(actions):
    return [(a.kind, a.key.split(":", 2)[2], a.payload.get("tags")) for a in actions if "tags" in a.kind]


def test_a_clock_met_after_its_warning_takes_the_warning_tag_off():
    tk = ticket(t(2, 10))
    records, events = cycle(tk, [customer(t(2, 10))], t(2, 10, 50))
    assert tagging(plan(events, ESCALATION, tk, t(2, 10, 50), records)) == [
        ("add_tags", "first_reply:1:step@-20%:add_tags", ["sla-warning"])
    ]
    answered = [customer(t(2, 10)), agent(t(2, 10, 55))]
    records, events = cycle(tk, answered, t(2, 10, 56), records)
    assert tagging(plan(events, ESCALATION, tk, t(2, 10, 56), records)) == [
        ("remove_tags", "first_reply:1:met@2026-11-02T10:55:00+00:00:remove_tags", ["sla-warning"])
    ]
    keeping = replace(ESCALATION, remove_tags_when_met=False)
    assert plan(events, keeping, tk, t(2, 10, 56), records) == []
    # the service was down for days while the reply came: the tag still comes off
    assert tagging(plan(events, ESCALATION, tk, t(5, 9), records)) == [
        ("remove_tags", "first_reply:1:met@2026-11-02T10:55:00+00:00:remove_tags", ["sla-warning"])
    ]


def test_a_clock_warned_and_met_between_two_cycles_writes_nothing():
    tk = ticket(t(2, 10))
    records, _ = cycle(tk, [customer(t(2, 10))], t(2, 10, 30))
    records, events = cycle(tk, [customer(t(2, 10)), agent(t(2, 10, 55))], t(2, 10, 56), records)
    assert [e.kind for e in events if e.metric == "first_reply"] == ["step:0", "met"]
    assert plan(events, ESCALATION, tk, t(2, 10, 56), records) == []  # the tag was never added
    # the same a week later, on the first sync of an old helpdesk
    records, events = cycle(tk, [customer(t(2, 10)), agent(t(2, 10, 55))], t(9, 10))
    assert plan(events, ESCALATION, tk, t(9, 10), records) == []


def test_a_tag_another_running_clock_holds_stays_on_the_ticket():
    # first reply answered in time; the customer's follow-up at 16:00 waits, and at 16:24 both the
    # next reply (30m) and the resolution (8h from 10:00) pass 80 % of their targets
    tk = ticket(t(2, 10))
    messages = [customer(t(2, 10)), agent(t(2, 10, 20)), customer(t(2, 16))]
    records, _ = cycle(tk, messages, t(2, 16, 1))
    records, events = cycle(tk, messages, t(2, 16, 25), records)
    assert tagging(plan(events, ESCALATION, tk, t(2, 16, 25), records)) == [
        ("add_tags", "next_reply:1:step@-20%:add_tags", ["sla-warning"]),
        ("add_tags", "resolution:1:step@-20%:add_tags", ["sla-warning"]),
    ]
    # the next reply is met, but the resolution still holds the warning
    records, events = cycle(tk, messages + [agent(t(2, 16, 26))], t(2, 16, 27), records)
    assert [e.kind for e in events] == ["met"]
    assert plan(events, ESCALATION, tk, t(2, 16, 27), records) == []


def test_a_breach_step_keeps_a_warning_another_running_clock_holds():
    tk = ticket(t(2, 10))
    records, _ = cycle(tk, [customer(t(2, 10))], t(2, 10, 50))  # first reply warned
    records, events = cycle(tk, [customer(t(2, 10))], t(2, 16, 30), records)
    # first reply breached at 11:00 (+2h at 13:00); resolution warned at 16:24
    assert tagging(plan(events, ESCALATION, tk, t(2, 16, 30), records)) == [
        ("add_tags", "first_reply:1:step@0:add_tags", ["sla-breached"]),
        ("add_tags", "resolution:1:step@-20%:add_tags", ["sla-warning"]),
    ]


LADDER_WARNING = '[[escalation.steps]]\nat = "-20%"\nadd_tags = ["sla-warning"]\n'


def with_ladder(text):
    settings = load_settings(DEFAULT_POLICY.replace(LADDER_WARNING, text))
    policy = Policy.from_settings(settings)
    return policy, Escalation.from_policy(policy, settings)


def test_a_step_added_to_the_ladder_neither_repeats_nor_renames_the_steps_before_it():
    tk, messages = ticket(t(2, 10)), [customer(t(2, 10))]
    warned, _ = cycle(tk, messages, t(2, 10, 50))
    policy, escalation = with_ladder('[[escalation.steps]]\nat = "-50%"\nadd_note = "half way"\n' + LADDER_WARNING)
    records = recompute(tk, messages, policy, warned, t(2, 10, 55))
    events = diff(warned, records, t(2, 10, 55))
    assert [(e.kind, e.key) for e in events] == [("step:0", "test:1:first_reply:1:step@-50%")]
    assert [a.kind for a in plan(events, escalation, tk, t(2, 10, 55), records)] == ["add_note"]
    later = recompute(tk, messages, policy, records, t(2, 11, 1))
    assert [e.key for e in diff(records, later, t(2, 11, 1))] == [
        "test:1:first_reply:1:step@0",
        "test:1:first_reply:1:breached",
    ]


def test_a_step_removed_from_the_ladder_does_not_silence_the_steps_after_it():
    tk, messages = ticket(t(2, 10)), [customer(t(2, 10))]
    breached, _ = cycle(tk, messages, t(2, 11, 1))  # the warning and the breach steps fired
    policy, escalation = with_ladder("")
    records = recompute(tk, messages, policy, breached, t(2, 13, 1))
    events = diff(breached, records, t(2, 13, 1))
    assert [(e.kind, e.key) for e in events] == [("step:1", "test:1:first_reply:1:step@+2h")]
    assert [a.kind for a in plan(events, escalation, tk, t(2, 13, 1), records)] == ["notify"]


def test_steps_stored_without_their_point_are_not_fired_again():
    tk, messages = ticket(t(2, 10)), [customer(t(2, 10))]
    warned, _ = cycle(tk, messages, t(2, 10, 50))
    row = record_to_row(1, warned[0])
    row["steps_fired"] = '[[0, "2026-11-02T10:48:00+00:00"]]'  # as older versions wrote it
    stored = record_from_row(tk.key, [row[c.strip()] for c in RECORD_COLUMNS.split(",")])
    assert stored.steps_fired == ((0, t(2, 10, 48), None),)
    records, events = cycle(tk, messages, t(2, 11, 1), [stored, warned[1]])
    assert [e.key for e in events] == ["test:1:first_reply:1:step@0", "test:1:first_reply:1:breached"]
