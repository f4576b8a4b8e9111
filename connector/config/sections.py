"""The sections of the config file, one pydantic model each, and the value types they share.

Every model forbids unknown keys, so a typo inside `[zammad]` is an error, not a silent default.
Validators raise ValueError with text that names the bad value and what is expected; the loader
(`connector.config.settings`) adds the file name and key path.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_package
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

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
        raise ValueError(f"{value!r} is not an interval (use e.g. \"09:00-17:00\")")
    start, end = (str(p).strip() for p in parts)
    for clock in (start, end):
        if not _CLOCK.fullmatch(clock) or (clock.startswith("24") and clock != "24:00"):
            raise ValueError(f"{value!r} is not an interval: {clock!r} is not a time HH:MM from 00:00 to 24:00")
    if start == "24:00" or start == end or (start == "00:00" and end == "00:00"):
        raise ValueError(f"{value!r} is an empty interval (use e.g. \"09:00-17:00\", or \"00:00-24:00\" for all day)")
    return start, end


def _to_config_path(value: Any) -> Path:
    from connector.config.settings import config_dir  # the loader sets it while validating

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


# ---- [connector], [reports] ----------------------------------------------------------------


class ConnectorSection(Section):
    database: ConfigPath = Field(default=Path("sla-connector.db"), validate_default=True)
    poll_interval: Duration = timedelta(minutes=5)
    overlap: Duration = timedelta(minutes=2)
    report_timezone: TimeZoneName = "UTC"
    dry_run: bool = False
    delivery_attempts: int = Field(default=4, ge=1, le=20)
    default_level: str | None = None
    pause_statuses: list[str] = ["pending"]


class ReportsSection(Section):
    export_dir: ConfigPath | None = None
    export_time: Annotated[str, AfterValidator(lambda v: _to_interval(f"{v}-24:00")[0])] = "06:00"


# ---- [[calendars]] -------------------------------------------------------------------------


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
    def _known_country(self) -> CalendarSection:
        if self.country is None:
            if self.subdivision is not None:
                raise ValueError("subdivision needs a country")
            return self
        supported = holidays_package.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"country {self.country!r} is not known to the holidays package (use an ISO code, e.g. DE)")
        if self.subdivision is not None and self.subdivision not in supported[self.country]:
            raise ValueError(
                f"subdivision {self.subdivision!r} is not one of {self.country}'s: {', '.join(supported[self.country])}"
            )
        return self


# ---- [[levels]] and [escalation] -----------------------------------------------------------


class Targets(Section):
    first_reply: Duration | None = None
    next_reply: Duration | None = None
    resolution: Duration | None = None
    chat_reply: Duration | None = None
    call_reply: Duration | None = None


_STEP_AT = re.compile(r"([+-]?)(\d+(?:\.\d+)?)%|([+-]?)(.+)")


def _to_step_at(value: Any) -> str:
    text = str(value).strip()
    match = _STEP_AT.fullmatch(text)
    if match and match.group(2) is not None:
        return text
    try:
        parse_duration(match.group(4) if match else text)
    except ValueError:
        raise ValueError(f"{value!r} is not a step point (use e.g. \"-20%\", \"-30m\", \"0\", \"+2h\")") from None
    return text


NOTE_FIELDS = ("ticket", "title", "metric", "level", "due", "overdue", "status")


def _to_note(value: str) -> str:
    import string

    for _, name, _, _ in string.Formatter().parse(value):
        if name is not None and name not in NOTE_FIELDS:
            raise ValueError(f"{{{name}}} is not a note placeholder (use {', '.join('{' + f + '}' for f in NOTE_FIELDS)})")
    return value


class StepSection(Section):
    at: Annotated[str, BeforeValidator(_to_step_at)]
    add_tags: list[str] = []
    remove_tags: list[str] = []
    raise_priority: Literal["low", "normal", "high", "urgent"] | None = None
    add_note: Annotated[str, AfterValidator(_to_note)] | None = None
    notify: list[str] = []


class LevelSection(Targets):
    name: str
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
    "channel", "status", "created", "updated", "deleted", "referrer_url", "priority",
    "last_message_by", "department", "assignee", "organization", "requester", "tags",
)
RULE_OPERATORS = (
    "equals", "not_equals", "in", "not_in", "contains", "not_contains", "matches",
    "is_set", "is_empty", "before", "after", "older_than", "newer_than",
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
            raise ValueError("a condition has exactly one of: all = [...], any = [...], field = \"...\"")
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
            raise ValueError(f"op {self.op!r} needs a list value, e.g. [\"a\", \"b\"]")
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


class ContractSection(Section):
    customer: str
    organizations: list[str] = []
    domains: list[str] = []
    level: str | None = None
    monthly_fee: Decimal = Field(ge=0)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    tiers: list[CreditTier] = []
    per_breach_percent: Decimal | None = Field(default=None, ge=0, le=100)
    cap_percent: Decimal | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _matches_someone(self) -> ContractSection:
        if not self.organizations and not self.domains:
            raise ValueError("a contract needs organizations = [...] or domains = [...] to find its customer")
        return self


# ---- adapter sections ----------------------------------------------------------------------


class SourceSection(Section):
    """What every adapter section has; `name` defaults to the section's own name."""

    enabled: bool = True
    name: str = ""
    poll_interval: Duration | None = None

    @property
    def kind(self) -> str:
        raise NotImplementedError

    @model_validator(mode="after")
    def _default_name(self) -> SourceSection:
        if not self.name:
            self.name = self.kind
        return self


