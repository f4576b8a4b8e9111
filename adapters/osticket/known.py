"""The tickets this source has handed over, kept beside the store (`<state_dir>`), each as its last
snapshot: osTicket deletes a ticket's rows outright, so a deletion shows only as an id that is no
longer there, and the ticket it was can then only be told from here.

A ticket found gone is handed over as deleted with the cursor of that pull, and forgotten once a
later pull starts from that cursor or beyond (the store has committed it by then).

Public API: `KnownTickets(path)` with `remember(snapshots)`, `alive()`, `highest()`, `gone(ids,
cursor)`, `remark(cursor)`, `pending()`, `confirm(since)`; `encode(row, zone)`,
`decode(text, reader)`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from adapters.osticket.read import Reader, Times
from connector.core.model import Channel, Message, Person, Priority, Role, Status, StatusChange, Ticket


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def encode(row, zone: str | None) -> str:
    """A snapshot as the row it was read from, with the zone its times are in (None: Unix seconds)."""
    return json.dumps([zone, row], separators=(",", ":"))


def decode(text: str, reader: Reader) -> tuple[Ticket, tuple[Message, ...]]:
    data = json.loads(text)
    if isinstance(data, list):
        zone, row = data
        return reader.from_row(row, Times(zone))
    # a snapshot kept by an earlier version: the mapped ticket and its messages
    (source, ident, created, updated, status, raw_status, number, title, channel, department, assignee,
     organization, web_url, closed) = data["t"]  # fmt: skip
    ticket = Ticket(
        source=source, external_id=ident, created_at=_parse(created), updated_at=_parse(updated),
        status=Status(status), raw_status=raw_status, number=number, title=title, channel=Channel(channel),
        status_history=tuple(StatusChange(_parse(a), Status(s), raw) for a, s, raw in data["h"]),
        priority=Priority(*data["p"]) if data["p"] else None, department=department, assignee=assignee,
        requester=Person(*data["r"]) if data["r"] else None, organization=organization, custom=data["c"],
        web_url=web_url, closed_at=_parse(closed),
    )  # fmt: skip
    messages = tuple(
        Message(i, _parse(at), Role(role), public, Channel(ch) if ch else None, own=own)
        for i, at, role, public, ch, own in data["m"]
    )
    return ticket, messages


class KnownTickets:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        # a process killed mid-page keeps every committed page; only a power loss may cost the last ones,
        # which the next pull reads again
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS known (id INTEGER PRIMARY KEY, snapshot TEXT NOT NULL, gone TEXT)")
        # every pull counts the living and looks for the gone: through this index, not the snapshots
        self.db.execute("CREATE INDEX IF NOT EXISTS known_gone ON known (gone)")

    def remember(self, rows: Iterable[tuple[int, str]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO known (id, snapshot, gone) VALUES (?, ?, NULL)", rows)

    def alive(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM known WHERE gone IS NULL").fetchone()[0]

    def highest(self) -> int:
        return self.db.execute("SELECT COALESCE(MAX(id), 0) FROM known WHERE gone IS NULL").fetchone()[0]

    def gone(self, existing: set[int], cursor: str) -> None:
        """Mark the known tickets not in `existing` (all ids up to `highest()`) as deleted."""
        ids = [i for (i,) in self.db.execute("SELECT id FROM known WHERE gone IS NULL") if i not in existing]
        with self.db:
            self.db.executemany("UPDATE known SET gone = ? WHERE id = ?", [(cursor, i) for i in ids])

    def remark(self, cursor: str) -> None:
        """The deleted ones not yet stored are handed over again, with this pull's cursor."""
        with self.db:
            self.db.execute("UPDATE known SET gone = ? WHERE gone IS NOT NULL", (cursor,))

    def pending(self) -> list[tuple[int, str]]:
        rows = self.db.execute("SELECT id, snapshot FROM known INDEXED BY known_gone WHERE gone IS NOT NULL")
        return sorted(rows)

    def confirm(self, since: str | None) -> None:
        if since:
            with self.db:
                self.db.execute("DELETE FROM known WHERE gone IS NOT NULL AND gone <= ?", (since,))

    def close(self) -> None:
        self.db.close()
