"""Run one sync cycle in this process, and kill it with SIGKILL at a chosen point.

    python -m tests.support.crash_runner DATABASE HOST_FILE NOW_ISO [KILL_POINT]

Kill points: after_pull (every snapshot read, none stored), after_upsert (a ticket stored, its
records not), after_outbox_insert (actions queued, not committed), before_delivery (committed,
nothing delivered), during_delivery (the host applied a write, the outbox does not know yet).
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime

from connector.service.cycle import Engine, run_cycle
from connector.store.database import Store
from tests.support.engine_helpers import load_settings
from tests.support.scripted_host import ScriptedAdapter, ScriptedHost


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillingAdapter(ScriptedAdapter):
    def __init__(self, host, point):
        super().__init__(host)
        self.point = point

    def pull(self, since, overlap=None):
        yield from super().pull(since)
        if self.point == "after_pull":
            die()

    def apply(self, action):
        super().apply(action)
        if self.point == "during_delivery":
            die()


def install_statement_hook(store: Store, point: str) -> None:
    seen = {"outbox": False}

    def trace(statement: str) -> None:
        text = statement.lstrip().upper()
        if point == "after_upsert" and text.startswith("INSERT") and "SLA_RECORDS" in text:
            die()
        if point == "after_outbox_insert":
            if seen["outbox"]:
                die()
            seen["outbox"] = "INTO OUTBOX" in text
        if point == "before_delivery" and text.startswith("SELECT ID, KEY, EVENT_KEY"):
            die()

    store.db.conn.set_trace_callback(trace)


def main() -> None:
    database, host_file, now = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
    point = sys.argv[4] if len(sys.argv) > 4 else ""
    store = Store.open(database)
    if point:
        install_statement_hook(store, point)
    run_cycle(
        store,
        KillingAdapter(ScriptedHost(host_file), point),
        Engine.from_settings(load_settings()),
        now,
        sleep=lambda seconds: None,
    )


if __name__ == "__main__":
    main()
