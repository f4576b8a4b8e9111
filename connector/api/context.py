"""What one request reads with: a read-only connection of its own, the reports at one instant.

Public API: `AppState` (the settings, the clock, the tokens; kept on the app), `Context`, and the
FastAPI dependency `context`. SQLite connections are cheap to open and not shared between
threads, so each request opens one; a streamed body closes it when the last row is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from fastapi import Request

from connector.api.readonly import ReadOnlyStore
from connector.api.tokens import Tokens
from connector.reports.queries import Reports


@dataclass
class AppState:
    settings: Any
    clock: Callable[[], datetime]
    tokens: Tokens


class Context:
    def __init__(self, state: AppState):
        self.settings = state.settings
        self.now = state.clock()
        self.store = ReadOnlyStore.open(self.settings.connector.database)
        self.streaming = False

    @cached_property
    def reports(self) -> Reports:
        return Reports(self.store, self.settings, self.now)

    def stream(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """The body of a streamed answer; the connection closes after its last chunk."""
        self.streaming = True

        def body() -> Iterator[bytes]:
            try:
                yield from chunks
            finally:
                self.store.close()

        return body()

    def close(self) -> None:
        if not self.streaming:
            self.store.close()


def app_state(request: Request) -> AppState:
    return request.app.state.sla


def context(request: Request) -> Iterator[Context]:
    ctx = Context(app_state(request))
    try:
        yield ctx
    finally:
        ctx.close()
