"""Simulation speed: a year of stored tickets replayed under a proposed policy.

    .venv/bin/python bench/simulate_bench.py [TICKETS]

Builds a store with TICKETS tickets (default 100,000, as many as the report bench's store) over
2025: the engine bench's synthetic conversations (10 messages each, pending and solved periods,
urgent tags), each with a tenth of them at a customer with a contract, stored with the records the
live config gives them. Then times `simulate` for 2025 under a proposal with a tighter first
reply and an extra escalation step: reading every ticket, recomputing it, counting compliance,
credits and the writes of both ladders.

Target: under 30 s, fast enough to try ideas interactively. For comparison the same run times
the engine alone recomputing the same tickets in memory in one process (no store, nothing
counted): the simulation is shown as a multiple of that floor, in time and in CPU time (all its
processes: the replay is shared between one process per core). On a loaded machine the CPU
ratio is the steadier figure.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from engine_bench import CONFIG, synthetic  # noqa: E402

from connector.analytics.simulate import proposed_settings, simulate  # noqa: E402
from connector.config.settings import load_config  # noqa: E402
from connector.core.clocks import recompute  # noqa: E402
from connector.core.model import Person  # noqa: E402
from connector.core.policy import Policy  # noqa: E402
from connector.store.codec import iso, message_to_row, record_to_row, ticket_to_json  # noqa: E402
from connector.store.database import Store  # noqa: E402

TARGET_SECONDS = 30.0
CONTRACT = """
[[contracts]]
customer = "ACME Corp"
organizations = ["ACME"]
monthly_fee = "2500.00"
currency = "EUR"
tiers = [ { below = 99, credit_percent = 5 }, { below = 95, credit_percent = 10 } ]
"""
EXTRA_STEP = """
[[escalation.steps]]
at = "-50%"
add_note = "half of the time to {metric} has gone"
"""


def build(folder: Path, count: int):
    live_path = folder / "config.toml"
    database = f'database = "{folder / "sla.db"}"\nreport_timezone = "Europe/Berlin"'
    config = CONFIG.replace("[connector]", f"[connector]\n{database}", 1) + CONTRACT
    live_path.write_text(config)
    proposal = folder / "proposed.toml"
    proposal.write_text(config.replace('first_reply = "4h"', 'first_reply = "3h"') + EXTRA_STEP)
    settings = load_config(live_path)
    policy = Policy.from_settings(settings)
    cases, now = synthetic(count)
    cases = [
        (replace(t, organization="ACME" if i % 10 == 0 else None, requester=Person("R", f"r{i}@c.example")), m)
        for i, (t, m) in enumerate(cases)
    ]
    store = Store.open(settings.connector.database)
    columns = None
    with store.atomic():
        conn = store.db.conn
        for start in range(0, count, 5_000):
            chunk = cases[start : start + 5_000]
            tickets, messages, records = [], [], []
            for offset, (ticket, conversation) in enumerate(chunk):
                ident = start + offset + 1
                tickets.append(
                    (
                        ident,
                        ticket.source,
                        ticket.external_id,
                        ticket.channel.value,
                        ticket.status.value,
                        ticket.priority.rank,
                        ticket.organization,
                        ticket.requester.email,
                        iso(ticket.created_at),
                        iso(ticket.updated_at),
                        ticket_to_json(ticket),
                    )
                )
                messages += [tuple(message_to_row(ident, m).values()) for m in conversation]
                records += [
                    tuple(record_to_row(ident, r).values()) for r in recompute(ticket, conversation, policy, (), now)
                ]
            conn.executemany(
                "INSERT INTO tickets (id, source, external_id, channel, status, priority_rank, organization, "
                "requester_email, created_at, updated_at, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                tickets,
            )
            conn.executemany(f"INSERT INTO messages VALUES ({', '.join('?' * len(messages[0]))})", messages)
            columns = columns or list(record_to_row(0, recompute(*cases[0], policy, (), now)[0]))
            conn.executemany(
                f"INSERT INTO sla_records ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", records
            )
    return store, settings, proposed_settings(settings, proposal), cases, now


def _cpu() -> float:
    """CPU time of this process and of its ended children (the simulation's worker processes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        store, live, proposed, cases, now = build(Path(folder), count)
        print(f"built {count:,} tickets in {time.perf_counter() - started:.1f} s")
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        started, cpu = time.perf_counter(), _cpu()
        result = simulate(store, live, proposed, now, date(2025, 1, 1), date(2025, 12, 31), "level")
        rows = list(result.compliance().rows) + list(result.credits().rows) + list(result.escalation_writes().rows)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
        print(
            f"simulated 2025: {result.tickets:,} tickets replayed in {seconds:.1f} s (target < {TARGET_SECONDS:.0f} s), "
            f"{cpu:.1f} s of CPU in all its processes"
        )
        for row in list(result.compliance().rows):
            print("  ", row[0], "compliance now", row[3], "proposed", row[6])
        policy = Policy.from_settings(proposed)
        started, cpu_floor = time.perf_counter(), time.process_time()
        for ticket, messages in cases:
            recompute(ticket, messages, policy, (), now)
        floor, cpu_floor = time.perf_counter() - started, time.process_time() - cpu_floor
        print(
            f"the engine alone on the same tickets, in memory, one process: {floor:.1f} s ({cpu_floor:.1f} s of CPU); "
            f"the simulation takes {seconds / floor:.2f}x that time and {cpu / cpu_floor:.2f}x that CPU"
        )
        print(
            f"load average while it ran: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (a shared machine is slower)"
        )
        ok = seconds < TARGET_SECONDS and bool(rows)
        print(f"target: {'met' if ok else 'NOT met'}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
