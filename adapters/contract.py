"""What every adapter must do, as checks that name what is wrong (the tests in
tests/adapters/contract.py run them against each adapter on a real host).

Public API: `CLAUSES` (the contract in words), `snapshot_problems(snapshot, source)`,
`cursor_problems(since, cursors)`, `unsupported_problem(kind, error)`.

The clauses:
    cursor      cursors sort as text; within one pull they never go back, and none is before the
                `since` the pull was given (a pull may repeat tickets from its overlap).
    complete    every snapshot is a whole ticket: its source is the adapter's name, it has an
                external id, at least one message, message ids unique, messages not before the
                ticket was created, aware times everywhere.
    visible     a pull after a successful `apply` shows the change (tags, priority, a note).
    idempotent  `apply` of the same action twice leaves the host as one `apply` did.
    unsupported an action kind outside `capabilities` raises `PermanentSourceError` naming it.
    named       a ticket the host serves malformed is skipped with a warning naming its id (or
                number, or the message's place), and the pull goes on with the rest; an action
                for a ticket the host does not have raises an error naming that ticket.
"""

from __future__ import annotations

from collections.abc import Iterable

from adapters.base import Snapshot
from connector.core.errors import PermanentSourceError

CLAUSES = {
    "cursor": "cursors sort as text and never go back within a pull, nor before its `since`",
    "complete": "a snapshot holds a whole ticket of this source with all its messages",
    "visible": "a pull after apply shows the change",
    "idempotent": "apply twice leaves the host as apply once",
    "unsupported": "an action kind outside capabilities is refused by name",
    "named": "a malformed ticket or an unknown ticket is named, and the rest goes on",
}


def snapshot_problems(snapshot: Snapshot, source: str) -> list[str]:
    """What makes this snapshot incomplete; empty when it keeps the `complete` clause."""
    ticket, problems = snapshot.ticket, []
    where = f"snapshot {ticket.key}"
    if ticket.source != source:
        problems.append(f"{where}: source {ticket.source!r}, expected {source!r}")
    if not ticket.external_id:
        problems.append(f"{where}: no external id")
    if not snapshot.messages:
        problems.append(f"{where}: no messages")
    if not isinstance(snapshot.cursor, str) or not snapshot.cursor:
        problems.append(f"{where}: no cursor")
    for name in ("created_at", "updated_at"):
        if getattr(ticket, name).tzinfo is None:
            problems.append(f"{where}: {name} has no time zone")
    ids = [message.external_id for message in snapshot.messages]
    if len(set(ids)) != len(ids):
        problems.append(f"{where}: message ids repeat")
    for message in snapshot.messages:
        if message.at.tzinfo is None:
            problems.append(f"{where}: message {message.external_id} has no time zone")
        elif ticket.created_at.tzinfo is not None and message.at < ticket.created_at:
            problems.append(f"{where}: message {message.external_id} is older than the ticket")
    return problems


def cursor_problems(since: str | None, cursors: Iterable[str]) -> list[str]:
    """Where a pull's cursors go back; empty when they keep the `cursor` clause."""
    problems, previous = [], since
    for index, cursor in enumerate(cursors):
        if previous is not None and cursor < previous:
            problems.append(f"cursor {index} ({cursor!r}) is before {previous!r}")
        previous = cursor if previous is None or cursor > previous else previous
    return problems


def unsupported_problem(kind: str, error: BaseException | None) -> str | None:
    """Whether refusing an unsupported action kind kept the `unsupported` clause."""
    if error is None:
        return f"{kind}: not in capabilities, yet apply accepted it"
    if not isinstance(error, PermanentSourceError):
        return f"{kind}: refused with {type(error).__name__}, expected PermanentSourceError"
    text = str(error).lower()
    if kind not in text and kind.replace("_", " ") not in text:
        return f"{kind}: the refusal does not name the action ({error})"
    return None
