"""`utc_hours` converts a stored UTC time to local text exactly as `local_times` does, in every
hour it gives a row for; it leaves out only the hours an offset changes in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core.local_times import local_times, utc_hours

ZONES = ["Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Australia/Lord_Howe",
         "Pacific/Chatham", "America/Santiago", "Africa/Monrovia", "UTC"]  # fmt: skip


def converted(row, stored: str) -> str:
    """What SQL makes of a stored time with the row of its hour (see `log_lines._local`)."""
    minute = int(stored[14:16])
    if row.minutes == 0:
        return row.head + stored[13:19] + row.suffix
    head = row.head if minute + row.minutes < 60 else row.next_head
    return f"{head}:{(minute + row.minutes) % 60:02d}{stored[16:19]}{row.suffix}"


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    moment=st.datetimes(min_value=datetime(1965, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)),
)
def test_every_row_converts_as_local_times_does(zone, moment):
    rows = {row.utc: row for row in utc_hours(ZoneInfo(zone), moment - timedelta(hours=3), moment + timedelta(hours=3))}
    stored = moment.isoformat()
    row = rows.get(stored[:13])
    offsets = {(moment + timedelta(minutes=m)).astimezone(ZoneInfo(zone)).utcoffset() for m in (-60, 0, 60)}
    if row is None:  # left out: only where the offset changes near by or has seconds
        assert len(offsets) > 1 or any(o.seconds % 60 for o in offsets)
    else:
        assert converted(row, stored) == local_times(ZoneInfo(zone))(stored)


def test_the_rows_around_a_change_of_offset():
    rows = list(
        utc_hours(
            ZoneInfo("Europe/Berlin"), datetime(2026, 10, 25, 0, tzinfo=UTC), datetime(2026, 10, 25, 2, tzinfo=UTC)
        )
    )
    assert [(r.utc, r.head, r.suffix) for r in rows] == [
        ("2026-10-25T00", "2026-10-25T02", "+02:00"),  # 02:xx the first time, summer time
        ("2026-10-25T01", "2026-10-25T02", "+01:00"),  # and again: the change is at 01:00 UTC
        ("2026-10-25T02", "2026-10-25T03", "+01:00"),
    ]
    [kolkata] = utc_hours(
        ZoneInfo("Asia/Kolkata"), datetime(2026, 6, 1, 18, 45, tzinfo=UTC), datetime(2026, 6, 1, 18, 59, tzinfo=UTC)
    )
    assert kolkata == ("2026-06-01T18", "2026-06-01T23", "2026-06-02T00", 30, "+05:30")
