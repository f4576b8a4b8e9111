"""The ticket cells the store keeps for the SLA log (`connector.store.ticket_cells`): always what
the tickets say, rebuilt when they are not this version's, and never a lost or stale line when a
row is missing or the store was written by another version."""

from __future__ import annotations

import csv
import io
import sqlite3
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from connector.api.readonly import ReadOnlyStore
from connector.core.model import Person
from connector.reports.output import write
from connector.reports.queries import Filters, Reports
from connector.store import ticket_cells
from connector.store.database import Store
from connector.store.tickets import TicketStore
from tests.reports.report_store import add_record, add_ticket
from tests.reports.test_log_lines import config, csv_both_ways
from tests.support.engine_helpers import load_settings, ticket

START = datetime(2026, 11, 3, 9, tzinfo=UTC)
NOVEMBER = Filters(start=date(2026, 11, 1), end=date(2026, 11, 30))


def cells(store: Store) -> dict[int, tuple[str, str]]:
    return {row[0]: (row[1], row[2]) for row in store.db.conn.execute("SELECT id, head, title FROM ticket_cells")}


def log_rows(store: Store, **filters) -> list[list[str]]:
    reports = Reports(store, load_settings(config("UTC")), START + timedelta(days=30))
    text = io.StringIO()
    write(reports.log(replace(NOVEMBER, **filters)), "csv", text)
    return list(csv.reader(io.StringIO(text.getvalue(), newline="")))[1:]


def one_record(store: Store, ident: int) -> None:
    add_record(
        store, ident, 0, "met", START, START + timedelta(hours=1), START + timedelta(minutes=5), timedelta(minutes=5)
    )


def test_a_ticket_written_by_a_sync_has_its_cells_and_they_follow_every_change(tmp_path):
    store = Store.open(tmp_path / "sla.db")
    tickets = TicketStore(store)
    first = ticket(START, number="", title="=HYPERLINK(1)", department="+Sales", requester=Person("Zoë", "z@x.example"))
    ident = tickets.upsert(first, [])
    # each cell as the CSV writer writes it: the formula guard, then quotes where needed
    assert cells(store) == {ident: ("z@x.example,Zoë,1,,'+Sales,", "'=HYPERLINK(1)")}

    second = replace(first, title='Printer, "B2"', assignee="@ana", number="T-7", requester=Person('Doe, "J"', None))
    tickets.upsert(second, [])  # the sync's upsert
    assert cells(store) == {ident: (',"Doe, ""J""",T-7,,\'+Sales,\'@ana', '"Printer, ""B2"""')}

    store.db.execute("DELETE FROM tickets WHERE id = ?", [ident])
    assert cells(store) == {}


def test_the_log_shows_a_ticket_as_it_is_now(tmp_path):
    store = Store.open(tmp_path / "sla.db")
    add_ticket(store, 1, title="old", department="Support")
    one_record(store, 1)
    assert log_rows(store)[0][-1] == "old"
    store.db.execute("UPDATE tickets SET title = 'new', department = '-Ops' WHERE id = 1")
    assert [(row[4], row[-1]) for row in log_rows(store)] == [("'-Ops", "new")]


def test_cells_lost_with_their_triggers_are_rebuilt_when_the_store_is_opened(tmp_path):
    path = tmp_path / "sla.db"
    store = Store.open(path)
    add_ticket(store, 1, title="kept")
    # a rebuild of the tickets table (a later migration) drops its triggers: tickets written
    # meanwhile have no cells, and a changed title leaves the old ones
    store.db.execute("DROP TRIGGER ticket_cells_insert")
    store.db.execute("DROP TRIGGER ticket_cells_update")
    add_ticket(store, 2, title="written without the trigger")
    store.db.execute("UPDATE tickets SET title = 'changed' WHERE id = 1")
    store.db.conn.commit()
    assert not ticket_cells.current(store.db.conn)
    assert set(cells(store)) == {1} and cells(store)[1][1] == "kept"
    store.close()

    store = Store.open(path)
    assert ticket_cells.current(store.db.conn)
    assert {ident: title for ident, (_, title) in cells(store).items()} == {
        1: "changed",
        2: "written without the trigger",
    }


