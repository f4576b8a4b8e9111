"""The durable outbox: every write to a helpdesk is stored here, with its idempotency key, in the
same transaction as the event that asked for it, and delivered from here.

Public API: `Outbox(store)` with `add`, `queued`, `list`, `retry`, `drop`, `depth`; and
`deliver(outbox, adapter, now, ...)`.

States: queued (waiting for delivery), sending (a write the host cannot recognise as a repeat,
a notice, was handed to it and its outcome is not recorded yet), delivered, parked (the host
refused it for good; an operator may `retry` it), skipped (the host cannot do this kind of
action), dropped (an operator gave it up). A key is stored once, ever, so no action is planned
twice; an action is marked delivered as soon as the host accepted it, so a crash in between
repeats the call, and adapters make that repeat harmless where the host lets them look.

Delivery (`deliver`):
- Order: a ticket's writes go out in the order they were planned. When one of them has to wait
  (a transient failure), the ticket's later writes over the same channel wait with it, so the
  host ends in the state a fault-free run gives.
- Channels: an adapter may deliver over more than one (a mailbox: IMAP for keywords, SMTP for
  notices; `adapter.channel(action)`). A channel that fails does not hold the others.
- Retries: transient failures are retried within the cycle (backoff with jitter, honouring
  Retry-After) up to `attempts`. Refused credentials stop the channel for the cycle at once.
- Circuit breaker: after `BREAKER_AFTER` writes in a row failed on one channel, its circuit
  opens: its remaining writes stay queued, and the cycles until `breaker_base` has passed do not
  try it at all. Then one write probes it (one try): it goes out, the circuit closes and the
  channel's writes go on; it fails, the circuit stays open twice as long (up to `BREAKER_MAX`).
  Opening and closing are one log line each; the open circuits are kept in the sync state
  (`breaker`), so `status` shows them and a restart keeps them.
- Notices (`UNREPEATABLE`): each is recorded as `sending` alone just before it is handed over;
  its `delivered` record is written before the call and committed when the call returns (the
  host has taken it), so nothing lies between the host's answer and the record but the commit.
- Unknown outcomes: an entry found in `sending` was interrupted; an adapter with
  `already_delivered(action)` is asked first (a mailbox looks for the notice's Message-ID in
  its sent folder), otherwise it is sent again: at least once.
- `should_stop()` is asked between writes: a service asked to stop leaves the rest queued.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
    wait_exponential_jitter,
)

from connector.core.errors import AuthFailed, PartlyDelivered, PermanentSourceError, TransientSourceError
from connector.core.escalation import Action
from connector.store.codec import iso, parse_iso
from connector.store.database import Store

log = logging.getLogger("sla_connector.outbox")

ATTEMPTS_PER_CYCLE = 4
MAX_RETRY_AFTER = 300.0
STATES = ("queued", "sending", "delivered", "parked", "skipped", "dropped")
BREAKER_AFTER = 3
BREAKER_BASE = timedelta(minutes=1)  # the first wait of an open circuit (the service: the poll interval)
BREAKER_MAX = timedelta(hours=1)
BATCH_LIMIT = 500  # writes in one `apply_many` call
# writes a host cannot recognise as repeats: their outcome is recorded as unknown while in flight
UNREPEATABLE = frozenset({"notify"})

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
    held: int = 0  # waiting behind an earlier write of the same ticket, or a channel that is down
    pending: int = 0  # how many were due at the start
    would_write: list[Action] = field(default_factory=list)
    channel_errors: dict[str, str] = field(default_factory=dict)  # channel -> why it stopped this cycle
    stopped: bool = False  # asked to stop before every write was tried

    def line(self) -> str:
        text = f"{self.delivered} delivered, {self.failed} failed, {self.skipped} skipped, {self.parked} parked"
        if self.held:
            text += f", {self.held} held"
        return text


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
        return [(entry_id, action) for entry_id, action, _, _ in self.pending(source)]

    def pending(self, source: str) -> list[tuple[int, Action, int, str]]:
        """(id, action, ticket id, state) of the queued and sending entries, in planned order."""
        rows = self.db.execute(
            "SELECT id, key, event_key, kind, payload, ticket_id, state FROM outbox "
            "WHERE source = ? AND state IN ('queued', 'sending') ORDER BY id",
            [source],
        ).fetchall()
        return [(row[0], _action(row[1], row[2], row[3], row[4]), row[5], row[6]) for row in rows]

    def split(self, entry_id: int, action: Action, error: PartlyDelivered, now: datetime) -> None:
        """Record a partial delivery: the entry is delivered (or takes the first part when nothing
        was), and each remaining part becomes an entry of its own, in one transaction."""
        parts = list(error.parts)
        with self.db.atomic():
            if error.delivered:
                self.mark(entry_id, "delivered", now, str(error), attempts=1)
            else:
                state, payload, answer = parts.pop(0)
                self.db.execute(
                    "UPDATE outbox SET state = ?, payload = ?, last_error = ?, attempts = attempts + 1, "
                    "updated_at = ? WHERE id = ?",
                    [state, json.dumps({"ticket_key": action.ticket_key, **payload}), answer, iso(now), entry_id],
                )
            ticket_id, source = self.db.execute(
                "SELECT ticket_id, source FROM outbox WHERE id = ?", [entry_id]
            ).fetchone()
            for state, payload, answer in parts:
                part = Action(f"{action.key}+{state}", action.event_key, action.ticket_key, action.kind, payload)
                self.add(source, ticket_id, [part], now)
                self.db.execute("UPDATE outbox SET state = ?, last_error = ? WHERE key = ?", [state, answer, part.key])

    def mark(self, entry_id: int, state: str, now: datetime, error: str | None = None, attempts: int = 0) -> None:
        with self.db.atomic():
            self.db.execute(
                "UPDATE outbox SET state = ?, last_error = ?, attempts = attempts + ?, updated_at = ?, "
                "delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END WHERE id = ?",
                [state, error, attempts, iso(now), state, iso(now), entry_id],
            )

    def mark_many(self, marks: list[tuple[int, str, str | None]], now: datetime, attempts: int) -> None:
        """Several outcomes (id, state, error) in one transaction."""
        with self.db.atomic():
            self.db.conn.executemany(
                "UPDATE outbox SET state = ?, last_error = ?, attempts = attempts + ?, updated_at = ?, "
                "delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END WHERE id = ?",
                [(state, error, attempts, iso(now), state, iso(now), entry_id) for entry_id, state, error in marks],
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

    def breakers(self, source: str) -> dict[str, dict[str, Any]]:
        """The source's open circuits: channel -> opened_at, until, wait (seconds), error."""
        row = self.db.execute("SELECT breaker FROM sync_state WHERE source = ?", [source]).fetchone()
        return json.loads(row[0]) if row and row[0] else {}

    def set_breakers(self, source: str, breakers: dict[str, dict[str, Any]]) -> None:
        with self.db.atomic():
            self.db["sync_state"].upsert(
                {"source": source, "breaker": json.dumps(breakers) if breakers else None}, pk="source"
            )

    def depth(self, source: str) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT state, COUNT(*) FROM outbox WHERE source = ? GROUP BY state", [source]
        ).fetchall()
        return {state: count for state, count in rows}


