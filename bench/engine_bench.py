"""SLA engine speed: recompute every ticket's records, as a config change at start-up does.

    .venv/bin/python bench/engine_bench.py [TICKETS]

TICKETS synthetic tickets (default 100,000) with 10 messages each: mostly e-mail, some web, chat
and phone; a customer/agent conversation with internal notes and auto-replies; pending periods
and solved tickets; 5 % tagged urgent. Levels on a Mon-Fri 09:00-17:00 Europe/Berlin calendar with
German holidays and on a 24/7 calendar, a three-step escalation ladder. Only `recompute` is timed.

Target: at least 10,000 tickets per second on one core (100,000 open tickets in 10 s).

For comparison, the same command then runs what the service does at start-up after a config
change, on the first 5,000 of those tickets made open: `recompute_open` reads each ticket from the
store, recomputes it under the changed config and writes its changed records, events and actions.
That is the time a user waits for; the engine is one part of it.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.config.settings import load_config
from connector.core.clocks import recompute
from connector.core.model import Channel, Message, Priority, Role, Status, StatusChange, Ticket
from connector.core.policy import Policy
from connector.service.cycle import Engine, recompute_open
from connector.store.database import Store
from connector.store.tickets import TicketStore

TARGET_RATE = 10_000

CONFIG = """
[connector]
default_level = "Standard"
pause_statuses = ["pending"]

[[calendars]]
name = "office"
timezone = "Europe/Berlin"
country = "DE"
hours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }

[[calendars]]
name = "always"
timezone = "UTC"
hours = { mon = ["00:00-24:00"], tue = ["00:00-24:00"], wed = ["00:00-24:00"], thu = ["00:00-24:00"], fri = ["00:00-24:00"], sat = ["00:00-24:00"], sun = ["00:00-24:00"] }

[[levels]]
name = "Standard"
calendar = "office"
first_reply = "4h"
next_reply = "8h"
resolution = "40h"
chat_reply = "5m"
[levels.by_priority.high]
first_reply = "1h"

[[levels]]
name = "Urgent SLA"
calendar = "always"
first_reply = "1h"
next_reply = "30m"

[[rules]]
name = "Urgent tag"
when = { field = "tags", op = "contains", value = "URGENT" }
set_level = "Urgent SLA"
stop = true

[[rules]]
name = "web form from a partner site"
when = { all = [ { field = "channel", op = "equals", value = "web" }, { field = "referrer_url", op = "matches", value = "partner\\\\." } ] }
set_level = "Standard"

[escalation]
[[escalation.steps]]
at = "-20%"
add_tags = ["sla-warning"]
[[escalation.steps]]
at = "0"
add_tags = ["sla-breached"]
[[escalation.steps]]
at = "+2h"
notify = ["lead"]
"""


def policy() -> Policy:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(CONFIG)
        return Policy.from_settings(load_config(path))


def synthetic(count: int, seed: int = 7):
    rng = random.Random(seed)
    first = datetime(2025, 1, 1, tzinfo=UTC)
    channels = [Channel.EMAIL] * 14 + [Channel.WEB] * 3 + [Channel.CHAT] * 2 + [Channel.PHONE]
    cases = []
    for n in range(count):
        created = first + timedelta(seconds=rng.randrange(365 * 86400))
        at, messages, history = created, [], [StatusChange(created, Status.NEW)]
        for i in range(10):
            at += timedelta(minutes=rng.randint(5, 36 * 60))
            kind = rng.random()
            if kind < 0.08:
                messages.append(Message(f"{n}-{i}", at, Role.AGENT, public=False))  # internal note
            elif kind < 0.12:
                messages.append(Message(f"{n}-{i}", at, Role.CUSTOMER, auto_generated=True))  # auto-reply
            else:
                messages.append(Message(f"{n}-{i}", at, Role.CUSTOMER if i % 2 == 0 else Role.AGENT))
            if rng.random() < 0.1:
                history.append(StatusChange(at, Status.PENDING))
            elif history[-1].status is Status.PENDING:
                history.append(StatusChange(at, Status.OPEN))
        solved = rng.random() < 0.6
        if solved:
            history.append(StatusChange(at + timedelta(hours=1), Status.SOLVED))
        ticket = Ticket(
            source="bench",
            external_id=str(n),
            created_at=created,
            updated_at=at,
            status=history[-1].status,
            channel=rng.choice(channels),
            status_history=tuple(history),
            priority=Priority(rng.choice([2, 2, 2, 3, 4])),
            tags=frozenset({"URGENT"} if rng.random() < 0.05 else ()),
            referrer_url="https://partner.example/form" if rng.random() < 0.3 else None,
        )
        cases.append((ticket, messages))
    return cases, first + timedelta(days=400)


def through_the_store(cases, now, count: int = 5_000) -> float:
    """Open tickets per second recomputed by `recompute_open` after the first reply target changed."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        config = CONFIG.replace("[connector]", f'[connector]\ndatabase = "{Path(folder) / "sla.db"}"', 1)
        path.write_text(config)
        before = Engine.from_settings(load_config(path))
        path.write_text(config.replace('first_reply = "4h"', 'first_reply = "3h"'))
        settings = load_config(path)
        store, after = Store.open(settings.connector.database), Engine.from_settings(settings)
        tickets = TicketStore(store)
        with store.atomic():
            store.register_source("bench", "email")
            for ticket, messages in cases[:count]:
                ticket = replace(
                    ticket,
                    status=Status.OPEN,
                    status_history=tuple(c for c in ticket.status_history if not c.status.is_done),
                )
                ticket_id = tickets.upsert(ticket, messages)
                tickets.save_records(ticket_id, [], recompute(ticket, messages, before.policy, (), now), now)
        started = time.perf_counter()
        summary = recompute_open(store, after, "bench", now)
        return summary.rechecked / (time.perf_counter() - started)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rules = policy()
    cases, now = synthetic(count)
    started = time.perf_counter()
    records = 0
    for ticket, messages in cases:
        records += len(recompute(ticket, messages, rules, (), now))
    seconds = time.perf_counter() - started
    rate = count / seconds
    print(f"recomputed {count:,} tickets ({records:,} SLA records) in {seconds:.2f} s = {rate:,.0f} tickets/s")
    print(f"target (>= {TARGET_RATE:,} tickets/s): {'met' if rate >= TARGET_RATE else 'NOT met'}")
    stored = through_the_store(cases, now)
    print(
        f"start-up recompute through the store after a config change: {stored:,.0f} open tickets/s "
        f"({stored / rate:.0%} of the engine's rate)"
    )
    return 0 if rate >= TARGET_RATE else 1


if __name__ == "__main__":
    sys.exit(main())
