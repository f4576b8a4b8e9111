"""The stored SLA records as clocks with a duration: what the statistics are made from.

Public API: `GROUPS`, `Clock`, `read_clocks(store, settings, now, metric=None, start=None, end=None,
open_only=False)`, `group_of(clock, group_by)`.

A stopped clock's duration is the business time it took. A clock still running has run, up to
now, its target less the business time left to its due time (negative when overdue), so a clock
the service last looked at an hour ago is measured as of now; a paused clock keeps the business
time it had when its pause began. Cancelled records are no clocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from connector.core.calendar import BusinessCalendar
from connector.core.model import PRIORITY_RANKS
from connector.store.codec import iso
from connector.store.database import Store

GROUPS = ("level", "department", "priority", "channel", "agent", "metric")
_PRIORITY_NAMES = {rank: name for name, rank in PRIORITY_RANKS.items()}
_US = timedelta(microseconds=1)


class Clock(NamedTuple):
    ticket: str  # the ticket's number (or its id at the helpdesk)
    requester: str | None
    title: str | None
    level: str
    metric: str
    seq: int
    department: str | None
    agent: str | None
    priority: str | None
    channel: str | None
    calendar: str
    target_us: int
    duration_us: int  # taken, or run so far
    stopped: bool
    status: str
    due: datetime
    next_step: datetime | None
    left_us: int | None  # running clocks: business time left to due (negative: overdue)


def group_of(clock: Clock, group_by: str) -> str:
    value = getattr(clock, group_by)
    return "(none)" if value in (None, "") else str(value)


def read_clocks(
    store: Store,
    settings: Any,
    now: datetime,
    metric: str | None = None,
    start: date | None = None,
    end: date | None = None,
    open_only: bool = False,
    filters: tuple[list[str], list[Any]] = ([], []),
) -> Iterator[Clock]:
    """The records (of one metric, started from `start` to `end` in the report time zone) as
    clocks, measured as of `now`."""
    zone = ZoneInfo(settings.connector.report_timezone)
    clauses, params = ["r.status != 'cancelled'"], []
    if metric is not None:
        clauses.append("r.metric = ?")
        params.append(metric)
    if start is not None:
        clauses.append("r.start_at >= ?")
        params.append(iso(datetime.combine(start, time(), zone)))
    if end is not None:
        clauses.append("r.start_at < ?")
        params.append(iso(datetime.combine(end + timedelta(days=1), time(), zone)))
    if open_only:
        clauses.append("r.stopped_at IS NULL AND r.status IN ('running', 'paused', 'breached')")
    clauses += filters[0]
    params += filters[1]
    sql = (
        "SELECT t.number, t.external_id, t.requester_email, t.title, r.level, r.metric, r.seq, t.department, "
        "t.assignee, t.priority_rank, t.channel, r.calendar, r.target_us, r.business_us, r.stopped_at, r.status, "
        "r.due_at, r.next_step_at FROM sla_records r JOIN tickets t ON t.id = r.ticket_id "
        f"WHERE {' AND '.join(clauses)} ORDER BY r.due_at, r.rowid"
    )
    configured = {c.name: c for c in settings.calendars}
    calendars: dict[str, BusinessCalendar | None] = {}
    for (
        number,
        external,
        requester,
        title,
        level,
        metric_name,
        seq,
        department,
        agent,
        rank,
        channel,
        calendar_name,
        target_us,
        business_us,
        stopped_at,
        status,
        due_at,
        next_step_at,
    ) in store.db.execute(sql, params):
        due = datetime.fromisoformat(due_at)
        stopped = stopped_at is not None
        left_us = None
        duration = business_us
        if not stopped and status != "paused":
            if calendar_name not in calendars:
                section = configured.get(calendar_name)
                calendars[calendar_name] = BusinessCalendar.from_config(section) if section else None
            calendar = calendars[calendar_name]
            if calendar is not None:
                left = calendar.elapsed(now, due) if now < due else -calendar.elapsed(due, now)
                left_us = left // _US
                duration = max(business_us, target_us - left_us)
        yield Clock(
            number or external,
            requester,
            title,
            level,
            metric_name,
            seq,
            department,
            agent,
            _PRIORITY_NAMES.get(rank),
            channel,
            calendar_name,
            target_us,
            duration,
            stopped,
            status,
            due,
            datetime.fromisoformat(next_step_at) if next_step_at else None,
            left_us,
        )
