"""From SLA record changes to events, and from events to actions on the helpdesk. Pure.

Public API: `diff(old_records, new_records, now, ticket) -> [Event]`, `plan(events, escalation, ticket, now,
records) -> [Action]`, `Escalation` (the ladders by level, the leads, the catch-up window, whether a
met clock takes its tags off).

Every event has a deterministic key (ticket, metric, sequence, kind, and for pauses and met the
instant they happened), so recomputing the same input never yields an event twice, and the store
refuses a key it has seen. A step's key names its point ("step@-20%"), not its place in the
ladder, so editing a ladder neither repeats a step nor silences one. Every action's key is its
event's key plus the action kind: the outbox delivers each key once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.core.clocks import RecordStatus, SlaRecord
from connector.core.durations import format_duration
from connector.core.model import PRIORITY_RANKS, Ticket
from connector.core.policy import Step


@dataclass(frozen=True, slots=True)
class Event:
    key: str
    ticket_key: str
    metric: str
    seq: int
    kind: str  # started, paused, resumed, step:<n>, breached, met, corrected, cancelled
    at: datetime
    record: SlaRecord
    # corrected: previous_stop, stop, previous_status; any stopping event: stop_estimated when the
    # source could only estimate the stop (a mailbox's first read)
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Action:
    key: str
    event_key: str
    ticket_key: str
    kind: str  # add_tags, remove_tags, raise_priority, add_note, notify
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Escalation:
    ladders: Mapping[str, tuple[Step, ...]]  # level name -> its steps
    leads: tuple[str, ...] = ()
    catch_up: timedelta = timedelta(days=1)
    zones: Mapping[str, Any] = field(default_factory=dict)  # level name -> zone for texts
    remove_tags_when_met: bool = True

    @classmethod
    def from_policy(cls, policy: Any, settings: Any) -> Escalation:
        return cls(
            ladders={name: level.steps for name, level in policy.levels.items()},
            leads=tuple(settings.escalation.leads),
            catch_up=settings.escalation.catch_up,
            zones={name: level.calendar.zone for name, level in policy.levels.items()},
            remove_tags_when_met=settings.escalation.remove_tags_when_met,
        )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def diff(
    old_records: Iterable[SlaRecord], new_records: Iterable[SlaRecord], now: datetime, ticket: Ticket | None = None
) -> list[Event]:
    """The events between a ticket's stored records and its recomputed ones. A decided record
    whose stop a late fact moved (a reply the host reported late, a solve time corrected), or a
    breach a late fact turned into met, gets a `corrected` event with the old and the new stop.
    With the `ticket`, events of a stop the source only estimated say so."""
    old = {r.ident: r for r in old_records}
    events: list[Event] = []
    estimated = _estimated_stops(ticket)
    for new in sorted(new_records, key=lambda r: r.ident):
        prev = old.get(new.ident)
        base = f"{new.ticket_key}:{new.metric}:{new.seq}"
        mark = {"stop_estimated": True} if new.stop is not None and new.stop in estimated else {}

        def emit(kind: str, at: datetime, suffix: str = "", name: str | None = None, detail=None) -> None:
            key = f"{base}:{name or kind}{suffix}"
            events.append(Event(key, new.ticket_key, new.metric, new.seq, kind, at, new, detail or _NO_DETAIL))

        if prev is None:
            emit("started", new.start)
        before = dict(prev.pauses) if prev else {}
        for start, end in new.pauses:
            if start not in before:
                emit("paused", start, f"@{_utc(start)}")
            if end is not None and before.get(start, None) is None:
                emit("resumed", end, f"@{_utc(start)}/{_utc(end)}")
        points_before, indexes_before = set(), set()  # a step stored without its point: by index
        for index, _, point in prev.steps_fired if prev else ():
            if point is None:
                indexes_before.add(index)
            else:
                points_before.add(point)
        for index, at, point in new.steps_fired:
            if point not in points_before and index not in indexes_before:
                emit(f"step:{index}", at, f"@{point}", name="step")
        if new.status is RecordStatus.BREACHED and (prev is None or prev.status is not RecordStatus.BREACHED):
            emit("breached", new.due, detail=mark or None)
        if new.status is RecordStatus.MET and (prev is None or prev.status is not RecordStatus.MET):
            emit("met", new.stop, f"@{_utc(new.stop)}", detail=mark or None)
        if (
            prev is not None
            and prev.status.is_decided
            and new.status.is_decided
            and new.stop is not None
            and new.stop != prev.stop
            and (prev.stop is not None or new.status is not prev.status)
        ):
            was = _utc(prev.stop) if prev.stop else None
            detail = {"previous_stop": was, "stop": _utc(new.stop), "previous_status": prev.status.value, **mark}
            emit("corrected", now, f"@{was or '-'}/{_utc(new.stop)}", detail=detail)
        if new.status is RecordStatus.CANCELLED and (prev is None or prev.status is not RecordStatus.CANCELLED):
            emit("cancelled", now)
    return events


_NO_DETAIL: Mapping[str, Any] = {}


def _estimated_stops(ticket: Ticket | None) -> frozenset[datetime]:
    if ticket is None:
        return frozenset()
    return frozenset(c.at for c in ticket.status_history if c.estimated and c.status.is_done)


def plan(
    events: Iterable[Event],
    escalation: Escalation,
    ticket: Ticket | None = None,
    now: datetime | None = None,
    records: Iterable[SlaRecord] = (),
) -> list[Action]:
    """The actions the ladder asks for. Steps reached longer than `catch_up` ago (an old ticket's
    first sync, an outage) and steps of records already stopped write nothing; a priority is
    never lowered.

    Tags are the state of the ticket's clocks: with `remove_tags_when_met`, a clock met after
    steps that tagged the ticket takes those tags off again. `records` are the ticket's records
    now: a tag that another clock of the ticket still running holds is never removed."""
    events = list(events)
    records = list(records)
    actions: list[Action] = []
    for event in events:
        record = event.record

        def add(kind: str, **payload: Any) -> None:
            actions.append(Action(f"{event.key}:{kind}", event.key, event.ticket_key, kind, payload))

        if event.kind == "met":
            # however late it is noticed (an outage): the tags were written when the steps fired
            if escalation.remove_tags_when_met:
                tags = _tags_held(record, escalation, _steps_in_batch(event, events)) - _tags_held_by_others(
                    record, records, escalation
                )
                if tags:
                    add("remove_tags", tags=sorted(tags))
            continue
        if not event.kind.startswith("step:") or record.stop is not None or record.status is RecordStatus.CANCELLED:
            continue
        if now is not None and now - event.at > escalation.catch_up:
            continue
        ladder = escalation.ladders.get(record.level, ())
        index = _step_index(event)
        if index >= len(ladder):
            continue
        step = ladder[index].actions
        if step.add_tags:
            add("add_tags", tags=list(step.add_tags))
        if step.remove_tags:
            held = _tags_held_by_others(record, records, escalation)
            tags = [tag for tag in step.remove_tags if tag not in held]
            if tags:
                add("remove_tags", tags=tags)
        if step.raise_priority:
            rank = PRIORITY_RANKS[step.raise_priority]
            if ticket is None or ticket.priority is None or ticket.priority.rank < rank:
                add("raise_priority", priority=step.raise_priority, rank=rank)
        texts = _texts(event, escalation, ticket)
        if step.add_note:
            add("add_note", text=step.add_note.format_map(texts))
        if step.notify:
            recipients = []
            for who in step.notify:
                recipients += list(escalation.leads) if who == "lead" else [who]
            subject = f"SLA {texts['metric']} {_headline(event)} on ticket {texts['ticket']}"
            body = (
                f"Ticket {texts['ticket']} {texts['title']}\nLevel: {texts['level']}\nMetric: {texts['metric']}\n"
                f"Due: {texts['due']}\nOverdue: {texts['overdue']}\nStatus: {texts['status']}\n"
            )
            add("notify", recipients=list(dict.fromkeys(recipients)), subject=subject, body=body)
    return actions


def _steps_in_batch(event: Event, events: list[Event]) -> set[int]:
    """The steps of this event's record reached in the same batch: never written, since the
    clock had stopped by the time they were noticed."""
    ident = event.record.ident
    return {
        _step_index(e)
        for e in events
        if e.kind.startswith("step:") and e.ticket_key == event.ticket_key and e.record.ident == ident
    }


def _step_index(event: Event) -> int:
    """The ladder index of a `step:<n>` event."""
    return int(event.kind.removeprefix("step:"))


def _tags_held(record: SlaRecord, escalation: Escalation, skipped: Collection[int] = ()) -> set[str]:
    """The tags a record's fired steps leave on the ticket, taken in the order they fired."""
    ladder = escalation.ladders.get(record.level, ())
    held: set[str] = set()
    for index, _, _ in sorted(record.steps_fired, key=lambda fired: (fired[1], fired[0])):
        if index < len(ladder) and index not in skipped:
            held.update(ladder[index].actions.add_tags)
            held.difference_update(ladder[index].actions.remove_tags)
    return held


def _tags_held_by_others(record: SlaRecord, records: Iterable[SlaRecord], escalation: Escalation) -> set[str]:
    """The tags the ticket's other clocks, still running, hold."""
    held: set[str] = set()
    for other in records:
        if other.ident != record.ident and other.stop is None and other.status is not RecordStatus.CANCELLED:
            held |= _tags_held(other, escalation)
    return held


def _headline(event: Event) -> str:
    return "breached" if event.record.due <= event.at else "due soon"


def _texts(event: Event, escalation: Escalation, ticket: Ticket | None) -> dict[str, str]:
    record = event.record
    zone = escalation.zones.get(record.level)
    due = record.due.astimezone(zone) if zone else record.due
    overdue = max(record.business - record.target, timedelta(0))
    return {
        "ticket": (ticket.number or ticket.external_id) if ticket else record.ticket_key,
        "title": ticket.title if ticket else "",
        "metric": record.metric,
        "level": record.level,
        "due": due.strftime("%Y-%m-%d %H:%M %Z"),
        "overdue": format_duration(overdue),
        "status": record.status.value,
    }
