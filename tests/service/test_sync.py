from __future__ import annotations

import pytest

from connector.core.errors import TransientSourceError
from connector.service.cycle import Engine, run_cycle
from connector.store.database import Store
from connector.store.outbox import ATTEMPTS_PER_CYCLE, BREAKER_AFTER, Outbox
from connector.store.tickets import TicketStore
from tests.support.engine_helpers import load_settings, t
from tests.support.scripted_host import ScriptedAdapter, ScriptedHost

ENGINE = Engine.from_settings(load_settings())


@pytest.fixture
def host(tmp_path):
    host = ScriptedHost(tmp_path / "host.json")
    # ticket 1: a customer question nobody answers; ticket 2: answered in time
    host.put_ticket("1", t(2, 10), t(2, 10), [("m1", t(2, 10), "customer", True)], title="Printer on fire")
    host.put_ticket(
        "2", t(2, 10), t(2, 10, 20), [("m2", t(2, 10), "customer", True), ("m3", t(2, 10, 20), "agent", True)]
    )
    return host


def cycle(store, adapter, now, **kwargs):
    sleeps = []
    summary = run_cycle(store, adapter, ENGINE, now, sleep=sleeps.append, **kwargs)
    summary.sleeps = sleeps
    return summary


def keys(host):
    return [(w["ticket"], w["key"].split(":", 2)[2]) for w in host.writes()]


def test_a_ticket_nobody_touches_breaches_on_time_and_is_escalated_once(store, host):
    adapter = ScriptedAdapter(host)
    first = cycle(store, adapter, t(2, 10, 30))
    assert (first.pulled, first.breaches, first.delivery.delivered) == (2, 0, 0)
    # no change at the host; the clock alone moves the ticket past 80 % and then past its due time
    warned = cycle(store, adapter, t(2, 10, 50))
    assert (warned.pulled, warned.rechecked, warned.warnings) == (0, 1, 1)
    assert keys(host) == [("1", "first_reply:1:step@-20%:add_tags")]
    breached = cycle(store, adapter, t(2, 11, 1))
    assert (breached.rechecked, breached.breaches, breached.delivery.delivered) == (1, 1, 4)
    assert keys(host)[1:] == [
        ("1", "first_reply:1:step@0:add_tags"),
        ("1", "first_reply:1:step@0:remove_tags"),
        ("1", "first_reply:1:step@0:raise_priority"),
        ("1", "first_reply:1:step@0:add_note"),
    ]
    assert host.load()["tags"]["1"] == ["sla-breached"]
    # later cycles repeat nothing
    quiet = cycle(store, adapter, t(2, 11, 30))
    assert (quiet.breaches, quiet.delivery.delivered) == (0, 0)
    assert len(host.writes()) == 5
    events = [row["key"] for row in store.db["sla_events"].rows]
    assert len(events) == len(set(events))


def test_a_warning_comes_off_the_ticket_when_the_reply_is_in_time(store, host):
    adapter = ScriptedAdapter(host)
    cycle(store, adapter, t(2, 10, 30))
    cycle(store, adapter, t(2, 10, 50))
    assert host.load()["tags"]["1"] == ["sla-warning"]
    host.put_ticket(
        "1", t(2, 10), t(2, 10, 55), [("m1", t(2, 10), "customer", True), ("m4", t(2, 10, 55), "agent", True)]
    )
    answered = cycle(store, adapter, t(2, 10, 56))
    assert answered.delivery.delivered == 1
    assert keys(host)[-1] == ("1", "first_reply:1:met@2026-11-02T10:55:00+00:00:remove_tags")
    assert host.load()["tags"]["1"] == []


def test_the_cursor_moves_only_forward_and_changes_are_pulled_again(store, host):
    adapter = ScriptedAdapter(host)
    cycle(store, adapter, t(2, 10, 30))
    assert store.sync_state("scripted")["cursor"] == f"{t(2, 10, 20).isoformat()}|2"
    host.put_ticket(
        "1", t(2, 10), t(2, 10, 40), [("m1", t(2, 10), "customer", True), ("m4", t(2, 10, 40), "agent", True)]
    )
    second = cycle(store, adapter, t(2, 10, 45))
    assert second.pulled == 1 and adapter.pulls == [None, f"{t(2, 10, 20).isoformat()}|2"]
    tickets = TicketStore(store)
    first_reply = tickets.records(tickets.ticket_id("scripted", "1"), "scripted:1")[0]
    assert (first_reply.status.value, first_reply.stop) == ("met", t(2, 10, 40))


def test_dry_run_keeps_nothing_and_writes_nothing(store, host):
    adapter = ScriptedAdapter(host)
    summary = cycle(store, adapter, t(2, 11, 1), dry_run=True)
    assert summary.pulled == 2 and summary.breaches == 1
    assert [a.kind for a in summary.delivery.would_write] == [
        "add_tags",
        "add_tags",
        "remove_tags",
        "raise_priority",
        "add_note",
    ]
    assert host.writes() == []
    assert store.db["tickets"].count == 0 and store.db["outbox"].count == 0
    assert store.sync_state("scripted")["cursor"] is None


