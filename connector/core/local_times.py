"""Stored times (UTC ISO-8601 text) as local times of the report zone, fast enough for a million
rows: the zone is consulted once per UTC hour, and a row's time is that hour's local text with
the row's minutes and seconds.

Public API: `local_times(zone)` returns a function that takes stored text or None and returns the
local time as ISO-8601 text with seconds and the offset (`2025-06-01T14:05:09+02:00`), or None.

Exact in every zone and year: an hour whose offset is not a whole number of hours, or that holds
a change of offset, has its rows converted one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

_HOUR = timedelta(hours=1)
# about ten days of hours; then the memo starts afresh, so that memory stays flat however many
# rows a report has (rows mostly come in time order, so a fresh memo soon holds what they need)
_MOST_HOURS = 256
_ONE_BY_ONE = ("", "")  # the memo's mark for an hour whose rows are converted one by one


def local_times(zone: ZoneInfo) -> Callable[[str | None], str | None]:
    hours: dict[str, tuple[str, str]] = {}  # UTC hour -> (local date and hour, offset suffix)

    def learn(hour: str) -> tuple[str, str]:
        if len(hours) >= _MOST_HOURS:
            hours.clear()
        start = datetime.fromisoformat(hour + ":00:00+00:00")
        local = start.astimezone(zone)
        offset = local.utcoffset()
        last = (start + _HOUR - timedelta(microseconds=1)).astimezone(zone)
        found = _ONE_BY_ONE
        if offset == last.utcoffset() and offset % _HOUR == timedelta(0):
            stamp = local.isoformat(timespec="seconds")  # 2025-06-01T14:00:00+02:00
            found = (stamp[:13], stamp[19:])
        hours[hour] = found
        return found

    def local_time(text: str | None) -> str | None:
        if text is None:
            return None
        found = hours.get(text[:13]) or (learn(text[:13]) if text.endswith("+00:00") else _ONE_BY_ONE)
        if found is _ONE_BY_ONE:
            return datetime.fromisoformat(text).astimezone(zone).isoformat(timespec="seconds")
        return found[0] + text[13:19] + found[1]

    return local_time
