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
