"""`recommend` on small hand-built histories: percentiles counted by hand, running clocks censored."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from connector.analytics.recommend import recommend
from connector.cli.main import main
from connector.config.settings import load_config
from tests.support.engine_helpers import CALENDARS, agent, customer, t, ticket
from tests.support.history import fill, write_config

M = timedelta(minutes=1)
CONFIG = (
    CALENDARS
    + """
[connector]
default_level = "Standard"
report_timezone = "UTC"

[[levels]]
name = "Standard"
calendar = "always"
first_reply = "1h"
"""
)
NOW = t(4, 12)


def cases():
    found = []
    n = 0

    def add(created, reply_after, department):
        nonlocal n
        n += 1
        messages = [customer(created, f"c{n}")]
        if reply_after is not None:
            messages.append(agent(created + reply_after, f"a{n}"))
        found.append((ticket(created, external_id=str(n), department=department, number=str(n)), messages))

    for minutes in (10, 20, 30, 40):  # Support: four replies ...
        add(t(2, 9), minutes * M, "Support")
    add(NOW - 50 * M, None, "Support")  # ... one waiting for 50 minutes
    add(NOW - 180 * M, None, "Support")  # ... and one for 3 hours, breached
    for minutes in range(5, 100, 10):  # Sales: ten replies, 5 to 95 minutes
        add(t(3, 9), minutes * M, "Sales")
    return found


@pytest.fixture
def history(tmp_path):
    config = write_config(tmp_path, CONFIG)
    store = fill(config, cases(), NOW)
    return store, load_config(config), config


def test_percentiles_per_department_with_running_clocks_censored(history):
    store, settings, _ = history
    table = recommend(store, settings, NOW, "first_reply", "department", 90)
    assert [c.name for c in table.columns] == [
        "department",
        "records",
        "stopped",
        "running",
        "p50",
        "p80",
        "p90",
        "p95",
        "target_for_90pct",
    ]
    rows = {row[0]: row[1:] for row in table.rows}
    # Sales: S drops by a tenth at each reply: p50 at the 5th (45m), p80 at the 8th, ...
    assert rows["Sales"] == [10, 10, 0, 45 * M, 75 * M, 85 * M, 95 * M, 85 * M]
    # Support: S = 5/6, 4/6, 3/6, 2/6 after 10..40m; the two still waiting (50m, 3h) keep the
    # estimate from ever reaching 80 %: a queue of unanswered tickets does not look fast
    assert rows["Support"] == [6, 4, 2, 30 * M, None, None, None, None]


def test_one_row_per_level_and_the_meet_share(history):
    store, settings, _ = history
    [row] = recommend(store, settings, NOW, "first_reply", "level", 50).rows
    # 16 clocks: 14 replies and 2 censored beyond all of them; half have stopped by the 8th reply
    # in time order: 5 10 15 20 25 30 35 40 -> 40m
    assert row[0] == "Standard" and row[1:4] == [16, 14, 2]
    assert row[-1] == 40 * M


def test_bad_arguments_are_named(history):
    store, settings, _ = history
    with pytest.raises(ValueError, match="--meet"):
        recommend(store, settings, NOW, "first_reply", "level", 100)
    with pytest.raises(ValueError, match="--group-by 'colour'"):
        recommend(store, settings, NOW, "first_reply", "colour", 90)


def test_the_command_writes_csv(history, capsys):
    store, _, config = history
    store.close()
    assert main(["--config", str(config), "recommend", "--metric", "first_reply", "--group-by", "department"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    sales = next(r for r in rows if r["department"] == "Sales")
    assert (sales["p90_seconds"], sales["p90"], sales["target_for_90pct"]) == ("5100", "1:25:00", "1:25:00")
