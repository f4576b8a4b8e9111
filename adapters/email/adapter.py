"""The e-mail source: a shared support mailbox as a helpdesk.

Public API: `EmailAdapter(section)` with `check()`, `pull(since, overlap)`, `apply(action)`,
`capabilities`, `name`.

This version reads a local Maildir (read-only: tags and priority cannot be written back, so those
actions are recorded as skipped) and sends escalation notices through SMTP when `[email.smtp]` is
configured. The cursor is the latest change time (ctime) of a thread's files: a new message, a
flag change or a move to another folder all renew it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from adapters.base import Snapshot, external_id
from adapters.email.maildir import folder_paths, is_maildir, read_maildir
from adapters.email.smtp import send_notice
from adapters.email.threads import Roles, States, build_threads, to_snapshot
from connector.config_sections import EmailSection
from connector.errors import PermanentSourceError
from connector.escalation import Action

log = logging.getLogger("sla_connector.email")


class EmailAdapter:
    def __init__(self, section: EmailSection):
        self.section = section
        self.roles = Roles(frozenset(a.lower() for a in section.agent_addresses),
                           frozenset(d.lower() for d in section.agent_domains), section.sent_folder)
        self.states = States(frozenset(section.solved_folders), frozenset(k.lower() for k in section.solved_keywords),
                             frozenset(k.lower() for k in section.pending_keywords))
        self.capabilities = frozenset({"notify"} if section.smtp is not None else set())
        self._warned: set[str] = set()

    @property
    def name(self) -> str:
        return self.section.name

    def _mailbox(self):
        if self.section.maildir is None:
            raise PermanentSourceError(f"{self.name}: IMAP mailboxes are not supported by this version yet; "
                                       "point maildir at a local Maildir")
        path = self.section.maildir
        if not is_maildir(path):
            missing = [name for name in ("cur", "new", "tmp") if not (path / name).is_dir()]
            raise PermanentSourceError(f"{self.name}: {path} is not a Maildir (missing {', '.join(missing)}/)")
        return path

    def check(self) -> str:
        path = self._mailbox()
        folders = folder_paths(path)
        count = sum(1 for folder in folders.values() for sub in ("cur", "new")
                    for entry in (folder / sub).iterdir() if not entry.name.startswith("."))
        text = f"maildir {path}: {count} messages in {len(folders)} folders"
        if self.section.smtp is not None:
            text += f"; notices via {self.section.smtp.host}:{self.section.smtp.port}"
        return text

    def _warn(self, text: str) -> None:
        if text not in self._warned:  # a broken mail stays broken: say so once, not every cycle
            self._warned.add(text)
            log.warning("%s: %s", self.name, text)

    def pull(self, since: str | None, overlap: timedelta = timedelta(0)) -> Iterator[Snapshot]:
        envelopes = read_maildir(self._mailbox(), self.section.folders, self._warn)
        changed = {envelope.key: ctime for envelope, ctime in envelopes}
        threads = build_threads([e for e, _ in envelopes], self.roles, self.section.thread_window)
        after = float(since) - overlap.total_seconds() if since else None
        ready = []
        for thread in threads:
            latest = max(changed[e.key] for e in thread.envelopes)
            if after is not None and latest < after:
                continue  # equal is pulled again: file times are coarse, a tie may hide a change
            mapped = to_snapshot(thread, self.name, self.roles, self.states)
            if mapped is not None:
                ready.append((latest, thread.ident, mapped))
        for latest, _, (ticket, messages) in sorted(ready, key=lambda item: item[:2]):
            yield Snapshot(ticket, messages, f"{latest:.6f}")

    def apply(self, action: Action) -> None:
        if action.kind != "notify" or self.section.smtp is None:
            raise PermanentSourceError(f"{self.name}: cannot {action.kind.replace('_', ' ')} on a mailbox")
        recipients = []
        for who in action.payload["recipients"]:
            recipients += list(self.section.notify_to) if who == "assignee" else [who]
        send_notice(self.section.smtp, action, external_id(action, self.name), list(dict.fromkeys(recipients)))
