"""Every bad argument of `report` is named, with exit 2 (the command line) or 1 (the output)."""

from __future__ import annotations

import os

import pytest

from connector.cli.main import main
from connector.store.database import Store
from tests.reports.report_store import add_outcomes, add_ticket
from tests.support.engine_helpers import CALENDARS

CONFIG = (
    CALENDARS
    + """
[[levels]]
name = "Standard"
calendar = "always"
first_reply = "1h"
"""
)


@pytest.fixture
def config(tmp_path, write_config):
    store = Store.open(tmp_path / "sla.db")
    add_ticket(store, 1, department="Support", channel="email", priority_name="high", tags=["vip", "billing"])
    add_ticket(store, 2, department="Sales", channel="chat", priority_name="low", tags=[])
    add_outcomes(store, 1, met=2, failed=1)
    add_outcomes(store, 2, met=1, failed=0)
    return write_config(f'[connector]\ndatabase = "{store.path}"\n' + CONFIG)


def run(config, *argv):
    return main(["--config", str(config), "report", *argv])


def test_from_after_to_names_both(config, capsys):
    assert run(config, "log", "--from", "2026-11-30", "--to", "2026-11-01") == 2
    assert "--from 2026-11-30 is after --to 2026-11-01" in capsys.readouterr().err


@pytest.mark.parametrize("month", ["2026-1", "2026-13", "26-11", "2026-11-01"])
def test_a_month_is_only_yyyy_mm(config, capsys, month):
    with pytest.raises(SystemExit) as refused:
        run(config, "credits", "--month", month)
    assert refused.value.code == 2
    assert f"{month!r} is not a month YYYY-MM" in capsys.readouterr().err


def test_an_unknown_metric_lists_the_known_ones(config, capsys):
    with pytest.raises(SystemExit) as refused:
        run(config, "log", "--from", "2026-11-01", "--to", "2026-11-30", "--metric", "first_replay")
    assert refused.value.code == 2
    assert "first_reply" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_output_is_one_line_and_exit_1(config, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert run(config, "log", "--from", "2026-11-01", "--to", "2026-11-30", "--output", str(locked / "x.csv")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write --output {locked / 'x.csv'}: Permission denied" in err


def test_an_output_that_is_a_folder_is_one_line_and_exit_1(config, tmp_path, capsys):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    assert run(config, "log", "--from", "2026-11-01", "--to", "2026-11-30", "--output", str(folder)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write --output {folder}" in err and "Traceback" not in err


def test_filters_and_groups_by_channel_priority_and_tag(config, capsys):
    assert run(config, "compliance", "--from", "2026-11-01", "--to", "2026-11-30", "--group-by", "tag") == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] + ":" + line.split(",")[1] for line in out[1:]] == ["(none):1", "billing:2", "vip:2"]
    for option, value, met in (("--channel", "chat", "1"), ("--priority", "high", "2"), ("--tag", "vip", "2")):
        assert (
            run(
                config, "compliance", "--from", "2026-11-01", "--to", "2026-11-30", "--group-by", "month", option, value
            )
            == 0
        )
        assert capsys.readouterr().out.splitlines()[1].split(",")[:2] == ["2026-11", met]


def test_two_group_bys_at_once(config, capsys):
    assert run(config, "compliance", "--from", "2026-11-01", "--to", "2026-11-30", "--group-by", "department,week") == 0
    out = [line.split(",")[:3] for line in capsys.readouterr().out.splitlines()]
    assert out == [["department", "week", "met"], ["Sales", "2026-W46", "1"], ["Support", "2026-W46", "2"]]
    assert run(config, "compliance", "--from", "2026-11-01", "--to", "2026-11-30", "--group-by", "date,channel") == 0
    out = [line.split(",")[:3] for line in capsys.readouterr().out.splitlines()]
    assert out == [["date", "channel", "met"], ["2026-11-10", "chat", "1"], ["2026-11-10", "email", "2"]]
    with pytest.raises(SystemExit):
        run(config, "compliance", "--from", "2026-11-01", "--to", "2026-11-30", "--group-by", "date,week")
    assert "at most one of them a time" in capsys.readouterr().err


def test_an_output_below_a_file_is_one_line_and_exit_1(config, tmp_path, capsys):
    blocker = tmp_path / "plain-file"
    blocker.write_text("")
    target = blocker / "x.csv"
    assert run(config, "log", "--from", "2026-11-01", "--to", "2026-11-30", "--output", str(target)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: cannot write --output {target}: ")
