"""The contract every helpdesk adapter fulfils. Nothing here knows about SLAs.

Glossary
    source      one configured helpdesk (an `[email]`, `[zammad]` or `[osticket]` section), by name.
    ticket key  `source:external_id`, unique across sources; the external id is the host's own.
    snapshot    one ticket as the host shows it now, with all its messages, mapped into
                `connector.core.model`, plus the cursor to store once the snapshot is committed.
    cursor      an opaque text the adapter understands: how far it has read (an update time and id,
                an IMAP UIDVALIDITY and UID, ...). `pull(None)` reads everything.
    action      one write to the host (`connector.core.escalation.Action`): add or remove tags, raise
                the priority, add an internal note, send a notice. It carries an idempotency key.

Adapter methods
    check()            reach the host and verify permissions; return a one-line description, or raise.
    pull(since, overlap)  snapshots changed since the cursor (re-reading `overlap` before it where
                       the cursor is a time), streamed in a stable order, each with its cursor.
    apply(action)      carry out one action; safe to call again with the same action (a tag already
                       present is success; a note or notice whose key the host already has is not
                       written twice where the host lets us look).
    capabilities       the action kinds the host supports; the rest are recorded as skipped.

Errors (see `connector.core.errors`): `TransientSourceError` for timeouts, connection errors, 429
and 5xx (carrying Retry-After when given), `AuthFailed`, `PermanentSourceError` for other
refusals. Adapters translate their library's errors into these in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from connector.config.sources import SourceSection
from connector.core.escalation import Action
from connector.core.model import Message, Ticket

ACTION_KINDS = frozenset({"add_tags", "remove_tags", "raise_priority", "add_note", "notify"})


@dataclass(frozen=True)
class Snapshot:
    ticket: Ticket
    messages: tuple[Message, ...]
    cursor: str


class Adapter(Protocol):
    section: SourceSection
    capabilities: frozenset[str]

    @property
    def name(self) -> str: ...

    def check(self) -> str: ...

    def pull(self, since: str | None, overlap: timedelta = timedelta(0)) -> Iterator[Snapshot]: ...

    def apply(self, action: Action) -> None: ...


def external_id(action: Action, source: str) -> str:
    """The host's own ticket id from an action's ticket key."""
    prefix = f"{source}:"
    if not action.ticket_key.startswith(prefix):
        raise ValueError(f"action {action.key} is for ticket {action.ticket_key}, not a ticket of {source}")
    return action.ticket_key[len(prefix) :]
