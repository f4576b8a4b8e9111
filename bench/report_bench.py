"""Report speed on a large store.

    .venv/bin/python bench/report_bench.py [RECORDS]

Builds a store with RECORDS SLA records (default 1,000,000 on 100,000 tickets, stored in the order
they start, over 2025), then
times the compliance report grouped by date for the year, and the SLA log of one month written
as CSV. Memory: the peak Python allocation (tracemalloc) of writing the log for one month and for
the whole year, which should be about the same: rows are streamed, never collected.

Targets: compliance under 2 s; log export above 200,000 rows per second; memory flat in rows.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from connector.config import load_config
from connector.report_output import write
from connector.reports import Filters, Reports
from connector.store import Store

CONFIG = """
[connector]
report_timezone = "Europe/Berlin"
[[calendars]]
name = "office"
timezone = "Europe/Berlin"
hours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }
[[levels]]
name = "Standard"
calendar = "office"
first_reply = "4h"
"""
METRICS = ["first_reply", "next_reply", "next_reply", "next_reply", "resolution"]
US = 1_000_000


def build(folder: Path, count: int) -> tuple[Store, object]:
    config = folder / "config.toml"
    config.write_text(CONFIG.replace("[connector]", f'[connector]\ndatabase = "{folder / "sla.db"}"'))
    settings = load_config(config)
    store = Store.open(settings.connector.database)
    rng = random.Random(3)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    tickets = max(1, count // 10)
    with store.atomic():
        store.db.conn.executemany(
            "INSERT INTO tickets (id, source, external_id, number, organization, department, assignee, requester_email, "
            "snapshot) VALUES (?, 'bench', ?, ?, ?, ?, ?, ?, '{}')",
            ((i, str(i), str(i), f"Org{i % 50}", f"Dept{i % 7}", f"agent{i % 40}", f"user{i}@c{i % 90}.example")
             for i in range(tickets)))

        # records arrive as tickets do, in time order (as they are stored in real life)
        offsets = sorted(rng.randrange(365 * 86400) for _ in range(count))

        def records():
            for n, offset in enumerate(offsets):
                begin = start + timedelta(seconds=offset)
                target = rng.choice([3600, 4 * 3600, 8 * 3600]) * US
                business = rng.randrange(0, 2 * target)
                due = begin + timedelta(microseconds=target * 2)
                stopped = begin + timedelta(microseconds=business * 2)
                status = "met" if business <= target else "breached"
                yield (rng.randrange(tickets), METRICS[n % 5], n, "Standard", "office", target,
                       begin.isoformat(), due.isoformat(), stopped.isoformat(), status, business)

        store.db.conn.executemany(
            "INSERT INTO sla_records (ticket_id, metric, seq, level, calendar, target_us, start_at, due_at, stopped_at, "
            "status, business_us, paused_us, steps_fired, pauses) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '[]', '[]')",
            records())
    store.db.execute("ANALYZE")
    return store, settings


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        store, settings = build(Path(folder), count)
        print(f"built {count:,} records in {time.perf_counter() - started:.1f} s")
        reports = Reports(store, settings, datetime(2026, 1, 1, tzinfo=timezone.utc))
        year = Filters(start=date(2025, 1, 1), end=date(2025, 12, 31))
        started = time.perf_counter()
        days = list(reports.compliance(year, "date").rows)
        compliance_seconds = time.perf_counter() - started
        print(f"compliance by date for 2025: {len(days)} rows in {compliance_seconds:.2f} s (target < 2 s)")

        month = Filters(start=date(2025, 6, 1), end=date(2025, 6, 30))
        with open(os.devnull, "w") as sink:
            started = time.perf_counter()
            rows = write(reports.log(month), "csv", sink)
            log_seconds = time.perf_counter() - started
        rate = rows / log_seconds
        print(f"SLA log for June 2025 to CSV: {rows:,} rows in {log_seconds:.2f} s = {rate:,.0f} rows/s (target > 200,000)")

        peaks = []
        for name, filters in (("one month", month), ("the year", year)):
            with open(os.devnull, "w") as sink:
                tracemalloc.start()
                rows = write(reports.log(filters), "csv", sink)
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
            print(f"peak Python memory writing the log for {name}: {peaks[-1] / 1e6:.2f} MB for {rows:,} rows")
        flat = peaks[1] < peaks[0] * 2
        ok = compliance_seconds < 2 and rate > 200_000 and flat
        print(f"targets: {'met' if ok else 'NOT met'}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
