"""The shared adapter contract (adapters/contract.py) as tests, in the style of vdirsyncer's storage
tests: a subclass per adapter provides two fixtures and inherits every test.

    class TestZammadContract(AdapterContract):
        @pytest.fixture
        def host(self, ...):     # a fresh, empty host with a driver that changes it (see Host)
        @pytest.fixture
        def adapter(self, host, tmp_path):   # the adapter under test, reading that host

Tests of an action kind the adapter lacks are skipped, not passed: `unsupported` covers those.
"""

from __future__ import annotations

import itertools
import logging
from typing import Protocol

import pytest

from adapters.base import ACTION_KINDS, Snapshot
from adapters.contract import cursor_problems, snapshot_problems, unsupported_problem
from connector.core.errors import PermanentSourceError, SourceError
from connector.core.escalation import Action

_keys = itertools.count(1)


class Host(Protocol):
    """Changes the host the way its users would, by another way than the adapter."""

    def open_ticket(self, title: str) -> None:
        """A new ticket titled `title`, with one public message by a customer."""

    def customer_writes(self, title: str) -> None:
        """One more public customer message on the ticket titled `title`."""

    def bad_ticket(self, title: str) -> str:
        """A ticket the host serves malformed; returns what the adapter's warning must name."""

    def notify_to(self) -> list[str]:
        """Recipients a notice may go to (empty where the host sends none)."""


def action(ticket_key: str, kind: str, **payload) -> Action:
    number = next(_keys)
    return Action(f"contract-{number}:{kind}", f"contract-{number}", ticket_key, kind, payload)


def payload_for(kind: str, host: Host) -> dict:
    return {
        "add_tags": {"tags": ["sla_contract"]},
        "remove_tags": {"tags": ["sla_contract"]},
        "raise_priority": {"priority": "high", "rank": 3},
        "add_note": {"text": "SLA contract: a note <b>escaped</b> & kept once"},
        "notify": {"recipients": host.notify_to() or ["lead@help.example"], "subject": "SLA", "body": "b"},
    }[kind]


def pull_all(adapter, since=None) -> list[Snapshot]:
    return list(adapter.pull(since))


def by_title(snapshots: list[Snapshot]) -> dict[str, Snapshot]:
    """The latest snapshot of each ticket, by title (a repeat from the overlap counts once)."""
    return {snapshot.ticket.title: snapshot for snapshot in snapshots}


