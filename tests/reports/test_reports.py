"""Reports on a hand-built store, with exact expected rows."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from connector.cli.main import main
from connector.reports.export import export_reports
from connector.reports.output import write
from connector.reports.queries import Filters, Reports
from connector.store.database import Store
from tests.support.engine_helpers import CALENDARS, load_settings

UTC = UTC
H, M = timedelta(hours=1), timedelta(minutes=1)
NOW = datetime(2026, 11, 6, 0, 0, tzinfo=UTC)

SETTINGS_TEXT = (
    CALENDARS
    + """
[connector]
report_timezone = "Europe/Berlin"

[[levels]]
name = "Standard"
calendar = "always"
first_reply = "1h"

[[contracts]]
customer = "ACME Corp"
organizations = ["ACME"]
domains = ["acme.example"]
monthly_fee = "2500.00"
currency = "EUR"
tiers = [ { below = 99, credit_percent = 5 }, { below = 95, credit_percent = 10 } ]
per_breach_percent = "1"
cap_percent = "20"

[[contracts]]
customer = "Beta"
domains = ["beta.example"]
monthly_fee = "999.99"
currency = "EUR"
per_breach_percent = "7"
cap_percent = "5"
"""
)


def u(day, hour, minute=0, month=11):
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def iso(moment):
    return moment.isoformat() if moment else None


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path / "sla.db")
    tickets = [
        (1, "1001", "ACME", "Support", "ann", "a@acme.example", "Printer on fire"),
        (2, "1002", None, "Sales", "bob", "b@beta.example", "=cmd|' /C calc'!A0"),
        (3, "1003", "ACME", "Support", "ann", "c@acme.example", "VPN"),
    ]
    for ident, number, org, dept, agent, email, title in tickets:
        store.db["tickets"].insert(
            {
                "id": ident,
                "source": "test",
                "external_id": number,
                "number": number,
                "organization": org,
                "department": dept,
                "assignee": agent,
                "requester_email": email,
                "title": title,
                "snapshot": "{}",
            }
        )
    rows = [
        # ticket, metric, seq, status, start, due, stopped, target, business
        (1, "first_reply", 1, "met", u(2, 8), u(2, 9), u(2, 8, 30), H, 30 * M),
        (1, "resolution", 1, "breached", u(2, 7, 30), u(2, 23, 30), u(3, 10), 16 * H, 26 * H + 30 * M),
        (2, "first_reply", 1, "running", u(5, 9), u(5, 10), None, H, 2 * H),
        (2, "next_reply", 1, "running", u(5, 12), u(10, 12), None, 5 * 24 * H, H),
        (3, "first_reply", 1, "met", u(30, 22), u(30, 23, 50), u(30, 23, 30), 110 * M, 90 * M),
        (3, "next_reply", 1, "cancelled", u(4, 9), u(4, 10), None, H, 5 * M),
        (1, "next_reply", 1, "met", u(3, 11, 50), u(3, 12, 50), u(3, 12), H, 10 * M),
    ]
    for ticket, metric, seq, status, start, due, stopped, target, business in rows:
        store.db["sla_records"].insert(
            {
                "ticket_id": ticket,
                "metric": metric,
                "seq": seq,
                "level": "Standard",
                "calendar": "always",
                "target_us": target // timedelta(microseconds=1),
                "start_at": iso(start),
                "due_at": iso(due),
                "stopped_at": iso(stopped),
                "status": status,
                "business_us": business // timedelta(microseconds=1),
                "paused_us": 0,
                "steps_fired": "[]",
                "pauses": "[]",
                "next_step_at": None,
                "next_check_at": None,
            }
        )
    return store


@pytest.fixture
def reports(store):
    return Reports(store, load_settings(SETTINGS_TEXT), NOW)


def rows(table):
    return [list(row) for row in table.rows]


NOVEMBER = Filters(start=date(2026, 11, 1), end=date(2026, 11, 30))


def test_compliance_by_date_counts_each_record_on_the_day_it_was_decided(reports):
    assert rows(reports.compliance(NOVEMBER)) == [
        # the met first reply; Berlin is UTC+1, so 23:30 UTC on the 2nd is the 3rd there
        ["2026-11-02", 1, 30 * M, 30 * M, 30 * M, 0, None, None, None, Decimal("100.00")],
        [
            "2026-11-03",
            1,
            10 * M,
            10 * M,
            10 * M,
            1,
            26 * H + 30 * M,
            26 * H + 30 * M,
            26 * H + 30 * M,
            Decimal("50.00"),
        ],
        # still running but past its due time: failed on the day it became due
        ["2026-11-05", 0, None, None, None, 1, 2 * H, 2 * H, 2 * H, Decimal("0.00")],
    ]


def test_compliance_by_month_and_week_and_the_month_boundary(reports):
    # the record stopped at 23:30 UTC on Nov 30 is Dec 1 in Berlin: not in November
    assert rows(reports.compliance(NOVEMBER, "month")) == [
        ["2026-11", 2, 20 * M, 30 * M, 10 * M, 2, 14 * H + 15 * M, 26 * H + 30 * M, 2 * H, Decimal("50.00")]
    ]
    december = Filters(start=date(2026, 12, 1), end=date(2026, 12, 31))
    assert [r[:2] for r in rows(reports.compliance(december, "month"))] == [["2026-12", 1]]
    assert [r[0] for r in rows(reports.compliance(NOVEMBER, "week"))] == ["2026-W45"]


@pytest.mark.parametrize(
    "group, expected",
    [
        ("department", [["Sales", 0, 1], ["Support", 2, 1]]),
        ("agent", [["ann", 2, 1], ["bob", 0, 1]]),
        # a ticket of a contract is its customer's, under the contract's name
        ("customer", [["ACME Corp", 2, 1], ["Beta", 0, 1]]),
        ("metric", [["first_reply", 1, 1], ["next_reply", 1, 0], ["resolution", 0, 1]]),
        ("level", [["Standard", 2, 2]]),
    ],
)
def test_compliance_grouped_by_each_key(reports, group, expected):
    assert [[r[0], r[1], r[5]] for r in rows(reports.compliance(NOVEMBER, group))] == expected


def test_compliance_filters_and_an_empty_range(reports):
    support = Filters(start=date(2026, 11, 1), end=date(2026, 11, 30), department="Support", metric="first_reply")
    assert [r[:2] for r in rows(reports.compliance(support, "department"))] == [["Support", 1]]
    assert rows(reports.compliance(Filters(start=date(2026, 10, 1), end=date(2026, 10, 31)))) == []
    assert rows(
        reports.compliance(
            Filters(start=date(2026, 11, 1), end=date(2026, 11, 30), customer="beta.example"), "customer"
        )
    )[0][:2] == ["Beta", 0]


def test_a_record_that_changes_is_counted_once_under_its_final_state(store, reports):
    # the running first reply of ticket 2 gets its late answer: still one failure, now with a stop
    store.db.execute(
        "UPDATE sla_records SET status = 'breached', stopped_at = ?, business_us = ? "
        "WHERE ticket_id = 2 AND metric = 'first_reply'",
        [iso(u(5, 12)), 3 * 3600 * 10**6],
    )
    month = rows(reports.compliance(NOVEMBER, "month"))[0]
    assert (month[1], month[5], month[7]) == (2, 2, 26 * H + 30 * M)


def test_sla_log_rows(reports):
    table = reports.log(NOVEMBER)
    log = rows(table)
    assert [c.name for c in table.columns] == [
        "requester",
        "requester_name",
        "ticket",
        "link",
        "department",
        "agent",
        "level",
        "metric",
        "seq",
        "start",
        "due",
        "stopped",
        "remaining",
        "status",
    ]
    first = log[1]  # sorted by start: the resolution (07:30) comes first
    assert first == [
        "a@acme.example",
        None,
        "1001",
        None,
        "Support",
        "ann",
        "Standard",
        "first_reply",
        1,
        "2026-11-02T09:00:00+01:00",
        "2026-11-02T10:00:00+01:00",
        "2026-11-02T09:30:00+01:00",
        30 * M,
        "met",
    ]
    assert log[0][-2:] == [-(10 * H + 30 * M), "breached"]
    running = next(r for r in log if r[2] == "1002" and r[7] == "first_reply")
    assert running[-2:] == [-(14 * H), "running"]  # overdue since 10:00 UTC on the 5th, on a 24/7 calendar
    assert len(log) == 7
    assert [r[7] for r in rows(reports.log(NOVEMBER, ["metric", "start"], descending=True))][:2] == [
        "resolution",
        "next_reply",
    ]
    assert len(rows(reports.log(Filters(start=date(2026, 11, 1), end=date(2026, 11, 30), status="met")))) == 3


def test_credits_tiers_per_breach_and_caps(reports):
    assert rows(reports.credits("2026-11")) == [
        # ACME: 2 met, 1 failed -> 66.67 % is below 95 %: 10 % of 2500.00
        ["ACME Corp", "2026-11", 3, 2, 1, Decimal("66.67"), Decimal("10"), Decimal("250.00"), "EUR"],
        # Beta: one breach at 7 % each, capped at 5 %: 5 % of 999.99 = 49.9995 -> 50.00
        ["Beta", "2026-11", 1, 0, 1, Decimal("0.00"), Decimal("5"), Decimal("50.00"), "EUR"],
    ]
    assert rows(reports.credits("2026-10", "ACME Corp")) == [
        ["ACME Corp", "2026-10", 0, 0, 0, None, Decimal("0"), Decimal("0.00"), "EUR"]
    ]
    with pytest.raises(
        ValueError, match="--customer 'Nobody' is not a known customer \\(known: 'ACME Corp', 'Beta'\\)"
    ):
        reports.credits("2026-11", "Nobody")


def test_breach_statement(reports):
    assert rows(reports.breaches("2026-11", "ACME Corp")) == [
        [
            "1001",
            "a@acme.example",
            "Printer on fire",
            "Standard",
            "resolution",
            1,
            "2026-11-02T08:30:00+01:00",
            "2026-11-03T00:30:00+01:00",
            "2026-11-03T11:00:00+01:00",
            10 * H + 30 * M,
        ]
    ]


def test_due_queue(reports):
    queue = rows(reports.due(Filters()))
    assert [(r[0], r[5], r[7]) for r in queue] == [
        ("1002", "first_reply", -14 * H),
        ("1002", "next_reply", 4 * 24 * H + 12 * H),
    ]
    assert len(rows(reports.due(Filters(), within=timedelta(days=1)))) == 1


def test_csv_durations_formula_injection_and_json(reports):
    out = io.StringIO()
    write(reports.breaches("2026-11", "Beta"), "csv", out)
    [header, row] = list(csv.reader(io.StringIO(out.getvalue())))
    assert header[-2:] == ["overdue_seconds", "overdue"]
    assert row[2] == "'=cmd|' /C calc'!A0"  # neutralized: a spreadsheet shows it, never runs it
    assert row[-2:] == ["50400", "14:00:00"]
    out = io.StringIO()
    write(reports.credits("2026-11"), "json", out)
    assert json.loads(out.getvalue())[0]["credit"] == "250.00"


def test_report_command_and_scheduled_export(store, tmp_path, write_config, capsys):
    path = write_config(
        SETTINGS_TEXT.replace("[connector]", f'[connector]\ndatabase = "{store.path}"')
        + f'\n[reports]\nexport_dir = "{tmp_path / "exports"}"\n'
    )
    assert main(["--config", str(path), "report", "credits", "--month", "2026-11", "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "customer,month,records,met,failed,compliance,credit_percent,credit,currency"
    assert out[1] == "ACME Corp,2026-11,3,2,1,66.67,10,250.00,EUR"
    target = tmp_path / "out" / "log.csv"
    assert (
        main(
            [
                "--config",
                str(path),
                "report",
                "log",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-30",
                "--output",
                str(target),
            ]
        )
        == 0
    )
    assert len(target.read_text().splitlines()) == 8
    with pytest.raises(SystemExit) as refused:
        main(
            [
                "--config",
                str(path),
                "report",
                "compliance",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-30",
                "--group-by",
                "nope",
            ]
        )
    assert refused.value.code == 2
    from connector.config.settings import load_config

    written = export_reports(load_config(path), store, datetime(2026, 11, 20, 7, tzinfo=UTC))
    assert [p.name for p in written] == ["compliance-2026-11-20.csv", "log-2026-11-20.csv", "credits-2026-11-20.csv"]
    assert not [p for p in (tmp_path / "exports").iterdir() if p.name.startswith(".")]


def test_csv_reads_back_as_the_cells_written_for_any_cell():
    # lines without a comma, quote or line break are joined directly; all others are quoted
    from connector.reports.queries import Column, Table

    cells = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "\rCR dept", "", None, "=1+2", "-3", "@x", "\tt"]
    cells += ["ünï", " pad ", "|pipe", "\nlead", "\uff1dSUM(A1)", "\uff0b1", "\uff0d1", "\uff20x", "a\r\nb"]
    rows = [[a, b, 7, Decimal("1.50"), timedelta(seconds=-61)] for a in cells for b in cells]
    table = Table([Column("a"), Column("b"), Column("n", "int"), Column("m", "money"), Column("d", "duration")], rows)
    out = io.StringIO()
    assert write(table, "csv", out) == len(rows)
    read = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert read[0] == ["a", "b", "n", "m", "d_seconds", "d"]
    assert len(read) == len(rows) + 1  # no value split its row
    guarded = tuple("=+-@\t\r\n|\uff1d\uff0b\uff0d\uff20")
    for (a, b, *_), line in zip(rows, read[1:]):
        safe = ["" if v is None else "'" + v if v.startswith(guarded) else v for v in (a, b)]
        assert line == [*safe, "7", "1.50", "-61", "-0:01:01"]


@pytest.mark.parametrize(
    "zone, stored, local",
    [
        (
            "Europe/Berlin",
            "2026-03-29T00:59:59.999999+00:00",
            "2026-03-29T01:59:59+01:00",
        ),  # the last second of winter time
        ("Europe/Berlin", "2026-03-29T01:00:00+00:00", "2026-03-29T03:00:00+02:00"),
        ("Europe/Berlin", "2026-10-25T00:30:00+00:00", "2026-10-25T02:30:00+02:00"),  # 02:30 twice: first
        ("Europe/Berlin", "2026-10-25T01:30:00+00:00", "2026-10-25T02:30:00+01:00"),  # and second
        ("Europe/Berlin", "2026-12-31T23:15:00+00:00", "2027-01-01T00:15:00+01:00"),  # a new year, locally
        ("Asia/Kolkata", "2026-06-01T18:45:10+00:00", "2026-06-02T00:15:10+05:30"),  # a half-hour offset
        ("Australia/Lord_Howe", "2026-04-04T14:45:00+00:00", "2026-04-05T01:45:00+11:00"),  # a half-hour DST change
        ("America/St_Johns", "2026-11-25T12:00:00+00:00", "2026-11-25T08:30:00-03:30"),
        ("UTC", "1999-12-31T23:59:59+00:00", "1999-12-31T23:59:59+00:00"),
    ],
)
def test_local_times_are_exact_across_offset_changes(zone, stored, local):
    from zoneinfo import ZoneInfo

    from connector.core.local_times import local_times

    convert = local_times(ZoneInfo(zone))
    assert convert(stored) == local
    assert convert(stored) == local  # the second time from the memo of its hour
    assert convert(None) is None
