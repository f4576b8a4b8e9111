"""Notices repeated after kills: a real process delivering notices over a local Dovecot and an
SMTP sink is killed (SIGKILL) at random moments, restarted, killed again, 50 times; then it
delivers the rest. The sink counts the copies of each notice by its Message-ID.

    .venv/bin/python bench/notice_kill_bench.py [KILLS] [NOTICES]

Two runs: a mail server that files what it sends into the mailbox's Sent folder (as hosted mail
does), where a notice whose outcome a kill left unknown is found and not sent again (target: 0
repeats, none lost); and, for comparison, a server that keeps no copy, where nothing can tell,
and a kill after the server took the notice and before its answer was recorded repeats it (bound:
at most one repeat a kill, none lost). Every kill lands while notices go out.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.email.smtp import notice_message_id  # noqa: E402
from connector.core.escalation import Action  # noqa: E402
from connector.store.database import Store  # noqa: E402
from connector.store.outbox import Outbox  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.smtp_sink import SmtpSink, _Handler  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WHEN = datetime(2026, 11, 2, 9, tzinfo=UTC)
TARGET_REPEATS = 0


def notices(count: int) -> list[tuple[int, Action]]:
    """`count` notices over count/4 tickets, four each (so a cycle delivers them in rounds)."""
    planned = []
    for n in range(count):
        ticket = n % max(1, count // 4) + 1
        payload = {"recipients": ["lead@help.example"], "subject": f"SLA step {n}", "body": "Overdue."}
        planned.append((ticket, Action(f"n{n}:notify", f"n{n}", f"email:{ticket}", "notify", payload)))
    return planned


def runner(database: Path, folder: Path, server: Dovecot, user: str, sink: SmtpSink) -> subprocess.Popen:
    args = [str(database), str(folder), str(server.port), user, str(sink.port), "none"]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.notice_crash_runner", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


class FilingHandler(_Handler):
    """A mail server that files what it takes into the sender's Sent folder before it answers
    `250`, as hosted mail does (Gmail, Microsoft 365)."""

    def __init__(self, sink: SmtpSink, server: Dovecot, user: str):
        super().__init__(sink)
        self.server, self.user, self.client = server, user, None

    async def handle_DATA(self, server, session, envelope):
        if self.client is None:
            self.client = self.server.connect(self.user)
        self.client.append("Sent", "(\\Seen)", None, envelope.original_content or envelope.content)
        return await super().handle_DATA(server, session, envelope)


def scenario(server: Dovecot, kills: int, count: int, files_sent: bool, rng: random.Random) -> tuple[int, int]:
    """Kill a delivering process `kills` times, let it finish, print what the sink got."""
    user = server.add_user()
    client = server.connect(user)
    client.create("Sent")
    client.logout()
    sink = SmtpSink()
    if files_sent:
        sink.controller.handler = FilingHandler(sink, server, user)
    sink.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            database = folder / "sla.db"
            store = Store.open(database)
            outbox = Outbox(store)
            with store.atomic():
                for ticket, action in notices(count):
                    outbox.add("email", ticket, [action], WHEN)
            store.close()
            done_kills, unknown, started = 0, 0, time.perf_counter()
            while done_kills < kills:
                proc = runner(database, folder, server, user, sink)
                assert proc.stdout.readline().strip() == "delivering"
                time.sleep(rng.uniform(0.05, 0.6))  # the bench's clock: when the kill lands
                if proc.poll() is not None:
                    break  # everything was delivered before this kill
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                done_kills += 1
                check = Store.open(database)
                unknown += Outbox(check).depth("email").get("sending", 0)
                check.close()
            proc = runner(database, folder, server, user, sink)
            proc.communicate(timeout=600)
            seconds = time.perf_counter() - started
            store = Store.open(database)
            states = Counter(row["state"] for row in Outbox(store).list())
    finally:
        sink.stop()
    copies = Counter(message["Message-ID"] for _, _, message in sink.messages)
    expected = {notice_message_id(action) for _, action in notices(count)}
    repeats = sum(n - 1 for n in copies.values())
    lost = len(expected - set(copies))
    where = "a server that files what it sends into Sent" if files_sent else "a server that keeps no copy"
    print(f"{where}: {done_kills} kills while delivering {count:,} notices, {seconds:.1f} s")
    print(f"  notices in the sink: {sum(copies.values()):,} for {len(copies):,} notices; outbox: {dict(states)}")
    print(f"  left with an unknown outcome by the kills: {unknown} ({unknown / max(1, done_kills):.1f} a kill)")
    print(f"  repeated: {repeats} (a notice sent twice), lost: {lost}")
    return repeats, lost


def main() -> None:
    kills = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    rng = random.Random(13)
    server = Dovecot().start()
    try:
        plain = scenario(server, kills, count, files_sent=False, rng=rng)
        filed = scenario(server, kills, count, files_sent=True, rng=rng)
    finally:
        server.stop()
    print(
        f"target, a server that files what it sends: {TARGET_REPEATS} repeats, none lost -> "
        f"{'met' if filed[0] <= TARGET_REPEATS and filed[1] == 0 else 'MISSED'}"
    )
    print(
        f"bound, a server that keeps no copy: at most one repeat a kill, none lost -> "
        f"{'met' if plain[0] <= kills and plain[1] == 0 else 'MISSED'}"
    )
    print("load average: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
