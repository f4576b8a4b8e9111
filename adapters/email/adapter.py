"""The e-mail source: a shared support mailbox as a helpdesk.

Public API: `EmailAdapter(section, state_dir, clock)` with `check()`, `pull(since, overlap)`,
`apply(action)`, `capabilities`, `name`, `imap_commands` (sent by the last pull), `maildir_read`
(files listed, read, renamed, gone by the last pull).

Two kinds of mailbox, one logic: the mailbox is read into a cache of the adapter's own
(`<state_dir>/<source>-mail-cache.db`), new messages are threaded against it, and a cycle hands
over the conversations that changed since the cursor, the cache's change counter.
- IMAP: per folder, UIDs above the highest seen (a changed UIDVALIDITY means a full re-read of
  that folder) and the flags changed since the stored MODSEQ (CONDSTORE). Tags are written as
  IMAP keywords on the conversation's messages, a raised priority as \\Flagged.
- A local Maildir, read-only (tags and priority cannot be written back; those actions are
  recorded as skipped): only files whose unique name is new are read; a rename (flags, or a move
  to another folder) updates what the cache holds.
Each conversation's status history (solved, pending, reopened) is kept in the cache with the time
the mailbox gives for it, so a solve is dated when it happened, not by the conversation's last mail.
Escalation notices go out by SMTP when `[email.smtp]` is configured.

Delivery: the keyword writes (channel "imap") and the notices (channel "smtp") are separate
channels, so a refused SMTP password holds only the notices. Inside `delivery()` (one cycle's
writes) one IMAP and one SMTP connection serve every write. With an IMAP mailbox and a sent
folder, each notice is saved there (with its stable Message-ID) once its delivery is recorded
(`save_notices`), `COPY_BATCH` to one APPEND on a third connection that is not waited for, and
`already_delivered` looks for that Message-ID there before a notice whose outcome is unknown is
sent again (what it can find is the mail server's own copy, where it files what it sends into
the sent folder itself: ours are saved only after the record).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.base import Snapshot, external_id
from adapters.email.cache import CacheIndex, MailCache
from adapters.email.imap import ImapClient
from adapters.email.maildir import folder_paths, is_maildir, scan_maildir
from adapters.email.parse import parse_mail, prefix_pattern
from adapters.email.smtp import SmtpSender, build_notice, notice_message_id, notice_outcome
from adapters.email.threads import Roles, States, Thread, assign_threads, thread_status, to_snapshot
from connector.config.sources import EmailSection
from connector.core.errors import PermanentSourceError, SourceError, TransientSourceError
from connector.core.escalation import Action
from connector.core.model import Status, StatusChange

_CURSOR_DIGITS = 12
COPY_BATCH = 100  # notices' copies saved into the sent folder by one APPEND

log = logging.getLogger("sla_connector.email")


class EmailAdapter:
    def __init__(
        self, section: EmailSection, state_dir: Path | None = None, clock: Callable[[], datetime] | None = None
    ):
        self.section = section
        self.clock = clock or (lambda: datetime.now(UTC))  # when a cycle saw a change the mailbox cannot date
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
        self.prefixes = prefix_pattern(section.reply_prefixes)
        self._warned: set[str] = set()
        self._problem_mails: set[str] = set()
        self._cache: MailCache | None = None
        self.keywords_supported: bool | None = None  # known once the server was asked
        self.imap_commands = 0
        self._sender: SmtpSender | None = None  # inside delivery(): the cycle's SMTP connection
        self._writer: ImapClient | None = None  # inside delivery(): the cycle's IMAP connection
        self._in_delivery = False
        self._rebuilt = False
        self._unsaved: dict[str, bytes] = {}  # notices sent, their delivery not recorded yet
        self._copies: list[bytes] = []  # copies of recorded notices, waiting for the next APPEND
        self._copier: ImapClient | None = None  # inside delivery(): the connection that saves copies
        self._copying: tuple[str, list[bytes]] | None = None  # the APPEND the server is working on
        self.maildir_read = (0, 0, 0, 0)  # files listed, read, renamed, gone in the last pull

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
            self._problem_mails.add(text.partition(": ")[0])  # each warning begins with folder/UID
            log.warning("%s: %s", self.name, text)

    @property
    def mail_problems(self) -> int:
        """How many mails the last pull warned about (bad mail, logged with folder and UID)."""
        return len(self._problem_mails)

    def pull(self, since: str | None, overlap: timedelta = timedelta(0)) -> Iterator[Snapshot]:
        """The conversations changed since the cursor (the cache's change counter; the mailbox is
        read into the cache first, in proportion to what changed in it)."""
        cache = self.cache()
        if self._rebuilt:  # the cursor counted changes of the old cache: everything is new now
            since, self._rebuilt = None, False
        start = cache.seq()
        self._problem_mails = set()
        if self.section.imap is not None:
            self._read_imap(cache)
        else:
            self._read_maildir(cache)
        # a cursor of an older version (a Maildir's file time, 20 digits) hands everything over once
        after = int(since) if since and len(since) == _CURSOR_DIGITS else 0
        with cache.atomic():
            assign_threads(cache.unthreaded(), self.roles, self.section.thread_window, CacheIndex(cache))
            self._track_status(cache, cache.threads_changed_after(start))
            changed = cache.changed_threads(after)
            numbers = {thread: cache.number(thread) for thread, _ in changed}  # written before anyone sees them
        for thread, latest in changed:
            envelopes = cache.thread_envelopes(thread)
            mapped = to_snapshot(
                Thread(thread, envelopes),
                self.name,
                self.roles,
                self.states,
                cache.status_log(thread),
                numbers[thread],
            )
            if mapped is not None:
                yield Snapshot(*mapped, f"{latest:0{_CURSOR_DIGITS}d}")  # padded: cursors also sort as text

    def _track_status(self, cache: MailCache, threads: list[str]) -> None:
        """Record each changed conversation's status change with the best evidence of its time:
        what the mailbox says (SAVEDATE, a rename's time, a reopening mail), else this cycle's time;
        never before the previous cycle, which saw the old status, nor after now. On the first read
        of a mailbox nothing tells, and the time is an estimate (the latest mail), marked so."""
        now = self.clock()
        previous = cache.last_cycle()
        for thread in threads:
            envelopes = cache.thread_envelopes(thread)
            status, raw, evidence = thread_status(Thread(thread, envelopes), self.roles, self.states)
            log_ = cache.status_log(thread)
            last = log_[-1] if log_ else None
            if (last.status if last else Status.OPEN) is status:
                continue
            estimated = False
            if previous is None and (evidence is None or status is Status.OPEN):
                at, estimated = max(e.mail.date for e in envelopes), True
            else:
                at = evidence if evidence is not None else now
                if previous is not None and at < previous:
                    at = previous
            at = min(at, now)
            if last is not None and at < last.at:
                at = last.at
            cache.log_status(thread, StatusChange(at, status, raw, len(log_) + 1, estimated))
        cache.set_last_cycle(now)

    def _read_maildir(self, cache: MailCache) -> None:
        changes = scan_maildir(
            self._mailbox(),
            self.section.folders,
            cache.maildir_files(),
            cache.maildir_file,
            self._warn,
            self.prefixes,
            trust_ctime=cache.last_cycle() is not None,
        )
        with cache.atomic():
            cache.put_files(changes.new)
            for name, folder, info, flags, entered in changes.renamed:
                cache.move_file(name, folder, info, flags, entered)
            cache.drop_files(changes.gone)
        self.maildir_read = (changes.listed, len(changes.new), len(changes.renamed), len(changes.gone))

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
            try:
                self._flush_copies(wait=True)
            finally:
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
        with self.cache().atomic():
            ticket = str(self.cache().number(external_id(action, self.name)))  # [#1042] in the subject
        notice = build_notice(self.section.smtp.sender, action, ticket, recipients)
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
        """Save the copy of a notice whose delivery is recorded. Not before: the moments between
        the SMTP server's answer and the record are the only ones in which an interruption leaves
        the outcome unknown, and nothing may lengthen them. Inside a delivery the copies go
        together, `COPY_BATCH` to one APPEND on a connection of their own, which the server works
        through while the notices go on (a copy lost to a kill is only a copy: the notice's
        delivery is recorded)."""
        notice = self._unsaved.pop(action.key, None)
        if notice is None:
            return
        self._copies.append(notice)
        if not self._in_delivery or len(self._copies) >= COPY_BATCH:
            self._flush_copies(wait=not self._in_delivery)

    def already_delivered(self, action: Action) -> bool | None:
        """Whether a notice is in the sent folder (None: this mailbox keeps no copies)."""
        folder = self.section.sent_folder
        if action.kind != "notify" or self.section.imap is None or not folder:
            return None
        with self._imap_writer() as client:
            return client.has_message_id(folder, notice_message_id(action))

    def _keeps_copies(self) -> bool:
        return self.section.imap is not None and bool(self.section.sent_folder) and self.section.save_notices

    def _flush_copies(self, wait: bool) -> None:
        """Collect the answer to the APPEND in flight, then send the waiting copies in one more
        (and, with `wait`, collect its answer too and close the connection). A failure must not
        fail the notices, which have gone out: it is a warning, once."""
        folder = self.section.sent_folder
        batch, self._copies = self._copies, []
        try:
            if self._copier is None and (batch or self._copying):
                self._copier = ImapClient(self.section.imap).__enter__()
            self._finish_copies(folder)
            if batch:
                tag = self._copier.append_start(folder, [(["\\Seen"], raw) for raw in batch])
                self._copying = (tag, batch) if tag is not None else None
            if wait:
                self._finish_copies(folder)
        except SourceError as exc:
            self._copying = None
            self._drop_copier()
            self._warn(f"cannot save copies of notices into {folder} ({exc}); the notices went out, without copies")
        if wait:
            self._drop_copier()

    def _finish_copies(self, folder: str) -> None:
        """The answer to the APPEND in flight; refused (most likely the folder is missing), the
        copies are saved again by an APPEND that creates the folder first."""
        if self._copying is None:
            return
        (tag, batch), self._copying = self._copying, None
        try:
            self._copier.append_finish(tag, folder)
        except PermanentSourceError:
            self._copier.append(folder, ["\\Seen"], batch[0])  # creates the folder when it is missing
            rest = self._copier.append_start(folder, [(["\\Seen"], raw) for raw in batch[1:]])
            self._copier.append_finish(rest, folder)

    def _drop_copier(self) -> None:
        if self._copier is not None:
            self._copier.__exit__(None, None, None)
            self._copier = None

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
            if self.state_dir is None:  # nowhere to keep it: a cache for this process only
                self._cache = MailCache(None)
                return self._cache
            path = self.state_dir / f"{self.name}-mail-cache.db"
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

    def _read_imap(self, cache: MailCache) -> None:
        with ImapClient(self.section.imap) as client:
            for folder in self.section.folders or client.folders():
                with cache.atomic():
                    self._sync_folder(client, cache, folder)
            self.imap_commands = client.commands

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
        for uid, flags, arrived, header, saved in client.fetch_headers(sorted(new)):
            mail = parse_mail(header, f"{folder}/{uid}", arrived, self.prefixes)
            for warning in mail.warnings:
                self._warn(warning)
            fetched.append((uid, flags, arrived, mail, saved))
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
