"""Run one sync cycle against a Zammad-compatible server, and kill it with SIGKILL right after the
host accepted a write, before the outbox knows (the kill point "during_delivery").

    python -m tests.support.zammad_crash_runner DATABASE URL STATE_DIR NOW_ISO [during_delivery]
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime
from pathlib import Path

from adapters.zammad.adapter import ZammadAdapter
from connector.config.sources import ZammadSection
from connector.service.cycle import Engine, run_cycle
from connector.store.database import Store
from tests.support.engine_helpers import load_settings
from tests.support.zammad_server import TOKEN


class KillingAdapter(ZammadAdapter):
    def apply(self, action):
        super().apply(action)
        if os.environ.get("KILL_AFTER") == action.kind:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    database, url, state_dir, now = sys.argv[1], sys.argv[2], Path(sys.argv[3]), datetime.fromisoformat(sys.argv[4])
    section = ZammadSection(url=url, token=TOKEN, requests_per_second=1000)
    adapter = KillingAdapter(section, state_dir, clock=lambda: now, sleep=lambda seconds: None)
    run_cycle(Store.open(database), adapter, Engine.from_settings(load_settings()), now, sleep=lambda s: None)


if __name__ == "__main__":
    main()
