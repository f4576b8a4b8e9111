"""Small builders for engine tests: a policy from TOML text, tickets and messages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

from connector.config.settings import load_config
from connector.core.model import Channel, Message, Priority, Role, Status, StatusChange, Ticket
from connector.core.policy import Policy

UTC = UTC

CALENDARS = """
[[calendars]]
name = "always"
timezone = "UTC"
hours.mon = ["00:00-24:00"]
hours.tue = ["00:00-24:00"]
hours.wed = ["00:00-24:00"]
hours.thu = ["00:00-24:00"]
hours.fri = ["00:00-24:00"]
hours.sat = ["00:00-24:00"]
hours.sun = ["00:00-24:00"]

[[calendars]]
name = "office"
timezone = "UTC"
hours.mon = ["09:00-17:00"]
hours.tue = ["09:00-17:00"]
hours.wed = ["09:00-17:00"]
hours.thu = ["09:00-17:00"]
hours.fri = ["09:00-17:00"]
"""

DEFAULT_POLICY = (
    CALENDARS
    + """
[connector]
default_level = "Standard"
pause_statuses = ["pending"]

[[levels]]
name = "Standard"
calendar = "always"
first_reply = "1h"
next_reply = "30m"
resolution = "8h"
chat_reply = "2m"
[levels.by_priority.high]
first_reply = "15m"

[[levels]]
name = "Urgent SLA"
calendar = "always"
first_reply = "10m"
next_reply = "5m"

[[levels]]
name = "Office"
calendar = "office"
first_reply = "4h"
resolution = "4h"

[[rules]]
name = "Urgent tag"
when = { field = "tags", op = "contains", value = "URGENT" }
set_level = "Urgent SLA"
stop = true

[escalation]
leads = ["lead@help.example"]
[[escalation.steps]]
at = "-20%"
add_tags = ["sla-warning"]
[[escalation.steps]]
at = "0"
add_tags = ["sla-breached"]
remove_tags = ["sla-warning"]
raise_priority = "high"
add_note = "SLA {metric} ({level}) breached on {ticket}: due {due}, overdue {overdue}"
[[escalation.steps]]
at = "+2h"
notify = ["lead", "assignee"]
"""
)


def load_settings(text: str = DEFAULT_POLICY):
    with TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(text)
        return load_config(path)


def policy_from(text: str = DEFAULT_POLICY) -> Policy:
    return Policy.from_settings(load_settings(text))


def t(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026 (2026-11-02 is a Monday), UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def ticket(created: datetime, **fields) -> Ticket:
    fields.setdefault("updated_at", created)
    return Ticket(source="test", external_id=fields.pop("external_id", "1"), created_at=created, **fields)


def customer(at: datetime, ident: str | None = None, **fields) -> Message:
    return Message(ident or f"c{at:%d%H%M}", at, Role.CUSTOMER, **fields)


def agent(at: datetime, ident: str | None = None, **fields) -> Message:
    return Message(ident or f"a{at:%d%H%M}", at, Role.AGENT, **fields)


def history(*changes: tuple[datetime, Status]) -> tuple[StatusChange, ...]:
    return tuple(StatusChange(at, status) for at, status in changes)


__all__ = [
    "Channel",
    "Priority",
    "Status",
    "policy_from",
    "load_settings",
    "t",
    "ticket",
    "customer",
    "agent",
    "history",
    "UTC",
]
