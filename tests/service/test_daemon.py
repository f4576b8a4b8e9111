from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import replace
from types import SimpleNamespace

import pytest

from connector.core.errors import AuthFailed, TransientSourceError
from connector.service.cycle import Engine
from connector.service.daemon import CONFIG_HASH_KEY, Service, ServiceLocked, install_signal_handlers, instance_lock
from connector.store.codec import iso
from connector.store.outbox import ATTEMPTS_PER_CYCLE, BREAKER_AFTER, Outbox
from connector.store.tickets import TicketStore
from tests.support.engine_helpers import DEFAULT_POLICY, load_settings, t
from tests.support.scripted_host import ScriptedAdapter, ScriptedHost

SETTINGS = load_settings()


class Clock:
    def __init__(self, moment):
        self.moment = moment

    def __call__(self):
        return self.moment


class Broken:
    """A source whose every cycle fails with the given error."""

    def __init__(self, name, error):
        self.name, self.error = name, error
        self.section = SimpleNamespace(name=name, kind="broken", poll_interval=None)
        self.capabilities = frozenset()
        self.calls = 0

    def pull(self, since, overlap=None):
        self.calls += 1
        raise self.error
        yield  # pragma: no cover


@pytest.fixture
def host(tmp_path):
    host = ScriptedHost(tmp_path / "host.json")
    host.put_ticket("1", t(2, 10), t(2, 10), [("m1", t(2, 10), "customer", True)])
    return host


def test_a_second_service_through_a_symlink_is_refused_too(tmp_path):
    database = tmp_path / "sla.db"
    database.touch()
    (tmp_path / "link.db").symlink_to(database)
    with instance_lock(database):
        with pytest.raises(ServiceLocked, match="already running on"):
            with instance_lock(tmp_path / "link.db"):
                pass


def test_daily_jobs_run_once_a_day_at_their_time_in_the_report_time_zone(store):
    settings = load_settings(DEFAULT_POLICY.replace("[connector]", '[connector]\nreport_timezone = "Europe/Berlin"'))
    clock = Clock(t(2, 4, 0))  # 05:00 in Berlin
    service = Service(settings, store, {}, Engine.from_settings(settings), now=clock)
    runs = []
    service.extra_jobs.append(("06:00", lambda: runs.append(clock.moment)))
    for moment in (t(2, 4, 0), t(2, 4, 59), t(2, 5, 0), t(2, 5, 30), t(2, 23, 0), t(3, 4, 59), t(3, 5, 1)):
        clock.moment = moment
        service.run_daily_jobs()
    assert runs == [t(2, 5, 0), t(3, 5, 1)]  # 06:00 Berlin is 05:00 UTC, not 06:00 UTC


def test_the_daily_export_logs_the_files_it_wrote(store, tmp_path, caplog):
    from connector.reports.export import scheduled_exports

    folder = tmp_path / "exports"
    settings = load_settings(DEFAULT_POLICY + f'\n[reports]\nexport_dir = "{folder}"\nexport_time = "06:00"\n')
    [(at, job)] = scheduled_exports(settings, store)
    assert at == "06:00"
    with caplog.at_level(logging.INFO, logger="sla_connector"):
        job()
    [line] = [r.message for r in caplog.records if "daily export" in r.message]
    written = sorted(folder.iterdir())
    assert [p.name.split("-")[0] for p in written] == ["compliance", "credits", "log"]
    assert all(str(path) in line for path in written)


def test_an_idle_cycle_is_a_debug_line(store, host, caplog):
    service = Service(
        SETTINGS, store, {"scripted": ScriptedAdapter(host)}, Engine.from_settings(SETTINGS), now=Clock(t(2, 10, 30))
    )
    with caplog.at_level(logging.DEBUG, logger="sla_connector"):
        service.tick("scripted")
        service.tick("scripted")
    levels = [r.levelno for r in caplog.records if "tickets pulled" in r.message]
    assert levels == [logging.INFO, logging.DEBUG]


