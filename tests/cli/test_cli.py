from __future__ import annotations

import re
import subprocess
import sys

import pytest
from sqlite_utils import Database

from connector.cli.main import build_parser, main
from connector.service.daemon import instance_lock
from connector.store.database import MIGRATIONS
from tests.conftest import EXAMPLE_CONFIG, ROOT


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert re.fullmatch(r"sla-connector \d+\.\d+\.\d+\n", capsys.readouterr().out)


def test_check_passes_on_the_example_config(example_env, capsys):
    assert main(["--config", str(EXAMPLE_CONFIG), "check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["ok", "ok", "ok"]
    assert f"schema version {len(list(MIGRATIONS.pending(Database(memory=True))))}" in lines[1]
    assert example_env.exists()


def test_check_fails_with_one_line_per_failed_check(write_config, tmp_path, capsys):
    path = write_config(f"""
[connector]
database = "{tmp_path}/missing-dir/sla.db"
[email]
maildir = "not-a-maildir"
""")
    assert main(["--config", str(path), "check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ok    config")
    assert out[1].startswith("FAIL  database") and "missing-dir" in out[1]
    assert out[2].startswith("FAIL  source email") and "is not a Maildir (missing cur, new, tmp/)" in out[2]


def test_check_reports_a_config_without_sources(write_config, capsys):
    path = write_config("")
    assert main(["--config", str(path), "check"]) == 2
    assert "FAIL  sources" in capsys.readouterr().out


@pytest.mark.parametrize("command", subcommands())
def test_every_subcommand_has_help_and_a_readme_mention(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert len(capsys.readouterr().out) > 200
    assert (
        f"sla-connector {command}" in (ROOT / "README.md").read_text()
        or f"sla-connector --config config.toml {command}" in (ROOT / "README.md").read_text()
    )


def test_status_lists_configured_sources(example_env, capsys):
    assert main(["--config", str(EXAMPLE_CONFIG), "status"]) == 0
    out = capsys.readouterr().out
    assert "email (email)" in out and "last success: never" in out


def test_status_shows_the_cycle_in_progress_and_why_writes_are_held(example_env, capsys):
    from connector.store.database import Store

    store = Store.open(example_env)
    with store.atomic():
        store.set_sync_state(
            "email",
            cycle_started_at="2026-11-02T10:00:00+00:00",
            cycle_phase="delivering",
            cycle_done=1200,
            cycle_total=3241,
            delivery_error="smtp: SMTP mail.example:587: login as bot refused (535)",
        )
    store.close()
    with instance_lock(example_env):  # a process serves the database: the cycle is running
        assert main(["--config", str(EXAMPLE_CONFIG), "status"]) == 0
    out = capsys.readouterr().out
    assert "now:          cycle started 2026-11-02T10:00:00+00:00, delivering, 1200 of 3241 writes done" in out
    assert "writes held:  smtp: SMTP mail.example:587: login as bot refused (535)" in out
    assert "interrupted" not in out
    # nobody holds the lock any more: the process that recorded the cycle is gone
    assert main(["--config", str(EXAMPLE_CONFIG), "status"]) == 0
    out = capsys.readouterr().out
    assert (
        "interrupted:  the cycle started 2026-11-02T10:00:00+00:00 stopped while delivering, 1200 of 3241 writes "
        "done; its process is gone" in out
    )
    assert "now:" not in out


def test_status_shows_an_open_circuit(example_env, capsys):
    from connector.store.database import Store
    from connector.store.outbox import Outbox

    store = Store.open(example_env)
    circuit = {"opened_at": "2026-11-02T10:00:00+00:00", "until": "2026-11-02T10:04:00+00:00", "wait": 240.0}
    Outbox(store).set_breakers("email", {"smtp": {**circuit, "error": "SMTP mail.example:587: TimeoutError"}})
    store.close()
    assert main(["--config", str(EXAMPLE_CONFIG), "status"]) == 0
    assert (
        "circuit open: smtp since 2026-11-02T10:00:00+00:00, next try after 2026-11-02T10:04:00+00:00 "
        "(last: SMTP mail.example:587: TimeoutError)" in capsys.readouterr().out
    )


def test_json_logs_are_one_object_per_line(example_env):
    code = (
        "import logging; from connector.service.logs import setup_logging; setup_logging('json'); "
        "logging.getLogger('sla_connector').warning('source %s failed', 'email')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import json

    entry = json.loads(result.stderr)
    assert entry["level"] == "warning" and entry["message"] == "source email failed"


def test_the_installed_command_runs():
    result = subprocess.run([sys.executable, "-m", "connector", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "check" in result.stdout
