from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    "text, expected",
    [
        ("90s", timedelta(seconds=90)),
        ("45m", timedelta(minutes=45)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(days=7)),
        ("0", timedelta(0)),
        (" 1h 30m ", timedelta(minutes=90)),
        ("1H", timedelta(hours=1)),
    ],
)
def test_parse(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["1hr", "", "h", "1.5h", "-1h", "30m1h", "5", "1 hour"])
def test_refused_with_a_hint(text):
    with pytest.raises(ValueError, match=r"is not a duration \(use e.g. 45m, 1h30m, 2d\)"):
        parse_duration(text)


@given(st.integers(min_value=-(10**8), max_value=10**8))
def test_format_parses_back(seconds):
    value = timedelta(seconds=seconds)
    text = format_duration(value)
    assert (-parse_duration(text[1:]) if text.startswith("-") else parse_duration(text)) == value
