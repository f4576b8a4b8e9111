"""`sla-connector sync | run | status | outbox`: the cycle, the service and its state."""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from connector.config.settings import Settings, config_path, load_config
from connector.core.errors import ConfigError, ConnectorError
from connector.service.cycle import Engine, record_failure, run_cycle
from connector.service.daemon import Service, install_signal_handlers, instance_lock, instance_running, utc_now
from connector.store.database import Store
from connector.store.outbox import STATES, Outbox
from connector.store.tickets import TicketStore

log = logging.getLogger("sla_connector")


def add_parsers(commands: argparse._SubParsersAction) -> None:
    sync = commands.add_parser(
        "sync",
        help="pull tickets, update SLA clocks and deliver escalations (one cycle with --once)",
        description="Run the sync cycle: pull changed tickets from each source, recompute their SLA records "
        "(also of tickets nobody touched whose due time passed), plan escalations and deliver them "
        "to the helpdesk. With --once, one cycle per source and a summary; without, it keeps "
        "cycling in the foreground like `run`. Try `sync --once --dry-run` first: it shows what "
        "would be written and keeps nothing.",
    )
    sync.add_argument("--once", action="store_true", help="run one cycle per source and exit")
    sync.add_argument(
        "--dry-run",
        action="store_true",
        help="compute everything, print what would be written; keep nothing, write nothing",
    )
    sync.add_argument("--source", metavar="NAME", help="only this source (its name, e.g. email)")
    sync.set_defaults(handler=cmd_sync)

    run = commands.add_parser(
        "run",
        help="run as a background service (what the systemd unit starts)",
        description="Run the sync cycle for every source on its poll interval until SIGTERM or Ctrl-C; "
        "SIGTERM lets the current cycle finish first. Only one instance may run per database. "
        "A source that fails is retried with back-off while the others keep running. "
        "Try `sync --once --dry-run` before you start the service.",
    )
    run.add_argument(
        "--serve",
        action="store_true",
        help="also serve the read-only HTTP API and status page in this process (see `serve`)",
    )
    run.set_defaults(handler=cmd_run)

    status = commands.add_parser(
        "status",
        help="each source's last sync, errors, open records, breaches and outbox",
        description="Show, per source: the last successful sync and the last error, the cursor (how far it "
        "has read), open SLA records, warnings, open breaches, and the outbox (queued, parked, "
        "skipped writes). Reads only the database, so it is safe while the service runs.",
    )
    status.set_defaults(handler=cmd_status)

    outbox = commands.add_parser(
        "outbox",
        help="list, retry or drop the writes waiting for or refused by the helpdesk",
        description="The outbox holds every write to a helpdesk until it is delivered. `list` shows them "
        "(parked ones were refused by the host, with its answer); `retry ID` queues one again; "
        "`drop ID` gives one up.",
    )
    actions = outbox.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="show outbox entries", description="Show outbox entries, oldest first.")
    listing.add_argument(
        "--state",
        choices=STATES,
        action="append",
        help="only entries in this state (repeatable; default: all but delivered)",
    )
    listing.add_argument("--source", metavar="NAME", help="only this source")
    listing.set_defaults(handler=cmd_outbox_list)
    for verb, text in (
        ("retry", "queue a parked, skipped or dropped entry again"),
        ("drop", "give up an entry that was not delivered"),
    ):
        action = actions.add_parser(verb, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument("id", type=int, help="the entry's id, from `outbox list`")
        action.set_defaults(handler=cmd_outbox_change, verb=verb)


def _adapters(settings: Settings, only: str | None = None) -> dict:
    from adapters.registry import build

    sections = [s for s in settings.sources() if only is None or s.name == only]
    if only is not None and not sections:
        names = ", ".join(s.name for s in settings.sources()) or "none"
        raise ConfigError([f"--source: no enabled source named {only!r} (enabled: {names})"])
    if not sections:
        raise ConfigError(["no source is enabled: add an [email], [zammad] or [osticket] section"])
    return {section.name: build(section, settings.connector.database.parent) for section in sections}


def _progress(count: int, rate: float) -> None:
    print(f"\r  {count:,} tickets read ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)


def _delivery_progress(done: int, total: int) -> None:
    if total and (done % 50 == 0 or done == total):
        print(f"\r  {done:,} of {total:,} writes tried", end="\n" if done == total else "", file=sys.stderr, flush=True)


def cmd_sync(args: argparse.Namespace) -> int:
    settings = load_config(config_path(args.config))
    adapters = _adapters(settings, args.source)
    engine = Engine.from_settings(settings)
    store = Store.open(settings.connector.database)
    dry_run = args.dry_run or settings.connector.dry_run
    if not args.once:
        return _serve(settings, store, adapters, engine)
    failed = False
    with instance_lock(settings.connector.database):
        service = Service(settings, store, adapters, engine)
        if not dry_run:
            service.start()
        for name, adapter in adapters.items():
            now = utc_now()
            try:
                summary = run_cycle(
                    store,
                    adapter,
                    engine,
                    now,
                    settings.connector.overlap,
                    dry_run=dry_run,
                    progress=_progress if sys.stderr.isatty() else None,
                    attempts=settings.connector.delivery_attempts,
                    delivery_progress=_delivery_progress if sys.stderr.isatty() else None,
                    breaker_base=service.interval(name),
                )
            except ConnectorError as exc:
                failed = True
                if not dry_run:
                    record_failure(store, name, exc, now)
                print(f"{name}: failed: {exc}", file=sys.stderr)
                continue
            if sys.stderr.isatty() and summary.pulled:
                print(file=sys.stderr)
            print(("dry run, nothing kept: " if dry_run else "") + summary.line())
            for problem in summary.skipped_tickets:
                print(f"  skipped {problem}")
            for action in summary.delivery.would_write:
                print(f"  would {action.kind.replace('_', ' ')} on {action.ticket_key}: {_describe(action.payload)}")
    return 1 if failed else 0


def _describe(payload: dict) -> str:
    if "tags" in payload:
        return ", ".join(payload["tags"])
    if "priority" in payload:
        return payload["priority"]
    if "recipients" in payload:
        return f"{payload['subject']} to {', '.join(payload['recipients'])}"
    return payload.get("text", "")


def cmd_run(args: argparse.Namespace) -> int:
    settings = load_config(config_path(args.config))
    adapters = _adapters(settings)
    store, engine = Store.open(settings.connector.database), Engine.from_settings(settings)
    if not args.serve:
        return _serve(settings, store, adapters, engine)
    from connector.cli.serve import api_module

    server_module = api_module("server")
    server = server_module.Server(
        api_module("app").create_app(settings), server_module.bind(settings.api.listen, settings.api.port)
    ).start()
    log.info("API on %s/", server.url)
    try:
        return _serve(settings, store, adapters, engine)
    finally:
        server.stop()


def _serve(settings: Settings, store: Store, adapters: dict, engine: Engine) -> int:
    from connector.reports.export import scheduled_exports

    stop = threading.Event()
    install_signal_handlers(stop)
    with instance_lock(settings.connector.database):
        service = Service(settings, store, adapters, engine, stop=stop)
        service.extra_jobs += scheduled_exports(settings, store)
        log.info("serving %s on %s", ", ".join(adapters), settings.connector.database)
        service.run(stop)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    settings = load_config(config_path(args.config))
    store = Store.open(settings.connector.database)
    tickets, outbox = TicketStore(store), Outbox(store)
    running = instance_running(settings.connector.database)
    for section in settings.sources():
        state = store.sync_state(section.name)
        counts, depth = tickets.counts(section.name), outbox.depth(section.name)
        last_error = f"{state['last_error_at']} {state['last_error']}" if state.get("last_error") else "none"
        print(f"{section.name} ({section.kind})")
        print(f"  last success: {state.get('last_success_at') or 'never'}")
        print(f"  last error:   {last_error}")
        if state.get("cycle_phase"):
            done = state.get("cycle_done")
            progress = f", {done} of {state.get('cycle_total')} writes done" if done is not None else ""
            if running:
                print(f"  now:          cycle started {state['cycle_started_at']}, {state['cycle_phase']}{progress}")
            else:  # recorded in progress, but no process holds the lock: it died (a kill, a crash)
                print(
                    f"  interrupted:  the cycle started {state['cycle_started_at']} stopped while "
                    f"{state['cycle_phase']}{progress}; its process is gone (the next cycle goes on from there)"
                )
        print(f"  last cycle:   {state.get('last_cycle') or 'none'}")
        if state.get("delivery_error"):
            print(f"  writes held:  {state['delivery_error']}")
        for channel, circuit in outbox.breakers(section.name).items():
            print(
                f"  circuit open: {channel} since {circuit['opened_at']}, next try after {circuit['until']} "
                f"(last: {circuit['error']})"
            )
        print(f"  cursor:       {state.get('cursor') or 'none (the first sync reads everything)'}")
        print(
            f"  records:      {counts['open']} open, {counts['warned']} warned, {counts['breached']} breached and unanswered"
        )
        print(
            f"  outbox:       {depth.get('queued', 0)} queued, {depth.get('sending', 0)} sending, "
            f"{depth.get('parked', 0)} parked, "
            f"{depth.get('skipped', 0)} skipped, {depth.get('delivered', 0)} delivered"
        )
        if depth.get("parked"):
            print("                see: sla-connector outbox list --state parked")
    return 0


def cmd_outbox_list(args: argparse.Namespace) -> int:
    settings = load_config(config_path(args.config))
    states = args.state or [s for s in STATES if s != "delivered"]
    rows = Outbox(Store.open(settings.connector.database)).list(states, args.source)
    if not rows:
        print("no entries")
    for row in rows:
        detail = f"  ({row['last_error']})" if row["last_error"] else ""
        print(f"{row['id']:>6}  {row['state']:<9} {row['source']:<10} {row['kind']:<15} {row['key']}{detail}")
    return 0


def cmd_outbox_change(args: argparse.Namespace) -> int:
    settings = load_config(config_path(args.config))
    outbox = Outbox(Store.open(settings.connector.database))
    changed = outbox.retry(args.id, utc_now()) if args.verb == "retry" else outbox.drop(args.id, utc_now())
    if not changed:
        allowed = "parked, skipped or dropped" if args.verb == "retry" else "queued, parked or skipped"
        print(f"outbox entry {args.id}: not found, or not {allowed}", file=sys.stderr)
        return 1
    print(f"outbox entry {args.id}: {'queued again' if args.verb == 'retry' else 'dropped'}")
    return 0
