"""Edges of the engine: agent-opened tickets with only a note, status changes of one instant in
the host's order, an agent reply stamped just before the creation."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from connector.core.clocks import CREATION_SKEW, RecordStatus, recompute
from connector.core.model import StatusChange
from tests.support.engine_helpers import Status, agent, customer, policy_from, t, ticket

POLICY = policy_from()
S, M, H = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)


def rows(records):
    return [(r.metric, r.seq, r.status, r.start, r.due, r.stop) for r in records]


def test_an_agent_opened_ticket_with_only_an_internal_note_has_no_first_reply_clock():
    tk = ticket(t(2, 10))
    records = recompute(tk, [agent(t(2, 10), public=False)], POLICY, (), t(2, 12))
    assert rows(records) == [("resolution", 1, RecordStatus.RUNNING, t(2, 10), t(2, 18), None)]


def test_a_customer_writing_after_the_agents_note_starts_a_next_reply_clock():
    tk = ticket(t(2, 10))
    records = recompute(tk, [agent(t(2, 10), public=False), customer(t(2, 11))], POLICY, (), t(2, 11, 10))
    assert rows(records)[0] == ("next_reply", 1, RecordStatus.RUNNING, t(2, 11), t(2, 11, 30), None)


def test_an_internal_note_after_the_customers_mail_opens_nothing():
    tk = ticket(t(2, 10))
    records = recompute(tk, [customer(t(2, 10)), agent(t(2, 10, 5), public=False)], POLICY, (), t(2, 10, 30))
    assert rows(records)[0] == ("first_reply", 1, RecordStatus.RUNNING, t(2, 10), t(2, 11), None)


def test_same_instant_status_changes_follow_the_hosts_sequence_not_the_given_order():
    # the host numbered "open" 7 and "pending" 8 at 11:00; they arrive the other way round
    changes = (
        StatusChange(t(2, 10), Status.OPEN, seq=1),
        StatusChange(t(2, 11), Status.PENDING, seq=8),
        StatusChange(t(2, 11), Status.OPEN, seq=7),
    )
    tk = ticket(t(2, 10), status=Status.PENDING, status_history=changes)
    resolution = recompute(tk, [customer(t(2, 10)), agent(t(2, 10, 30))], POLICY, (), t(2, 13))[-1]
    assert resolution.status is RecordStatus.PAUSED
    assert resolution.pauses == ((t(2, 11), None),)
    assert resolution.business == 1 * H


def test_an_agent_reply_two_seconds_before_the_creation_is_a_reply_at_the_creation():
    tk = ticket(t(2, 10))
    records = recompute(tk, [customer(t(2, 10)), agent(t(2, 10) - 2 * S)], POLICY, (), t(2, 12))
    assert rows(records) == [
        ("first_reply", 1, RecordStatus.MET, t(2, 10), t(2, 11), t(2, 10)),
        ("resolution", 1, RecordStatus.RUNNING, t(2, 10), t(2, 18), None),
    ]


def test_an_agent_mail_well_before_the_creation_still_opens_the_ticket():
    tk = ticket(t(2, 10))
    records = recompute(tk, [agent(t(2, 9)), customer(t(2, 10))], POLICY, (), t(2, 10, 10))
    assert [r.metric for r in records] == ["next_reply", "resolution"]


@given(skew=st.integers(min_value=0, max_value=int(CREATION_SKEW / S)), later=st.integers(min_value=1, max_value=600))
def test_a_skewed_reply_never_starts_a_phantom_next_reply(skew, later):
    """Whatever the skew within the allowance: one first reply met at the creation, and the
    customer's next mail starts the first next-reply clock."""
    created = t(2, 10)
    messages = [agent(created - skew * S), customer(created), customer(created + later * M, "c2")]
    records = recompute(ticket(created), messages, POLICY, (), created + 11 * H)
    first, nxt = records[0], records[1]
    assert (first.metric, first.status, first.stop) == ("first_reply", RecordStatus.MET, created)
    assert (nxt.metric, nxt.seq, nxt.start) == ("next_reply", 1, created + later * M)
