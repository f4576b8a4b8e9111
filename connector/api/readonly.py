"""A read-only connection to the store: SQLite refuses every write on it (`mode=ro`).

Public API: `ReadOnlyStore.open(path)`, with `.db` (sqlite-utils) like `Store`, so the reports and
the outbox's queries run on it unchanged.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlite_utils import Database

from connector.core.errors import StoreError


class ReadOnlyStore:
    def __init__(self, db: Database, path: Path):
        self.db, self.path = db, path

    @classmethod
    def open(cls, path: str | Path) -> ReadOnlyStore:
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path}: no database yet (run `sla-connector sync --once` first)")
        try:
            # check_same_thread off: a streamed response reads on whichever worker thread is free
            conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("SELECT 1 FROM sla_records LIMIT 1")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the database read-only: {exc}") from None
        return cls(Database(conn), path)

    def close(self) -> None:
        self.db.conn.close()