def test_cells_of_another_version_are_rebuilt_with_this_versions_guard(tmp_path):
    path = tmp_path / "sla.db"
    store = Store.open(path)
    add_ticket(store, 1, title="|cmd")
    # another version guarded fewer starts: its cells and triggers are replaced, not trusted
    store.db.execute("DROP TRIGGER ticket_cells_insert")
    store.db.execute(
        "CREATE TRIGGER ticket_cells_insert AFTER INSERT ON tickets BEGIN "
        "INSERT OR REPLACE INTO ticket_cells (id, head, title) VALUES (new.id, '', new.title); END"
    )
    store.db.execute("UPDATE ticket_cells SET title = '|cmd'")
    store.db.conn.commit()
    store.close()
    store = Store.open(path)
    assert cells(store)[1][1] == "'|cmd"
    assert ticket_cells.current(store.db.conn)


def test_a_ticket_without_its_cells_is_written_by_python_not_lost(tmp_path):
    store = Store.open(tmp_path / "sla.db")
    for ident in (1, 2, 3):
        add_ticket(store, ident, title=f"title {ident}", department="=1+1" if ident == 2 else "Support")
        one_record(store, ident)
    store.db.execute("DELETE FROM ticket_cells WHERE id = 2")
    store.db.conn.commit()
    by_sql, by_python = csv_both_ways(store, "UTC", NOVEMBER)
    assert by_sql == by_python
    assert [(row[4], row[-1]) for row in log_rows(store)] == [
        ("Support", "title 1"),
        ("'=1+1", "title 2"),
        ("Support", "title 3"),
    ]


def test_a_read_only_store_with_cells_of_another_version_reads_the_tickets(tmp_path):
    path = tmp_path / "sla.db"
    store = Store.open(path)
    add_ticket(store, 1, title="right")
    one_record(store, 1)
    store.db.execute("DROP TRIGGER ticket_cells_update")
    store.db.execute("UPDATE tickets SET title = 'right now' WHERE id = 1")  # its cells stay stale
    store.db.conn.commit()
    store.close()

    readonly = ReadOnlyStore.open(path)
    assert not ticket_cells.current(readonly.db.conn)
    reports = Reports(readonly, load_settings(config("UTC")), START)
    assert reports.log(NOVEMBER).csv_batches is None  # written by Python
    assert [row[-1] for row in log_rows(readonly)] == ["right now"]


def test_the_log_joins_the_tickets_only_where_a_filter_or_the_order_reads_them(tmp_path):
    store = Store.open(tmp_path / "sla.db")
    add_ticket(store, 1, title="t", department="Support")
    one_record(store, 1)
    reports = Reports(store, load_settings(config("UTC")), START)
    for sort, filters, joined in ((None, NOVEMBER, False), (["department"], NOVEMBER, True)) + (
        (None, replace(NOVEMBER, department="Support"), True),
    ):
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        write(reports.log(filters, sort), "csv", io.StringIO())
        store.db.conn.set_trace_callback(None)
        (line,) = [s for s in statements if s.startswith("SELECT CASE")]
        assert "JOIN ticket_cells" in line and ("JOIN tickets t" in line) == joined


def test_a_nul_or_a_blob_in_a_ticket_is_written_by_python_as_it_is(tmp_path):
    # printf ends a text at a NUL, and GLOB does not read a blob (only a raw write stores one)
    store = Store.open(tmp_path / "sla.db")
    add_ticket(store, 1, requester_email="x\x00y", title="a\x00b,c")
    add_ticket(store, 2, department=b"=x", title=b"ab,c")
    add_ticket(store, 3, title="plain")
    for ident in (1, 2, 3):
        one_record(store, ident)
    store.db.conn.commit()
    assert cells(store)[1][0] is None and cells(store)[2][0] is None and cells(store)[3][0] is not None
    by_sql, by_python = csv_both_ways(store, "UTC", NOVEMBER)
    assert by_sql == by_python
    assert [row[0] for row in log_rows(store)][0] == "x\x00y"


def test_a_record_whose_ticket_is_gone_is_left_out_as_the_python_writer_does(tmp_path):
    path = tmp_path / "sla.db"
    store = Store.open(path)
    for ident in (1, 2):
        add_ticket(store, ident, title=f"title {ident}")
        one_record(store, ident)
    store.db.conn.commit()
    raw = sqlite3.connect(path)  # a connection that leaves the foreign keys off, as the sqlite3 shell does
    raw.execute("DELETE FROM tickets WHERE id = 1")
    raw.commit()
    raw.close()
    by_sql, by_python = csv_both_ways(store, "UTC", NOVEMBER)
    assert by_sql == by_python
    assert [row[-1] for row in log_rows(store)] == ["title 2"]