def test_a_malformed_snapshot_is_skipped_and_named_and_the_rest_completes(store, host):
    adapter = ScriptedAdapter(host, malformed={"1"})
    summary = cycle(store, adapter, t(2, 10, 30))
    assert summary.pulled == 2
    assert len(summary.skipped_tickets) == 1 and summary.skipped_tickets[0].startswith("ticket scripted:1: ValueError")
    assert TicketStore(store).ticket_id("scripted", "1") is None
    assert TicketStore(store).ticket_id("scripted", "2") is not None
    assert store.sync_state("scripted")["cursor"].endswith("|2")


def test_a_failing_host_that_recovers_gets_every_action(store, host):
    adapter = ScriptedAdapter(host)
    cycle(store, adapter, t(2, 10, 30))
    host.fail_next("timeout", "500", "429:7")
    summary = cycle(store, adapter, t(2, 11, 1))
    # retried within the cycle; the host's Retry-After is honoured
    assert summary.sleeps[2] == 7.0 and len(summary.sleeps) == 3
    assert summary.delivery.delivered == 5
    # a host down for longer than one cycle's attempts: the action waits for the next cycle
    host.put_ticket("3", t(2, 9), t(2, 11, 2), [("m5", t(2, 9), "customer", True)])
    host.fail_next(*["500"] * ATTEMPTS_PER_CYCLE)
    down = cycle(store, adapter, t(2, 11, 3))
    # the ticket's later writes wait behind the one that failed: they go out in planned order
    assert (down.delivery.failed, down.delivery.held, down.delivery.delivered) == (1, 4, 0)
    up = cycle(store, adapter, t(2, 11, 4))
    assert up.delivery.delivered == 5 and up.delivery.failed == 0
    assert len(host.writes()) == 10 and len({w["key"] for w in host.writes()}) == 10
    ticket3 = [w["key"] for w in host.writes() if w["ticket"] == "3"]
    assert ticket3 == sorted(ticket3, key=lambda key: [r["key"] for r in Outbox(store).list()].index(key))


def test_a_write_that_waits_holds_its_tickets_later_writes_so_the_final_state_is_the_fault_free_one(
    store, host, tmp_path
):
    clean = ScriptedHost(tmp_path / "clean.json")
    clean.save(host.load())
    for target, fail in ((host, True), (clean, False)):
        adapter = ScriptedAdapter(target)
        db = Store.open(tmp_path / f"{fail}.db")
        cycle(db, adapter, t(2, 10, 30))
        cycle(db, adapter, t(2, 10, 50))  # the warning: add sla-warning
        if fail:
            target.fail_next(*["timeout"] * ATTEMPTS_PER_CYCLE)  # the breach's add_tags waits a cycle
        cycle(db, adapter, t(2, 11, 1))  # breach: add sla-breached, remove sla-warning, ...
        cycle(db, adapter, t(2, 11, 5))
    assert host.load()["tags"] == clean.load()["tags"] == {"1": ["sla-breached"]}
    assert host.load()["priority"] == clean.load()["priority"]
    assert [w["key"] for w in host.writes()] == [w["key"] for w in clean.writes()]


def test_after_a_few_failures_in_a_row_the_rest_waits_for_the_next_cycle(store, tmp_path, caplog):
    host = ScriptedHost(tmp_path / "many.json")
    for n in range(10):
        host.put_ticket(str(n), t(2, 10), t(2, 10), [(f"m{n}", t(2, 10), "customer", True)])
    adapter = ScriptedAdapter(host)
    cycle(store, adapter, t(2, 10, 30))
    host.fail_next(*["500"] * 100)
    with caplog.at_level("INFO"):
        down = cycle(store, adapter, t(2, 10, 50))  # ten warnings due, the host is down
    # the first write gets its retries, the next ones one try each, then the breaker opens
    assert down.delivery.failed == BREAKER_AFTER and down.delivery.held == 10 - BREAKER_AFTER
    assert len(down.sleeps) == ATTEMPTS_PER_CYCLE - 1
    assert sum("writes in a row failed" in r.message for r in caplog.records) == 1
    host.save({**host.load(), "failures": []})
    assert cycle(store, adapter, t(2, 10, 51)).delivery.delivered == 10


def test_a_service_asked_to_stop_leaves_the_rest_queued(store, tmp_path):
    host = ScriptedHost(tmp_path / "many.json")
    for n in range(4):
        host.put_ticket(str(n), t(2, 10), t(2, 10), [(f"m{n}", t(2, 10), "customer", True)])
    adapter = ScriptedAdapter(host)
    cycle(store, adapter, t(2, 10, 30))
    asked = iter([False, False, True])
    summary = cycle(store, adapter, t(2, 10, 50), should_stop=lambda: next(asked, True))
    assert summary.delivery.delivered == 2 and summary.delivery.stopped
    assert Outbox(store).depth("scripted")["queued"] == 2


