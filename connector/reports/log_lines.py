"""The SLA log's CSV lines, written by SQLite: the export then reads one finished line a row
instead of twenty values, each converted in Python (which cost more than reading them).

Public API: `line_sql(hours, notes, whole_hours, levels)` (the SELECT expression and the joins, for
records `r`: each row is the line, or the record's rowid where Python must write it),
`hour_table_sql(name)` (the table `line_sql` reads local times from, filled with
`connector.core.local_times.utc_hours`; `whole_hours` when all its offsets are whole hours),
`notes_sql(name)` (the records with a stop note, from two small indexes).

A line holds the row's cells as `connector.reports.output` writes them, formula guard and
quotes included, joined by commas, without its end (LF, or CRLF for Excel). The cells that come
from the ticket are the store's ticket cells (`connector.store.ticket_cells`), finished when
the ticket was written; of the record's own, only the level's name may need a guard or quotes,
and the rest are numbers, times and the engine's own words. A test compares the result with
the Python writer's on every kind of value. SQLite leaves to Python, by answering the rowid: a
running record's remaining time (business time from now, which needs its calendar), a
corrected stop, a time whose hour is not in the hour table (an hour with a change of offset, or
outside the range the table was built for), a ticket without its cells (or whose cells SQL
cannot write).
"""

from __future__ import annotations

from collections.abc import Iterable

from connector.core.cells import FORMULA_START, NEEDS_QUOTES
from connector.store.database import CORRECTED_EVENT, ESTIMATED_STOP_EVENT
from connector.store.ticket_cells import TABLE, cell

_LEFT = "(r.target_us - r.business_us)"
_REMAINING_S = f"({_LEFT} / 1000000)"  # integer division truncates, as int() does
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


def line_sql(hours: str, notes: str | None, whole_hours: bool, levels: Iterable[str]) -> tuple[str, str]:
    """(the SELECT expression: the line, or the record's rowid where Python must write it; the
    joins of the ticket cells, of the hour table and of the `notes` table if there are notes).
    `levels`: the names of the configured levels, most records' (the others' are checked each)."""
    plain = [name for name in levels if name[:1] not in FORMULA_START and not any(c in name for c in NEEDS_QUOTES)]
    listed = ", ".join("'" + name.replace("'", "''") + "'" for name in plain)
    # a name known to be a cell as it is costs one look-up in the list, not a guard and a quote test
    level = f"CASE WHEN r.level IN ({listed}) THEN r.level ELSE {cell('r.level')} END" if plain else cell("r.level")
    before = [
        "c.head",
        level,
        "r.metric",
        "r.seq",
        *(part for column, hour in _TIMES for part in _local(column, hour, whole_hours)),
    ]
    after = ["r.status", "CASE WHEN n.note = 1 THEN 'estimated' END" if notes else "NULL", "c.title"]
    lead = ",".join(["%s"] * 4 + ["%s%s%s"] * 3)  # the cells before the remaining time
    trail = ",".join(["%s"] * len(after))

    def line(remaining: str, values: list[str]) -> str:
        return f"printf('{lead},{remaining},{trail}', {', '.join([*before, *values, *after])})"

    # the remaining time's two cells (seconds, H:MM:SS) are in the line's own printf, a branch
    # per sign: a printf of their own cost a tenth of the export
    left, seconds = _LEFT, _REMAINING_S
    ahead = [seconds, f"{left} / 3600000000", f"{left} / 60000000 % 60", f"{seconds} % 60"]
    behind = [seconds, f"-{left} / 3600000000", f"-{left} / 60000000 % 60", f"-{seconds} % 60"]
    lines = (
        f"WHEN r.status = 'cancelled' THEN {line(',', [])} "  # both cells empty
        f"WHEN {left} >= 0 THEN {line('%d,%d:%02d:%02d', ahead)} "
        f"ELSE {line('%d,-%d:%02d:%02d', behind)}"
    )
    python = " OR ".join(
        ["c.head IS NULL"]
        + [f"{hour}.utc IS NULL" if column == "r.start_at" else f"({column} IS NOT NULL AND {hour}.utc IS NULL)"
           for column, hour in _TIMES]
        + ["(r.stopped_at IS NULL AND r.status IN ('running', 'breached'))"]
        + (["n.note >= 2"] if notes else [])
    )  # fmt: skip
    # stored times are UTC text (`connector.store.codec.iso`), which every report's range relies on
    joins = f"LEFT JOIN {TABLE} c ON c.id = r.ticket_id " + " ".join(
        f"LEFT JOIN {hours} {hour} ON {hour}.utc = substr({column}, 1, 13)" for column, hour in _TIMES
    )
    if notes:
        joins += f" LEFT JOIN {notes} n ON n.record = r.rowid"
    return f"CASE WHEN {python} THEN r.rowid {lines} END", joins
