"""A small store for report tests: tickets and records written as the service stores them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from connector.store.database import Store

US = timedelta(microseconds=1)


def at(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def add_ticket(store: Store, ident: int, **fields) -> None:
    row = {
        "id": ident,
        "source": "test",
        "external_id": str(ident),
        "number": str(1000 + ident),
        "snapshot": "{}",
        "tags": json.dumps(fields.pop("tags", [])),
    }
    store.db["tickets"].insert({**row, **fields})


def add_record(
    store: Store,
    ticket: int,
    seq: int,
    status: str,
    start: datetime,
    due: datetime,
    stopped: datetime | None,
    business: timedelta,
    metric: str = "first_reply",
    level: str = "Standard",
    calendar: str = "always",
    pauses: str = "[]",
) -> None:
    store.db["sla_records"].insert(
        {
            "ticket_id": ticket,
            "metric": metric,
            "seq": seq,
            "level": level,
            "calendar": calendar,
            "target_us": (due - start) // US,
            "start_at": start.isoformat(),
            "due_at": due.isoformat(),
            "stopped_at": stopped.isoformat() if stopped else None,
            "status": status,
            "business_us": business // US,
            "paused_us": 0,
            "steps_fired": "[]",
            "pauses": pauses,
            "next_step_at": None,
            "next_check_at": None,
        }
    )


def add_outcomes(store: Store, ticket: int, met: int, failed: int, day: int = 10) -> None:
    """`met` met and `failed` breached one-hour first replies of one ticket, decided on `day`."""
    start = at(day, 8)
    for seq in range(met + failed):
        if seq < met:
            add_record(
                store,
                ticket,
                seq,
                "met",
                start,
                start + timedelta(hours=1),
                start + timedelta(minutes=30),
                timedelta(minutes=30),
            )
        else:
            add_record(
                store,
                ticket,
                seq,
                "breached",
                start,
                start + timedelta(hours=1),
                start + timedelta(hours=2),
                timedelta(hours=2),
            )
