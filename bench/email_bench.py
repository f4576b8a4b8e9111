"""E-mail adapter speed on a real, local Dovecot (installed by scripts/test.sh).

    .venv/bin/python bench/email_bench.py [MESSAGES] [THREADS]
    .venv/bin/python bench/email_bench.py maildir [MESSAGES]

A mailbox of MESSAGES messages (default 20,000) in THREADS conversations (default 5,000) is
written as a Maildir for a fresh Dovecot user, then the adapter's first sync pulls it over IMAP;
then 50 new messages are appended over IMAP and an incremental sync pulls those. Prints messages
per second, the IMAP commands each sync sent, and the time of each.

Target: first sync at least 2,000 messages per second; an incremental sync sends a number of
commands that does not grow with the mailbox.

`maildir`: a local Maildir of MESSAGES messages (default 100,000), all written within the same
minutes (a copy, a restore): the first read, then a cycle with no change, then one after 100 new
mails, beside a full read of every file for comparison. Target: the cycle with no change under
1 s; the cycle after 100 new mails reads those 100 files only, and takes no more than the cycle
with no change plus three times what 100 mails cost in the first read.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.email.adapter import EmailAdapter  # noqa: E402
from connector.config.sources import EmailSection  # noqa: E402
from tests.support.dovecot import PASSWORD, Dovecot  # noqa: E402

TARGET_RATE = 2_000


def message(n: int, thread: int, when: datetime, agent: bool) -> bytes:
    mail = EmailMessage()
    mail["From"] = "support@help.example" if agent else f"customer{thread}@c{thread % 97}.example"
    mail["To"] = "support@help.example"
    mail["Subject"] = f"{'Re: ' if n else ''}Question number {thread}"
    mail["Date"] = format_datetime(when)
    mail["Message-ID"] = f"<{thread}.{n}@bench.example>"
    if n:
        mail["In-Reply-To"] = f"<{thread}.{n - 1}@bench.example>"
        mail["References"] = " ".join(f"<{thread}.{i}@bench.example>" for i in range(n))
    mail.set_content("Hello,\n\nsome text of a realistic length for a support question.\n" * 5)
    return bytes(mail)


def write_maildir(root: Path, messages: int, threads: int) -> None:
    rng = random.Random(5)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    per_thread = messages // threads
    for thread in range(threads):
        when = start + timedelta(minutes=rng.randrange(60 * 24 * 60))
        for n in range(per_thread):
            when += timedelta(minutes=rng.randint(10, 600))
            path = root / "cur" / f"{int(when.timestamp())}.M{thread}_{n}P1.bench:2,S"
            path.write_bytes(message(n, thread, when, agent=n % 2 == 1))
            os.utime(path, (when.timestamp(), when.timestamp()))
    if os.geteuid() == 0:  # Dovecot reads and renames the files as `nobody`
        nobody = pwd.getpwnam("nobody")
        for folder, _dirs, files in os.walk(root):
            os.chown(folder, nobody.pw_uid, nobody.pw_gid)
            for name in files:
                os.chown(os.path.join(folder, name), nobody.pw_uid, nobody.pw_gid)


def maildir_main(messages: int) -> int:
    from adapters.email.maildir import read_maildir

    with tempfile.TemporaryDirectory() as work:
        root, state = Path(work) / "mail", Path(work) / "state"
        state.mkdir()
        write_maildir(root, messages, messages // 4)
        section = EmailSection(maildir=str(root), agent_addresses=["support@help.example"])
        adapter = EmailAdapter(section, state)

        def cycle(cursor):
            started = time.perf_counter()
            pulled = list(adapter.pull(cursor))
            return pulled, time.perf_counter() - started

        snapshots, first = cycle(None)
        cursor = max(s.cursor for s in snapshots)
        print(f"maildir first read: {messages:,} messages in {len(snapshots):,} tickets in {first:.2f} s")
        idle_runs = []
        for _ in range(3):
            pulled, took = cycle(cursor)
            idle_runs.append(took)
        idle = min(idle_runs)
        print(f"cycle with no change: {len(pulled)} tickets, {adapter.maildir_read[1]} files read, {idle:.3f} s")
        when = datetime(2026, 11, 20, 9, tzinfo=UTC)
        for n in range(100):
            (root / "new" / f"{int(when.timestamp())}.N{n}P2.bench").write_bytes(message(99, n, when, agent=False))
        pulled, after_new = cycle(cursor)
        read_new = adapter.maildir_read[1]
        print(f"cycle after 100 new mails: {len(pulled)} tickets, {read_new} files read, {after_new:.3f} s")
        started = time.perf_counter()
        everything = read_maildir(root, None, lambda text: None)
        full = time.perf_counter() - started
        print(f"for comparison, reading every file as a cycle did before: {len(everything):,} files in {full:.2f} s")
    budget = idle + 3 * first * 100 / messages
    ok = idle < 1.0 and read_new == 100 and after_new <= budget
    print(f"targets (no change < 1 s; after 100 new: 100 files read, <= {budget:.3f} s): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "maildir":
        return maildir_main(int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
    server = Dovecot().start()
    try:
        user = server.add_user()
        write_maildir(Path(server.dir) / "mail" / user, messages, threads)
        section = EmailSection(
            imap={"host": "127.0.0.1", "port": server.port, "security": "plain", "user": user, "password": PASSWORD},
            folders=["INBOX"],
            agent_addresses=["support@help.example"],
        )
        with tempfile.TemporaryDirectory() as state:
            adapter = EmailAdapter(section, Path(state))
            started = time.perf_counter()
            snapshots = list(adapter.pull(None))
            first = time.perf_counter() - started
            rate = messages / first
            print(
                f"first sync: {messages:,} messages in {len(snapshots):,} tickets in {first:.2f} s = "
                f"{rate:,.0f} messages/s, {adapter.imap_commands} IMAP commands"
            )
            cursor = max(s.cursor for s in snapshots)  # padded text: the largest is the latest
            client = server.connect(user)
            when = datetime(2026, 11, 20, 9, tzinfo=UTC)
            for n in range(50):
                client.append("INBOX", None, imaplib.Time2Internaldate(when), message(99, n, when, agent=False))
            client.logout()
            started = time.perf_counter()
            changed = list(adapter.pull(cursor))
            incremental = time.perf_counter() - started
            print(
                f"incremental sync after 50 new messages: {len(changed)} tickets in {incremental:.2f} s, "
                f"{adapter.imap_commands} IMAP commands"
            )
    finally:
        server.stop()
    ok = rate >= TARGET_RATE and adapter.imap_commands <= 10
    print(
        f"targets (>= {TARGET_RATE:,} messages/s first sync; incremental commands independent of size): "
        f"{'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
