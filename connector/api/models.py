"""The typed shapes of the API's JSON answers, from which /openapi.json is generated.

Row fields follow the report's columns as the CLI's JSON writes them: a duration is
`<name>_seconds`, an amount or percent an exact decimal string, a time local ISO-8601 text.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Row(BaseModel):
    model_config = ConfigDict(extra="allow")


class ComplianceRow(Row):
    """The group's own column (date, week, department, ...) is named after `group_by`."""

    met: int
    met_avg_seconds: int | None
    met_max_seconds: int | None
    met_min_seconds: int | None
    failed: int
    failed_avg_seconds: int | None
    failed_max_seconds: int | None
    failed_min_seconds: int | None
    compliance: str | None


class LogRow(Row):
    requester: str | None
    ticket: str | None
    link: str | None
    department: str | None
    agent: str | None
    level: str | None
    metric: str
    seq: int
    start: str | None
    due: str | None
    stopped: str | None
    remaining_seconds: int | None
    status: str


class CreditRow(Row):
    customer: str
    month: str
    records: int
    met: int
    failed: int
    compliance: str | None
    credit_percent: str
    credit: str
    currency: str


class BreachRow(Row):
    ticket: str | None
    requester: str | None
    title: str | None
    level: str | None
    metric: str
    seq: int
    start: str | None
    due: str | None
    stopped: str | None
    overdue_seconds: int | None


class DueRow(Row):
    ticket: str | None
    requester: str | None
    title: str | None
    level: str | None
    metric: str
    due: str | None
    left_seconds: int | None
    next_step: str | None
    status: str


class ComplianceReport(BaseModel):
    rows: list[ComplianceRow]


class CreditsReport(BaseModel):
    rows: list[CreditRow]


class BreachReport(BaseModel):
    rows: list[BreachRow]


class DueReport(BaseModel):
    rows: list[DueRow]


class LogPage(BaseModel):
    rows: list[LogRow]
    next_cursor: str | None = None


class SourceHealth(BaseModel):
    name: str
    kind: str
    healthy: bool
    last_success_at: str | None
    last_error_at: str | None
    last_error: str | None
    failing_for_seconds: int | None
    outbox: dict[str, int]


class Health(BaseModel):
    status: str
    sources: list[SourceHealth]


class TicketInfo(BaseModel):
    source: str
    external_id: str
    number: str | None
    title: str | None
    status: str | None
    level: str | None
    link: str | None


class TicketRecord(BaseModel):
    metric: str
    seq: int
    level: str | None
    status: str
    start: str | None
    due: str | None
    stopped: str | None
    target_seconds: int | None
    business_seconds: int | None
    paused_seconds: int | None
    next_step: str | None
    steps_fired: list


class TicketEvent(BaseModel):
    metric: str
    seq: int
    kind: str
    at: str
    recorded_at: str | None
    data: dict | list | None


class TicketSla(BaseModel):
    ticket: TicketInfo
    records: list[TicketRecord]
    events: list[TicketEvent]
