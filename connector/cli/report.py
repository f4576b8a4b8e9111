"""`sla-connector report compliance|log|credits|breaches|due`."""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from connector.analytics.forecast import SORTS, forecast_due
from connector.config.settings import config_path, load_config
from connector.core.durations import DURATION_HINT, parse_duration
from connector.core.errors import ConfigError, ConnectorError
from connector.core.model import Channel
from connector.core.policy import METRICS
from connector.reports.export import atomic_text_file
from connector.reports.output import write
from connector.reports.queries import GROUPS, SORTABLE, TIME_GROUPS, Filters, Reports
from connector.store.database import Store


def add_parser(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="compliance report, SLA log, service credits, breach statements, the due queue",
        description="Reports from the stored SLA records, for finance, customers and the team. Dates are "
        "days in [connector] report_timezone. Output: a table on a terminal, CSV when piped, or "
        "--format csv|json|table; --output FILE writes a file (atomically).",
    )
    kinds = report.add_subparsers(dest="report_command", metavar="REPORT", required=True)

    compliance = kinds.add_parser(
        "compliance",
        help="met and failed records with their business times, by group",
        description="Met and failed SLA records, average/max/min business time of each, "
        "and the compliance percent, per group. A record counts on the day it "
        "was decided: met when it stopped, failed when it became due.",
    )
    _range(compliance, required=True)
    _filters(compliance)
    compliance.add_argument(
        "--group-by",
        type=_groups,
        default=("date",),
        metavar="GROUP[,GROUP]",
        help=f"one row per {', '.join(GROUPS)}, or per pair of them, e.g. department,week (default: date)",
    )
    compliance.set_defaults(handler=cmd_report)

    log = kinds.add_parser(
        "log",
        help="one row per SLA record: start, due, stop, remaining or overdue, status",
        description="One row per SLA record started in the range: requester, ticket and link, "
        "department, agent, level, metric, start, due, stop, remaining (or, "
        "negative, overdue) business time, status.",
    )
    _range(log, required=True)
    _filters(log)
    log.add_argument("--status", choices=("met", "breached", "running", "paused", "cancelled"))
    log.add_argument(
        "--sort", metavar="COLUMN[,COLUMN]", type=_sort, help=f"sort by {', '.join(SORTABLE)} (default: start)"
    )
    log.add_argument("--desc", action="store_true", help="sort descending")
    log.set_defaults(handler=cmd_report)

    credits = kinds.add_parser(
        "credits",
        help="service credits per customer contract for a month",
        description="Per [[contracts]] entry: records decided in the month, met, failed, "
        "compliance, credit percent by the contract's tiers or per-breach rate, "
        "and the credit amount in the contract's currency.",
    )
    credits.add_argument("--month", required=True, type=_month, help="YYYY-MM")
    credits.add_argument("--customer", help="one contract's customer name")
    credits.set_defaults(handler=cmd_report)

    breaches = kinds.add_parser(
        "breaches",
        help="the breached records behind a customer's credit",
        description="The failed SLA records of one customer in a month: the statement behind a credit.",
    )
    breaches.add_argument("--month", required=True, type=_month, help="YYYY-MM")
    breaches.add_argument("--customer", required=True, help="the contract's customer name")
    breaches.set_defaults(handler=cmd_report)

    due = kinds.add_parser(
        "due",
        help="the queue: open SLA clocks by due time, with business time left",
        description="Running and breached-but-unanswered SLA records ordered by due time, with "
        "the business time left (negative: overdue) and the next escalation step.",
    )
    due.add_argument("--within", type=_duration, help=f"only those due within this business time ({DURATION_HINT})")
    due.add_argument(
        "--forecast",
        action="store_true",
        help="add each clock's breach risk from past clocks of its level and metric, and the open clocks "
        "per department and per agent",
    )
    due.add_argument(
        "--sort", choices=SORTS, default="due", help="due (default) or risk, highest first (implies --forecast)"
    )
    _filters(due)
    due.set_defaults(handler=cmd_report)

    for parser in (compliance, log, credits, breaches, due):
        parser.add_argument(
            "--format", choices=("table", "csv", "json"), help="default: table on a terminal, csv otherwise"
        )
        parser.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
        parser.add_argument(
            "--excel",
            action="store_true",
            default=None,
            help="CSV for Excel: a UTF-8 byte order mark and CRLF line ends (default: [reports] csv_bom)",
        )