def test_one_instance_per_database(tmp_path):
    database = tmp_path / "sla.db"
    with instance_lock(database):
        with pytest.raises(ServiceLocked, match=rf"another sla-connector \(pid {os.getpid()}\) is already running on"):
            with instance_lock(database):
                pass
    with instance_lock(database):  # released when the first one ended
        pass


def test_a_failing_source_backs_off_and_the_others_keep_running(store, host, caplog):
    clock = Clock(t(2, 10, 30))
    broken = Broken("broken", RuntimeError("bug in the mapping"))
    good = ScriptedAdapter(host)
    service = Service(SETTINGS, store, {"broken": broken, "scripted": good}, Engine.from_settings(SETTINGS), now=clock)
    with caplog.at_level(logging.INFO, logger="sla_connector"):
        assert service.tick("broken") is None
        assert service.tick("scripted").pulled == 1
    assert "unexpected error" in caplog.text and "RuntimeError: bug in the mapping" in caplog.text
    assert store.sync_state("broken")["last_error"] == "RuntimeError: bug in the mapping"
    # back-off: the next tick within the poll interval does not call the source again
    clock.moment = t(2, 10, 31)
    service.tick("broken")
    assert broken.calls == 1
    clock.moment = t(2, 10, 36)  # 5 minutes later: tried again, then waits 10 minutes
    service.tick("broken")
    assert broken.calls == 2 and service.health["broken"].retry_at == t(2, 10, 46)


def test_a_source_that_recovers_is_logged_once(store, host, caplog):
    clock = Clock(t(2, 10, 30))
    adapter = ScriptedAdapter(host)
    service = Service(SETTINGS, store, {"scripted": adapter}, Engine.from_settings(SETTINGS), now=clock)
    host.fail_next_pull("timeout")
    with caplog.at_level(logging.INFO, logger="sla_connector"):
        service.tick("scripted")
        clock.moment = t(2, 10, 40)
        service.tick("scripted")
    assert "scripted: cycle failed: scripted: timed out; retrying with back-off" in caplog.text
    assert "scripted: recovered after 1 failed cycles" in caplog.text
    assert store.sync_state("scripted")["last_error"] is None


def test_refused_credentials_stop_only_that_source(store):
    broken = Broken("zammad", AuthFailed("zammad: HTTP 401 (check the token)"))
    service = Service(SETTINGS, store, {"zammad": broken}, Engine.from_settings(SETTINGS), now=Clock(t(2, 10)))
    service.tick("zammad")
    service.health["zammad"].retry_at = None
    service.tick("zammad")
    assert broken.calls == 1 and service.health["zammad"].stopped


def test_transient_errors_are_retried_on_a_later_tick(store):
    broken = Broken("zammad", TransientSourceError("zammad: HTTP 503"))
    clock = Clock(t(2, 10))
    service = Service(SETTINGS, store, {"zammad": broken}, Engine.from_settings(SETTINGS), now=clock)
    service.tick("zammad")
    clock.moment = t(2, 11)
    service.tick("zammad")
    assert broken.calls == 2 and not service.health["zammad"].stopped


def serve(store, host, settings, cycle=True) -> TicketStore:
    """A service on the scripted host at 10:30: started (a config change recomputes open tickets
    then), and one cycle."""
    service = Service(
        settings, store, {"scripted": ScriptedAdapter(host)}, Engine.from_settings(settings), now=Clock(t(2, 10, 30))
    )
    service.start()
    if cycle:
        service.tick("scripted")
    return TicketStore(store)