def test_permanent_refusals_are_parked_and_can_be_retried_or_dropped(store, host):
    adapter = ScriptedAdapter(host)
    cycle(store, adapter, t(2, 10, 30))
    host.fail_next("400")
    summary = cycle(store, adapter, t(2, 10, 50))
    assert summary.delivery.parked == 1
    outbox = Outbox(store)
    [parked] = outbox.list(states=["parked"])
    assert parked["last_error"] == "scripted: HTTP 400" and parked["kind"] == "add_tags"
    assert outbox.retry(parked["id"], t(2, 10, 51))
    assert cycle(store, adapter, t(2, 10, 52)).delivery.delivered == 1
    assert not outbox.drop(parked["id"], t(2, 10, 53))  # delivered: nothing to drop


def test_actions_a_host_cannot_do_are_recorded_as_skipped(store, host):
    adapter = ScriptedAdapter(host, capabilities=frozenset({"add_tags", "remove_tags", "add_note"}))
    cycle(store, adapter, t(2, 10, 30))
    summary = cycle(store, adapter, t(2, 11, 1))
    assert summary.delivery.skipped == 1
    [skipped] = Outbox(store).list(states=["skipped"])
    assert (skipped["kind"], skipped["last_error"]) == ("raise_priority", "scripted cannot raise priority")


def test_a_pull_that_fails_keeps_what_was_committed(store, host):
    adapter = ScriptedAdapter(host)
    cycle(store, adapter, t(2, 10, 30))
    host.fail_next_pull("timeout")
    with pytest.raises(TransientSourceError):
        cycle(store, adapter, t(2, 10, 31))
    assert store.sync_state("scripted")["cursor"].endswith("|2")
    assert cycle(store, adapter, t(2, 10, 50)).warnings == 1


def test_first_sync_of_old_tickets_records_breaches_but_writes_nothing(store, host):
    summary = cycle(store, ScriptedAdapter(host), t(9, 10))
    assert summary.breaches == 3 and summary.delivery.delivered == 0  # two resolutions and a first reply
    assert host.writes() == []


def test_an_event_key_is_recorded_once_however_many_events_a_ticket_has(store):
    from connector.core.clocks import recompute
    from connector.core.escalation import Event
    from tests.support.engine_helpers import customer, ticket

    tk, messages = ticket(t(2, 10)), [customer(t(2, 10))]
    record = recompute(tk, messages, ENGINE.policy, (), t(2, 12))[0]
    tickets = TicketStore(store)
    with store.atomic():
        ticket_id = tickets.upsert(tk, messages)

    def events(numbers):
        return [
            Event(f"{tk.key}:k{n}", tk.key, record.metric, record.seq, "started", t(2, 10), record) for n in numbers
        ]

    with store.atomic():  # more keys than one query may name
        assert len(tickets.add_events(ticket_id, events(range(1200)) + events([5, 7]), t(2, 12))) == 1200
        fresh = tickets.add_events(ticket_id, events(range(1197, 1203)), t(2, 12))
    assert [e.key for e in fresh] == [f"{tk.key}:k{n}" for n in (1200, 1201, 1202)]
    assert store.db.execute("SELECT count(*) FROM sla_events").fetchone()[0] == 1203


def test_stored_tickets_come_back_whole_in_the_order_asked_across_chunks(store):
    """What a recheck reads is what was stored: the ticket, every kind of message, and records
    with fired steps and pauses; more tickets than one query reads at once."""
    from connector.core.clocks import recompute
    from connector.core.model import Channel, Status
    from tests.support.engine_helpers import agent, customer, history, ticket

    tickets, stored = TicketStore(store), {}
    with store.atomic():
        for n in range(503):
            tk = ticket(
                t(2, 10),
                external_id=str(n),
                status=Status.PENDING,
                channel=Channel.WEB,
                status_history=history((t(2, 10), Status.OPEN), (t(2, 11), Status.PENDING)),
            )
            messages = [
                customer(t(2, 10), f"m{n}"),
                agent(t(2, 10, 5), f"note{n}", public=False),
                customer(t(2, 10, 6), f"auto{n}", auto_generated=True, channel=Channel.EMAIL),
                agent(t(2, 10, 7), f"own{n}", own=True),
            ][: 1 + n % 4]
            records = recompute(tk, messages, ENGINE.policy, (), t(3, 12))
            ticket_id = tickets.upsert(tk, messages)
            tickets.save_records(ticket_id, [], records, t(3, 12))
            stored[ticket_id] = (tk, messages, records)
    assert any(r.steps_fired and r.pauses for _, _, records in stored.values() for r in records)

    asked = sorted(stored, reverse=True)
    loaded = list(tickets.load_many(asked))
    assert [ticket_id for ticket_id, *_ in loaded] == asked
    for ticket_id, tk, messages, records in loaded:
        assert (tk, messages, records) == stored[ticket_id]
        assert records == tickets.records(ticket_id, tk.key)
