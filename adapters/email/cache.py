"""The e-mail adapter's own cache of the mailbox: what it has read, so that a cycle fetches only
what is new or changed, and conversations can be rebuilt without reading the mailbox again.

Public API: `MailCache(path)` with `folder_state`, `set_folder_state`, `put_many`, `set_flags`,
`forget`, `forget_folder`, `count`, `envelopes`, `unthreaded`, `changed_threads`,
`thread_envelopes`, `thread_messages`, `atomic`; for Maildir `put_files`, `maildir_files`,
`move_file`, `drop_files`; each conversation's status history (`status_log`, `log_status`) and
the previous cycle's time (`last_cycle`, `set_last_cycle`); `CacheIndex(cache)`, the thread index threading
uses, so that a cycle threads only the new messages against what the cache knows.

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
from connector.core.model import Status, StatusChange

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
    def __init__(self, path: Path | None):
        """A cache in the file `path`; None: in memory, for one adapter's life (a one-off read)."""
        self.db = Database(path) if path is not None else Database(memory=True)
        if path is not None:
            self.db.enable_wal()
        if "envelopes" not in self.db.table_names():
            with self.db.atomic():
                self.db["envelopes"].create(
                    {
                        "key": str,
                        "folder": str,
                        "uidvalidity": int,
                        "uid": int,
                        "flags": str,
                        "arrived": str,
                        "mail": str,
                        "seq": int,
                        "message_id": str,
                        "date": str,
                        "thread": str,
                    },
                    pk="key",
                )
                self.db["envelopes"].create_index(["folder", "uid"])
                self.db["envelopes"].create_index(["thread"])
                self.db["envelopes"].create_index(["message_id"])
                self.db["envelopes"].create_index(["seq"])
                self.db["subjects"].create({"base": str, "counterpart": str, "thread": str}, pk=("base", "counterpart"))
                self.db["folders"].create({"name": str, "uidvalidity": int, "last_uid": int, "modseq": int}, pk="name")
                self.db["counter"].create({"id": int, "seq": int}, pk="id")
                self.db["counter"].insert({"id": 1, "seq": 0})

        self._upgrade()

    def _upgrade(self) -> None:
        """What later versions keep, added to a cache made by an earlier one."""
        with self.db.atomic():
            columns = self.db["envelopes"].columns_dict
            for name in ("name", "info", "saved_at"):  # Maildir unique name, its flags suffix; saved into its folder
                if name not in columns:
                    self.db["envelopes"].add_column(name, str)
            # covering: a cycle compares every Maildir file's folder and flags with what was read
            self.db["envelopes"].create_index(["name", "folder", "info"], if_not_exists=True)
            if "status_log" not in self.db.table_names():
                self.db["status_log"].create(
                    {"thread": str, "n": int, "at": str, "status": str, "raw": str, "estimated": int},
                    pk=("thread", "n"),
                )
                self.db["cycles"].create({"id": int, "last_at": str}, pk="id")
            if "numbers" not in self.db.table_names():
                # a short number per conversation, for people: [#1042] in a subject, #1042 in reports
                self.db.execute("CREATE TABLE numbers (number INTEGER PRIMARY KEY, thread TEXT UNIQUE NOT NULL)")
                self.db.execute("INSERT INTO numbers (number, thread) VALUES (1000, '')")  # the first is 1001

    def atomic(self):
        return self.db.atomic()

    def _next(self) -> int:
        self.db.execute("UPDATE counter SET seq = seq + 1 WHERE id = 1")
        return self.db.execute("SELECT seq FROM counter WHERE id = 1").fetchone()[0]

    def folder_state(self, folder: str) -> dict[str, Any] | None:
        rows = list(self.db["folders"].rows_where("name = ?", [folder]))
        return rows[0] if rows else None

    def set_folder_state(self, folder: str, uidvalidity: int, last_uid: int, modseq: int | None) -> None:
        self.db["folders"].upsert(
            {"name": folder, "uidvalidity": uidvalidity, "last_uid": last_uid, "modseq": modseq}, pk="name"
        )

    def seq(self) -> int:
        """The change counter now: what a cycle changes comes after it."""
        return self.db.execute("SELECT seq FROM counter WHERE id = 1").fetchone()[0]

    def put_many(
        self,
        folder: str,
        uidvalidity: int,
        messages: Iterable[tuple[int, frozenset[str], datetime, Mail, datetime | None]],
    ) -> int:
        """Store fetched messages (UID, flags, arrival, parsed mail, SAVEDATE) in bulk; return how many."""
        return self._put(
            {
                "key": f"{folder}/{uidvalidity}/{uid}",
                "folder": folder,
                "uidvalidity": uidvalidity,
                "uid": uid,
                "flags": json.dumps(sorted(flags)),
                "arrived": arrived.isoformat(),
                "mail": _mail_to_json(mail),
                "message_id": mail.message_id,
                "date": mail.date.isoformat(),
                "saved_at": saved.isoformat() if saved else None,
            }
            for uid, flags, arrived, mail, saved in messages
        )

    def put_files(self, files: Iterable[tuple[str, str, str, frozenset[str], datetime, Mail, datetime | None]]) -> int:
        """Store Maildir files read (unique name, folder, flags suffix, flags, arrival, mail, when it
        entered its folder when known) in bulk; return how many."""
        return self._put(
            {
                "key": name,
                "folder": folder,
                "uidvalidity": 0,
                "uid": 0,
                "flags": json.dumps(sorted(flags)),
                "arrived": arrived.isoformat(),
                "mail": _mail_to_json(mail),
                "message_id": mail.message_id,
                "date": mail.date.isoformat(),
                "name": name,
                "info": info,
                "saved_at": saved.isoformat() if saved else None,
            }
            for name, folder, info, flags, arrived, mail, saved in files
        )

    def maildir_files(self) -> dict[str, set[str]]:
        """Folder -> the file names (unique name and flags suffix) read so far, as one set per
        folder: a cycle compares them with the directories' listings as sets, at C speed."""
        return {
            folder: set(names.split("/"))  # a file name never holds a slash
            for folder, names in self.db.execute(
                "SELECT folder, group_concat(name || info, '/') FROM envelopes WHERE name IS NOT NULL GROUP BY folder"
            )
        }

    def maildir_file(self, name: str) -> tuple[str, str] | None:
        """(folder, flags suffix) of the file with this unique name, if it was read."""
        row = self.db.execute("SELECT folder, info FROM envelopes WHERE name = ?", [name]).fetchone()
        return (row[0], row[1]) if row else None

    def move_file(self, name: str, folder: str, info: str, flags: frozenset[str], saved: datetime | None) -> None:
        """A Maildir file renamed: to another folder (with when, when known) or to other flags."""
        self.db.execute(
            "UPDATE envelopes SET folder = ?, info = ?, flags = ?, saved_at = coalesce(?, saved_at), seq = ? "
            "WHERE key = ?",
            [folder, info, json.dumps(sorted(flags)), saved.isoformat() if saved else None, self._next(), name],
        )

    def drop_files(self, names: Iterable[str]) -> int:
        names = list(names)
        self.db.conn.executemany("DELETE FROM envelopes WHERE key = ?", [[n] for n in names])
        return len(names)

    def _put(self, rows: Iterable[dict[str, Any]]) -> int:
        first = self.seq()
        rows = [{**row, "seq": first + n + 1} for n, row in enumerate(rows)]
        if rows:
            self.db["envelopes"].upsert_all(rows, pk="key")
            self.db.execute("UPDATE counter SET seq = ? WHERE id = 1", [first + len(rows)])
        return len(rows)

    def set_flags(self, folder: str, flags: dict[int, frozenset[str]]) -> int:
        """Record flag changes; return how many messages changed."""
        changed = 0
        for uid, new in flags.items():
            row = self.db.execute(
                "SELECT key, flags FROM envelopes WHERE folder = ? AND uid = ?", [folder, uid]
            ).fetchone()
            if row and json.loads(row[1]) != sorted(new):
                self.db.execute(
                    "UPDATE envelopes SET flags = ?, seq = ? WHERE key = ?",
                    [json.dumps(sorted(new)), self._next(), row[0]],
                )
                changed += 1
        return changed

    def forget(self, folder: str, present: set[int]) -> int:
        """Drop messages no longer in the folder (expunged, moved away); return how many."""
        gone = [
            uid
            for (uid,) in self.db.execute("SELECT uid FROM envelopes WHERE folder = ?", [folder])
            if uid not in present
        ]
        for uid in gone:
            self.db.execute("DELETE FROM envelopes WHERE folder = ? AND uid = ?", [folder, uid])
        return len(gone)

    def forget_folder(self, folder: str) -> None:
        self.db.execute("DELETE FROM envelopes WHERE folder = ?", [folder])

    def count(self, folder: str) -> int:
        return self.db.execute("SELECT count(*) FROM envelopes WHERE folder = ?", [folder]).fetchone()[0]

    def _envelopes(self, where: str, params: list[Any]) -> Iterator[Envelope]:
        for key, folder, flags, arrived, mail, saved in self.db.execute(
            f"SELECT key, folder, flags, arrived, mail, saved_at FROM envelopes WHERE {where}", params
        ):
            yield Envelope(
                key,
                folder,
                frozenset(json.loads(flags)),
                datetime.fromisoformat(arrived),
                _mail_from_json(mail),
                datetime.fromisoformat(saved) if saved else None,
            )

    def envelopes(self) -> list[Envelope]:
        return list(self._envelopes("1", []))

    def unthreaded(self) -> list[Envelope]:
        """Messages not yet put into a conversation."""
        return list(self._envelopes("thread IS NULL", []))

    def changed_threads(self, after: int) -> list[tuple[str, int]]:
        """(conversation, its latest change) of the conversations changed after `after`, in order."""
        return self.db.execute(
            # by the change counter's index: a cycle with few changes reads few rows
            "SELECT thread, max(seq) AS latest FROM envelopes INDEXED BY idx_envelopes_seq "
            "WHERE seq > ? AND thread != '' GROUP BY thread ORDER BY latest",
            [after],
        ).fetchall()

    def threads_changed_after(self, seq: int) -> list[str]:
        return [
            thread
            for (thread,) in self.db.execute(
                "SELECT DISTINCT thread FROM envelopes INDEXED BY idx_envelopes_seq WHERE seq > ? AND thread != ''",
                [seq],
            )
        ]

    def number(self, thread: str) -> int:
        """The conversation's short number, given on first asking and never changed."""
        self.db.execute("INSERT OR IGNORE INTO numbers (thread) VALUES (?)", [thread])
        return self.db.execute("SELECT number FROM numbers WHERE thread = ?", [thread]).fetchone()[0]

    def thread_of_number(self, number: int) -> str | None:
        row = self.db.execute("SELECT thread FROM numbers WHERE number = ? AND thread != ''", [number]).fetchone()
        return row[0] if row else None

    # ---- status history ------------------------------------------------------------------------

    def last_cycle(self) -> datetime | None:
        """When the previous cycle read the mailbox (None: never, the first sync)."""
        row = self.db.execute("SELECT last_at FROM cycles WHERE id = 1").fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def set_last_cycle(self, at: datetime) -> None:
        self.db["cycles"].upsert({"id": 1, "last_at": at.isoformat()}, pk="id")

    def status_log(self, thread: str) -> list[StatusChange]:
        return [
            StatusChange(datetime.fromisoformat(at), Status(status), raw, n, bool(estimated))
            for n, at, status, raw, estimated in self.db.execute(
                "SELECT n, at, status, raw, estimated FROM status_log WHERE thread = ? ORDER BY n", [thread]
            )
        ]

    def log_status(self, thread: str, change: StatusChange) -> None:
        self.db["status_log"].insert(
            {
                "thread": thread,
                "n": change.seq,
                "at": change.at.isoformat(),
                "status": change.status.value,
                "raw": change.raw_status,
                "estimated": int(change.estimated),
            }
        )

    def thread_envelopes(self, thread: str) -> list[Envelope]:
        return sorted(self._envelopes("thread = ?", [thread]), key=lambda e: (e.mail.date, e.key))

    def thread_messages(self, thread: str) -> list[tuple[str, int, str]]:
        """(folder, UID, sender) of a conversation's messages."""
        return [
            (folder, uid, json.loads(mail)["from_addr"])
            for folder, uid, mail in self.db.execute(
                "SELECT folder, uid, mail FROM envelopes WHERE thread = ? ORDER BY folder, uid", [thread]
            )
        ]


