"""The SLA log as CSV, rendered by SQLite (`connector.reports.log_lines`), is byte for byte what
the Python writer makes of the same rows: on any text a helpdesk may send, in zones with odd
offsets and across their changes, for running, paused, cancelled, estimated and corrected
records."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.reports.output import write
from connector.reports.queries import Filters, Reports, Table
from connector.store.codec import iso
from connector.store.database import Store
from tests.reports.report_store import add_record, add_ticket
from tests.support.engine_helpers import CALENDARS, load_settings

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
ZONES = ["Europe/Berlin", "Asia/Kolkata", "America/St_Johns", "Australia/Lord_Howe", "Pacific/Chatham", "UTC"]
# what helpdesks send: separators, quotes, line breaks, formula starts (also full-width), control
# characters, wide and combining characters
TRICKY = st.text(
    alphabet=st.sampled_from(list(",\"\r\n\t\x1f=+-@|\uff1d\uff0b\uff0d\uff20 aZ09\u754c\U0001f600e\u0301'")),
    max_size=12,
)
TEXT = st.one_of(st.none(), st.just(""), TRICKY)
STATUSES = ["met", "breached", "running", "paused", "cancelled"]


# the levels' names records carry, all configured but the last two (a name with a line break was
# never valid in a config, but a record may hold anything): a name that needs a guard or quotes
# is written as a cell, whether configured or not
LEVELS = ["Standard", "Kunde's", "=Gold", "Gold, EU", 'The "best"', "+1\nline", "@retired"]


def config(zone: str) -> str:
    levels = "".join(
        f'\n[[levels]]\nname = {json.dumps(name)}\ncalendar = "always"\nfirst_reply = "1h"\n' for name in LEVELS[:-2]
    )
    return CALENDARS + f'\n[connector]\nreport_timezone = "{zone}"\n' + levels


def csv_both_ways(
    store: Store, zone: str, filters: Filters, excel: bool = False, sort: list[str] | None = None
) -> tuple[str, str]:
    reports = Reports(store, load_settings(config(zone)), NOW)
    table = reports.log(filters, sort)
    assert table.csv_batches is not None  # the report offers its lines rendered by SQLite
    by_sql, by_python = io.StringIO(), io.StringIO()
    write(table, "csv", by_sql, excel=excel)
    write(Table(table.columns, reports.log(filters, sort).rows), "csv", by_python, excel=excel)
    return by_sql.getvalue(), by_python.getvalue()


record = st.fixed_dictionaries(
    {
        "status": st.sampled_from(STATUSES),
        # minutes from the start of November: across the DST ends of Lord Howe (April) do not
        # happen here, so the hours around Europe's and Chatham's changes are taken in `moments`
        "start": st.integers(0, 40 * 24 * 60),
        "target": st.sampled_from([30, 60, 8 * 60, 36 * 60]),
        "used": st.integers(-60, 3000),
        "stopped": st.booleans(),
        "note": st.sampled_from([None, "estimated", "corrected", "corrected-running", "both"]),
        # a level's name is the one cell of the record's own that may need a guard or quotes
        "level": st.sampled_from(LEVELS),
    }
)
ticket = st.fixed_dictionaries(
    {
        "requester_email": TEXT,
        "requester_name": TEXT,
        "number": TEXT,
        "web_url": TEXT,
        "department": TEXT,
        "assignee": TEXT,
        "title": TEXT,
        "records": st.lists(record, min_size=1, max_size=4),
    }
)


def fill(store: Store, tickets: list[dict], base: datetime) -> None:
    for ident, fields in enumerate(tickets, start=1):
        records = fields.pop("records")
        add_ticket(store, ident, **fields)
        for seq, r in enumerate(records):
            start = base + timedelta(minutes=r["start"], seconds=seq * 7, microseconds=seq * 999_999 % 1_000_000)
            due = start + timedelta(minutes=r["target"])
            stopped = start + timedelta(minutes=abs(r["used"])) if r["stopped"] or r["status"] == "met" else None
            add_record(
                store, ident, seq, r["status"], start, due, stopped, timedelta(minutes=r["used"]), level=r["level"]
            )
            event = {
                "ticket_id": ident,
                "metric": "first_reply",
                "seq": seq,
                "at": iso(start),
                "recorded_at": iso(start),
            }
            if r["note"] in ("estimated", "both"):
                store.db["sla_events"].insert(
                    {**event, "key": f"{ident}:{seq}:e", "kind": "met", "data": json.dumps({"stop_estimated": True})}
                )
            if r["note"] in ("corrected", "corrected-running", "both"):
                previous = None if r["note"] == "corrected-running" else iso(start + timedelta(minutes=5))
                store.db["sla_events"].insert(
                    {
                        **event,
                        "key": f"{ident}:{seq}:c",
                        "kind": "corrected",
                        "data": json.dumps({"previous_stop": previous}),
                    }
                )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tickets=st.lists(ticket, min_size=1, max_size=6),
    zone=st.sampled_from(ZONES),
    base=st.sampled_from(
        [
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # Europe's change back to winter time
            datetime(2026, 9, 26, 13, 0, tzinfo=UTC),  # Chatham's change to summer time (+12:45 to +13:45)
            datetime(2026, 11, 1, tzinfo=UTC),
        ]
    ),
    excel=st.booleans(),
    # by start, the ticket's cells come from the store's ticket cells; sorted by a ticket's
    # column, or filtered by one, from the tickets joined
    sort=st.sampled_from([None, ["department"]]),
)
def test_the_lines_sqlite_renders_are_the_python_writers(tickets, zone, base, excel, sort):
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(Path(folder) / "sla.db")
        records = sum(len(t["records"]) for t in tickets)
        fill(store, tickets, base)
        by_sql, by_python = csv_both_ways(
            store, zone, Filters(start=date(2026, 9, 1), end=date(2026, 12, 31)), excel, sort
        )
        assert by_sql == by_python
        # and every record is one row when read back
        assert len(list(csv.reader(io.StringIO(by_sql.lstrip("\ufeff"), newline="")))) == 1 + records
        store.db.conn.close()


def test_a_control_character_a_formula_a_comma_and_a_record_outside_the_hour_table(tmp_path):
    store = Store.open(tmp_path / "sla.db")
    add_ticket(store, 1, title="a\x1fb", department="=1+1")
    add_ticket(store, 2, title="plain, with a comma")
    start = datetime(2026, 11, 3, 9, tzinfo=UTC)
    add_record(
        store, 1, 0, "met", start, start + timedelta(hours=1), start + timedelta(minutes=5), timedelta(minutes=5)
    )
    # stopped long after the range: its hour is past the table the export builds
    late = start + timedelta(days=400)
    add_record(store, 2, 0, "met", start, late, late, timedelta(hours=1))
    by_sql, by_python = csv_both_ways(store, "Europe/Berlin", Filters(start=date(2026, 11, 1), end=date(2026, 11, 30)))
    assert by_sql == by_python
    rows = list(csv.reader(io.StringIO(by_sql, newline="")))
    assert [row[-1] for row in rows[1:]] == ["a\x1fb", "plain, with a comma"]
    assert rows[1][4] == "'=1+1" and rows[2][11] == "2027-12-08T10:00:00+01:00"
