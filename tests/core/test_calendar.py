"""Exact expected due times and business durations; the laws are in test_calendar_properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connector.core.calendar import BusinessCalendar

ZAGREB = ZoneInfo("Europe/Zagreb")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = WEEKDAYS + ("sat", "sun")
H, M = timedelta(hours=1), timedelta(minutes=1)


def at(zone, *parts) -> datetime:
    return datetime(*parts, tzinfo=zone)


def office(zone="Europe/Berlin", **kwargs) -> BusinessCalendar:
    return BusinessCalendar(zone, {day: [("09:00", "17:00")] for day in WEEKDAYS}, **kwargs)


@pytest.fixture
def zagreb() -> BusinessCalendar:
    # the example: a short Monday, a lunch break on Tuesday
    return BusinessCalendar(
        timezone="Europe/Zagreb",
        hours={
            "mon": [("08:00", "16:00")],
            "tue": [("08:00", "12:00"), ("13:00", "17:00")],
            "wed": [("08:00", "16:00")],
            "thu": [("08:00", "16:00")],
            "fri": [("08:00", "16:00")],
        },
        holidays=["2026-12-24"],
        country="HR",
        overrides={"2026-12-31": [("08:00", "12:00")]},
    )


# ---- where the start falls ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, duration, due",
    [
        # inside an interval
        (at(ZAGREB, 2026, 11, 23, 10, 0), 2 * H, at(ZAGREB, 2026, 11, 23, 12, 0)),
        # before opening: counts from 08:00
        (at(ZAGREB, 2026, 11, 23, 6, 30), 2 * H, at(ZAGREB, 2026, 11, 23, 10, 0)),
        # after closing: counts from the next opening
        (at(ZAGREB, 2026, 11, 23, 18, 0), 2 * H, at(ZAGREB, 2026, 11, 24, 10, 0)),
        # in the lunch break: counts from 13:00
        (at(ZAGREB, 2026, 11, 24, 12, 20), 2 * H, at(ZAGREB, 2026, 11, 24, 15, 0)),
        # across the lunch break
        (at(ZAGREB, 2026, 11, 24, 11, 0), 2 * H, at(ZAGREB, 2026, 11, 24, 14, 0)),
        # ending exactly at the start of lunch: 12:00, not 13:00
        (at(ZAGREB, 2026, 11, 24, 11, 0), 1 * H, at(ZAGREB, 2026, 11, 24, 12, 0)),
        # ending exactly at closing time: 16:00 that day, not the next opening
        (at(ZAGREB, 2026, 11, 23, 12, 0), 4 * H, at(ZAGREB, 2026, 11, 23, 16, 0)),
        # seconds of a start inside hours are kept
        (at(ZAGREB, 2026, 11, 23, 13, 26, 36), 20 * M, at(ZAGREB, 2026, 11, 23, 13, 46, 36)),
        # Friday evening to Monday
        (at(ZAGREB, 2026, 11, 27, 15, 0), 3 * H, at(ZAGREB, 2026, 11, 30, 10, 0)),
        (at(ZAGREB, 2026, 11, 27, 19, 45), 30 * M, at(ZAGREB, 2026, 11, 30, 8, 30)),
        # a Saturday start
        (at(ZAGREB, 2026, 11, 28, 11, 0), 1 * H, at(ZAGREB, 2026, 11, 30, 9, 0)),
    ],
)
def test_starts_inside_before_after_and_between_intervals(zagreb, start, duration, due):
    assert zagreb.add(start, duration) == due
    assert zagreb.add(start, duration).tzinfo == ZAGREB


def test_multi_week_durations(zagreb):
    # a normal week here holds 8+8+8+8+8 = 40 hours; from Monday 2026-11-02 08:00
    start = at(ZAGREB, 2026, 11, 2, 8, 0)
    assert zagreb.add(start, 40 * H) == at(ZAGREB, 2026, 11, 6, 16, 0)
    assert zagreb.add(start, 80 * H + 30 * M) == at(ZAGREB, 2026, 11, 16, 8, 30)
    assert zagreb.elapsed(start, at(ZAGREB, 2026, 11, 16, 8, 30)) == 80 * H + 30 * M


def test_holidays_from_the_country_and_explicit_ones(zagreb):
    # 2026-12-24 (explicit) and 12-25, 12-26 (HR public holidays) are closed
    assert zagreb.add(at(ZAGREB, 2026, 12, 23, 15, 0), 2 * H) == at(ZAGREB, 2026, 12, 28, 9, 0)
    assert not zagreb.is_open(at(ZAGREB, 2026, 12, 24, 10, 0))
    assert not zagreb.is_open(at(ZAGREB, 2026, 12, 25, 10, 0))
    # 2026-06-22 Anti-Fascist Struggle Day (a Monday) is a Croatian public holiday
    assert zagreb.add(at(ZAGREB, 2026, 6, 19, 15, 0), 2 * H) == at(ZAGREB, 2026, 6, 23, 9, 0)


def test_subdivision_holidays_and_exceptions():
    berlin = office(country="DE", subdivision="BE")
    bavaria = office(country="DE", subdivision="BY")
    # 2026-01-06 Epiphany is a holiday in Bavaria, not in Berlin
    start = at(BERLIN, 2026, 1, 5, 16, 0)
    assert berlin.add(start, 2 * H) == at(BERLIN, 2026, 1, 6, 10, 0)
    assert bavaria.add(start, 2 * H) == at(BERLIN, 2026, 1, 7, 10, 0)
    # a public holiday the team works anyway
    worked = office(country="DE", subdivision="BY", holiday_exceptions=[date(2026, 1, 6)])
    assert worked.add(start, 2 * H) == at(BERLIN, 2026, 1, 6, 10, 0)


def test_half_day_override(zagreb):
    # 2026-12-31 open 08:00-12:00 only; 2027-01-01 is a holiday; 2027-01-04 is a Monday
    assert zagreb.add(at(ZAGREB, 2026, 12, 31, 11, 0), 2 * H) == at(ZAGREB, 2027, 1, 4, 9, 0)
    assert zagreb.elapsed(at(ZAGREB, 2026, 12, 31, 0, 0), at(ZAGREB, 2027, 1, 1, 0, 0)) == 4 * H


def test_an_override_can_close_or_open_a_date():
    cal = office(country="DE", overrides={"2026-11-25": [], "2026-11-28": [("10:00", "12:00")]})
    assert not cal.is_open(at(BERLIN, 2026, 11, 25, 10, 0))
    assert cal.is_open(at(BERLIN, 2026, 11, 28, 11, 0))  # a Saturday
    assert cal.add(at(BERLIN, 2026, 11, 27, 16, 0), 2 * H) == at(BERLIN, 2026, 11, 28, 11, 0)


def test_night_shift():
    nights = BusinessCalendar("Europe/Berlin", {day: [("22:00", "06:00")] for day in WEEKDAYS})
    # Friday's shift runs into Saturday morning; then nothing until Monday 22:00
    assert nights.add(at(BERLIN, 2026, 11, 27, 23, 0), 6 * H) == at(BERLIN, 2026, 11, 28, 5, 0)
    assert nights.add(at(BERLIN, 2026, 11, 28, 5, 0), 2 * H) == at(BERLIN, 2026, 11, 30, 23, 0)
    assert nights.is_open(at(BERLIN, 2026, 11, 28, 3, 0))
    assert not nights.is_open(at(BERLIN, 2026, 11, 30, 3, 0))  # Sunday had no shift
    assert nights.elapsed(at(BERLIN, 2026, 11, 23, 0, 0), at(BERLIN, 2026, 11, 30, 0, 0)) == 40 * H


def test_a_holiday_closes_the_part_of_a_night_shift_that_runs_into_it():
    nights = BusinessCalendar("Europe/Berlin", {day: [("22:00", "06:00")] for day in ALL_DAYS}, holidays=["2026-12-25"])
    # the shift of the 24th stops at midnight; the 25th's shift (into the 26th) does not run
    assert nights.elapsed(at(BERLIN, 2026, 12, 24, 12, 0), at(BERLIN, 2026, 12, 26, 12, 0)) == 2 * H
    assert not nights.is_open(at(BERLIN, 2026, 12, 25, 1, 0))
    assert not nights.is_open(at(BERLIN, 2026, 12, 26, 1, 0))
    assert nights.is_open(at(BERLIN, 2026, 12, 27, 1, 0))


def test_twenty_four_seven():
    always = BusinessCalendar("UTC", {day: [("00:00", "24:00")] for day in ALL_DAYS})
    start = at(UTC, 2026, 11, 27, 23, 30)
    assert always.add(start, 90 * M) == at(UTC, 2026, 11, 28, 1, 0)
    assert always.add(start, timedelta(days=60)) == start + timedelta(days=60)
    assert always.elapsed(start, start + timedelta(days=100, seconds=7)) == timedelta(days=100, seconds=7)
    assert always.next_open(start) == start


# ---- daylight saving time ------------------------------------------------------------------------


def test_europe_spring_forward():
    always = BusinessCalendar("Europe/Berlin", {day: [("00:00", "24:00")] for day in ALL_DAYS})
    # 2026-03-29: 02:00 CET becomes 03:00 CEST, the day is 23 hours long
    assert always.elapsed(at(BERLIN, 2026, 3, 29, 0, 0), at(BERLIN, 2026, 3, 30, 0, 0)) == 23 * H
    assert always.add(at(BERLIN, 2026, 3, 29, 1, 30), 1 * H) == at(BERLIN, 2026, 3, 29, 3, 30)
    # business hours stay wall-clock hours: 09:00-17:00 is 8 hours on that Monday and the Friday before
    assert office().add(at(BERLIN, 2026, 3, 27, 16, 0), 2 * H) == at(BERLIN, 2026, 3, 30, 10, 0)
    # an opening at a time that does not exist that day opens at the first instant that does
    early = BusinessCalendar("Europe/Berlin", {"sun": [("02:30", "05:00")]})
    assert early.next_open(at(BERLIN, 2026, 3, 29, 0, 0)) == at(BERLIN, 2026, 3, 29, 3, 0)
    assert early.elapsed(at(BERLIN, 2026, 3, 29, 0, 0), at(BERLIN, 2026, 3, 30, 0, 0)) == 2 * H


def test_europe_fall_back():
    always = BusinessCalendar("Europe/Berlin", {day: [("00:00", "24:00")] for day in ALL_DAYS})
    # 2026-10-25: 03:00 CEST becomes 02:00 CET, the day is 25 hours long
    assert always.elapsed(at(BERLIN, 2026, 10, 25, 0, 0), at(BERLIN, 2026, 10, 26, 0, 0)) == 25 * H
    due = always.add(at(BERLIN, 2026, 10, 25, 1, 0), 2 * H)
    assert due == datetime(2026, 10, 25, 2, 0, fold=1, tzinfo=BERLIN)
    assert due.utcoffset() == timedelta(hours=1)
    # 09:00-17:00 on the Monday after is still 8 hours
    assert office().add(at(BERLIN, 2026, 10, 23, 16, 0), 8 * H) == at(BERLIN, 2026, 10, 26, 16, 0)


def test_america_both_transitions():
    always = BusinessCalendar("America/New_York", {day: [("00:00", "24:00")] for day in ALL_DAYS})
    # 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST
    assert always.elapsed(at(NEW_YORK, 2026, 3, 8, 0, 0), at(NEW_YORK, 2026, 3, 9, 0, 0)) == 23 * H
    assert always.elapsed(at(NEW_YORK, 2026, 11, 1, 0, 0), at(NEW_YORK, 2026, 11, 2, 0, 0)) == 25 * H
    ny = office("America/New_York")
    assert ny.add(at(NEW_YORK, 2026, 3, 6, 16, 0), 2 * H) == at(NEW_YORK, 2026, 3, 9, 10, 0)
    assert ny.add(at(NEW_YORK, 2026, 10, 30, 16, 0), 2 * H) == at(NEW_YORK, 2026, 11, 2, 10, 0)
    # the input may be in any zone; the result is in the calendar's
    start_utc = at(UTC, 2026, 11, 2, 14, 0)  # 09:00 EST
    assert ny.add(start_utc, 1 * H) == at(NEW_YORK, 2026, 11, 2, 10, 0)
    assert ny.add(start_utc, 1 * H).tzinfo == NEW_YORK


@pytest.mark.parametrize(
    "zone, offset",
    [
        ("Asia/Kolkata", timedelta(hours=5, minutes=30)),
        ("Asia/Kathmandu", timedelta(hours=5, minutes=45)),
        ("Australia/Eucla", timedelta(hours=8, minutes=45)),
    ],
)
def test_thirty_and_forty_five_minute_offsets(zone, offset):
    cal = office(zone)
    tz = ZoneInfo(zone)
    # Friday 2026-11-27 16:00 local + 3h -> Monday 11:00 local
    assert cal.add(at(tz, 2026, 11, 27, 16, 0), 3 * H) == at(tz, 2026, 11, 30, 11, 0)
    # 09:00 local is 09:00 minus the offset in UTC
    opening = at(UTC, 2026, 11, 30, 9, 0) - offset
    assert cal.next_open(opening - M) == opening
    assert cal.next_open(opening - M).utcoffset() == offset


def test_chatham_forty_five_minutes_with_daylight_saving():
    chatham = ZoneInfo("Pacific/Chatham")  # +12:45, +13:45 in summer; ends 2026-04-05 03:45 -> 02:45
    always = BusinessCalendar("Pacific/Chatham", {day: [("00:00", "24:00")] for day in ALL_DAYS})
    assert always.elapsed(at(chatham, 2026, 4, 5, 0, 0), at(chatham, 2026, 4, 6, 0, 0)) == 25 * H
    assert office("Pacific/Chatham").add(at(chatham, 2026, 4, 3, 16, 0), 2 * H) == at(chatham, 2026, 4, 6, 10, 0)


# ---- the other operations --------------------------------------------------------------------------


def test_zero_duration_is_next_open(zagreb):
    assert zagreb.add(at(ZAGREB, 2026, 11, 23, 10, 0), timedelta(0)) == at(ZAGREB, 2026, 11, 23, 10, 0)
    assert zagreb.add(at(ZAGREB, 2026, 11, 23, 16, 0), timedelta(0)) == at(ZAGREB, 2026, 11, 24, 8, 0)
    assert zagreb.next_open(at(ZAGREB, 2026, 11, 24, 12, 0)) == at(ZAGREB, 2026, 11, 24, 13, 0)


def test_negative_durations_walk_backwards(zagreb):
    # warn 30 minutes of business time before a due time of Monday 08:15
    assert zagreb.add(at(ZAGREB, 2026, 11, 30, 8, 15), -30 * M) == at(ZAGREB, 2026, 11, 27, 15, 45)
    assert zagreb.add(at(ZAGREB, 2026, 11, 24, 14, 0), -2 * H) == at(ZAGREB, 2026, 11, 24, 11, 0)
    # landing on a boundary shared by a closing and the next opening: the earlier instant
    assert zagreb.add(at(ZAGREB, 2026, 11, 24, 9, 0), -1 * H) == at(ZAGREB, 2026, 11, 23, 16, 0)


def test_elapsed(zagreb):
    assert zagreb.elapsed(at(ZAGREB, 2026, 11, 27, 15, 0), at(ZAGREB, 2026, 11, 30, 10, 0)) == 3 * H
    assert zagreb.elapsed(at(ZAGREB, 2026, 11, 30, 10, 0), at(ZAGREB, 2026, 11, 27, 15, 0)) == timedelta(0)
    assert zagreb.elapsed(at(ZAGREB, 2026, 11, 28, 0, 0), at(ZAGREB, 2026, 11, 29, 23, 0)) == timedelta(0)


def test_far_past_and_future_dates_work(zagreb):
    assert zagreb.add(at(ZAGREB, 2026, 11, 23, 10, 0), 2 * H) == at(ZAGREB, 2026, 11, 23, 12, 0)
    assert zagreb.add(at(ZAGREB, 2019, 11, 25, 10, 0), 2 * H) == at(ZAGREB, 2019, 11, 25, 12, 0)
    assert zagreb.add(at(ZAGREB, 2031, 11, 24, 10, 0), 2 * H) == at(ZAGREB, 2031, 11, 24, 12, 0)
    assert zagreb.elapsed(at(ZAGREB, 2019, 11, 25, 8, 0), at(ZAGREB, 2019, 11, 25, 9, 0)) == 1 * H


def test_naive_datetimes_are_refused(zagreb):
    with pytest.raises(ValueError, match="has no time zone"):
        zagreb.add(datetime(2026, 11, 23, 10, 0), H)
    with pytest.raises(ValueError, match="has no time zone"):
        zagreb.elapsed(at(ZAGREB, 2026, 11, 23, 10, 0), datetime(2026, 11, 23, 12, 0))


def test_bad_calendars_are_refused():
    with pytest.raises(ValueError, match="no business hours at all"):
        BusinessCalendar("UTC", {})
    with pytest.raises(ValueError, match="unknown weekday 'monday'"):
        BusinessCalendar("UTC", {"monday": [("09:00", "17:00")]})
    with pytest.raises(ValueError, match="'9' is not a time HH:MM"):
        BusinessCalendar("UTC", {"mon": [("9", "17:00")]})


def test_a_calendar_open_only_on_one_holiday_date_cannot_run_forever():
    once = BusinessCalendar("UTC", {}, overrides={"2026-01-05": [("09:00", "10:00")]})
    with pytest.raises(ValueError, match="no business hours within ten years"):
        once.add(at(UTC, 2026, 2, 1, 0, 0), H)


def test_from_config_section(write_config):
    from connector.config.settings import load_config

    path = write_config("""
[[calendars]]
name = "office"
timezone = "Europe/Zagreb"
country = "HR"
holidays = [2026-12-24]
[calendars.hours]
mon = ["08:00-16:00"]
tue = ["08:00-12:00", "13:00-17:00"]
[calendars.overrides]
"2026-12-31" = ["08:00-12:00"]
""")
    section = load_config(path).calendars[0]
    cal = BusinessCalendar.from_config(section)
    assert cal.name == "office"
    assert cal.add(at(ZAGREB, 2026, 11, 24, 11, 0), 2 * H) == at(ZAGREB, 2026, 11, 24, 14, 0)
    from_dict = BusinessCalendar.from_config({"timezone": "Europe/Zagreb", "hours": {"mon": ["08:00-16:00"]}})
    assert from_dict.add(at(ZAGREB, 2026, 11, 23, 15, 0), 2 * H) == at(ZAGREB, 2026, 11, 30, 9, 0)
