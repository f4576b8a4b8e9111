from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.zammad.adapter import ZammadAdapter
from connector.config.sources import ZammadSection
from tests.support.zammad_server import TOKEN, Clock, ZammadServer


class Sleeps(list):
    """The adapter's sleep, recorded instead of waited."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 2, 8, tzinfo=UTC))


@pytest.fixture
def zammad(clock):
    server = ZammadServer(clock=clock).start()
    yield server
    server.stop()


@pytest.fixture
def sleeps():
    return Sleeps()


def section(server: ZammadServer, **extra) -> ZammadSection:
    values = {"url": server.url, "token": TOKEN, "requests_per_second": 1e9, "timeout": 2} | extra
    return ZammadSection(**values)


def make_adapter(server, clock, sleeps, state_dir=None, **extra) -> ZammadAdapter:
    return ZammadAdapter(section(server, **extra), state_dir, clock=lambda: clock() + _SKEW, sleep=sleeps)


_SKEW = __import__("datetime").timedelta(minutes=5)  # the connector's clock is ahead of the cursor cap
