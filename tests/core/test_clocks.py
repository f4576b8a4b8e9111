"""Scenario tests: exact SLA records for one ticket's history."""

from __future__ import annotations

from datetime import timedelta

from connector.core.clocks import RecordStatus, recompute
from tests.support.engine_helpers import (
    CALENDARS,
    Channel,
    Priority,
    Status,
    agent,
    customer,
    history,
    policy_from,
    t,
    ticket,
)
from tests.support.engine_helpers import (
    DEFAULT_POLICY as POLICY_TEXT,
)

POLICY = policy_from()
M, H = timedelta(minutes=1), timedelta(hours=1)
RUNNING, PAUSED, MET, BREACHED, CANCELLED = (
    RecordStatus.RUNNING,
    RecordStatus.PAUSED,
    RecordStatus.MET,
    RecordStatus.BREACHED,
    RecordStatus.CANCELLED,
)


def rows(records):
    return [(r.metric, r.seq, r.status, r.start, r.due, r.stop, r.business) for r in records]


def run(tk, messages, now, previous=(), policy=POLICY):
    return recompute(tk, messages, policy, previous, now)


def test_first_reply_met_and_resolution_running():
    tk = ticket(t(2, 10))
    records = run(tk, [customer(t(2, 10)), agent(t(2, 10, 30))], now=t(2, 11))
    assert rows(records) == [
        ("first_reply", 1, MET, t(2, 10), t(2, 11), t(2, 10, 30), 30 * M),
        ("resolution", 1, RUNNING, t(2, 10), t(2, 18), None, 1 * H),
    ]


def test_first_reply_breached_while_waiting_then_answered_late():
    tk = ticket(t(2, 10))
    waiting = run(tk, [customer(t(2, 10))], now=t(2, 11, 30))
    assert rows(waiting)[0] == ("first_reply", 1, BREACHED, t(2, 10), t(2, 11), None, 90 * M)
    answered = run(tk, [customer(t(2, 10)), agent(t(2, 12))], now=t(2, 13))
    assert rows(answered)[0] == ("first_reply", 1, BREACHED, t(2, 10), t(2, 11), t(2, 12), 2 * H)


def test_a_reply_exactly_at_the_due_time_is_met():
    records = run(ticket(t(2, 10)), [customer(t(2, 10)), agent(t(2, 11))], now=t(2, 12))
    assert records[0].status is MET


def test_next_reply_per_customer_follow_up_and_double_messages_are_one_record():
    messages = [
        customer(t(2, 10)),
        agent(t(2, 10, 20)),
        customer(t(2, 13)),
        customer(t(2, 13, 10)),
        agent(t(2, 13, 40)),
        customer(t(2, 15)),
    ]
    records = run(ticket(t(2, 10)), messages, now=t(2, 15, 10))
    assert rows(records) == [
        ("first_reply", 1, MET, t(2, 10), t(2, 11), t(2, 10, 20), 20 * M),
        ("next_reply", 1, BREACHED, t(2, 13), t(2, 13, 30), t(2, 13, 40), 40 * M),
        ("next_reply", 2, RUNNING, t(2, 15), t(2, 15, 30), None, 10 * M),
        ("resolution", 1, RUNNING, t(2, 10), t(2, 18), None, 5 * H + 10 * M),
    ]


def test_messages_of_the_same_instant_follow_the_hosts_numbering():
    # a phone ticket typed in by an agent: the customer's words (article 9) and the agent's answer
    # (article 10) carry the same second
    messages = [agent(t(2, 10), "10"), customer(t(2, 10), "9")]
    records = run(ticket(t(2, 10)), messages, now=t(2, 11))
    assert rows(records)[0] == ("first_reply", 1, MET, t(2, 10), t(2, 11), t(2, 10), 0 * M)
    assert run(ticket(t(2, 10)), messages[::-1], now=t(2, 11)) == records


def test_a_ticket_an_agent_opened_has_no_first_reply():
    messages = [agent(t(2, 9)), customer(t(2, 11)), agent(t(2, 11, 10))]
    records = run(ticket(t(2, 9)), messages, now=t(2, 12))
    assert [(r.metric, r.seq, r.status) for r in records] == [("next_reply", 1, MET), ("resolution", 1, RUNNING)]
    assert records[0].start == t(2, 11)


