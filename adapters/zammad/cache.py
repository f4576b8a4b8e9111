"""What the adapter last read of each ticket (the row, its articles, tags and state history), so a
ticket whose `updated_at` did not move costs no request and one whose articles did not change
costs no article request. In `<state_dir>/<source>-zammad-cache.db`, or in memory without one.

Public API: `TicketCache(path | None)` with `get`, `put`, `ids`, `meta`, `set_meta`.
The cache only saves requests: losing it costs a re-read, never a fact.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any


class TicketCache:
    def __init__(self, path: Path | None):
        self.db = sqlite3.connect(str(path) if path else ":memory:", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")  # a cache: a lost write costs a re-read
        self.db.execute("CREATE TABLE IF NOT EXISTS tickets (id INTEGER PRIMARY KEY, data TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get(self, ident: int) -> dict[str, Any] | None:
        row = self.db.execute("SELECT data FROM tickets WHERE id = ?", (ident,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, ident: int, data: dict[str, Any]) -> None:
        self.db.execute("INSERT OR REPLACE INTO tickets (id, data) VALUES (?, ?)", (ident, json.dumps(data)))

    def forget(self, ident: int) -> None:
        self.db.execute("DELETE FROM tickets WHERE id = ?", (ident,))

    def ids(self) -> set[int]:
        return {row[0] for row in self.db.execute("SELECT id FROM tickets")}

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        self.db.close()
