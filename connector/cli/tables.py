"""What the analytics commands share with the reports on the command line: dates, and writing a
table as a table, CSV or JSON to standard output or (atomically) to a file."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from connector.reports.export import atomic_text_file
from connector.reports.output import write
from connector.reports.queries import Table


def date_argument(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), help="default: table on a terminal, csv otherwise"
    )
    parser.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")


def emit(table: Table, args: argparse.Namespace) -> int:
    fmt = args.format or ("table" if args.output is None and sys.stdout.isatty() else "csv")
    if args.output is None:
        write(table, fmt, sys.stdout)
    else:
        with atomic_text_file(Path(args.output)) as stream:
            write(table, fmt, stream)
    return 0