def test_internal_notes_auto_replies_system_and_own_messages_move_no_clock():
    messages = [
        customer(t(2, 10)),
        agent(t(2, 10, 5), public=False),  # an internal note
        agent(t(2, 10, 6), own=True),  # the connector's own note
        customer(t(2, 10, 7), auto_generated=True),  # the customer's out-of-office
        agent(t(2, 10, 30)),  # the real reply
        customer(t(2, 10, 40), auto_generated=True),  # another auto-reply: no next_reply
    ]
    from connector.core.model import Message, Role

    messages.append(Message("sys", t(2, 10, 50), Role.SYSTEM))
    records = run(ticket(t(2, 10)), messages, now=t(2, 12))
    assert [(r.metric, r.stop) for r in records] == [("first_reply", t(2, 10, 30)), ("resolution", None)]


def test_pause_and_resume_across_a_weekend():
    office = policy_from().levels["Office"]
    # created Friday 2026-11-06 15:00; pending from 16:00 until Monday 10:00; 4 business hours
    tk = ticket(
        t(6, 15),
        status=Status.OPEN,
        status_history=history((t(6, 15), Status.OPEN), (t(6, 16), Status.PENDING), (t(9, 10), Status.OPEN)),
    )
    from connector.core.clocks import compute

    records = compute(tk, [customer(t(6, 15))], office, office.calendar, ["pending"], now=t(9, 11))
    first, resolution = records
    # counted: Fri 15-16 and Mon 10-11 -> 2h; paused business time Fri 16-17 and Mon 9-10 -> 2h
    assert (first.status, first.due, first.business, first.paused) == (RUNNING, t(9, 13), 2 * H, 2 * H)
    assert first.pauses == ((t(6, 16), t(9, 10)),)
    assert resolution.due == t(9, 13)


def test_a_ticket_paused_now_is_paused_and_its_due_moves_with_the_pause():
    tk = ticket(
        t(2, 10), status=Status.PENDING, status_history=history((t(2, 10), Status.OPEN), (t(2, 10, 20), Status.PENDING))
    )
    records = run(tk, [customer(t(2, 10))], now=t(2, 12))
    first = records[0]
    assert (first.status, first.business, first.paused, first.pauses) == (
        PAUSED,
        20 * M,
        100 * M,
        ((t(2, 10, 20), None),),
    )
    assert first.due == t(2, 12, 40)  # as if it resumed now: 40 minutes are left
    assert first.next_check_at is None


def test_without_history_a_pending_ticket_is_paused_since_its_last_update():
    tk = ticket(t(2, 10), status=Status.PENDING, updated_at=t(2, 10, 30))
    first = run(tk, [customer(t(2, 10))], now=t(2, 12))[0]
    assert (first.status, first.business) == (PAUSED, 30 * M)


def test_resolution_met_then_reopened_resumes_without_the_closed_time():
    solved = ticket(
        t(2, 10), status=Status.SOLVED, status_history=history((t(2, 10), Status.OPEN), (t(2, 12), Status.SOLVED))
    )
    messages = [customer(t(2, 10)), agent(t(2, 10, 30))]
    done = run(solved, messages, now=t(2, 13))
    assert rows(done)[1] == ("resolution", 1, MET, t(2, 10), t(2, 18), t(2, 12), 2 * H)
    reopened = ticket(
        t(2, 10), status=Status.OPEN, status_history=solved.status_history + history((t(3, 9), Status.OPEN))
    )
    again = run(reopened, messages + [customer(t(3, 9))], now=t(3, 10), previous=done)
    resolution = next(r for r in again if r.metric == "resolution")
    # 2h before solving, 1h since reopening; closed 12:00 -> 09:00 next day does not count
    assert (resolution.status, resolution.business, resolution.due) == (RUNNING, 3 * H, t(3, 15))


