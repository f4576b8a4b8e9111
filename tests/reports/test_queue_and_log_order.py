"""A paused clock shows what it has left; the log sorts by remaining time; requester names."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from connector.reports.queries import Filters, Reports
from connector.store.database import Store
from tests.reports.report_store import add_record, add_ticket
from tests.support.engine_helpers import CALENDARS, load_settings

H = timedelta(hours=1)
NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
CONFIG = CALENDARS + '\n[[levels]]\nname = "Standard"\ncalendar = "always"\nfirst_reply = "1h"\n'


def build(tmp_path):
    store = Store.open(tmp_path / "sla.db")
    add_ticket(store, 1, requester_email="ann@x.example", requester_name="Ann Example")
    add_ticket(store, 2, requester_email="bob@x.example")
    # paused since long before its stale due time passed: 8 h of its 10 h are left
    add_record(store, 1, 1, "paused", NOW - 50 * H, NOW - 40 * H, None, 2 * H, metric="resolution")
    add_record(store, 2, 1, "running", NOW - H, NOW + 3 * H, None, H)  # 3 h left
    add_record(store, 2, 2, "running", NOW - 2 * H, NOW - H, None, 2 * H)  # 1 h overdue
    add_record(store, 1, 2, "met", NOW - 5 * H, NOW - 4 * H, NOW - 4.5 * H, 0.5 * H)  # 30 min to spare
    return Reports(store, load_settings(CONFIG), NOW)


def test_a_paused_clock_in_the_queue_shows_its_remaining_business_time(tmp_path):
    queue = [list(r) for r in build(tmp_path).due(Filters()).rows]
    assert [(r[0], r[7], r[-1]) for r in queue] == [
        ("1002", -H, "running"),
        ("1002", 3 * H, "running"),
        ("1001", 8 * H, "paused"),
    ]
    assert queue[2][1:3] == ["ann@x.example", "Ann Example"]
    assert queue[2][6] == "2026-11-10T20:00:00+00:00"  # now + 8 h on a 24/7 calendar, were it to resume now


def test_the_log_sorts_by_remaining_time(tmp_path):
    reports = build(tmp_path)
    days = Filters(start=date(2026, 11, 1), end=date(2026, 11, 30))
    log = [list(r) for r in reports.log(days, ["remaining"]).rows]
    assert [r[12] for r in log] == [-H, 0.5 * H, 3 * H, 8 * H]
    log = [list(r) for r in reports.log(days, ["remaining"], descending=True).rows]
    assert [r[12] for r in log] == [8 * H, 3 * H, 0.5 * H, -H]
    assert [r[:2] for r in log][0] == ["ann@x.example", "Ann Example"]


def test_the_log_sorted_by_remaining_time_is_sorted_by_sqlite_not_held_in_memory(tmp_path):
    """The sort goes through a temporary table: rows come one by one from a cursor, and no more
    records are ever held by Python than the first row needs."""
    reports = build(tmp_path)
    store = Store.open(tmp_path / "sla.db")
    for ticket in range(3, 400):
        add_ticket(store, ticket)
        add_record(
            store, ticket, 1, "met", NOW - 5 * H, NOW - 4 * H, NOW - 4.5 * H, (ticket % 50) * timedelta(minutes=1)
        )
    days = Filters(start=date(2026, 11, 1), end=date(2026, 11, 30))
    expected = sorted(reports.log(days).rows, key=lambda row: (row[12] is None, row[12] or timedelta(0)))
    rows = reports.log(days, ["remaining"]).rows
    assert not isinstance(rows, list | tuple)
    first = next(iter(rows))
    temporary = [n for (n,) in reports.db.execute("SELECT name FROM temp.sqlite_master WHERE type = 'table'")]
    assert [n for n in temporary if n.startswith("log_order_")]  # the order is kept by SQLite
    assert [first, *rows] == expected
    temporary = [n for (n,) in reports.db.execute("SELECT name FROM temp.sqlite_master WHERE type = 'table'")]
    assert not [n for n in temporary if n.startswith("log_order_")]  # and dropped once read
    assert not reports.db.conn.in_transaction
