"""Credits exact to the contract: tiers on the exact ratio, one folding of names, ISO 4217
decimals, one contract per ticket, one `--customer` rule."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from connector.cli.main import main
from connector.core.errors import ConfigError
from connector.reports.customers import email_domain, overlaps
from connector.reports.queries import Filters, Reports
from connector.store.database import Store
from tests.reports.report_store import add_outcomes, add_ticket
from tests.support.engine_helpers import CALENDARS, load_settings

NOW = datetime(2026, 12, 5, tzinfo=UTC)
NOVEMBER = Filters(start=date(2026, 11, 1), end=date(2026, 11, 30))
BASE = (
    CALENDARS
    + """
[[levels]]
name = "Standard"
calendar = "always"
first_reply = "1h"
"""
)


def contract(customer, fee="1000.00", currency="EUR", extra="", **match):
    lines = [f'customer = "{customer}"', f'monthly_fee = "{fee}"', f'currency = "{currency}"']
    lines += [f"{key} = {value!r}".replace("'", '"') for key, value in match.items()]
    return "\n[[contracts]]\n" + "\n".join(lines) + "\n" + extra


def reports_for(tmp_path, text):
    store = Store.open(tmp_path / "sla.db")
    return store, (lambda: Reports(store, load_settings(BASE + text), NOW))


def credit_rows(reports, customer=None):
    return [list(r) for r in reports.credits("2026-11", customer).rows]


def test_the_tier_is_chosen_on_the_exact_ratio_not_the_rounded_percent(tmp_path):
    tiers = "tiers = [ { below = 99.9, credit_percent = 10 }, { below = 99.95, credit_percent = 2.5 } ]\n"
    store, make = reports_for(tmp_path, contract("ACME", organizations=["ACME"], extra=tiers))
    add_ticket(store, 1, organization="ACME")
    add_outcomes(store, 1, met=970, failed=1)  # 99.897 %: below 99.9, shown as 99.90
    [row] = credit_rows(make())
    assert row[2:] == [971, 970, 1, Decimal("99.90"), Decimal("10"), Decimal("100.00"), "EUR"]


def test_exactly_at_a_tier_is_not_below_it(tmp_path):
    store, make = reports_for(
        tmp_path, contract("ACME", organizations=["ACME"], extra="tiers = [ { below = 99, credit_percent = 5 } ]\n")
    )
    add_ticket(store, 1, organization="ACME")
    add_outcomes(store, 1, met=99, failed=1)
    assert credit_rows(make())[0][5:7] == [Decimal("99.00"), Decimal("0")]


def test_compliance_rounds_half_up(tmp_path):
    store, make = reports_for(tmp_path, contract("ACME", organizations=["ACME"]))
    add_ticket(store, 1, organization="ACME", department="Support")
    add_outcomes(store, 1, met=21, failed=11)  # 65.625 %
    reports = make()
    assert credit_rows(reports)[0][5] == Decimal("65.63")
    assert [list(r) for r in reports.compliance(NOVEMBER, "department").rows][0][-1] == Decimal("65.63")


def test_non_ascii_organizations_match_in_any_case_everywhere(tmp_path):
    store, make = reports_for(tmp_path, contract("Ärzte", organizations=["ärzte eG"]))
    add_ticket(store, 1, organization="Ärzte eG", requester_email="a@praxis.example")
    add_ticket(store, 2, organization="ÄRZTE EG", requester_email="b@praxis.example")
    add_ticket(store, 3, organization="Other", requester_email="c@other.example")
    for ticket in (1, 2, 3):
        add_outcomes(store, ticket, met=1, failed=1)
    reports = make()
    assert credit_rows(reports)[0][:5] == ["Ärzte", "2026-11", 4, 2, 2]
    assert len(list(reports.breaches("2026-11", "ärzte").rows)) == 2
    for spelling in ("ÄRZTE EG", "ärzte", "Ärzte eG"):
        only = Filters(start=NOVEMBER.start, end=NOVEMBER.end, customer=spelling)
        assert [list(r)[:2] for r in reports.compliance(only, "customer").rows] == [["Ärzte", 2]]
        assert len(list(reports.log(only).rows)) == 4
        assert len(list(reports.due(only).rows)) == 0


@pytest.mark.parametrize(
    "currency, extra, amount",
    [
        ("KWD", "", Decimal("12.346")),  # 3 decimals
        ("BHD", "", Decimal("12.346")),
        ("JPY", "", Decimal("12")),  # none
        ("KRW", "", Decimal("12")),
        ("HUF", "", Decimal("12.35")),  # forints keep their fillér
        ("EUR", "", Decimal("12.35")),
        ("XTS", "minor_units = 1\n", Decimal("12.3")),  # not in the table: the contract says
    ],
)
def test_credit_amounts_have_the_currency_decimals(tmp_path, currency, extra, amount):
    tiers = "tiers = [ { below = 100, credit_percent = 1 } ]\n"
    store, make = reports_for(
        tmp_path, contract("ACME", fee="1234.5678", currency=currency, organizations=["ACME"], extra=extra + tiers)
    )
    add_ticket(store, 1, organization="ACME")
    add_outcomes(store, 1, met=1, failed=1)
    assert credit_rows(make())[0][7:] == [amount, currency]


def test_an_unknown_currency_is_a_config_error_naming_the_contract(tmp_path, write_config):
    path = write_config(BASE + contract("Gamma", currency="XTS", domains=["gamma.example"]))
    with pytest.raises(ConfigError) as error:
        from connector.config.settings import load_config

        load_config(path)
    [problem] = error.value.problems
    assert "contracts[0].currency" in problem and "'Gamma'" in problem and "minor_units" in problem


def test_the_email_domain_is_after_the_last_at():
    assert email_domain('"john@home"@Beta.Example') == "beta.example"
    assert email_domain("nobody") is None and email_domain(None) is None


def test_quoted_local_parts_are_credited_to_their_domain(tmp_path):
    store, make = reports_for(tmp_path, contract("Beta", domains=["beta.example"]))
    add_ticket(store, 1, requester_email='"john@home"@beta.example')
    add_outcomes(store, 1, met=1, failed=0)
    assert credit_rows(make())[0][:4] == ["Beta", "2026-11", 1, 1]


def test_a_ticket_is_credited_under_one_contract_organization_first(tmp_path):
    text = contract("By domain", domains=["acme.example"]) + contract("By org", organizations=["ACME"])
    store, make = reports_for(tmp_path, text)
    add_ticket(store, 1, organization="ACME", requester_email="a@acme.example")  # both: the organization wins
    add_ticket(store, 2, requester_email="b@acme.example")
    add_outcomes(store, 1, met=3, failed=0)
    add_outcomes(store, 2, met=1, failed=0)
    assert [r[:3] for r in credit_rows(make())] == [["By domain", "2026-11", 1], ["By org", "2026-11", 3]]
    settings = load_settings(BASE + text)
    [warning] = overlaps(settings.contracts, store.db)
    assert "contracts[1] ('By org') and contracts[0] ('By domain') both match 1 ticket(s)" in warning


def test_the_first_contract_in_the_file_wins_a_shared_name(tmp_path):
    text = contract("First", organizations=["ACME"]) + contract("Second", organizations=["acme"])
    store, make = reports_for(tmp_path, text)
    add_ticket(store, 1, organization="Acme")
    add_outcomes(store, 1, met=2, failed=0)
    assert [r[2] for r in credit_rows(make())] == [2, 0]
    assert overlaps(load_settings(BASE + text).contracts) == [
        "contracts[1].organizations: 'acme' is also in contracts[0] ('First'), which is credited for it"
    ]


def test_check_warns_about_overlapping_contracts(tmp_path, write_config, capsys):
    text = contract("First", organizations=["ACME"]) + contract("Second", organizations=["ACME"])
    path = write_config(f'[connector]\ndatabase = "{tmp_path / "sla.db"}"\n' + BASE + text)
    main(["--config", str(path), "check"])
    out = capsys.readouterr().out
    assert "warn  contracts" in out and "'ACME' is also in contracts[0]" in out


def test_an_unknown_customer_is_an_error_listing_the_known_ones(tmp_path, write_config, capsys):
    store, make = reports_for(tmp_path, contract("ACME Corp", organizations=["ACME"]))
    add_ticket(store, 1, organization="Loose Org")
    add_outcomes(store, 1, met=1, failed=0)
    reports = make()
    loose = Filters(start=NOVEMBER.start, end=NOVEMBER.end, customer="LOOSE ORG")
    assert [list(r)[:2] for r in reports.compliance(loose, "customer").rows] == [["Loose Org", 1]]
    with pytest.raises(
        ValueError, match=r"--customer 'Nobody' is not a known customer \(known: 'ACME Corp', 'Loose Org'\)"
    ):
        list(reports.log(Filters(start=NOVEMBER.start, end=NOVEMBER.end, customer="Nobody")).rows)
    path = write_config(
        f'[connector]\ndatabase = "{store.path}"\n' + BASE + contract("ACME Corp", organizations=["ACME"])
    )
    for argv in (
        ["report", "log", "--from", "2026-11-01", "--to", "2026-11-30", "--customer", "Nobody"],
        ["report", "due", "--customer", "Nobody"],
        ["report", "credits", "--month", "2026-11", "--customer", "Nobody"],
    ):
        assert main(["--config", str(path), *argv]) == 2
        assert "'Nobody' is not a known customer" in capsys.readouterr().err
