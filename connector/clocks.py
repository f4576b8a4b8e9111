"""From a ticket, its messages, a level and a calendar to SLA records. Pure and deterministic:
the same input always gives the same records, so a ticket's records are recomputed from scratch
whenever it changes.

Public API: `compute(ticket, messages, level, calendar, pause_statuses, now)`,
`recompute(ticket, messages, policy, previous, now)` (picks the level, keeps decided records of an
earlier level, cancels when no level applies), `SlaRecord`, `RecordStatus`.

Metrics:
- first_reply: creation to the first public agent message; none when an agent wrote first.
- next_reply: the first public customer message after a public agent reply, to the next public
  agent reply; customer messages in a row belong to one record.
- chat_reply / call_reply: replace first_reply and next_reply for chat / phone tickets when the
  level has them (sequence 1 is the first reply).
- resolution: creation to solved/closed; time spent solved before a reopening does not count.
Pauses: in a pausing status no clock counts, and due times move by the paused business time.
While a ticket is solved or closed its reply clocks are paused too (nobody owes a reply on a
closed ticket; a reopening resumes them). Messages that are internal, automatic, from the system
or the connector's own never start or stop a clock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from connector.calendar import BusinessCalendar
from connector.model import Channel, Message, Role, Status, Ticket

if TYPE_CHECKING:
    from connector.policy import Level, Policy

_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _utc(moment_us: int) -> datetime:
    return _EPOCH + _US * moment_us


class RecordStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    CANCELLED = "cancelled"

    @property
    def is_decided(self) -> bool:
        return self in (RecordStatus.MET, RecordStatus.BREACHED)


class SlaRecord(NamedTuple):
    """One SLA clock of one ticket. A named tuple: built in bulk, compared by value."""

    ticket_key: str
    metric: str
    seq: int
    level: str
    calendar: str
    target: timedelta
    start: datetime
    due: datetime
    stop: datetime | None
    status: RecordStatus
    business: timedelta          # business time taken, pauses excluded
    paused: timedelta            # business time spent paused
    steps_fired: tuple[tuple[int, datetime], ...]  # (step index, when it was reached)
    next_step_at: datetime | None
    pauses: tuple[tuple[datetime, datetime | None], ...]  # pauses inside the record; None: still paused

    @property
    def next_check_at(self) -> datetime | None:
        """When time alone next changes this record: its next step, or its due time."""
        if self.stop is not None or self.status in (RecordStatus.PAUSED, RecordStatus.CANCELLED):
            return None
        candidates = [t for t in (self.next_step_at, self.due if self.status is RecordStatus.RUNNING else None) if t]
        return min(candidates) if candidates else None

    @property
    def ident(self) -> tuple[str, int]:
        return self.metric, self.seq


Span = tuple[datetime, datetime | None]


def compute(ticket: Ticket, messages: Iterable[Message], level: Level, calendar: BusinessCalendar,
            pause_statuses: Collection[str], now: datetime) -> list[SlaRecord]:
    """The SLA records of one ticket under one level, as of `now`."""
    pausing = {s.casefold() for s in pause_statuses}
    horizon = min(now, ticket.updated_at) if ticket.deleted else now
    periods = _status_periods(ticket, horizon)
    held = _merge([(a, b) for a, b, status, raw in periods
                   if status.value in pausing or raw.casefold() in pausing])
    done = [(a, b) for a, b, status, _ in periods if status.is_done]
    priorities = [ticket.priority.name, ticket.priority.raw_name] if ticket.priority else []
    meter = _Meter(ticket.key, level, calendar, horizon)
    records = []
    reply_pauses = meter.us(_merge(held + done))
    for metric, seq, start, stop in _reply_spans(ticket, messages, level, priorities):
        target = level.target(metric, priorities)
        if target is not None:
            records.append(meter.measure(metric, seq, target, start, stop, reply_pauses))
    target = level.target("resolution", priorities)
    if target is not None:
        finished = done and done[-1][1] is None
        stop = done[-1][0] if finished else None
        earlier_done = done[:-1] if finished else done
        records.append(meter.measure("resolution", 1, target, ticket.created_at, stop,
                                     meter.us(_merge(held + earlier_done))))
    if ticket.deleted:
        records = [_cancelled(r) for r in records]
    return records


def recompute(ticket: Ticket, messages: Sequence[Message], policy: Policy,
              previous: Iterable[SlaRecord], now: datetime) -> list[SlaRecord]:
    """The ticket's records under the level its rules give it now. Records already met or
    breached under another level keep that level; records no level applies to any more are
    cancelled."""
    previous = {r.ident: r for r in previous}
    level = policy.level_for(ticket, messages, now)
    fresh = {}
    if level is not None:
        fresh = {r.ident: r for r in compute(ticket, messages, level, level.calendar, policy.pause_statuses, now)}
    result = dict(fresh)
    under_earlier: dict[str, dict] = {}  # records under an earlier level, computed once per level
    for ident, old in previous.items():
        current = fresh.get(ident)
        if old.status.is_decided and (current is None or current.level != old.level):
            old_level = policy.levels.get(old.level)
            if old_level is not None and old.level not in under_earlier:
                under_earlier[old.level] = {r.ident: r for r in compute(
                    ticket, messages, old_level, old_level.calendar, policy.pause_statuses, now)}
            result[ident] = under_earlier.get(old.level, {}).get(ident) or old
        elif current is None and old.status is not RecordStatus.CANCELLED:
            result[ident] = _cancelled(old)
    return [result[ident] for ident in sorted(result)]


def _cancelled(record: SlaRecord) -> SlaRecord:
    """Stop a record's clock for good: a breach stays a breach, but escalates no further."""
    if record.status.is_decided or record.status is RecordStatus.CANCELLED:
        return record._replace(next_step_at=None) if record.next_step_at else record
    return record._replace(status=RecordStatus.CANCELLED, next_step_at=None)


