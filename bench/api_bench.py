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
  bounded number of requests from 4 threads with keep-alive), and /metrics' latency alone.

Targets: the API streams the log at >= 80 % of the command line's rate; /metrics answers in under
50 ms (median, one request at a time).
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

from connector.reports.output import write  # noqa: E402
from connector.reports.queries import Filters, Reports  # noqa: E402
from connector.store.database import Store  # noqa: E402

NOW = datetime(2026, 1, 1, tzinfo=UTC)  # the in-process reports' instant; the served ones use the real time
LOAD_THREADS, LOAD_REQUESTS = 4, 400


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
    with tempfile.TemporaryDirectory() as folder:
        seconds, (store, settings) = timed(lambda: build(Path(folder), count))
        print(f"built {count:,} records in {seconds:.1f} s")
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
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        ok = share >= 0.8 and median < 0.05
        print(f"targets: {'met' if ok else 'NOT met'}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
