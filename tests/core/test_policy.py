from __future__ import annotations

import pytest

from connector.core.errors import ConfigError
from connector.core.model import Channel, Person, Priority, Status
from tests.support.engine_helpers import CALENDARS, agent, customer, load_settings, policy_from, t, ticket

LEVELS = (
    CALENDARS
    + """
[connector]
default_level = "Standard"
[[levels]]
name = "Standard"
calendar = "always"
first_reply = "4h"
[[levels]]
name = "Gold"
calendar = "always"
first_reply = "1h"
[[levels]]
name = "Platinum"
calendar = "always"
first_reply = "15m"
"""
)


def level_of(rules: str, tk, messages=(), now=None, base=LEVELS):
    policy = policy_from(base + rules)
    level = policy.level_for(tk, list(messages), now or t(2, 12))
    return level.name if level else None


def test_the_seeds_example_urgent_tag():
    rules = """
[[levels]]
name = "Urgent SLA"
calendar = "always"
first_reply = "1h"
next_reply = "30m"
[[rules]]
name = "Urgent tag"
when = { field = "tags", op = "contains", value = "URGENT" }
set_level = "Urgent SLA"
stop = true
[[rules]]
name = "everything else is gold"
when = { field = "status", op = "is_set" }
set_level = "Gold"
"""
    assert level_of(rules, ticket(t(2, 10), tags=frozenset({"urgent"}))) == "Urgent SLA"
    assert level_of(rules, ticket(t(2, 10), tags=frozenset({"billing"}))) == "Gold"


def test_later_matching_rules_replace_the_level_unless_a_rule_stops():
    rules = """
[[rules]]
name = "email is gold"
when = { field = "channel", op = "equals", value = "email" }
set_level = "Gold"
[[rules]]
name = "acme is platinum"
when = { field = "organization", op = "equals", value = "ACME" }
set_level = "Platinum"
"""
    assert level_of(rules, ticket(t(2, 10), organization="acme")) == "Platinum"
    stopping = rules.replace('set_level = "Gold"', 'set_level = "Gold"\nstop = true')
    assert level_of(stopping, ticket(t(2, 10), organization="acme")) == "Gold"
    inactive = rules.replace('name = "acme is platinum"', 'name = "acme is platinum"\nactive = false')
    assert level_of(inactive, ticket(t(2, 10), organization="acme")) == "Gold"


def test_nested_any_and_all():
    rules = """
[[rules]]
name = "vip on the web or by phone"
set_level = "Platinum"
[rules.when]
all = [
  { field = "requester", op = "matches", value = "@(vip|board)\\\\.example$" },
  { any = [ { field = "channel", op = "in", value = ["web", "phone"] },
            { field = "priority", op = "equals", value = "urgent" } ] },
]
"""
    vip = Person("Ann", "ann@vip.example")
    assert level_of(rules, ticket(t(2, 10), requester=vip, channel=Channel.WEB)) == "Platinum"
    assert level_of(rules, ticket(t(2, 10), requester=vip, channel=Channel.EMAIL)) == "Standard"
    assert level_of(rules, ticket(t(2, 10), requester=vip, priority=Priority(4, "P1"))) == "Platinum"
    assert (
        level_of(rules, ticket(t(2, 10), requester=Person("Bob", "bob@other.example"), channel=Channel.WEB))
        == "Standard"
    )


def test_custom_fields_and_negations():
    rules = """
[[rules]]
name = "contract tier"
when = { all = [ { field = "custom.tier", op = "equals", value = "gold" },
                 { field = "department", op = "not_in", value = ["Sales"] },
                 { field = "tags", op = "not_contains", value = "spam" } ] }
set_level = "Gold"
"""
    assert level_of(rules, ticket(t(2, 10), custom={"tier": "Gold"}, department="Support")) == "Gold"
    assert level_of(rules, ticket(t(2, 10), custom={"tier": "Gold"}, department="Sales")) == "Standard"
    assert level_of(rules, ticket(t(2, 10), custom={"tier": "Gold"}, tags=frozenset({"spam"}))) == "Standard"
    assert level_of(rules, ticket(t(2, 10), custom={})) == "Standard"


def test_times_last_message_and_empty_fields():
    rules = """
[[rules]]
name = "old and waiting on us"
when = { all = [ { field = "created", op = "older_than", value = "2d" },
                 { field = "last_message_by", op = "equals", value = "customer" },
                 { field = "assignee", op = "is_empty" },
                 { field = "created", op = "after", value = 2026-10-01 } ] }
set_level = "Platinum"
"""
    old = ticket(t(2, 10))
    assert level_of(rules, old, [customer(t(2, 10))], now=t(5, 10)) == "Platinum"
    assert level_of(rules, old, [customer(t(2, 10))], now=t(3, 10)) == "Standard"
    assert level_of(rules, old, [customer(t(2, 10)), agent(t(2, 11))], now=t(5, 10)) == "Standard"
    assert level_of(rules, ticket(t(2, 10), assignee="joe"), [customer(t(2, 10))], now=t(5, 10)) == "Standard"
    # the same instant: the host's numbering decides, in whatever order the messages come
    same_second = [customer(t(2, 11), "10"), agent(t(2, 11), "9")]
    assert level_of(rules, old, same_second, now=t(5, 10)) == "Platinum"
    assert level_of(rules, old, same_second[::-1], now=t(5, 10)) == "Platinum"


def test_status_matches_the_normalized_or_the_host_name():
    rules = """
[[rules]]
name = "waiting"
when = { field = "status", op = "equals", value = "waiting for parts" }
set_level = "Gold"
"""
    tk = ticket(t(2, 10), status=Status.PENDING, raw_status="Waiting for parts")
    assert level_of(rules, tk) == "Gold"


def test_no_match_and_no_default_means_no_level():
    base = LEVELS.replace('default_level = "Standard"\n', "")
    rules = '[[rules]]\nname = "r"\nwhen = { field = "tags", op = "contains", value = "x" }\nset_level = "Gold"\n'
    assert level_of(rules, ticket(t(2, 10)), base=base) is None


def test_a_bad_regex_or_a_time_operator_on_text_is_a_config_error():
    with pytest.raises(ConfigError, match=r"rules\[0\]\.when: value '\[' is not a valid regular expression"):
        load_settings(
            LEVELS
            + '[[rules]]\nname = "r"\nwhen = { field = "title", op = "matches", value = "[" }\n'.replace(
                '"title"', '"referrer_url"'
            )
        )
    with pytest.raises(ConfigError, match=r"op 'older_than' compares times"):
        load_settings(LEVELS + '[[rules]]\nname = "r"\nwhen = { field = "tags", op = "older_than", value = "1d" }\n')
