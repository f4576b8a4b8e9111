"""The SLA log's cells that come from a ticket, kept by SQLite beside the ticket as CSV text:
the export reads them with each record instead of the ticket's row, and neither guards nor
quotes them per record (`connector.reports.log_lines` puts them in a line).

A row of `TABLE` holds, for one ticket, `head` (requester, requester's name, ticket number,
link, department, agent: the log's first six cells, joined by commas; NULL where SQL cannot
write them) and `title` (its last cell), each cell as `connector.reports.output` writes it: the
formula guard, then RFC 4180 quotes where it holds a comma, a quote or a line break. Triggers on `tickets` write it in the
same statement as every insert, update or delete of a ticket, so it cannot go stale.
`ensure(db)` (at every `Store.open`) creates the table and its triggers, and rebuilds both from
the tickets when they are not this version's (the rules changed, a rebuild of the tickets table
dropped the triggers). A migration that drops or renames a column the triggers read drops the
triggers first (SQLite refuses otherwise); `ensure` runs after the migrations and makes them
anew. `current(conn)` tells a reader whether it may use the table (a read-only store may have
been written by another version): when not, the log is written by Python.

Public API: `TABLE`, `cell(value)`, `ensure(db)`, `current(conn)`.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from connector.core.cells import FORMULA_START, NEEDS_QUOTES

TABLE = "ticket_cells"
_GUARD = "[-" + "".join(sorted(FORMULA_START - {"-"})) + "]*"  # a GLOB class: '-' first is literal
_QUOTE = f"*[{NEEDS_QUOTES}]*"
# the ticket's text columns the cells are made of: a trigger rewrites the cells when one (or the
# id) changes
_TEXTS = ("number", "external_id", "requester_email", "requester_name", "web_url", "department", "assignee", "title")


def cell(value: str) -> str:
    """The SQL of a text value as its CSV cell: a `'` before a formula start, then in quotes if
    it needs them; NULL stays NULL (printf writes it empty)."""
    guarded = f"CASE WHEN {value} GLOB '{_GUARD}' THEN '''' || {value} ELSE {value} END"
    quoted = f"""'"' || replace({guarded}, '"', '""') || '"'"""
    return f"CASE WHEN {value} GLOB '{_QUOTE}' THEN {quoted} ELSE {guarded} END"


def _cells(prefix: str) -> str:
    """The head and the title of the ticket whose columns are `prefix`ed (`t.`, `new.`). The
    ticket's number is its external id when it has none."""
    number = f"CASE WHEN {prefix}number IS NULL OR {prefix}number = '' THEN {prefix}external_id ELSE {prefix}number END"
    head = [
        f"{prefix}requester_email",
        f"{prefix}requester_name",
        number,
        f"{prefix}web_url",
        f"{prefix}department",
        f"{prefix}assignee",
    ]
    layout = ",".join(["%s"] * len(head))
    # printf ends a text at a NUL and GLOB does not read a blob (only a raw write stores one):
    # such a ticket gets no head, and its lines are written by Python
    odd = " OR ".join(f"instr({prefix}{c}, char(0)) OR typeof({prefix}{c}) = 'blob'" for c in _TEXTS)
    cells = f"printf('{layout}', {', '.join(cell(value) for value in head)})"
    return f"CASE WHEN {odd} THEN NULL ELSE {cells} END, {cell(prefix + 'title')}"


def _schema() -> dict[str, str]:
    """The table's and the triggers' SQL by name, as SQLite keeps it in `sqlite_master`."""
    write = f"INSERT OR REPLACE INTO {TABLE} (id, head, title) VALUES (new.id, {_cells('new.')});"
    forget = f"DELETE FROM {TABLE} WHERE id = old.id;"
    return {
        TABLE: f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, head TEXT, title TEXT)",
        f"{TABLE}_insert": f"CREATE TRIGGER {TABLE}_insert AFTER INSERT ON tickets BEGIN {write} END",
        f"{TABLE}_update": (
            f"CREATE TRIGGER {TABLE}_update AFTER UPDATE OF {', '.join(('id', *_TEXTS))} ON tickets BEGIN {forget} {write} END"
        ),
        f"{TABLE}_delete": f"CREATE TRIGGER {TABLE}_delete AFTER DELETE ON tickets BEGIN {forget} END",
    }


_SCHEMA = _schema()


def _stored(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(
        conn.execute("SELECT name, sql FROM sqlite_master WHERE name = ? OR name GLOB ?", (TABLE, f"{TABLE}_*"))
    )


def current(conn: sqlite3.Connection) -> bool:
    """Whether the table and its triggers are this version's, so the table says what the tickets do."""
    return _stored(conn) == _SCHEMA


def ensure(db: Database) -> None:
    """Make the table and its triggers this version's, filling it from the tickets when they were not."""
    conn = db.conn
    if current(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        stored = _stored(conn)  # again, inside the write lock: another process may have done it
        if stored != _SCHEMA:
            for name in stored:
                if name != TABLE:
                    conn.execute(f"DROP TRIGGER {name}")
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
            conn.execute(_SCHEMA[TABLE])
            conn.execute(f"INSERT INTO {TABLE} (id, head, title) SELECT t.id, {_cells('t.')} FROM tickets t")
            for name, sql in _SCHEMA.items():
                if name != TABLE:
                    conn.execute(sql)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
