"""The value types every config section shares: durations, time zones, intervals, paths, secrets.

Validators raise ValueError with text that names the bad value and what is expected; the loader
(`connector.config.settings`) adds the file name and key path. Imports only the core.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, SecretStr

from connector.core.durations import parse_duration


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- value types ---------------------------------------------------------------------------


def _to_duration(value: Any) -> timedelta:
    return value if isinstance(value, timedelta) else parse_duration(value)


def _to_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone (use an IANA name, e.g. Europe/Berlin)") from None
    return value


_CLOCK = re.compile(r"([01]\d|2[0-4]):([0-5]\d)")


def _to_interval(value: Any) -> tuple[str, str]:
    """`"09:00-17:00"` -> ("09:00", "17:00"); an end before the start runs past midnight."""
    parts = value.split("-") if isinstance(value, str) else value
    if not isinstance(parts, (list, tuple)) or len(parts) != 2:
        raise ValueError(f'{value!r} is not an interval (use e.g. "09:00-17:00")')
    start, end = (str(p).strip() for p in parts)
    for clock in (start, end):
        if not _CLOCK.fullmatch(clock) or (clock.startswith("24") and clock != "24:00"):
            raise ValueError(f"{value!r} is not an interval: {clock!r} is not a time HH:MM from 00:00 to 24:00")
    if start == "24:00" or start == end or (start == "00:00" and end == "00:00"):
        raise ValueError(f'{value!r} is an empty interval (use e.g. "09:00-17:00", or "00:00-24:00" for all day)')
    return start, end


# The loader sets it while it validates a file, so relative paths are read from the file's folder.
config_dir: ContextVar[Path] = ContextVar("config_dir", default=Path("."))


def _to_config_path(value: Any) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else config_dir.get() / path


Duration = Annotated[timedelta, BeforeValidator(_to_duration)]
TimeZoneName = Annotated[str, AfterValidator(_to_zone)]
Interval = Annotated[tuple[str, str], BeforeValidator(_to_interval)]
ConfigPath = Annotated[Path, BeforeValidator(_to_config_path)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _read_secret(section: BaseModel, value_key: str) -> None:
    """Fill `<key>` from `<key>_file` when given; one of the two, never both."""
    file_key = f"{value_key}_file"
    path: Path | None = getattr(section, file_key)
    if path is None:
        return
    if getattr(section, value_key) is not None:
        raise ValueError(f"give either {value_key} or {file_key}, not both")
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file_key}: cannot read {str(path)!r}: {getattr(exc, 'strerror', None) or exc}") from None
    if not secret:
        raise ValueError(f"{file_key}: {str(path)!r} is empty")
    setattr(section, value_key, SecretStr(secret))
