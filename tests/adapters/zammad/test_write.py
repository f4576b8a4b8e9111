"""Writes into Zammad: only what changes something, never a lower priority, the tag prefix."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from connector.core.escalation import Action
from tests.adapters.zammad.conftest import make_adapter


def act(ident, kind, **payload):
    return Action(f"evt-1:{kind}", "evt-1", f"zammad:{ident}", kind, payload)


def test_a_priority_is_raised_after_reading_it_again_and_never_lowered(zammad, clock, sleeps):
    ident = zammad.add_ticket("Printer broken", at=datetime(2026, 11, 2, 9, tzinfo=UTC), priority=1)
    adapter = make_adapter(zammad, clock, sleeps)
    adapter.apply(act(ident, "raise_priority", priority="normal", rank=2))
    assert zammad.tickets[ident]["priority_id"] == 2
    zammad.tickets[ident]["priority_id"] = 3  # an agent raised it meanwhile
    adapter.apply(act(ident, "raise_priority", priority="normal", rank=2))
    assert zammad.tickets[ident]["priority_id"] == 3
    assert zammad.count("PUT", "tickets") == 1 and zammad.count("GET", r"tickets/\d+$") == 2


def test_tags_are_written_only_where_they_change_something_with_the_prefix(zammad, clock, sleeps):
    ident = zammad.add_ticket("Printer broken", at=datetime(2026, 11, 2, 9, tzinfo=UTC))
    zammad.tags[ident] = ["SLA-warning"]
    adapter = make_adapter(zammad, clock, sleeps, tag_prefix="sla-")
    before = zammad.tickets[ident]["updated_at"]
    adapter.apply(act(ident, "add_tags", tags=["warning"]))
    assert zammad.tickets[ident]["updated_at"] == before  # present already (case-insensitive): untouched
    adapter.apply(act(ident, "add_tags", tags=["breached"]))
    adapter.apply(act(ident, "remove_tags", tags=["warning", "never-set"]))
    assert zammad.tags[ident] == ["sla-breached"]
    assert zammad.count("POST", "tags/add") == 1 and zammad.count("DELETE", "tags/remove") == 1


def test_a_ticket_the_token_cannot_read_is_skipped_by_name(zammad, clock, sleeps, caplog):
    hidden = zammad.add_ticket("Hidden", at=datetime(2026, 11, 2, 9, tzinfo=UTC))
    zammad.add_ticket("Visible", at=datetime(2026, 11, 2, 9, 1, tzinfo=UTC))
    zammad.fail("403", path=f"by_ticket/{hidden}$")
    with caplog.at_level(logging.WARNING):
        titles = [s.ticket.title for s in make_adapter(zammad, clock, sleeps).pull(None)]
    assert titles == ["Visible"]
    assert f"ticket id {hidden} (number {31000 + hidden})" in caplog.text and "cannot see this ticket" in caplog.text
