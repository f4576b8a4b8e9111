"""The Zammad adapter keeps the shared adapter contract, against the Zammad-compatible server."""

from __future__ import annotations

import pytest

from tests.adapters.contract import AdapterContract
from tests.adapters.zammad.conftest import make_adapter


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
        return []


@pytest.mark.parametrize("shape", ["array", "records", "classic"])
class TestZammadContract(AdapterContract):
    @pytest.fixture
    def host(self, zammad, clock, shape):
        zammad.shape = shape
        return ZammadHost(zammad, clock)

    @pytest.fixture
    def adapter(self, host, zammad, clock, sleeps, tmp_path):
        return make_adapter(zammad, clock, sleeps, tmp_path)
