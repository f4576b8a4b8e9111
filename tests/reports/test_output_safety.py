"""CSV that reads back row for row and runs no formula; a table that sends no control character
to the terminal and fits its width; NULL and empty labels as one group."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from connector.cli.main import main
from connector.reports.output import terminal_safe, write
from connector.reports.queries import Column, Filters, Reports, Table
from connector.store.database import Store
from tests.reports.report_store import add_outcomes, add_record, add_ticket
from tests.support.engine_helpers import CALENDARS, load_settings

NOW = datetime(2026, 12, 5, tzinfo=UTC)
NOVEMBER = Filters(start=date(2026, 11, 1), end=date(2026, 11, 30))
CONFIG = (
    CALENDARS
    + """
[[levels]]
name = "Standard"
calendar = "always"
first_reply = "1h"
"""
)


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path / "sla.db")
    departments = ["\rCR dept", "=cmd|' /C calc'!A0", None, "", "Support", "|pipe", "\uff1dSUM(A1)"]
    for ident, department in enumerate(departments, start=1):
        add_ticket(
            store,
            ident,
            department=department,
            assignee="ann\nsmith",
            requester_email=f"u{ident}@x.example",
            title="\x1b[2J\x1b[Hwiped\r\nscreen 界界界 " + "long " * 30,
        )
        add_outcomes(store, ident, met=2, failed=1)
    return store


@pytest.fixture
def reports(store):
    return Reports(store, load_settings(CONFIG), NOW)


def read_csv(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def test_the_log_reads_back_with_as_many_rows_as_written(reports):
    out = io.StringIO()
    written = write(reports.log(NOVEMBER), "csv", out)
    rows = read_csv(out.getvalue())
    assert written == 21 and len(rows) == 22
    records = [dict(zip(rows[0], row)) for row in rows[1:]]
    assert "'\rCR dept" in {r["department"] for r in records}
    assert {r["agent"] for r in records} == {"ann\nsmith"}


def test_group_labels_pass_the_formula_guard_and_empty_ones_are_one_group(reports):
    out = io.StringIO()
    write(reports.compliance(NOVEMBER, "department"), "csv", out)
    rows = read_csv(out.getvalue())
    labels = [row[0] for row in rows[1:]]
    assert labels == ["(none)", "'\rCR dept", "'=cmd|' /C calc'!A0", "Support", "'|pipe", "'\uff1dSUM(A1)"]
    none = dict(zip(rows[0], rows[1]))
    assert (none["met"], none["failed"]) == ("4", "2")  # NULL and '' together: two tickets of 2 met and 1 failed


def test_excel_csv_has_a_bom_and_crlf(reports):
    out = io.StringIO()
    table = Table([Column("name"), Column("n", "int")], [["Zoë", 1], ["two\nlines", 2]])
    write(table, "csv", out, excel=True)
    text = out.getvalue()
    assert text.startswith("\ufeffname,n\r\n") and text.endswith('"two\nlines",2\r\n')
    assert read_csv(text[1:]) == [["name", "n"], ["Zoë", "1"], ["two\nlines", "2"]]


def test_excel_from_the_command_line_and_from_the_config(store, tmp_path, write_config):
    target = tmp_path / "out.csv"
    base = f'[connector]\ndatabase = "{store.path}"\n' + CONFIG
    argv = ["report", "compliance", "--from", "2026-11-01", "--to", "2026-11-30", "--output", str(target)]
    path = write_config(base)
    assert main(["--config", str(path), *argv]) == 0
    assert not target.read_bytes().startswith(b"\xef\xbb\xbf")
    assert main(["--config", str(path), *argv, "--excel"]) == 0
    assert target.read_bytes().startswith(b"\xef\xbb\xbfdate,met") and b"\r\n" in target.read_bytes()
    path = write_config(base + "\n[reports]\ncsv_bom = true\n")
    assert main(["--config", str(path), *argv]) == 0
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")


def test_control_characters_never_reach_the_terminal():
    assert terminal_safe("a\nb\rc\x1b[31md\te\x00\x7f") == "a\\nb\\rc^[[31md e^@^?"


def test_the_table_prints_one_line_per_row_within_the_width(store, reports):
    for ticket in range(1, 8):
        add_record(store, ticket, 9, "running", NOW, NOW + timedelta(hours=1), None, timedelta(0))
    out = io.StringIO()
    written = write(reports.due(Filters()), "table", out, width=160)
    lines = out.getvalue().splitlines()
    assert written == 7 and len(lines) == 2 + 7
    assert not any(c in out.getvalue() for c in "\x1b\r")
    from wcwidth import wcswidth

    assert max(wcswidth(line) for line in lines) == 160
    assert "\u2026" in lines[2] and "^[[2J^[[Hwiped\\r\\nscreen 界界界 long long \u2026" in lines[2]


def test_wide_characters_are_aligned_by_display_width():
    out = io.StringIO()
    write(Table([Column("t"), Column("n", "int")], [["界界", 1], ["ab", 22]]), "table", out)
    lines = out.getvalue().splitlines()
    assert lines[2:] == ["界界   1", "ab    22"]


@pytest.mark.parametrize(
    "groups",
    [
        ["department"],
        ["agent"],
        ["customer"],
        ["channel"],
        ["priority"],
        ["level"],
        ["metric"],
        ["department", "metric"],
    ],
)
def test_grouping_through_the_ticket_map_gives_what_the_join_gives(store, reports, groups):
    add_ticket(store, 20, department="Support", channel="chat", priority_name="high", organization="Ärzte")
    add_outcomes(store, 20, met=3, failed=2, day=12)
    for filters in (NOVEMBER, Filters(start=date(2026, 11, 11), end=date(2026, 11, 30), department="Support")):
        mapped = reports._compliance_by_key_mapped(filters, groups)
        assert mapped == reports._compliance_by_key_joined(filters, groups)
        assert mapped  # something to compare
