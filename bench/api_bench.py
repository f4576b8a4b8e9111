"""The HTTP API's speed on the report bench's store, against the command line in the same run.

    .venv/bin/python bench/api_bench.py [RECORDS]

Builds the store of bench/report_bench.py (default 1,000,000 SLA records over 2025), starts
`sla-connector serve` on it (its own process, as in production, on a free port of 127.0.0.1),
then measures:

- the compliance report by date for 2025 over HTTP (JSON), next to the same report computed
  in-process;
- the SLA log of June 2025 as CSV streamed over HTTP, next to the command line's CSV export of
  the same rows (its own code path, written to /dev/null), best of three each, alternated;
- requests per second for /api/v1/reports/due and /metrics under a small concurrent load (a
  bounded number of requests from 4 threads with keep-alive), and /metrics' latency alone;
- a page of 1,000 rows of the year's log as JSON: the first page, and one 90 % deep
  (its keyset cursor), next to the deep page read by skipping rows (how an offset cursor reads);
- the status page rendered in-process with 500 open clocks, with its breach chances and without
  them (the forecast's share of the page).

Targets: the API streams the log at >= 80 % of the command line's rate; /metrics answers in under
50 ms (median, one request at a time); a deep page costs about the first (under 2x); the breach
chances add at most half to the page's time.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_bench import build  # noqa: E402

from connector.api import status_page  # noqa: E402
from connector.api.context import AppState, Context  # noqa: E402
from connector.api.report_routes import _next_cursor  # noqa: E402
from connector.api.tables import json_rows  # noqa: E402
from connector.api.tokens import Tokens  # noqa: E402
from connector.reports.output import write  # noqa: E402
from connector.reports.queries import Filters, Reports  # noqa: E402
from connector.store.database import Store  # noqa: E402

NOW = datetime(2026, 1, 1, tzinfo=UTC)  # the in-process reports' instant; the served ones use the real time
LOAD_THREADS, LOAD_REQUESTS = 4, 400
PAGE, DEEP_SHARE = 1000, 0.9  # the deep page starts 90 % into the year (900,000 rows of a million)
OPEN_CLOCKS = 500


def add_open_clocks(store: Store, count: int) -> None:
    """Running first replies started in the last hours before NOW: the status page's queue."""
    hour = 3600 * 1_000_000
    with store.atomic():
        store.db.conn.executemany(
            "INSERT INTO sla_records (ticket_id, metric, seq, level, calendar, target_us, start_at, due_at, "
            "status, business_us, paused_us, steps_fired, pauses) "
            "VALUES (?, 'first_reply', ?, 'Standard', 'office', ?, ?, ?, 'running', 0, 0, '[]', '[]')",
            [
                (n, 10_000_000 + n, 4 * hour, f"2025-12-31T{10 + n % 6:02d}:00:00+00:00",
                 f"2026-01-0{2 + n % 3}T{9 + n % 7:02d}:00:00+00:00")
                for n in range(count)
            ],
        )  # fmt: skip


def best_of(runs: int, call) -> float:
    return min(timed(call)[0] for _ in range(runs))


def timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def stream_csv(url: str) -> tuple[int, int]:
    """(rows, bytes) of a CSV answer read as it arrives."""
    lines = size = 0
    with requests.get(url, stream=True, timeout=300) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_content(chunk_size=1 << 16):
            size += len(chunk)
            lines += chunk.count(b"\n")
    return lines - 1, size


