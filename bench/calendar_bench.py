"""Deadline arithmetic speed: connector.core.calendar against businesstimedelta, in one process.

    .venv/bin/python bench/calendar_bench.py [N] [REFERENCE_N]

N deadlines (default 100,000): random starts over 2025, random durations from 1 minute to 10
business days, Mon-Fri 09:00-17:00 Europe/Berlin with German national holidays. The first
REFERENCE_N (default 2,000) of the same inputs also go through businesstimedelta, the reference
(about 1.6 ms a deadline, so all of them would take minutes). Prints both rates, their ratio and
how many of the shared results differ.

Targets: at least 100x the reference's rate, and at least 50,000 deadlines per second.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import time

import businesstimedelta
import holidays
import pytz

from connector.core.calendar import BusinessCalendar

TARGET_RATE = 50_000
TARGET_RATIO = 100


def inputs(count: int, seed: int = 42) -> list[tuple[dt.datetime, dt.timedelta]]:
    rng = random.Random(seed)
    first = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp())
    year = 365 * 86400
    return [
        (
            dt.datetime.fromtimestamp(first + rng.randrange(year), tz=dt.UTC),
            dt.timedelta(minutes=rng.randint(1, 10 * 8 * 60)),
        )
        for _ in range(count)
    ]


def ours(cases):
    calendar = BusinessCalendar(
        "Europe/Berlin", {day: [("09:00", "17:00")] for day in ("mon", "tue", "wed", "thu", "fri")}, country="DE"
    )
    started = time.perf_counter()
    results = [calendar.add(start, duration) for start, duration in cases]
    return results, time.perf_counter() - started


def reference(cases):
    berlin = pytz.timezone("Europe/Berlin")
    rules = businesstimedelta.Rules(
        [
            businesstimedelta.WorkDayRule(
                start_time=dt.time(9), end_time=dt.time(17), working_days=[0, 1, 2, 3, 4], tz=berlin
            ),
            businesstimedelta.HolidayRule(holidays.country_holidays("DE", years=range(2024, 2028)), tz=berlin),
        ]
    )
    deltas = [businesstimedelta.BusinessTimeDelta(rules, timedelta=duration) for _, duration in cases]
    started = time.perf_counter()
    results = [start.astimezone(berlin) + delta for (start, _), delta in zip(cases, deltas)]
    return results, time.perf_counter() - started


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    reference_count = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000
    cases = inputs(count)
    mine, my_seconds = ours(cases)
    theirs, their_seconds = reference(cases[:reference_count])
    my_rate, their_rate = count / my_seconds, reference_count / their_seconds
    differ = [(case, a, b) for case, a, b in zip(cases, mine, theirs) if a != b]
    print(f"connector.core.calendar: {count:>7,} deadlines in {my_seconds:6.2f} s = {my_rate:>9,.0f} /s")
    print(f"businesstimedelta:  {reference_count:>7,} deadlines in {their_seconds:6.2f} s = {their_rate:>9,.0f} /s")
    print(f"ratio: {my_rate / their_rate:,.0f}x; results that differ: {len(differ)} of {reference_count:,}")
    for (start, duration), a, b in differ[:5]:
        print(f"  start {start.isoformat()} + {duration}: ours {a.isoformat()}, businesstimedelta {b.isoformat()}")
    ok = my_rate >= TARGET_RATE and my_rate / their_rate >= TARGET_RATIO
    print(f"targets (>= {TARGET_RATE:,}/s and >= {TARGET_RATIO}x): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
