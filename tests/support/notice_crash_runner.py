"""Deliver a source's queued notices over real IMAP and SMTP servers in this process, and kill it
with SIGKILL at a chosen point.

    python -m tests.support.notice_crash_runner DATABASE STATE_DIR IMAP_PORT USER SMTP_PORT KILL_POINT

Kill points: before_send (recorded as in flight, nothing sent), after_accepted (the SMTP server
answered 250, the outbox does not know yet), after_record (recorded as delivered, its copy not
saved into Sent yet); `none` delivers everything unless its parent kills it (it prints
`delivering` on stdout when it starts to).
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from adapters.email import adapter as email_adapter
from adapters.email.adapter import EmailAdapter
from adapters.email.smtp import SmtpSender
from connector.config.sources import EmailSection
from connector.store.database import Store
from connector.store.outbox import Outbox, deliver
from tests.support.dovecot import PASSWORD


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def section(imap_port: int, user: str, smtp_port: int) -> EmailSection:
    return EmailSection(
        imap={"host": "127.0.0.1", "port": imap_port, "security": "plain", "user": user, "password": PASSWORD},
        smtp={"host": "127.0.0.1", "port": smtp_port, "security": "plain", "sender": "sla-bot@help.example"},
        agent_domains=["help.example"],
    )


def main() -> None:
    database, state_dir, imap_port, user, smtp_port, point = sys.argv[1:7]
    real_send, real_after = SmtpSender.send, EmailAdapter.after_delivery

    def send(self, message, recipients):
        if point == "before_send":
            die()
        refused = real_send(self, message, recipients)
        if point == "after_accepted":
            die()
        return refused

    def after_delivery(self, action):
        if point == "after_record":
            die()
        real_after(self, action)

    email_adapter.SmtpSender.send = send
    EmailAdapter.after_delivery = after_delivery
    adapter = EmailAdapter(section(int(imap_port), user, int(smtp_port)), Path(state_dir))
    print("delivering", flush=True)
    deliver(Outbox(Store.open(database)), adapter, datetime.now(UTC))


if __name__ == "__main__":
    main()
