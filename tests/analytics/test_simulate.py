"""`simulate` on hand-built histories whose outcomes can be counted, a property test that the live
config as the proposal reproduces the live figures, and a check that the store is never written."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.analytics.simulate import proposed_settings, simulate
from connector.cli.main import main
from connector.config.settings import load_config
from connector.core.clocks import RecordStatus, recompute
from connector.core.errors import ConfigError
from connector.core.escalation import Escalation, diff, plan
from connector.core.model import Person, Priority, Status
from connector.core.policy import Policy
from connector.reports.queries import Filters, Reports
from connector.store.database import Store
from tests.support.engine_helpers import CALENDARS, agent, customer, history, t, ticket
from tests.support.history import fill, write_config

M = timedelta(minutes=1)
NOW = t(4, 12)
LADDER = """
[escalation]
[[escalation.steps]]
at = "-20%"
add_tags = ["sla-warning"]
[[escalation.steps]]
at = "0"
raise_priority = "high"
add_note = "breached: {metric}"
"""
LIVE = (
    CALENDARS
    + """
[connector]
default_level = "Standard"
report_timezone = "UTC"

[[levels]]
name = "Standard"
calendar = "always"
first_reply = "1h"

[[contracts]]
customer = "ACME Corp"
organizations = ["ACME"]
monthly_fee = "1000.00"
currency = "EUR"
tiers = [ { below = 30, credit_percent = 10 } ]
per_breach_percent = "1"
"""
    + LADDER
)
PROPOSAL = (
    CALENDARS
    + """
[[levels]]
name = "Standard"
calendar = "always"
first_reply = "45m"
"""
    + LADDER
)


def counted_cases():
    """Replies after 30, 50, 70 and 90 minutes, and one ticket unanswered for two hours."""
    cases = []
    for n, minutes in enumerate((30, 50, 70, 90), start=1):
        created = t(2, 9) + n * 3 * 60 * M
        messages = [customer(created, f"c{n}"), agent(created + minutes * M, f"a{n}")]
        cases.append((ticket(created, external_id=str(n), organization="ACME"), messages))
    cases.append((ticket(NOW - 120 * M, external_id="5", organization="ACME"), [customer(NOW - 120 * M, "c5")]))
    return cases


@pytest.fixture
def counted(tmp_path):
    live = write_config(tmp_path, LIVE)
    proposal = tmp_path / "proposed.toml"
    proposal.write_text(PROPOSAL)
    store = fill(live, counted_cases(), NOW)
    return store, live, proposal


def test_a_tighter_target_counted_by_hand(counted):
    store, live, proposal = counted
    settings = load_config(live)
    result = simulate(
        store, settings, proposed_settings(settings, proposal), NOW, date(2026, 11, 1), date(2026, 11, 30)
    )
    assert result.tickets == 5
    # now: 30 and 50 met, 70, 90 and the open one past its hour failed; under 45m only 30 is met
    assert list(result.compliance().rows) == [
        ["Standard", 2, 3, Decimal("40.00"), 1, 4, Decimal("20.00"), Decimal("-20.00")]
    ]
    # ACME: 3 failures at 1 % each = 3 % now; 20 % is below the 30 % tier: 10 %
    assert list(result.credits().rows) == [
        ["ACME Corp", "2026-11", Decimal("40.00"), Decimal("30.00"), Decimal("20.00"), Decimal("100.00"),
         Decimal("70.00"), "EUR"]
    ]  # fmt: skip
    # writes now: warnings (at 48m) on the 50, 70, 90 and open ones; the 50 one met after its
    # warning takes the tag off; 70, 90 and the open one breached: a priority raise and a note each.
    # Under 45m the warning is at 36m and 50 breaches too.
    [week] = result.escalation_writes().rows
    assert week == ["2026-W45", 4, 4, 1, 0, 3, 4, 3, 4, 0, 0]


def test_the_command_prints_all_three_and_leaves_the_store_as_it_was(counted, capsys):
    store, live, proposal = counted
    store.close()
    database = Path(load_config(live).connector.database)
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    args = ["--config", str(live), "simulate", "--policy", str(proposal), "--from", "2026-11-01", "--to", "2026-11-30"]
    assert main([*args, "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"compliance", "credits", "escalations"}
    assert printed["compliance"][0]["proposed_compliance"] == "20.00"
    assert main([*args, "--format", "table"]) == 0
    text = capsys.readouterr().out
    assert "5 tickets replayed" in text and "Escalation writes per week" in text
    assert main([*args, "--show", "compliance,credits", "--format", "csv"]) == 2
    assert "CSV holds one table" in capsys.readouterr().err
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before


def test_a_proposal_that_does_not_fit_is_named(counted, tmp_path):
    _, live, _ = counted
    bad = tmp_path / "bad.toml"
    bad.write_text(CALENDARS + '[[levels]]\nname = "Gold"\ncalendar = "ofice"\nfirst_reply = "1h"\n')
    with pytest.raises(ConfigError) as caught:
        proposed_settings(load_config(live), bad)
    assert any("bad.toml" in p and "levels[0].calendar" in p and "'ofice'" in p for p in caught.value.problems)


# ---- the live config as the proposal reproduces the live figures --------------------------------

RANDOM_LIVE = (
    CALENDARS
    + """