def test_a_solved_ticket_closed_later_keeps_its_resolution_stop():
    # helpdesks close solved tickets automatically after some days; the resolution stopped when
    # the ticket was solved, and must not move to another day of the compliance report
    messages = [customer(t(2, 10)), agent(t(2, 10, 30))]
    solved = history((t(2, 10), Status.OPEN), (t(2, 12), Status.SOLVED))
    closed = ticket(t(2, 10), status=Status.CLOSED, status_history=solved + history((t(5, 12), Status.CLOSED)))
    resolution = run(closed, messages, now=t(5, 13))[1]
    assert rows([resolution]) == [("resolution", 1, MET, t(2, 10), t(2, 18), t(2, 12), 2 * H)]
    assert resolution.paused == 0 * H and resolution.pauses == ()
    reopened = ticket(
        t(2, 10), status=Status.OPEN, status_history=closed.status_history + history((t(6, 9), Status.OPEN))
    )
    again = run(reopened, messages, now=t(6, 10))[1]
    # 2h before solving, 1h since reopening; solved and closed from 12:00 on the 2nd to 09:00 on the 6th
    assert (again.status, again.business, again.due, again.pauses) == (RUNNING, 3 * H, t(6, 15), ((t(2, 12), t(6, 9)),))


def test_reply_clocks_do_not_run_on_a_closed_ticket():
    closed = ticket(
        t(2, 10), status=Status.CLOSED, status_history=history((t(2, 10), Status.OPEN), (t(2, 10, 30), Status.CLOSED))
    )
    first = run(closed, [customer(t(2, 10))], now=t(2, 20))[0]
    assert (first.status, first.business) == (PAUSED, 30 * M)


def test_level_change_by_a_tag_added_later_retargets_from_the_original_start():
    messages = [customer(t(2, 10))]
    before = run(ticket(t(2, 10)), messages, now=t(2, 10, 5))
    assert before[0].level == "Standard" and before[0].due == t(2, 11)
    urgent = ticket(t(2, 10), tags=frozenset({"URGENT"}))
    after = run(urgent, messages, now=t(2, 10, 15), previous=before)
    assert [(r.metric, r.level, r.due, r.status) for r in after] == [
        ("first_reply", "Urgent SLA", t(2, 10, 10), BREACHED),
        ("resolution", "Standard", t(2, 18), CANCELLED),  # the urgent level has no resolution target
    ]


def test_decided_records_keep_the_level_they_were_decided_under():
    messages = [customer(t(2, 10)), agent(t(2, 10, 30))]
    before = run(ticket(t(2, 10)), messages, now=t(2, 11))
    urgent = ticket(t(2, 10), tags=frozenset({"urgent"}))
    after = run(urgent, messages, now=t(2, 11), previous=before)
    first = after[0]
    assert (first.level, first.status, first.due) == ("Standard", MET, t(2, 11))


def test_deleted_ticket_cancels_running_records():
    messages = [customer(t(2, 10)), agent(t(2, 10, 30)), customer(t(2, 11))]
    deleted = ticket(t(2, 10), deleted=True, updated_at=t(2, 11, 5))
    records = run(deleted, messages, now=t(2, 12))
    assert [(r.metric, r.seq, r.status) for r in records] == [
        ("first_reply", 1, MET),
        ("next_reply", 1, CANCELLED),
        ("resolution", 1, CANCELLED),
    ]
    assert all(r.next_check_at is None for r in records)


def test_chat_tickets_use_chat_reply_and_phone_tickets_fall_back_to_reply_targets():
    messages = [customer(t(2, 10)), agent(t(2, 10, 1)), customer(t(2, 10, 5)), agent(t(2, 10, 9))]
    chat = run(ticket(t(2, 10), channel=Channel.CHAT), messages, now=t(2, 11))
    assert [(r.metric, r.seq, r.target, r.status) for r in chat] == [
        ("chat_reply", 1, 2 * M, MET),
        ("chat_reply", 2, 2 * M, BREACHED),
        ("resolution", 1, 8 * H, RUNNING),
    ]
    phone = run(ticket(t(2, 10), channel=Channel.PHONE), messages, now=t(2, 11))
    assert [(r.metric, r.seq, r.target) for r in phone][:2] == [("first_reply", 1, H), ("next_reply", 1, 30 * M)]


