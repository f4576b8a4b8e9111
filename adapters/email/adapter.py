"""The e-mail source: a shared support mailbox as a helpdesk.

Public API: `EmailAdapter(section, state_dir)` with `check()`, `pull(since, overlap)`,
`apply(action)`, `capabilities`, `name`, `imap_commands` (sent by the last pull).

Two kinds of mailbox, one logic:
- IMAP: each cycle fetches only what is new (per folder, UIDs above the highest seen, a changed
  UIDVALIDITY meaning a full re-read of that folder) and the flags changed since the stored
  MODSEQ (CONDSTORE), into a cache of its own (`<state_dir>/<source>-mail-cache.db`). Tags are
  written as IMAP keywords on the conversation's messages, a raised priority as \\Flagged.
  The cursor is the cache's change counter.
- A local Maildir, read-only (tags and priority cannot be written back; those actions are
  recorded as skipped). The cursor is the latest change time (ctime) of a conversation's files:
  a new message, a flag change or a move to another folder all renew it.
Escalation notices go out by SMTP when `[email.smtp]` is configured.

Delivery: the keyword writes (channel "imap") and the notices (channel "smtp") are separate
channels, so a refused SMTP password holds only the notices. Inside `delivery()` (one cycle's
writes) one IMAP and one SMTP connection serve every write. With an IMAP mailbox and a sent
folder, each notice is saved there (APPEND, with its stable Message-ID) once its delivery is
recorded (`save_notices`), and `already_delivered` looks for that Message-ID there before a
notice whose outcome is unknown is sent again (it finds it too where the mail server files what
it sends into the sent folder itself).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from adapters.base import Snapshot, external_id
from adapters.email.cache import CacheIndex, MailCache
from adapters.email.imap import ImapClient
from adapters.email.maildir import folder_paths, is_maildir, read_maildir
from adapters.email.parse import parse_mail
from adapters.email.smtp import SmtpSender, build_notice, notice_message_id, notice_outcome
from adapters.email.threads import Roles, States, Thread, assign_threads, build_threads, to_snapshot
from connector.config.sources import EmailSection
from connector.core.errors import PermanentSourceError, SourceError, TransientSourceError
from connector.core.escalation import Action

log = logging.getLogger("sla_connector.email")


class EmailAdapter:
    def __init__(self, section: EmailSection, state_dir: Path | None = None):
        self.section = section
        self.state_dir = state_dir
        self.roles = Roles(
            frozenset(a.lower() for a in section.agent_addresses),
            frozenset(d.lower() for d in section.agent_domains),
            section.sent_folder,
        )
        self.states = States(
            frozenset(section.solved_folders),
            frozenset(k.lower() for k in section.solved_keywords),
            frozenset(k.lower() for k in section.pending_keywords),
        )
        self._warned: set[str] = set()
        self._cache: MailCache | None = None
        self.keywords_supported: bool | None = None  # known once the server was asked
        self.imap_commands = 0
        self._sender: SmtpSender | None = None  # inside delivery(): the cycle's SMTP connection
        self._writer: ImapClient | None = None  # inside delivery(): the cycle's IMAP connection
        self._in_delivery = False
        self._rebuilt = False
        self._unsaved: dict[str, object] = {}  # notices sent, their copies not saved yet

    @property
    def capabilities(self) -> frozenset[str]:
        kinds = {"notify"} if self.section.smtp is not None else set()
        if self.section.imap is not None:
            kinds.add("raise_priority")
            if self.keywords_supported is not False:
                kinds |= {"add_tags", "remove_tags"}
        return frozenset(kinds)

    @property
    def name(self) -> str:
        return self.section.name

    def _mailbox(self):
        path = self.section.maildir
        if not is_maildir(path):
            missing = [name for name in ("cur", "new", "tmp") if not (path / name).is_dir()]
            raise PermanentSourceError(f"{self.name}: {path} is not a Maildir (missing {', '.join(missing)}/)")
        return path

    def check(self) -> str:
        if self.section.imap is not None:
            return self._check_imap()
        path = self._mailbox()
        folders = folder_paths(path)
        count = sum(
            1
            for folder in folders.values()
            for sub in ("cur", "new")
            for entry in (folder / sub).iterdir()
            if not entry.name.startswith(".")
        )
        text = f"maildir {path}: {count} messages in {len(folders)} folders"
        if self.section.smtp is not None:
            text += f"; notices via {self.section.smtp.host}:{self.section.smtp.port}"
        return text

    def _warn(self, text: str) -> None:
        if text not in self._warned:  # a broken mail stays broken: say so once, not every cycle
            self._warned.add(text)
            log.warning("%s: %s", self.name, text)

    def pull(self, since: str | None, overlap: timedelta = timedelta(0)) -> Iterator[Snapshot]:
        if self.section.imap is not None:
            yield from self._pull_imap(since)
            return
        envelopes = read_maildir(self._mailbox(), self.section.folders, self._warn)
        changed = {envelope.key: ctime for envelope, ctime in envelopes}
        threads = build_threads([e for e, _ in envelopes], self.roles, self.section.thread_window)
        after = int(since) - overlap // timedelta(microseconds=1) * 1000 if since else None
        ready = []
        for thread in threads:
            latest = max(changed[e.key] for e in thread.envelopes)
            if after is not None and latest < after:
                continue  # equal is pulled again: file times are coarse, a tie may hide a change
            mapped = to_snapshot(thread, self.name, self.roles, self.states)
            if mapped is not None:
                ready.append((latest, thread.ident, mapped))
        for latest, _, (ticket, messages) in sorted(ready, key=lambda item: item[:2]):
            yield Snapshot(ticket, messages, f"{latest:020d}")  # padded: cursors also sort as text

    def channel(self, action: Action) -> str:
        return "smtp" if action.kind == "notify" else "imap"

    @contextmanager
    def delivery(self) -> Iterator[None]:
        """One cycle's writes over one IMAP and one SMTP connection."""
        self._in_delivery = True
        self._sender = SmtpSender(self.section.smtp) if self.section.smtp is not None else None
        try:
            yield
        finally:
            self._in_delivery = False
            if self._sender is not None:
                self._sender.close()
                self._sender = None
            self._drop_writer()

    def apply(self, action: Action) -> None:
        if action.kind in ("add_tags", "remove_tags", "raise_priority") and self.section.imap is not None:
            self._flag_thread(action)
            return
        if action.kind != "notify" or self.section.smtp is None:
            raise PermanentSourceError(f"{self.name}: cannot {action.kind.replace('_', ' ')} on this mailbox")
        recipients = []
        for who in action.payload["recipients"]:
            recipients += list(self.section.notify_to) if who == "assignee" else [who]
        recipients = list(dict.fromkeys(recipients))
        if not recipients:
            raise PermanentSourceError(
                f"notice {action.key}: nobody to send it to (set escalation.leads or email.notify_to)"
            )
        notice = build_notice(self.section.smtp.sender, action, external_id(action, self.name), recipients)
        sender = self._sender or SmtpSender(self.section.smtp)
        try:
            refused = sender.send(notice, recipients)
        finally:
            if sender is not self._sender:
                sender.close()
        if len(refused) < len(recipients) and self._keeps_copies():
            self._unsaved[action.key] = notice  # saved once the outbox has recorded the delivery
        notice_outcome(action, sender.where, recipients, refused)

    def after_delivery(self, action: Action) -> None:
        """Save the copy of a notice whose delivery is recorded. Not before: the copy takes the
        server a while (an fsync), and the moments between the SMTP server's answer and the
        record are the only ones in which an interruption leaves the outcome unknown."""
        notice = self._unsaved.pop(action.key, None)
        if notice is not None:
            self._save_copy(notice)

    def already_delivered(self, action: Action) -> bool | None:
        """Whether a notice is in the sent folder (None: this mailbox keeps no copies)."""
        folder = self.section.sent_folder
        if action.kind != "notify" or self.section.imap is None or not folder:
            return None
        with self._imap_writer() as client:
            return client.has_message_id(folder, notice_message_id(action))

    def _keeps_copies(self) -> bool:
        return self.section.imap is not None and bool(self.section.sent_folder) and self.section.save_notices

    def _save_copy(self, notice) -> None:
        """The sent folder's copy of a notice the SMTP server took. A failure here must not fail
        the notice, which has gone out."""
        folder = self.section.sent_folder
        try:
            with self._imap_writer() as client:
                client.append(folder, ["\\Seen"], notice.as_bytes())
        except SourceError as exc:
            self._warn(f"cannot save notices into {folder} ({exc}); a notice interrupted in flight may be sent twice")

    @contextmanager
    def _imap_writer(self) -> Iterator[ImapClient]:
        """The delivery's IMAP connection (a dropped one is opened again by the next write), or
        a connection of its own outside a delivery."""
        if not self._in_delivery:
            with ImapClient(self.section.imap) as client:
                yield client
            return
        if self._writer is None:
            self._writer = ImapClient(self.section.imap).__enter__()
        try:
            yield self._writer
        except TransientSourceError:
            self._drop_writer()
            raise

    def _drop_writer(self) -> None:
        if self._writer is not None:
            self._writer.__exit__(None, None, None)
            self._writer = None

    # ---- IMAP ----------------------------------------------------------------------------------

    def cache(self) -> MailCache:
        if self._cache is None:
            path = (self.state_dir or Path(".")) / f"{self.name}-mail-cache.db"
            try:
                self._cache = MailCache(path)
            except sqlite3.DatabaseError as exc:
                # only a copy of the mailbox: set the broken one aside and read the mailbox again
                log.warning(
                    "%s: the mail cache %s is unreadable (%s); rebuilding it from the mailbox", self.name, path, exc
                )
                for suffix in ("", "-wal", "-shm"):
                    broken = Path(f"{path}{suffix}")
                    if broken.exists():
                        broken.replace(f"{path}{suffix}.broken")
                self._cache = MailCache(path)
                self._rebuilt = True
        return self._cache

    def _check_imap(self) -> str:
        imap = self.section.imap
        with ImapClient(imap) as client:
            folders = client.folders()
            missing = [f for f in (self.section.folders or []) if f not in folders]
            if missing:
                raise PermanentSourceError(
                    f"{self.name}: no folder {', '.join(missing)} on {client.where} (it has: {', '.join(folders)})"
                )
            client.select((self.section.folders or ["INBOX"])[0])
            self.keywords_supported = client.supports_keywords
        keywords = "keywords supported" if self.keywords_supported else "no custom keywords: tags will be skipped"
        return f"imap {imap.host}:{imap.port} as {imap.user}: {len(folders)} folders, {keywords}"

    def _pull_imap(self, since: str | None) -> Iterator[Snapshot]:
        """Fetch what is new into the cache, thread only the new messages, and hand over the
        conversations that changed since the cursor: work in proportion to the change."""
        cache = self.cache()
        if self._rebuilt:  # the cursor counted changes of the old cache: everything is new now
            since, self._rebuilt = None, False
        with ImapClient(self.section.imap) as client:
            for folder in self.section.folders or client.folders():
                with cache.atomic():
                    self._sync_folder(client, cache, folder)
            self.imap_commands = client.commands
        with cache.atomic():
            assign_threads(cache.unthreaded(), self.roles, self.section.thread_window, CacheIndex(cache))
        for thread, latest in cache.changed_threads(int(since) if since else 0):
            mapped = to_snapshot(Thread(thread, cache.thread_envelopes(thread)), self.name, self.roles, self.states)
            if mapped is not None:
                yield Snapshot(*mapped, f"{latest:012d}")  # padded: cursors also sort as text

    def _sync_folder(self, client: ImapClient, cache: MailCache, folder: str) -> None:
        uidvalidity, exists = client.select(folder)
        self.keywords_supported = client.supports_keywords
        state = cache.folder_state(folder)
        if state is not None and state["uidvalidity"] != uidvalidity:
            log.warning(
                "%s: folder %s has a new UIDVALIDITY (%s, was %s): reading it again",
                self.name,
                folder,
                uidvalidity,
                state["uidvalidity"],
            )
            cache.forget_folder(folder)
            state = None
        last = state["last_uid"] if state else 0
        new = client.uids_after(last)
        if state is not None:
            if exists != cache.count(folder) + len(new):  # something was expunged or moved away
                cache.forget(folder, client.all_uids())
            changed = client.fetch_flags(last, state["modseq"])
            cache.set_flags(folder, changed)
        fetched = []
        for uid, flags, arrived, header in client.fetch_headers(sorted(new)):
            mail = parse_mail(header, f"{folder}/{uid}", arrived)
            for warning in mail.warnings:
                self._warn(warning)
            fetched.append((uid, flags, arrived, mail))
        cache.put_many(folder, uidvalidity, fetched)
        cache.set_folder_state(folder, uidvalidity, max(new | {last}), client.highest_modseq)

    @property
    def batch_kinds(self) -> frozenset[str]:
        """The writes `apply_many` makes together: keywords and \\Flagged on an IMAP mailbox."""
        return (
            frozenset({"add_tags", "remove_tags", "raise_priority"}) if self.section.imap is not None else frozenset()
        )

    def apply_many(self, actions: list[Action]) -> list[SourceError | None]:
        """Keyword and flag writes of many tickets with one UID STORE per folder and flag set.
        Returns each action's outcome (None: done); a dropped connection raises for all of them,
        and repeating them is harmless (adding a keyword twice leaves one)."""
        outcomes: list[SourceError | None] = [None] * len(actions)
        groups: dict[tuple[str, bool, tuple[str, ...]], tuple[set[int], list[int]]] = {}
        for index, action in enumerate(actions):
            try:
                for folder, uids, add, flags in self._targets(action):
                    group = groups.setdefault((folder, add, tuple(flags)), (set(), []))
                    group[0].update(uids)
                    group[1].append(index)
            except PermanentSourceError as exc:
                outcomes[index] = exc
        with self._imap_writer() as client:
            selected = None
            for (folder, add, flags), (uids, indexes) in sorted(groups.items()):
                if folder != selected:
                    client.select(folder)
                    selected = folder
                if flags != ("\\Flagged",) and not client.supports_keywords:
                    self.keywords_supported = False
                    refused = self._no_keywords(client, folder)
                    for index in indexes:
                        outcomes[index] = refused
                    continue
                try:
                    client.store(sorted(uids), add, list(flags))
                except PermanentSourceError as exc:
                    for index in indexes:
                        outcomes[index] = exc
        return outcomes

    def _targets(self, action: Action) -> list[tuple[str, list[int], bool, list[str]]]:
        """(folder, UIDs, add, flags) that carry out one keyword or flag write."""
        ticket = external_id(action, self.name)
        messages = self.cache().thread_messages(ticket)
        if not messages:
            raise PermanentSourceError(f"{self.name}: ticket {ticket} has no messages in the mailbox any more")
        if action.kind == "raise_priority":
            flags, add = ["\\Flagged"], True
            messages = [m for m in messages if m[2] not in self.roles.agent_addresses] or messages
        else:
            flags, add = [keyword(tag) for tag in action.payload["tags"]], action.kind == "add_tags"
        by_folder: dict[str, list[int]] = {}
        for folder, uid, _ in messages:
            by_folder.setdefault(folder, []).append(uid)
        return [(folder, uids, add, flags) for folder, uids in by_folder.items()]

    def _no_keywords(self, client: ImapClient, folder: str) -> PermanentSourceError:
        return PermanentSourceError(
            f"{self.name}: {client.where} keeps no custom keywords "
            f"(no \\* in PERMANENTFLAGS of {folder}); tags cannot be stored"
        )

    def _flag_thread(self, action: Action) -> None:
        [outcome] = self.apply_many([action])
        if outcome is not None:
            raise outcome


def keyword(tag: str) -> str:
    """A tag as an IMAP keyword: lower-case letters, digits and '_' (sla-warning -> sla_warning),
    at most 50 characters, which every server that keeps keywords accepts."""
    return re.sub(r"[^a-z0-9_]", "_", tag.lower())[:50] or "_"