def load(url: str, total: int = LOAD_REQUESTS, threads: int = LOAD_THREADS) -> float:
    """Requests per second for `total` GETs of `url` from `threads` keep-alive sessions."""

    def worker(count: int) -> None:
        with requests.Session() as session:
            for _ in range(count):
                session.get(url, timeout=60).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, [total // threads] * threads))
    return total / (time.perf_counter() - started)


def wait_until_up(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            requests.get(url + "/openapi.json", timeout=5).raise_for_status()
            return
        except requests.ConnectionError:
            time.sleep(0.2)  # the server is counting the records before it listens
    raise SystemExit("sla-connector serve did not start")


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    deep = int(count * DEEP_SHARE)
    with tempfile.TemporaryDirectory() as folder:
        seconds, (store, settings) = timed(lambda: build(Path(folder), count))
        print(f"built {count:,} records in {seconds:.1f} s")
        add_open_clocks(store, OPEN_CLOCKS)
        store.close()
        store = Store.open(settings.connector.database)
        reports = Reports(store, settings, NOW)
        config = Path(folder) / "config.toml"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        config.write_text(config.read_text() + f"\n[api]\nport = {port}\n")
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "connector", "--config", str(config), "--log-level", "warning", "serve"]
        )
        try:
            wait_until_up(url, server)
            year = "from=2025-01-01&to=2025-12-31"
            api_seconds, answer = timed(lambda: requests.get(f"{url}/api/v1/reports/compliance?{year}", timeout=60))
            days = len(answer.json()["rows"])
            direct, _ = timed(lambda: list(reports.compliance(Filters(date(2025, 1, 1), date(2025, 12, 31))).rows))
            print(
                f"compliance by date for 2025 over HTTP: {days} rows in {api_seconds:.2f} s (in-process: {direct:.2f} s)"
            )

            month = Filters(start=date(2025, 6, 1), end=date(2025, 6, 30))
            log_url = f"{url}/api/v1/reports/log?from=2025-06-01&to=2025-06-30&format=csv"
            api_best = cli_best = float("inf")
            for _ in range(3):  # alternated, best of three: both see the same state of the machine
                seconds, (rows, size) = timed(lambda: stream_csv(log_url))
                api_best = min(api_best, seconds)
                with open(os.devnull, "w") as sink:
                    seconds, cli_rows = timed(lambda: write(reports.log(month), "csv", sink))
                cli_best = min(cli_best, seconds)
            assert rows == cli_rows, (rows, cli_rows)
            api_rate, cli_rate = rows / api_best, cli_rows / cli_best
            share = api_rate / cli_rate
            print(
                f"SLA log for June 2025 as CSV: {rows:,} rows ({size / 1e6:.1f} MB) streamed over HTTP at "
                f"{api_rate:,.0f} rows/s; the command line's export {cli_rate:,.0f} rows/s; the API at {share:.0%} "
                "(target >= 80 %)"
            )

            latencies = []
            with requests.Session() as session:
                for _ in range(30):
                    seconds, answer = timed(lambda: session.get(f"{url}/metrics", timeout=60))
                    answer.raise_for_status()
                    latencies.append(seconds)
            median = statistics.median(latencies)
            print(
                f"/metrics one at a time: median {median * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms "
                "(target < 50 ms)"
            )
            for path in ("/api/v1/reports/due", "/metrics"):
                rate = load(url + path)
                print(f"{path}: {rate:,.0f} requests/s ({LOAD_REQUESTS} requests from {LOAD_THREADS} threads)")

            year_log = f"{url}/api/v1/reports/log?from=2025-01-01&to=2025-12-31&limit={PAGE}"
            key = store.db.execute(
                "SELECT start_at, rowid FROM sla_records WHERE start_at >= '2024-12-31T23:00:00+00:00' "
                f"ORDER BY start_at, rowid LIMIT 1 OFFSET {deep - 1}"
            ).fetchone()
            deep_url = f"{year_log}&cursor={_next_cursor('start', after=list(key))}"
            with requests.Session() as session:
                first_page = best_of(5, lambda: session.get(year_log, timeout=60).raise_for_status())
                deep_page = best_of(5, lambda: session.get(deep_url, timeout=60).raise_for_status())
                deep_rows = session.get(deep_url, timeout=60).json()["rows"]
            year = Filters(start=date(2025, 1, 1), end=date(2025, 12, 31))
            skipped = best_of(1, lambda: json_rows(reports.log(year), deep, PAGE))
            assert deep_rows == json_rows(reports.log(year), deep, PAGE)[0], (
                "the deep page is not the rows after the cursor"
            )
            deep_ratio = deep_page / first_page
            print(
                f"log page of {PAGE:,} rows as JSON: first {first_page * 1000:.0f} ms, {deep:,} rows deep "
                f"{deep_page * 1000:.0f} ms ({deep_ratio:.2f}x the first; target < 2x); the deep page by skipping "
                f"rows (an offset cursor, in-process) {skipped * 1000:.0f} ms"
            )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)

        def page() -> str:
            ctx = Context(AppState(settings, lambda: NOW, Tokens(())))
            try:
                return status_page.render(ctx)
            finally:
                ctx.close()

        with_chances = best_of(3, page)
        real = status_page.breach_risks
        status_page.breach_risks = lambda *args: {}
        try:
            without = best_of(3, page)
        finally:
            status_page.breach_risks = real
        forecast_share = with_chances / without - 1
        print(
            f"status page with {OPEN_CLOCKS} open clocks (in-process): {with_chances * 1000:.0f} ms with breach "
            f"chances, {without * 1000:.0f} ms without: +{forecast_share:.0%} (target <= +50 %)"
        )
        ok = share >= 0.8 and median < 0.05 and deep_ratio < 2 and forecast_share <= 0.5
        print(f"targets: {'met' if ok else 'NOT met'}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
