"""SIGTERM, tested on the real command: `sla-connector run` as a process of its own, its notice
held by an SMTP server that takes the message and never answers. It exits within 10 s, the
database is intact, and the notice is neither lost nor doubled: the next run delivers it once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from tests.adapters.email.test_email_imap import Account
from tests.conftest import ROOT
from tests.support.hanging_smtp import HangingSmtp
from tests.support.mail_factory import build_mail
from tests.support.service_config import config


def command(path, *args):
    return [sys.executable, "-m", "connector", "--config", str(path), *args]


def notices(database):
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return conn.execute("SELECT state FROM outbox WHERE kind = 'notify'").fetchall()


def test_sigterm_while_a_notice_hangs_exits_in_time_and_the_notice_goes_out_once_later(dovecot, smtp_server, tmp_path):
    account = Account(dovecot)
    asked = datetime.now(UTC) - timedelta(hours=2)  # its first reply was due an hour ago
    account.append("INBOX", build_mail("ada@acme.example", "Printer broken", asked, "a1"), asked)
    hanging = HangingSmtp().start()
    path = tmp_path / "config.toml"
    path.write_text(config(tmp_path, account, hanging.port))
    service = subprocess.Popen(command(path, "run"), cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert hanging.took_data.wait(timeout=120), "the service never sent the notice"
        asked_to_stop = time.monotonic()
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=10)
        assert time.monotonic() - asked_to_stop < 10
    finally:
        if service.poll() is None:
            os.kill(service.pid, signal.SIGKILL)
            service.wait()
        hanging.stop()
    assert service.returncode == 0, service.stderr.read()
    # the server took the message but never said so: the outcome is unknown, kept as such
    assert notices(tmp_path / "sla.db") == [("sending",)]

    path.write_text(config(tmp_path, account, smtp_server.port))
    for _ in range(2):  # the next run delivers it; the one after has nothing left to send
        done = subprocess.run(command(path, "sync", "--once"), cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    [(_, recipients, message)] = smtp_server.messages
    assert recipients == ["lead@help.example"] and message["Auto-Submitted"] == "auto-generated"
    assert notices(tmp_path / "sla.db") == [("delivered",)]
