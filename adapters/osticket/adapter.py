"""The osTicket source: osTicket's own database, read in pages and written narrowly.

Public API: `OsticketAdapter(section, state_dir)` with `check()`, `pull(since, overlap)`,
`apply(action)`, `capabilities`, `name`, `queries` (statements the last pull or apply sent).

A pull reads the tickets changed since the cursor's three watermarks (README "osTicket"): rows
whose `updated` moved (minus the overlap), tickets with a thread entry or a thread event past the
ids seen. A first pull reads every ticket in id order, a second session fetching the next page
while one is mapped. Each page costs one statement (two more when a list was too long to pack),
whatever the tables hold. Within a pull every snapshot carries the cursor the pull started from,
and the last one the cursor it reached: a crash halfway reads the same changes again, nothing is
skipped. Tickets that disappeared (osTicket deletes outright) are handed over as deleted, from
their last snapshot kept in `<state_dir>/<source>-osticket-known.db`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from adapters.base import Snapshot, external_id
from adapters.email.smtp import send_notice
from adapters.osticket.connection import Database
from adapters.osticket.cursor import Cursor
from adapters.osticket.known import KnownTickets, decode, encode
from adapters.osticket.read import Reader, Times
from adapters.osticket.schema import KNOWN_SIGNATURES, Lookups, detect_prefix, missing_columns, missing_privileges
from adapters.osticket.write import add_note, raise_priority
from connector.config.sources import OsticketSection
from connector.core.errors import PermanentSourceError
from connector.core.escalation import Action
from connector.core.model import Ticket

log = logging.getLogger("sla_connector.osticket")

WRITE_KINDS = frozenset({"raise_priority", "add_note"})


class OsticketAdapter:
    def __init__(self, section: OsticketSection, state_dir: Path | None = None):
        self.section = section
        self.state_dir = state_dir or Path(".")
        self.times = Times(section.db_time_zone)
        self._prefix = section.table_prefix
        self._refused: frozenset[str] = frozenset()  # write kinds check() found no privileges for
        self._warned_signature = False
        self.queries = 0
        self._fetched = 0

    @property
    def name(self) -> str:
        return self.section.name

    @property
    def capabilities(self) -> frozenset[str]:
        kinds = set(WRITE_KINDS - self._refused)
        if self.section.smtp is not None:
            kinds.add("notify")
        return frozenset(kinds)  # no tags: osTicket has none

    def _db(self) -> Database:
        return Database(self.section)

    def prefix(self, db: Database) -> str:
        if self._prefix is None:
            self._prefix = detect_prefix(db)
        return self._prefix

    def _lookups(self, db: Database) -> Lookups:
        look = Lookups.load(db, self.prefix(db))
        signature = look.config.get("schema_signature")
        if signature not in KNOWN_SIGNATURES and not self._warned_signature:
            self._warned_signature = True
            log.warning(
                "%s: osTicket schema signature %s is not one this version was checked against (%s)",
                self.name, signature, ", ".join(f"{s} = {v}" for s, v in KNOWN_SIGNATURES.items()),
            )  # fmt: skip
        return look

    def _web_url(self, look: Lookups) -> str | None:
        return self.section.web_url or look.config.get("helpdesk_url") or None

    # ---- check ----------------------------------------------------------------------------------

    def check(self) -> str:
        with self._db() as db:
            prefix = self.prefix(db)
            # privileges first: information_schema hides the tables an account may not read
            lacking = missing_privileges(db, prefix)
            if "read" in lacking:
                raise PermanentSourceError(f"{db.where}: the account lacks {', '.join(lacking['read'])}")
            missing = missing_columns(db, prefix)
            if missing:
                raise PermanentSourceError(f"{db.where}: osTicket's schema lacks {', '.join(missing)}")
            look = self._lookups(db)
            for needed in ("subject", "priority"):
                if needed not in look.fields:
                    raise PermanentSourceError(f"{db.where}: the Ticket Details form has no {needed!r} field")
            (tickets,) = db.one(f"SELECT COUNT(*) FROM `{prefix}ticket`")
            version = KNOWN_SIGNATURES.get(look.config.get("schema_signature"), "an unknown schema signature")
            zone = self.section.db_time_zone or "the server's own ({})".format(db.one("SELECT @@system_time_zone")[0])
            tls = (db.one("SHOW SESSION STATUS LIKE 'Ssl_version'") or ("", ""))[1]
        self._refused = frozenset(kind for kind in WRITE_KINDS if kind in lacking)
        parts = [f"osticket {version}, prefix {prefix}, {tickets} tickets, times in {zone}"]
        verified = self.section.tls is not None and self.section.tls.verify_server
        parts.append(f"over {tls}{'' if verified else ', server not verified'}" if tls else "not encrypted")
        for kind in sorted(WRITE_KINDS):
            if kind in lacking:
                parts.append(f"{kind.replace('_', ' ')} skipped: lacks {', '.join(lacking[kind])}")
        if not look.has_cdata:
            parts.append(f"{prefix}ticket__cdata missing (osTicket rebuilds it): priorities from the form values")
        parts.append("tags skipped (osTicket has none)")
        if self.section.smtp is not None:
            parts.append(f"notices via {self.section.smtp.host}:{self.section.smtp.port}")
        return "; ".join(parts)

    # ---- pull -----------------------------------------------------------------------------------

    def known(self) -> KnownTickets:
        return KnownTickets(self.state_dir / f"{self.name}-osticket-known.db")

    def pull(self, since: str | None, overlap: timedelta = timedelta(0)) -> Iterator[Snapshot]:
        self._fetched = 0  # statements the first pull's second session sent
        cursor = Cursor.parse(since)
        start = str(cursor)
        known = self.known()
        db = self._db()
        try:
            with db:
                look = self._lookups(db)
                p = look.prefix
                reader = Reader(db, look, self.section, self.times, self._web_url(look))
                zone = self.section.db_time_zone
                now, top_entry, top_event = db.one(
                    f"SELECT {self.times.now_sql()}, (SELECT COALESCE(MAX(id), 0) FROM `{p}thread_entry`),"
                    f" (SELECT COALESCE(MAX(id), 0) FROM `{p}thread_event`)"
                )
                reached = str(cursor.advance(self.times.epoch(now), top_entry, top_event))
                known.confirm(since)
                held: Snapshot | None = None  # the last snapshot waits: it alone carries `reached`
                for ticket, messages in self._deleted(db, p, known, reached, reader):
                    if held is not None:
                        yield held
                    held = Snapshot(ticket, messages, start)
                for page in self._pages(db, reader, cursor, overlap, top_entry, top_event):
                    known.remember((int(r.ticket.external_id), encode(r.row, zone)) for r in page)
                    for ticket, messages, _row in page:
                        if held is not None:
                            yield held
                        held = Snapshot(ticket, messages, start)
                if held is not None:
                    yield Snapshot(held.ticket, held.messages, reached)
        finally:
            self.queries = db.queries + self._fetched
            known.close()

    def _pages(self, db, reader: Reader, cursor: Cursor, overlap: timedelta, top_entry: int, top_event: int):
        size = self.section.page_size
        if cursor.initial:
            for rows in self._ahead(reader, size):
                yield reader.complete(rows)  # it may be empty: every ticket on it was malformed (and named)
            return
        p = reader.look.prefix
        operand, value = self.times.since(cursor.updated - int(overlap.total_seconds()))
        ids = [
            i
            for (i,) in db.query(
                f"SELECT ticket_id FROM `{p}ticket` WHERE updated >= {operand}"
                f" UNION SELECT th.object_id FROM `{p}thread_entry` e JOIN `{p}thread` th ON th.id = e.thread_id"
                f" WHERE e.id > %s AND e.id <= %s AND th.object_type = 'T'"
                f" UNION SELECT th.object_id FROM `{p}thread_event` ev JOIN `{p}thread` th ON th.id = ev.thread_id"
                f" WHERE ev.id > %s AND ev.id <= %s AND th.object_type = 'T'",
                (value, cursor.entry, top_entry, cursor.event, top_event),
            )
        ]
        ids.sort()
        for i in range(0, len(ids), size):
            page = reader.page(ids[i : i + size])
            if page:
                yield page

    def _ahead(self, reader: Reader, size: int) -> Iterator[list[tuple]]:
        """The first pull's pages of rows, each fetched by a second session while the one before
        is mapped (and handed on): the server computes a page while this side maps another, where
        one session would leave each idle in turn. One page waits at most; nothing is written."""
        pages: queue.Queue = queue.Queue(maxsize=1)
        stop = threading.Event()
        fetched = [0]

        def hand(item) -> None:
            while not stop.is_set():
                try:
                    pages.put(item, timeout=0.5)
                    return
                except queue.Full:
                    continue

        def fetch() -> None:
            try:
                with self._db() as ahead:
                    after: int | None = 0
                    while after is not None and not stop.is_set():
                        rows, after = reader.range_rows(ahead, after, size)
                        fetched[0] = ahead.queries
                        hand(rows)
            except BaseException as exc:  # handed to the pulling side, which raises it
                hand(exc)

        thread = threading.Thread(target=fetch, name=f"{self.name}-fetch", daemon=True)
        thread.start()
        try:
            while True:
                item = pages.get()
                if isinstance(item, BaseException):
                    raise item
                if not item:
                    return
                yield item
        finally:
            stop.set()
            thread.join()
            self._fetched = fetched[0]

    def _deleted(self, db, p: str, known: KnownTickets, reached: str, reader: Reader):
        """Tickets known from earlier pulls that osTicket no longer has (one COUNT when none is gone)."""
        highest = known.highest()
        if highest:
            (count,) = db.one(f"SELECT COUNT(*) FROM `{p}ticket` WHERE ticket_id <= %s", (highest,))
            if count < known.alive():
                existing = {i for (i,) in db.stream(f"SELECT ticket_id FROM `{p}ticket` WHERE ticket_id <= %s",
                                                    (highest,))}  # fmt: skip
                known.gone(existing, reached)
        pending = known.pending()
        known.remark(reached)  # confirmed once a pull starts from this cursor: the store has them then
        for ident, text in pending:
            ticket, messages = decode(text, reader)
            log.info("%s: ticket %s (number %s) was deleted in osTicket", self.name, ident, ticket.number)
            yield _as_deleted(ticket), messages

    # ---- apply ----------------------------------------------------------------------------------

    def apply(self, action: Action) -> None:
        if action.kind not in self.capabilities:
            why = "osTicket has no tags" if action.kind.endswith("_tags") else "not available on this source"
            raise PermanentSourceError(f"{self.name}: cannot {action.kind} ({why})")
        ident = external_id(action, self.name)
        if not ident.isdigit():
            raise PermanentSourceError(f"{self.name}: ticket {ident!r} is not an osTicket ticket id")
        if action.kind == "notify":
            self._notify(action, int(ident))
            return
        db = self._db()
        try:
            with db:
                look = Lookups.load(db, self.prefix(db))
                if action.kind == "raise_priority":
                    rank = action.payload.get("rank")
                    if not isinstance(rank, int) or not 1 <= rank <= 4:
                        raise PermanentSourceError(f"{action.key}: rank {rank!r} is not 1 to 4")
                    raise_priority(db, look, int(ident), rank, self.section.poster)
                else:
                    text = action.payload.get("text")
                    if not isinstance(text, str):
                        raise PermanentSourceError(f"{action.key}: a note needs a text")
                    add_note(db, look, int(ident), action.key, text, self.section.poster)
        finally:
            self.queries = db.queries

    def _notify(self, action: Action, ticket_id: int) -> None:
        recipients: list[str] = []
        with self._db() as db:
            p = self.prefix(db)
            row = db.one(
                f"SELECT t.number, s.email FROM `{p}ticket` t LEFT JOIN `{p}staff` s ON s.staff_id = t.staff_id"
                " WHERE t.ticket_id = %s",
                (ticket_id,),
            )
        if row is None:
            raise PermanentSourceError(f"{self.name}: ticket {ticket_id} does not exist")
        number, agent_email = row
        for who in action.payload.get("recipients", []):
            if who == "assignee":
                recipients += [agent_email] if agent_email else list(self.section.notify_to)
            else:
                recipients.append(who)
        send_notice(self.section.smtp, action, number or str(ticket_id), list(dict.fromkeys(recipients)))


def _as_deleted(ticket: Ticket) -> Ticket:
    return replace(ticket, deleted=True)
