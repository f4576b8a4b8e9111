"""Zammad sync speed and cost, against the Zammad-compatible test server in this process.

    .venv/bin/python bench/zammad_bench.py [TICKETS] [ARTICLES_PER_TICKET] [CHANGES]

TICKETS (default 20,000) tickets with ARTICLES_PER_TICKET (default 5, so 100,000 articles), a
quarter of them moved to open or pending (their state history is read too). Then: the first sync
(a full pull: pages of 100 tickets, then per ticket one `tickets/{id}?all=true` read of its
articles and tags, its state history where it left "new", and `by_ticket` for the first ticket,
which names the article types and senders), and an incremental pull after CHANGES (default 50)
tickets changed: a new article, a state change, a tag. Prints requests made, tickets per second
and the connector's own CPU time per ticket (the pulling thread's CPU; the server answers on
threads of its own).

Comparisons in the same run: the same first sync with each request sent the usual way
(`requests.Session.request`, which merges session settings, hooks, cookies and redirects per
call, through requests' own transport adapter) instead of the client's prepared request handed
to its transport; and what one idle
cycle would cost by full paging (`search = "paging"`), the fallback for a Zammad whose search
finds nothing. The load average is printed with the figures: the CPU times are per thread but
a loaded machine still inflates them.

Targets: the incremental pull makes at most 3 requests per changed ticket plus a constant (10);
the first sync costs the connector under 2 ms of CPU per ticket.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from adapters.zammad.adapter import ZammadAdapter  # noqa: E402
from connector.config.sources import ZammadSection  # noqa: E402
from tests.support.zammad_server import TOKEN, Clock, ZammadServer  # noqa: E402

TARGET_PER_CHANGE, TARGET_CONSTANT, TARGET_CPU_MS = 3, 10, 2.0
HTTP_CPU = [0.0]  # CPU seconds the pulling thread spent inside requests


def metered(transport):
    """Count the CPU time spent in the HTTP library (requests' adapter: send, receive, parse
    headers, read the body)."""
    send = transport.send

    def timed(*args, **kwargs):
        before = time.thread_time()
        try:
            response = send(*args, **kwargs)
            _ = response.content  # the body is read lazily: reading it is the library's work too
            return response
        finally:
            HTTP_CPU[0] += time.thread_time() - before

    transport.send = timed


def build(server: ZammadServer, tickets: int, per_ticket: int) -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for n in range(tickets):
        at = start + timedelta(seconds=n * 30)
        ident = server.add_ticket(f"Ticket {n}", customer=f"customer{n % 500}@acme.example", at=at)
        for k in range(1, per_ticket):
            server.add_article(ident, "Agent" if k % 2 else "Customer", "email", at=at + timedelta(minutes=k))
        if n % 4 == 0:
            server.set_state(ident, "open" if n % 8 else "pending reminder", at=at + timedelta(minutes=per_ticket))


def usual_requests(adapter: ZammadAdapter) -> None:
    """The comparison: every request through `Session.request` and requests' own transport
    adapter, as plain requests code does."""
    client = adapter.client
    for prefix in list(client.session.adapters):
        client.session.mount(prefix, requests.adapters.HTTPAdapter())

    def send(method, path, params, body):
        url = client.api + path
        return client.session.request(method, url, params=params or None, json=body, timeout=client.timeout)

    client._send = send


def pull(adapter: ZammadAdapter, since: str | None) -> tuple[int, float, float, str | None, int]:
    before, cpu, wall = adapter.client.requests_made, time.thread_time(), time.perf_counter()
    last, count = since, 0
    for snapshot in adapter.pull(since, timedelta(minutes=2)):
        count, last = count + 1, snapshot.cursor
    return count, time.thread_time() - cpu, time.perf_counter() - wall, last, adapter.client.requests_made - before


def main() -> int:
    tickets = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    per_ticket = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    changes = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    clock = Clock(datetime(2026, 11, 2, 8, tzinfo=UTC))
    server = ZammadServer(clock=clock).start()
    try:
        build(server, tickets, per_ticket)
        print(f"server: {len(server.tickets)} tickets, {len(server.articles)} articles; load {os.getloadavg()[0]:.1f}")
        section = ZammadSection(url=server.url, token=TOKEN, requests_per_second=100_000, search="field")
        adapter = ZammadAdapter(section, None, clock=lambda: clock() + timedelta(minutes=5))
        metered(adapter.client.transport)
        count, cpu, wall, cursor, requests = pull(adapter, None)
        cpu_ms = cpu * 1000 / count
        print(
            f"first sync: {count} tickets, {requests} requests, {count / wall:.0f} tickets/s, "
            f"connector CPU {cpu_ms:.2f} ms/ticket (target < {TARGET_CPU_MS}), wall {wall:.1f}s"
        )
        http_ms = HTTP_CPU[0] * 1000 / count
        print(
            f"  of which inside the HTTP library (requests): {http_ms:.2f} ms/ticket "
            f"({HTTP_CPU[0] * 1000 / requests:.2f} ms a request); the connector's own code: {cpu_ms - http_ms:.2f} ms/ticket"
        )
        usual = ZammadAdapter(section, None, clock=lambda: clock() + timedelta(minutes=5))
        usual_requests(usual)
        usual_count, usual_cpu, _, _, _ = pull(usual, None)
        usual_ms = usual_cpu * 1000 / usual_count
        print(
            f"  comparison, the same first sync through Session.request: {usual_ms:.2f} ms/ticket "
            f"(the client's path takes {cpu_ms / usual_ms:.0%} of it); load {os.getloadavg()[0]:.1f}"
        )
        clock.advance(hours=1)
        for n, ident in enumerate(range(1, tickets + 1, max(1, tickets // changes))):
            if n >= changes:
                break
            kind = n % 3
            if kind == 0:
                server.add_article(ident, "Customer", "email", at=clock())
            elif kind == 1:
                server.set_state(ident, "pending reminder" if n % 2 else "closed", at=clock())
            else:
                server.tags[ident].append("vip")
                server._touch(ident, clock(), 3)
        clock.advance(minutes=5)
        changed, _, _, cursor, requests = pull(adapter, cursor)
        limit = TARGET_PER_CHANGE * changes + TARGET_CONSTANT
        print(
            f"incremental after {changes} changes: {changed} tickets, {requests} requests "
            f"({requests / changes:.2f} per change; target <= {limit})"
        )
        clock.advance(minutes=5)
        _, _, _, _, idle = pull(adapter, cursor)
        paging = ZammadAdapter(
            section.model_copy(update={"search": "paging"}), None, clock=lambda: clock() + timedelta(minutes=5)
        )
        paging.cache = adapter.cache
        paging.lookups = adapter.lookups
        _, _, _, _, paged = pull(paging, cursor)
        print(f"idle cycle: {idle} requests by search; {paged} by full paging (comparison)")
        ok = cpu_ms < TARGET_CPU_MS and requests <= limit
        print("targets met" if ok else "TARGET MISSED")
        return 0 if ok else 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
