"""The Zammad adapter keeps the shared adapter contract, against the Zammad-compatible server."""

from __future__ import annotations

import pytest

from connector.config.sources import SmtpSection
from tests.adapters.contract import AdapterContract
from tests.adapters.zammad.conftest import make_adapter
from tests.support.dovecot import free_port


class ZammadHost:
    def __init__(self, server, clock):
        self.server, self.clock, self.ids = server, clock, {}

    def open_ticket(self, title: str) -> None:
        self.ids[title] = self.server.add_ticket(title, at=self.clock.advance(minutes=1))

    def customer_writes(self, title: str) -> None:
        self.server.add_article(self.ids[title], "Customer", "email", at=self.clock.advance(minutes=1))

    def bad_ticket(self, title: str) -> str:
        ident = self.server.add_ticket(title, at=self.clock.advance(minutes=1))
        self.server.break_ticket(ident, created_at="yesterday")
        return f"ticket id {ident}"

    def notify_to(self) -> list[str]:
        return ["lead@help.example"]


@pytest.fixture(scope="module")
def mail_sink():
    """Notices go to a real SMTP server on 127.0.0.1 (one for the module: it is slow to start)."""
    from aiosmtpd.controller import Controller

    class Sink:
        messages: list = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope.rcpt_tos)
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.mark.parametrize("shape", ["array", "records", "classic"])
class TestZammadContract(AdapterContract):
    @pytest.fixture
    def host(self, zammad, clock, shape):
        zammad.shape = shape
        return ZammadHost(zammad, clock)

    @pytest.fixture
    def adapter(self, host, zammad, clock, sleeps, tmp_path, mail_sink):
        smtp = SmtpSection(host="127.0.0.1", port=mail_sink.port, security="plain", sender="sla-bot@help.example")
        return make_adapter(zammad, clock, sleeps, tmp_path, smtp=smtp)
