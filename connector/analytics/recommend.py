"""Targets from history: per group, how long clocks of one metric took (p50 p80 p90 p95), and the
target at which a given share of them would have been met.

Public API: `recommend(store, settings, now, metric, group_by, meet, start, end) -> Table`.

Percentiles come from the Kaplan-Meier estimate (`survival.kaplan_meier`), so clocks still
running count for as long as they have run. A percentile the estimate never reaches (too many
clocks still running beyond the longest reply) is left empty.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from connector.analytics.history import GROUPS, group_of, read_clocks
from connector.analytics.survival import Observation, kaplan_meier
from connector.reports.queries import Column, Table
from connector.store.database import Store

PERCENTILES = (50, 80, 90, 95)


def recommend(
    store: Store,
    settings: Any,
    now: datetime,
    metric: str,
    group_by: str = "level",
    meet: float = 90,
    start: date | None = None,
    end: date | None = None,
) -> Table:
    if group_by not in GROUPS:
        raise ValueError(f"--group-by {group_by!r} is not one of {', '.join(GROUPS)}")
    if not 0 < meet < 100:
        raise ValueError(f"--meet {meet!r} must be a percent between 0 and 100")
    groups: dict[str, list[Observation]] = {}
    for clock in read_clocks(store, settings, now, metric=metric, start=start, end=end):
        groups.setdefault(group_of(clock, group_by), []).append(Observation(clock.duration_us, clock.stopped))
    meet_label = f"{meet:g}".replace(".", "_")
    columns = [
        Column(group_by, "label"),
        Column("records", "int"),
        Column("stopped", "int"),
        Column("running", "int"),
        *(Column(f"p{p}", "duration") for p in PERCENTILES),
        Column(f"target_for_{meet_label}pct", "duration"),
    ]
    rows = []
    for name in sorted(groups):
        curve = kaplan_meier(groups[name])
        rows.append(
            [
                name,
                curve.count,
                curve.stopped,
                curve.count - curve.stopped,
                *(_duration(curve.quantile(p / 100)) for p in PERCENTILES),
                _duration(curve.quantile(meet / 100)),
            ]
        )
    return Table(columns, rows)


def _duration(us: int | None) -> timedelta | None:
    """Rounded up to the second: a target is met at or under it, and reports show seconds."""
    return None if us is None else timedelta(seconds=-(-us // 1_000_000))
