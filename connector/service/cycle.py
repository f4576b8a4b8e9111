"""One sync cycle of one source: pull -> store -> recompute -> events -> outbox -> deliver.

Public API: `Engine.from_settings(settings)`, `run_cycle(store, adapter, engine, now, ...)` ->
`CycleSummary`, `recompute_open(store, engine, source, now)`, `record_failure`.

This is the only module where helpdesks and SLAs meet. Guarantees:
- Snapshots are committed in batches, each in one transaction with the cursor it reached; a crash
  repeats at most the batch in flight, and upserts absorb the repeat.
- A ticket's records, the events they produced and the actions those events planned are written
  in one transaction, so an event is never stored without its actions, nor the other way round.
- A snapshot the core cannot process is rolled back alone, logged with its ticket key, and skipped.
- Records whose next step or due time has passed are picked up by an indexed query, so a ticket
  nobody touches still breaches on time.
- `dry_run` runs everything inside one transaction that is rolled back: nothing is kept, nothing
  is written to the host, and the actions that would have been written are returned.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from connector.core.clocks import SlaRecord, recompute
from connector.core.errors import ConnectorError
from connector.core.escalation import Escalation, diff, plan
from connector.core.model import Message, Ticket
from connector.core.policy import Policy
from connector.store.codec import iso
from connector.store.database import Store
from connector.store.outbox import ATTEMPTS_PER_CYCLE, BREAKER_BASE, DeliveryReport, Outbox, deliver
from connector.store.tickets import TicketStore

log = logging.getLogger("sla_connector.sync")

BATCH_SIZE = 200
PROGRESS_EVERY = 100  # writes between two records of the delivery's progress
SLA_SECTIONS = ("calendars", "levels", "rules", "escalation")


@dataclass(frozen=True)
class Engine:
    policy: Policy
    escalation: Escalation
    config_hash: str

    @classmethod
    def from_settings(cls, settings: Any) -> Engine:
        policy = Policy.from_settings(settings)
        relevant = {name: settings.model_dump(mode="json")[name] for name in SLA_SECTIONS}
        relevant["connector"] = {
            k: settings.connector.model_dump(mode="json")[k] for k in ("default_level", "pause_statuses")
        }
        digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]
        return cls(policy, Escalation.from_policy(policy, settings), digest)


@dataclass
class CycleSummary:
    source: str
    pulled: int = 0
    rechecked: int = 0
    records_changed: int = 0
    warning_steps: int = 0  # escalation steps reached before the due time
    mail_problems: int = 0  # mails the source warned about (logged with where they are)
    breaches: int = 0
    skipped_tickets: list[str] = field(default_factory=list)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    def line(self) -> str:
        d = self.delivery
        text = (
            f"{self.source}: {self.pulled} tickets pulled, {self.rechecked} rechecked by time, "
            f"{self.records_changed} records changed, {self.warning_steps} warning steps, {self.breaches} breaches; "
            f"actions: {d.line()}"
        )
        if self.mail_problems:
            text += f"; {self.mail_problems} mail{'s' if self.mail_problems != 1 else ''} with problems, see the log"
        if self.skipped_tickets:
            text += f"; {len(self.skipped_tickets)} tickets skipped"
        for channel, why in self.delivery.channel_errors.items():
            text += f"; {channel} stopped: {why}"
        return text

    @property
    def idle(self) -> bool:
        """Nothing read, nothing changed, nothing written: not worth an info line."""
        d = self.delivery
        return not (self.pulled or self.records_changed or d.delivered or d.failed or d.parked or d.skipped or d.held)


class _Rollback(Exception):
    """Raised to undo a dry run's transaction."""


class _Cycle:
    def __init__(self, store: Store, engine: Engine, now: datetime, summary: CycleSummary):
        self.store, self.engine, self.now, self.summary = store, engine, now, summary
        self.source = summary.source
        self.tickets, self.outbox = TicketStore(store), Outbox(store)
        self.touched: set[int] = set()

    def process(
        self,
        ticket: Ticket,
        messages: Sequence[Message],
        ticket_id: int | None = None,
        old: list[SlaRecord] | None = None,
    ) -> None:
        """Store one ticket and bring its records, events and actions up to date, atomically. A
        stored ticket comes with its id and its stored records."""
        try:
            with self.store.atomic():
                if ticket_id is None:
                    ticket_id = self.tickets.upsert(ticket, messages)
                if old is None:
                    old = self.tickets.records(ticket_id, ticket.key)
                new = recompute(ticket, messages, self.engine.policy, old, self.now)
                self.summary.records_changed += self.tickets.save_records(ticket_id, old, new, self.now)
                events = self.tickets.add_events(ticket_id, diff(old, new, self.now, ticket), self.now)
                self.outbox.add(
                    self.source, ticket_id, plan(events, self.engine.escalation, ticket, self.now, new), self.now
                )
        except (ConnectorError, ValueError, TypeError, KeyError, AttributeError) as exc:
            problem = f"ticket {ticket.key}: {type(exc).__name__}: {exc}"
            self.summary.skipped_tickets.append(problem)
            log.warning("%s: skipped %s", self.source, problem)
            return
        self.touched.add(ticket_id)
        self._count(events)

    def recheck(self, ticket_ids: list[int]) -> None:
        """Recompute stored tickets (no pull), in one transaction."""
        with self.store.atomic():
            for ticket_id, ticket, messages, old in self.tickets.load_many(ticket_ids):
                self.process(ticket, messages, ticket_id, old)
                self.summary.rechecked += 1

    def _count(self, events: list) -> None:
        for event in events:
            if event.kind == "breached":
                self.summary.breaches += 1
            elif event.kind.startswith("step:") and event.at < event.record.due:
                self.summary.warning_steps += 1