def test_a_config_change_recomputes_open_tickets_at_start(store, host):
    # ticket 2 is open (a follow-up waits) and its first reply came in 20 minutes, met under 1h
    host.put_ticket(
        "2",
        t(2, 10),
        t(2, 10, 25),
        [
            ("m2", t(2, 10), "customer", True),
            ("m3", t(2, 10, 20), "agent", True),
            ("m4", t(2, 10, 25), "customer", True),
        ],
    )
    tickets = serve(store, host, SETTINGS)
    unanswered, answered = tickets.ticket_id("scripted", "1"), tickets.ticket_id("scripted", "2")
    assert tickets.records(unanswered, "scripted:1")[0].due == t(2, 11)
    stricter = load_settings(DEFAULT_POLICY.replace('first_reply = "1h"', 'first_reply = "15m"', 1))
    serve(store, host, stricter, cycle=False)
    running = tickets.records(unanswered, "scripted:1")[0]
    assert (running.due, running.status.value) == (t(2, 10, 15), "breached")  # re-targeted from its start
    met = tickets.records(answered, "scripted:2")[0]
    assert (met.metric, met.due, met.status.value) == ("first_reply", t(2, 11), "met")  # decided under 1h
    assert (
        store.db.execute(
            "SELECT count(*) FROM sla_events WHERE ticket_id = ? AND kind = 'breached'", [answered]
        ).fetchone()[0]
        == 0
    )
    assert store.meta(CONFIG_HASH_KEY) == Engine.from_settings(stricter).config_hash


def test_a_level_added_to_the_configuration_gives_open_tickets_their_clocks_at_start(store, host):
    host.put_ticket(
        "2",
        t(2, 9),
        t(2, 9, 30),
        [("m2", t(2, 9), "customer", True), ("m3", t(2, 9, 20), "agent", True)],
        status="solved",
    )
    tickets = serve(store, host, load_settings(DEFAULT_POLICY.replace('default_level = "Standard"', "")))
    unanswered, solved = tickets.ticket_id("scripted", "1"), tickets.ticket_id("scripted", "2")
    assert tickets.records(unanswered, "scripted:1") == [] == tickets.records(solved, "scripted:2")
    serve(store, host, SETTINGS, cycle=False)
    assert [(r.metric, r.status.value) for r in tickets.records(unanswered, "scripted:1")] == [
        ("first_reply", "running"),
        ("resolution", "running"),
    ]
    assert tickets.records(solved, "scripted:2") == []  # done before the level existed: no clocks


def test_a_config_change_recomputes_every_configured_source_also_one_not_pulled_now(store, tmp_path):
    from tests.support.engine_helpers import customer, ticket

    tickets, ids = TicketStore(store), {}
    with store.atomic():
        for source in ("email", "zammad"):
            store.register_source(source, source)
            ids[source] = tickets.upsert(replace(ticket(t(2, 10)), source=source), [customer(t(2, 10))])
    (tmp_path / "mail").mkdir()
    both = load_settings(
        DEFAULT_POLICY
        + f"""
[email]
maildir = "{tmp_path / "mail"}"
[zammad]
url = "https://zammad.example"
token = "secret"
"""
    )
    only_email = {"email": ScriptedAdapter(ScriptedHost(tmp_path / "host.json"), name="email")}
    Service(both, store, only_email, Engine.from_settings(both), now=Clock(t(2, 10, 30))).start()
    assert [r.metric for r in tickets.records(ids["zammad"], "zammad:1")] == ["first_reply", "resolution"]
    assert [r.metric for r in tickets.records(ids["email"], "email:1")] == ["first_reply", "resolution"]


def test_run_ticks_every_source_then_stops_when_asked(store, host):
    stop = threading.Event()
    adapter = ScriptedAdapter(host)
    service = Service(SETTINGS, store, {"scripted": adapter}, Engine.from_settings(SETTINGS), now=Clock(t(2, 10, 30)))
    original = service.tick

    def tick_then_stop(name):
        result = original(name)
        stop.set()
        return result

    service.tick = tick_then_stop
    service.run(stop)
    assert adapter.pulls == [None]


def test_sigterm_sets_the_stop_event_and_a_service_that_does_not_stop_in_time_exits_anyway():
    stop, exited = threading.Event(), threading.Event()
    codes = []
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        install_signal_handlers(stop, grace=0.01, exit_now=lambda code: (codes.append(code), exited.set()))
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
        assert exited.wait(5) and codes == [0]  # nothing stopped the timer: the hard exit came
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def test_a_dry_run_service_keeps_nothing_at_start(store, host):
    dry = load_settings(DEFAULT_POLICY.replace("[connector]", "[connector]\ndry_run = true"))
    service = Service(
        dry, store, {"scripted": ScriptedAdapter(host)}, Engine.from_settings(dry), now=Clock(t(2, 11, 1))
    )
    service.start()
    summary = service.tick("scripted")
    assert summary.breaches == 1 and summary.delivery.would_write
    assert store.meta(CONFIG_HASH_KEY) is None and store.db["tickets"].count == 0 and host.writes() == []