def _circuit_text(circuit: dict[str, Any]) -> str:
    return f"circuit open since {circuit['opened_at']}, next try after {circuit['until']} (last: {circuit['error']})"


def _action(key: str, event_key: str, kind: str, payload: str) -> Action:
    data = json.loads(payload)
    ticket_key = data.pop("ticket_key")
    return Action(key, event_key, ticket_key, kind, data)


def _rounds(entries: list) -> Iterable[list]:
    """Round n holds each ticket's n-th entry, tickets in the order of their first entry."""
    queues: dict[int, list] = {}
    for entry in entries:
        queues.setdefault(entry[2], []).append(entry)
    depth = max((len(queue) for queue in queues.values()), default=0)
    for n in range(depth):
        yield [queue[n] for queue in queues.values() if len(queue) > n]


def _channel(adapter: Any, action: Action) -> str:
    pick = getattr(adapter, "channel", None)
    return pick(action) if pick is not None else adapter.name


def deliver(
    outbox: Outbox,
    adapter: Any,
    now: datetime,
    dry_run: bool = False,
    sleep: Callable[[float], None] | None = None,
    attempts: int = ATTEMPTS_PER_CYCLE,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
    breaker_base: timedelta = BREAKER_BASE,
) -> DeliveryReport:
    """Deliver the source's queued actions in planned order (see the module's docstring)."""
    report = DeliveryReport()
    entries = outbox.pending(adapter.name)
    report.pending = len(entries)
    if dry_run:
        report.would_write = [action for _, action, _, _ in entries]
        return report
    session = getattr(adapter, "delivery", None)
    with _records_without_fsync(outbox), session() if session is not None else nullcontext():
        delivery = _Delivery(outbox, adapter, now, report, sleep, attempts, should_stop, breaker_base)
        try:
            delivery.run(entries, should_stop, progress)
        finally:
            delivery.keep_breakers()
    return report