class CacheIndex:
    """The conversations seen so far, as the cache remembers them (a `ThreadIndex`)."""

    def __init__(self, cache: MailCache):
        self.cache, self.db = cache, cache.db

    def thread_of(self, message_id: str) -> str | None:
        row = self.db.execute(
            "SELECT thread FROM envelopes WHERE message_id = ? AND thread != '' LIMIT 1", [message_id]
        ).fetchone()
        return row[0] if row else None

    def exists(self, thread: str) -> bool:
        return self.db.execute("SELECT 1 FROM envelopes WHERE thread = ? LIMIT 1", [thread]).fetchone() is not None

    def thread_of_token(self, token: str) -> str | None:
        """The conversation a subject's `[#1042]` (or an older `[#m98554ed56e]`) names."""
        if token.isdigit():
            return self.cache.thread_of_number(int(token))
        return token if self.exists(token) else None

    def by_subject(self, base_subject: str, counterpart: str) -> tuple[str, datetime] | None:
        row = self.db.execute(
            "SELECT s.thread, max(e.date) FROM subjects s JOIN envelopes e ON e.thread = s.thread "
            "WHERE s.base = ? AND s.counterpart = ?",
            [base_subject, counterpart],
        ).fetchone()
        return (row[0], datetime.fromisoformat(row[1])) if row and row[0] else None

    def record(self, envelope: Envelope, thread: str | None, counterpart: str) -> None:
        self.db.execute("UPDATE envelopes SET thread = ? WHERE key = ?", [thread or "", envelope.key])
        if thread and envelope.mail.base_subject and counterpart:
            self.db.execute(
                "INSERT OR REPLACE INTO subjects (base, counterpart, thread) VALUES (?, ?, ?)",
                [envelope.mail.base_subject, counterpart, thread],
            )
