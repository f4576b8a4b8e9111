"""Whole sync cycles against the Zammad-compatible server: tickets pulled, clocks computed,
tags, priority and notes written exactly once, through faults and a kill between the write and
the outbox update; the connector's own writes come back and cause nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from adapters.zammad.adapter import ZammadAdapter
from connector.service.cycle import Engine, run_cycle
from connector.store.database import Store
from tests.adapters.zammad.conftest import section
from tests.conftest import ROOT
from tests.support.engine_helpers import load_settings


def t(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def engine():
    return Engine.from_settings(load_settings())


def cycle(store, adapter, engine, clock, now):
    clock.now = now
    return run_cycle(store, adapter, engine, now, sleep=lambda s: None)


def test_breach_is_written_once_and_the_echo_of_our_own_writes_causes_nothing(zammad, clock, engine, tmp_path):
    store = Store.open(tmp_path / "sla.db")
    adapter = ZammadAdapter(section(zammad), tmp_path, clock=clock, sleep=lambda s: None)
    quiet = [zammad.add_ticket(f"Answered {n}", at=t(2, 8, n)) for n in range(20)]
    for ident in quiet:
        zammad.add_article(ident, "Agent", "email", at=t(2, 8, 30))
    late = zammad.add_ticket("Printer broken", at=t(2, 9))
    zammad.tickets[late]["owner_id"] = 3
    first = cycle(store, adapter, engine, clock, t(2, 9, 10))
    assert first.pulled == 21 and first.delivery.delivered == 0
    warned = cycle(store, adapter, engine, clock, t(2, 9, 50))
    assert warned.delivery.delivered == 1 and zammad.tags[late] == ["sla-warning"]
    breached = cycle(store, adapter, engine, clock, t(2, 10, 5))
    assert breached.breaches == 1
    assert sorted(zammad.tags[late]) == ["sla-breached"]
    assert zammad.tickets[late]["priority_id"] == 3
    (note,) = zammad.notes(late)
    assert note["internal"] and "SLA first_reply (Standard) breached" in note["body"]
    # the next pull sees our tags, priority and note as changes of the ticket: they cause nothing
    events = store.db["sla_events"].count
    echo = cycle(store, adapter, engine, clock, t(2, 10, 15))
    assert echo.pulled >= 1 and echo.delivery.delivered == 0
    assert store.db["sla_events"].count == events
    assert [m.own for m in next(s for s in adapter.pull(None) if s.ticket.title == "Printer broken").messages] == [
        False,
        True,
    ]
    before = zammad.count()
    idle = cycle(store, adapter, engine, clock, t(2, 10, 25))
    assert idle.delivery.delivered == 0
    idle_requests = zammad.count() - before
    for n in range(30):  # a bigger instance, nothing changed since the last cycle's overlap
        zammad.add_ticket(f"More {n}", at=t(2, 10, 20))
        zammad.add_article(zammad._ids["ticket"], "Agent", "email", at=t(2, 10, 21))
    cycle(store, adapter, engine, clock, t(2, 10, 40))
    before = zammad.count()
    cycle(store, adapter, engine, clock, t(2, 10, 55))
    assert zammad.count() - before == idle_requests == 1
    assert len(zammad.notes(late)) == 1 and zammad.count("POST", "ticket_articles") == 1


def runner(folder, url, now, kill_after=""):
    env = dict(os.environ, KILL_AFTER=kill_after)
    command = [
        sys.executable,
        "-m",
        "tests.support.zammad_crash_runner",
        str(folder / "sla.db"),
        url,
        str(folder),
        now.isoformat(),
    ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("kind", ["add_tags", "raise_priority", "add_note"])
def test_a_kill_between_the_write_and_the_outbox_update_repeats_no_write(zammad, clock, tmp_path, kind):
    late = zammad.add_ticket("Printer broken", at=t(2, 9))
    clock.now = t(2, 9, 10)
    assert runner(tmp_path, zammad.url, t(2, 9, 10)).returncode == 0
    clock.now = t(2, 10, 5)  # the warning and the breach are both due now
    killed = runner(tmp_path, zammad.url, t(2, 10, 5), kill_after=kind)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = runner(tmp_path, zammad.url, t(2, 10, 5))
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(zammad.tags[late]) == ["sla-breached"]
    assert zammad.tickets[late]["priority_id"] == 3
    assert len(zammad.notes(late)) == 1
    assert zammad.count("POST", "ticket_articles") == 1
    assert zammad.count("PUT", "tickets") == 1


def test_a_note_whose_answer_was_lost_in_a_cycle_is_written_once(zammad, clock, engine, tmp_path):
    store = Store.open(tmp_path / "sla.db")
    adapter = ZammadAdapter(section(zammad), tmp_path, clock=clock, sleep=lambda s: None)
    late = zammad.add_ticket("Printer broken", at=t(2, 9))
    cycle(store, adapter, engine, clock, t(2, 9, 10))
    zammad.fail("lost", method="POST", path="ticket_articles")
    zammad.fail("503", method="PUT", path="tickets")
    zammad.fail("429:3", method="POST", path="tags")
    summary = cycle(store, adapter, engine, clock, t(2, 10, 5))
    assert summary.delivery.parked == 0
    assert len(zammad.notes(late)) == 1 and zammad.tickets[late]["priority_id"] == 3
    assert sorted(zammad.tags[late]) == ["sla-breached"]
