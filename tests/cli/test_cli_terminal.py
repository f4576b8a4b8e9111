"""What `sync --once` shows on a terminal: the pull's progress and the delivery's, on a real
pseudo-terminal (progress goes to a terminal only, never into a log or a pipe)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from tests.adapters.email.test_email_imap import Account
from tests.conftest import ROOT
from tests.support.mail_factory import build_mail
from tests.support.service_config import config


def on_a_terminal(args) -> tuple[int, str]:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, cwd=ROOT, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=120), b"".join(chunks).decode()


def test_sync_shows_the_delivery_progress_on_a_terminal_and_not_in_a_pipe(dovecot, smtp_server, tmp_path):
    account = Account(dovecot)
    asked = datetime.now(UTC) - timedelta(hours=2)
    for n in range(3):
        account.append("INBOX", build_mail(f"c{n}@acme.example", f"Question {n}", asked, f"q{n}"), asked)
    path = tmp_path / "config.toml"
    path.write_text(config(tmp_path, account, smtp_server.port))
    code, shown = on_a_terminal([sys.executable, "-m", "connector", "--config", str(path), "sync", "--once"])
    assert code == 0, shown
    assert "\r  3 tickets read" in shown
    assert "\r  0 of 3 writes tried" in shown and "\r  3 of 3 writes tried\r\n" in shown
    assert "3 delivered" in shown and len(smtp_server.messages) == 3
    for n in range(3, 5):  # two more to deliver, with nobody watching
        account.append("INBOX", build_mail(f"c{n}@acme.example", f"Question {n}", asked, f"q{n}"), asked)
    piped = subprocess.run(
        [sys.executable, "-m", "connector", "--config", str(path), "sync", "--once"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0 and "2 delivered" in piped.stdout
    assert "writes tried" not in piped.stderr + piped.stdout and "tickets read" not in piped.stderr
