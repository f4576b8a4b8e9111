"""Business-hours arithmetic: when is something due, and how much business time has passed.

Public API: `BusinessCalendar(timezone, hours, holidays=(), country=None, subdivision=None,
overrides=None, holiday_exceptions=(), name=None)` with `add(start, duration)`,
`elapsed(start, end)`, `is_open(at)`, `next_open(at)`, and `BusinessCalendar.from_config(section)`.
Pure: no I/O, no wall clock. Inputs are aware datetimes in any zone; results are in the
calendar's zone.

How it is fast: every local date gets its open intervals as absolute instants (integer
microseconds since the epoch), and a running total of business time per date is kept in a list.
The same table is also kept flat: every opening and closing instant in order, with the business
time up to each. Business time up to an instant is then one bisection over the instants, and the
inverse (a due time) one bisection over the business times. No call walks day by day; the table
grows a year at a time as needed.

Semantics (see the README's calendar section):
- Intervals are half-open: 17:00 on a 09:00-17:00 day is closed.
- A due time that lands exactly at a closing time is that closing time, not the next opening.
- `add(start, 0)` is `next_open(start)`; a negative duration walks backwards, and an instant that
  two readings share (a closing time and the next opening) resolves to the earlier one.
- Hours are local wall-clock times; an opening at a time the DST change skips opens at the first
  instant that exists; an ambiguous time (the hour repeated in autumn) is its first occurrence.
- An interval ending before it starts runs past midnight (night shift) and belongs to the day it
  starts on. A holiday closes its whole local date, including a night shift running into it; a
  date in `overrides` takes the override's hours instead of the weekday's, even on a holiday.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SECOND = 1_000_000
_MINUTE = 60 * _SECOND
_DAY = 86400 * _SECOND
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_GROW_DAYS = 366  # the table grows by about a year at a time
_SEARCH_LIMIT_DAYS = 3660  # an add() that finds no open time within ten years is refused

Spans = tuple[tuple[int, int], ...]  # (start minute, end minute) pairs; end < start: night shift


def _minutes(clock: str, where: str) -> int:
    try:
        hours, minutes = clock.split(":")
        value = int(hours) * 60 + int(minutes)
    except (AttributeError, ValueError):
        raise ValueError(f"{where}: {clock!r} is not a time HH:MM") from None
    if not 0 <= int(minutes) < 60 or not 0 <= value <= 24 * 60:
        raise ValueError(f"{where}: {clock!r} is not a time from 00:00 to 24:00")
    return value


def _parse_intervals(intervals: Iterable[Any], where: str) -> Spans:
    parsed = []
    for item in intervals:
        start, end = item.split("-") if isinstance(item, str) else item
        start_min, end_min = _minutes(start.strip(), where), _minutes(end.strip(), where)
        if start_min == end_min or start_min == 24 * 60 or (end_min == 0 and start_min == 0):
            raise ValueError(f"{where}: {start}-{end} is an empty interval")
        if end_min == 0:
            end_min = 24 * 60  # "22:00-00:00" closes at midnight, like "22:00-24:00"
        parsed.append((start_min, end_min))
    return tuple(parsed)


def _day_minutes(previous: Spans, today: Spans) -> Spans:
    """A date's open minutes (0..1440): its own intervals, and the night shifts of the day before
    that run into it; merged and sorted."""
    pieces = [(0, end) for start, end in previous if end < start]
    pieces += [(start, end if end > start else 24 * 60) for start, end in today]
    merged: list[list[int]] = []
    for start, end in sorted(pieces):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((start, end) for start, end in merged)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


class BusinessCalendar:
    def __init__(
        self,
        timezone: str,
        hours: Mapping[str, Iterable[Any]],
        holidays: Iterable[date | str] = (),
        country: str | None = None,
        subdivision: str | None = None,
        overrides: Mapping[date | str, Iterable[Any]] | None = None,
        holiday_exceptions: Iterable[date | str] = (),
        name: str | None = None,
    ):
        self.name = name or timezone
        self.zone = ZoneInfo(timezone)
        unknown = set(hours) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"calendar {self.name}: unknown weekday {sorted(unknown)[0]!r} (use mon..sun)")
        self._weekly = tuple(_parse_intervals(hours.get(day, ()), f"calendar {self.name}: {day}") for day in WEEKDAYS)
        self._overrides = {
            _as_date(day): _parse_intervals(spans, f"calendar {self.name}: override {day}")
            for day, spans in (overrides or {}).items()
        }
        if not any(self._weekly) and not any(self._overrides.values()):
            raise ValueError(f"calendar {self.name}: no business hours at all")
        self._closed = {_as_date(day) for day in holidays}
        self._exceptions = {_as_date(day) for day in holiday_exceptions}
        self._public = None
        if country:
            import holidays as holidays_package  # imported only by calendars that use it

            self._public = holidays_package.country_holidays(country, subdiv=subdivision)
        # the table: dates lo .. lo+len(days)-1; cum[i] = business µs before date lo+i, counted
        # from the first date ever built, so values stay valid when the table grows backwards
        self._lo: int | None = None
        self._days: list[tuple[tuple[int, int], ...]] = []
        self._cum: list[int] = [0]
        self._starts: list[int] = []  # the instant each date of the table begins
        self._table_start = self._table_end = 0
        # the same table flattened for the arithmetic: every opening and closing instant in order,
        # and the business position at each; openings sit at even indexes, closings at odd ones
        self._edges: list[int] = []
        self._edge_positions: list[int] = []
        self._patterns = tuple(_day_minutes(self._weekly[day - 1], self._weekly[day]) for day in range(7))

    @classmethod
    def from_config(cls, section: Any) -> BusinessCalendar:
        """Build from a `[[calendars]]` entry (a config section object or a plain mapping)."""
        get = section.get if isinstance(section, Mapping) else lambda key, default=None: getattr(section, key, default)
        return cls(
            timezone=get("timezone"),
            hours=get("hours") or {},
            holidays=get("holidays") or (),
            country=get("country"),
            subdivision=get("subdivision"),
            overrides=get("overrides") or {},
            holiday_exceptions=get("holiday_exceptions") or (),
            name=get("name"),
        )

    # ---- public API ----------------------------------------------------------------------------

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant `duration` of business time after `start` (before it, when negative)."""
        moment = self._to_us(start, "start")
        if not duration:
            return self._from_us(self._next_open_us(moment))
        target = self._business_before(moment) + duration // _US
        return self._from_us(self._instant_at(target))

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants; zero when `end` is not after `start`."""
        begin, finish = self._to_us(start, "start"), self._to_us(end, "end")
        if finish <= begin:
            return timedelta(0)
        return (self._business_before(finish) - self._business_before(begin)) * _US

    def is_open(self, at: datetime) -> bool:
        moment = self._to_us(at, "at")
        return any(a <= moment < b for a, b in self._days[self._index_of(moment)])

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when open, else the next opening."""
        return self._from_us(self._next_open_us(self._to_us(at, "at")))

    # ---- business-time coordinates, for bulk work (the SLA engine) ------------------------------

    def position(self, at: datetime) -> int:
        """Business microseconds up to `at`, counted from an origin fixed for this calendar object:
        `elapsed(a, b) == (position(b) - position(a)) µs` whenever b >= a."""
        return self._business_before(self._to_us(at, "at"))

    def instant(self, position: int) -> datetime:
        """The earliest instant at `position`: a closing time rather than the next opening."""
        return self._from_us(self._instant_at(position))

    # position_us / instant_us: the same on epoch microseconds, defined with the arithmetic below

    # ---- conversions ---------------------------------------------------------------------------

    def _to_us(self, moment: datetime, what: str) -> int:
        if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"calendar {self.name}: {what} {moment!r} has no time zone; give an aware datetime")
        return (moment - _EPOCH) // _US

    def _from_us(self, value: int) -> datetime:
        return (_EPOCH + value * _US).astimezone(self.zone)

    def _local_ordinal(self, moment: int) -> int:
        return self._from_us(moment).toordinal()

    def _midnight(self, day: date) -> int:
        """The instant `day` begins in the calendar's zone."""
        wall = datetime.combine(day, time())
        offset = self.zone.utcoffset(wall)
        if offset == self.zone.utcoffset(wall.replace(fold=1)):  # no clock change at midnight
            return (day.toordinal() - _EPOCH_ORDINAL) * _DAY - offset // _US
        return self._local_to_us(day, 0)

    def _local_to_us(self, day: date, minute: int) -> int:
        """A local wall-clock time on `day` as an instant; 24:00 is the next midnight."""
        if minute == 24 * 60:
            day, minute = day + timedelta(days=1), 0
        wall = datetime.combine(day, time(minute // 60, minute % 60))
        first = wall.replace(tzinfo=self.zone)
        instant = (first - _EPOCH) // _US
        if self._from_us(instant).replace(tzinfo=None) == wall:
            return instant
        # `wall` falls in a DST gap. Read with fold=0 it lies just after the change, with fold=1
        # just before; the first instant that exists is the change itself: bisect for it.
        offset_after = self._from_us(instant).utcoffset()
        low = (wall.replace(tzinfo=self.zone, fold=1) - _EPOCH) // _US // _SECOND
        high = -(-instant // _SECOND)
        while high - low > 1:
            middle = (low + high) // 2
            if self._from_us(middle * _SECOND).utcoffset() == offset_after:
                high = middle
            else:
                low = middle
        return high * _SECOND

    # ---- the table of dates --------------------------------------------------------------------

    def _is_holiday(self, day: date) -> bool:
        if day in self._closed:
            return True
        return self._public is not None and day in self._public and day not in self._exceptions

    def _schedule(self, day: date) -> Spans:
        if day in self._overrides:
            return self._overrides[day]
        if self._is_holiday(day):
            return ()
        return self._weekly[day.weekday()]

    def _build_day(self, ordinal: int) -> tuple[tuple[int, int], ...]:
        """The open intervals of one local date, as instants."""
        day = date.fromordinal(ordinal)
        if self._is_holiday(day) and day not in self._overrides:
            return ()
        previous = day - timedelta(days=1)
        if day in self._overrides or previous in self._overrides or self._is_holiday(previous):
            minutes = _day_minutes(self._schedule(previous), self._schedule(day))
        else:
            minutes = self._patterns[day.weekday()]
        start, end = self._midnight(day), self._midnight(day + timedelta(days=1))
        if end - start == _DAY:  # no clock change that day: plain offsets from midnight
            return tuple((start + a * _MINUTE, start + b * _MINUTE) for a, b in minutes)
        spans = ((self._local_to_us(day, a), self._local_to_us(day, b)) for a, b in minutes)
        return tuple((a, b) for a, b in spans if a < b)  # an interval inside a DST gap vanishes

    def _ensure(self, ordinal: int) -> int:
        """Make sure `ordinal` is in the table; return its index."""
        if self._lo is None:
            self._lo = ordinal - _GROW_DAYS // 2
            self._append(self._lo, _GROW_DAYS)
        if ordinal < self._lo:
            self._prepend(max(_GROW_DAYS, self._lo - ordinal))
        while ordinal >= self._lo + len(self._days):
            self._append(self._lo + len(self._days), max(_GROW_DAYS, ordinal - self._lo - len(self._days) + 1))
        return ordinal - self._lo

    def _append(self, first: int, count: int) -> None:
        total = self._cum[-1]
        for ordinal in range(first, first + count):
            spans = self._build_day(ordinal)
            self._days.append(spans)
            self._starts.append(self._midnight(date.fromordinal(ordinal)))
            self._add_edges(spans, total)
            total += sum(b - a for a, b in spans)
            self._cum.append(total)
        self._table_start = self._starts[0]
        self._table_end = self._midnight(date.fromordinal(first + count))

    def _add_edges(self, spans: tuple[tuple[int, int], ...], total: int) -> None:
        for a, b in spans:
            self._edges += (a, b)
            self._edge_positions += (total, total + b - a)
            total += b - a

    def _prepend(self, count: int) -> None:
        first = self._lo - count
        days = [self._build_day(ordinal) for ordinal in range(first, self._lo)]
        cum = [self._cum[0]]
        for spans in reversed(days):
            cum.append(cum[-1] - sum(b - a for a, b in spans))
        self._cum = cum[:0:-1] + self._cum
        self._days = days + self._days
        self._starts = [self._midnight(date.fromordinal(o)) for o in range(first, self._lo)] + self._starts
        self._table_start = self._starts[0]
        self._lo = first
        self._edges, self._edge_positions = [], []
        for spans, total in zip(self._days, self._cum):
            self._add_edges(spans, total)

    def _intervals_of(self, ordinal: int) -> tuple[tuple[int, int], ...]:
        return self._days[self._ensure(ordinal)]

    # ---- the arithmetic ------------------------------------------------------------------------

    def _index_of(self, moment: int) -> int:
        """The table index of the local date `moment` falls on."""
        if self._table_start <= moment < self._table_end:
            return bisect_right(self._starts, moment) - 1
        return self._ensure(self._local_ordinal(moment))

    def _business_before(self, moment: int) -> int:
        """Business µs up to `moment`, counted from the calendar's first built date."""
        if not self._table_start <= moment < self._table_end:
            self._ensure(self._local_ordinal(moment))
        edges = self._edges
        i = bisect_right(edges, moment) - 1
        if i < 0:  # before the table's first opening
            return self._cum[0]
        if i & 1:  # after a closing: nothing more until the next opening
            return self._edge_positions[i]
        return self._edge_positions[i] + moment - edges[i]

    def _instant_at(self, target: int) -> int:
        """The earliest instant whose business time before it is `target`."""
        idle = 0  # days added without any business time: a calendar that never opens again
        while target <= self._cum[0]:
            before = self._cum[0]
            self._prepend(_GROW_DAYS)
            idle = idle + _GROW_DAYS if self._cum[0] == before else 0
            self._refuse_if_endless(idle)
        while target > self._cum[-1]:
            before = self._cum[-1]
            self._append(self._lo + len(self._days), _GROW_DAYS)
            idle = idle + _GROW_DAYS if self._cum[-1] == before else 0
            self._refuse_if_endless(idle)
        positions = self._edge_positions
        j = bisect_left(positions, target)
        if positions[j] == target:  # an edge: the earliest is a closing rather than the next opening
            return self._edges[j]
        return self._edges[j - 1] + target - positions[j - 1]  # inside the open interval ending at j

    # `position` and `instant` on epoch microseconds, for bulk work (the SLA engine): the same
    # functions under public names, without a wrapper call per use
    position_us = _business_before
    instant_us = _instant_at

    def _next_open_us(self, moment: int) -> int:
        index = self._index_of(moment)
        ordinal = self._lo + index
        for step in range(_SEARCH_LIMIT_DAYS):
            for a, b in self._intervals_of(ordinal + step):
                if moment < b:
                    return max(a, moment)
        self._refuse_if_endless(_SEARCH_LIMIT_DAYS)
        raise AssertionError("unreachable")  # pragma: no cover

    def _refuse_if_endless(self, searched_days: int) -> None:
        if searched_days >= _SEARCH_LIMIT_DAYS:
            raise ValueError(f"calendar {self.name}: no business hours within ten years")
