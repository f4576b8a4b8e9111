"""Tickets, messages, SLA records and events in the store.

Public API: `TicketStore(store)` with `upsert`, `load_many`, `records`, `save_records`,
`add_events`, `due_tickets`, `open_ticket_ids`, `counts`. Callers group calls into transactions
(`Store.atomic()`); nothing here commits on its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from connector.core.clocks import SlaRecord
from connector.core.escalation import Event
from connector.core.model import Message, Ticket
from connector.store.codec import (
    MESSAGE_COLUMNS,
    RECORD_COLUMNS,
    iso,
    message_from_row,
    message_to_row,
    record_from_row,
    record_to_row,
    ticket_from_json,
    ticket_to_json,
)
from connector.store.database import Store

# SQLite takes at most 32,766 parameters per statement (fewer in old builds); a ticket with a long
# history can have more events than that
_KEYS_PER_QUERY = 500


class TicketStore:
    def __init__(self, store: Store):
        self.db = store.db
        self._statements: dict[tuple[str, tuple[str, ...]], str] = {}

    def upsert(self, ticket: Ticket, messages: Sequence[Message]) -> int:
        """Store a full snapshot (the ticket and all its messages); return the ticket's id."""
        row = {
            "source": ticket.source,
            "external_id": ticket.external_id,
            "number": ticket.number,
            "title": ticket.title,
            "channel": ticket.channel.value,
            "status": ticket.status.value,
            "raw_status": ticket.raw_status,
            "priority_rank": ticket.priority.rank if ticket.priority else None,
            "priority_name": ticket.priority.raw_name if ticket.priority else None,
            "department": ticket.department,
            "assignee": ticket.assignee,
            "requester_name": ticket.requester.name if ticket.requester else None,
            "requester_email": ticket.requester.email if ticket.requester else None,
            "organization": ticket.organization,
            "tags": json.dumps(sorted(ticket.tags)),
            "custom": json.dumps(dict(ticket.custom), default=str),
            "referrer_url": ticket.referrer_url,
            "web_url": ticket.web_url,
            "created_at": iso(ticket.created_at),
            "updated_at": iso(ticket.updated_at),
            "closed_at": iso(ticket.closed_at),
            "deleted": int(ticket.deleted),
            "snapshot": ticket_to_json(ticket),
        }
        self._upsert("tickets", ("source", "external_id"), [row])
        ticket_id = self.ticket_id(ticket.source, ticket.external_id)
        self.db.execute("DELETE FROM messages WHERE ticket_id = ?", [ticket_id])
        self._upsert("messages", ("ticket_id", "external_id"), [message_to_row(ticket_id, m) for m in messages])
        return ticket_id

    def load_many(
        self, ticket_ids: Sequence[int], records: bool = True
    ) -> Iterator[tuple[int, Ticket, list[Message], list[SlaRecord]]]:
        """Stored tickets with their messages and records (none read with `records=False`), in the
        order asked. Read a chunk of tickets at a time with three queries, not three per ticket: a
        config change reloads every open ticket. Each chunk is read in full before it is handed
        out, so callers may write between tickets."""
        for i in range(0, len(ticket_ids), _KEYS_PER_QUERY):
            chunk = list(ticket_ids[i : i + _KEYS_PER_QUERY])
            marks = ", ".join("?" for _ in chunk)
            snapshots = dict(self.db.conn.execute(f"SELECT id, snapshot FROM tickets WHERE id IN ({marks})", chunk))
            messages = _by_ticket(
                self.db.conn.execute(
                    f"SELECT ticket_id, {MESSAGE_COLUMNS} FROM messages WHERE ticket_id IN ({marks}) "
                    "ORDER BY ticket_id, at, external_id",
                    chunk,
                )
            )
            stored = (
                _by_ticket(
                    self.db.conn.execute(
                        f"SELECT ticket_id, {RECORD_COLUMNS} FROM sla_records WHERE ticket_id IN ({marks}) "
                        "ORDER BY ticket_id, metric, seq",
                        chunk,
                    )
                )
                if records
                else {}
            )
            for ticket_id in chunk:
                ticket = ticket_from_json(snapshots[ticket_id])
                key = ticket.key
                yield (
                    ticket_id,
                    ticket,
                    [message_from_row(row) for row in messages.get(ticket_id, ())],
                    [record_from_row(key, row) for row in stored.get(ticket_id, ())],
                )

    def records(self, ticket_id: int, ticket_key: str) -> list[SlaRecord]:
        rows = self.db.conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM sla_records WHERE ticket_id = ? ORDER BY metric, seq", [ticket_id]
        )
        return [record_from_row(ticket_key, row) for row in rows]

    def _upsert(self, table: str, key: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
        """Insert rows, or update those whose key is stored: one prepared statement for all of them.
        (sqlite-utils' `upsert_all` inspects the table's columns on every call; this runs for every
        ticket of every sync.)"""
        if not rows:
            return
        columns = list(rows[0])
        sql = self._statements.get((table, tuple(columns)))
        if sql is None:
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
            sql = self._statements[table, tuple(columns)] = (
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
                f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
            )
        self.db.conn.executemany(sql, [[row[c] for c in columns] for row in rows])

    def save_records(self, ticket_id: int, old: Iterable[SlaRecord], new: Iterable[SlaRecord], now: datetime) -> int:
        """Replace the ticket's records; return how many were added or changed."""
        before = {r.ident: r for r in old}
        changed = [r for r in new if before.get(r.ident) != r]
        kept = {r.ident for r in new}
        gone = [ident for ident in before if ident not in kept]
        for metric, seq in gone:
            self.db.execute(
                "DELETE FROM sla_records WHERE ticket_id = ? AND metric = ? AND seq = ?", [ticket_id, metric, seq]
            )
        self._upsert(
            "sla_records",
            ("ticket_id", "metric", "seq"),
            [{**record_to_row(ticket_id, r), "updated_at": iso(now)} for r in changed],
        )
        return len(changed) + len(gone)

    def add_events(self, ticket_id: int, events: Iterable[Event], now: datetime) -> list[Event]:
        """Record events; return those not seen before (a key is recorded once, ever)."""
        events = list(events)
        if not events:
            return []
        keys = [event.key for event in events]
        seen = set()
        for i in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[i : i + _KEYS_PER_QUERY]
            seen.update(
                key
                for (key,) in self.db.conn.execute(
                    f"SELECT key FROM sla_events WHERE key IN ({', '.join('?' for _ in chunk)})", chunk
                )
            )
        fresh = []
        for event in events:
            if event.key not in seen:
                seen.add(event.key)
                fresh.append(event)
        recorded = iso(now)
        self.db.conn.executemany(
            "INSERT INTO sla_events (key, ticket_id, metric, seq, kind, at, recorded_at, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    event.key,
                    ticket_id,
                    event.metric,
                    event.seq,
                    event.kind,
                    iso(event.at),
                    recorded,
                    json.dumps(
                        {
                            "level": event.record.level,
                            "due": iso(event.record.due),
                            "status": event.record.status.value,
                            **event.detail,
                        }
                    ),
                ]
                for event in fresh
            ],
        )
        return fresh

    def due_tickets(self, source: str, now: datetime, exclude: set[int] = frozenset()) -> list[int]:
        """Tickets with a record whose next step or due time has passed (uses the index)."""
        rows = self.db.execute(
            "SELECT DISTINCT r.ticket_id FROM sla_records r JOIN tickets t ON t.id = r.ticket_id "
            "WHERE r.next_check_at <= ? AND t.source = ? ORDER BY r.ticket_id",
            [iso(now), source],
        ).fetchall()
        return [row[0] for row in rows if row[0] not in exclude]

    def open_ticket_ids(self, source: str) -> list[int]:
        """Tickets that are not solved, closed or deleted (with or without records: a level added
        to the configuration gives them clocks), and tickets with a running or paused record or a
        breached one still waiting for its stop."""
        rows = self.db.execute(
            "SELECT id FROM tickets WHERE source = ? AND (status NOT IN ('solved', 'closed') AND NOT deleted "
            " OR id IN (SELECT ticket_id FROM sla_records WHERE stopped_at IS NULL"
            "           AND status IN ('running', 'paused', 'breached'))) "
            "ORDER BY id",
            [source],
        ).fetchall()
        return [row[0] for row in rows]

    def ticket_id(self, source: str, external_id: str) -> int | None:
        found = self.db.execute(
            "SELECT id FROM tickets WHERE source = ? AND external_id = ?", [source, external_id]
        ).fetchone()
        return found[0] if found else None

    def counts(self, source: str) -> dict[str, int]:
        """Open records, running records past a warning step, and open breaches of one source."""
        row = self.db.execute(
            "SELECT "
            " SUM(r.status IN ('running', 'paused')),"
            " SUM(r.status = 'running' AND r.steps_fired != '[]'),"
            " SUM(r.status = 'breached' AND r.stopped_at IS NULL) "
            "FROM sla_records r JOIN tickets t ON t.id = r.ticket_id WHERE t.source = ?",
            [source],
        ).fetchone()
        return {"open": row[0] or 0, "warned": row[1] or 0, "breached": row[2] or 0}


def _by_ticket(rows: Iterable[tuple]) -> dict[int, list[tuple]]:
    """Rows whose first column is a ticket id, grouped by it (without it), in their order."""
    grouped: dict[int, list[tuple]] = {}
    for row in rows:
        found = grouped.get(row[0])
        if found is None:
            grouped[row[0]] = found = []
        found.append(row[1:])
    return grouped
