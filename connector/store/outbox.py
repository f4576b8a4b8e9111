"""The durable outbox: every write to a helpdesk is stored here, with its idempotency key, in the
same transaction as the event that asked for it, and delivered from here.

Public API: `Outbox(store)` with `add`, `queued`, `list`, `retry`, `drop`, `depth`; and
`deliver(outbox, adapter, now, ...)`.

States: queued (waiting for delivery), delivered, parked (the host refused it for good; an
operator may `retry` it), skipped (the host cannot do this kind of action), dropped (an operator
gave it up). A key is stored once, ever, so no action is planned twice; an action is marked
delivered only after the host accepted it, so a crash in between repeats the call, and adapters
make that repeat harmless. Transient failures are retried within the cycle (backoff with
jitter, honouring Retry-After) up to `ATTEMPTS_PER_CYCLE`, then left queued for the next cycle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from connector.core.errors import AuthFailed, PermanentSourceError, TransientSourceError
from connector.core.escalation import Action
from connector.store.codec import iso
from connector.store.database import Store

log = logging.getLogger("sla_connector.outbox")

ATTEMPTS_PER_CYCLE = 4
MAX_RETRY_AFTER = 300.0
STATES = ("queued", "delivered", "parked", "skipped", "dropped")

_backoff = wait_exponential_jitter(initial=1, max=60, jitter=1)


def wait_for_host(state: RetryCallState) -> float:
    """The host's Retry-After when it gave one (capped), else exponential backoff with jitter."""
    error = state.outcome.exception() if state.outcome else None
    retry_after = getattr(error, "retry_after", None)
    return min(float(retry_after), MAX_RETRY_AFTER) if retry_after is not None else _backoff(state)


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    parked: int = 0
    would_write: list[Action] = field(default_factory=list)


class Outbox:
    def __init__(self, store: Store):
        self.db = store.db

    def add(self, source: str, ticket_id: int, actions: Iterable[Action], now: datetime) -> int:
        """Queue actions; a key seen before is ignored. Returns how many were new."""
        added = 0
        for action in actions:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO outbox (key, source, ticket_id, event_key, kind, payload, state, attempts, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?)",
                [
                    action.key,
                    source,
                    ticket_id,
                    action.event_key,
                    action.kind,
                    json.dumps({"ticket_key": action.ticket_key, **action.payload}),
                    iso(now),
                    iso(now),
                ],
            )
            added += cursor.rowcount
        return added

    def queued(self, source: str) -> list[tuple[int, Action]]:
        rows = self.db.execute(
            "SELECT id, key, event_key, kind, payload FROM outbox WHERE source = ? AND state = 'queued' ORDER BY id",
            [source],
        ).fetchall()
        return [(row[0], _action(row[1], row[2], row[3], row[4])) for row in rows]

    def mark(self, entry_id: int, state: str, now: datetime, error: str | None = None, attempts: int = 0) -> None:
        with self.db.atomic():
            self.db.execute(
                "UPDATE outbox SET state = ?, last_error = ?, attempts = attempts + ?, updated_at = ?, "
                "delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END WHERE id = ?",
                [state, error, attempts, iso(now), state, iso(now), entry_id],
            )

    def list(self, states: Iterable[str] | None = None, source: str | None = None) -> list[dict[str, Any]]:
        clauses, params = [], []
        if states:
            states = list(states)
            clauses.append(f"state IN ({', '.join('?' for _ in states)})")
            params += states
        if source:
            clauses.append("source = ?")
            params.append(source)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return list(self.db.query(f"SELECT * FROM outbox {where} ORDER BY id", params))

    def retry(self, entry_id: int, now: datetime) -> bool:
        """Queue a parked, skipped or dropped action again."""
        return self._move(entry_id, "queued", ("parked", "skipped", "dropped"), now)

    def drop(self, entry_id: int, now: datetime) -> bool:
        """Give up an action that was not delivered."""
        return self._move(entry_id, "dropped", ("queued", "parked", "skipped"), now)

    def _move(self, entry_id: int, state: str, allowed: tuple[str, ...], now: datetime) -> bool:
        """An operator's state change; False when the entry is missing or not in an allowed state."""
        with self.db.atomic():
            cursor = self.db.execute(
                f"UPDATE outbox SET state = ?, updated_at = ? WHERE id = ? AND state IN ({', '.join('?' for _ in allowed)})",
                [state, iso(now), entry_id, *allowed],
            )
        return cursor.rowcount == 1

    def depth(self, source: str) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT state, COUNT(*) FROM outbox WHERE source = ? GROUP BY state", [source]
        ).fetchall()
        return {state: count for state, count in rows}


def _action(key: str, event_key: str, kind: str, payload: str) -> Action:
    data = json.loads(payload)
    ticket_key = data.pop("ticket_key")
    return Action(key, event_key, ticket_key, kind, data)


def deliver(
    outbox: Outbox,
    adapter: Any,
    now: datetime,
    dry_run: bool = False,
    sleep: Callable[[float], None] | None = None,
    attempts: int = ATTEMPTS_PER_CYCLE,
) -> DeliveryReport:
    """Deliver the source's queued actions, oldest first, each on its own."""
    report = DeliveryReport()
    retrying = Retrying(
        retry=retry_if_exception_type(TransientSourceError),
        wait=wait_for_host,
        stop=stop_after_attempt(attempts),
        reraise=True,
        **({"sleep": sleep} if sleep else {}),
    )
    for entry_id, action in outbox.queued(adapter.name):
        if dry_run:
            report.would_write.append(action)
            continue
        if action.kind not in adapter.capabilities:
            outbox.mark(entry_id, "skipped", now, f"{adapter.name} cannot {action.kind.replace('_', ' ')}")
            report.skipped += 1
            continue
        tries = 0

        def attempt() -> None:
            nonlocal tries
            tries += 1
            adapter.apply(action)

        try:
            retrying(attempt)
        except TransientSourceError as exc:
            outbox.mark(entry_id, "queued", now, str(exc), attempts=tries)
            report.failed += 1
            log.warning("%s: action %s stays queued after %d attempts: %s", adapter.name, action.key, tries, exc)
        except AuthFailed:
            outbox.mark(entry_id, "queued", now, "credentials refused", attempts=tries)
            report.failed += 1
            raise
        except PermanentSourceError as exc:
            outbox.mark(entry_id, "parked", now, str(exc), attempts=tries)
            report.parked += 1
            log.error("%s: action %s parked: %s", adapter.name, action.key, exc)
        else:
            outbox.mark(entry_id, "delivered", now, attempts=tries)
            report.delivered += 1
    return report