def _reply_spans(ticket: Ticket, messages: Iterable[Message], level: Level, priorities: list[str]):
    """(metric, seq, start, stop or None) for every reply clock the conversation starts."""
    counted = sorted((m for m in messages if m.counts), key=_message_order)
    own = _OWN_REPLY_METRIC.get(ticket.channel)
    first, follow = (own, own) if own and level.target(own, priorities) else ("first_reply", "next_reply")
    created = ticket.created_at
    outbound = bool(counted) and counted[0].role is Role.AGENT  # an agent wrote first: no first reply
    open_start, open_metric = (None, follow) if outbound else (created, first)
    spans: list[tuple[str, int, datetime, datetime | None]] = []
    seqs: dict[str, int] = {}
    for message in counted:
        at = message.at if message.at > created else created
        if message.role is Role.AGENT:
            if open_start is not None:
                seqs[open_metric] = seq = seqs.get(open_metric, 0) + 1
                spans.append((open_metric, seq, open_start, at))
                open_start = None
        elif open_start is None:  # the customer writes after an agent's reply
            open_start, open_metric = at, follow
    if open_start is not None:
        spans.append((open_metric, seqs.get(open_metric, 0) + 1, open_start, None))
    return spans


def _message_order(message: Message) -> tuple[datetime, str]:
    return message.at, message.external_id


_OWN_REPLY_METRIC = {Channel.CHAT: "chat_reply", Channel.PHONE: "call_reply"}


def _status_periods(ticket: Ticket, now: datetime) -> list[tuple[datetime, datetime | None, Status, str]]:
    """(start, end or None, status, raw status) from creation on."""
    created = ticket.created_at
    history = sorted((c for c in ticket.status_history if c.at <= now), key=lambda c: c.at)
    if not history:
        # only the current status is known: it began at the last change the host reports
        since = (ticket.closed_at or ticket.updated_at) if ticket.status.is_done else ticket.updated_at
        if since <= created or ticket.status in (Status.NEW, Status.OPEN):
            return [(created, None, ticket.status, ticket.raw_status)]
        return [(created, since, Status.OPEN, ""), (since, None, ticket.status, ticket.raw_status)]
    periods = []
    if history[0].at > created:
        periods.append((created, history[0].at, Status.NEW, ""))
    for i, change in enumerate(history):
        end = history[i + 1].at if i + 1 < len(history) else None
        periods.append((max(change.at, created), end, change.status, change.raw_status))
    return [p for p in periods if p[1] is None or p[1] > p[0]]


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[list] = []
    for start, end in sorted(spans, key=lambda s: s[0]):
        if merged and (merged[-1][1] is None or start <= merged[-1][1]):
            if merged[-1][1] is not None:
                merged[-1][1] = None if end is None else max(end, merged[-1][1])
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


