"""The SLA and service sections of the config file, one pydantic model each.

Every model forbids unknown keys, so a typo inside `[escalation]` is an error, not a silent default.
Validators raise ValueError with text that names the bad value and what is expected; the loader
(`connector.config.settings`) adds the file name and key path. The helpdesk sections are in
`connector.config.sources`, the value types they share in `connector.config.values`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import holidays as holidays_package
from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from connector.config.values import (
    ConfigPath,
    Duration,
    Interval,
    Section,
    TimeZoneName,
    Weekday,
    _to_interval,
)
from connector.core.durations import parse_duration

# ---- [connector], [reports] ----------------------------------------------------------------


MIN_POLL_INTERVAL = timedelta(seconds=5)


def _poll_interval(value: timedelta | None) -> timedelta | None:
    if value is not None and value < MIN_POLL_INTERVAL:
        raise ValueError(f'a poll interval is at least {MIN_POLL_INTERVAL.seconds} seconds (e.g. "1m")')
    return value


class ConnectorSection(Section):
    database: ConfigPath = Field(default=Path("sla-connector.db"), validate_default=True)
    poll_interval: Annotated[Duration, AfterValidator(_poll_interval)] = timedelta(minutes=5)
    overlap: Duration = timedelta(minutes=2)
    report_timezone: TimeZoneName = "UTC"
    dry_run: bool = False
    delivery_attempts: int = Field(default=4, ge=1, le=20)
    default_level: str | None = None
    pause_statuses: list[str] = ["pending"]


class ReportsSection(Section):
    export_dir: ConfigPath | None = None
    csv_bom: bool = False  # CSV for Excel: a UTF-8 byte order mark and CRLF line ends
    export_time: Annotated[str, AfterValidator(lambda v: _to_interval(f"{v}-24:00")[0])] = "06:00"


# ---- [api] ---------------------------------------------------------------------------------


class ApiSection(Section):
    """`sla-connector serve`: the read-only HTTP API, the metrics and the status page."""

    listen: str = "127.0.0.1"
    port: int = Field(default=8750, ge=1, le=65535)
    # one token per line; a line `sha256:<hex>` is a token's SHA-256 (hashed at rest); `#` comments
    tokens_file: ConfigPath | None = None
    status_page_needs_token: bool = False
    metrics_need_token: bool = False
    # /healthz answers 503 once a source has been failing (no success since) for longer than this
    unhealthy_after: Duration = timedelta(minutes=30)
    # /metrics' records by status and metric are counted this often (a scan of every record)
    metrics_refresh: Duration = timedelta(minutes=1)


# ---- [[calendars]] -------------------------------------------------------------------------


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _overlap(intervals: list[tuple[str, str]]) -> str | None:
    """The first two intervals of one day that overlap, said in words (an interval that runs
    past midnight counts to the end of its day here)."""
    spans = sorted(
        (_minutes(start), _minutes(end) if _minutes(end) > _minutes(start) else 24 * 60, f"{start}-{end}")
        for start, end in intervals
    )
    for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
        if start < end:
            return f'"{first}" and "{second}" overlap (merge them into one interval)'
    return None


class CalendarSection(Section):
    name: str
    timezone: TimeZoneName
    hours: dict[Weekday, list[Interval]]
    country: str | None = None
    subdivision: str | None = None
    holidays: list[date] = []
    holiday_exceptions: list[date] = []
    overrides: dict[date, list[Interval]] = {}

    @model_validator(mode="after")
    def _hours_make_sense(self) -> CalendarSection:
        if not any(self.hours.values()):
            raise ValueError(
                'a calendar needs business hours (e.g. hours.mon = ["09:00-17:00"]; "00:00-24:00" every day for 24/7)'
            )
        for where, intervals in [
            *((f"hours.{d}", v) for d, v in self.hours.items()),
            *((f"overrides.{d}", v) for d, v in self.overrides.items()),
        ]:
            problem = _overlap(intervals)
            if problem:
                raise ValueError(f"{where}: {problem}")
        return self

    @model_validator(mode="after")
    def _known_country(self) -> CalendarSection:
        if self.country is None:
            if self.subdivision is not None:
                raise ValueError("subdivision needs a country")
            return self
        supported = holidays_package.list_supported_countries()
        if self.country not in supported:
            raise ValueError(
                f"country {self.country!r} is not known to the holidays package (use an ISO code, e.g. DE)"
            )
        if self.subdivision is not None and self.subdivision not in supported[self.country]:
            raise ValueError(
                f"subdivision {self.subdivision!r} is not one of {self.country}'s: {', '.join(supported[self.country])}"
            )
        return self


# ---- [[levels]] and [escalation] -----------------------------------------------------------


def _positive(value: timedelta | None) -> timedelta | None:
    if value is not None and value <= timedelta(0):
        raise ValueError('a target is a positive duration (e.g. "4h")')
    return value


Target = Annotated[Duration, AfterValidator(_positive)]


class Targets(Section):
    first_reply: Target | None = None
    next_reply: Target | None = None
    resolution: Target | None = None
    chat_reply: Target | None = None
    call_reply: Target | None = None


_STEP_AT = re.compile(r"([+-]?)(\d+(?:\.\d+)?)%|([+-]?)(.+)")


def _to_step_at(value: Any) -> str:
    text = str(value).strip()
    match = _STEP_AT.fullmatch(text)
    if match and match.group(2) is not None:
        return text
    try:
        parse_duration(match.group(4) if match else text)
    except ValueError:
        raise ValueError(f'{value!r} is not a step point (use e.g. "-20%", "-30m", "0", "+2h")') from None
    return text


NOTE_FIELDS = ("ticket", "title", "metric", "level", "due", "overdue", "status")


def _to_note(value: str) -> str:
    import string

    for _, name, _, _ in string.Formatter().parse(value):
        if name is not None and name not in NOTE_FIELDS:
            raise ValueError(
                f"{{{name}}} is not a note placeholder (use {', '.join('{' + f + '}' for f in NOTE_FIELDS)})"
            )
    return value


class StepSection(Section):
    at: Annotated[str, BeforeValidator(_to_step_at)]
    add_tags: list[str] = []
    remove_tags: list[str] = []
    raise_priority: Literal["low", "normal", "high", "urgent"] | None = None
    add_note: Annotated[str, AfterValidator(_to_note)] | None = None
    notify: list[str] = []


def _level_name(value: str) -> str:
    # the name is written into reports, CSV and SQL: a control character has no place in it
    if not value.strip() or any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError(f"a level's name is a line of text, not {value!r}")
    return value


class LevelSection(Targets):
    name: Annotated[str, AfterValidator(_level_name)]
    calendar: str
    by_priority: dict[str, Targets] = {}
    steps: list[StepSection] | None = None


class EscalationSection(Section):
    leads: list[str] = []
    steps: list[StepSection] = []
    catch_up: Duration = timedelta(days=1)
    remove_tags_when_met: bool = True


# ---- [[rules]] -----------------------------------------------------------------------------

RULE_FIELDS = (
    "channel",
    "status",
    "created",
    "updated",
    "deleted",
    "referrer_url",
    "priority",
    "last_message_by",
    "department",
    "assignee",
    "organization",
    "requester",
    "tags",
)
RULE_OPERATORS = (
    "equals",
    "not_equals",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "matches",
    "is_set",
    "is_empty",
    "before",
    "after",
    "older_than",
    "newer_than",
)


class Condition(Section):
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    field: str | None = None
    op: str | None = None
    value: Any = None

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        kinds = [k for k in ("all", "any", "field") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError('a condition has exactly one of: all = [...], any = [...], field = "..."')
        if self.field is None:
            return self
        if self.field not in RULE_FIELDS and not self.field.startswith("custom."):
            raise ValueError(f"field {self.field!r} is not one of {', '.join(RULE_FIELDS)}, custom.<name>")
        if self.op not in RULE_OPERATORS:
            raise ValueError(f"op {self.op!r} is not one of {', '.join(RULE_OPERATORS)}")
        if self.op in ("is_set", "is_empty"):
            return self
        if self.value is None:
            raise ValueError(f"op {self.op!r} needs a value")
        if self.op == "matches":
            try:
                re.compile(str(self.value))
            except re.error as exc:
                raise ValueError(f"value {self.value!r} is not a valid regular expression: {exc}") from None
        time_field = self.field in ("created", "updated") or self.field.startswith("custom.")
        if self.op in ("before", "after", "older_than", "newer_than") and not time_field:
            raise ValueError(f"op {self.op!r} compares times: use it on created, updated or custom.<name>")
        if self.op in ("older_than", "newer_than"):
            parse_duration(self.value)
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f'op {self.op!r} needs a list value, e.g. ["a", "b"]')
        return self


class RuleSection(Section):
    name: str
    active: bool = True
    when: Condition
    set_level: str | None = None
    stop: bool = False


# ---- [[contracts]] -------------------------------------------------------------------------


class CreditTier(Section):
    below: Decimal = Field(gt=0, le=100)
    credit_percent: Decimal = Field(ge=0, le=100)


# ISO 4217 minor units (decimals of the amount) of the active currencies; those with 2 are the
# rule and are listed too, so that a currency missing here is a config error, not a guess.
MINOR_UNITS = {
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("CLF", "UYW"), 4),
    **dict.fromkeys(
        (
            "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
            "CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS "
            "GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL "
            "MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK "
            "PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS "
            "TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VES VED WST XCD XCG YER ZAR ZMW ZWG"
        ).split(),
        2,
    ),
}


class ContractSection(Section):
    customer: str
    organizations: list[str] = []
    domains: list[str] = []
    level: str | None = None
    monthly_fee: Decimal = Field(ge=0)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    minor_units: int | None = Field(default=None, ge=0, le=4)  # decimals of the currency (default: ISO 4217)
    tiers: list[CreditTier] = []
    per_breach_percent: Decimal | None = Field(default=None, ge=0, le=100)
    cap_percent: Decimal | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _matches_someone(self) -> ContractSection:
        if not self.organizations and not self.domains:
            raise ValueError("a contract needs organizations = [...] or domains = [...] to find its customer")
        if self.minor_units is None and self.currency not in MINOR_UNITS:
            raise ValueError(
                f"currency: contract {self.customer!r}: {self.currency!r} is not an ISO 4217 currency known "
                "here; give its decimals as minor_units = 2 (or 0, 3)"
            )
        return self

    @property
    def decimals(self) -> int:
        """How many decimals the credit amount has: `minor_units`, else ISO 4217's."""
        return self.minor_units if self.minor_units is not None else MINOR_UNITS[self.currency]
