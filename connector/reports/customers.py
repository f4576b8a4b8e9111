"""Who a ticket's customer is: one folding of names, one contract per ticket, one `--customer` rule.

Public API: `fold(text)`, `email_domain(address)`, `Customers(contracts)` with `contract_of`,
`label`, `resolve`, and `register(connection)` that makes them SQL functions; `overlaps(contracts,
db)` for `check`.

Names are compared casefolded by Python (SQLite's `lower()` folds ASCII only, so "Ärzte eG"
would never match itself). A ticket belongs to at most one contract: the first contract, in file
order, that names its organization; else the first that names its e-mail domain. Its customer
is that contract's name, else its organization, else its e-mail domain.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any


def fold(text: str | None) -> str | None:
    return None if text is None else text.casefold()


def email_domain(address: str | None) -> str | None:
    """The domain after the address's last '@' ('"john@home"@beta.example' -> 'beta.example')."""
    if not address or "@" not in address:
        return None
    return address.rpartition("@")[2].strip().casefold() or None


class Customers:
    def __init__(self, contracts: Iterable[Any]):
        self.contracts = list(contracts)
        self._by_organization: dict[str, int] = {}
        self._by_domain: dict[str, int] = {}
        for index, contract in enumerate(self.contracts):
            for name in contract.organizations:
                self._by_organization.setdefault(name.casefold(), index)
            for name in contract.domains:
                self._by_domain.setdefault(name.casefold(), index)
        self._memo: dict[tuple[str | None, str | None], int | None] = {}

    def contract_of(self, organization: str | None, email: str | None) -> int | None:
        """The index of the ticket's contract (organization before domain, then file order)."""
        key = (organization, email)
        if key not in self._memo:
            found = self._by_organization.get(organization.casefold()) if organization else None
            if found is None:
                domain = email_domain(email)
                found = self._by_domain.get(domain) if domain else None
            self._memo[key] = found
        return self._memo[key]

    def label(self, organization: str | None, email: str | None) -> str | None:
        """The ticket's customer as reports show it: its contract, else organization, else domain."""
        index = self.contract_of(organization, email)
        if index is not None:
            return self.contracts[index].customer
        return organization or email_domain(email)

    def resolve(self, name: str, db: Any) -> str:
        """The label that `--customer NAME` selects: a contract by its name, one of its organizations
        or domains, or an organization or e-mail domain found in the store; ValueError otherwise."""
        wanted = name.casefold()
        for contract in self.contracts:
            if contract.customer.casefold() == wanted:
                return contract.customer
        for index in (self._by_organization.get(wanted), self._by_domain.get(wanted)):
            if index is not None:
                return self.contracts[index].customer
        known = set(self.known(db))
        for label in known:
            if label.casefold() == wanted:
                return label
        listing = ", ".join(repr(k) for k in sorted(known, key=str.casefold)) or "none"
        raise ValueError(f"--customer {name!r} is not a known customer (known: {listing})")

    def known(self, db: Any) -> list[str]:
        labels = {c.customer for c in self.contracts}
        for organization, email in db.execute("SELECT DISTINCT organization, requester_email FROM tickets"):
            label = self.label(organization or None, email)
            if label:
                labels.add(label)
        return sorted(labels, key=str.casefold)

    def register(self, connection: sqlite3.Connection) -> None:
        """SQL functions: sla_fold(text), sla_contract(organization, email), sla_customer(organization, email)."""
        connection.create_function("sla_fold", 1, fold, deterministic=True)
        connection.create_function("sla_contract", 2, lambda o, e: self.contract_of(o or None, e), deterministic=True)
        connection.create_function("sla_customer", 2, self._customer_of_row, deterministic=True)

    def _customer_of_row(self, organization: str | None, email: str | None) -> str | None:
        """`label` for SQL, called once per ticket: without its memo, which tickets that each have
        an address of their own never hit, and without its calls (a third of a report's time)."""
        if organization:
            index = self._by_organization.get(organization.casefold())
            if index is not None:
                return self.contracts[index].customer
        if email and "@" in email:
            domain = email.rpartition("@")[2].strip().casefold()
            index = self._by_domain.get(domain) if domain else None
            if index is not None:
                return self.contracts[index].customer
        else:
            domain = None
        return organization or domain or None


def overlaps(contracts: list[Any], db: Any | None = None) -> list[str]:
    """Warnings for contracts that claim the same customer: a shared organization or domain, and
    (with a store) tickets whose organization is one contract's while their domain is another's."""
    warnings = []
    for kind in ("organizations", "domains"):
        owner: dict[str, int] = {}
        for index, contract in enumerate(contracts):
            for name in getattr(contract, kind):
                first = owner.setdefault(name.casefold(), index)
                if first != index:
                    warnings.append(
                        f"contracts[{index}].{kind}: {name!r} is also in contracts[{first}] "
                        f"({contracts[first].customer!r}), which is credited for it"
                    )
    if db is None or not contracts:
        return warnings
    customers = Customers(contracts)
    both: dict[tuple[int, int], int] = {}
    for organization, email, count in db.execute(
        "SELECT organization, requester_email, count(*) FROM tickets WHERE organization IS NOT NULL "
        "GROUP BY organization, requester_email"
    ):
        by_org = customers._by_organization.get(organization.casefold())
        domain = email_domain(email)
        by_domain = customers._by_domain.get(domain) if domain else None
        if by_org is not None and by_domain is not None and by_org != by_domain:
            both[by_org, by_domain] = both.get((by_org, by_domain), 0) + count
    for (first, second), count in sorted(both.items()):
        warnings.append(
            f"contracts[{first}] ({contracts[first].customer!r}) and contracts[{second}] "
            f"({contracts[second].customer!r}) both match {count} ticket(s) (by organization and by e-mail "
            f"domain): they are credited to contracts[{first}], organization before domain"
        )
    return warnings
