"""The `sla-connector` command.

Exit status: 0 success, 1 a check or an operation failed, 2 the configuration (or the command
line) is wrong. Every subcommand has `--help`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib.metadata import version

from connector.cli import calendar as cli_calendar
from connector.cli import imports as cli_imports
from connector.cli import recommend as cli_recommend
from connector.cli import report as cli_report
from connector.cli import serve as cli_serve
from connector.cli import service as cli_service
from connector.cli import simulate as cli_simulate
from connector.config.settings import ENV_CONFIG_PATH, Settings, config_path, load_config
from connector.core.errors import ConfigError, ConnectorError, StoreError
from connector.reports.customers import overlaps as contract_overlaps
from connector.service.logs import setup_logging
from connector.store.database import Store

log = logging.getLogger("sla_connector")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

DESCRIPTION = """\
SLA Connector keeps service-level agreements for helpdesks that lack them (Zammad, osTicket,
a support mailbox): business-hours SLA clocks, escalations written back into the helpdesk, and
compliance, SLA log and service-credit reports.

Start with:  sla-connector --config config.toml check
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sla-connector", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('sla-connector')}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"the TOML config file (default: ${ENV_CONFIG_PATH}, else ./config.toml)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines on stderr: readable text (default) or JSON for a service's journal",
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="least severe log level shown (default: info)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = commands.add_parser(
        "check",
        help="validate the config, open the database and reach every enabled helpdesk",
        description="Validate the config file, open (and migrate) the database, and ask every enabled "
        "source to verify its connection. Prints one line per check; exits 0 only if all pass.",
    )
    check.set_defaults(handler=cmd_check)

    cli_service.add_parsers(commands)

    cli_report.add_parser(commands)
    cli_calendar.add_parser(commands)
    cli_serve.add_parser(commands)
    cli_recommend.add_parser(commands)
    cli_simulate.add_parser(commands)
    cli_imports.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format, args.log_level)
    try:
        return args.handler(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    except ConnectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # `... | head` closed the pipe: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # the last resort: one line for the operator, the traceback in the log
        log.debug("%s failed", args.command, exc_info=True)
        where = "" if logging.getLogger().isEnabledFor(logging.DEBUG) else " (--log-level debug shows where)"
        print(f"error: {args.command} failed unexpectedly: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return EXIT_FAILED


def load_settings(args: argparse.Namespace) -> Settings:
    return load_config(config_path(args.config))


def cmd_check(args: argparse.Namespace) -> int:
    from adapters.registry import build

    path = config_path(args.config)
    settings = load_config(path)
    sources = settings.sources()
    results = [("ok", "config", f"{path}: {_summary(settings)}")]
    try:
        store = Store.open(settings.connector.database)
        results.append(("ok", "database", f"{store.path}: schema version {store.schema_version}"))
        # two contracts claiming one customer: warned, not failed (one of them is credited)
        results += [("warn", "contracts", warning) for warning in contract_overlaps(settings.contracts, store.db)]
        store.close()
    except StoreError as exc:
        results.append(("FAIL", "database", str(exc)))
    if not sources:
        results.append(("FAIL", "sources", "no source is enabled: add an [email], [zammad] or [osticket] section"))
    for section in sources:
        try:
            adapter = build(section, settings.connector.database.parent)
            # a Zammad source checks that the tags the ladder adds may be written there
            detail = adapter.check(ladder_tags=_ladder_tags(settings)) if section.kind == "zammad" else adapter.check()
            results.append(("ok", f"source {section.name}", detail))
        except ConfigError as exc:
            results.append(("FAIL", f"source {section.name}", "; ".join(exc.problems)))
        except ConnectorError as exc:
            results.append(("FAIL", f"source {section.name}", str(exc)))
    width = max(len(name) for _, name, _ in results)
    for outcome, name, detail in results:
        print(f"{outcome:<4}  {name:<{width}}  {detail}")
    if not sources:  # nothing to serve is a configuration problem, as `sync` says too
        return EXIT_CONFIG
    return EXIT_OK if all(outcome != "FAIL" for outcome, _, _ in results) else EXIT_FAILED


def _ladder_tags(settings: Settings) -> list[str]:
    """Every tag an escalation step (the default ladder's or a level's own) adds."""
    steps = list(settings.escalation.steps)
    for level in settings.levels:
        steps += level.steps or []
    return sorted({tag for step in steps for tag in step.add_tags})


def _summary(settings: Settings) -> str:
    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    return ", ".join(
        [
            count(len(settings.calendars), "calendar"),
            count(len(settings.levels), "level"),
            count(len(settings.rules), "rule"),
            count(len(settings.contracts), "contract"),
            count(len(settings.sources()), "source"),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
