"""A fresh store answers with empty reports and a calm page; a missing one is 503, named."""

from __future__ import annotations

import requests

from connector.api.app import create_app
from connector.api.server import Server, bind
from connector.config.settings import load_config
from connector.store.database import Store
from tests.api.conftest import NOW
from tests.support.engine_helpers import CALENDARS


def serve(tmp_path, database):
    config = tmp_path / "config.toml"
    config.write_text(CALENDARS + f'[connector]\ndatabase = "{database}"\n')
    return Server(create_app(load_config(config), clock=lambda: NOW), bind("127.0.0.1", 0)).start()


def test_an_empty_store(tmp_path):
    Store.open(tmp_path / "sla.db").close()
    server = serve(tmp_path, tmp_path / "sla.db")
    try:
        page = requests.get(server.url + "/", timeout=10)
        assert page.status_code == 200 and "nothing is about to breach" in page.text
        assert page.text.count('class="bar none"') == 13
        assert requests.get(server.url + "/api/v1/reports/due", timeout=10).json() == {"rows": []}
        assert requests.get(server.url + "/api/v1/reports/due?format=csv", timeout=10).text.startswith("ticket,")
        assert requests.get(server.url + "/healthz", timeout=10).json() == {"status": "ok", "sources": []}
        assert requests.get(server.url + "/metrics", timeout=10).status_code == 200
    finally:
        server.stop()


def test_no_database_yet_is_503_naming_it(tmp_path):
    server = serve(tmp_path, tmp_path / "none.db")
    try:
        answer = requests.get(server.url + "/api/v1/reports/due", timeout=10)
        assert answer.status_code == 503
        assert "none.db" in answer.json()["detail"] and "sync --once" in answer.json()["detail"]
    finally:
        server.stop()
    assert not (tmp_path / "none.db").exists()  # read-only: not even created
