"""No command ends with a Python traceback: on a broken store, a read-only folder, or an error
nobody foresaw, one line says what failed (the broken mail cache: tests/adapters/email)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLE_CONFIG, ROOT

# the module itself (connector.cli's `main` is the function)
cli_main = importlib.import_module("connector.cli.main")

COMMANDS = [
    ["check"],
    ["sync", "--once"],
    ["status"],
    ["outbox", "list"],
    ["report", "compliance", "--from", "2026-11-01", "--to", "2026-11-30"],
]


def run(args, env):
    return subprocess.run(
        [sys.executable, "-m", "connector", "--config", str(EXAMPLE_CONFIG), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
        timeout=120,
    )


@pytest.mark.parametrize("breakage", ["broken store", "read-only folder"])
def test_every_command_fails_in_one_line(tmp_path, breakage):
    database = tmp_path / "state" / "sla.db"
    database.parent.mkdir()
    if breakage == "broken store":
        database.write_bytes(b"this is not a database" * 100)
    else:
        os.chmod(database.parent, 0o500)
        if os.geteuid() == 0:  # root writes into read-only folders, but not into immutable ones
            made = subprocess.run(["chattr", "+i", str(database.parent)], capture_output=True)
            if made.returncode != 0:
                pytest.skip(f"root writes into read-only folders, and chattr +i failed: {made.stderr!r}")
    env = {"SLA_CONNECTOR__CONNECTOR__DATABASE": str(database)}
    try:
        for args in COMMANDS:
            result = run(args, env)
            assert "Traceback" not in result.stderr + result.stdout, (args, result.stderr)
            assert result.returncode in (1, 2), (args, result.returncode)
            assert "sla.db" in result.stderr + result.stdout, args  # the one line names the database
    finally:
        if breakage == "read-only folder" and os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(database.parent)], check=True)


def test_a_broken_mail_cache_is_one_warning_and_the_sync_goes_on(tmp_path):
    database = tmp_path / "sla.db"
    (tmp_path / "email-mail-cache.db").write_bytes(b"this is not a database" * 100)
    env = {"SLA_CONNECTOR__CONNECTOR__DATABASE": str(database)}
    synced = run(["sync", "--once"], env)
    assert synced.returncode == 0 and "Traceback" not in synced.stderr + synced.stdout, synced.stderr
    [line] = [line for line in synced.stderr.splitlines() if "mail cache" in line]
    assert "unreadable" in line and "rebuilding it from the mailbox" in line
    assert "tickets pulled" in synced.stdout and (tmp_path / "email-mail-cache.db.broken").exists()
    for args in COMMANDS:  # rebuilt: every command works, and says nothing of it any more
        result = run(args, env)
        assert result.returncode == 0 and "mail cache" not in result.stderr, (args, result.stderr)


def test_an_unforeseen_error_is_one_line_and_the_traceback_goes_to_the_debug_log(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("the disk said no")

    parser = cli_main.build_parser
    monkeypatch.setattr(
        cli_main,
        "build_parser",
        lambda: _with_handler(parser(), "check", broken),
    )
    assert cli_main.main(["check"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: check failed unexpectedly: RuntimeError: the disk said no (--log-level debug shows where)"
    ]
    assert cli_main.main(["--log-level", "debug", "check"]) == 1
    assert "Traceback" in capsys.readouterr().err  # asked for: the log line carries it


def _with_handler(parser, command, handler):
    parser._subparsers._group_actions[0].choices[command].set_defaults(handler=handler)
    return parser
