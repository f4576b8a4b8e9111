"""Grouping a mailbox's messages into conversations (tickets), and mapping them into the model.

Public API: `Envelope`, `Thread`, `Roles`, `States`, `ThreadIndex`, `MemoryIndex`,
`assign_threads(envelopes, roles, window, index)`, `build_threads(envelopes, roles, window)`,
`thread_status(thread, roles, states)`, `to_snapshot(thread, source, roles, states, history)`.

Threading order: a known Message-ID in In-Reply-To or References; then a `[#id]` token in the
subject; then the same base subject (reply and forward prefixes stripped) with the same customer
within `window`. Otherwise the message starts a new thread, whose id is derived from its
Message-ID, so it is stable from one cycle to the next.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from adapters.email.parse import Mail
from connector.core.model import Channel, Message, Person, Priority, Role, Status, StatusChange, Ticket


@dataclass(frozen=True)
class Envelope:
    """One message as the mailbox holds it."""

    key: str  # unique in the mailbox: folder and UID (IMAP) or file name (Maildir)
    folder: str
    flags: frozenset[str]  # system flags (\\Flagged) and keywords, keywords lower-cased
    arrived: datetime
    mail: Mail
    saved: datetime | None = None  # when it entered its folder, where the mailbox tells (SAVEDATE, a rename)


@dataclass
class Thread:
    ident: str
    envelopes: list[Envelope] = field(default_factory=list)


class ThreadIndex(Protocol):
    """What threading needs to know of the conversations seen so far."""

    def thread_of(self, message_id: str) -> str | None: ...

    def exists(self, thread: str) -> bool: ...

    def thread_of_token(self, token: str) -> str | None:
        """The conversation a subject's `[#...]` token names, if any."""

    def by_subject(self, base_subject: str, counterpart: str) -> tuple[str, datetime] | None:
        """The conversation last seen with this subject and customer, and its latest message's time."""

    def record(self, envelope: Envelope, thread: str | None, counterpart: str) -> None: ...


class MemoryIndex:
    """A thread index for one pass over a whole mailbox."""

    def __init__(self):
        self.threads: dict[str, Thread] = {}
        self._by_message_id: dict[str, str] = {}
        self._by_subject: dict[tuple[str, str], str] = {}
        self._last: dict[str, datetime] = {}

    def thread_of(self, message_id: str) -> str | None:
        return self._by_message_id.get(message_id)

    def exists(self, thread: str) -> bool:
        return thread in self.threads

    def thread_of_token(self, token: str) -> str | None:
        return token if token in self.threads else None

    def by_subject(self, base_subject: str, counterpart: str) -> tuple[str, datetime] | None:
        thread = self._by_subject.get((base_subject, counterpart))
        return (thread, self._last[thread]) if thread else None

    def record(self, envelope: Envelope, thread: str | None, counterpart: str) -> None:
        if thread is None:
            return
        self.threads.setdefault(thread, Thread(thread)).envelopes.append(envelope)
        self._last[thread] = envelope.mail.date
        self._by_message_id[envelope.mail.message_id] = thread
        if envelope.mail.base_subject and counterpart:
            self._by_subject[(envelope.mail.base_subject, counterpart)] = thread


@dataclass(frozen=True)
class Roles:
    agent_addresses: frozenset[str]
    agent_domains: frozenset[str]
    sent_folder: str | None

    def is_agent(self, envelope: Envelope) -> bool:
        sender = envelope.mail.from_addr
        return (
            envelope.folder == self.sent_folder
            or sender in self.agent_addresses
            or sender.rpartition("@")[2] in self.agent_domains
        )


@dataclass(frozen=True)
class States:
    """Which folders and keywords mean solved or pending."""

    solved_folders: frozenset[str]
    solved_keywords: frozenset[str]
    pending_keywords: frozenset[str]


def thread_id(message_id: str) -> str:
    return "m" + hashlib.sha1(message_id.encode("utf-8", "replace")).hexdigest()[:10]