def _range(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--from", dest="start", required=required, type=_date, help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", required=required, type=_date, help="last day, YYYY-MM-DD (included)")


def _filters(parser: argparse.ArgumentParser) -> None:
    for name, text in (
        ("department", "only this department"),
        ("agent", "only this assignee"),
        ("level", "only this SLA level"),
        ("customer", "only this customer: a contract, an organization or an e-mail domain (any case)"),
        ("priority", "only tickets of this priority, as the helpdesk names it"),
        ("tag", "only tickets with this tag"),
    ):
        parser.add_argument(f"--{name}", help=text)
    parser.add_argument("--metric", choices=METRICS, help="only this metric")
    parser.add_argument("--channel", choices=[c.value for c in Channel], help="only tickets from this channel")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _month(text: str) -> str:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}", text):
            raise ValueError
        datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month YYYY-MM") from None
    return text


def _names(text: str, known: tuple[str, ...] | dict, what: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(","))
    for name in names:
        if name not in known:
            raise argparse.ArgumentTypeError(f"{name!r} is not a {what} (use {', '.join(known)})")
    return names


def _groups(text: str) -> tuple[str, ...]:
    names = _names(text, GROUPS, "group")
    if len(names) > 2 or len(set(names)) != len(names) or len(set(names) & set(TIME_GROUPS)) > 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: group by one group or two, at most one of them a time (e.g. department,week)"
        )
    return names


def _sort(text: str) -> list[str]:
    return list(_names(text, SORTABLE, "sortable column"))


def _duration(text: str):
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@contextmanager
def _destination(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with atomic_text_file(Path(path)) as stream:
        yield stream


def cmd_report(args: argparse.Namespace) -> int:
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start is not None and end is not None and start > end:
        raise ConfigError([f"--from {start} is after --to {end}: the range is empty"])
    settings = load_config(config_path(args.config))
    reports_store = Store.open(settings.connector.database)
    reports = Reports(reports_store, settings, datetime.now(UTC))
    kind = args.report_command
    try:
        if kind in ("compliance", "log", "due"):
            filters = Filters(
                start=getattr(args, "start", None),
                end=getattr(args, "end", None),
                department=args.department,
                agent=args.agent,
                level=args.level,
                customer=args.customer,
                metric=args.metric,
                status=getattr(args, "status", None),
                channel=args.channel,
                priority=args.priority,
                tag=args.tag,
            )
        if kind == "compliance":
            table = reports.compliance(filters, args.group_by)
        elif kind == "log":
            table = reports.log(filters, args.sort, args.desc)
        elif kind == "credits":
            table = reports.credits(args.month, args.customer)
        elif kind == "breaches":
            table = reports.breaches(args.month, args.customer)
        elif args.forecast or args.sort == "risk":
            table = forecast_due(reports_store, settings, reports.now, filters, args.within, args.sort)
        else:
            table = reports.due(filters, args.within)
    except ValueError as exc:
        raise ConfigError([str(exc)]) from None
    terminal = args.output is None and sys.stdout.isatty()
    fmt = args.format or ("table" if terminal else "csv")
    excel = settings.reports.csv_bom if args.excel is None else args.excel
    width = shutil.get_terminal_size().columns if terminal else None
    try:
        with _destination(args.output) as stream:
            write(table, fmt, stream, excel=excel, width=width)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise ConnectorError(f"cannot write --output {args.output}: {exc.strerror or exc}") from None
    return 0
