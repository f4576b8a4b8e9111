"""A store filled the way the service fills it: each ticket through one sync cycle's processing
(upsert, recompute, records, events, outbox), under a config given as TOML text."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from connector.config.settings import load_config
from connector.service.cycle import CycleSummary, Engine, _Cycle
from connector.store.database import Store


def write_config(folder: Path, text: str, name: str = "config.toml") -> Path:
    path = folder / name
    database = (folder / "sla.db").as_posix()
    if "[connector]" in text:
        text = text.replace("[connector]", f'[connector]\ndatabase = "{database}"', 1)
    else:
        text = f'[connector]\ndatabase = "{database}"\n' + text
    path.write_text(text)
    return path


def fill(config: Path, cases, now: datetime, source: str = "test") -> Store:
    """Store every (ticket, messages) as the service does, at `now`; return the open store."""
    settings = load_config(config)
    store = Store.open(settings.connector.database)
    cycle = _Cycle(store, Engine.from_settings(settings), now, CycleSummary(source))
    with store.atomic():
        store.register_source(source, "email")
        for ticket, messages in cases:
            cycle.process(ticket, messages)
    assert not cycle.summary.skipped_tickets, cycle.summary.skipped_tickets
    return store