def run_cycle(
    store: Store,
    adapter: Any,
    engine: Engine,
    now: datetime,
    overlap: timedelta = timedelta(minutes=2),
    dry_run: bool = False,
    sleep: Callable[[float], None] | None = None,
    progress: Callable[[int, float], None] | None = None,
    batch_size: int = BATCH_SIZE,
    attempts: int = ATTEMPTS_PER_CYCLE,
    should_stop: Callable[[], bool] | None = None,
    delivery_progress: Callable[[int, int], None] | None = None,
    timer: Callable[[], float] = time.monotonic,
    breaker_base: timedelta = BREAKER_BASE,
) -> CycleSummary:
    """One cycle for one source. Source errors propagate after what was committed stays committed.
    The cycle in progress (started at, phase, writes delivered of how many) is kept in the sync
    state for `status`; `should_stop()` is asked between writes. A channel's open circuit waits
    `breaker_base` before its first probe (the service passes the source's poll interval). A
    finished cycle's duration (by `timer`, in seconds) is counted in the store's histogram with
    its last success."""
    started = timer()
    summary = CycleSummary(adapter.name)
    if dry_run:
        try:
            with store.atomic():
                _pull_and_recheck(store, adapter, engine, now, overlap, summary, progress, batch_size)
                summary.delivery = deliver(Outbox(store), adapter, now, dry_run=True)
                raise _Rollback
        except _Rollback:
            return summary
    _phase(store, adapter.name, cycle_started_at=iso(now), cycle_phase="pulling", cycle_done=None, cycle_total=None)
    _pull_and_recheck(store, adapter, engine, now, overlap, summary, progress, batch_size)
    shown = {"at": -1}

    def delivered_so_far(done: int, total: int) -> None:
        if done - shown["at"] >= PROGRESS_EVERY or done == total:  # a commit per write would slow delivery
            shown["at"] = done
            _phase(store, adapter.name, cycle_phase="delivering", cycle_done=done, cycle_total=total)
        if delivery_progress is not None:
            delivery_progress(done, total)

    summary.delivery = deliver(
        Outbox(store),
        adapter,
        now,
        sleep=sleep,
        attempts=attempts,
        should_stop=should_stop,
        progress=delivered_so_far,
        breaker_base=breaker_base,
    )
    errors = summary.delivery.channel_errors
    with store.atomic():
        store.set_sync_state(
            adapter.name,
            last_success_at=iso(now),
            last_error=None,
            last_error_at=None,
            last_cycle=summary.line(),
            cycle_phase=None,
            delivery_error="; ".join(f"{channel}: {why}" for channel, why in errors.items()) or None,
        )
        store.add_cycle_duration(adapter.name, timer() - started)
    return summary


def _phase(store: Store, source: str, **fields: Any) -> None:
    with store.atomic():
        store.set_sync_state(source, **fields)


def _pull_and_recheck(
    store: Store,
    adapter: Any,
    engine: Engine,
    now: datetime,
    overlap: timedelta,
    summary: CycleSummary,
    progress: Callable[[int, float], None] | None,
    batch_size: int,
) -> None:
    cycle = _Cycle(store, engine, now, summary)
    with store.atomic():
        store.register_source(adapter.name, adapter.section.kind)
    snapshots = adapter.pull(store.sync_state(adapter.name)["cursor"], overlap)
    started = time.monotonic()
    while True:
        with store.atomic():
            batch = list(islice(snapshots, batch_size))
            for snapshot in batch:
                cycle.process(snapshot.ticket, snapshot.messages)
            if batch:
                store.set_sync_state(adapter.name, cursor=batch[-1].cursor)
        summary.pulled += len(batch)
        if progress and batch:
            progress(summary.pulled, summary.pulled / max(time.monotonic() - started, 1e-9))
        if len(batch) < batch_size:
            break
    summary.mail_problems = getattr(adapter, "mail_problems", 0)  # sources that read mail say how many were bad
    cycle.recheck(cycle.tickets.due_tickets(adapter.name, now, exclude=cycle.touched))


def recompute_open(store: Store, engine: Engine, source: str, now: datetime) -> CycleSummary:
    """After a config change: recompute every open ticket of a source under the new config."""
    summary = CycleSummary(source)
    cycle = _Cycle(store, engine, now, summary)
    cycle.recheck(cycle.tickets.open_ticket_ids(source))
    return summary


def record_failure(store: Store, source: str, error: Exception, now: datetime) -> None:
    """Remember a source's failure for `status` (the message names the source, never a secret)."""
    with store.atomic():
        store.set_sync_state(
            source, last_error_at=iso(now), last_error=f"{type(error).__name__}: {error}", cycle_phase=None
        )
