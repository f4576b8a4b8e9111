"""From a ticket, its messages, a level and a calendar to SLA records. Pure and deterministic:
the same input always gives the same records, so a ticket's records are recomputed from scratch
whenever it changes.

Public API: `compute(ticket, messages, level, calendar, pause_statuses, now, terms=None)`,
`recompute(ticket, messages, policy, previous, now)` (picks the level, keeps decided records under
the level and target they were decided under, cancels when no level applies), `SlaRecord`,
`RecordStatus`.

Metrics:
- first_reply: creation to the first public agent message; none when an agent wrote first (an
  internal note included). An agent's message stamped within `CREATION_SKEW` before the creation
  is a reply at the creation.
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

from bisect import bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import takewhile
from operator import attrgetter
from typing import TYPE_CHECKING, NamedTuple

from connector.core.calendar import BusinessCalendar
from connector.core.model import Channel, Message, Role, Status, Ticket, message_order

if TYPE_CHECKING:
    from connector.core.policy import Level, Policy, Target

_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        return self in _DECIDED


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
    business: timedelta  # business time taken, pauses excluded
    paused: timedelta  # business time spent paused
    # (step index in the level's ladder, when it was reached, its point as written: "-20%", "0"),
    # the point being the step's identity when a ladder is edited and its indexes shift
    steps_fired: tuple[tuple[int, datetime, str | None], ...]
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


def compute(
    ticket: Ticket,
    messages: Iterable[Message],
    level: Level,
    calendar: BusinessCalendar,
    pause_statuses: Collection[str],
    now: datetime,
    terms: Mapping[tuple[str, int], Target] | None = None,
) -> list[SlaRecord]:
    """The SLA records of one ticket under one level, as of `now`, in (metric, seq) order: the
    first reply, the next replies in turn (or chat / call replies), then resolution, each with the
    level's target for the ticket's priority. With `terms`, only the records it names, each with
    the target it gives for its (metric, seq)."""
    pausing = {s.casefold() for s in pause_statuses}
    horizon = min(now, ticket.updated_at) if ticket.deleted else now
    held, done = [], []  # pausing periods, and runs of solved/closed ones with their start
    periods = _status_periods(ticket, horizon)
    for since, a, b, status, raw in periods:
        if status in pausing or (raw and raw.casefold() in pausing):  # a Status is its own value
            held.append((a, b))
        if status in _DONE:
            if done and done[-1][1] == a:  # solved, then closed: still the same stop
                done[-1] = (done[-1][0], b, done[-1][2])
            else:
                done.append((a, b, since))
    priority = ticket.priority
    targets = level.targets_for((priority.name, priority.raw_name) if priority else ())
    created, created_us = ticket.created_at, periods[0][1]  # the first period begins at creation
    clock = (ticket.key, level.name, calendar, _to_us(horizon), created, created_us, calendar.position_us(created_us))
    records = []
    reply_pauses = _merge(held + [(a, b) for a, b, _ in done])
    for metric, seq, start, stop in _reply_spans(ticket, messages, targets):
        target = targets.get(metric) if terms is None else terms.get((metric, seq))
        if target is not None:
            records.append(_measure(clock, metric, seq, target, start, stop, reply_pauses))
    target = targets.get("resolution") if terms is None else terms.get(("resolution", 1))
    if target is not None:
        finished = done and done[-1][1] is None
        stop = done[-1][2] if finished else None
        earlier_done = [(a, b) for a, b, _ in (done[:-1] if finished else done)]
        records.append(_measure(clock, "resolution", 1, target, created, stop, _merge(held + earlier_done)))
    if ticket.deleted:
        records = [_cancelled(r) for r in records]
    return records


def recompute(
    ticket: Ticket, messages: Sequence[Message], policy: Policy, previous: Iterable[SlaRecord], now: datetime
) -> list[SlaRecord]:
    """The ticket's records under the level its rules give it now, with its priority's targets;
    running clocks are re-targeted from their original start. A record already met or breached
    keeps the level and the target it was decided under, so a later change of the ticket's level
    or priority (the ladder itself raises priorities) or of a level's targets never turns a met
    record into a breach or the other way round; it is still measured again, so a message that
    arrives late counts. Records no level applies to any more are cancelled."""
    previous = {r.ident: r for r in previous}
    level = policy.level_for(ticket, messages, now)
    records = [] if level is None else compute(ticket, messages, level, level.calendar, policy.pause_statuses, now)
    if not previous:
        return records
    fresh = {r.ident: r for r in records}
    result = dict(fresh)
    decided_under: dict[str, dict[tuple[str, int], SlaRecord]] = {}  # other terms, by level
    for ident, old in previous.items():
        current = fresh.get(ident)
        if old.status.is_decided:
            if current is None or current.level != old.level or current.target != old.target:
                decided_under.setdefault(old.level, {})[ident] = old
        elif current is None and old.status is not RecordStatus.CANCELLED:
            result[ident] = _cancelled(old)
    for name, decided in decided_under.items():
        old_level = policy.levels.get(name)
        again = {}
        if old_level is not None:  # one computation per earlier level, of these records, each with its target
            terms = {ident: old_level.target_of(old.target) for ident, old in decided.items()}
            again = {
                r.ident: r
                for r in compute(ticket, messages, old_level, old_level.calendar, policy.pause_statuses, now, terms)
            }
        for ident, old in decided.items():
            result[ident] = again.get(ident) or old
    return [result[ident] for ident in sorted(result)]


def _cancelled(record: SlaRecord) -> SlaRecord:
    """Stop a record's clock for good: a breach stays a breach, but escalates no further."""
    if record.status.is_decided or record.status is RecordStatus.CANCELLED:
        return record._replace(next_step_at=None) if record.next_step_at else record
    return record._replace(status=RecordStatus.CANCELLED, next_step_at=None)


