"""osTicket adapter speed on a throwaway MariaDB (the tests' server, installed by scripts/test.sh).

    .venv/bin/python bench/osticket_bench.py [TICKETS] [ENTRIES_PER_TICKET]

osTicket's tables are filled with TICKETS tickets (default 100,000) of ENTRIES_PER_TICKET thread
entries each (default 10: 1,000,000 entries), with their threads, form answers, `__cdata` rows and
events. Then:
- the first sync pulls every ticket (tickets per second, the CPU time spent here and statements
  sent), beside two floors measured in the same run: the adapter's own statement streamed with a
  bare cursor, nothing mapped (the server's and the driver's share), and the unpacked rows (tickets,
  then one row per thread entry) streamed the same way;
- 100 changes are made the way osTicket makes them (replies that change no ticket column, status
  changes, new tickets) and an incremental sync pulls them; the same is done on a database a tenth
  the size, and the statement counts of the two are compared.

Targets: first sync at least 5,000 tickets per second; the incremental sync under 1 s, with the
same number of statements at both sizes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.osticket.adapter import OsticketAdapter  # noqa: E402
from adapters.osticket.connection import Database  # noqa: E402
from adapters.osticket.read import Reader  # noqa: E402
from connector.config.sources import OsticketSection  # noqa: E402
from tests.support.mariadb import MariaDB  # noqa: E402
from tests.support.osticket_db import Helpdesk, build  # noqa: E402

TARGET_RATE = 5_000
TARGET_INCREMENTAL = 1.0
START = datetime(2026, 6, 1, 8, tzinfo=UTC)
CHUNK = 20_000


def fill(server: MariaDB, database: str, tickets: int, per_ticket: int) -> Helpdesk:
    server.create_database(database)
    conn = server.root(database)
    build(conn)
    desk = Helpdesk(conn, "ost_", server.zone).install(START)
    users = [desk.user(f"Customer {n}", f"c{n}@bench.example", org_id=1 if n % 3 == 0 else 0) for n in range(200)]
    form, subject, priority = desk.ids.form, desk.ids.subject_field, desk.ids.priority_field
    created_event = desk.events["created"]
    body = "<p>" + "Some text of a realistic length for a support question. " * 4 + "</p>"
    entry_id = 0
    for first in range(1, tickets + 1, CHUNK):
        ids = range(first, min(first + CHUNK, tickets + 1))
        rows_t, rows_th, rows_fe, rows_v, rows_cd, rows_e, rows_ev = [], [], [], [], [], [], []
        for t in ids:
            made = START + timedelta(minutes=t)
            when = desk.local(made)
            rows_t.append((t, f"{t:06d}", users[t % len(users)], 1 if t % 5 else 3, 1 + t % 3, 1, t % 2,
                           t % 3, "Email" if t % 2 else "Web", when, when, when))  # fmt: skip
            rows_th.append((t, t, when, when))
            rows_fe.append((t, form, t, when, when))
            level = 1 + t % 4
            rows_v += [(t, subject, f"Question number {t}", None), (t, priority, "Normal", level)]
            rows_cd.append((t, f"Question number {t}", str(level)))
            for k in range(per_ticket):
                entry_id += 1
                kind = "M" if k % 2 == 0 else "R"
                at = desk.local(made + timedelta(minutes=10 * k))
                rows_e.append((entry_id, t, 0 if kind == "M" else 1, users[t % len(users)] if kind == "M" else 0,
                               kind, 65 if kind == "M" else 576, body, at, at))  # fmt: skip
            rows_ev.append((t, created_event, when))
        desk.many("INSERT INTO ost_ticket (ticket_id, number, user_id, status_id, dept_id, sla_id, staff_id,"
                  " team_id, source, lastupdate, created, updated) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                  " %s, %s)", rows_t)  # fmt: skip
        desk.many("INSERT INTO ost_thread (id, object_id, object_type, lastmessage, created)"
                  " VALUES (%s, %s, 'T', %s, %s)", rows_th)  # fmt: skip
        desk.many("INSERT INTO ost_form_entry (id, form_id, object_id, object_type, created, updated)"
                  " VALUES (%s, %s, %s, 'T', %s, %s)", rows_fe)  # fmt: skip
        desk.many("INSERT INTO ost_form_entry_values (entry_id, field_id, value, value_id) VALUES (%s, %s, %s, %s)",
                  rows_v)  # fmt: skip
        desk.many("INSERT INTO ost_ticket__cdata (ticket_id, subject, priority) VALUES (%s, %s, %s)", rows_cd)
        desk.many("INSERT INTO ost_thread_entry (id, thread_id, staff_id, user_id, type, flags, body, created,"
                  " updated) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows_e)  # fmt: skip
        desk.many("INSERT INTO ost_thread_event (thread_id, thread_type, event_id, staff_id, team_id, dept_id,"
                  " topic_id, username, uid_type, timestamp) VALUES (%s, 'T', %s, 0, 0, 1, 0, 'SYSTEM', 'U', %s)",
                  rows_ev)  # fmt: skip
    return desk


def change(desk: Helpdesk, tickets: int, base: datetime) -> None:
    """100 changes: 50 replies that move no ticket column, 25 status changes, 25 new tickets."""
    desk.run("UPDATE ost_ticket SET isanswered = 1 WHERE ticket_id <= 50")
    for n in range(50):
        desk.reply(1 + n * (tickets // 50), "<p>one more answer</p>", base + timedelta(seconds=n))
    for n in range(25):
        desk.set_status(2 + n * (tickets // 25), 2, base + timedelta(seconds=n))
    user = desk.user("Newcomer", f"new{tickets}@bench.example")
    for n in range(25):
        desk.ticket(user, f"New {n}", "<p>new</p>", base + timedelta(seconds=n))


def run(server: MariaDB, tickets: int, per_ticket: int, state: Path) -> dict:
    database = f"bench{tickets}"
    started = time.monotonic()
    desk = fill(server, database, tickets, per_ticket)
    print(f"  filled {tickets:,} tickets, {tickets * per_ticket:,} entries in {time.monotonic() - started:.0f} s")
    section = OsticketSection(socket=server.socket, database=database, user="root")
    adapter = OsticketAdapter(section, state / database)

    load = os.getloadavg()[0]
    started, cpu = time.monotonic(), time.process_time()
    count = messages = 0
    cursor = None
    for snapshot in adapter.pull(None):
        count += 1
        messages += len(snapshot.messages)
        cursor = snapshot.cursor
    first, first_cpu = time.monotonic() - started, time.process_time() - cpu
    first_queries = adapter.queries
    assert count == tickets and messages == tickets * per_ticket, (count, messages)

    # the adapter's own statement over every ticket, streamed with a bare cursor, nothing mapped: what
    # the server and the driver cost, which no mapping can go below
    started, cpu = time.monotonic(), time.process_time()
    with Database(section) as db:
        look = adapter._lookups(db)
        reader = Reader(db, look, section, adapter.times, None)
        for _ in db.stream(reader._ticket_sql("t.ticket_id > 0"), (section.poster,)):
            pass
    packed, packed_cpu = time.monotonic() - started, time.process_time() - cpu

    floor_started = time.monotonic()
    with server.root(database) as conn:
        import pymysql

        with conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute("SELECT t.ticket_id, t.number, t.status_id, t.created, t.updated, cd.subject, cd.priority"
                        " FROM ost_ticket t LEFT JOIN ost_ticket__cdata cd ON cd.ticket_id = t.ticket_id")  # fmt: skip
            for _ in cur:
                pass
            cur.execute("SELECT thread_id, id, type, staff_id, created FROM ost_thread_entry")
            for _ in cur:
                pass
    floor = time.monotonic() - floor_started

    change(desk, tickets, datetime.now(UTC))
    started = time.monotonic()
    changed = list(adapter.pull(cursor, timedelta(seconds=5)))
    incremental = time.monotonic() - started
    desk.conn.close()
    with server.root() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {database}")
    return dict(tickets=tickets, first=first, first_cpu=first_cpu, first_queries=first_queries, floor=floor,
                packed=packed, packed_cpu=packed_cpu, changed=len(changed), incremental=incremental,
                incremental_queries=adapter.queries, load=load)  # fmt: skip


def main() -> int:
    tickets = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    per_ticket = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    server = MariaDB(buffer_pool="1G").start()
    try:
        with tempfile.TemporaryDirectory() as state:
            results = [run(server, size, per_ticket, Path(state)) for size in (tickets // 10, tickets)]
    finally:
        server.stop()
    ok = True
    for r in results:
        rate = r["tickets"] / r["first"]
        print(f"{r['tickets']:>8,} tickets (load {r['load']:.1f}): first sync {r['first']:.1f} s = {rate:,.0f} tickets/s"
              f" ({r['first_cpu']:.1f} s CPU here), {r['first_queries']} statements; the same statement streamed"
              f" bare, nothing mapped: {r['packed']:.1f} s = {r['tickets'] / r['packed']:,.0f} tickets/s"
              f" ({r['packed_cpu']:.1f} s CPU); the unpacked rows streamed bare: {r['floor']:.1f} s ="
              f" {r['tickets'] / r['floor']:,.0f} tickets/s; incremental after 100 changes: {r['changed']} tickets"
              f" in {r['incremental'] * 1000:.0f} ms, {r['incremental_queries']} statements")  # fmt: skip
    big = results[-1]
    rate = big["tickets"] / big["first"]
    checks = [
        (f"first sync >= {TARGET_RATE:,} tickets/s", rate >= TARGET_RATE),
        (f"incremental < {TARGET_INCREMENTAL:.0f} s", big["incremental"] < TARGET_INCREMENTAL),
        ("incremental statements independent of size", results[0]["incremental_queries"] == big["incremental_queries"]),
    ]  # fmt: skip
    for name, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
        ok &= passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
