"""`sla-connector calendar ...`: business-time arithmetic on a configured calendar."""

from __future__ import annotations

import argparse
import sys


def add_parser(commands: argparse._SubParsersAction) -> None:
    calendar = commands.add_parser(
        "calendar", help="compute due times and business time on a configured calendar",
        description="Business-hours arithmetic on a [[calendars]] entry, for support staff and debugging: "
                    "when is something due that starts at a given time and may take a given business time, "
                    "and how much business time lies between two instants.",
    )
    calendar.set_defaults(handler=_not_yet)


def _not_yet(args: argparse.Namespace) -> int:
    print("sla-connector calendar: not available in this version yet", file=sys.stderr)
    return 1