def _reply_spans(ticket: Ticket, messages: Iterable[Message], targets: dict[str, Target]):
    """(metric, seq, start, stop or None) for every reply clock the conversation starts."""
    created = ticket.created_at
    human = [m for m in messages if not m.auto_generated and not m.own and m.role is not _SYSTEM]
    human.sort(key=message_order)
    if len(human) > 1 and human[0].at <= created:
        # an agent's message stamped just before the creation (mail servers' clocks differ) is a
        # reply at the creation, after the customer's opening message, not the ticket's opening
        early = created - CREATION_SKEW
        if any(m.role is _AGENT and m.at >= early for m in takewhile(lambda m: m.at <= created, human)):
            human.sort(
                key=lambda m: (m.at if m.at > created else created, m.role is _AGENT and early <= m.at <= created)
            )
    # an agent wrote first, publicly or in an internal note: the agent opened it, no first reply
    outbound = bool(human) and human[0].role is _AGENT
    counted = [m for m in human if m.public]  # `Message.counts`, inlined
    own = _OWN_REPLY_METRIC.get(ticket.channel)
    first, follow = (own, own) if own and targets.get(own) else ("first_reply", "next_reply")
    open_start, open_metric = (None, follow) if outbound else (created, first)
    spans: list[tuple[str, int, datetime, datetime | None]] = []
    seqs: dict[str, int] = {}
    for message in counted:
        at = message.at if message.at > created else created
        if message.role is _AGENT:
            if open_start is not None:
                seqs[open_metric] = seq = seqs.get(open_metric, 0) + 1
                spans.append((open_metric, seq, open_start, at))
                open_start = None
        elif open_start is None:  # the customer writes after an agent's reply
            open_start, open_metric = at, follow
    if open_start is not None:
        spans.append((open_metric, seqs.get(open_metric, 0) + 1, open_start, None))
    return spans


_change_time = attrgetter("at")
_change_order = attrgetter("at", "seq")  # the same instant: the host's order
CREATION_SKEW = timedelta(minutes=2)  # how far mail servers' clocks are allowed to disagree
_OWN_REPLY_METRIC = {Channel.CHAT: "chat_reply", Channel.PHONE: "call_reply"}
# enum members as plain names: reading `Role.AGENT` costs a lookup through the enum's class
_AGENT, _SYSTEM = Role.AGENT, Role.SYSTEM

# a status period: (start, start in epoch µs, end in epoch µs or None, status, raw status)
Period = tuple[datetime, int, int | None, Status, str]


def _status_periods(ticket: Ticket, now: datetime) -> list[Period]:
    """The ticket's statuses from creation on, in time order."""
    created = ticket.created_at
    created_us = _to_us(created)
    history = sorted(ticket.status_history, key=_change_order)
    del history[bisect_right(history, now, key=_change_time) :]
    if not history:
        # only the current status is known: it began at the last change the host reports
        since = (ticket.closed_at or ticket.updated_at) if ticket.status.is_done else ticket.updated_at
        if since <= created or ticket.status in (Status.NEW, Status.OPEN):
            return [(created, created_us, None, ticket.status, ticket.raw_status)]
        since_us = _to_us(since)
        return [
            (created, created_us, since_us, Status.OPEN, ""),
            (since, since_us, None, ticket.status, ticket.raw_status),
        ]
    periods: list[Period] = []
    at = history[0].at
    start, start_us = (at, _to_us(at)) if at > created else (created, created_us)
    if start_us > created_us:
        periods.append((created, created_us, start_us, Status.NEW, ""))
    for change, following in zip(history, history[1:]):
        at = following.at
        end, end_us = (at, _to_us(at)) if at > created else (created, created_us)
        if end_us > start_us:
            periods.append((start, start_us, end_us, change.status, change.raw_status))
        start, start_us = end, end_us
    change = history[-1]
    periods.append((start, start_us, None, change.status, change.raw_status))
    return periods


def _merge(spans: list[tuple[int, int | None]]) -> list[tuple[int, int | None]]:
    if len(spans) < 2:
        return spans
    merged: list[list] = []
    for start, end in sorted(spans):
        if merged and (merged[-1][1] is None or start <= merged[-1][1]):
            if merged[-1][1] is not None:
                merged[-1][1] = None if end is None else max(end, merged[-1][1])
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


