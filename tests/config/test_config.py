from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from connector.cli.main import main
from connector.config.settings import Settings, config_path, load_config
from connector.core.errors import ConfigError
from tests.conftest import EXAMPLE_CONFIG

MINIMAL = """
[[calendars]]
name = "office"
timezone = "Europe/Berlin"
hours = { mon = ["09:00-17:00"] }

[[levels]]
name = "Standard"
calendar = "office"
first_reply = "4h"

[email]
maildir = "mail"
"""


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def test_example_config_loads(example_env):
    settings = load_config(EXAMPLE_CONFIG)
    assert settings.connector.database == example_env
    assert settings.level("Standard").first_reply == timedelta(hours=4)
    assert settings.level("Standard").by_priority["high"].first_reply == timedelta(hours=1)
    assert settings.calendar("office").hours["fri"] == [("09:00", "12:30"), ("13:00", "16:00")]
    assert settings.contracts[0].monthly_fee == Decimal("2500.00")
    assert [s.name for s in settings.sources()] == ["email"]
    # relative paths are resolved against the config file's folder, not the working directory
    assert settings.email.maildir == EXAMPLE_CONFIG.parent / "examples" / "mailbox"


def test_the_urgent_example_is_a_few_lines_of_toml(write_config):
    path = write_config(
        MINIMAL
        + """
[[levels]]
name = "Urgent SLA"
calendar = "office"
first_reply = "1h"
next_reply = "30m"

[[rules]]
name = "Urgent tag"
when = { field = "tags", op = "contains", value = "URGENT" }
set_level = "Urgent SLA"
stop = true
"""
    )
    settings = load_config(path)
    assert settings.rules[0].set_level == "Urgent SLA" and settings.rules[0].stop


def test_bad_duration_names_file_key_and_value(write_config):
    path = write_config(MINIMAL.replace('first_reply = "4h"', 'first_reply = "1hr"'))
    assert problems_of(path) == [f"{path}: levels[0].first_reply: '1hr' is not a duration (use e.g. 45m, 1h30m, 2d)"]


def test_every_problem_is_reported_at_once(write_config):
    path = write_config(
        MINIMAL.replace('first_reply = "4h"', 'first_reply = "1hr"').replace(
            'timezone = "Europe/Berlin"', 'timezone = "Europe/Brlin"'
        )
        + "\n[connector]\npoll_interval = 5\n"
    )
    problems = problems_of(path)
    assert len(problems) == 3
    assert any("calendars[0].timezone: 'Europe/Brlin' is not a time zone" in p for p in problems)
    assert any("connector.poll_interval: 5 is not a duration" in p for p in problems)


def test_wrong_type(write_config):
    path = write_config(MINIMAL + '\n[connector]\ndry_run = "sometimes"\n')
    assert problems_of(path) == [
        f"{path}: connector.dry_run: 'sometimes': input should be a valid boolean, unable to interpret input"
    ]


def test_unknown_key_even_inside_a_section(write_config):
    path = write_config(MINIMAL + '\n[connector]\ndatabse = "x.db"\n')
    assert problems_of(path) == [
        f"{path}: connector.databse: unknown key (check the spelling against config.example.toml)"
    ]
    path = write_config(MINIMAL.replace('maildir = "mail"', 'maildir = "mail"\nagent_adresses = []'))
    assert problems_of(path) == [
        f"{path}: email.agent_adresses: unknown key (check the spelling against config.example.toml)"
    ]


def test_missing_required_key(write_config):
    path = write_config(MINIMAL.replace('timezone = "Europe/Berlin"\n', ""))
    assert problems_of(path) == [f"{path}: calendars[0].timezone: missing (this key is required)"]


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (
            'calendar = "office"',
            'calendar = "ofice"',
            "levels[0].calendar: unknown calendar 'ofice' (defined: 'office')",
        ),
        (
            "[email]",
            '[connector]\ndefault_level = "Gold"\n[email]',
            "connector.default_level: unknown level 'Gold' (defined: 'Standard')",
        ),
        (
            "[email]",
            '[[rules]]\nname = "r"\nwhen = { field = "status", op = "equals", value = "new" }\n'
            'set_level = "Gold"\n[email]',
            "rules[0].set_level: unknown level 'Gold' (defined: 'Standard')",
        ),
        (
            "[email]",
            '[[contracts]]\ncustomer = "ACME"\ndomains = ["acme.example"]\nlevel = "Gold"\n'
            'monthly_fee = "10"\ncurrency = "EUR"\n[email]',
            "contracts[0].level: unknown level 'Gold' (defined: 'Standard')",
        ),
        (
            "[email]",
            '[[levels]]\nname = "Standard"\ncalendar = "office"\n[email]',
            "levels[1].name: 'Standard' is already used by levels[0]",
        ),
        (
            "[email]",
            '[[escalation.steps]]\nat = "-20%"\n[[escalation.steps]]\nat = " -20% "\nnotify = ["lead"]\n[email]',
            "escalation.steps[1].at: '-20%' is already used by escalation.steps[0]",
        ),
        (
            "[email]",
            '[[levels]]\nname = "Gold"\ncalendar = "office"\n[[levels.steps]]\nat = "0"\n[[levels.steps]]\nat = "0"\n'
            "[email]",
            "levels[1].steps[1].at: '0' is already used by levels[1].steps[0]",
        ),
    ],
)
def test_dangling_and_duplicate_references(write_config, old, new, expected):
    path = write_config(MINIMAL.replace(old, new))
    assert problems_of(path) == [f"{path}: {expected}"]


