"""The e-mail adapter keeps the shared adapter contract, over IMAP on a real Dovecot."""

from __future__ import annotations

import imaplib
from datetime import UTC, datetime, timedelta

import pytest

from adapters.email.adapter import EmailAdapter
from connector.config.sources import EmailSection
from tests.adapters.contract import AdapterContract
from tests.support.dovecot import PASSWORD
from tests.support.mail_factory import build_mail


class MailboxHost:
    """A fresh mailbox; customers write to it by IMAP APPEND, as a delivery agent would."""

    def __init__(self, server):
        self.server, self.user = server, server.add_user()
        self.client = server.connect(self.user)
        self.client.create("Sent")
        self.threads: dict[str, list[str]] = {}
        self.when = datetime(2026, 11, 2, 9, tzinfo=UTC)
        self.inbox = 0

    def _append(self, raw: bytes) -> None:
        self.when += timedelta(minutes=5)
        typ, data = self.client.append("INBOX", None, imaplib.Time2Internaldate(self.when), raw)
        assert typ == "OK", data
        self.inbox += 1

    def open_ticket(self, title: str) -> None:
        ident = f"{len(self.threads) + 1}.{title.replace(' ', '-')}@acme.example"
        self.threads[title] = [ident]
        self._append(build_mail("ada@acme.example", title, self.when + timedelta(minutes=5), ident))

    def customer_writes(self, title: str) -> None:
        thread = self.threads[title]
        ident = f"{len(thread) + 1}.{thread[0]}"
        self._append(build_mail("ada@acme.example", f"Re: {title}", self.when + timedelta(minutes=5), ident, thread))
        thread.append(ident)

    def bad_ticket(self, title: str) -> str:
        raw = build_mail("bob@acme.example", title, self.when, f"bad.{len(self.threads)}@acme.example")
        self._append(raw.replace(b"Date: ", b"Date: not a date ; ", 1))
        self.threads[title] = []
        return f"INBOX/{self.inbox}"

    def notify_to(self) -> list[str]:
        return []

    def section(self) -> EmailSection:
        imap = {"host": "127.0.0.1", "port": self.server.port, "security": "plain", "user": self.user}
        return EmailSection(imap=imap | {"password": PASSWORD}, agent_domains=["help.example"])


class TestEmailContract(AdapterContract):
    @pytest.fixture
    def host(self, dovecot):
        return MailboxHost(dovecot)

    @pytest.fixture
    def adapter(self, host, tmp_path):
        return EmailAdapter(host.section(), tmp_path)
