"""Notices repeated after kills: a real process delivering notices over a local Dovecot and an
SMTP sink is killed (SIGKILL) at random moments, restarted, killed again, 50 times; then it
delivers the rest. The sink counts the copies of each notice by its Message-ID.

    .venv/bin/python bench/notice_kill_bench.py [KILLS] [NOTICES]

Target (an IMAP source, `save_notices` on): 0 repeated notices over 50 kills, none lost.
For comparison, in the same run: how many notices each kill left with an unknown outcome (in
`sending`: recorded as handed over, not as taken), which a restart has to resolve; every one of
them the server had taken would be a repeat.
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
from tests.support.smtp_sink import SmtpSink  # noqa: E402

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


def main() -> None:
    kills = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    rng = random.Random(13)
    server, sink = Dovecot().start(), SmtpSink().start()
    try:
        user = server.add_user()
        client = server.connect(user)
        client.create("Sent")
        client.logout()
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
            copies = Counter(message["Message-ID"] for _, _, message in sink.messages)
            expected = {notice_message_id(action) for _, action in notices(count)}
            repeats = sum(n - 1 for n in copies.values())
            lost = len(expected - set(copies))
            client = server.connect(user)
            client.select("Sent")
            saved = len((client.uid("SEARCH", None, "ALL")[1][0] or b"").split())
            client.logout()
        load = os.getloadavg()
        print(f"{done_kills} kills (SIGKILL at random moments) while delivering {count:,} notices, {seconds:.1f} s")
        print(f"notices in the sink: {sum(copies.values()):,} for {len(copies):,} notices; outbox: {dict(states)}")
        print(
            f"left with an unknown outcome by the kills: {unknown} notices ({unknown / max(1, done_kills):.1f} a kill)"
        )
        print(f"repeated: {repeats} (a notice sent twice), lost: {lost}; copies in Sent: {saved:,}")
        print(
            f"target: {TARGET_REPEATS} repeats, none lost -> "
            f"{'met' if repeats <= TARGET_REPEATS and lost == 0 else 'MISSED'}"
        )
        print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    finally:
        sink.stop()
        server.stop()


if __name__ == "__main__":
    main()
