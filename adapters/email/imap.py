"""A thin IMAP client over the standard library's imaplib, with errors translated in one place.

Public API: `ImapClient(section)` (a context manager) with `folders()`, `select(folder)`,
`fetch_headers(uids)` (with SAVEDATE where the server has it), `fetch_flags(last_uid, changed_since)`, `all_uids()`, `uids_after(uid)`,
`store(uids, add, flags)`, `supports_keywords`, `condstore`, and `commands` (how many IMAP
commands this connection sent).

Translation: refused logins -> AuthFailed; a dropped connection, a timeout or a refused connect
-> TransientSourceError; a NO answer (unknown folder, bad keyword) -> PermanentSourceError. The
messages name the server and the folder, never the password.
"""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from connector.core.errors import AuthFailed, PermanentSourceError, TransientSourceError

TIMEOUT = 60
CHUNK = 2000  # UIDs per FETCH: bounds the memory of a first sync
_UID = re.compile(rb"UID (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_MODSEQ = re.compile(rb"MODSEQ \((\d+)\)")
_SAVEDATE = re.compile(rb'SAVEDATE "([^"]+)"')
_LIST = re.compile(rb'\((?P<attrs>[^)]*)\) (?:"(?P<delim>[^"]*)"|NIL) (?P<name>.+)')


def _flags(meta: bytes) -> frozenset[str]:
    found = _FLAGS.search(meta)
    names = found.group(1).decode("ascii", "replace").split() if found else []
    return frozenset(name.lower() for name in names if name.lower() != "\\recent")


def _savedate(meta: bytes) -> datetime | None:
    found = _SAVEDATE.search(meta)  # NIL where the server keeps none for this message
    parsed = imaplib.Internaldate2tuple(b'INTERNALDATE "' + found.group(1) + b'"') if found else None
    return datetime(*parsed[:6]).astimezone(UTC) if parsed else None


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapClient:
    def __init__(self, section: Any, timeout: float | None = None):
        self.section = section
        configured = getattr(section, "timeout", None)
        self.timeout = timeout or (configured.total_seconds() if configured else TIMEOUT)
        self.where = f"IMAP {section.host}:{section.port}"
        self.commands = 0
        self.condstore = False
        self.savedate = False  # RFC 8514: when a message was saved into its folder (a move too)
        self.supports_keywords = False
        self.multiappend = False  # RFC 3502 and RFC 7888: many messages in one APPEND, no round trips
        self.highest_modseq: int | None = None
        self._imap: imaplib.IMAP4 | None = None

    # ---- connection ----------------------------------------------------------------------------

    def __enter__(self) -> ImapClient:
        section = self.section
        try:
            if section.security == "tls":
                self._imap = imaplib.IMAP4_SSL(
                    section.host, section.port, ssl_context=ssl.create_default_context(), timeout=self.timeout
                )
            else:
                self._imap = imaplib.IMAP4(section.host, section.port, timeout=self.timeout)
                if section.security == "starttls":
                    self._imap.starttls(ssl.create_default_context())
        except (OSError, imaplib.IMAP4.error) as exc:
            raise TransientSourceError(f"{self.where}: cannot connect: {exc}") from None
        # imaplib sends a command and its literal in separate writes: without this, Nagle's
        # algorithm and the server's delayed ACK hold every APPEND for tens of milliseconds
        self._imap.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        password = section.password.get_secret_value() if section.password else ""
        try:
            self._call(lambda imap: imap.login(section.user, password))
        except PermanentSourceError:
            raise AuthFailed(f"{self.where}: login as {section.user} refused (check the password)") from None
        # the capabilities before login are not those after it (CONDSTORE appears only then)
        answer = self._call(lambda imap: imap.capability())
        capabilities = set(answer[-1].decode("ascii", "replace").upper().split()) if answer and answer[-1] else set()
        if "CONDSTORE" in capabilities:
            self._call(lambda imap: imap._simple_command("ENABLE", "CONDSTORE"))
            self.condstore = True
        self.savedate = "SAVEDATE" in capabilities
        self.multiappend = {"MULTIAPPEND", "LITERAL+"} <= capabilities
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._imap is not None:
            try:
                self._imap.logout()
            except (OSError, imaplib.IMAP4.error):
                pass

    def _call(self, command: Callable[[imaplib.IMAP4], tuple[str, list]], what: str = "") -> list:
        self.commands += 1
        try:
            typ, data = command(self._imap)
        except imaplib.IMAP4.abort as exc:
            raise TransientSourceError(f"{self.where}: connection lost{what}: {exc}") from None
        except imaplib.IMAP4.error as exc:
            raise PermanentSourceError(f"{self.where}: refused{what}: {exc}") from None
        except (TimeoutError, OSError) as exc:
            raise TransientSourceError(f"{self.where}: {type(exc).__name__}{what}: {exc}") from None
        if typ != "OK":
            detail = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
            raise PermanentSourceError(f"{self.where}: {typ}{what}: {detail}")
        return data

    # ---- reading -------------------------------------------------------------------------------

    def folders(self) -> list[str]:
        names = []
        for line in self._call(lambda imap: imap.list()):
            match = _LIST.match(line) if isinstance(line, bytes) else None
            if match and b"\\noselect" not in match.group("attrs").lower():
                names.append(match.group("name").strip().strip(b'"').decode("utf-8", "replace"))
        return names

    def select(self, folder: str) -> tuple[int, int]:
        """Select a folder; return (UIDVALIDITY, number of messages)."""
        self._call(lambda imap: imap.select(_quote(folder)), f" (folder {folder})")
        imap = self._imap
        uidvalidity = int(imap.response("UIDVALIDITY")[1][0])
        exists = imap.response("EXISTS")[1]
        permanent = imap.response("PERMANENTFLAGS")[1]
        modseq = imap.response("HIGHESTMODSEQ")[1]
        self.supports_keywords = bool(permanent and permanent[0] and b"\\*" in permanent[0])
        self.highest_modseq = int(modseq[0]) if modseq and modseq[0] else None
        return uidvalidity, int(exists[-1]) if exists and exists[-1] else 0

    def all_uids(self) -> set[int]:
        data = self._call(lambda imap: imap.uid("SEARCH", None, "ALL"))
        return {int(uid) for uid in (data[0] or b"").split()}

    def uids_after(self, last_uid: int) -> set[int]:
        """UIDs above `last_uid` (`n:*` always includes the highest UID, even one below n)."""
        data = self._call(lambda imap: imap.uid("SEARCH", None, "UID", f"{last_uid + 1}:*"))
        return {int(uid) for uid in (data[0] or b"").split() if int(uid) > last_uid}

    def fetch_headers(self, uids: list[int]) -> Iterator[tuple[int, frozenset[str], datetime, bytes, datetime | None]]:
        """(UID, flags, INTERNALDATE, raw header, SAVEDATE or None) of the given messages, in chunks."""
        wanted = set(uids)
        ordered = sorted(wanted)
        items = "(UID FLAGS INTERNALDATE SAVEDATE BODY.PEEK[HEADER])" if self.savedate else None
        items = items or "(UID FLAGS INTERNALDATE BODY.PEEK[HEADER])"
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            spec = f"{chunk[0]}:{chunk[-1]}"
            data = self._call(lambda imap: imap.uid("FETCH", spec, items))
            for item in data:
                if not isinstance(item, tuple):
                    continue
                meta, header = item
                uid_match = _UID.search(meta)
                if uid_match is None or int(uid_match.group(1)) not in wanted:
                    continue  # `n:*` always includes the highest UID, even one below n
                arrived = imaplib.Internaldate2tuple(meta)
                when = datetime(*arrived[:6]).astimezone(UTC) if arrived else datetime.now(UTC)
                yield int(uid_match.group(1)), _flags(meta), when, header, _savedate(meta)

    def fetch_flags(self, last_uid: int, changed_since: int | None) -> dict[int, frozenset[str]]:
        """Flags of messages up to `last_uid`; with CONDSTORE only of those changed since a MODSEQ."""
        if last_uid < 1:
            return {}
        if changed_since is not None and self.condstore:
            data = self._call(
                lambda imap: imap.uid("FETCH", f"1:{last_uid}", "(UID FLAGS)", f"(CHANGEDSINCE {changed_since})")
            )
        else:
            data = self._call(lambda imap: imap.uid("FETCH", f"1:{last_uid}", "(UID FLAGS)"))
        flags = {}
        for line in data:
            meta = line[0] if isinstance(line, tuple) else line
            uid_match = _UID.search(meta or b"")
            if uid_match:
                flags[int(uid_match.group(1))] = _flags(meta)
        return flags

    # ---- writing -------------------------------------------------------------------------------

    def has_message_id(self, folder: str, message_id: str) -> bool:
        """Whether a message with this Message-ID is in the folder (a missing folder has none)."""
        try:
            self.select(folder)
        except PermanentSourceError:
            return False
        data = self._call(
            lambda imap: imap.uid("SEARCH", None, "HEADER", "Message-ID", _quote(message_id)),
            f" (searching {folder})",
        )
        return bool((data[0] or b"").split())

    def append(self, folder: str, flags: list[str], message: bytes) -> None:
        """Save a message into a folder, creating the folder when it is missing."""
        spec = f"({' '.join(flags)})"
        try:
            self._call(lambda imap: imap.append(_quote(folder), spec, None, message), f" (saving into {folder})")
        except PermanentSourceError:
            self._call(lambda imap: imap.create(_quote(folder)), f" (creating {folder})")
            self._call(lambda imap: imap.append(_quote(folder), spec, None, message), f" (saving into {folder})")

    def append_start(self, folder: str, messages: list[tuple[list[str], bytes]]) -> str | None:
        """Send one APPEND of many messages without waiting for the answer (MULTIAPPEND with
        non-synchronising literals): the server stores them while the caller goes on. Returns the
        tag for `append_finish`, or None when the server cannot take it this way (then the
        messages were saved one by one already)."""
        if not messages:
            return None
        if not self.multiappend:
            for flags, message in messages:
                self.append(folder, flags, message)
            return None
        imap = self._imap
        parts = [b" APPEND " + _quote(folder).encode("utf-8")]
        for flags, message in messages:
            parts.append(f" ({' '.join(flags)}) {{{len(message)}+}}\r\n".encode("ascii") + message)
        self.commands += 1
        try:
            tag = imap._new_tag()  # registers the tag, so the answer is kept when it comes
            imap.send(tag + b"".join(parts) + b"\r\n")
        except (TimeoutError, OSError) as exc:
            raise TransientSourceError(f"{self.where}: {type(exc).__name__} (saving into {folder}): {exc}") from None
        return tag.decode("ascii")

    def append_finish(self, tag: str | None, folder: str) -> None:
        """The answer to an `append_start`: raises as `_call` does when the server refused it."""
        if tag is not None:
            self._call(lambda imap: imap._command_complete("APPEND", tag.encode("ascii")), f" (saving into {folder})")

    def store(self, uids: list[int], add: bool, flags: list[str]) -> None:
        if not uids or not flags:
            return
        spec = ",".join(str(uid) for uid in sorted(uids))
        self._call(
            lambda imap: imap.uid("STORE", spec, "+FLAGS.SILENT" if add else "-FLAGS.SILENT", f"({' '.join(flags)})"),
            f" (storing {' '.join(flags)})",
        )