@contextmanager
def _records_without_fsync(outbox: Outbox) -> Iterator[None]:
    """While delivering, a commit waits for the write-ahead log, not for the disk: a killed
    process still keeps every record (the log is in the OS's hands), and only a power cut may
    undo the last few, whose writes are then repeated, as after a kill in flight. It makes a
    record a fraction of a millisecond instead of an fsync per write."""
    conn = outbox.db.conn
    before = conn.execute("PRAGMA synchronous").fetchone()[0]
    if conn.in_transaction or conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        yield
        return
    conn.execute("PRAGMA synchronous = NORMAL")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA synchronous = {int(before)}")


class _Delivery:
    def __init__(self, outbox, adapter, now, report, sleep, attempts, should_stop, breaker_base=BREAKER_BASE):
        self.outbox, self.adapter, self.now, self.report = outbox, adapter, now, report
        self.breaker_base = breaker_base
        self.breakers = outbox.breakers(adapter.name)  # channel -> its open circuit
        self._breakers_before = json.dumps(self.breakers, sort_keys=True)
        self.probing: set[str] = set()  # channels whose wait is over: one write tries them
        for channel, circuit in self.breakers.items():
            if now < parse_iso(circuit["until"]):
                report.channel_errors[channel] = _circuit_text(circuit)
            else:
                self.probing.add(channel)
        asked = should_stop or (lambda: False)
        self.retrying = Retrying(
            retry=retry_if_exception_type(TransientSourceError),
            wait=wait_for_host,
            stop=stop_any(stop_after_attempt(attempts), lambda _: asked()),
            reraise=True,
            **({"sleep": sleep} if sleep else {}),
        )
        self.in_a_row: dict[str, int] = {}  # channel -> transient failures in a row
        self.interrupted: set[int] = set()  # entries found in flight: their outcome is unknown
        self.held: set[tuple[int, str]] = set()  # (ticket, channel) waiting behind an earlier write

    def run(self, entries, should_stop, progress) -> None:
        """In rounds: each ticket's next write, so a ticket's writes keep their order while the
        writes of many tickets that an adapter can make in one call (`apply_many`) go together."""
        report, name, total = self.report, self.adapter.name, len(entries)
        batch_kinds = getattr(self.adapter, "batch_kinds", frozenset()) if hasattr(self.adapter, "apply_many") else ()
        self.interrupted = {entry[0] for entry in entries if entry[3] == "sending"}
        done = 0
        for round_ in _rounds(entries):
            batch: list[tuple[int, Action, int, str]] = []
            for entry_id, action, ticket_id, state in round_:
                if should_stop is not None and should_stop():
                    report.stopped = True
                    report.held += total - done + len(batch)  # the batch gathered so far is not tried
                    log.info("%s: stopping; %d writes stay queued", name, total - done)
                    return
                if progress is not None:
                    progress(done, total)
                done += 1
                if action.kind not in self.adapter.capabilities:
                    self.outbox.mark(entry_id, "skipped", self.now, f"{name} cannot {action.kind.replace('_', ' ')}")
                    report.skipped += 1
                    continue
                channel = _channel(self.adapter, action)
                if channel in report.channel_errors or (ticket_id, channel) in self.held:
                    report.held += 1
                elif action.kind in batch_kinds:
                    batch.append((entry_id, action, ticket_id, channel))
                elif not self.one(entry_id, action, state, channel):
                    self.held.add((ticket_id, channel))
            for start in range(0, len(batch), BATCH_LIMIT):
                self.many(batch[start : start + BATCH_LIMIT])
        if progress is not None:
            progress(total, total)

    def many(self, batch: list[tuple[int, Action, int, str]]) -> None:
        """Writes of different tickets in one call per channel; their outcomes in one commit."""
        by_channel: dict[str, list[tuple[int, Action, int]]] = {}
        for entry_id, action, ticket_id, channel in batch:
            by_channel.setdefault(channel, []).append((entry_id, action, ticket_id))
        for channel, items in by_channel.items():
            if channel in self.probing and len(items) > 1:  # an open circuit is probed with one write
                self._many(channel, items[:1])
                items = items[1:]
            self._many(channel, items)

    def _many(self, channel: str, items: list[tuple[int, Action, int]]) -> None:
        report, name = self.report, self.adapter.name
        if channel in report.channel_errors:
            report.held += len(items)
            return
        actions = [action for _, action, _ in items]
        tries = 0

        def attempt() -> list:
            nonlocal tries
            tries += 1
            return self.adapter.apply_many(actions)

        try:
            outcomes = self._retrying(channel)(attempt)
        except (TransientSourceError, AuthFailed) as exc:
            outcomes = [exc] * len(items)
        marks = []
        waited = False
        for (entry_id, action, ticket_id), outcome in zip(items, outcomes, strict=True):
            if outcome is None:
                marks.append((entry_id, "delivered", None))
                report.delivered += 1
            elif isinstance(outcome, PermanentSourceError):
                marks.append((entry_id, "parked", str(outcome)))
                report.parked += 1
                log.error("%s: action %s parked: %s", name, action.key, outcome)
            else:
                marks.append((entry_id, "queued", str(outcome)))
                report.failed += 1
                self.held.add((ticket_id, channel))
                waited = True
                if isinstance(outcome, AuthFailed):
                    report.channel_errors[channel] = str(outcome)
        self.outbox.mark_many(marks, self.now, tries)
        if not waited:
            self._succeeded(channel)
        elif channel not in report.channel_errors:
            self._failed_again(channel, next(o for o in outcomes if o is not None))

    def _retrying(self, channel: str) -> Retrying:
        """All the attempts for a channel that works; one try after a failure, and for a probe."""
        if self.in_a_row.get(channel, 0) == 0 and channel not in self.probing:
            return self.retrying
        return self.retrying.copy(stop=stop_after_attempt(1))

    def _succeeded(self, channel: str) -> None:
        self.in_a_row[channel] = 0
        if channel in self.probing:
            self.probing.discard(channel)
            circuit = self.breakers.pop(channel)
            log.info(
                "%s: %s takes writes again (circuit closed; open since %s)",
                self.adapter.name,
                channel,
                circuit["opened_at"],
            )

    def _failed_again(self, channel: str, error: Exception) -> None:
        self.in_a_row[channel] = self.in_a_row.get(channel, 0) + 1
        if channel in self.probing:  # the probe failed: the circuit stays open, twice as long
            self.probing.discard(channel)
            circuit = self.breakers[channel]
            wait = min(timedelta(seconds=circuit["wait"] * 2), BREAKER_MAX)
            circuit.update(until=iso(self.now + wait), wait=wait.total_seconds(), error=str(error))
            self.report.channel_errors[channel] = _circuit_text(circuit)
            log.debug("%s: %s still fails (%s); next try after %s", self.adapter.name, channel, error, circuit["until"])
            return
        if self.in_a_row[channel] >= BREAKER_AFTER:
            wait = min(self.breaker_base, BREAKER_MAX)
            circuit = {
                "opened_at": iso(self.now),
                "until": iso(self.now + wait),
                "wait": wait.total_seconds(),
                "error": str(error),
            }
            self.breakers[channel] = circuit
            self.report.channel_errors[channel] = _circuit_text(circuit)
            log.info(
                "%s: %d writes in a row failed on %s (last: %s); circuit open: its writes stay queued, "
                "and one write tries it again after %s",
                self.adapter.name,
                self.in_a_row[channel],
                channel,
                error,
                circuit["until"],
            )

    def keep_breakers(self) -> None:
        """Record the open circuits when they changed (one small commit at the end of a delivery)."""
        if json.dumps(self.breakers, sort_keys=True) != self._breakers_before:
            self.outbox.set_breakers(self.adapter.name, self.breakers)

    def one(self, entry_id: int, action: Action, state: str, channel: str) -> bool:
        """Deliver one entry; False when it has to wait (later writes of its ticket wait with it)."""
        outbox, now, report, name = self.outbox, self.now, self.report, self.adapter.name
        if state == "sending" and entry_id in self.interrupted and self._was_delivered(action):
            outbox.mark(entry_id, "delivered", now, "found at the host after an interruption")
            report.delivered += 1
            return True
        tries = 0
        recorded = False
        unrepeatable = action.kind in UNREPEATABLE

        def attempt() -> None:
            nonlocal tries, recorded
            tries += 1
            if tries > 1 and unrepeatable and self._was_delivered(action):
                return  # the failed attempt had reached the host after all
            if not unrepeatable:
                self.adapter.apply(action)
                return
            # the record of the delivery is written before the notice is handed over and committed
            # the moment the host has taken it: an error rolls it back, and the only moment in
            # which a kill leaves a taken notice unrecorded is the commit itself
            with outbox.db.atomic():
                outbox.mark(entry_id, "delivered", now, attempts=tries)
                self.adapter.apply(action)
            recorded = True

        if unrepeatable and state != "sending":
            # recorded as in flight, alone, just before it is handed over: after a kill, at most
            # this one notice has an unknown outcome to look up
            outbox.mark(entry_id, "sending", now)
        try:
            self._retrying(channel)(attempt)
        except TransientSourceError as exc:
            # a notice that failed this way may still have reached the host: its outcome is unknown
            outbox.mark(entry_id, "sending" if unrepeatable else "queued", now, str(exc), attempts=tries)
            report.failed += 1
            log.debug("%s: action %s stays queued after %d attempts: %s", name, action.key, tries, exc)
            self._failed_again(channel, exc)
            return False
        except AuthFailed as exc:
            outbox.mark(entry_id, "queued", now, str(exc), attempts=tries)
            report.failed += 1
            report.channel_errors[channel] = str(exc)
            log.info("%s: %s; its writes over %s stay queued", name, exc, channel)
            return False
        except PartlyDelivered as exc:
            outbox.split(entry_id, action, exc, now)
            report.delivered += exc.delivered
            if exc.delivered:
                self._after(action)
            report.parked += sum(1 for part_state, _, _ in exc.parts if part_state == "parked")
            log.warning("%s: %s", name, exc)
        except PermanentSourceError as exc:
            outbox.mark(entry_id, "parked", now, str(exc), attempts=tries)
            report.parked += 1
            log.error("%s: action %s parked: %s", name, action.key, exc)
        else:
            if not recorded:
                outbox.mark(entry_id, "delivered", now, attempts=tries)
            report.delivered += 1
            self._after(action)
        self._succeeded(channel)
        return True

    def _after(self, action: Action) -> None:
        """The adapter's follow-up of a recorded delivery (a mailbox saves the notice's copy)."""
        follow_up = getattr(self.adapter, "after_delivery", None)
        if follow_up is not None:
            follow_up(action)

    def _was_delivered(self, action: Action) -> bool:
        """For an entry whose earlier attempt may have reached the host: did it?"""
        look = getattr(self.adapter, "already_delivered", None)
        if look is None:
            log.info("%s: the outcome of %s is unknown; sending it again", self.adapter.name, action.key)
            return False
        try:
            found = look(action)
        except (TransientSourceError, PermanentSourceError) as exc:
            log.warning(
                "%s: cannot tell whether %s was delivered (%s); sending it again", self.adapter.name, action.key, exc
            )
            return False
        if found:
            log.info("%s: %s had been delivered; not sent again", self.adapter.name, action.key)
        return bool(found)