class AdapterContract:
    """Every adapter passes these; subclasses provide the `host` and `adapter` fixtures."""

    @pytest.fixture
    def host(self) -> Host:
        raise NotImplementedError("a subclass provides the host fixture")

    @pytest.fixture
    def adapter(self, host):
        raise NotImplementedError("a subclass provides the adapter fixture")

    def ticket_key(self, adapter, title: str) -> str:
        return by_title(pull_all(adapter))[title].ticket.key

    def need(self, adapter, kind: str) -> None:
        if kind not in adapter.capabilities:
            pytest.skip(f"{adapter.name} cannot {kind}")

    # ---- cursor --------------------------------------------------------------------------------

    def test_cursors_never_go_back(self, host, adapter):
        for title in ("Printer broken", "VPN down", "Invoice wrong"):
            host.open_ticket(title)
        first = pull_all(adapter)
        assert cursor_problems(None, [s.cursor for s in first]) == []
        last = max(s.cursor for s in first)
        host.customer_writes("Printer broken")
        second = pull_all(adapter, last)
        assert "Printer broken" in by_title(second)
        assert cursor_problems(last, [s.cursor for s in second]) == []

    def test_a_pull_from_the_last_cursor_brings_what_changed_and_no_new_ticket_twice(self, host, adapter):
        host.open_ticket("Printer broken")
        last = max(s.cursor for s in pull_all(adapter))
        host.open_ticket("VPN down")
        titles = [s.ticket.title for s in pull_all(adapter, last)]
        assert titles.count("VPN down") == 1

    # ---- complete ------------------------------------------------------------------------------

    def test_every_snapshot_is_complete(self, host, adapter):
        host.open_ticket("Printer broken")
        host.open_ticket("VPN down")
        host.customer_writes("VPN down")
        snapshots = pull_all(adapter)
        assert {s.ticket.title for s in snapshots} == {"Printer broken", "VPN down"}
        for snapshot in snapshots:
            assert snapshot_problems(snapshot, adapter.name) == []
        assert len(by_title(snapshots)["VPN down"].messages) == 2
        assert len({s.ticket.key for s in snapshots}) == 2

    # ---- visible and idempotent ----------------------------------------------------------------

    def test_pull_after_adding_and_removing_tags_shows_them(self, host, adapter):
        self.need(adapter, "add_tags")
        host.open_ticket("Printer broken")
        key = self.ticket_key(adapter, "Printer broken")
        adapter.apply(action(key, "add_tags", tags=["sla_contract"]))
        assert "sla_contract" in by_title(pull_all(adapter))["Printer broken"].ticket.tags
        if "remove_tags" in adapter.capabilities:
            adapter.apply(action(key, "remove_tags", tags=["sla_contract"]))
            assert "sla_contract" not in by_title(pull_all(adapter))["Printer broken"].ticket.tags

    def test_pull_after_raising_the_priority_shows_it(self, host, adapter):
        self.need(adapter, "raise_priority")
        host.open_ticket("Printer broken")
        key = self.ticket_key(adapter, "Printer broken")
        adapter.apply(action(key, "raise_priority", priority="high", rank=3))
        assert by_title(pull_all(adapter))["Printer broken"].ticket.priority.rank >= 3

    def test_pull_after_a_note_shows_it_as_a_message_that_counts_for_nothing(self, host, adapter):
        self.need(adapter, "add_note")
        host.open_ticket("Printer broken")
        key = self.ticket_key(adapter, "Printer broken")
        adapter.apply(action(key, "add_note", text="SLA: first reply due soon"))
        messages = by_title(pull_all(adapter))["Printer broken"].messages
        assert len(messages) == 2
        assert [m.counts for m in messages] == [True, False]

    @pytest.mark.parametrize("kind", sorted(ACTION_KINDS))
    def test_apply_twice_is_harmless(self, host, adapter, kind):
        self.need(adapter, kind)
        host.open_ticket("Printer broken")
        key = self.ticket_key(adapter, "Printer broken")
        twice = action(key, kind, **payload_for(kind, host))
        adapter.apply(twice)
        once = by_title(pull_all(adapter))["Printer broken"]
        adapter.apply(twice)
        again = by_title(pull_all(adapter))["Printer broken"]
        assert again.ticket.tags == once.ticket.tags
        assert again.ticket.priority == once.ticket.priority
        assert [m.external_id for m in again.messages] == [m.external_id for m in once.messages]

    # ---- unsupported ---------------------------------------------------------------------------

    def test_unsupported_actions_are_refused_by_name(self, host, adapter):
        host.open_ticket("Printer broken")
        key = self.ticket_key(adapter, "Printer broken")
        for kind in sorted(ACTION_KINDS - adapter.capabilities):
            error = None
            try:
                adapter.apply(action(key, kind, **payload_for(kind, host)))
            except Exception as exc:  # the clause says which kind of error it must be
                error = exc
            assert unsupported_problem(kind, error) is None

    # ---- named ---------------------------------------------------------------------------------

    def test_a_malformed_ticket_is_named_and_the_rest_goes_on(self, host, adapter, caplog):
        host.open_ticket("Printer broken")
        name = host.bad_ticket("Garbled")
        host.open_ticket("VPN down")
        with caplog.at_level(logging.WARNING):
            titles = {s.ticket.title for s in pull_all(adapter)}
        assert {"Printer broken", "VPN down"} <= titles
        assert any(name in record.getMessage() for record in caplog.records), caplog.text

    def test_an_action_for_an_unknown_ticket_names_it(self, host, adapter):
        kind = sorted(adapter.capabilities - {"notify"} or adapter.capabilities or {"add_tags"})[0]
        host.open_ticket("Printer broken")
        pull_all(adapter)
        with pytest.raises(SourceError) as raised:
            adapter.apply(action(f"{adapter.name}:987654", kind, **payload_for(kind, host)))
        assert "987654" in str(raised.value)
        assert isinstance(raised.value, PermanentSourceError)
