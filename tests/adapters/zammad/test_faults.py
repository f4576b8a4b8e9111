"""Faults between the adapter and Zammad: 429 with Retry-After, 5xx, slow answers, dropped
connections, a note applied whose answer is lost, TLS and DNS problems, each named."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime

import pytest

from adapters.zammad.client import parse_retry_after
from connector.core.errors import PermanentSourceError, TransientSourceError
from connector.core.escalation import Action
from tests.adapters.zammad.conftest import make_adapter


def t(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def note(ident, key="evt-81:add_note", text="SLA: first reply breached <now> & overdue"):
    return Action(key, key.split(":")[0], f"zammad:{ident}", "add_note", {"text": text})


def test_429_waits_as_long_as_retry_after_says_then_succeeds(zammad, clock, sleeps):
    zammad.add_ticket("Printer broken", at=t(2, 9))
    zammad.fail("429:7", path="search")
    zammad.fail("503", path="ticket_articles")
    adapter = make_adapter(zammad, clock, sleeps, search="field")
    adapter.cache.set_meta("last_full", t(2, 8).isoformat())
    assert [s.ticket.title for s in adapter.pull("2026-11-02T08:00:00.000000Z|000000000000")] == ["Printer broken"]
    assert sleeps[0] == 7.0 and len(sleeps) == 2  # the 503 without Retry-After: back-off
    assert 0 < sleeps[1] <= 2.0


def test_a_host_that_keeps_failing_is_a_transient_error_after_a_bounded_number_of_tries(zammad, clock, sleeps):
    zammad.add_ticket("Printer broken", at=t(2, 9))
    zammad.fail("500", path="tickets", times=10)
    adapter = make_adapter(zammad, clock, sleeps, search="field")
    with pytest.raises(TransientSourceError, match="HTTP 500"):
        list(adapter.pull(None))
    assert zammad.count() == 2 + 4  # the look-ups (states, priorities) and four tries


def test_dropped_connections_and_slow_answers_are_retried(zammad, clock, sleeps):
    zammad.add_ticket("Printer broken", at=t(2, 9))
    zammad.fail("drop", path=r"tickets/\d+$")  # the articles and tags of a ticket (all=true)
    zammad.fail("slow:1", path="by_ticket")  # the first ticket's, which names the article types
    adapter = make_adapter(zammad, clock, sleeps, timeout=0.2)
    assert [s.ticket.title for s in adapter.pull(None)] == ["Printer broken"]
    assert len(sleeps) == 2


def test_a_note_whose_answer_is_lost_is_looked_for_and_written_once(zammad, clock, sleeps):
    ident = zammad.add_ticket("Printer broken", at=t(2, 9))
    zammad.fail("lost", method="POST", path="ticket_articles")
    adapter = make_adapter(zammad, clock, sleeps)
    adapter.apply(note(ident))
    (written,) = zammad.notes(ident)
    assert written["internal"] is True and written["content_type"] == "text/html"
    assert "&lt;now&gt; &amp; overdue" in written["body"] and "[sla-connector:evt-81:add_note]" in written["body"]
    adapter.apply(note(ident))  # the outbox repeats it after a crash: still one
    assert len(zammad.notes(ident)) == 1


def test_a_note_answered_500_after_it_was_not_written_is_written_on_the_next_try(zammad, clock, sleeps):
    ident = zammad.add_ticket("Printer broken", at=t(2, 9))
    zammad.fail("500", method="POST", path="ticket_articles")
    make_adapter(zammad, clock, sleeps).apply(note(ident))
    assert len(zammad.notes(ident)) == 1
    assert zammad.count("POST", "ticket_articles") == 2


def test_tls_and_dns_problems_are_named_as_such(zammad, clock, sleeps):
    https = make_adapter(zammad, clock, sleeps, url=zammad.url.replace("http:", "https:"))
    with pytest.raises(PermanentSourceError, match="TLS problem"):
        https.check()
    nowhere = make_adapter(zammad, clock, sleeps, url="http://zammad.invalid")
    with pytest.raises(TransientSourceError, match="DNS cannot resolve zammad.invalid"):
        nowhere.check()


def test_a_closed_port_is_a_transient_connection_error(clock, sleeps, zammad):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = make_adapter(zammad, clock, sleeps, url=f"http://127.0.0.1:{port}")
    with pytest.raises(TransientSourceError, match="connection failed"):
        adapter.check()


def test_the_request_budget_spaces_requests_out(zammad, clock, sleeps):
    zammad.add_ticket("Printer broken", at=t(2, 9))
    adapter = make_adapter(zammad, clock, sleeps, requests_per_second=2)
    ticks = iter(float(n) / 10 for n in range(100))
    adapter.client.monotonic = lambda: next(ticks)
    list(adapter.pull(None))
    assert sleeps and all(abs(s - 0.4) < 1e-9 for s in sleeps)  # 0.5 s apart, 0.1 s already gone


def test_a_redirect_is_an_error_naming_where_it_points_and_a_note_is_not_resent_as_a_get(zammad, clock, sleeps):
    ident = zammad.add_ticket("Printer broken", at=t(2, 9))
    adapter = make_adapter(zammad, clock, sleeps)
    zammad.fail("301:https://help.example/api/v1/ticket_articles", method="POST", path="ticket_articles")
    with pytest.raises(PermanentSourceError, match="HTTP 301, redirected to https://help.example/api/v1/ticket_"):
        adapter.apply(note(ident))
    assert zammad.notes(ident) == [] and zammad.count("POST", "ticket_articles") == 1


def test_retry_after_as_seconds_or_a_date():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_requests_go_one_at_a_time(zammad, clock, sleeps):
    for n in range(5):
        zammad.add_ticket(f"T{n}", at=t(2, 9, n))
    active, peak, lock = [0], [0], threading.Lock()
    original = zammad.search

    def counting(params):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            return original(params)
        finally:
            with lock:
                active[0] -= 1

    zammad.search = counting
    list(make_adapter(zammad, clock, sleeps).pull("2026-11-02T08:00:00.000000Z|000000000000"))
    assert peak[0] == 1


def test_through_a_proxy_the_request_line_names_the_whole_url_and_a_closed_transport_opens_anew(
    zammad, clock, sleeps, monkeypatch
):
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", zammad.url)  # the test server answers as the proxy would
    ident = zammad.add_ticket("Printer broken", at=t(2, 9))
    proxied = make_adapter(zammad, clock, sleeps, url="http://zammad.invalid")
    assert [s.ticket.title for s in proxied.pull(None)] == ["Printer broken"]
    assert zammad.proxied == zammad.count() > 3
    monkeypatch.delenv("HTTP_PROXY")
    direct = make_adapter(zammad, clock, sleeps)
    assert direct.client.get(f"tickets/{ident}")["id"] == ident
    direct.client.session.close()  # closes the transport's pools: the next request opens one anew
    assert direct.client.get(f"tickets/{ident}")["id"] == ident
    assert zammad.proxied == zammad.count() - 2
