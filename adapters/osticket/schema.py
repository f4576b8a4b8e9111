"""What the connector needs of osTicket's schema and of its database account, checked up front so
that a missing table, column or privilege is named before a sync fails on it.

Public API: `NEEDED`, `WRITES`, `KNOWN_SIGNATURES`, `detect_prefix(db)`, `Lookups.load(db, prefix)`,
`missing_columns(db, prefix)`, `missing_privileges(db, prefix)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from connector.core.errors import PermanentSourceError

# the core schema signatures whose tables these reads and writes were verified against
KNOWN_SIGNATURES = {"5fb92bef17f3b603659e024c01cc7a59": "1.18.1"}

# table (without prefix) -> the columns read or written
NEEDED: dict[str, tuple[str, ...]] = {
    "config": ("namespace", "key", "value"),
    "ticket": ("ticket_id", "number", "user_id", "status_id", "dept_id", "sla_id", "topic_id", "staff_id",
               "team_id", "source", "isoverdue", "isanswered", "duedate", "est_duedate", "closed",
               "lastupdate", "created", "updated"),
    "ticket_status": ("id", "name", "state"),
    "ticket_priority": ("priority_id", "priority", "priority_desc", "priority_urgency"),
    "form": ("id", "type"),
    "form_field": ("id", "form_id", "name"),
    "form_entry": ("id", "form_id", "object_id", "object_type"),
    "form_entry_values": ("entry_id", "field_id", "value", "value_id"),
    "department": ("id", "pid", "name"),
    "staff": ("staff_id", "firstname", "lastname", "email"),
    "team": ("team_id", "name"),
    "user": ("id", "org_id", "default_email_id", "name"),
    "user_email": ("id", "address"),
    "organization": ("id", "name"),
    "help_topic": ("topic_id", "topic_pid", "topic"),
    "sla": ("id", "name", "grace_period"),
    "thread": ("id", "object_id", "object_type"),
    "thread_entry": ("id", "thread_id", "staff_id", "user_id", "type", "flags", "poster", "source", "title",
                     "body", "format", "created", "updated"),
    "thread_event": ("id", "thread_id", "thread_type", "event_id", "staff_id", "team_id", "dept_id", "topic_id",
                     "data", "username", "uid", "uid_type", "annulled", "timestamp"),
    "event": ("id", "name"),
}  # fmt: skip
# osTicket rebuilds this copy at times; reads fall back to the form values while it is missing
OPTIONAL = {"ticket__cdata": ("ticket_id", "priority"), "_search": ("object_type", "object_id", "title", "content")}

# the writes and the privileges they need: (privilege, table, column or None)
WRITES: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "raise_priority": (
        ("UPDATE", "ticket", "lastupdate"), ("UPDATE", "ticket", "updated"),
        ("INSERT", "form_entry_values", None), ("UPDATE", "form_entry_values", None),
        ("INSERT", "ticket__cdata", None), ("UPDATE", "ticket__cdata", None),
        ("INSERT", "thread_event", None),
    ),
    "add_note": (("INSERT", "thread_entry", None), ("INSERT", "_search", None), ("DELETE", "_search", None)),
}  # fmt: skip


def detect_prefix(db) -> str:
    """The prefix whose `<prefix>config` table carries osTicket's schema signature."""
    rows = db.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE %s",
        ("%config",),
    )
    found = []
    for (name,) in rows:
        prefix = name[: -len("config")]
        if not re.fullmatch(r"[A-Za-z0-9_]*_", prefix):
            continue
        if db.one(f"SELECT 1 FROM `{name}` WHERE namespace = 'core' AND `key` = 'schema_signature'"):
            found.append(prefix)
    if len(found) != 1:
        where = f"several ({', '.join(found)})" if found else "none"
        raise PermanentSourceError(f"{db.where}: cannot tell osTicket's table prefix: {where} found; set table_prefix")
    return found[0]


def columns(db) -> dict[str, set[str]]:
    by_table: dict[str, set[str]] = {}
    for table, column in db.query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = DATABASE()"
    ):
        by_table.setdefault(table, set()).add(column)
    return by_table


def missing_columns(db, prefix: str) -> list[str]:
    """`table` for a missing table, `table.column` for a missing column; empty when all is there."""
    have = columns(db)
    missing = []
    for table, wanted in NEEDED.items():
        present = have.get(prefix + table)
        if present is None:
            missing.append(prefix + table)
        else:
            missing += [f"{prefix}{table}.{c}" for c in wanted if c not in present]
    return missing


