"""The SLA log's CSV lines, rendered by SQLite: the export then reads one string a row instead
of twenty values, each converted in Python (which cost more than reading them).

Public API: `line_sql(hours, notes, whole_hours)` (the SELECT expression and the joins, for
records `r` joined with tickets `t`: each row is the line, or the record's rowid where Python
must write it), `hour_table_sql(name)` (the table `line_sql` reads local times from, filled
with `connector.core.local_times.utc_hours`; `whole_hours` when all its offsets are whole
hours), `notes_sql(name)` (the records with a stop note, from two small indexes), `SEPARATOR`,
`CELLS`.

A line holds the row's `CELLS` cells as `connector.reports.output` writes them, formula guard
included, separated by `SEPARATOR` and not yet quoted: Python finds the few lines that need
quotes (a comma, a quote, a line break in a value) a batch at a time and quotes their cells; the
rest only have their separators made commas. A test compares the result with the Python
writer's on every kind of value. SQLite leaves to Python, by answering the rowid: a running record's
remaining time (business time from now, which needs its calendar), a corrected stop, and a time
whose hour is not in the hour table (an hour with a change of offset, or outside the range the
table was built for).
"""

from __future__ import annotations

from connector.reports.cells import FORMULA_START
from connector.store.database import CORRECTED_EVENT, ESTIMATED_STOP_EVENT

SEPARATOR = "\x1f"  # the unit separator: a line whose values hold one is written by Python
CELLS = 17
_GUARD = "[-" + "".join(sorted(FORMULA_START - {"-"})) + "]*"  # a GLOB class: '-' first is literal
_REMAINING_S = "((r.target_us - r.business_us) / 1000000)"  # integer division truncates, as int() does
_NUMBER = "CASE WHEN t.number IS NULL OR t.number = '' THEN t.external_id ELSE t.number END"
_TIMES = (("r.start_at", "h1"), ("r.due_at", "h2"), ("r.stopped_at", "h3"))


def hour_table_sql(name: str) -> str:
    return (
        f"CREATE TABLE {name} (utc TEXT PRIMARY KEY, head TEXT, next_head TEXT, minutes INTEGER, suffix TEXT) "
        "WITHOUT ROWID"
    )


def notes_sql(name: str) -> list[str]:
    """Statements that make `name` hold (record, note) for every record with a stop note: 1 its
    stop was estimated, 2 corrected, 3 both."""
    events = (
        f"SELECT ticket_id, metric, seq, 2 AS note FROM sla_events WHERE {CORRECTED_EVENT} UNION ALL "
        f"SELECT ticket_id, metric, seq, 1 FROM sla_events WHERE {ESTIMATED_STOP_EVENT}"
    )
    return [
        f"CREATE TABLE {name} (record INTEGER PRIMARY KEY, note INTEGER)",
        f"INSERT INTO {name} SELECT r.rowid, max(e.note = 2) * 2 + max(e.note = 1) FROM ({events}) e "
        "JOIN sla_records r ON r.ticket_id = e.ticket_id AND r.metric = e.metric AND r.seq = e.seq GROUP BY r.rowid",
    ]


def _text(value: str) -> str:
    """A text cell with the formula guard; NULL stays NULL (printf writes it empty)."""
    return f"CASE WHEN {value} GLOB '{_GUARD}' THEN '''' || {value} ELSE {value} END"


def _local(column: str, hour: str, whole_hours: bool) -> list[str]:
    """A stored UTC time as local text with seconds (see `utc_hours`), as three printf arguments
    (all NULL, so empty, for a NULL time)."""
    if whole_hours:
        return [f"{hour}.head", f"substr({column}, 14, 6)", f"{hour}.suffix"]
    minute = f"substr({column}, 15, 2)"
    odd_head = (
        f"(CASE WHEN {minute} + {hour}.minutes < 60 THEN {hour}.head ELSE {hour}.next_head END) "
        f"|| printf(':%02d', ({minute} + {hour}.minutes) % 60)"
    )
    return [
        f"CASE WHEN {hour}.minutes = 0 THEN {hour}.head ELSE {odd_head} END",
        f"CASE WHEN {hour}.minutes = 0 THEN substr({column}, 14, 6) ELSE substr({column}, 17, 3) END",
        f"{hour}.suffix",
    ]


def line_sql(hours: str, notes: str | None, whole_hours: bool) -> tuple[str, str]:
    """(the SELECT expression: the line, or the record's rowid where Python must write it; the
    joins of the hour table and of the `notes` table, if there are notes)."""
    left = "(r.target_us - r.business_us)"
    remaining = (
        f"CASE WHEN r.status = 'cancelled' THEN '{SEPARATOR}' WHEN {left} >= 0 "
        f"THEN printf('%d{SEPARATOR}%d:%02d:%02d', {_REMAINING_S}, {left} / 3600000000, {left} / 60000000 % 60, "
        f"{_REMAINING_S} % 60) "
        f"ELSE printf('%d{SEPARATOR}-%d:%02d:%02d', {_REMAINING_S}, -{left} / 3600000000, -{left} / 60000000 % 60, "
        f"-{_REMAINING_S} % 60) END"
    )
    cells = [
        *(_text(value) for value in ("t.requester_email", "t.requester_name", _NUMBER, "t.web_url")),
        *(_text(value) for value in ("t.department", "t.assignee", "r.level")),
        "r.metric",  # the engine's own words, which need no guard
        "r.seq",
        *(part for column, hour in _TIMES for part in _local(column, hour, whole_hours)),
        remaining,
        "r.status",
        "CASE WHEN n.note = 1 THEN 'estimated' END" if notes else "NULL",
        _text("t.title"),
    ]
    layout = SEPARATOR.join(["%s"] * 9 + ["%s%s%s"] * 3 + ["%s"] * 4)
    line = f"printf('{layout}', {', '.join(cells)})"
    python = " OR ".join(
        [f"{hour}.utc IS NULL" if column == "r.start_at" else f"({column} IS NOT NULL AND {hour}.utc IS NULL)"
         for column, hour in _TIMES]
        + ["(r.stopped_at IS NULL AND r.status IN ('running', 'breached'))"]
        + (["n.note >= 2"] if notes else [])
    )  # fmt: skip
    # stored times are UTC text (`connector.store.codec.iso`), which every report's range relies on
    joins = " ".join(f"LEFT JOIN {hours} {hour} ON {hour}.utc = substr({column}, 1, 13)" for column, hour in _TIMES)
    if notes:
        joins += f" LEFT JOIN {notes} n ON n.record = r.rowid"
    return f"CASE WHEN {python} THEN r.rowid ELSE {line} END", joins