def test_resolution_breached_while_open_then_solved_late():
    open_ticket = ticket(t(2, 10))
    waiting = run(open_ticket, [customer(t(2, 10)), agent(t(2, 10, 30))], now=t(2, 19))
    assert rows(waiting)[1] == ("resolution", 1, BREACHED, t(2, 10), t(2, 18), None, 9 * H)
    solved = ticket(
        t(2, 10), status=Status.SOLVED, status_history=history((t(2, 10), Status.OPEN), (t(2, 20), Status.SOLVED))
    )
    late = run(solved, [customer(t(2, 10)), agent(t(2, 10, 30))], now=t(2, 21), previous=waiting)
    assert rows(late)[1] == ("resolution", 1, BREACHED, t(2, 10), t(2, 18), t(2, 20), 10 * H)


def test_phone_tickets_use_call_reply_where_the_level_has_it():
    policy = policy_from(
        CALENDARS
        + """
[connector]
default_level = "Hotline"
[[levels]]
name = "Hotline"
calendar = "always"
first_reply = "1h"
next_reply = "1h"
call_reply = "10m"
"""
    )
    messages = [customer(t(2, 10)), agent(t(2, 10, 10)), customer(t(2, 11)), agent(t(2, 11, 15))]
    phone = run(ticket(t(2, 10), channel=Channel.PHONE), messages, now=t(2, 12), policy=policy)
    assert rows(phone) == [
        ("call_reply", 1, MET, t(2, 10), t(2, 10, 10), t(2, 10, 10), 10 * M),
        ("call_reply", 2, BREACHED, t(2, 11), t(2, 11, 10), t(2, 11, 15), 15 * M),
    ]
    email = run(ticket(t(2, 10)), messages, now=t(2, 12), policy=policy)
    assert [(r.metric, r.seq, r.status) for r in email] == [("first_reply", 1, MET), ("next_reply", 1, MET)]


def test_targets_by_priority():
    high = ticket(t(2, 10), priority=Priority(3, "3 high"))
    first = run(high, [customer(t(2, 10))], now=t(2, 10, 5))[0]
    assert (first.target, first.due) == (15 * M, t(2, 10, 15))


def test_a_priority_raised_later_retargets_running_clocks_but_not_a_met_one():
    messages = [customer(t(2, 10)), agent(t(2, 10, 30)), customer(t(2, 11))]
    before = run(ticket(t(2, 10)), messages, now=t(2, 11, 10))
    # the ladder raises the priority when the next reply breaches; high has a 15-minute first reply
    high = ticket(t(2, 10), priority=Priority(3, "3 high"))
    after = run(high, messages, now=t(2, 11, 40), previous=before)
    assert rows(after)[:2] == [
        ("first_reply", 1, MET, t(2, 10), t(2, 11), t(2, 10, 30), 30 * M),  # met under 1h, stays met
        ("next_reply", 1, BREACHED, t(2, 11), t(2, 11, 30), None, 40 * M),
    ]
    assert after[0].target == H
    unanswered = run(ticket(t(2, 10)), [customer(t(2, 10))], now=t(2, 10, 5))
    raised = run(high, [customer(t(2, 10))], now=t(2, 10, 10), previous=unanswered)
    assert rows(raised)[0] == ("first_reply", 1, RUNNING, t(2, 10), t(2, 10, 15), None, 10 * M)


def test_a_breach_stays_a_breach_when_the_priority_is_lowered():
    high = ticket(t(2, 10), priority=Priority(3, "3 high"))
    breached = run(high, [customer(t(2, 10))], now=t(2, 10, 20))
    assert rows(breached)[0] == ("first_reply", 1, BREACHED, t(2, 10), t(2, 10, 15), None, 20 * M)
    lowered = ticket(t(2, 10), priority=Priority(2, "2 normal"))
    later = run(lowered, [customer(t(2, 10))], now=t(2, 10, 30), previous=breached)
    assert rows(later)[0] == ("first_reply", 1, BREACHED, t(2, 10), t(2, 10, 15), None, 30 * M)
    answered = run(lowered, [customer(t(2, 10)), agent(t(2, 10, 40))], now=t(2, 10, 45), previous=later)
    assert rows(answered)[0] == ("first_reply", 1, BREACHED, t(2, 10), t(2, 10, 15), t(2, 10, 40), 40 * M)
    assert answered[0].target == 15 * M


