"""Reading osTicket's database: every field mapped, incremental pulls by the three watermarks, a
hard delete, times in the DB server's zone (America/New_York here, not UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.osticket.adapter import OsticketAdapter
from connector.core.model import Channel, Person, Priority, Role, Status

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 09:00 in New York


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def pull(adapter, since=None):
    return list(adapter.pull(since))


def scene(host):
    """One ticket with everything osTicket puts on a ticket."""
    desk = host.desk
    user = desk.user("Carla Customer", "carla@acme.example", org_id=1)
    ticket = desk.ticket(user, "Printer on fire", "<p>It burns</p>", at(0), priority=3, source="Email", dept=3,
                         topic=2, sla=2, est_duedate=at(240))  # fmt: skip
    desk.assign(ticket, at(5), staff=1)
    first = desk.reply(ticket, "<p>On it</p>", at(10))
    desk.edit_entry(ticket, first, "<p>On it, really</p>", at(12))
    desk.entry(ticket, "N", "<p>internal</p>", at(15), staff=2, flags=64, poster="Bob Builder")
    desk.set_status(ticket, 6, at(20))  # "Waiting for parts", still open
    desk.set_status(ticket, 2, at(30))  # "Erledigt": closed
    desk.set_status(ticket, 1, at(40))  # reopened
    desk.message(ticket, user, "<p>still burning</p>", at(50))
    desk.run("UPDATE ost_ticket SET est_duedate = %s WHERE ticket_id = %s", (desk.local(at(240)), ticket))  # reopen
    return ticket, first


def test_every_field_is_mapped_as_osticket_shows_it(osticket, tmp_path):
    ticket_id, first_reply = scene(osticket)
    [snapshot] = pull(OsticketAdapter(osticket.section(), tmp_path))
    t = snapshot.ticket
    assert t.key == f"osticket:{ticket_id}"
    assert t.number == f"{100000 + ticket_id * 7:06d}"
    assert t.title == "Printer on fire"
    assert t.created_at == at(0)  # stored as 09:00 New York time, read back as 14:00 UTC
    assert t.updated_at == at(50)
    assert (t.status, t.raw_status) == (Status.OPEN, "Neu / offen")
    assert t.channel is Channel.EMAIL
    assert t.priority == Priority(3, "High", "3")
    assert t.department == "Support / Hardware"
    assert t.assignee == "Alice Agent"
    assert t.requester == Person("Carla Customer", "carla@acme.example")
    assert t.organization == "ACME Corp"
    assert t.web_url == f"https://help.example.com/scp/tickets.php?id={ticket_id}"
    assert t.custom["help_topic"] == "Support / Printers"
    assert t.custom["osticket_sla"] == "Gold 4h"
    assert t.custom["osticket_sla_hours"] == 4
    assert t.custom["osticket_due"] == at(240).isoformat()
    assert t.closed_at is None and not t.deleted
    assert [(h.at, h.status, h.raw_status) for h in t.status_history] == [
        (at(0), Status.OPEN, "created"),
        (at(20), Status.OPEN, "Waiting for parts"),
        (at(30), Status.CLOSED, "Erledigt"),
        (at(40), Status.OPEN, "reopened"),
    ]
    # changes of one instant keep osTicket's order: each carries its event's id
    events = [row[0] for row in osticket.all("SELECT id FROM ost_thread_event ORDER BY id")]
    assert [h.seq for h in t.status_history] == [events[0], *events[2:5]]
    # the assignment changed no status: it is a time and a count rules can use
    assert t.custom["osticket_assigned_at"] == at(5).isoformat()
    assert (t.custom["osticket_assignments"], t.custom["osticket_transfers"]) == (1, 0)
    assert "osticket_transferred_at" not in t.custom
    roles = [(m.role, m.public, m.at) for m in snapshot.messages]
    assert roles == [
        (Role.CUSTOMER, True, at(0)),
        (Role.AGENT, True, at(10)),  # the edited reply keeps its time; the hidden original is gone
        (Role.AGENT, False, at(15)),
        (Role.CUSTOMER, True, at(50)),
    ]
    assert str(first_reply) not in [m.external_id for m in snapshot.messages]
    assert snapshot.messages[0].channel is Channel.EMAIL


def test_a_closed_ticket_under_a_renamed_status_is_closed_by_its_state(osticket, tmp_path):
    user = osticket.desk.user("Dan", "dan@acme.example")
    ticket = osticket.desk.ticket(user, "Done soon", "x", at(0))
    osticket.desk.set_status(ticket, 3, at(60))  # "Geschlossen"
    [snapshot] = pull(OsticketAdapter(osticket.section(), tmp_path))
    assert (snapshot.ticket.status, snapshot.ticket.raw_status) == (Status.CLOSED, "Geschlossen")
    assert snapshot.ticket.closed_at == at(60)


def test_priority_falls_back_to_the_cdata_copy_then_the_default(osticket, tmp_path):
    user = osticket.desk.user("Eve", "eve@acme.example")
    copy_only = osticket.desk.ticket(user, "Only in cdata", "x", at(0), priority=4)
    neither = osticket.desk.ticket(user, "Nowhere", "x", at(1), priority=1)
    field = osticket.desk.ids.priority_field
    osticket.desk.run("DELETE v FROM ost_form_entry_values v JOIN ost_form_entry e ON e.id = v.entry_id"
                      " WHERE v.field_id = %s AND e.object_id IN (%s, %s)", (field, copy_only, neither))  # fmt: skip
    osticket.desk.run("DELETE FROM ost_ticket__cdata WHERE ticket_id = %s", (neither,))
    by_id = {s.ticket.external_id: s.ticket for s in pull(OsticketAdapter(osticket.section(), tmp_path))}
    assert by_id[str(copy_only)].priority == Priority(4, "Emergency", "4")
    assert by_id[str(neither)].priority == Priority(2, "Normal", "2")  # core/default_priority_id


def test_reads_go_on_while_osticket_rebuilds_its_cdata_table(osticket, tmp_path):
    user = osticket.desk.user("Fay", "fay@acme.example")
    osticket.desk.ticket(user, "During rebuild", "x", at(0), priority=3)
    osticket.desk.run("DROP TABLE ost_ticket__cdata")
    [snapshot] = pull(OsticketAdapter(osticket.section(), tmp_path))
    assert snapshot.ticket.priority.rank == 3


def test_incremental_pulls_see_a_reply_that_changed_no_ticket_column(osticket, tmp_path):
    desk = osticket.desk
    user = desk.user("Gus", "gus@acme.example")
    quiet = desk.ticket(user, "Quiet", "x", at(0))
    other = desk.ticket(user, "Other", "x", at(1))
    desk.reply(quiet, "first answer", at(2))  # sets isanswered: the row moves
    adapter = OsticketAdapter(osticket.section(), tmp_path)
    first = pull(adapter)
    cursor = first[-1].cursor
    assert all(s.cursor < cursor for s in first[:-1])
    osticket.one("SELECT 1")
    before = osticket.one("SELECT updated FROM ost_ticket WHERE ticket_id = %s", (quiet,))
    desk.reply(quiet, "second answer", at(3))  # answered already: no column of the ticket changes
    assert osticket.one("SELECT updated FROM ost_ticket WHERE ticket_id = %s", (quiet,)) == before
    # the ticket rows lie in the past, beyond any overlap: only the entry watermark can find it
    second = pull(adapter, cursor)
    assert [s.ticket.external_id for s in second] == [str(quiet)]
    assert len(second[0].messages) == 3
    assert str(other) not in [s.ticket.external_id for s in second]
    third = pull(adapter, second[-1].cursor)  # the id overlap reads the last interval once more
    assert [s.ticket.external_id for s in third] == [str(quiet)]
    assert pull(adapter, third[-1].cursor) == []


def test_incremental_pulls_see_a_status_change_by_its_event(osticket, tmp_path):
    desk = osticket.desk
    user = desk.user("Hal", "hal@acme.example")
    ticket = desk.ticket(user, "Will close", "x", at(0))
    desk.ticket(user, "Stays", "x", at(1))
    adapter = OsticketAdapter(osticket.section(), tmp_path)
    cursor = pull(adapter)[-1].cursor
    cursor = pull(adapter, cursor)[-1].cursor if pull(adapter, cursor) else cursor
    desk.set_status(ticket, 2, at(5))
    changed = pull(adapter, cursor)
    assert [(s.ticket.external_id, s.ticket.status) for s in changed] == [(str(ticket), Status.CLOSED)]


def test_a_hard_deleted_ticket_is_handed_over_as_deleted_with_its_history(osticket, tmp_path):
    desk = osticket.desk
    user = desk.user("Ivy", "ivy@acme.example")
    doomed = desk.ticket(user, "Spam", "buy now", at(0))
    desk.reply(doomed, "no", at(1))
    keep = desk.ticket(user, "Real", "x", at(2))
    adapter = OsticketAdapter(osticket.section(), tmp_path)
    cursor = pull(adapter)[-1].cursor
    desk.delete(doomed, at(3))
    assert osticket.one("SELECT COUNT(*) FROM ost_thread_event WHERE thread_id = 0")[0] >= 2
    gone = pull(adapter, cursor)
    assert [(s.ticket.external_id, s.ticket.deleted) for s in gone] == [(str(doomed), True)]
    assert gone[0].ticket.title == "Spam" and len(gone[0].messages) == 2
    # a crash before the store kept it: handed over again; once stored from its cursor, forgotten
    again = pull(adapter, cursor)
    assert [s.ticket.external_id for s in again] == [str(doomed)]
    assert pull(adapter, again[-1].cursor) == []
    assert [s.ticket.external_id for s in pull(adapter)] == [str(keep)]


def test_a_malformed_ticket_is_named_and_the_rest_is_read(osticket, tmp_path, caplog):
    desk = osticket.desk
    user = desk.user("Jo", "jo@acme.example")
    desk.ticket(user, "Good", "x", at(0))
    broken = desk.ticket(user, "Broken", "x", at(1))
    desk.run("DELETE FROM ost_thread WHERE object_id = %s", (broken,))
    snapshots = pull(OsticketAdapter(osticket.section(), tmp_path))
    assert [s.ticket.title for s in snapshots] == ["Good"]
    assert f"ticket {broken}" in caplog.text


def test_a_configured_db_time_zone_reads_the_same_instants(osticket, tmp_path):
    user = osticket.desk.user("Kim", "kim@acme.example")
    osticket.desk.ticket(user, "Zoned", "x", at(0))
    [server] = pull(OsticketAdapter(osticket.section(), tmp_path / "a"))
    [configured] = pull(OsticketAdapter(osticket.section(db_time_zone="America/New_York"), tmp_path / "b"))
    assert configured.ticket.created_at == server.ticket.created_at == at(0)


def test_pages_cost_the_same_few_queries_whatever_they_hold(osticket, tmp_path):
    desk = osticket.desk
    user = desk.user("Lu", "lu@acme.example")
    for n in range(25):
        ticket = desk.ticket(user, f"T{n}", "x", at(n))
        for k in range(n % 4):
            desk.reply(ticket, f"r{k}", at(n) + timedelta(seconds=k + 1))
    adapter = OsticketAdapter(osticket.section(page_size=10), tmp_path)
    assert len(pull(adapter)) == 25
    three_pages = adapter.queries
    adapter = OsticketAdapter(osticket.section(page_size=100), tmp_path / "one")
    pull(adapter)
    assert three_pages - adapter.queries == 2  # each extra page: one statement, its entries and events packed


def test_a_thread_too_long_to_pack_is_read_unpacked(osticket, tmp_path, monkeypatch):
    desk = osticket.desk
    user = desk.user("Oz", "oz@acme.example")
    short = desk.ticket(user, "Short", "x", at(0))
    long = desk.ticket(user, "Long", "x", at(1))
    for k in range(30):
        desk.reply(long, f"r{k}", at(2) + timedelta(seconds=k))
    desk.transfer(long, 3, at(3))
    for k in range(10):
        desk.assign(long, at(4) + timedelta(seconds=k), staff=1 + k % 2)
    packed = {s.ticket.external_id: s for s in pull(OsticketAdapter(osticket.section(), tmp_path / "a"))}
    normal = OsticketAdapter(osticket.section(), tmp_path / "b")
    pull(normal)
    monkeypatch.setattr("adapters.osticket.connection.PACK_LIMIT", 200)  # a few entries' worth of bytes
    adapter = OsticketAdapter(osticket.section(), tmp_path / "c")
    cut = {s.ticket.external_id: s for s in pull(adapter)}
    assert len(cut[str(long)].messages) == 31
    assert cut[str(long)].messages == packed[str(long)].messages
    assert cut[str(long)].ticket == packed[str(long)].ticket
    assert cut[str(long)].ticket.custom["osticket_assignments"] == 10
    assert (cut[str(short)].ticket, cut[str(short)].messages) == (
        packed[str(short)].ticket,
        packed[str(short)].messages,
    )
    assert adapter.queries == normal.queries + 2  # the page's cut thread: one statement for entries, one for events


def test_every_source_is_a_channel_and_a_team_is_the_assignee_without_an_agent(osticket, tmp_path):
    desk = osticket.desk
    user = desk.user("Mo", "mo@acme.example")
    sources = {"Web": Channel.WEB, "Email": Channel.EMAIL, "Phone": Channel.PHONE, "API": Channel.API,
               "Other": Channel.OTHER}  # fmt: skip
    ids = {desk.ticket(user, name, "x", at(n), source=name, team=1): channel for n, (name, channel) in
           enumerate(sources.items())}  # fmt: skip
    snapshots = pull(OsticketAdapter(osticket.section(), tmp_path))
    assert {int(s.ticket.external_id): s.ticket.channel for s in snapshots} == ids
    assert {s.ticket.assignee for s in snapshots} == {"Level 2"}


def test_assignments_and_transfers_are_read_from_their_events(osticket, tmp_path):
    desk = osticket.desk
    user = desk.user("Nia", "nia@acme.example")
    ticket = desk.ticket(user, "Moving around", "x", at(0), dept=1)
    adapter = OsticketAdapter(osticket.section(), tmp_path)
    cursor = pull(adapter)[-1].cursor
    desk.transfer(ticket, 3, at(10))
    desk.assign(ticket, at(12), team=1)
    desk.transfer(ticket, 2, at(20))
    desk.assign(ticket, at(25), staff=2)
    # each event also moved `updated`; put it back, so that only the event watermark can find them
    desk.run("UPDATE ost_ticket SET updated = %s WHERE ticket_id = %s", (desk.local(at(0)), ticket))
    [snapshot] = pull(adapter, cursor)
    t = snapshot.ticket
    assert t.custom["osticket_transferred_at"] == at(20).isoformat()
    assert t.custom["osticket_assigned_at"] == at(25).isoformat()
    assert (t.custom["osticket_transfers"], t.custom["osticket_assignments"]) == (2, 2)
    assert t.department == osticket.one("SELECT name FROM ost_department WHERE id = 2")[0]
    assert t.assignee == "Bob Builder"
    assert t.updated_at == at(25)  # the last event is the last change
    # no status moved: the history holds the creation alone, and the clocks see an open ticket
    assert [(h.status, h.raw_status) for h in t.status_history] == [(Status.OPEN, "created")]


def test_a_deleted_tickets_messages_come_back_the_same_in_either_time_mode(osticket, tmp_path):
    desk = osticket.desk
    user = desk.user("Pia", "pia@acme.example")
    doomed = desk.ticket(user, "Gone soon", "x", at(0))
    desk.reply(doomed, "answer", at(5))
    desk.entry(doomed, "N", "<p>internal</p>", at(6), staff=2, flags=64, poster="Bob Builder")
    desk.ticket(user, "Stays", "x", at(7))
    adapters = [OsticketAdapter(osticket.section(), tmp_path / "server"),
                OsticketAdapter(osticket.section(db_time_zone="America/New_York"), tmp_path / "zoned")]  # fmt: skip
    before = [{s.ticket.external_id: s for s in pull(a)} for a in adapters]
    desk.delete(doomed, at(8))
    for adapter, seen in zip(adapters, before, strict=True):
        [gone] = pull(adapter, seen[max(seen, key=int)].cursor)
        assert gone.ticket.deleted and gone.ticket.external_id == str(doomed)
        assert gone.messages == seen[str(doomed)].messages
        assert [m.at for m in gone.messages] == [at(0), at(5), at(6)]
        assert gone.ticket.status_history == seen[str(doomed)].ticket.status_history


def test_a_snapshot_kept_in_the_earlier_format_is_still_handed_over_when_deleted(osticket, tmp_path):
    import json
    import sqlite3

    desk = osticket.desk
    user = desk.user("Quinn", "quinn@acme.example")
    doomed = desk.ticket(user, "Old format", "x", at(0))
    desk.ticket(user, "Stays", "x", at(1))
    adapter = OsticketAdapter(osticket.section(), tmp_path)
    cursor = pull(adapter)[-1].cursor
    old = {"t": ["", str(doomed), at(0).isoformat(), at(0).isoformat(), "open", "Open", "123456", "Old format",
                 "web", None, None, None, None, None],
           "p": None, "r": ["Quinn", "quinn@acme.example"], "h": [[at(0).isoformat(), "open", "created"]], "c": {},
           "m": [["7", at(0).isoformat(), "customer", True, "web", False]]}  # fmt: skip
    [path] = tmp_path.glob("*-osticket-known.db")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE known SET snapshot = ? WHERE id = ?", (json.dumps(old), doomed))
    desk.delete(doomed, at(2))
    [gone] = pull(adapter, cursor)
    assert gone.ticket.deleted and gone.ticket.title == "Old format"
    assert [(m.external_id, m.at) for m in gone.messages] == [("7", at(0))]


def test_a_first_pull_left_halfway_leaves_no_session_fetching_ahead(osticket, tmp_path):
    import threading

    desk = osticket.desk
    user = desk.user("Rae", "rae@acme.example")
    for n in range(35):
        desk.ticket(user, f"T{n}", "x", at(n))
    adapter = OsticketAdapter(osticket.section(page_size=10), tmp_path)
    pulling = adapter.pull(None)
    assert next(pulling).ticket.title == "T0"
    pulling.close()  # a service asked to stop, or a crash of the consumer
    assert not [t for t in threading.enumerate() if t.name.endswith("-fetch")]
    assert [s.ticket.title for s in adapter.pull(None)] == [f"T{n}" for n in range(35)]


def test_a_first_pull_whose_fetching_session_fails_says_so(osticket, tmp_path):
    from connector.core.errors import PermanentSourceError

    desk = osticket.desk
    desk.ticket(desk.user("Sam", "sam@acme.example"), "T", "x", at(0))
    osticket.desk.run("DROP TABLE ost_user_email")  # the page statement joins it
    with pytest.raises(PermanentSourceError, match="missing table"):
        list(OsticketAdapter(osticket.section(), tmp_path).pull(None))
