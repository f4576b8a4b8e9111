from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config.example.toml"


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config file into tmp_path and return its path."""

    def write(text: str, name: str = "config.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def example_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the example config's database into tmp_path; return the database path."""
    database = tmp_path / "sla.db"
    monkeypatch.setenv("SLA_CONNECTOR__CONNECTOR__DATABASE", str(database))
    return database


@pytest.fixture
def store(tmp_path: Path):
    """An empty, migrated store in tmp_path."""
    from connector.store.database import Store

    return Store.open(tmp_path / "sla.db")


@pytest.fixture(scope="session")
def dovecot():
    """A real Dovecot on 127.0.0.1 for the whole run (scripts/test.sh installs it when missing)."""
    from tests.support.dovecot import BINARY, Dovecot

    if not Path(BINARY).exists():
        pytest.fail(f"{BINARY} is missing: run the tests with scripts/test.sh, which installs dovecot-imapd")
    server = Dovecot().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that can refuse chosen recipients."""
    from tests.support.smtp_sink import SmtpSink

    sink = SmtpSink().start()
    yield sink
    sink.stop()