def missing_privileges(db, prefix: str) -> dict[str, list[str]]:
    """Per use (`read`, or a write kind), the privileges the account lacks, as GRANT-like phrases."""
    grants = db.query(
        "SELECT privilege_type, NULL, NULL FROM information_schema.schema_privileges"
        " WHERE table_schema = DATABASE()"
        " UNION ALL SELECT privilege_type, table_name, NULL FROM information_schema.table_privileges"
        " WHERE table_schema = DATABASE()"
        " UNION ALL SELECT privilege_type, table_name, column_name FROM information_schema.column_privileges"
        " WHERE table_schema = DATABASE()"
        " UNION ALL SELECT privilege_type, '*', NULL FROM information_schema.user_privileges"
    )
    have = {(kind, table, column) for kind, table, column in grants}

    def allowed(kind: str, table: str, column: str | None) -> bool:
        return (
            (kind, None, None) in have
            or (kind, "*", None) in have
            or (kind, prefix + table, None) in have
            or (column is not None and (kind, prefix + table, column) in have)
        )

    result: dict[str, list[str]] = {}
    reads = [f"SELECT on {prefix}{t}" for t in NEEDED if not allowed("SELECT", t, None)]
    if reads:
        result["read"] = reads
    for kind, needs in WRITES.items():
        lacking = [
            f"{privilege}{f' ({column})' if column else ''} on {prefix}{table}"
            for privilege, table, column in needs
            if not allowed(privilege, table, column)
        ]
        if lacking:
            result[kind] = lacking
    return result


@dataclass
class Lookups:
    """The small tables, read once per pull: names by id, the ticket form's field ids, event ids."""

    prefix: str
    form_id: int = 0
    fields: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (name, state)
    priorities: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # id -> (key, desc, urgency)
    departments: dict[int, str] = field(default_factory=dict)  # full names, "Support / Hardware"
    topics: dict[int, str] = field(default_factory=dict)
    slas: dict[int, tuple[str, int]] = field(default_factory=dict)
    staff: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # id -> (name, email)
    teams: dict[int, str] = field(default_factory=dict)
    organizations: dict[int, str] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    has_cdata: bool = True
    has_search: bool = True

    @classmethod
    def load(cls, db, prefix: str) -> Lookups:
        p = prefix
        found = cls(prefix)
        row = db.one(f"SELECT id FROM `{p}form` WHERE type = 'T' ORDER BY id LIMIT 1")
        if row is None:
            raise PermanentSourceError(f"{db.where}: osTicket has no Ticket Details form ({p}form type 'T')")
        found.form_id = row[0]
        found.fields = dict(
            (name, ident)
            for ident, name in db.query(
                f"SELECT id, name FROM `{p}form_field` WHERE form_id = %s", (found.form_id,)
            )  # fmt: skip
        )
        found.events = {name: ident for ident, name in db.query(f"SELECT id, name FROM `{p}event`")}
        found.statuses = {i: (n, s) for i, n, s in db.query(f"SELECT id, name, state FROM `{p}ticket_status`")}
        found.priorities = {
            i: (k, d, u)
            for i, k, d, u in db.query(
                f"SELECT priority_id, priority, priority_desc, priority_urgency FROM `{p}ticket_priority`"
            )
        }
        departments = {i: (pid, n) for i, pid, n in db.query(f"SELECT id, pid, name FROM `{p}department`")}
        found.departments = {i: _full_name(i, departments) for i in departments}
        topics = {i: (pid, n) for i, pid, n in db.query(f"SELECT topic_id, topic_pid, topic FROM `{p}help_topic`")}
        found.topics = {i: _full_name(i, topics) for i in topics}
        found.slas = {i: (n, g) for i, n, g in db.query(f"SELECT id, name, grace_period FROM `{p}sla`")}
        found.staff = {
            i: (" ".join(x for x in (f, last) if x) or f"agent {i}", e)
            for i, f, last, e in db.query(f"SELECT staff_id, firstname, lastname, email FROM `{p}staff`")
        }
        found.teams = {i: n for i, n in db.query(f"SELECT team_id, name FROM `{p}team`")}
        found.organizations = {i: n for i, n in db.query(f"SELECT id, name FROM `{p}organization`")}
        found.config = {k: v for k, v in db.query(f"SELECT `key`, value FROM `{p}config` WHERE namespace = 'core'")}
        tables = {
            name
            for (name,) in db.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
                " AND table_name IN (%s, %s)",
                (f"{p}ticket__cdata", f"{p}_search"),
            )
        }
        found.has_cdata = f"{p}ticket__cdata" in tables
        found.has_search = f"{p}_search" in tables
        return found


def _full_name(ident: int, rows: dict[int, tuple[int | None, str]]) -> str:
    """ "Parent / Child" as osTicket shows sub-departments and sub-topics; a loop ends the walk."""
    names, seen = [], set()
    while ident in rows and ident not in seen:
        seen.add(ident)
        parent, name = rows[ident]
        names.append(name)
        ident = parent or 0
    return " / ".join(reversed(names))