[connector]
default_level = "Standard"
report_timezone = "Europe/Berlin"
pause_statuses = ["pending"]

[[levels]]
name = "Standard"
calendar = "office"
first_reply = "2h"
next_reply = "4h"
resolution = "16h"
[levels.by_priority.high]
first_reply = "30m"

[[levels]]
name = "Urgent SLA"
calendar = "always"
first_reply = "20m"
next_reply = "1h"

[[rules]]
name = "Urgent tag"
when = { field = "tags", op = "contains", value = "URGENT" }
set_level = "Urgent SLA"
stop = true

[[contracts]]
customer = "ACME Corp"
organizations = ["ACME"]
domains = ["acme.example"]
monthly_fee = "1000.00"
currency = "EUR"
tiers = [ { below = 95, credit_percent = 5 }, { below = 80, credit_percent = 15 } ]

[escalation]
remove_tags_when_met = true
[[escalation.steps]]
at = "-25%"
add_tags = ["sla-warning"]
[[escalation.steps]]
at = "0"
add_tags = ["sla-breached"]
remove_tags = ["sla-warning"]
raise_priority = "high"
add_note = "breached"
[[escalation.steps]]
at = "+1h"
notify = ["lead@help.example"]
"""
)

one_ticket = st.fixed_dictionaries(
    {
        "created": st.integers(0, 14 * 24 * 60),  # minutes after 2026-11-02 00:00 UTC
        "gaps": st.lists(st.integers(1, 24 * 60), max_size=5),
        "pending_after": st.none() | st.integers(1, 6 * 60),
        "solved_after": st.none() | st.integers(1, 3 * 24 * 60),
        "urgent": st.booleans(),
        "high": st.booleans(),
        "organization": st.sampled_from([None, "ACME", "Other"]),
        "department": st.sampled_from(["Support", "Sales", None]),
    }
)


def random_cases(drawn):
    cases = []
    for n, d in enumerate(drawn):
        created = t(2, 0) + d["created"] * M
        messages, at = [customer(created, f"c{n}-0")], created
        for i, gap in enumerate(d["gaps"], start=1):
            at += gap * M
            messages.append((agent if i % 2 else customer)(at, f"m{n}-{i}"))
        changes = [(created, Status.NEW)]
        if d["pending_after"]:
            changes += [(created + d["pending_after"] * M, Status.PENDING), (at + M, Status.OPEN)]
        if d["solved_after"]:
            changes.append((max(at, changes[-1][0]) + d["solved_after"] * M, Status.SOLVED))
        last = changes[-1][0]
        cases.append(
            (
                ticket(
                    created,
                    external_id=str(n),
                    updated_at=max(last, at),
                    status=changes[-1][1],
                    status_history=history(*changes),
                    tags=frozenset({"URGENT"} if d["urgent"] else ()),
                    priority=Priority(3 if d["high"] else 2),
                    organization=d["organization"],
                    department=d["department"],
                    requester=Person("R", f"r{n}@acme.example" if n % 3 == 0 else f"r{n}@else.example"),
                ),
                messages,
            )
        )
    return cases


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(one_ticket, min_size=1, max_size=12), st.sampled_from(["level", "date", "department", "customer"]))
def test_the_live_config_as_proposal_reproduces_the_live_figures(tmp_path_factory, drawn, group_by):
    folder = tmp_path_factory.mktemp("live")
    live = write_config(folder, RANDOM_LIVE)
    now = t(20, 12)
    store = fill(live, random_cases(drawn), now)
    settings_ = load_config(live)
    first, last = date(2026, 11, 1), date(2026, 11, 30)
    result = simulate(store, settings_, proposed_settings(settings_, live), now, first, last, group_by)
    for row in result.compliance().rows:
        assert row[1:4] == row[4:7] and row[7] in (None, Decimal("0.00")), row
    for row in result.credits().rows:
        assert row[2:4] == row[4:6] and row[6] == 0, row
    for row in result.escalation_writes().rows:
        assert row[1::2] == row[2::2], row
    # and "current" is what the compliance report says
    report = Reports(store, settings_, now).compliance(Filters(start=first, end=last), group_by)
    expected = {str(r[0] or "(none)"): (r[1], r[5], r[9]) for r in report.rows}
    assert {r[0]: (r[1], r[2], r[3]) for r in result.compliance().rows} == expected
    store.close()


# ---- the counted writes are the writes `plan` makes ----------------------------------------------


def _as_of(record, at):
    """The record as a service polling often saw it at `at`: not yet stopped, the steps reached."""
    if record.stop is not None and record.stop <= at:
        return record
    fired = tuple(f for f in record.steps_fired if f[1] <= at)
    if record.stop is None:
        return record._replace(steps_fired=fired)
    status = RecordStatus.BREACHED if record.due <= at else RecordStatus.RUNNING
    return record._replace(stop=None, status=status, steps_fired=fired)


def planned_writes(ticket_, records, escalation, low, high, zone):
    """Writes per (week, kind) from `diff` and `plan` themselves, event by event."""
    counts = Counter()
    events = sorted(
        (e for e in diff((), records, high) if (e.kind == "met" or e.kind.startswith("step:")) and low <= e.at < high),
        key=lambda e: (e.at, e.key),
    )
    shown = ticket_
    for event in events:
        then = [_as_of(r, event.at) for r in records]
        for action in plan([replace(event, record=_as_of(event.record, event.at))], escalation, shown, event.at, then):
            year, week, _ = event.at.astimezone(zone).date().isocalendar()
            counts[f"{year}-W{week:02d}", action.kind] += 1
            if action.kind == "raise_priority":
                shown = replace(shown, priority=Priority(action.payload["rank"]))
    return counts


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(one_ticket, min_size=1, max_size=8))
def test_the_counted_writes_are_the_writes_plan_makes(tmp_path_factory, drawn):
    folder = tmp_path_factory.mktemp("writes")
    live = write_config(folder, RANDOM_LIVE)
    proposal = folder / "proposed.toml"
    proposal.write_text(RANDOM_LIVE.replace('first_reply = "2h"', 'first_reply = "1h"').replace('"+1h"', '"+3h"'))
    now = t(20, 12)
    cases = random_cases(drawn)
    store = fill(live, cases, now)
    live_settings = load_config(live)
    proposed = proposed_settings(live_settings, proposal)
    result = simulate(store, live_settings, proposed, now, date(2026, 11, 1), date(2026, 11, 30))
    policy = Policy.from_settings(proposed)
    escalation = Escalation.from_policy(policy, proposed)
    expected = Counter()
    for ticket_, messages in cases:
        records = recompute(ticket_, messages, policy, (), now)
        expected += planned_writes(ticket_, records, escalation, result.low, result.high, result.zone)
    assert +result.proposed.writes == expected
    store.close()


def test_worker_processes_count_what_one_process_counts(counted):
    store, live, proposal = counted
    settings_ = load_config(live)
    proposed = proposed_settings(settings_, proposal)
    period = (date(2026, 11, 1), date(2026, 11, 30), "metric")
    one = simulate(store, settings_, proposed, NOW, *period, workers=1)
    two = simulate(store, settings_, proposed, NOW, *period, workers=2)
    assert two.tickets == one.tickets == 5
    for table in ("compliance", "credits", "escalation_writes"):
        assert list(getattr(two, table)().rows) == list(getattr(one, table)().rows)


def test_current_is_what_the_store_holds_not_the_live_config_recomputed(counted):
    """Records decided under an older config stay as decided: "current" counts the stored
    records (as the reports do), whatever the live config would make of them today."""
    store, live, proposal = counted
    tighter = proposed_settings(load_config(live), proposal)  # 45m live now; the store holds 1h
    result = simulate(store, tighter, tighter, NOW, date(2026, 11, 1), date(2026, 11, 30))
    assert list(result.compliance().rows) == [
        ["Standard", 2, 3, Decimal("40.00"), 1, 4, Decimal("20.00"), Decimal("-20.00")]
    ]
    [credits] = result.credits().rows
    assert credits[2:6] == [Decimal("40.00"), Decimal("30.00"), Decimal("20.00"), Decimal("100.00")]


def test_worker_processes_leave_the_store_file_as_it_was(counted):
    store, live, proposal = counted
    database = store.path
    store.close()
    before = hashlib.sha256(Path(database).read_bytes()).hexdigest()
    settings_ = load_config(live)
    reopened = Store.open(database)
    result = simulate(
        reopened, settings_, proposed_settings(settings_, proposal), NOW, date(2026, 11, 1), date(2026, 11, 30),
        workers=2,
    )  # fmt: skip
    reopened.close()
    assert result.tickets == 5
    assert hashlib.sha256(Path(database).read_bytes()).hexdigest() == before
