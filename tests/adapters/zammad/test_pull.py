"""Pulling from the Zammad-compatible server: mapping, incremental search, its modes, index lag,
page caps, the full pass that finds deleted tickets, and what a pull costs in requests."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from adapters.zammad.adapter import ZammadAdapter
from connector.core.errors import AuthFailed, PermanentSourceError
from connector.core.escalation import Action
from connector.core.model import Channel, Role, Status
from tests.adapters.zammad.conftest import make_adapter, section
from tests.support.zammad_server import TOKEN


def t(day, hour, minute=0, second=0):
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def test_a_ticket_is_mapped_with_its_articles_state_history_priority_and_people(zammad, clock, sleeps):
    ident = zammad.add_ticket("VPN down", customer="ada@acme.example", at=t(2, 9), channel="phone", organization="Acme")
    zammad.users[zammad.tickets[ident]["customer_id"]].update(firstname="Ada", lastname="Lovelace")
    zammad.tickets[ident]["owner_id"] = 3
    zammad.add_article(ident, "Agent", "note", internal=True, at=t(2, 9, 5))
    zammad.add_article(ident, "Agent", "email", at=t(2, 9, 10))
    zammad.add_article(ident, "System", "note", at=t(2, 9, 11))
    zammad.set_state(ident, "pending reminder", at=t(2, 9, 12))
    zammad.set_state(ident, "open", at=t(2, 9, 12))  # same second: the host's order is kept
    zammad.set_state(ident, "pending close", at=t(2, 10))
    zammad.tickets[ident]["priority_id"] = 3
    zammad.tags[ident] = ["VIP"]
    adapter = make_adapter(zammad, clock, sleeps)
    (snapshot,) = adapter.pull(None)
    ticket = snapshot.ticket
    assert ticket.key == f"zammad:{ident}" and ticket.number == str(31000 + ident)
    assert ticket.status is Status.PENDING and ticket.raw_status == "pending close"
    assert [(c.at, c.status, c.raw_status) for c in ticket.status_history] == [
        (t(2, 9, 12), Status.PENDING, "pending reminder"),
        (t(2, 9, 12), Status.OPEN, "open"),
        (t(2, 10), Status.PENDING, "pending close"),
    ]
    assert (ticket.priority.rank, ticket.priority.raw_name, ticket.priority.name) == (3, "3 high", "high")
    assert ticket.channel is Channel.PHONE
    assert ticket.department == "Support" and ticket.assignee == "agent1" and ticket.organization == "Acme"
    assert (ticket.requester.name, ticket.requester.email) == ("Ada Lovelace", "ada@acme.example")
    assert ticket.tags == frozenset({"vip"})
    assert ticket.web_url == f"{zammad.url}/#ticket/zoom/{ident}"
    assert [(m.role, m.public, m.counts) for m in snapshot.messages] == [
        (Role.CUSTOMER, True, True),
        (Role.AGENT, False, False),  # an internal note
        (Role.AGENT, True, True),
        (Role.SYSTEM, False, False),
    ]


def test_closed_merged_and_renamed_states_map_by_their_type(zammad, clock, sleeps):
    closed = zammad.add_ticket("Closed", at=t(2, 9))
    zammad.set_state(closed, "closed", at=t(2, 11))
    merged = zammad.add_ticket("Merged", at=t(2, 9))
    zammad.set_state(merged, "merged", at=t(2, 11))
    from tests.support import zammad_server

    renamed = zammad.add_ticket("Renamed", at=t(2, 9))
    zammad.tickets[renamed]["state_id"] = 99
    zammad_server.STATES.append(
        {"id": 99, "name": "waiting for parts", "state_type_id": 3, "state_type": "pending reminder"}
    )
    try:
        tickets = {s.ticket.title: s.ticket for s in make_adapter(zammad, clock, sleeps).pull(None)}
    finally:
        zammad_server.STATES.pop()
    assert (tickets["Closed"].status, tickets["Closed"].closed_at, tickets["Closed"].deleted) == (
        Status.CLOSED,
        t(2, 11),
        False,
    )
    assert (tickets["Merged"].status, tickets["Merged"].deleted) == (Status.CLOSED, True)
    assert (tickets["Renamed"].status, tickets["Renamed"].raw_status) == (Status.PENDING, "waiting for parts")


def test_an_incremental_pull_reads_only_what_changed_at_three_requests_a_ticket_at_most(zammad, clock, sleeps):
    ids = [zammad.add_ticket(f"Ticket {n}", at=t(2, 9, n)) for n in range(30)]
    adapter = make_adapter(zammad, clock, sleeps)
    clock.now = t(2, 11)
    cursor = max(s.cursor for s in adapter.pull(None))
    clock.now = t(2, 12)
    before = zammad.count()
    # the overlap is read again (from the cache: no request), so a late index entry is not missed
    assert [s.ticket.title for s in adapter.pull(cursor, timedelta(minutes=2))] == [
        "Ticket 27",
        "Ticket 28",
        "Ticket 29",
    ]
    idle = zammad.count() - before
    assert idle == 1  # one search page, whatever the number of tickets
    zammad.add_article(ids[3], "Customer", at=t(2, 12, 1))
    zammad.set_state(ids[7], "pending reminder", at=t(2, 12, 2))
    zammad.tags[ids[9]].append("vip")
    zammad._touch(ids[9], t(2, 12, 3), 3)
    clock.now = t(2, 12, 10)
    before = zammad.count()
    pulled = [s.ticket.title for s in adapter.pull(cursor, timedelta(minutes=2))]
    assert pulled == ["Ticket 27", "Ticket 28", "Ticket 29", "Ticket 3", "Ticket 7", "Ticket 9"]
    # ticket 3: its articles and tags (all=true) and its history; 7 and 9: tags and history
    assert zammad.count() - before == 3 * 2 + idle
    assert zammad.count("GET", r"tickets/\d+$") - 30 == 1  # only ticket 3's articles changed
    assert zammad.count("GET", "by_ticket") == 1  # the first ticket's, which named the article types


def test_cursors_never_pass_the_start_of_the_cycle_minus_the_skew_so_late_index_entries_are_read(zammad, clock, sleeps):
    zammad.index_lag = timedelta(seconds=30)
    zammad.add_ticket("Early", at=t(2, 9))
    adapter = ZammadAdapter(section(zammad), None, clock=clock, sleep=sleeps)  # no clock ahead here
    clock.now = t(2, 10)
    cursor = max(s.cursor for s in adapter.pull(None))
    late = zammad.add_ticket("Late", at=t(2, 10, 0, 10))  # changed at 10:00:10, indexed at 10:00:40
    clock.now = t(2, 10, 0, 20)
    snapshots = list(adapter.pull(cursor))
    assert "Late" not in [s.ticket.title for s in snapshots]  # not in the index yet
    assert all(s.cursor <= "2026-11-02T09:59:20" for s in snapshots)
    clock.now = t(2, 10, 1)
    again = list(adapter.pull(max([cursor] + [s.cursor for s in snapshots])))
    assert [s.ticket.title for s in again][-1] == "Late"
    assert late in zammad.tickets


@pytest.mark.parametrize(
    ("field", "condition", "mode"),
    [(True, True, "field"), (False, True, "condition"), (False, False, "paging")],
)
def test_check_says_which_search_it_will_use_and_why_in_one_line(zammad, clock, sleeps, field, condition, mode):
    zammad.field_search, zammad.condition_search = field, condition
    zammad.add_ticket("Printer broken", at=t(2, 9))
    adapter = make_adapter(zammad, clock, sleeps)
    line = adapter.check()
    assert "\n" not in line and f"search: {mode}, " in line and "as agent1" in line
    cursor = max(s.cursor for s in adapter.pull(None))
    zammad.add_article(1, "Customer", at=t(2, 10))
    assert [s.ticket.title for s in adapter.pull(cursor)][-1] == "Printer broken"
    assert zammad.count("GET", "tickets$") == (3 if mode == "paging" else 2)


def test_check_says_in_its_line_whether_the_ladder_may_create_its_tags(zammad, clock, sleeps):
    zammad.tag_new = False  # only admins may create tags
    zammad.create_tag("SLA-Warning")
    adapter = make_adapter(zammad, clock, sleeps, tag_prefix="x-")
    zammad.create_tag("x-sla-warning")
    line = adapter.check(ladder_tags=["sla-warning", "sla-breached"])
    assert "\n" not in line
    assert "tags: x-sla-breached do not exist yet and the token lacks admin.tag" in line and "tag_new" in line
    assert "x-sla-warning" not in line  # it exists: nothing to say about it

    # what check warned of is what Zammad then refuses; the admin creating the tag fixes it
    ident = zammad.add_ticket("Printer broken", at=t(2, 9))
    breach = Action("evt-1:tags", "evt-1", f"zammad:{ident}", "add_tags", {"tags": ["sla-breached"]})
    with pytest.raises(PermanentSourceError, match="HTTP 422 Tag 'x-sla-breached' does not exist"):
        adapter.apply(breach)
    zammad.create_tag("x-sla-breached")
    assert "tags: all 2 exist" in adapter.check(ladder_tags=["sla-warning", "sla-breached"])
    adapter.apply(breach)
    assert zammad.tags[ident] == ["x-sla-breached"]

    zammad.tokens[TOKEN]["permissions"].add("admin.tag")
    assert "tags: 1 written, admin.tag may create them" in adapter.check(ladder_tags=["new-one"])
    assert "tags:" not in adapter.check()  # a ladder that writes no tags


def test_check_names_the_x_failure_reason_of_a_refused_token(zammad, clock, sleeps):
    with pytest.raises(AuthFailed, match="HTTP 401 Can't find User for Token"):
        make_adapter(zammad, clock, sleeps, token="wrong").check()
    zammad.tokens["weak"] = {"user_id": 3, "permissions": {"ticket.customer"}}
    with pytest.raises(AuthFailed, match="lacks the permission ticket.agent"):
        make_adapter(zammad, clock, sleeps, token="weak").check()
    with pytest.raises(AuthFailed, match="no permission to use 'From'") as raised:
        make_adapter(zammad, clock, sleeps, act_as="sla-bot").check()
    assert "test-token" not in str(raised.value)


def test_search_pages_of_the_effective_maximum_and_ties_across_pages_are_read_once(zammad, clock, sleeps):
    for n in range(450):
        zammad.add_ticket(f"T{n}", at=t(2, 9, n // 100))  # many share one updated_at
    adapter = make_adapter(zammad, clock, sleeps, page_size=200, search="field")
    cursor = "2026-11-02T08:00:00.000000Z|000000000000"
    adapter.cache.set_meta("last_full", t(2, 12).isoformat())
    snapshots = list(adapter.pull(cursor))
    assert len(snapshots) == 450 and len({s.ticket.key for s in snapshots}) == 450
    assert zammad.count("GET", "search") == 3


def test_the_full_pass_finds_deleted_tickets_and_cancels_them(zammad, clock, sleeps, tmp_path):
    keep, gone = zammad.add_ticket("Keep", at=t(2, 9)), zammad.add_ticket("Gone", at=t(2, 9, 1))
    adapter = make_adapter(zammad, clock, sleeps, tmp_path, full_reconcile_every="1h")
    clock.now = t(2, 9, 5)
    cursor = max(s.cursor for s in adapter.pull(None))
    zammad.delete_ticket(gone)
    clock.now = t(2, 9, 30)
    assert not any(s.ticket.deleted for s in adapter.pull(cursor))  # search cannot see a deletion
    clock.now = t(2, 10, 30)
    snapshots = list(make_adapter(zammad, clock, sleeps, tmp_path, full_reconcile_every="1h").pull(cursor))
    assert [(s.ticket.external_id, s.ticket.deleted) for s in snapshots] == [(str(gone), True)]
    assert keep in zammad.tickets


def test_a_malformed_ticket_is_named_by_id_and_number_and_the_rest_is_pulled(zammad, clock, sleeps, caplog):
    good = zammad.add_ticket("Good", at=t(2, 9))
    bad = zammad.add_ticket("Bad", at=t(2, 9, 1))
    zammad.break_ticket(bad, state_id="open")
    with caplog.at_level(logging.WARNING):
        titles = [s.ticket.title for s in make_adapter(zammad, clock, sleeps).pull(None)]
    assert titles == ["Good"] and good
    assert f"ticket id {bad} (number {31000 + bad})" in caplog.text


def test_an_unknown_search_answer_shape_fails_loudly(zammad, clock, sleeps):
    adapter = make_adapter(zammad, clock, sleeps)
    assert adapter._rows({"records": [{"id": 1}]}) == [{"id": 1}]
    with pytest.raises(PermanentSourceError, match="unknown shape"):
        adapter._rows({"hits": []})


def test_a_pause_between_two_cycles_is_seen_though_the_state_looks_unchanged(zammad, clock, sleeps):
    ident = zammad.add_ticket("Printer broken", at=t(2, 9))
    zammad.set_state(ident, "open", at=t(2, 9, 30))
    adapter = make_adapter(zammad, clock, sleeps)
    clock.now = t(2, 10)
    cursor = max(s.cursor for s in adapter.pull(None))
    zammad.set_state(ident, "pending reminder", at=t(2, 10, 5))
    zammad.set_state(ident, "open", at=t(2, 10, 45))
    clock.now = t(2, 11)
    (snapshot,) = [s for s in adapter.pull(cursor) if s.ticket.external_id == str(ident)]
    assert [(c.at, c.status) for c in snapshot.ticket.status_history][-2:] == [
        (t(2, 10, 5), Status.PENDING),
        (t(2, 10, 45), Status.OPEN),
    ]


def test_the_full_pass_brings_what_the_search_index_never_showed(zammad, clock, sleeps, tmp_path):
    zammad.add_ticket("Indexed", at=t(2, 9))
    adapter = make_adapter(zammad, clock, sleeps, tmp_path, full_reconcile_every="1h", search="field")
    clock.now = t(2, 9, 5)
    cursor = max(s.cursor for s in adapter.pull(None))
    zammad.index_lag = timedelta(days=365)  # the index stopped: search answers nothing, silently
    zammad.add_ticket("Missed", at=t(2, 9, 20))
    clock.now = t(2, 9, 30)
    assert "Missed" not in [s.ticket.title for s in adapter.pull(cursor)]
    clock.now = t(2, 10, 30)
    pulled = list(adapter.pull(cursor))
    assert [s.ticket.title for s in pulled][-1] == "Missed"  # (the cursor's own ticket may repeat)
    assert all(s.cursor >= cursor for s in pulled)