def test_writes_that_keep_failing_are_one_warning_and_their_recovery_one_line(store, tmp_path, caplog):
    host = ScriptedHost(tmp_path / "many.json")
    for n in range(3):
        host.put_ticket(str(n), t(2, 10), t(2, 10), [(f"m{n}", t(2, 10), "customer", True)])
    clock = Clock(t(2, 10, 30))
    service = Service(
        SETTINGS,
        store,
        {"scripted": ScriptedAdapter(host)},
        Engine.from_settings(SETTINGS),
        now=clock,
        sleep=lambda _: None,
    )
    service.tick("scripted")
    host.fail_next(*["500"] * 1000)
    with caplog.at_level(logging.INFO, logger="sla_connector"):
        for minute in (50, 51, 52):
            clock.moment = t(2, 10, minute)
            service.tick("scripted")
        host.save({**host.load(), "failures": []})
        clock.moment = t(2, 10, 56)  # the circuit's wait (the poll interval) is over
        service.tick("scripted")
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "writes are failing" in warnings[0]
    assert sum("writes go out again" in r.message for r in caplog.records) == 1
    assert len(host.writes()) == 3


def test_an_open_circuit_skips_the_host_for_a_growing_wait_then_one_write_probes_it(store, tmp_path, caplog):
    host = ScriptedHost(tmp_path / "many.json")
    for n in range(5):
        host.put_ticket(str(n), t(2, 10), t(2, 10), [(f"m{n}", t(2, 10), "customer", True)])
    clock = Clock(t(2, 10, 30))
    adapter = ScriptedAdapter(host)
    service = Service(
        SETTINGS, store, {"scripted": adapter}, Engine.from_settings(SETTINGS), now=clock, sleep=lambda _: None
    )
    service.tick("scripted")
    interval = service.interval("scripted")
    host.fail_next(*["500"] * 1000)

    def tick(moment):
        clock.moment = moment
        before = len(host.load()["failures"])
        service.tick("scripted")
        return before - len(host.load()["failures"])  # how many writes the host was asked for

    opened = t(2, 10, 50)
    with caplog.at_level(logging.DEBUG, logger="sla_connector"):
        assert tick(opened) == ATTEMPTS_PER_CYCLE + BREAKER_AFTER - 1  # retries, then one try each: open
        circuit = Outbox(store).breakers("scripted")["scripted"]
        assert circuit["until"] == iso(opened + interval) and "HTTP 500" in circuit["error"]
        assert tick(opened + interval / 2) == 0  # open: the host is not asked at all
        assert "circuit open since" in store.sync_state("scripted")["delivery_error"]
        assert tick(opened + interval) == 1  # the wait is over: one write probes it, and fails
        assert Outbox(store).breakers("scripted")["scripted"]["until"] == iso(opened + 3 * interval)  # twice as long
        assert tick(opened + 2 * interval) == 0
        host.save({**host.load(), "failures": []})
        assert tick(opened + 2 * interval + interval / 2) == 0  # recovered, but the circuit's wait is not over
        tick(opened + 3 * interval)  # the probe goes out, the circuit closes, the rest follows
    depth = Outbox(store).depth("scripted")
    assert "queued" not in depth and "sending" not in depth and len(host.writes()) == depth["delivered"] > 5
    assert Outbox(store).breakers("scripted") == {}
    assert store.sync_state("scripted")["breaker"] is None
    lines = [r.message for r in caplog.records]
    assert sum("circuit open:" in line for line in lines) == 1
    assert sum("circuit closed" in line for line in lines) == 1
