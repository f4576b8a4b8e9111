"""Crash safety, tested: a real subprocess is killed with SIGKILL at each step of the cycle, then
restarted; every planned write reaches the host exactly once in effect and no event is lost."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from sqlite_utils import Database

from tests.conftest import ROOT
from tests.support.engine_helpers import t
from tests.support.scripted_host import ScriptedHost

POINTS = ["after_pull", "after_upsert", "after_outbox_insert", "before_delivery", "during_delivery"]


def cycle(folder, now, point=""):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.crash_runner",
            str(folder / "sla.db"),
            str(folder / "host.json"),
            now.isoformat(),
            point,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def scenario(folder, point=""):
    """Two cycles; the second (new ticket pulled, one breached by time) may be killed and rerun."""
    host = ScriptedHost(folder / "host.json")
    host.put_ticket("1", t(2, 10), t(2, 10), [("m1", t(2, 10), "customer", True)])
    host.put_ticket(
        "2", t(2, 10), t(2, 10, 20), [("m2", t(2, 10), "customer", True), ("m3", t(2, 10, 20), "agent", True)]
    )
    assert cycle(folder, t(2, 10, 50)).returncode == 0
    host.put_ticket("3", t(2, 10, 45), t(2, 10, 45), [("m4", t(2, 10, 45), "customer", True)])
    if point:
        killed = cycle(folder, t(2, 11, 1), point)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = cycle(folder, t(2, 11, 1))
    assert rerun.returncode == 0, rerun.stderr
    events = sorted(row["key"] for row in Database(folder / "sla.db")["sla_events"].rows)
    return host.writes(), events


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return scenario(tmp_path_factory.mktemp("reference"))


@pytest.mark.parametrize("point", POINTS)
def test_a_kill_at_any_step_loses_nothing_and_repeats_nothing(tmp_path, reference, point):
    writes, events = scenario(tmp_path, point)
    expected_writes, expected_events = reference
    assert len(expected_writes) == 5  # the warning, then the breach's four writes
    assert sorted(w["key"] for w in writes) == sorted(w["key"] for w in expected_writes)
    assert len({w["key"] for w in writes}) == len(writes)
    assert events == expected_events
