"""`sla-connector calendar due|elapsed`: business-time arithmetic on a configured calendar.

Times given without an offset are read in the calendar's own zone: support staff type the local
times they see.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from connector.config.settings import config_path, load_config
from connector.core.calendar import BusinessCalendar
from connector.core.durations import DURATION_HINT, format_duration, parse_duration
from connector.core.errors import ConfigError

ISO_HINT = "an ISO time such as 2026-11-27T16:00 or 2026-11-27T16:00+01:00, or 'now'"


def add_parser(commands: argparse._SubParsersAction) -> None:
    calendar = commands.add_parser(
        "calendar",
        help="compute due times and business time on a configured calendar",
        description="Business-hours arithmetic on a [[calendars]] entry, for support staff and debugging: "
        "when is something due that starts at a given time and may take a given business time, "
        "and how much business time lies between two instants.",
    )
    actions = calendar.add_subparsers(dest="calendar_command", metavar="ACTION", required=True)
    due = actions.add_parser(
        "due",
        help="the due time: a start plus a business-time duration",
        description="Print when something is due that starts at --start and may take --duration of business "
        "time. A start outside business hours counts from the next opening. Example: "
        "sla-connector calendar due --calendar office --start 2026-11-27T16:00 --duration 4h",
    )
    _common(due)
    due.add_argument(
        "--duration",
        required=True,
        type=_duration,
        help=f"business time, {DURATION_HINT}; a leading '-' walks backwards",
    )
    due.set_defaults(handler=cmd_due)
    elapsed = actions.add_parser(
        "elapsed",
        help="the business time between two instants",
        description="Print how much business time lies between --start and --end. Example: "
        "sla-connector calendar elapsed --calendar office --start 2026-11-27T16:00 --end 2026-11-30T10:00",
    )
    _common(elapsed)
    elapsed.add_argument("--end", required=True, type=_instant, help=ISO_HINT)
    elapsed.set_defaults(handler=cmd_elapsed)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calendar", metavar="NAME", help="a [[calendars]] name (default: the only one)")
    parser.add_argument(
        "--start", required=True, type=_instant, help=f"{ISO_HINT}; without an offset it is read in the calendar's zone"
    )


def _duration(text: str) -> timedelta:
    try:
        return -parse_duration(text[1:]) if text.startswith("-") else parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _instant(text: str) -> datetime:
    if text == "now":
        return datetime.now(UTC)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {ISO_HINT}") from None


def _calendar(args: argparse.Namespace) -> BusinessCalendar:
    settings = load_config(config_path(args.config))
    names = [c.name for c in settings.calendars]
    name = args.calendar or (names[0] if len(names) == 1 else None)
    if name not in names:
        listing = ", ".join(names) or "none"
        what = f"unknown calendar {name!r}" if name else "give --calendar NAME"
        raise ConfigError([f"--calendar: {what} (defined: {listing})"])
    return BusinessCalendar.from_config(settings.calendar(name))


def _local(calendar: BusinessCalendar, moment: datetime) -> datetime:
    return moment.replace(tzinfo=calendar.zone) if moment.tzinfo is None else moment


def _show(moment: datetime) -> str:
    return f"{moment.isoformat()} ({moment:%a})"


def cmd_due(args: argparse.Namespace) -> int:
    calendar = _calendar(args)
    start = _local(calendar, args.start)
    print(f"calendar  {calendar.name} ({calendar.zone.key})")
    print(f"start     {_show(start.astimezone(calendar.zone))}")
    if args.duration >= timedelta(0):
        print(f"counting  {_show(calendar.next_open(start))}")
    print(f"duration  {format_duration(args.duration)} of business time")
    print(f"due       {_show(calendar.add(start, args.duration))}")
    return 0


def cmd_elapsed(args: argparse.Namespace) -> int:
    calendar = _calendar(args)
    start, end = _local(calendar, args.start), _local(calendar, args.end)
    taken = calendar.elapsed(start, end)
    print(f"calendar  {calendar.name} ({calendar.zone.key})")
    print(f"start     {_show(start.astimezone(calendar.zone))}")
    print(f"end       {_show(end.astimezone(calendar.zone))}")
    print(f"elapsed   {format_duration(taken)} of business time ({int(taken.total_seconds())} s)")
    return 0
