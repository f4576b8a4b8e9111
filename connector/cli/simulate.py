"""`sla-connector simulate`: the stored history replayed under a proposed policy."""

from __future__ import annotations

import argparse
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from connector.analytics.simulate import GROUPS, proposed_settings, simulate
from connector.cli.tables import add_output_options, date_argument
from connector.config.settings import config_path, load_config
from connector.core.errors import ConfigError
from connector.reports.export import atomic_text_file
from connector.reports.output import write
from connector.store.database import Store

PARTS = {
    "compliance": "Compliance, current policy against the proposal",
    "credits": "Service credits, current policy against the proposal",
    "escalations": "Escalation writes per week, current ladder against the proposal's",
}


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "simulate",
        help="replay the stored tickets under a proposed policy: compliance, credits, escalation writes",
        description="Recompute the stored tickets of a period under the calendars, levels, rules and "
        "escalation ladder of another config file (everything else from the live config), in memory: "
        "the database is only read and nothing is written to a helpdesk. Shows the compliance per group "
        "and the credits per contract and month, current against proposed, and the writes the ladders "
        "would have made per week (tags, priority raises, notes, e-mails).",
    )
    parser.add_argument("--policy", required=True, metavar="FILE", help="the proposed config (TOML)")
    parser.add_argument("--from", dest="start", required=True, type=date_argument, help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", required=True, type=date_argument, help="last day, YYYY-MM-DD (included)")
    parser.add_argument("--group-by", choices=GROUPS, default="level", help="compliance per ... (default: level)")
    parser.add_argument(
        "--show",
        default="compliance,credits,escalations",
        metavar="PART[,PART]",
        help="which of compliance, credits, escalations (default: all; CSV takes one)",
    )
    add_output_options(parser)
    parser.set_defaults(handler=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    path = config_path(args.config)
    live = load_config(path)
    proposed = proposed_settings(live, Path(args.policy))
    parts = [p.strip() for p in args.show.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise ConfigError([f"--show {args.show!r}: use one or more of {', '.join(PARTS)}"])
    fmt = args.format or ("table" if args.output is None and sys.stdout.isatty() else "csv")
    if fmt == "csv" and len(parts) > 1:
        raise ConfigError([f"--show: CSV holds one table; pick one of {', '.join(parts)} (or --format json|table)"])
    store = Store.open(live.connector.database)
    try:
        result = simulate(store, live, proposed, datetime.now(UTC), args.start, args.end, args.group_by)
    except ValueError as exc:
        raise ConfigError([str(exc)]) from None
    finally:
        store.close()
    tables = {
        "compliance": result.compliance,
        "credits": result.credits,
        "escalations": result.escalation_writes,
    }
    text = io.StringIO()
    if fmt == "json" and len(parts) > 1:
        text.write("{")
        for i, part in enumerate(parts):
            chunk = io.StringIO()
            write(tables[part](), "json", chunk)
            text.write(f"{',' if i else ''}\n{json.dumps(part)}: {chunk.getvalue().rstrip()}")
        text.write("\n}\n")
    elif fmt == "table":
        text.write(f"{result.tickets} tickets replayed, {args.start} to {args.end}\n")
        for part in parts:
            text.write(f"\n{PARTS[part]}\n")
            write(tables[part](), "table", text)
    else:
        write(tables[parts[0]](), fmt, text)
    if args.output is None:
        sys.stdout.write(text.getvalue())
    else:
        with atomic_text_file(Path(args.output)) as stream:
            stream.write(text.getvalue())
    return 0