def test_a_changed_target_in_the_configuration_applies_to_running_clocks_only():
    looser = policy_from(POLICY_TEXT.replace('first_reply = "1h"', 'first_reply = "2h"', 1))
    tighter = policy_from(POLICY_TEXT.replace('first_reply = "1h"', 'first_reply = "20m"', 1))
    waiting = run(ticket(t(2, 10)), [customer(t(2, 10))], now=t(2, 11, 30))
    assert waiting[0].status is BREACHED
    # a breach is not undone by a looser target ...
    assert rows(run(ticket(t(2, 10)), [customer(t(2, 10))], now=t(2, 11, 40), previous=waiting, policy=looser))[0] == (
        "first_reply",
        1,
        BREACHED,
        t(2, 10),
        t(2, 11),
        None,
        100 * M,
    )
    # ... a reply in time is not made a breach by a tighter one ...
    answered = run(ticket(t(2, 10)), [customer(t(2, 10)), agent(t(2, 10, 30))], now=t(2, 10, 35))
    again = run(
        ticket(t(2, 10)), [customer(t(2, 10)), agent(t(2, 10, 30))], now=t(2, 10, 40), previous=answered, policy=tighter
    )
    assert rows(again)[0] == ("first_reply", 1, MET, t(2, 10), t(2, 11), t(2, 10, 30), 30 * M)
    # ... and a clock still running takes the new target from its original start
    early = run(ticket(t(2, 10)), [customer(t(2, 10))], now=t(2, 10, 10))
    retargeted = run(ticket(t(2, 10)), [customer(t(2, 10))], now=t(2, 10, 15), previous=early, policy=tighter)
    assert rows(retargeted)[0] == ("first_reply", 1, RUNNING, t(2, 10), t(2, 10, 20), None, 15 * M)


def test_escalation_steps_fire_once_each_and_set_the_next_check():
    tk = ticket(t(2, 10))
    early = run(tk, [customer(t(2, 10))], now=t(2, 10, 30))[0]
    assert early.steps_fired == () and early.next_step_at == t(2, 10, 48)  # 80 % of 1h
    assert early.next_check_at == t(2, 10, 48)
    warned = run(tk, [customer(t(2, 10))], now=t(2, 10, 50))[0]
    assert warned.steps_fired == ((0, t(2, 10, 48), "-20%"),) and warned.next_check_at == t(2, 11)
    late = run(tk, [customer(t(2, 10))], now=t(2, 13, 30))[0]
    assert late.steps_fired == ((0, t(2, 10, 48), "-20%"), (1, t(2, 11), "0"), (2, t(2, 13), "+2h"))
    assert late.next_check_at is None and late.status is BREACHED


def test_no_level_means_no_records_and_running_ones_are_cancelled():
    policy = policy_from(POLICY_NO_DEFAULT)
    assert run(ticket(t(2, 10)), [customer(t(2, 10))], now=t(2, 11), policy=policy) == []
    tagged = run(ticket(t(2, 10), tags=frozenset({"vip"})), [customer(t(2, 10))], now=t(2, 10, 5), policy=policy)
    assert [r.status for r in tagged] == [RUNNING]
    untagged = run(ticket(t(2, 10)), [customer(t(2, 10))], now=t(2, 10, 6), policy=policy, previous=tagged)
    assert [r.status for r in untagged] == [CANCELLED]


POLICY_NO_DEFAULT = (
    CALENDARS
    + """
[[levels]]
name = "VIP"
calendar = "always"
first_reply = "1h"
[[rules]]
name = "vip"
when = { field = "tags", op = "contains", value = "vip" }
set_level = "VIP"
"""
)