def assign_threads(envelopes: Iterable[Envelope], roles: Roles, window: timedelta, index: ThreadIndex) -> None:
    """Put each message into a conversation, oldest first, recording the choice in `index`.
    A second copy of a message already seen (a reply kept in Sent and in the inbox) is recorded
    with no conversation: the first copy counts."""
    for envelope in sorted(envelopes, key=lambda e: (e.mail.date, e.key)):
        mail = envelope.mail
        agent = roles.is_agent(envelope)
        counterpart = (mail.to_addrs[0] if mail.to_addrs else "") if agent else mail.from_addr
        if index.thread_of(mail.message_id) is not None:
            index.record(envelope, None, counterpart)
            continue
        found = next((t for t in map(index.thread_of, mail.in_reply_to + mail.references[::-1]) if t), None)
        if found is None and mail.token:
            found = index.thread_of_token(mail.token)
        if found is None and mail.base_subject:
            candidate = index.by_subject(mail.base_subject, counterpart)
            if candidate is not None and mail.date - candidate[1] <= window:
                found = candidate[0]
        index.record(envelope, found or thread_id(mail.message_id), counterpart)


def build_threads(envelopes: list[Envelope], roles: Roles, window: timedelta) -> list[Thread]:
    """All conversations of a whole mailbox, read in one pass."""
    index = MemoryIndex()
    assign_threads(envelopes, roles, window, index)
    return list(index.threads.values())


def _human_customers(thread: Thread, roles: Roles) -> list[Envelope]:
    return [e for e in thread.envelopes if not roles.is_agent(e) and e.mail.auto is None and not e.mail.own_key]


def thread_status(thread: Thread, roles: Roles, states: States) -> tuple[Status, str, datetime | None]:
    """The conversation's status now, as the host names it, and when the mailbox says it entered
    it (a move's SAVEDATE or rename time, a reopening mail's arrival; None: the mailbox cannot
    tell, as for a keyword set in a mail client)."""
    human = _human_customers(thread, roles)
    if not human:
        return Status.OPEN, Status.OPEN.value, None
    last = human[-1]
    flags = frozenset().union(*(e.flags for e in thread.envelopes))
    # moving a conversation to a "Done" folder moves the customer's mails; the replies stay in Sent
    if last.folder in states.solved_folders:
        return Status.SOLVED, last.folder, last.saved
    if flags & states.solved_keywords:
        return Status.SOLVED, sorted(flags & states.solved_keywords)[0], None
    if flags & states.pending_keywords:
        return Status.PENDING, Status.PENDING.value, None
    return Status.OPEN, Status.OPEN.value, last.saved or last.arrived


def to_snapshot(
    thread: Thread,
    source: str,
    roles: Roles,
    states: States,
    history: list[StatusChange] | None = None,
    number: int | None = None,
) -> tuple[Ticket, tuple[Message, ...]] | None:
    """The thread as a ticket; None while no customer has written in it. `history` is the
    conversation's status changes as the adapter saw them; without it the solve time is an
    estimate, the latest message's time. `number` is its short number for people."""
    human_customers = _human_customers(thread, roles)
    if not human_customers:
        return None
    first = thread.envelopes[0]
    opener = human_customers[0]
    flags = frozenset().union(*(e.flags for e in thread.envelopes))
    latest = thread.envelopes[-1]
    status, raw, _ = thread_status(thread, roles, states)
    if history is None:
        changes: tuple[StatusChange, ...] = ()
        closed_at = latest.mail.date if status is Status.SOLVED else None
    else:
        changes = (StatusChange(first.mail.date, Status.OPEN, Status.OPEN.value, 0), *history)
        done = [c for c in changes if c.status.is_done]
        closed_at = done[-1].at if status.is_done and done else None
    important = "\\flagged" in flags or any(e.mail.important for e in human_customers)
    messages = tuple(
        Message(
            e.mail.message_id,
            e.mail.date,
            Role.AGENT if roles.is_agent(e) else Role.CUSTOMER,
            public=True,
            channel=Channel.EMAIL,
            auto_generated=e.mail.auto is not None,
            own=e.mail.own_key is not None,
        )
        for e in thread.envelopes
    )
    ticket = Ticket(
        source=source,
        external_id=thread.ident,
        number=str(number) if number is not None else thread.ident,
        title=opener.mail.subject,
        channel=Channel.EMAIL,
        created_at=first.mail.date,
        updated_at=latest.mail.date,
        status=status,
        raw_status=raw,
        status_history=changes,
        priority=Priority(3 if important else 2, "high" if important else "normal"),
        requester=Person(opener.mail.from_name or None, opener.mail.from_addr),
        organization=None,
        tags=frozenset(f for f in flags if not f.startswith("\\")),
        closed_at=closed_at,
    )
    return ticket, messages
