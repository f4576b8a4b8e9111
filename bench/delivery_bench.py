"""Delivery speed on a real, local Dovecot (installed by scripts/test.sh) and an SMTP sink.

    .venv/bin/python bench/delivery_bench.py [TICKETS]

TICKETS conversations (default 320) are appended over IMAP and pulled; then ten writes per ticket
are queued, as a first cycle after a busy day plans them (keywords added and removed, \\Flagged,
four notices): 3,200 writes by default. They are delivered once as the service delivers them
(one cycle, one IMAP and one SMTP connection), and, for comparison in the same run, a sample
of 300 of them the way each write on its own connection goes.

Then the same cycle with `save_notices` (each notice's copy saved into Sent): the copies go a
hundred to one MULTIAPPEND on a connection of their own, which Dovecot stores (an fsync per
message) while the notices go on.

Target: the first cycle's writes in under 10 s, with `save_notices` on. The load average is
printed with the figures: the machine may be shared.
"""

from __future__ import annotations

import imaplib
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.email.adapter import EmailAdapter  # noqa: E402
from connector.config.sources import EmailSection  # noqa: E402
from connector.core.escalation import Action  # noqa: E402
from connector.store.database import Store  # noqa: E402
from connector.store.outbox import Outbox, deliver  # noqa: E402
from tests.support.dovecot import PASSWORD, Dovecot, free_port  # noqa: E402
from tests.support.mail_factory import build_mail  # noqa: E402


class SinkProcess:
    """aiosmtpd's own Sink in a process of its own: in this process, it would share the GIL with
    the sender and every SMTP round trip would wait for a thread switch."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}", "-c", "aiosmtpd.handlers.Sink"]
        )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)  # waiting for the server to listen

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


TARGET_SECONDS = 10.0
SAMPLE = 300
LADDER = [
    ("add_tags", {"tags": ["sla-warning"]}),
    ("notify", None),
    ("add_tags", {"tags": ["sla-breached"]}),
    ("remove_tags", {"tags": ["sla-warning"]}),
    ("raise_priority", {"priority": "high", "rank": 3}),
    ("notify", None),
    ("add_tags", {"tags": ["sla-escalated"]}),
    ("notify", None),
    ("notify", None),
    ("add_tags", {"tags": ["sla-step3"]}),
]


def actions(externals: list[str], run: str) -> list[tuple[int, Action]]:
    planned = []
    for ticket_id, external in enumerate(externals, 1):
        for step, (kind, payload) in enumerate(LADDER):
            if payload is None:
                payload = {"recipients": ["lead@help.example"], "subject": f"SLA step {step}", "body": "Overdue."}
            key = f"{run}:{external}:{step}:{kind}"
            planned.append((ticket_id, Action(key, f"{run}:{external}:{step}", f"email:{external}", kind, payload)))
    return planned


def mailbox(server: Dovecot, tickets: int, when: datetime) -> str:
    user = server.add_user()
    client = server.connect(user)
    for n in range(tickets):
        for m in range(3):
            raw = build_mail(f"c{n}@acme.example", f"Question {n}", when, f"q{n}.{m}", [f"q{n}.{i}" for i in range(m)])
            client.append("INBOX", None, imaplib.Time2Internaldate(when), raw)
    client.create("Sent")
    client.logout()
    return user


def cycle(server: Dovecot, sink: SinkProcess, tickets: int, save_notices: bool, sample: bool = False) -> tuple:
    when = datetime(2026, 11, 2, 9, tzinfo=UTC)
    user = mailbox(server, tickets, when)
    section = EmailSection(
        imap={"host": "127.0.0.1", "port": server.port, "security": "plain", "user": user, "password": PASSWORD},
        smtp={"host": "127.0.0.1", "port": sink.port, "security": "plain", "sender": "sla-bot@help.example"},
        folders=["INBOX"],
        agent_domains=["help.example"],
        save_notices=save_notices,
    )
    with tempfile.TemporaryDirectory() as folder:
        adapter = EmailAdapter(section, Path(folder))
        externals = [snapshot.ticket.external_id for snapshot in adapter.pull(None)]
        store = Store.open(Path(folder) / "sla.db")
        outbox = Outbox(store)
        for ticket_id, action in actions(externals, "cycle"):
            outbox.add("email", ticket_id, [action], when)
        started, cpu = time.perf_counter(), time.process_time()
        report = deliver(outbox, adapter, when)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        single = None
        if sample:  # the comparison: each write on its own connection (what a cycle did before)
            writes = actions(externals, "single")[:SAMPLE]
            started = time.perf_counter()
            for _, action in writes:
                adapter.apply(action)
            single = (time.perf_counter() - started) / len(writes)
        notices = sum(1 for _, a in actions(externals, "x") if a.kind == "notify")
    return report, seconds, single, notices, cpu


def main() -> None:
    tickets = int(sys.argv[1]) if len(sys.argv) > 1 else 320
    server, sink = Dovecot().start(), SinkProcess()
    try:
        report, seconds, single, notices, cpu = cycle(server, sink, tickets, save_notices=False, sample=True)
        writes = report.delivered
        print(
            f"{writes:,} writes ({notices:,} notices, {report.failed} failed) in one cycle: {seconds:.2f} s ({writes / seconds:,.0f}/s), {cpu:.2f} s of CPU in this process"
        )
        print(f"one connection per write: {single * 1000:.1f} ms a write, {writes * single:.1f} s for the same writes")
        plain = seconds
        report, seconds, _, _, cpu = cycle(server, sink, tickets, save_notices=True)
        print(
            f"with save_notices (each notice also saved into Sent): {seconds:.2f} s, {cpu:.2f} s of CPU "
            f"({seconds / plain:.2f} times the cycle without), {report.delivered:,} delivered"
        )
        print(
            f"target: under {TARGET_SECONDS:.0f} s with save_notices -> {'met' if seconds < TARGET_SECONDS else 'MISSED'}"
        )
        print("load average: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    finally:
        sink.stop()
        server.stop()


if __name__ == "__main__":
    main()
