"""The two writes, each in one transaction and each as osTicket's own code makes it (README
"osTicket"): a raised priority (the form answer, its `__cdata` copy, an `edited` thread event, the
ticket's `updated`/`lastupdate`) and an internal note (a thread entry of type N and its search row).

Both are safe to repeat: a priority at or above the wanted one is left alone (a priority is never
lowered), and a note carries its action's key in an HTML comment that is looked for first.

Public API: `raise_priority(db, lookups, ticket_id, rank, poster) -> bool`, `add_note(db, lookups,
ticket_id, key, text, poster) -> bool` (False: already there), `note_html(text, key)`, `bmp_only`.
"""

from __future__ import annotations

import html
import json
import re

from adapters.osticket.read import priority_rank
from adapters.osticket.schema import Lookups
from connector.core.errors import PermanentSourceError

TITLE = "SLA escalation"
SYSTEM_NOTE = 0x80 | 0x40  # a system entry whose HTML is balanced, as osTicket flags its own
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def bmp_only(text: str) -> str:
    """osTicket's tables are utf8mb3: a character above U+FFFF (an emoji) cannot be stored."""
    return _ASTRAL.sub("\ufffd", text)


def note_html(text: str, key: str) -> str:
    body = "<br />".join(html.escape(line) for line in bmp_only(text).splitlines() or [""])
    return f"<p>{body}</p><!-- sla-connector:{html.escape(bmp_only(key))} -->"


def _thread(db, p: str, ticket_id: int) -> int:
    row = db.one(f"SELECT id FROM `{p}thread` WHERE object_type = 'T' AND object_id = %s", (ticket_id,))
    if row is None:
        raise PermanentSourceError(f"{db.where}: ticket {ticket_id} does not exist (no thread)")
    return row[0]


def add_note(db, look: Lookups, ticket_id: int, key: str, text: str, poster: str) -> bool:
    p = look.prefix
    body = note_html(text, key)
    marker = body[body.rindex("<!--") :]
    with db.transaction():
        thread = _thread(db, p, ticket_id)
        if db.one(
            f"SELECT id FROM `{p}thread_entry` WHERE thread_id = %s AND type = 'N' AND body LIKE %s",
            (thread, "%" + marker.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")),
        ):
            return False
        db.execute(
            f"INSERT INTO `{p}thread_entry` (pid, thread_id, staff_id, user_id, type, flags, poster, editor,"
            " editor_type, source, title, body, format, ip_address, extra, recipients, created, updated)"
            " VALUES (0, %s, 0, 0, 'N', %s, %s, NULL, NULL, '', %s, %s, 'html', '', NULL, NULL, NOW(), NOW())",
            (thread, SYSTEM_NOTE, bmp_only(poster), TITLE, body),
        )
        entry = db.last_id()
        if look.has_search:
            # the row osTicket's indexer writes for an entry, so the note is found by search
            db.execute(
                f"REPLACE INTO `{p}_search` (object_type, object_id, title, content) VALUES ('H', %s, %s, %s)",
                (entry, TITLE, bmp_only(text)),
            )
    return True


def _target(look: Lookups, rank: int) -> tuple[int, str]:
    """The osTicket priority for a rank: exactly that rank, else the least urgent above it."""
    candidates = sorted(
        (priority_rank(urgency), ident, desc) for ident, (_key, desc, urgency) in look.priorities.items()
    )
    for found, ident, desc in candidates:
        if found >= rank:
            return ident, desc
    raise PermanentSourceError(f"osTicket has no priority of rank {rank} or above")


def raise_priority(db, look: Lookups, ticket_id: int, rank: int, poster: str) -> bool:
    """False when the ticket's priority is already at `rank` or above (a repeat, or an agent's)."""
    p = look.prefix
    field = look.fields.get("priority")
    if field is None:
        raise PermanentSourceError(f"{db.where}: the Ticket Details form has no priority field")
    new_id, new_desc = _target(look, rank)
    with db.transaction():
        # lock the ticket row alone: narrow grants cannot lock joined tables on MySQL 8
        if db.one(f"SELECT ticket_id FROM `{p}ticket` WHERE ticket_id = %s FOR UPDATE", (ticket_id,)) is None:
            raise PermanentSourceError(f"{db.where}: ticket {ticket_id} does not exist")
        row = db.one(
            f"SELECT t.staff_id, t.team_id, t.dept_id, t.topic_id, th.id, e.id, v.value, v.value_id"
            f" FROM `{p}ticket` t"
            f" JOIN `{p}thread` th ON th.object_type = 'T' AND th.object_id = t.ticket_id"
            f" JOIN `{p}form_entry` e ON e.object_type = 'T' AND e.object_id = t.ticket_id AND e.form_id = %s"
            f" LEFT JOIN `{p}form_entry_values` v ON v.entry_id = e.id AND v.field_id = %s"
            f" WHERE t.ticket_id = %s ORDER BY e.id LIMIT 1",
            (look.form_id, field, ticket_id),
        )
        if row is None:
            raise PermanentSourceError(f"{db.where}: ticket {ticket_id} has no thread or Ticket Details entry")
        staff, team, dept, topic, thread, entry, old_desc, old_id = row
        current = look.priorities.get(old_id)
        if current is not None and priority_rank(current[2]) >= rank:
            return False  # never lower; already raised
        db.execute(
            f"INSERT INTO `{p}form_entry_values` (entry_id, field_id, value, value_id) VALUES (%s, %s, %s, %s)"
            " ON DUPLICATE KEY UPDATE value = VALUES(value), value_id = VALUES(value_id)",
            (entry, field, new_desc, new_id),
        )
        if look.has_cdata:
            db.execute(
                f"INSERT INTO `{p}ticket__cdata` (ticket_id, priority) VALUES (%s, %s)"
                " ON DUPLICATE KEY UPDATE priority = VALUES(priority)",
                (ticket_id, str(new_id)),
            )
        old = [old_desc, old_id]
        new = [new_desc, new_id]
        data = json.dumps({"0": old, "1": new, "fields": {str(field): [old, new]}}, separators=(",", ":"))
        db.execute(
            f"INSERT INTO `{p}thread_event` (thread_id, thread_type, event_id, staff_id, team_id, dept_id, topic_id,"
            " data, username, uid, uid_type, annulled, timestamp)"
            " VALUES (%s, 'T', %s, %s, %s, %s, %s, %s, %s, NULL, 'S', 0, NOW())",
            (thread, look.events["edited"], staff, team, dept, topic, data, bmp_only(poster)),
        )
        db.execute(f"UPDATE `{p}ticket` SET lastupdate = NOW(), updated = NOW() WHERE ticket_id = %s", (ticket_id,))
    return True