_DONE = frozenset((Status.SOLVED, Status.CLOSED))
_MET, _BREACHED, _PAUSED, _RUNNING = RecordStatus.MET, RecordStatus.BREACHED, RecordStatus.PAUSED, RecordStatus.RUNNING
_DECIDED = frozenset((_MET, _BREACHED))
_NO_TIME = timedelta(0)
_new_tuple = tuple.__new__


def _reach(start: int, amount: int, pauses: list[tuple[int, int]]) -> int:
    """The business-time position at which `amount` µs, net of pauses (given as positions), have
    passed since position `start`."""
    remaining, cursor = amount if amount > 0 else 0, start
    for pa, pb in pauses:
        if cursor + remaining <= pa:
            break
        if pa > cursor:
            remaining -= pa - cursor
        if pb > cursor:
            cursor = pb
    return cursor + remaining


def _measure(
    clock: tuple[str, str, BusinessCalendar, int, datetime, int, int],
    metric: str,
    seq: int,
    target: Target,
    start: datetime,
    stop: datetime | None,
    pauses: list[tuple[int, int | None]],
) -> SlaRecord:
    """One clock of one ticket, measured in business-time positions of its calendar; instants are
    integer microseconds since the epoch. `clock` holds what a ticket's clocks share: its key, the
    level's name, the calendar, `now`, and its creation (as a datetime, in µs, as a position).
    Every record of every ticket passes through here, so it is written for speed: locals rather
    than helpers, no work for steps nobody waits for."""
    ticket_key, level_name, cal, now_us, created, created_us, p_created = clock
    position = cal.position_us
    if start is created:  # first reply and resolution start there
        start_us, p_start = created_us, p_created
    else:
        start_us = (start - _EPOCH) // _US
        p_start = position(start_us)
    horizon_us = now_us if stop is None else (stop - _EPOCH) // _US
    if horizon_us < start_us:
        horizon_us = start_us
    p_horizon = position(horizon_us)
    inside: list[tuple[int, int]] = []  # pauses as business-time positions
    kept: list[tuple[int, int | None]] = []  # and as instants, for the record
    paused_now = False
    for a_us, b_us in pauses:
        if a_us >= horizon_us or (horizon_us if b_us is None else b_us) <= start_us:
            continue
        if b_us is None:
            hi, ended = horizon_us, None
            paused_now = stop is None
        elif b_us >= horizon_us:
            # a pause that lasts until the clock stopped never ended: the clock stopped paused
            hi, ended = horizon_us, None if stop is not None else horizon_us
        else:
            hi = ended = b_us
        lo = a_us if a_us > start_us else start_us
        inside.append((position(lo) if lo != start_us else p_start, position(hi) if hi != horizon_us else p_horizon))
        kept.append((lo, ended))
    instant = cal.instant_us
    target_us = target.us
    due_position = _reach(p_start, target_us, inside) if inside else p_start + target_us
    due_us = instant(due_position)
    if due_us < start_us:
        due_us = start_us
    due = _EPOCH + _US * due_us
    if stop is not None:
        status = _MET if horizon_us <= due_us else _BREACHED
    elif now_us > due_us:
        status = _BREACHED
    elif paused_now:
        status = _PAUSED
    else:
        status = _RUNNING
    fired = []
    next_step_us = None
    watching = stop is None and not paused_now
    earliest = target.earliest_step
    if earliest is None or not (watching or inside or p_start + earliest <= p_horizon):
        steps = ()  # a stopped clock that never reached its first step: most met records
    else:
        steps = target.steps
    for index, amount, point in steps:
        if amount == target_us:
            at_us, at = due_us, due  # the step at the due time itself
        else:
            if inside:
                step_position = _reach(p_start, amount, inside)
            else:
                step_position = p_start + amount if amount > 0 else p_start
            if step_position > p_horizon and not watching:
                continue  # neither reached nor worth waiting for: no instant needed
            at_us = instant(step_position)
            if at_us < start_us:
                at_us = start_us
            at = None
        if at_us < horizon_us:
            fired.append((index, at or _EPOCH + _US * at_us, point))
        elif watching and (next_step_us is None or at_us < next_step_us):
            next_step_us = at_us
    paused_us = sum([pb - pa for pa, pb in inside]) if inside else 0
    # tuple.__new__ is what SlaRecord(...) calls; called directly it costs a third less per record
    return _new_tuple(
        SlaRecord,
        (
            ticket_key,
            metric,
            seq,
            level_name,
            cal.name,
            target.duration,
            start,
            due,
            stop,
            status,
            _US * (p_horizon - p_start - paused_us),
            _US * paused_us if paused_us else _NO_TIME,
            tuple(fired),
            None if next_step_us is None else _EPOCH + _US * next_step_us,
            tuple([(_utc(a), None if b is None else _utc(b)) for a, b in kept]) if kept else (),
        ),
    )
