"""The osTicket cursor: the three watermarks, as text.

`ticket.updated` (a server time, as Unix seconds), and the highest `thread_entry.id` and
`thread_event.id` seen. Ids are handed out before a transaction commits, so an entry with a
smaller id can appear after a larger one was read: each id watermark is kept for two pulls and
the older one is used, so one poll interval of late commits is read again.

Public API: `Cursor`, `Cursor.parse(text)`, `str(cursor)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.core.errors import PermanentSourceError

VERSION = "osticket1"


@dataclass(frozen=True)
class Cursor:
    updated: int = 0  # Unix seconds; 0: read everything
    entry: int = 0  # what the next pull reads after
    entry_seen: int = 0  # the highest id seen; the next pull's `entry`
    event: int = 0
    event_seen: int = 0

    @property
    def initial(self) -> bool:
        return self.updated == 0

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        parts = text.split(":")
        if len(parts) != 6 or parts[0] != VERSION or not all(p.isdigit() for p in parts[1:]):
            raise PermanentSourceError(f"stored cursor {text!r} is not an osTicket cursor")
        return cls(*(int(p) for p in parts[1:]))

    def advance(self, updated: int, entry_seen: int, event_seen: int) -> Cursor:
        updated, entry_seen, event_seen = int(updated), int(entry_seen), int(event_seen)
        return Cursor(updated, self.entry_seen or entry_seen, entry_seen, self.event_seen or event_seen, event_seen)

    def __str__(self) -> str:
        # zero-padded: cursors also sort as text, the time first
        marks = (self.updated, self.entry, self.entry_seen, self.event, self.event_seen)
        return ":".join([VERSION, *(f"{mark:012d}" for mark in marks)])
