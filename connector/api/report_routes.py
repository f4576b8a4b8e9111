"""`/api/v1/reports/...`: the CLI's reports with its filters as query parameters, as JSON or CSV.

JSON by default; CSV with `?format=csv` or `Accept: text/csv`, streamed row chunk by row chunk,
written by the same code as the CLI's CSV (formula-safe). The log's JSON comes in pages: `limit`
rows, then `next_cursor` to pass as `cursor` for the next page.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import re
from dataclasses import fields
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse

from connector.api.context import Context, context
from connector.api.models import BreachReport, ComplianceReport, CreditsReport, DueReport, LogPage
from connector.api.tables import csv_chunks, json_rows
from connector.core.durations import DURATION_HINT, parse_duration
from connector.reports.queries import GROUPS, SORTABLE, Filters, Table

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

Format = Literal["json", "csv"]
MONTH = r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$"
EARLIEST, LATEST = date(1900, 1, 1), date(2199, 12, 31)
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}
MAX_PAGE = 10_000
# a range longer than this is refused: by date, the compliance report runs two queries per day
MAX_RANGE = timedelta(days=3700)


def bad_parameter(name: str, value: Any, message: str) -> RequestValidationError:
    """A 422 in FastAPI's own shape, naming the query parameter."""
    return RequestValidationError([{"type": "value_error", "loc": ("query", name), "msg": message, "input": value}])


FILTER_HELP = {
    "department": "only this department",
    "agent": "only this assignee",
    "level": "only this SLA level",
    "customer": "only this customer: an organization or e-mail domain",
    "metric": "only this metric, e.g. first_reply",
}
# the report filters other than the range and the log's status, read from `Filters` itself so
# that a filter the reports learn is a query parameter here too
FILTER_NAMES = [f.name for f in fields(Filters) if f.name not in ("start", "end", "status")]


def _filters(**values: str | None) -> dict[str, Any]:
    return values


_filters.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=Query(None, min_length=1, description=FILTER_HELP.get(name, f"only this {name}")),
            annotation=str | None,
        )
        for name in FILTER_NAMES
    ]
)


def _range(
    start: Annotated[date, Query(alias="from", description="first day, YYYY-MM-DD, in the report time zone")],
    end: Annotated[date, Query(alias="to", description="last day, YYYY-MM-DD (included)")],
) -> dict[str, Any]:
    for name, day in (("from", start), ("to", end)):
        if not EARLIEST <= day <= LATEST:
            raise bad_parameter(name, str(day), f"is not a day from {EARLIEST} to {LATEST}")
    if end < start:
        raise bad_parameter("to", str(end), f"is before from ({start})")
    if end - start > MAX_RANGE:
        raise bad_parameter("to", str(end), f"is more than {MAX_RANGE.days} days after from ({start}); ask in parts")
    return {"start": start, "end": end}


FilterArgs = Annotated[dict[str, Any], Depends(_filters)]
RangeArgs = Annotated[dict[str, Any], Depends(_range)]
FormatArg = Annotated[Format | None, Query(description="json (default) or csv; or send Accept: text/csv")]


