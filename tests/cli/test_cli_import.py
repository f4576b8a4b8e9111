"""`sla-connector import zammad`: Zammad's calendars and SLAs, shaped as the API answers them,
become valid connector config; what has no equivalent is a comment, never dropped."""

from __future__ import annotations

import tomllib

from connector.cli.imports import zammad_toml
from connector.cli.main import main
from tests.support.zammad_server import PRIORITIES, TOKEN, ZammadServer

CALENDARS = [
    {
        "id": 1,
        "name": "EU 1",
        "timezone": "Europe/Berlin",
        "default": True,
        "ical_url": None,
        "business_hours": {
            "mon": {"active": True, "timeframes": [["09:00", "12:00"], ["13:00", "17:00"]]},
            "tue": {"active": True, "timeframes": [["09:00", "23:59"]]},
            "sat": {"active": False, "timeframes": [["08:00", "17:00"]]},
        },
        "public_holidays": {
            "2026-11-01": {"active": True, "summary": "All Saints"},
            "2026-12-25": {"active": True, "summary": "Christmas", "recurring": True},
            "2026-09-23": {"active": False, "summary": "off"},
            "2026-09-24": {"removed": False},
        },
    }
]
SLAS = [
    {
        "id": 2,
        "name": "Gold",
        "calendar_id": 1,
        "first_response_time": 120,
        "response_time": None,
        "update_time": 240,
        "solution_time": 480,
        "condition": {
            "ticket.priority_id": {"operator": "is", "value": ["3"]},
            "ticket.group_id": {"operator": "is", "value": ["2"]},
            "article.subject": {"operator": "contains", "value": "urgent"},
        },
        "created_at": "2021-11-10T12:54:39.368Z",
    },
    {"id": 3, "name": "Basic", "calendar_id": 99, "first_response_time": 480, "solution_time": 0, "condition": {}},
]
GROUPS = [{"id": 1, "name": "Users"}, {"id": 2, "name": "Support"}]


def test_calendars_slas_and_conditions_translate_and_the_rest_is_commented():
    text = zammad_toml(CALENDARS, SLAS, PRIORITIES, GROUPS)
    data = tomllib.loads(text)
    (calendar,) = data["calendars"]
    assert calendar["timezone"] == "Europe/Berlin"
    assert calendar["hours"] == {"mon": ["09:00-12:00", "13:00-17:00"], "tue": ["09:00-24:00"]}
    assert [d.isoformat() for d in calendar["holidays"]] == [
        "2026-11-01",
        "2026-12-25",
        "2027-12-25",
        "2028-12-25",
        "2029-12-25",
    ]
    basic, gold = data["levels"]
    assert gold == {
        "name": "Gold",
        "calendar": "EU 1",
        "first_reply": "120m",
        "resolution": "480m",
        "next_reply": "240m",
    }
    assert basic == {"name": "Basic", "calendar": "EU 1", "first_reply": "480m"}
    (rule,) = data["rules"]
    assert rule["when"] == {
        "all": [
            {"field": "priority", "op": "in", "value": ["high"]},
            {"field": "department", "op": "in", "value": ["Support"]},
        ]
    }
    assert rule["set_level"] == "Gold" and rule["stop"] is True
    assert '# not translated: article.subject contains ["urgent"]: no equivalent' in text
    assert '# default_level = "Basic"' in text and "update_time (between agent updates)" in text


def test_the_imported_toml_is_a_valid_config(write_config, tmp_path):
    from connector.config.settings import load_config

    text = zammad_toml(CALENDARS, SLAS, PRIORITIES, GROUPS)
    settings = load_config(write_config(text))
    assert [level.name for level in settings.levels] == ["Basic", "Gold"]


def test_the_command_reads_the_source_and_prints_toml(write_config, capsys, tmp_path, monkeypatch):
    server = ZammadServer().start()
    try:
        server.calendars, server.slas = CALENDARS, SLAS
        monkeypatch.setenv("SLA_CONNECTOR__CONNECTOR__DATABASE", str(tmp_path / "sla.db"))
        path = write_config(f'[[zammad]]\nname = "eu"\nurl = "{server.url}"\ntoken = "{TOKEN}"\n')
        assert main(["--config", str(path), "import", "zammad", "--source", "eu"]) == 0
        assert tomllib.loads(capsys.readouterr().out)["levels"][1]["name"] == "Gold"
        assert main(["--config", str(path), "import", "zammad", "--source", "nope"]) == 2
    finally:
        server.stop()


def test_check_and_a_sync_cycle_on_two_zammad_instances(write_config, capsys, tmp_path, monkeypatch):
    from tests.support.engine_helpers import DEFAULT_POLICY

    servers = [ZammadServer().start(), ZammadServer(field_search=False).start()]
    try:
        for server in servers:
            server.add_ticket("Printer broken")
        monkeypatch.setenv("SLA_CONNECTOR__CONNECTOR__DATABASE", str(tmp_path / "sla.db"))
        text = DEFAULT_POLICY + "".join(
            f'\n[[zammad]]\nname = "{name}"\nurl = "{server.url}"\ntoken = "{TOKEN}"\nrequests_per_second = 1000\n'
            for name, server in zip(("eu", "us"), servers)
        )
        path = write_config(text)
        assert main(["--config", str(path), "check"]) == 0
        out = capsys.readouterr().out
        assert "source eu" in out and "search: field," in out and "search: condition," in out
        assert main(["--config", str(path), "sync", "--once"]) == 0
        assert all(server.count("GET", "by_ticket") == 1 for server in servers)
    finally:
        for server in servers:
            server.stop()


def test_each_instance_takes_its_own_token_from_the_environment_and_check_names_tag_rights(
    write_config, capsys, caplog, tmp_path, monkeypatch
):
    from tests.support.engine_helpers import DEFAULT_POLICY

    servers = [ZammadServer().start(), ZammadServer().start()]
    try:
        for server, token in zip(servers, ("s3cret-acme", "s3cret-globex")):
            server.tokens = {token: server.tokens.pop(TOKEN)}
        servers[1].tag_new = False  # the second one lets only admins create tags
        servers[1].create_tag("sla-warning")
        monkeypatch.setenv("SLA_CONNECTOR__CONNECTOR__DATABASE", str(tmp_path / "sla.db"))
        path = write_config(
            DEFAULT_POLICY
            + "".join(
                f'\n[[zammad]]\nname = "{name}"\nurl = "{server.url}"\nrequests_per_second = 1000\n'
                for name, server in zip(("acme", "globex-eu"), servers)
            )
        )
        monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__ACME__TOKEN", "s3cret-acme")
        monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__GLOBEX_EU__TOKEN", "s3cret-globex")
        assert main(["--config", str(path), "check"]) == 0
        acme, globex = [line for line in capsys.readouterr().out.splitlines() if "source " in line]
        # check cannot read the admin setting (admins only): a tag that does not exist yet is named
        assert acme.startswith("ok") and "tags: sla-breached, sla-warning do not exist yet" in acme
        assert globex.startswith("ok") and "tags: sla-breached do not exist yet and the token lacks admin.tag" in globex

        monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__GLOBEX_EU__TOKEN", "s3cret-wrong")
        assert main(["--config", str(path), "--log-level", "debug", "check"]) == 1
        out = capsys.readouterr()
        assert "FAIL" in out.out and "HTTP 401 Can't find User for Token" in out.out
        assert "s3cret" not in out.out + out.err + caplog.text
    finally:
        for server in servers:
            server.stop()
