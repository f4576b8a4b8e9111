"""Writes into osTicket's database, read back the way osTicket reads them: the priority from the
form answer (the ticket page) and the `__cdata` copy (the queues), the event line of the history,
the note in the thread and in the search index; repeated after a crash, nothing doubles."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.osticket.adapter import OsticketAdapter
from connector.core.errors import PermanentSourceError
from connector.core.escalation import Action
from tests.adapters.osticket.conftest import OsticketHost

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def action(ticket: int, kind: str, key: str = "osticket:1:first_reply:0:breached", **payload) -> Action:
    return Action(f"{key}:{kind}", key, f"osticket:{ticket}", kind, payload)


def priority_as_osticket_reads_it(host, ticket: int):
    """(form answer desc, form answer id, __cdata copy, the priority the queue joins to)."""
    return host.one(
        "SELECT v.value, v.value_id, cd.priority, p.priority_desc FROM ost_form_entry e"
        " JOIN ost_form f ON f.id = e.form_id AND f.type = 'T'"
        " JOIN ost_form_field ff ON ff.form_id = f.id AND ff.name = 'priority'"
        " JOIN ost_form_entry_values v ON v.entry_id = e.id AND v.field_id = ff.id"
        " JOIN ost_ticket__cdata cd ON cd.ticket_id = e.object_id"
        " JOIN ost_ticket_priority p ON p.priority_id = cd.priority"
        " WHERE e.object_type = 'T' AND e.object_id = %s",
        (ticket,),
    )


@pytest.fixture
def ticket(osticket):
    user = osticket.desk.user("Carla", "carla@acme.example")
    return osticket.desk.ticket(user, "Printer", "x", T0, priority=1, dept=3, topic=2)


def test_raising_the_priority_writes_what_osticket_writes_in_one_go(osticket, ticket, tmp_path):
    adapter = OsticketAdapter(osticket.section(), tmp_path)
    before = osticket.one("SELECT updated, lastupdate FROM ost_ticket WHERE ticket_id = %s", (ticket,))
    adapter.apply(action(ticket, "raise_priority", priority="urgent", rank=4))
    assert priority_as_osticket_reads_it(osticket, ticket) == ("Emergency", 4, "4", "Emergency")
    field = osticket.desk.ids.priority_field
    event = osticket.one(
        "SELECT ev.data, ev.username, ev.uid, ev.uid_type, ev.dept_id, ev.topic_id FROM ost_thread_event ev"
        " JOIN ost_event e ON e.id = ev.event_id WHERE e.name = 'edited' ORDER BY ev.id DESC LIMIT 1"
    )
    assert json.loads(event[0]) == {
        "0": ["Low", 1],
        "1": ["Emergency", 4],
        "fields": {str(field): [["Low", 1], ["Emergency", 4]]},
    }
    assert event[1:] == ("SLA Connector", None, "S", 3, 2)
    after = osticket.one("SELECT updated, lastupdate FROM ost_ticket WHERE ticket_id = %s", (ticket,))
    assert after[0] > before[0] and after[1] > before[1]
    [snapshot] = list(adapter.pull(None))
    assert snapshot.ticket.priority.rank == 4


def test_a_priority_is_never_lowered_and_a_repeat_writes_nothing(osticket, ticket, tmp_path):
    adapter = OsticketAdapter(osticket.section(), tmp_path)
    adapter.apply(action(ticket, "raise_priority", priority="high", rank=3))
    events = osticket.one("SELECT COUNT(*) FROM ost_thread_event")[0]
    # the same action again after a kill between the write and the outbox update
    adapter.apply(action(ticket, "raise_priority", priority="high", rank=3))
    adapter.apply(action(ticket, "raise_priority", "other", priority="normal", rank=2))
    assert priority_as_osticket_reads_it(osticket, ticket) == ("High", 3, "3", "High")
    assert osticket.one("SELECT COUNT(*) FROM ost_thread_event")[0] == events


def test_a_note_is_an_escaped_system_note_found_by_search_and_written_once(osticket, ticket, tmp_path):
    adapter = OsticketAdapter(osticket.section(), tmp_path)
    text = "First reply overdue <script>alert(1)</script> & more\nsecond line 😀 done"
    note = action(ticket, "add_note", text=text)
    adapter.apply(note)
    adapter.apply(note)  # retried after a kill before the outbox knew
    rows = osticket.all(
        "SELECT id, type, flags, staff_id, user_id, poster, title, body, format FROM ost_thread_entry WHERE type = 'N'"
    )
    assert len(rows) == 1
    entry, kind, flags, staff, user, poster, title, body, fmt = rows[0]
    assert (kind, flags, staff, user, poster, title, fmt) == ("N", 192, 0, 0, "SLA Connector", "SLA escalation", "html")
    assert "<script>" not in body and "&lt;script&gt;" in body and "&amp; more<br />second line" in body
    assert "😀" not in body and "\ufffd done" in body  # utf8mb3 tables: the emoji is replaced
    search = osticket.one("SELECT title, content FROM ost__search WHERE object_type = 'H' AND object_id = %s", (entry,))
    assert search[0] == "SLA escalation" and "second line \ufffd done" in search[1]
    # a note moves no activity time of the ticket, as osTicket's own notes
    assert osticket.one("SELECT lastupdate FROM ost_ticket WHERE ticket_id = %s", (ticket,))[0] == T0.astimezone(
        osticket.desk.zone
    ).replace(tzinfo=None)
    [snapshot] = list(adapter.pull(None))
    assert [(m.public, m.own, m.counts) for m in snapshot.messages] == [(True, False, True), (False, True, False)]


def test_another_action_with_the_same_text_is_a_second_note(osticket, ticket, tmp_path):
    adapter = OsticketAdapter(osticket.section(), tmp_path)
    adapter.apply(action(ticket, "add_note", "a:1", text="same"))
    adapter.apply(action(ticket, "add_note", "a:2", text="same"))
    assert osticket.one("SELECT COUNT(*) FROM ost_thread_entry WHERE type = 'N'")[0] == 2


def test_tags_are_refused_by_name(osticket, ticket, tmp_path):
    adapter = OsticketAdapter(osticket.section(), tmp_path)
    assert "add_tags" not in adapter.capabilities
    with pytest.raises(PermanentSourceError, match="add_tags.*osTicket has no tags"):
        adapter.apply(action(ticket, "add_tags", tags=["sla"]))


def test_a_write_without_its_privilege_names_the_table(mariadb, tmp_path):
    host = OsticketHost(mariadb, grants=["GRANT SELECT ON `{db}`.* TO {user}"])
    user = host.desk.user("Carla", "carla@acme.example")
    ticket = host.desk.ticket(user, "Printer", "x", T0, priority=1)
    with pytest.raises(PermanentSourceError, match=r"missing privilege.*thread_entry"):
        OsticketAdapter(host.section(), tmp_path).apply(action(ticket, "add_note", text="x"))
    with pytest.raises(PermanentSourceError, match=r"missing privilege"):
        OsticketAdapter(host.section(), tmp_path).apply(action(ticket, "raise_priority", rank=4))
    assert priority_as_osticket_reads_it(host, ticket) == ("Low", 1, "1", "Low")  # rolled back whole
    assert host.one("SELECT COUNT(*) FROM ost_thread_event")[0] == 1


def test_notices_go_to_the_assigned_agent_by_smtp(osticket, ticket, tmp_path, smtp_sink):
    controller, sink = smtp_sink
    osticket.desk.assign(ticket, T0, staff=2)
    smtp = {"host": "127.0.0.1", "port": controller.port, "security": "plain", "sender": "sla@help.example"}
    adapter = OsticketAdapter(osticket.section(smtp=smtp), tmp_path)
    assert "notify" in adapter.capabilities
    adapter.apply(action(ticket, "notify", recipients=["assignee", "lead@help.example"], subject="Breach", body="b"))
    [(sender, recipients, message)] = sink.messages
    assert recipients == ["bob@help.example.com", "lead@help.example"]
    number = osticket.one("SELECT number FROM ost_ticket WHERE ticket_id = %s", (ticket,))[0]
    assert message["Subject"] == f"Breach [#{number}]"
