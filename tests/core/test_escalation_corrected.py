"""A late fact that changes a decided record is an event of its own: `corrected`, with the old
and the new stop; a stop the source could only estimate says so in its event."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connector.core.clocks import recompute
from connector.core.escalation import diff
from connector.core.model import StatusChange
from tests.support.engine_helpers import Status, agent, customer, policy_from, t, ticket

POLICY = policy_from()


def first_reply(records):
    return next(r for r in records if r.metric == "first_reply")


def test_a_reply_reported_late_moves_a_met_stop_and_says_so():
    tk = ticket(t(2, 10))
    decided = recompute(tk, [customer(t(2, 10)), agent(t(2, 10, 50))], POLICY, (), t(2, 11))
    later = recompute(
        tk, [customer(t(2, 10)), agent(t(2, 10, 20), "a-early"), agent(t(2, 10, 50))], POLICY, decided, t(2, 12)
    )
    [event] = [e for e in diff(decided, later, t(2, 12)) if e.metric == "first_reply"]
    assert (event.kind, event.at, event.key) == (
        "corrected",
        t(2, 12),
        "test:1:first_reply:1:corrected@2026-11-02T10:50:00+00:00/2026-11-02T10:20:00+00:00",
    )
    assert event.detail == {
        "previous_stop": "2026-11-02T10:50:00+00:00",
        "stop": "2026-11-02T10:20:00+00:00",
        "previous_status": "met",
    }


def test_a_breach_a_late_reply_turns_into_met_is_corrected_and_met():
    tk = ticket(t(2, 10))
    breached = recompute(tk, [customer(t(2, 10))], POLICY, (), t(2, 11, 30))
    assert first_reply(breached).status.value == "breached"
    met = recompute(tk, [customer(t(2, 10)), agent(t(2, 10, 40))], POLICY, breached, t(2, 12))
    kinds = {e.kind: e for e in diff(breached, met, t(2, 12)) if e.metric == "first_reply"}
    assert set(kinds) == {"met", "corrected"}
    assert kinds["corrected"].detail["previous_stop"] is None
    assert kinds["corrected"].detail["previous_status"] == "breached"


def test_answering_a_breached_clock_is_no_correction():
    tk = ticket(t(2, 10))
    breached = recompute(tk, [customer(t(2, 10))], POLICY, (), t(2, 11, 30))
    answered = recompute(tk, [customer(t(2, 10)), agent(t(2, 12))], POLICY, breached, t(2, 12, 5))
    assert [e.kind for e in diff(breached, answered, t(2, 12, 5))] == []


def test_an_estimated_solve_marks_its_met_event():
    history = (StatusChange(t(2, 10), Status.OPEN), StatusChange(t(2, 12), Status.SOLVED, "Done", 1, True))
    tk = ticket(t(2, 10), status=Status.SOLVED, status_history=history, closed_at=t(2, 12))
    records = recompute(tk, [customer(t(2, 10)), agent(t(2, 11))], POLICY, (), t(2, 13))
    events = {(e.metric, e.kind): e for e in diff((), records, t(2, 13), tk)}
    assert events[("resolution", "met")].detail == {"stop_estimated": True}
    assert events[("first_reply", "met")].detail == {}


@given(first=st.integers(min_value=1, max_value=59), second=st.integers(min_value=1, max_value=59))
def test_corrected_exactly_when_a_decided_stop_moves(first, second):
    tk = ticket(t(2, 10))
    before = recompute(tk, [customer(t(2, 10)), agent(t(2, 10, first))], POLICY, (), t(2, 11))
    after = recompute(
        tk, [customer(t(2, 10)), agent(t(2, 10, first)), agent(t(2, 10, second), "x")], POLICY, before, t(2, 11)
    )
    corrected = [e for e in diff(before, after, t(2, 11)) if e.kind == "corrected"]
    assert len(corrected) == (1 if second < first else 0)
    assert diff(after, after, t(2, 11)) == []