Security = Literal["tls", "starttls", "plain"]


class ImapSection(Section):
    host: str
    port: int = Field(default=993, ge=1, le=65535)
    security: Security = "tls"
    user: str
    password: SecretStr | None = None
    password_file: ConfigPath | None = None

    @model_validator(mode="after")
    def _secret(self) -> ImapSection:
        _read_secret(self, "password")
        return self


class SmtpSection(Section):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Security = "starttls"
    user: str | None = None
    password: SecretStr | None = None
    password_file: ConfigPath | None = None
    sender: str

    @model_validator(mode="after")
    def _secret(self) -> SmtpSection:
        _read_secret(self, "password")
        return self


class EmailSection(SourceSection):
    maildir: ConfigPath | None = None
    imap: ImapSection | None = None
    smtp: SmtpSection | None = None
    folders: list[str] | None = None          # None: every folder
    sent_folder: str | None = "Sent"
    solved_folders: list[str] = ["Done"]
    solved_keywords: list[str] = ["solved", "done"]
    pending_keywords: list[str] = ["pending"]
    thread_window: Duration = timedelta(days=14)
    agent_addresses: list[str] = []
    agent_domains: list[str] = []
    notify_to: list[str] = []                 # who receives notices for "assignee" (a mailbox has none)

    @property
    def kind(self) -> str:
        return "email"

    @model_validator(mode="after")
    def _one_mailbox(self) -> EmailSection:
        if (self.maildir is None) == (self.imap is None):
            raise ValueError("give exactly one mailbox: maildir = \"path\" or an [email.imap] section")
        return self


class ZammadSection(SourceSection):
    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    token: SecretStr | None = None
    token_file: ConfigPath | None = None
    page_size: int = Field(default=100, ge=1, le=500)
    verify_tls: bool = True

    @property
    def kind(self) -> str:
        return "zammad"

    @model_validator(mode="after")
    def _secret(self) -> ZammadSection:
        _read_secret(self, "token")
        if self.token is None:
            raise ValueError("give token (better: $SLA_CONNECTOR__ZAMMAD__TOKEN) or token_file")
        return self


class OsticketSection(SourceSection):
    host: str = "127.0.0.1"
    port: int = Field(default=3306, ge=1, le=65535)
    database: str
    user: str
    password: SecretStr | None = None
    password_file: ConfigPath | None = None
    table_prefix: str = "ost_"
    web_url: str | None = None

    @property
    def kind(self) -> str:
        return "osticket"

    @model_validator(mode="after")
    def _secret(self) -> OsticketSection:
        _read_secret(self, "password")
        return self
