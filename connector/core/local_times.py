"""Stored times (UTC ISO-8601 text) as local times of the report zone, fast enough for a million
rows: the zone is consulted once per UTC hour, and a row's time is that hour's local text with
the row's minutes and seconds.

Public API: `local_times(zone)` returns a function that takes stored text or None and returns the
local time as ISO-8601 text with seconds and the offset (`2025-06-01T14:05:09+02:00`), or None.
`utc_hours(zone, first, last)` yields the same conversion as data, one row per UTC hour, for SQL
to convert a stored time by a join (see `HourRow`).

Exact in every zone and year: an hour whose offset is not a whole number of hours, or that holds
a change of offset, has its rows converted one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple
from zoneinfo import ZoneInfo

_HOUR = timedelta(hours=1)
# about ten days of hours; then the memo starts afresh, so that memory stays flat however many
# rows a report has (rows mostly come in time order, so a fresh memo soon holds what they need)
_MOST_HOURS = 256
_ONE_BY_ONE = ("", "")  # the memo's mark for an hour whose rows are converted one by one
_MINUTE = timedelta(minutes=1)
_MICROSECOND = timedelta(microseconds=1)


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


class HourRow(NamedTuple):
    """How a stored time in one UTC hour reads locally. Its offset is `whole` hours and `minutes`
    minutes (0-59, so -03:30 is -4 hours and 30 minutes): a time `HH:MM:SS` of the hour is local
    `head` + `:MM:SS` when MM + `minutes` < 60, else `next_head` + the minutes less 60; then
    `suffix`, the offset as ISO text."""

    utc: str  # 2025-06-01T12 (the stored text's first 13 characters)
    head: str  # 2025-06-01T14
    next_head: str
    minutes: int
    suffix: str  # +02:00


def utc_hours(zone: ZoneInfo, first: datetime, last: datetime) -> Iterator[HourRow]:
    """A row for each UTC hour from `first`'s to `last`'s, except the hours whose offset changes
    within them or is not a whole number of minutes: times in those are converted one by one."""
    hour = first.astimezone(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    count = int((last.astimezone(UTC).replace(tzinfo=None) - hour) / _HOUR) + 1
    # every hour from a day before to a day after, naive, and its text: a local head is the text
    # of the UTC hour its offset moves to
    moments = [hour + (i - 24) * _HOUR for i in range(count + 50)]
    texts = [moment.isoformat()[:13] for moment in moments]
    fromutc = zone.fromutc
    offsets = [fromutc(moment.replace(tzinfo=zone)).utcoffset() for moment in moments[24 : 25 + count]]
    shapes: dict[timedelta, tuple[int, int, str] | None] = {}
    for i in range(count):
        offset = offsets[i]
        # offsets change at most once an hour, mostly as one begins: an hour holds one offset if
        # it has it at both ends
        if offset != offsets[i + 1] and offset != _offset(zone, moments[25 + i] - _MICROSECOND):
            continue
        shape = shapes[offset] if offset in shapes else shapes.setdefault(offset, _shape(offset))
        if shape is not None:
            minutes, hours, suffix = shape
            shift = 24 + i + hours
            yield HourRow(texts[i + 24], texts[shift], texts[shift + 1], minutes, suffix)


def _shape(offset: timedelta) -> tuple[int, int, str] | None:
    """An offset as (minutes, whole hours, ISO text), with 0 <= minutes < 60; None if it is not a
    whole number of minutes."""
    if offset.seconds % 60:
        return None
    minutes = offset.seconds // 60 % 60
    return minutes, (offset - minutes * _MINUTE) // _HOUR, _suffix(offset)


def _offset(zone: ZoneInfo, utc: datetime) -> timedelta:
    return zone.fromutc(utc.replace(tzinfo=zone)).utcoffset()


def _suffix(offset: timedelta) -> str:
    return datetime(2000, 1, 1, tzinfo=timezone(offset)).isoformat()[19:]
