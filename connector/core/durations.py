"""Durations as people write them in the config: `90s`, `45m`, `1h30m`, `2d`, `1w`.

`parse_duration(text) -> timedelta` and `format_duration(timedelta) -> str` (the inverse, shortest
form). A day is 24 hours and a week 7 days of *business* time when used as an SLA target: on a
09:00-17:00 calendar `2d` is six working days, so two working days are written `16h`.
"""

from __future__ import annotations

import re
from datetime import timedelta

DURATION_HINT = "use e.g. 45m, 1h30m, 2d"

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PATTERN = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str) -> timedelta:
    """Parse `1h30m`-style text; raise ValueError with a hint on anything else."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a duration ({DURATION_HINT})")
    compact = text.strip().lower().replace(" ", "")
    if compact == "0":
        return timedelta(0)
    match = _PATTERN.fullmatch(compact)
    if not compact or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration ({DURATION_HINT})")
    seconds = sum(int(value) * factor for value, factor in zip(match.groups(), _UNITS.values()) if value)
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest text that parses back to `value` (sign first, seconds dropped only if zero)."""
    total = int(value.total_seconds())
    if total == 0:
        return "0"
    sign, total = ("-", -total) if total < 0 else ("", total)
    parts = []
    for unit, factor in _UNITS.items():
        if unit == "w":
            continue  # `9d` reads better than `1w2d` in reports
        count, total = divmod(total, factor)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)
