"""The calendar's laws over random calendars, starts and durations (up to 90 days)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime, timedelta

import pytz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.core.calendar import WEEKDAYS, BusinessCalendar

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Adelaide",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
]


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def intervals(draw):
    start = draw(st.integers(0, 24 * 4 - 1)) * 15
    length = draw(st.integers(1, 24 * 4 - 1)) * 15
    end = start + length
    return clock(start), clock(end if end <= 24 * 60 else end - 24 * 60)  # past 24:00: a night shift


@st.composite
def calendars(draw):
    hours = {day: draw(st.lists(intervals(), max_size=2)) for day in WEEKDAYS}
    if not any(hours.values()):
        hours["wed"] = [("09:00", "17:00")]
    holidays = draw(st.lists(st.dates(dt.date(2024, 1, 1), dt.date(2028, 12, 31)), max_size=20))
    overrides = draw(
        st.dictionaries(
            st.dates(dt.date(2024, 1, 1), dt.date(2028, 12, 31)), st.lists(intervals(), max_size=2), max_size=5
        )
    )
    return BusinessCalendar(draw(st.sampled_from(ZONES)), hours, holidays=holidays, overrides=overrides)


instants = st.datetimes(datetime(2024, 1, 1), datetime(2028, 1, 1)).map(lambda d: d.replace(tzinfo=dt.UTC))
durations = st.integers(0, 90 * 86400).map(lambda s: timedelta(seconds=s))
common = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(calendars(), instants, durations)
def test_elapsed_of_add_is_the_duration_from_an_open_start(cal, start, duration):
    start = cal.next_open(start)
    assert cal.is_open(start)
    assert cal.elapsed(start, cal.add(start, duration)) == duration


@common
@given(calendars(), instants, durations)
def test_walking_back_then_measuring_gives_the_duration(cal, start, duration):
    assert cal.elapsed(cal.add(start, -duration), start) == duration


@common
@given(calendars(), instants, durations, durations)
def test_add_is_monotonic_in_the_duration(cal, start, first, second):
    low, high = sorted([first, second])
    assert cal.add(start, low) <= cal.add(start, high)
    assert cal.add(start, -high) <= cal.add(start, -low)


@common
@given(calendars(), instants, instants, durations)
def test_add_is_monotonic_in_the_start(cal, first, second, duration):
    early, late = sorted([first, second])
    assert cal.add(early, duration) <= cal.add(late, duration)


@common
@given(calendars(), instants, instants, instants)
def test_elapsed_adds_up(cal, a, b, c):
    a, b, c = sorted([a, b, c])
    assert cal.elapsed(a, c) == cal.elapsed(a, b) + cal.elapsed(b, c)
    assert cal.elapsed(a, c) <= c - a  # business time never outruns the clock


@common
@given(calendars(), instants)
def test_next_open_is_open_and_nothing_before_it_is(cal, moment):
    opening = cal.next_open(moment)
    assert opening >= moment and cal.is_open(opening)
    assert cal.elapsed(moment, opening) == timedelta(0)


# ---- against businesstimedelta, an independent implementation ----------------------------------------


@settings(max_examples=150, deadline=None)
@given(instants, st.integers(1, 10 * 8 * 60).map(lambda m: timedelta(minutes=m)))
def test_agrees_with_businesstimedelta_on_a_plain_office_calendar(start, duration):
    import businesstimedelta

    berlin = pytz.timezone("Europe/Berlin")
    rules = businesstimedelta.Rules(
        [
            businesstimedelta.WorkDayRule(
                start_time=dt.time(9), end_time=dt.time(17), working_days=[0, 1, 2, 3, 4], tz=berlin
            )
        ]
    )
    ours = BusinessCalendar("Europe/Berlin", {day: [("09:00", "17:00")] for day in WEEKDAYS[:5]})
    start = start.replace(microsecond=0)
    theirs = start.astimezone(berlin) + businesstimedelta.BusinessTimeDelta(rules, timedelta=duration)
    assert ours.add(start, duration) == theirs
