"""The osTicket adapter keeps the shared adapter contract, on a real MariaDB filled as osTicket fills it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.osticket.adapter import OsticketAdapter
from tests.adapters.contract import AdapterContract
from tests.adapters.osticket.conftest import OsticketHost


class DeskHost:
    def __init__(self, host: OsticketHost):
        self.host, self.desk = host, host.desk
        self.user = self.desk.user("Ada", "ada@acme.example")
        self.tickets: dict[str, int] = {}
        self.when = datetime(2026, 11, 2, 9, tzinfo=UTC)

    def _tick(self) -> datetime:
        self.when += timedelta(minutes=5)
        return self.when

    def open_ticket(self, title: str) -> None:
        self.tickets[title] = self.desk.ticket(self.user, title, f"<p>{title}</p>", self._tick())

    def customer_writes(self, title: str) -> None:
        self.desk.message(self.tickets[title], self.user, "<p>and again</p>", self._tick())

    def bad_ticket(self, title: str) -> str:
        ticket = self.desk.ticket(self.user, title, "x", self._tick())
        # a non-strict session (as osTicket's own) can leave a zero date behind
        self.desk.run("SET SESSION sql_mode = ''")
        self.desk.run("UPDATE ost_ticket SET created = '0000-00-00 00:00:00' WHERE ticket_id = %s", (ticket,))
        return f"ticket {ticket}"

    def notify_to(self) -> list[str]:
        return ["lead@help.example"]


class TestOsticketContract(AdapterContract):
    @pytest.fixture
    def host(self, osticket):
        return DeskHost(osticket)

    @pytest.fixture
    def adapter(self, host, tmp_path, smtp_sink):
        controller, _ = smtp_sink
        smtp = {"host": "127.0.0.1", "port": controller.port, "security": "plain", "sender": "sla@help.example"}
        return OsticketAdapter(host.host.section(smtp=smtp), tmp_path)