@pytest.mark.parametrize("name", ["a\\u0000b", "two\\nlines", "   "])
def test_a_levels_name_is_a_line_of_text(write_config, name):
    # it is written into reports, CSV lines and SQL
    path = write_config(MINIMAL.replace("[email]", f'[[levels]]\nname = "{name}"\ncalendar = "office"\n[email]'))
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: levels[1].name: a level's name is a line of text, not ")


@pytest.mark.parametrize(
    "snippet, expected",
    [
        ('hours = { mon = ["9-17"] }', "calendars[0].hours.mon[0]: '9-17' is not an interval"),
        ('hours = { mon = ["09:00-09:00"] }', "calendars[0].hours.mon[0]: '09:00-09:00' is an empty interval"),
        ('hours = { monday = ["09:00-17:00"] }', "calendars[0].hours.monday: 'monday': input should be 'mon', 'tue'"),
        ('hours = { mon = ["09:00-17:00"] }\ncountry = "XX"', "calendars[0]: country 'XX' is not known"),
        (
            'hours = { mon = ["09:00-17:00"] }\ncountry = "DE"\nsubdivision = "ZZ"',
            "calendars[0]: subdivision 'ZZ' is not one of DE's",
        ),
    ],
)
def test_calendar_problems(write_config, snippet, expected):
    path = write_config(MINIMAL.replace('hours = { mon = ["09:00-17:00"] }', snippet))
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: {expected}")


def test_rule_problems(write_config):
    path = write_config(
        MINIMAL
        + """
[[rules]]
name = "bad regex"
when = { any = [ { field = "title", op = "matches", value = "x" }, { field = "tags", op = "matches", value = "(" } ] }
set_level = "Standard"
"""
    )
    problems = problems_of(path)
    assert any("rules[0].when.any[0]: field 'title' is not one of channel" in p for p in problems)
    assert any("rules[0].when.any[1]: value '(' is not a valid regular expression" in p for p in problems)


def test_unreadable_token_file(write_config, tmp_path):
    path = write_config(MINIMAL + '\n[zammad]\nurl = "http://127.0.0.1:1"\ntoken_file = "missing-token"\n')
    assert problems_of(path) == [
        f"{path}: zammad.token_file: cannot read '{tmp_path / 'missing-token'}': No such file or directory"
    ]


def test_token_from_file_and_environment_never_shown(write_config, tmp_path, monkeypatch):
    (tmp_path / "token").write_text("s3cret-from-file\n")
    path = write_config(MINIMAL + '\n[zammad]\nurl = "http://127.0.0.1:1"\ntoken_file = "token"\n')
    settings = load_config(path)
    assert settings.zammad.token.get_secret_value() == "s3cret-from-file"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())

    monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__TOKEN", "s3cret-from-env")
    path = write_config(MINIMAL + '\n[zammad]\nurl = "http://127.0.0.1:1"\n')
    assert load_config(path).zammad.token.get_secret_value() == "s3cret-from-env"


def test_environment_overrides_the_file_and_is_named_in_errors(write_config, monkeypatch):
    path = write_config(MINIMAL + '\n[connector]\npoll_interval = "5m"\n')
    monkeypatch.setenv("SLA_CONNECTOR__CONNECTOR__POLL_INTERVAL", "90s")
    assert load_config(path).connector.poll_interval == timedelta(seconds=90)
    monkeypatch.setenv("SLA_CONNECTOR__CONNECTOR__POLL_INTERVAL", "soon")
    assert problems_of(path) == [
        "$SLA_CONNECTOR__CONNECTOR__POLL_INTERVAL: connector.poll_interval: 'soon' is not a duration (use e.g. 45m, 1h30m, 2d)"
    ]


def test_toml_syntax_error_and_missing_file(write_config, tmp_path):
    path = write_config("[connector\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: not valid TOML:") and "line 1" in problem
    assert problems_of(tmp_path / "nope.toml") == [
        f"{tmp_path / 'nope.toml'}: no such config file (copy config.example.toml to start)"
    ]


