"""`report due --forecast`: the breach risk of each running clock counted by hand from a small
history, the load per department and agent, and `--sort risk`."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest

from connector.analytics.forecast import forecast_due
from connector.cli.main import main
from connector.config.settings import load_config
from connector.reports.queries import Filters
from tests.support.engine_helpers import CALENDARS, agent, customer, t, ticket
from tests.support.history import fill, write_config

M = timedelta(minutes=1)
NOW = t(4, 12)
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


def cases():
    found = []
    for n, minutes in enumerate((10, 20, 40, 50, 70, 90), start=1):  # answered on Monday
        created = t(2, 9) + n * 2 * 60 * M
        found.append(
            (
                ticket(created, external_id=str(n), number=str(n)),
                [customer(created, f"c{n}"), agent(created + minutes * M, f"a{n}")],
            )
        )
    for n, waited, department, assignee in (
        (7, 180, "Sales", None),  # waiting three hours: breached
        (8, 55, "Support", "ann"),
        (9, 30, "Support", "ann"),
        (10, 5, "Support", None),
    ):
        created = NOW - waited * M
        found.append(
            (
                ticket(created, external_id=str(n), number=str(n), department=department, assignee=assignee),
                [customer(created, f"c{n}")],
            )
        )
    return found


@pytest.fixture
def queue(tmp_path):
    config = write_config(tmp_path, CONFIG)
    return fill(config, cases(), NOW), load_config(config), config


def test_each_running_clock_gets_the_share_of_past_clocks_that_went_past_its_target(queue):
    store, settings, _ = queue
    table = forecast_due(store, settings, NOW, Filters())
    names = [c.name for c in table.columns]
    rows = [dict(zip(names, row)) for row in table.rows]
    assert [r["ticket"] for r in rows] == ["7", "8", "9", "10"]  # by due time
    by_ticket = {r["ticket"]: r for r in rows}
    # 30 minutes in: past clocks longer than 30m are 40, 50, 70, 90 and the one still waiting
    # after 3h (already past the hour); 70, 90 and that one went past: 3 of 5
    assert (by_ticket["9"]["risk"], by_ticket["9"]["past_went_past"], by_ticket["9"]["past_ran_as_long"]) == (
        Decimal("60.00"),
        3,
        5,
    )
    assert (by_ticket["8"]["risk"], by_ticket["8"]["past_ran_as_long"]) == (Decimal("100.00"), 3)  # 70, 90, 3h
    assert (by_ticket["10"]["risk"], by_ticket["10"]["past_ran_as_long"]) == (Decimal("42.86"), 7)  # 3 of 7
    assert by_ticket["7"]["risk"] == Decimal("100.00") and by_ticket["7"]["status"] == "breached"
    assert by_ticket["9"]["left"] == 30 * M
    # the load now: open clocks per department and per agent
    assert (by_ticket["9"]["department_open"], by_ticket["9"]["agent_open"]) == (3, 2)
    assert (by_ticket["7"]["department_open"], by_ticket["7"]["agent_open"]) == (1, 2)


def test_sort_by_risk_and_filters(queue):
    store, settings, _ = queue
    ordered = forecast_due(store, settings, NOW, Filters(), sort="risk")
    assert [row[0] for row in ordered.rows] == ["7", "8", "9", "10"]
    support = forecast_due(store, settings, NOW, Filters(department="Support"), within=40 * M, sort="risk")
    assert [row[0] for row in support.rows] == ["8", "9"]  # 10 is due in 55m, beyond --within
    with pytest.raises(ValueError, match="--sort 'size'"):
        forecast_due(store, settings, NOW, Filters(), sort="size")


def test_the_command_sorts_by_risk(queue, capsys):
    store, _, config = queue
    store.close()
    assert main(["--config", str(config), "report", "due", "--sort", "risk", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    # the clocks have run for weeks by the wall clock: every one of them is past its hour now
    assert {r["risk"] for r in rows} == {"100.00"} and len(rows) == 4
    assert main(["--config", str(config), "report", "due", "--format", "csv"]) == 0
    assert "risk" not in capsys.readouterr().out.splitlines()[0]
