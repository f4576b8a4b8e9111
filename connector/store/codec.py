"""Tickets, messages and SLA records to and from the plain values the store keeps. Pure.

Public API: `ticket_to_json` / `ticket_from_json`, `message_to_row` / `message_from_row`,
`record_to_row` / `record_from_row` (`steps_from_json`: its steps alone), and the column orders
`MESSAGE_COLUMNS` / `RECORD_COLUMNS` that the `*_from_row` functions read. Times are UTC ISO-8601 text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.core.clocks import RecordStatus, SlaRecord
from connector.core.model import Channel, Message, Person, Priority, Role, Status, StatusChange, Ticket

_US = timedelta(microseconds=1)
# enum members by value: `Role("agent")` goes through the enum's Python-level __call__, and every
# stored message and record is decoded this way on every sync
_ROLES = {member.value: member for member in Role}
_CHANNELS = {member.value: member for member in Channel}
_STATUSES = {member.value: member for member in Status}
_RECORD_STATUSES = {member.value: member for member in RecordStatus}


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r} cannot be stored; times are kept in UTC")
    return moment.astimezone(UTC).isoformat()


def parse_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def ticket_to_json(ticket: Ticket) -> str:
    return json.dumps(
        {
            "source": ticket.source,
            "external_id": ticket.external_id,
            "number": ticket.number,
            "title": ticket.title,
            "channel": ticket.channel.value,
            "status": ticket.status.value,
            "raw_status": ticket.raw_status,
            "status_history": [
                [iso(c.at), c.status.value, c.raw_status, c.seq, c.estimated] for c in ticket.status_history
            ],
            "priority": [ticket.priority.rank, ticket.priority.raw_name, ticket.priority.raw_id]
            if ticket.priority
            else None,
            "department": ticket.department,
            "assignee": ticket.assignee,
            "requester": [ticket.requester.name, ticket.requester.email] if ticket.requester else None,
            "organization": ticket.organization,
            "tags": sorted(ticket.tags),
            "custom": dict(ticket.custom),
            "referrer_url": ticket.referrer_url,
            "web_url": ticket.web_url,
            "created_at": iso(ticket.created_at),
            "updated_at": iso(ticket.updated_at),
            "closed_at": iso(ticket.closed_at),
            "deleted": ticket.deleted,
        },
        ensure_ascii=False,
        default=str,
    )


def ticket_from_json(text: str) -> Ticket:
    data = json.loads(text)
    return Ticket(
        source=data["source"],
        external_id=data["external_id"],
        number=data["number"],
        title=data["title"],
        channel=_CHANNELS[data["channel"]],
        status=_STATUSES[data["status"]],
        raw_status=data["raw_status"],
        status_history=tuple(  # stored by older versions without seq and estimated
            StatusChange(parse_iso(at), _STATUSES[s], raw, *rest) for at, s, raw, *rest in data["status_history"]
        ),
        priority=Priority(*data["priority"]) if data["priority"] else None,
        department=data["department"],
        assignee=data["assignee"],
        requester=Person(*data["requester"]) if data["requester"] else None,
        organization=data["organization"],
        tags=frozenset(data["tags"]),
        custom=data["custom"],
        referrer_url=data["referrer_url"],
        web_url=data["web_url"],
        created_at=parse_iso(data["created_at"]),
        updated_at=parse_iso(data["updated_at"]),
        closed_at=parse_iso(data["closed_at"]),
        deleted=data["deleted"],
    )


def message_to_row(ticket_id: int, message: Message) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "external_id": message.external_id,
        "at": iso(message.at),
        "author_role": message.role.value,
        "public": int(message.public),
        "channel": message.channel.value if message.channel else None,
        "auto_generated": int(message.auto_generated),
        "own": int(message.own),
    }


# the stored columns that `message_from_row` and `record_from_row` read, in their order: rows are
# read as plain tuples, since every sync and recompute decodes every message and record it touches
MESSAGE_COLUMNS = "external_id, at, author_role, public, channel, auto_generated, own"
RECORD_COLUMNS = (
    "metric, seq, level, calendar, target_us, start_at, due_at, stopped_at, status, business_us, "
    "paused_us, steps_fired, next_step_at, pauses"
)

_from_iso = datetime.fromisoformat


def message_from_row(row: Sequence[Any]) -> Message:
    external_id, at, role, public, channel, auto_generated, own = row
    return Message(
        external_id,
        _from_iso(at),
        _ROLES[role],
        bool(public),
        _CHANNELS[channel] if channel else None,
        bool(auto_generated),
        bool(own),
    )


def record_to_row(ticket_id: int, record: SlaRecord) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "metric": record.metric,
        "seq": record.seq,
        "level": record.level,
        "calendar": record.calendar,
        "target_us": record.target // _US,
        "start_at": iso(record.start),
        "due_at": iso(record.due),
        "stopped_at": iso(record.stop),
        "status": record.status.value,
        "business_us": record.business // _US,
        "paused_us": record.paused // _US,
        "steps_fired": json.dumps([[index, iso(at), point] for index, at, point in record.steps_fired]),
        "next_step_at": iso(record.next_step_at),
        "next_check_at": iso(record.next_check_at),
        "pauses": json.dumps([[iso(a), iso(b)] for a, b in record.pauses]),
    }


def _json_list(text: str) -> list:
    return [] if text == "[]" else json.loads(text)  # most records have no steps or pauses yet


def _fired_step(index: int, at: str, point: str | None = None) -> tuple[int, datetime, str | None]:
    # databases written before steps were stored with their point have none: see `diff`
    return index, _from_iso(at), point


def steps_from_json(text: str) -> tuple[tuple[int, datetime, str | None], ...]:
    """A record's stored `steps_fired`."""
    return tuple(_fired_step(*fired) for fired in _json_list(text))


def record_from_row(ticket_key: str, row: Sequence[Any]) -> SlaRecord:
    (
        metric,
        seq,
        level,
        calendar,
        target_us,
        start,
        due,
        stop,
        status,
        business_us,
        paused_us,
        steps_fired,
        next_step_at,
        pauses,
    ) = row
    return SlaRecord(
        ticket_key,
        metric,
        seq,
        level,
        calendar,
        target_us * _US,
        _from_iso(start),
        _from_iso(due),
        parse_iso(stop),
        _RECORD_STATUSES[status],
        business_us * _US,
        paused_us * _US,
        steps_from_json(steps_fired),
        parse_iso(next_step_at),
        tuple((_from_iso(a), parse_iso(b)) for a, b in _json_list(pauses)),
    )
