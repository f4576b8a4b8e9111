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
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from adapters.base import Snapshot, external_id
from adapters.email.cache import CacheIndex, MailCache
from adapters.email.imap import ImapClient
from adapters.email.maildir import folder_paths, is_maildir, read_maildir
from adapters.email.parse import parse_mail, prefix_pattern
from adapters.email.smtp import send_notice
from adapters.email.threads import Roles, States, Thread, assign_threads, build_threads, to_snapshot
from connector.config.sources import EmailSection
from connector.core.errors import PermanentSourceError
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
        self.prefixes = prefix_pattern(section.reply_prefixes)
        self._warned: set[str] = set()
        self._cache: MailCache | None = None
        self.keywords_supported: bool | None = None  # known once the server was asked
        self.imap_commands = 0

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
        envelopes = read_maildir(self._mailbox(), self.section.folders, self._warn, self.prefixes)
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

    def apply(self, action: Action) -> None:
        if action.kind in ("add_tags", "remove_tags", "raise_priority") and self.section.imap is not None:
            self._flag_thread(action)
            return
        if action.kind != "notify" or self.section.smtp is None:
            raise PermanentSourceError(f"{self.name}: cannot {action.kind.replace('_', ' ')} on this mailbox")
        recipients = []
        for who in action.payload["recipients"]:
            recipients += list(self.section.notify_to) if who == "assignee" else [who]
        send_notice(self.section.smtp, action, external_id(action, self.name), list(dict.fromkeys(recipients)))

    # ---- IMAP ----------------------------------------------------------------------------------

    def cache(self) -> MailCache:
        if self._cache is None:
            self._cache = MailCache((self.state_dir or Path(".")) / f"{self.name}-mail-cache.db")
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
            mail = parse_mail(header, f"{folder}/{uid}", arrived, self.prefixes)
            for warning in mail.warnings:
                self._warn(warning)
            fetched.append((uid, flags, arrived, mail))
        cache.put_many(folder, uidvalidity, fetched)
        cache.set_folder_state(folder, uidvalidity, max(new | {last}), client.highest_modseq)

    def _flag_thread(self, action: Action) -> None:
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
        with ImapClient(self.section.imap) as client:
            for folder, uids in by_folder.items():
                client.select(folder)
                if action.kind != "raise_priority" and not client.supports_keywords:
                    self.keywords_supported = False
                    raise PermanentSourceError(
                        f"{self.name}: {client.where} keeps no custom keywords "
                        f"(no \\* in PERMANENTFLAGS of {folder}); tags cannot be stored"
                    )
                client.store(uids, add, flags)


def keyword(tag: str) -> str:
    """A tag as an IMAP keyword: lower-case letters, digits and '_' (sla-warning -> sla_warning),
    at most 50 characters, which every server that keeps keywords accepts."""
    return re.sub(r"[^a-z0-9_]", "_", tag.lower())[:50] or "_"
