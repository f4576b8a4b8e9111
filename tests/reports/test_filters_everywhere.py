"""Every filter, with a value, empty or `(none)`, in every report and under every group-by, gives
what a plain reading of the tables gives: the records recomputed here in Python from rows read
with sqlite3, by the README's rules, without the reports' SQL."""

from __future__ import annotations

import json
import random
import sqlite3
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connector.cli.main import main
from connector.reports.queries import NONE_LABEL, Filters, Reports, _compliance_row
from connector.store.database import Store
from tests.reports.report_store import add_record, add_ticket
from tests.support.engine_helpers import CALENDARS, load_settings

NOW = datetime(2026, 12, 5, tzinfo=UTC)
ZONE = ZoneInfo("Pacific/Auckland")
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))
CONFIG = (
    CALENDARS
    + """
[connector]
report_timezone = "Pacific/Auckland"

[[levels]]
name = "Standard"
calendar = "always"
first_reply = "1h"

[[levels]]
name = "Gold"
calendar = "always"
first_reply = "1h"

[[contracts]]
customer = "Doctors"
organizations = ["ÄRZTE eG"]
domains = ["doc.example"]
monthly_fee = "1000.00"
currency = "EUR"
"""
)
# what each ticket's fields are drawn from: missing, empty, and real values
FIELDS = {
    "department": [None, "", "Support", "Sales"],
    "assignee": [None, "", "ann", "bob"],
    "channel": [None, "", "email", "chat"],
    "priority_name": [None, "", "high", "low"],
    "organization": [None, "", "Ärzte eG", "Other Org"],
    "requester_email": [None, "", "u@beta.example", "v@doc.example", '"a@b"@gamma.example'],
}
TAGS = [[], [""], ["vip"], ["vip", "eu"], ["eu"]]
LEVELS = [None, "", "Standard", "Gold"]
METRICS = ["first_reply", "next_reply", "resolution"]
STATUSES = ["met", "met", "breached", "running", "running", "paused", "cancelled"]
# Filters' field -> the ticket column it reads (None: the record's own field)
TICKET_FIELD = {"department": "department", "agent": "assignee", "channel": "channel", "priority": "priority_name"}
VALUES = {
    "department": ["Support"],
    "agent": ["ann"],
    "channel": ["chat"],
    "priority": ["high"],
    "tag": ["vip"],
    "level": ["Gold"],
    "metric": ["next_reply"],
    "customer": ["Doctors", "ärzte eg", "beta.example", "Other Org"],
}
FILTERS = [(None, None)] + [
    (name, value)
    for name, real in VALUES.items()
    for value in [*real, "", NONE_LABEL]
    if (name, value) != ("metric", "")
]
# the customer filter's names, resolved by the README's rule (a contract by its name or one of its
# organizations; else an organization or a domain)
CUSTOMER_NAMES = {"doctors": "Doctors", "ärzte eg": "Doctors", "beta.example": "beta.example", "other org": "Other Org"}
GROUPS = [
    ("date",),
    ("week",),
    ("month",),
    ("department",),
    ("agent",),
    ("level",),
    ("metric",),
    ("customer",),
    ("channel",),
    ("priority",),
    ("tag",),
    ("department", "week"),
    ("month", "customer"),
    ("tag", "agent"),
    ("metric", "level"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A store of tickets drawn from every kind of value, and the raw rows read back with sqlite3."""
    store = Store.open(tmp_path_factory.mktemp("filters") / "sla.db")
    rng = random.Random(15)
    for ident in range(1, 121):
        fields = {name: rng.choice(values) for name, values in FIELDS.items()}
        add_ticket(store, ident, tags=rng.choice(TAGS), **fields)
        for seq in range(rng.randrange(1, 4)):
            start = datetime(2026, 10, 29, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 40 * 24))
            due = start + timedelta(hours=rng.choice([1, 8, 30]))
            status = rng.choice(STATUSES)
            stopped = start + timedelta(hours=rng.randrange(0, 40)) if status in ("met", "breached") else None
            business = timedelta(microseconds=rng.randrange(1, 10**10))
            add_record(
                store, ident, seq, status, start, due, stopped, business, rng.choice(METRICS), rng.choice(LEVELS)
            )
    raw = sqlite3.connect(store.path)
    raw.row_factory = sqlite3.Row
    tickets = {row["id"]: dict(row) for row in raw.execute("SELECT * FROM tickets")}
    records = [dict(row) for row in raw.execute("SELECT * FROM sla_records")]
    raw.close()
    for record in records:
        record["ticket"] = tickets[record["ticket_id"]]
    return Reports(store, load_settings(CONFIG), NOW), records, store.path


def empty(value) -> bool:
    return value is None or value == ""


def customer_of(ticket) -> str | None:
    organization, email = ticket["organization"] or None, ticket["requester_email"]
    domain = email.rsplit("@", 1)[1].casefold() if email and "@" in email else None
    if (organization and organization.casefold() == "ärzte eg") or domain == "doc.example":
        return "Doctors"
    return organization or domain or None


def tags_of(ticket) -> list[str | None]:
    tags = json.loads(ticket["tags"])
    return [tag or None for tag in tags] or [None]


def passes(record, name: str | None, value: str | None) -> bool:
    """Does the record pass the filter, by the README's rule: an empty value or `(none)` selects
    the records whose field is empty or missing."""
    if name is None:
        return True
    ticket = record["ticket"]
    none = value in ("", NONE_LABEL)
    if name == "customer":
        found = customer_of(ticket)
        return found is None if none else found == CUSTOMER_NAMES[value.casefold()]
    if name == "tag":
        return (None in tags_of(ticket)) if none else value in tags_of(ticket)
    field = ticket[TICKET_FIELD[name]] if name in TICKET_FIELD else record[name]
    return empty(field) if none else field == value


def outcome(record) -> tuple[str, datetime] | None:
    """met on the day it stopped; failed on the day it became due; else not counted."""
    if record["status"] == "met":
        return "met", datetime.fromisoformat(record["stopped_at"])
    due = datetime.fromisoformat(record["due_at"])
    if record["status"] == "breached" or (record["status"] == "running" and due <= NOW):
        return "failed", due
    return None


def labels(record, group: str, decided: datetime) -> list[str]:
    day = decided.astimezone(ZONE).date()
    ticket = record["ticket"]
    if group == "date":
        found = [day.isoformat()]
    elif group == "week":
        year, week, _ = day.isocalendar()
        found = [f"{year}-W{week:02d}"]
    elif group == "month":
        found = [f"{day:%Y-%m}"]
    elif group == "customer":
        found = [customer_of(ticket)]
    elif group == "tag":
        found = tags_of(ticket)
    elif group in TICKET_FIELD:
        found = [ticket[TICKET_FIELD[group]] or None]
    else:
        found = [record[group] or None]
    return [NONE_LABEL if label is None else label for label in found]


def in_november(moment: datetime) -> bool:
    return NOVEMBER[0] <= moment.astimezone(ZONE).date() <= NOVEMBER[1]


def filters_of(name, value) -> Filters:
    return Filters(start=NOVEMBER[0], end=NOVEMBER[1], **({name: value} if name else {}))


@pytest.mark.parametrize("groups", GROUPS, ids="+".join)
@pytest.mark.parametrize(("name", "value"), FILTERS, ids=str)
def test_compliance_filtered_and_grouped_is_the_plain_recount(world, name, value, groups):
    reports, records, _ = world
    expected: dict[tuple, list] = {}
    for record in records:
        decided = outcome(record)
        if decided is None or not in_november(decided[1]) or not passes(record, name, value):
            continue
        keys = [[]]
        for group in groups:
            keys = [[*key, label] for key in keys for label in labels(record, group, decided[1])]
        for key in keys:
            figures = expected.setdefault(tuple(key), [0, None, 0, None])
            slot = 0 if decided[0] == "met" else 2
            figures[slot] += 1
            business = timedelta(microseconds=record["business_us"])
            figures[slot + 1] = business if figures[slot + 1] is None else max(figures[slot + 1], business)
    table = reports.compliance(filters_of(name, value), groups)
    got = {tuple(row[: len(groups)]): [row[len(groups)], row[len(groups) + 2], row[-5], row[-3]] for row in table.rows}
    assert got == expected
    if name is None:
        assert len(expected) > 1 or groups == ("month",)  # rich enough to tell groups apart


@pytest.mark.parametrize(("name", "value"), [*FILTERS, ("status", "paused"), ("status", "")], ids=str)
def test_the_log_filtered_is_the_plain_selection(world, name, value):
    reports, records, _ = world
    expected = Counter(
        (str(1000 + r["ticket_id"]), r["metric"], r["seq"])
        for r in records
        if in_november(datetime.fromisoformat(r["start_at"])) and passes(r, name, value)
    )
    for sort in (None, ["remaining"], ["agent", "due"]):
        got = Counter((row[2], row[7], row[8]) for row in reports.log(filters_of(name, value), sort).rows)
        assert got == expected
    assert expected or value not in (None, "Support")


@pytest.mark.parametrize(("name", "value"), FILTERS, ids=str)
def test_the_queue_filtered_is_the_plain_selection(world, name, value):
    reports, records, _ = world
    expected = Counter(
        (str(1000 + r["ticket_id"]), r["metric"], r["level"])
        for r in records
        if r["stopped_at"] is None and r["status"] in ("running", "paused", "breached") and passes(r, name, value)
    )
    got = Counter((row[0], row[5], row[4]) for row in reports.due(Filters(**({name: value} if name else {}))).rows)
    assert got == expected


@pytest.mark.parametrize("customer", ["Doctors", "ärzte eg", "DOC.EXAMPLE"])
def test_credits_and_breaches_of_a_contract_are_the_plain_recount(world, customer):
    reports, records, _ = world
    counted = [
        (record, decided)
        for record in records
        if (decided := outcome(record)) and in_november(decided[1]) and customer_of(record["ticket"]) == "Doctors"
    ]
    [row] = reports.credits("2026-11", customer).rows
    assert row[0] == "Doctors"
    assert row[2:5] == [len(counted), sum(d[0] == "met" for _, d in counted), sum(d[0] == "failed" for _, d in counted)]
    failed = Counter((str(1000 + r["ticket_id"]), r["metric"], r["seq"]) for r, d in counted if d[0] == "failed")
    assert failed and Counter((row[0], row[4], row[5]) for row in reports.breaches("2026-11", customer).rows) == failed


@pytest.mark.parametrize("customer", ["", NONE_LABEL, "beta.example"])
def test_credits_and_breaches_refuse_a_customer_without_a_contract(world, customer):
    reports, _, _ = world
    for run in (lambda: reports.credits("2026-11", customer), lambda: reports.breaches("2026-11", customer)):
        with pytest.raises(ValueError, match=r"--customer .*\(contracts: 'Doctors'\)"):
            run()


@pytest.mark.parametrize("option", ["--agent", "--department", "--customer", "--tag", "--level", "--priority"])
def test_an_empty_filter_on_the_command_line_selects_the_none_group(world, write_config, capsys, option):
    _, records, path = world
    config = write_config(CONFIG.replace("[connector]", f'[connector]\ndatabase = "{path}"'))
    name = {"--agent": "agent"}.get(option, option[2:])
    days = ["--from", "2026-11-01", "--to", "2026-11-30"]
    for value in ("", NONE_LABEL):
        command = ["--config", str(config), "report", "compliance", *days, "--group-by", "department,week"]
        assert main([*command, option, value, "--format", "json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        expected = Counter(
            outcome(r)[0] for r in records if outcome(r) and in_november(outcome(r)[1]) and passes(r, name, value)
        )
        assert expected["met"] and expected["failed"]
        assert sum(row["met"] for row in rows) == expected["met"]
        assert sum(row["failed"] for row in rows) == expected["failed"]
        assert main(["--config", str(config), "report", "log", *days, option, value, "--format", "json"]) == 0
        logged = json.loads(capsys.readouterr().out)
        assert len(logged) == sum(
            1 for r in records if in_november(datetime.fromisoformat(r["start_at"])) and passes(r, name, value)
        )


@pytest.mark.parametrize("groups", [g for g in GROUPS if not set(g) & {"date", "week", "month"}], ids="+".join)
@pytest.mark.parametrize(("name", "value"), [(None, None), ("department", "Support"), ("tag", ""), ("level", "Gold")])
def test_both_ways_of_summing_give_what_the_join_of_every_record_gives(world, name, value, groups):
    reports, _, _ = world
    filters = filters_of(name, value)
    joined = [_compliance_row(row) for row in reports._compliance_by_key_joined(filters, list(groups))]
    assert joined
    for whole in (True, False):
        rows = reports._compliance_by_key_mapped(filters, list(groups), whole=whole)
        assert [_compliance_row(row) for row in rows] == joined