class _Meter:
    """Measures the clocks of one ticket in business-time positions of one calendar; instants are
    integer microseconds since the epoch, converted once per ticket."""

    def __init__(self, ticket_key: str, level: Level, calendar: BusinessCalendar, now: datetime):
        self.ticket_key, self.level, self.cal = ticket_key, level, calendar
        self.now_us = calendar.to_epoch_us(now)
        self._positions: dict[int, int] = {}

    def us(self, spans: list[Span]) -> list[tuple[int, int | None]]:
        to_us = self.cal.to_epoch_us
        return [(to_us(a), to_us(b) if b is not None else None) for a, b in spans]

    def position(self, moment: int) -> int:
        found = self._positions.get(moment)
        if found is None:
            found = self._positions[moment] = self.cal.position_us(moment)
        return found

    def measure(self, metric: str, seq: int, target: timedelta, start: datetime, stop: datetime | None,
                pauses: list[tuple[int, int | None]]) -> SlaRecord:
        cal, position = self.cal, self.position
        start_us = cal.to_epoch_us(start)
        horizon_us = max(cal.to_epoch_us(stop) if stop is not None else self.now_us, start_us)
        inside: list[tuple[int, int]] = []        # pauses as business-time positions
        kept: list[tuple[int, int | None]] = []   # and as instants, for the record
        paused_now = False
        for a_us, b_us in pauses:
            end_us = b_us if b_us is not None else horizon_us
            if a_us >= horizon_us or end_us <= start_us:
                continue
            paused_now = paused_now or (stop is None and b_us is None)
            lo, hi = max(a_us, start_us), min(end_us, horizon_us)
            inside.append((position(lo), position(hi)))
            # a pause that lasts until the clock stopped never ended: the clock stopped paused
            kept.append((lo, None if b_us is None or (stop is not None and b_us >= horizon_us) else hi))
        p_start = position(start_us)
        p_horizon = position(horizon_us)
        instant_us = cal.instant_us

        def reach(amount: int) -> int:
            """The business-time position at which `amount` µs, net of pauses, have passed."""
            remaining, cursor = amount if amount > 0 else 0, p_start
            for pa, pb in inside:
                if cursor + remaining <= pa:
                    break
                if pa > cursor:
                    remaining -= pa - cursor
                if pb > cursor:
                    cursor = pb
            return cursor + remaining

        target_us = target // _US
        due_us = instant_us(reach(target_us) if inside else p_start + target_us)
        if due_us < start_us:
            due_us = start_us
        paused_us = sum(pb - pa for pa, pb in inside) if inside else 0
        business_us = p_horizon - p_start - paused_us
        if stop is not None:
            status = RecordStatus.MET if horizon_us <= due_us else RecordStatus.BREACHED
        elif self.now_us > due_us:
            status = RecordStatus.BREACHED
        elif paused_now:
            status = RecordStatus.PAUSED
        else:
            status = RecordStatus.RUNNING
        fired: list[tuple[int, datetime]] = []
        next_step_us = None
        watching = stop is None and not paused_now
        for index, amount in self.level.step_amounts(target_us):
            step_position = reach(amount) if inside else p_start + (amount if amount > 0 else 0)
            if step_position > p_horizon and not watching:
                continue  # neither reached nor worth waiting for: no instant needed
            at_us = instant_us(step_position)
            if at_us < start_us:
                at_us = start_us
            if at_us < horizon_us:
                fired.append((index, _utc(at_us)))
            elif watching and (next_step_us is None or at_us < next_step_us):
                next_step_us = at_us
        instant = _utc
        return SlaRecord(
            ticket_key=self.ticket_key, metric=metric, seq=seq, level=self.level.name, calendar=cal.name,
            target=target, start=start, due=instant(due_us), stop=stop, status=status,
            business=business_us * _US, paused=paused_us * _US,
            steps_fired=tuple(fired),
            next_step_at=instant(next_step_us) if next_step_us is not None else None,
            pauses=tuple((instant(a), instant(b) if b is not None else None) for a, b in kept),
        )
