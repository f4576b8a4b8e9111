"""`sla-connector recommend`: SLA targets from the stored history."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from connector.analytics.history import GROUPS
from connector.analytics.recommend import recommend
from connector.cli.tables import add_output_options, date_argument, emit
from connector.config.settings import config_path, load_config
from connector.core.errors import ConfigError
from connector.core.policy import METRICS
from connector.store.database import Store


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "recommend",
        help="SLA targets from history: business-time percentiles and the target a share would have met",
        description="Per group, how much business time the stored clocks of one metric took (p50, p80, "
        "p90, p95, with counts) and the target at which --meet percent of them would have been met. "
        "Clocks still running count as lasting at least as long as they have run so far "
        "(a Kaplan-Meier estimate). An empty percentile: too many clocks are still running to tell.",
    )
    parser.add_argument("--metric", required=True, choices=METRICS)
    parser.add_argument("--group-by", choices=GROUPS, default="level", help="one row per ... (default: level)")
    parser.add_argument("--meet", type=float, default=90.0, help="percent of records to meet (default: 90)")
    parser.add_argument("--from", dest="start", type=date_argument, help="only clocks started from this day")
    parser.add_argument("--to", dest="end", type=date_argument, help="only clocks started up to this day")
    add_output_options(parser)
    parser.set_defaults(handler=cmd_recommend)


def cmd_recommend(args: argparse.Namespace) -> int:
    settings = load_config(config_path(args.config))
    store = Store.open(settings.connector.database)
    try:
        table = recommend(
            store, settings, datetime.now(UTC), args.metric, args.group_by, args.meet, args.start, args.end
        )
    except ValueError as exc:
        raise ConfigError([str(exc)]) from None
    return emit(table, args)
