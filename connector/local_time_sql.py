"""SQL expressions that turn stored UTC ISO-8601 text into local times of one zone, so that
SQLite formats a million rows in C instead of Python converting each one.

Public API: `LocalTimeSql(zone, start, end)` with `.iso(column)`.

SQLite knows no time zones, but a zone's offset is constant between its transitions; within
`[start, end)` the expressions pick the offset by comparing the (sortable) UTC text against the
transition instants. Outside that range the nearest segment's offset applies, so the range should
cover the rows selected.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

_UTC = timezone.utc


def _offset_minutes(zone: ZoneInfo, moment: datetime) -> int:
    return int(moment.astimezone(zone).utcoffset().total_seconds() // 60)


def transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """[(from this UTC instant, offset in minutes)], the first from `start`."""
    segments = [(start, _offset_minutes(zone, start))]
    day = start
    while day < end:
        following = min(day + timedelta(days=1), end)
        if _offset_minutes(zone, following) != segments[-1][1]:
            low, high = day, following  # bisect to the second the offset changes
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if _offset_minutes(zone, middle) == segments[-1][1]:
                    low = middle
                else:
                    high = middle
            high = high.replace(microsecond=0)
            segments.append((high, _offset_minutes(zone, high)))
        day = following
    return segments


def _suffix(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


class LocalTimeSql:
    def __init__(self, zone: ZoneInfo, start: datetime, end: datetime):
        self.segments = transitions(zone, start.astimezone(_UTC) - timedelta(days=2), end.astimezone(_UTC) + timedelta(days=2))

    def _case(self, column: str, render) -> str:
        if len(self.segments) == 1:
            return render(self.segments[0][1])
        parts = [f"WHEN {column} < '{moment.isoformat()}' THEN {render(offset)}"
                 for (moment, _), (_, offset) in zip(self.segments[1:], self.segments)]
        return f"CASE {' '.join(parts)} ELSE {render(self.segments[-1][1])} END"

    def iso(self, column: str) -> str:
        """The local time as ISO-8601 with its offset, seconds precision; NULL stays NULL."""
        return self._case(column, lambda m: f"(strftime('%Y-%m-%dT%H:%M:%S', {column}, '{m:+d} minutes') || '{_suffix(m)}')")
