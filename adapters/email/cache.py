"""The e-mail adapter's own cache of the mailbox: what it has read, so that a cycle fetches only
what is new or changed, and conversations can be rebuilt without reading the mailbox again.

Public API: `MailCache(path)` with `folder_state`, `set_folder_state`, `put_many`, `set_flags`,
`forget`, `forget_folder`, `envelopes`, `assign_threads`, `thread_messages`, `atomic`.

Every insert or change takes the next number of a counter; a conversation's cursor is the
highest number among its messages, so a cycle hands over exactly the conversations that changed
since the stored cursor, in a stable order, and a crash in between hands them over again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from adapters.email.parse import Mail
from adapters.email.threads import Envelope


_FIELDS = [name for name in Mail.__dataclass_fields__ if name != "warnings"]


def _mail_to_json(mail: Mail) -> str:
    data = {name: getattr(mail, name) for name in _FIELDS}  # dataclasses.asdict deep-copies: slow in bulk
    data["date"] = mail.date.isoformat()
    return json.dumps(data)


def _mail_from_json(text: str) -> Mail:
    data = json.loads(text)
    data["date"] = datetime.fromisoformat(data["date"])
    return Mail(**data, warnings=[])


class MailCache:
    def __init__(self, path: Path):
        self.db = Database(path)
        self.db.enable_wal()
        if "envelopes" not in self.db.table_names():
            with self.db.atomic():
                self.db["envelopes"].create(
                    {"key": str, "folder": str, "uidvalidity": int, "uid": int, "flags": str, "arrived": str,
                     "mail": str, "seq": int, "thread": str}, pk="key")
                self.db["envelopes"].create_index(["folder", "uid"])
                self.db["envelopes"].create_index(["thread"])
                self.db["folders"].create({"name": str, "uidvalidity": int, "last_uid": int, "modseq": int}, pk="name")
                self.db["counter"].create({"id": int, "seq": int}, pk="id")
                self.db["counter"].insert({"id": 1, "seq": 0})

    def atomic(self):
        return self.db.atomic()

    def _next(self) -> int:
        self.db.execute("UPDATE counter SET seq = seq + 1 WHERE id = 1")
        return self.db.execute("SELECT seq FROM counter WHERE id = 1").fetchone()[0]

    def folder_state(self, folder: str) -> dict[str, Any] | None:
        rows = list(self.db["folders"].rows_where("name = ?", [folder]))
        return rows[0] if rows else None

    def set_folder_state(self, folder: str, uidvalidity: int, last_uid: int, modseq: int | None) -> None:
        self.db["folders"].upsert({"name": folder, "uidvalidity": uidvalidity, "last_uid": last_uid,
                                   "modseq": modseq}, pk="name")

    def put_many(self, folder: str, uidvalidity: int,
                 messages: Iterable[tuple[int, frozenset[str], datetime, Mail]]) -> int:
        """Store fetched messages (UID, flags, arrival, parsed mail) in bulk; return how many."""
        first = self.db.execute("SELECT seq FROM counter WHERE id = 1").fetchone()[0]
        rows = [{
            "key": f"{folder}/{uidvalidity}/{uid}", "folder": folder, "uidvalidity": uidvalidity, "uid": uid,
            "flags": json.dumps(sorted(flags)), "arrived": arrived.isoformat(), "mail": _mail_to_json(mail),
            "seq": first + n + 1,
        } for n, (uid, flags, arrived, mail) in enumerate(messages)]
        if rows:
            self.db["envelopes"].upsert_all(rows, pk="key")
            self.db.execute("UPDATE counter SET seq = ? WHERE id = 1", [first + len(rows)])
        return len(rows)

    def set_flags(self, folder: str, flags: dict[int, frozenset[str]]) -> int:
        """Record flag changes; return how many messages changed."""
        changed = 0
        for uid, new in flags.items():
            row = self.db.execute("SELECT key, flags FROM envelopes WHERE folder = ? AND uid = ?", [folder, uid]).fetchone()
            if row and json.loads(row[1]) != sorted(new):
                self.db.execute("UPDATE envelopes SET flags = ?, seq = ? WHERE key = ?",
                                [json.dumps(sorted(new)), self._next(), row[0]])
                changed += 1
        return changed

    def forget(self, folder: str, present: set[int]) -> int:
        """Drop messages no longer in the folder (expunged, moved away); return how many."""
        gone = [uid for (uid,) in self.db.execute("SELECT uid FROM envelopes WHERE folder = ?", [folder])
                if uid not in present]
        for uid in gone:
            self.db.execute("DELETE FROM envelopes WHERE folder = ? AND uid = ?", [folder, uid])
        return len(gone)

    def forget_folder(self, folder: str) -> None:
        self.db.execute("DELETE FROM envelopes WHERE folder = ?", [folder])

    def envelopes(self) -> Iterator[tuple[Envelope, int]]:
        for key, folder, flags, arrived, mail, seq in self.db.execute(
                "SELECT key, folder, flags, arrived, mail, seq FROM envelopes"):
            yield Envelope(key, folder, frozenset(json.loads(flags)), datetime.fromisoformat(arrived),
                           _mail_from_json(mail)), seq

    def assign_threads(self, threads: dict[str, str]) -> None:
        """Remember which conversation each message belongs to (key -> thread id), for write-backs."""
        self.db.conn.executemany("UPDATE envelopes SET thread = ? WHERE key = ? AND thread IS NOT ?",
                                 [(thread, key, thread) for key, thread in threads.items()])

    def thread_messages(self, thread: str) -> list[tuple[str, int, str]]:
        """(folder, UID, sender) of a conversation's messages."""
        return [(folder, uid, json.loads(mail)["from_addr"]) for folder, uid, mail in self.db.execute(
            "SELECT folder, uid, mail FROM envelopes WHERE thread = ? ORDER BY folder, uid", [thread])]
