"""`/api/v1/tickets/{source}/{id}/sla`: one ticket's SLA records and events, for a helpdesk side panel.

`id` is the helpdesk's id of the ticket, or its number as the helpdesk shows it. Times are UTC
ISO-8601 as stored; durations in seconds.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException

from connector.api.context import Context, context
from connector.api.models import TicketSla

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])

_US = 1_000_000


def _seconds(us: int | None) -> int | None:
    return None if us is None else us // _US


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


@router.get("/{source}/{ticket_id}/sla", response_model=TicketSla, responses={404: {"description": "no such ticket"}})
def ticket_sla(source: str, ticket_id: str, ctx: Annotated[Context, Depends(context)]) -> dict[str, Any]:
    db = ctx.store.db
    row = db.execute(
        "SELECT id, source, external_id, number, title, status, level, web_url FROM tickets "
        "WHERE source = ? AND (external_id = ? OR number = ?) ORDER BY external_id = ? DESC LIMIT 1",
        [source, ticket_id, ticket_id, ticket_id],
    ).fetchone()
    if row is None:
        raise HTTPException(404, f"no ticket {ticket_id!r} in source {source!r}")
    key, source, external, number, title, status, level, link = row
    records = [
        {
            "metric": r["metric"],
            "seq": r["seq"],
            "level": r["level"],
            "status": r["status"],
            "start": r["start_at"],
            "due": r["due_at"],
            "stopped": r["stopped_at"],
            "target_seconds": _seconds(r["target_us"]),
            "business_seconds": _seconds(r["business_us"]),
            "paused_seconds": _seconds(r["paused_us"]),
            "next_step": r["next_step_at"],
            "steps_fired": _json(r["steps_fired"]) or [],
        }
        for r in db.query("SELECT * FROM sla_records WHERE ticket_id = ? ORDER BY start_at, metric, seq", [key])
    ]
    events = [
        {
            "metric": e["metric"],
            "seq": e["seq"],
            "kind": e["kind"],
            "at": e["at"],
            "recorded_at": e["recorded_at"],
            "data": _json(e["data"]),
        }
        for e in db.query("SELECT * FROM sla_events WHERE ticket_id = ? ORDER BY at, id", [key])
    ]
    ticket = {
        "source": source,
        "external_id": external,
        "number": number,
        "title": title,
        "status": status,
        "level": level,
        "link": link,
    }
    return {"ticket": ticket, "records": records, "events": events}
