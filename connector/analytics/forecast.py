"""The due queue with a breach forecast: for each running clock, the share of past clocks like it
that, having run as long without a reply, went on past its target; and the load now.

Public API: `forecast_due(store, settings, now, filters, within=None, sort="due") -> Table`,
`breach_risks(store, settings, now, wanted) -> {clock key: Risk}` (the same figures for a few
open clocks, as the status page shows them), `clock_key`, `HISTORY_DAYS`.

How a figure is made, so that a lead can check it with the SLA log: take the stored clocks of
the same level and metric that started in the last `HISTORY_DAYS` days. Of those that ran longer
than this clock has so far (in business time), count how many went past this clock's target;
the risk is that count over the first. A past clock still running counts once it is past the
target (it certainly went past); one still running short of the target cannot tell yet and is
left out. A clock already past its due time has a risk of 100 %. Both counts are in the row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from connector.analytics.history import Clock, read_clocks
from connector.analytics.survival import BreachOdds
from connector.core.local_times import local_times
from connector.reports.queries import Column, Filters, Table, filter_conditions
from connector.store.codec import iso
from connector.store.database import Store

HISTORY_DAYS = 180
SORTS = ("due", "risk")
_US = timedelta(microseconds=1)


def forecast_due(
    store: Store,
    settings: Any,
    now: datetime,
    filters: Filters,
    within: timedelta | None = None,
    sort: str = "due",
) -> Table:
    if sort not in SORTS:
        raise ValueError(f"--sort {sort!r} is not one of {', '.join(SORTS)}")
    zone = ZoneInfo(settings.connector.report_timezone)
    local = local_times(zone)
    queue = [
        c
        for c in read_clocks(store, settings, now, open_only=True, filters=filter_conditions(store, settings, filters))
        if within is None or c.left_us is None or c.left_us * _US <= within
    ]
    by_department, by_agent = Counter(), Counter()  # the load now: every open clock, whatever the filters
    for department, agent in store.db.execute(
        "SELECT t.department, t.assignee FROM sla_records r JOIN tickets t ON t.id = r.ticket_id "
        "WHERE r.stopped_at IS NULL AND r.status IN ('running', 'paused', 'breached')"
    ):
        by_department[department] += 1
        by_agent[agent] += 1
    odds = _odds(store, settings, now, queue)
    rows = []
    for clock in queue:
        risk, went_past, comparable = _risk(clock, odds[clock.level, clock.metric])
        rows.append(
            (
                risk,
                [
                    clock.ticket,
                    clock.requester,
                    clock.title,
                    clock.level,
                    clock.metric,
                    local(iso(clock.due)),
                    None if clock.left_us is None else clock.left_us * _US,
                    local(iso(clock.next_step)),
                    clock.status,
                    risk,
                    went_past,
                    comparable,
                    clock.department,
                    by_department[clock.department],
                    clock.agent,
                    by_agent[clock.agent],
                ],
            )
        )
    if sort == "risk":  # highest first; no figure last; then by due time, as the queue was read
        rows.sort(key=lambda pair: -1 if pair[0] is None else -pair[0])
    columns = [
        Column("ticket"),
        Column("requester"),
        Column("title"),
        Column("level"),
        Column("metric", "label"),
        Column("due", "time"),
        Column("left", "duration"),
        Column("next_step", "time"),
        Column("status", "label"),
        Column("risk", "percent"),
        Column("past_went_past", "int"),
        Column("past_ran_as_long", "int"),
        Column("department"),
        Column("department_open", "int"),
        Column("agent"),
        Column("agent_open", "int"),
    ]
    return Table(columns, [row for _, row in rows])


class Risk(NamedTuple):
    percent: Decimal | None  # None: no past clock ran as long
    went_past: int | None  # None when the clock is past its target already
    ran_as_long: int | None


def clock_key(ticket: str | None, requester: str | None, level: str | None, metric: str) -> tuple:
    """How a row of the due queue and a forecast clock are matched: the ticket as shown, its
    requester, the clock's level and metric (one open clock per metric and ticket)."""
    return (ticket, requester, level, metric)


def breach_risks(store: Store, settings: Any, now: datetime, wanted: Collection[tuple]) -> dict[tuple, Risk]:
    """The forecast's figures for the open clocks whose `clock_key` is in `wanted`, as
    `report due --forecast` computes them; only the history of their levels and metrics is read."""
    tickets = sorted({key[0] for key in wanted if key[0] is not None})
    if not tickets:
        return {}
    shown = ([f"coalesce(t.number, t.external_id) IN ({', '.join('?' for _ in tickets)})"], tickets)
    queue = [
        c
        for c in read_clocks(store, settings, now, open_only=True, filters=shown)
        if clock_key(c.ticket, c.requester, c.level, c.metric) in wanted
    ]
    odds = _odds(store, settings, now, queue)
    return {
        clock_key(c.ticket, c.requester, c.level, c.metric): Risk(*_risk(c, odds[c.level, c.metric])) for c in queue
    }


def _odds(store: Store, settings: Any, now: datetime, queue: Iterable[Clock]) -> dict[tuple[str, str], BreachOdds]:
    """The past clocks of each level and metric in `queue`, started in the last HISTORY_DAYS."""
    zone = ZoneInfo(settings.connector.report_timezone)
    since = (now - timedelta(days=HISTORY_DAYS)).astimezone(zone).date()
    odds: dict[tuple[str, str], BreachOdds] = {}
    first = iso(datetime.combine(since, datetime.min.time(), zone))
    for level, metric in sorted({(c.level, c.metric) for c in queue}):
        # a stopped clock's duration is the business time it took: read from an index alone (a
        # record always has its ticket: the foreign key), no clock made of it; the few still
        # open are measured as of now
        stopped = store.db.execute(
            "SELECT r.business_us FROM sla_records r WHERE r.metric = ? AND r.level = ? AND r.start_at >= ? "
            "AND r.status != 'cancelled' AND r.stopped_at IS NOT NULL",
            [metric, level, first],
        )
        running = read_clocks(
            store, settings, now, metric=metric, start=since, filters=(["r.level = ?", "r.stopped_at IS NULL"], [level])
        )
        odds[level, metric] = BreachOdds.of_durations(
            [duration for (duration,) in stopped], [c.duration_us for c in running]
        )
    return odds


def _risk(clock: Clock, odds: BreachOdds) -> tuple[Decimal | None, int | None, int | None]:
    if clock.status == "breached" or clock.duration_us > clock.target_us:
        return Decimal("100.00"), None, None
    went_past, comparable = odds.odds(clock.duration_us, clock.target_us)
    if not comparable:
        return None, went_past, comparable
    return (Decimal(went_past) * 100 / comparable).quantize(Decimal("0.01")), went_past, comparable