def _wants_csv(request: Request, fmt: Format | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _answer(request: Request, ctx: Context, fmt: Format | None, table: Table, name: str) -> Response:
    if _wants_csv(request, fmt):
        return StreamingResponse(
            ctx.stream(csv_chunks(table)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    rows, _ = json_rows(table)
    return JSONResponse({"rows": rows})


def _run(call, parameter: str, value: Any):
    """Run a report; its ValueError (an unknown name) becomes a 422 naming the parameter."""
    try:
        return call()
    except ValueError as exc:
        named = re.match(r"^--([a-z-]+) ", str(exc))  # the reports name the option they refuse
        if named and named.group(1) != parameter.replace("_", "-"):
            raise bad_parameter(named.group(1).replace("-", "_"), None, str(exc)[named.end() :]) from None
        message = re.sub(r"^--[a-z-]+ ", "", str(exc))
        raise bad_parameter(parameter, value, message) from None


@router.get("/compliance", response_model=ComplianceReport, responses=CSV_RESPONSE)
def compliance(
    request: Request,
    ctx: Annotated[Context, Depends(context)],
    span: RangeArgs,
    filters: FilterArgs,
    group_by: Annotated[
        str, Query(pattern=r"^[a-z_]+(,[a-z_]+)?$", description=f"one row per {', '.join(GROUPS)} (default: date)")
    ] = "date",
    format: FormatArg = None,
) -> Response:
    """Met and failed records with their business times and the compliance percent, per group."""
    groups = group_by if "," not in group_by else tuple(group_by.split(","))
    table = _run(lambda: ctx.reports.compliance(Filters(**span, **filters), groups), "group_by", group_by)
    return _answer(request, ctx, format, table, f"compliance-{span['start']}-{span['end']}")


NOT_A_CURSOR = "is not a cursor this API gave for this sort (use next_cursor of the previous page)"


def _cursor(text: str | None, sort: str) -> tuple[list[Any] | None, int]:
    """(the sort key the page starts after, or the offset when sorted by remaining time)."""
    if text is None:
        return None, 0
    try:
        given = json.loads(base64.urlsafe_b64decode(text.encode() + b"==="))
        key, offset = given.get("after"), given.get("offset", 0)
        valid = given["sort"] == sort and _sql_int(offset) and offset >= 0
        valid = valid and (key is None or (isinstance(key, list) and key and _sql_int(key[-1])))
        valid = valid and all(value is None or isinstance(value, str) or _sql_int(value) for value in key or [])
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        valid = False
    if not valid:
        raise bad_parameter("cursor", text, NOT_A_CURSOR)
    return key, offset


def _sql_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _next_cursor(sort: str, after: list[Any] | None = None, offset: int = 0) -> str:
    cursor = {"sort": sort, "after": after} if after is not None else {"sort": sort, "offset": offset}
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode().rstrip("=")


@router.get("/log", response_model=LogPage, responses=CSV_RESPONSE)
def log(
    request: Request,
    ctx: Annotated[Context, Depends(context)],
    span: RangeArgs,
    filters: FilterArgs,
    status: Annotated[Literal["met", "breached", "running", "paused", "cancelled"] | None, Query()] = None,
    sort: Annotated[
        str | None,
        Query(description=f"COLUMN[,COLUMN]: {', '.join(SORTABLE)} (default: start)", pattern=r"^[a-z,]+$"),
    ] = None,
    desc: Annotated[bool, Query(description="sort descending")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows per JSON page (CSV: all rows)")] = 1000,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    format: FormatArg = None,
) -> Response:
    """One row per SLA record started in the range; JSON in pages, CSV streamed whole."""
    columns = sort.split(",") if sort else None
    chosen = Filters(**span, **filters, status=status)
    if _wants_csv(request, format):
        table = _run(lambda: ctx.reports.log(chosen, columns, desc), "sort", sort)
        return _answer(request, ctx, format, table, f"sla-log-{span['start']}-{span['end']}")
    order = f"{','.join(columns or ['start'])}{':desc' if desc else ''}"
    after, offset = _cursor(cursor, order)
    if "remaining" in (columns or []):  # computed at report time: pages by position
        table = _run(lambda: ctx.reports.log(chosen, columns, desc), "sort", sort)
        rows, more = json_rows(table, offset, limit)
        return JSONResponse({"rows": rows, "next_cursor": _next_cursor(order, offset=offset + limit) if more else None})
    table, last = _run(lambda: ctx.reports.log_page(chosen, columns, desc, after, limit), "sort", sort)
    rows, _ = json_rows(table)
    return JSONResponse({"rows": rows, "next_cursor": _next_cursor(order, after=last) if last is not None else None})


MonthArg = Annotated[str, Query(pattern=MONTH, description="YYYY-MM")]


@router.get("/credits", response_model=CreditsReport, responses=CSV_RESPONSE)
def credits(
    request: Request,
    ctx: Annotated[Context, Depends(context)],
    month: MonthArg,
    customer: Annotated[str | None, Query(min_length=1, description="one contract's customer name")] = None,
    format: FormatArg = None,
) -> Response:
    """Service credits per customer contract for a month."""
    table = _run(lambda: ctx.reports.credits(month, customer), "customer", customer)
    return _answer(request, ctx, format, table, f"credits-{month}")


@router.get("/breaches", response_model=BreachReport, responses=CSV_RESPONSE)
def breaches(
    request: Request,
    ctx: Annotated[Context, Depends(context)],
    month: MonthArg,
    customer: Annotated[str, Query(min_length=1, description="the contract's customer name")],
    format: FormatArg = None,
) -> Response:
    """The breached records behind one customer's credit in a month."""
    table = _run(lambda: ctx.reports.breaches(month, customer), "customer", customer)
    return _answer(request, ctx, format, table, f"breaches-{month}")


def _within(text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise bad_parameter("within", text, str(exc)) from None


@router.get("/due", response_model=DueReport, responses=CSV_RESPONSE)
def due(
    request: Request,
    ctx: Annotated[Context, Depends(context)],
    filters: FilterArgs,
    within: Annotated[
        str | None, Query(description=f"only those due within this business time ({DURATION_HINT})")
    ] = None,
    format: FormatArg = None,
) -> Response:
    """Open SLA clocks by due time, with the business time left and the next escalation step."""
    table = _run(lambda: ctx.reports.due(Filters(**filters), _within(within)), "customer", filters.get("customer"))
    return _answer(request, ctx, format, table, "due")