def test_config_path_precedence(monkeypatch):
    monkeypatch.setenv("SLA_CONNECTOR_CONFIG", "/etc/sla/from-env.toml")
    assert config_path("given.toml") == Path("given.toml")
    assert config_path(None) == Path("/etc/sla/from-env.toml")
    monkeypatch.delenv("SLA_CONNECTOR_CONFIG")
    assert config_path(None) == Path("config.toml")


def test_broken_config_exits_with_status_2_and_one_line_per_problem(write_config, capsys):
    path = write_config(
        MINIMAL.replace('first_reply = "4h"', 'first_reply = "1hr"').replace(
            'calendar = "office"', 'calendar = "ofice"'
        )
    )
    assert main(["--config", str(path), "check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{path}: levels[0].first_reply: '1hr' is not a duration (use e.g. 45m, 1h30m, 2d)"]
    # once the field is right, the dangling reference is reported
    path = write_config(MINIMAL.replace('calendar = "office"', 'calendar = "ofice"'))
    assert main(["--config", str(path), "check"]) == 2
    assert "unknown calendar 'ofice'" in capsys.readouterr().err


def _field_names(model: type[BaseModel], seen: set[type]) -> set[str]:
    names: set[str] = set()
    if model in seen:
        return names
    seen.add(model)
    for name, field in model.model_fields.items():
        names.add(name)
        for inner in _models_in(field.annotation):
            names |= _field_names(inner, seen)
    return names


def _models_in(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def test_every_settings_field_is_documented_in_the_example():
    text = EXAMPLE_CONFIG.read_text()
    written = set(re.findall(r"\b([a-z_]+)\s*=", text))
    for table in re.findall(r"\[+([a-z_.]+)\]+", text):
        written |= set(table.split("."))
    missing = _field_names(Settings, set()) - written
    assert not missing, f"config.example.toml does not mention: {sorted(missing)}"


def test_several_zammad_instances_and_one_shared_smtp_section(write_config, tmp_path):
    path = write_config(
        MINIMAL
        + '\n[smtp]\nhost = "smtp.example.com"\nsender = "sla-bot@example.com"\n'
        + '\n[[zammad]]\nname = "eu"\nurl = "https://eu.zammad.example"\ntoken = "a"\n'
        + '\n[[zammad]]\nname = "us"\nurl = "https://us.zammad.example"\ntoken = "b"\n'
        + '[zammad.smtp]\nhost = "smtp.us.example"\nsender = "sla@us.example"\n'
    )
    settings = load_config(path)
    eu, us = [s for s in settings.sources() if s.kind == "zammad"]
    assert (eu.name, eu.smtp.host) == ("eu", "smtp.example.com")
    assert (us.name, us.smtp.host) == ("us", "smtp.us.example")
    assert settings.email.smtp.host == "smtp.example.com"  # the mailbox uses the shared one too


def test_two_zammad_instances_need_names_of_their_own(write_config):
    path = write_config(
        MINIMAL
        + '\n[[zammad]]\nurl = "https://eu.zammad.example"\ntoken = "a"\n'
        + '\n[[zammad]]\nurl = "https://us.zammad.example"\ntoken = "b"\n'
    )
    with pytest.raises(ConfigError, match=r"sources\[\d\]\.name: 'zammad' is already used"):
        load_config(path)


def test_overlapping_hours_are_an_error_naming_the_day(write_config):
    text = MINIMAL.replace('hours = { mon = ["09:00-17:00"] }', 'hours = { tue = ["09:00-13:00", "12:00-17:00"] }')
    [problem] = problems_of(write_config(text))
    assert "calendars[0]" in problem and 'hours.tue: "09:00-13:00" and "12:00-17:00" overlap' in problem


def test_hours_that_only_touch_and_a_night_shift_are_fine(write_config):
    text = MINIMAL.replace(
        'hours = { mon = ["09:00-17:00"] }', 'hours = { mon = ["09:00-12:00", "12:00-17:00", "22:00-06:00"] }'
    )
    assert load_config(write_config(text)).calendars[0].hours["mon"][2] == ("22:00", "06:00")


def test_a_calendar_without_hours_is_an_error_at_load(write_config):
    for hours in ("hours = {}", "hours = { mon = [] }"):
        [problem] = problems_of(write_config(MINIMAL.replace('hours = { mon = ["09:00-17:00"] }', hours)))
        assert "a calendar needs business hours" in problem and "calendars[0]" in problem


def test_targets_are_positive_and_polling_is_not_a_busy_loop(write_config):
    [problem] = problems_of(write_config(MINIMAL.replace('first_reply = "4h"', 'first_reply = "0"')))
    assert "levels[0].first_reply" in problem and "a target is a positive duration" in problem
    [problem] = problems_of(write_config('[connector]\npoll_interval = "0"\n' + MINIMAL))
    assert "connector.poll_interval" in problem and "at least 5 seconds" in problem
    [problem] = problems_of(write_config(MINIMAL.replace('maildir = "mail"', 'maildir = "mail"\npoll_interval = "1s"')))
    assert "email" in problem and "at least 5 seconds" in problem


def test_thousands_of_unknown_keys_are_fifty_lines_and_a_count(write_config):
    junk = "".join(f"junk{n} = 1\n" for n in range(2000))
    problems = problems_of(write_config(junk + MINIMAL))
    assert len(problems) == 51 and problems[-1] == "... and 1,950 more problems"


def test_an_empty_file_is_a_configuration_error_for_check_and_sync(write_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_config("")
    assert main(["--config", str(path), "check"]) == 2
    assert main(["--config", str(path), "sync", "--once"]) == 2


TWO_INSTANCES = (
    MINIMAL
    + '\n[[zammad]]\nname = "eu"\nurl = "https://eu.zammad.example"\ntoken_file = "eu-token"\n'
    + '\n[[zammad]]\nname = "us-east"\nurl = "https://us.zammad.example"\n'
)


def test_each_zammad_instance_takes_its_token_from_the_environment_by_name(write_config, tmp_path, monkeypatch):
    (tmp_path / "eu-token").write_text("s3cret-eu-file\n")
    path = write_config(TWO_INSTANCES)
    assert problems_of(path) == [
        f"{path}: zammad[1]: give token (better: $SLA_CONNECTOR__ZAMMAD__US_EAST__TOKEN) or token_file"
    ]

    monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__US_EAST__TOKEN", "s3cret-us-env")
    eu, us = load_config(path).zammad
    assert eu.token.get_secret_value() == "s3cret-eu-file" and us.token.get_secret_value() == "s3cret-us-env"

    # the environment overrides the file, token_file included; any key of an instance works
    monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__EU__TOKEN", "s3cret-eu-env")
    monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__EU__TIMEOUT", "7")
    monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__US_EAST__SMTP__HOST", "smtp.us.example")
    monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__US_EAST__SMTP__SENDER", "sla@us.example")
    eu, us = load_config(path).zammad
    assert (eu.token.get_secret_value(), eu.timeout, us.timeout) == ("s3cret-eu-env", 7.0, 30.0)
    assert (us.smtp.host, us.smtp.sender, eu.smtp) == ("smtp.us.example", "sla@us.example", None)
    assert "s3cret" not in repr(load_config(path)) and "s3cret" not in str(load_config(path).model_dump())


def test_an_instance_variable_naming_no_instance_is_an_error_that_never_shows_the_token(write_config, monkeypatch):
    path = write_config(TWO_INSTANCES.replace('name = "eu"', 'name = "eu"\ntoken = "t"').replace("token_file", "#"))
    monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__US_EAST__TOKEN", "s3cret-us-env")
    assert load_config(path).zammad[1].token.get_secret_value() == "s3cret-us-env"

    monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__USEAST__TOKEN", "s3cret-typo")
    [problem] = problems_of(path)
    assert problem.startswith("$SLA_CONNECTOR__ZAMMAD__USEAST__TOKEN: names no [[zammad]] instance")
    assert "EU, US_EAST" in problem and "s3cret" not in problem
    monkeypatch.delenv("SLA_CONNECTOR__ZAMMAD__USEAST__TOKEN")

    monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__TOKEN", "s3cret-which")  # the single-instance form
    [problem] = problems_of(path)
    assert problem.startswith("$SLA_CONNECTOR__ZAMMAD__TOKEN: names no [[zammad]] instance")
    assert "s3cret" not in problem
    monkeypatch.delenv("SLA_CONNECTOR__ZAMMAD__TOKEN")

    # a bad value from an instance's variable is named by that variable
    monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__US_EAST__TIMEOUT", "soon")
    [problem] = problems_of(path)
    assert problem.startswith("$SLA_CONNECTOR__ZAMMAD__US_EAST__TIMEOUT: zammad[1].timeout: 'soon'")


def test_one_zammad_section_takes_its_token_by_name_or_as_before(write_config, monkeypatch):
    path = write_config(MINIMAL + '\n[zammad]\nname = "acme"\nurl = "http://127.0.0.1:1"\n')
    monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__ACME__TOKEN", "s3cret-by-name")
    assert load_config(path).zammad.token.get_secret_value() == "s3cret-by-name"
    monkeypatch.delenv("SLA_CONNECTOR__ZAMMAD__ACME__TOKEN")
    monkeypatch.setenv("SLA_CONNECTOR__ZAMMAD__TOKEN", "s3cret-plain")
    assert load_config(path).zammad.token.get_secret_value() == "s3cret-plain"
