"""The cycle duration histogram: the service counts each finished cycle in the store, the API
(its own process, read-only) exposes it in /metrics as a true Prometheus histogram."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from connector.api.app import create_app
from connector.api.server import Server, bind
from connector.config.settings import load_config
from connector.core.errors import TransientSourceError
from connector.service.cycle import Engine
from connector.service.daemon import Service
from connector.store.database import Store
from tests.support.engine_helpers import DEFAULT_POLICY, t
from tests.support.scripted_host import ScriptedAdapter, ScriptedHost


class Timer:
    """A monotonic clock that answers the given readings, one per call."""

    def __init__(self, *readings: float):
        self.readings = list(readings)

    def __call__(self) -> float:
        return self.readings.pop(0)


class Failing:
    def __init__(self, adapter):
        self.adapter, self.name, self.section = adapter, adapter.name, adapter.section
        self.capabilities = adapter.capabilities

    def pull(self, since, overlap=None):
        raise TransientSourceError("host down")
        yield  # pragma: no cover


def histogram(url: str) -> dict[tuple[str, str, str | None], float]:
    text = requests.get(url + "/metrics", timeout=10).text
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == "sla_connector_cycle_duration_seconds"]
    assert family.type == "histogram"
    return {(s.name, s.labels["source"], s.labels.get("le")): s.value for s in family.samples}


def test_cycles_are_counted_in_cumulative_buckets_and_served(tmp_path):
    database = tmp_path / "sla.db"
    config = tmp_path / "config.toml"
    config.write_text(DEFAULT_POLICY.replace("[connector]", f'[connector]\ndatabase = "{database}"'))
    settings = load_config(config)
    host = ScriptedHost(tmp_path / "host.json")
    host.put_ticket("1", t(2, 10), t(2, 10), [("m1", t(2, 10), "customer", True)])
    other_host = ScriptedHost(tmp_path / "other.json")
    store = Store.open(database)
    scripted, other = ScriptedAdapter(host), ScriptedAdapter(other_host, name="other")
    # three cycles of `scripted` (0.05 s, 3 s, 400 s) and one of `other` (exactly 1 s, a bound)
    timer = Timer(0.0, 0.05, 10.0, 13.0, 20.0, 420.0, 100.0, 101.0)
    service = Service(
        settings, store, {"scripted": scripted, "other": other}, Engine.from_settings(settings), now=lambda: t(2, 11),
        timer=timer,
    )  # fmt: skip
    for name in ("scripted", "scripted", "scripted", "other"):
        assert service.tick(name) is not None
    # a failed cycle finished nothing: not counted (its error is in /healthz and host_errors)
    service.adapters["other"] = Failing(other)
    service.health["other"].retry_at = None
    assert service.tick("other") is None
    assert timer.readings == [], "each finished cycle read the timer twice, the failed one never"
    store.close()

    server = Server(create_app(settings, clock=lambda: t(2, 11)), bind("127.0.0.1", 0)).start()
    try:
        samples = histogram(server.url)
    finally:
        server.stop()
    bucket = "sla_connector_cycle_duration_seconds_bucket"
    expected = {"0.1": 1, "0.25": 1, "0.5": 1, "1.0": 1, "2.5": 1, "5.0": 2, "10.0": 2, "30.0": 2, "60.0": 2,
                "120.0": 2, "300.0": 2, "600.0": 3, "+Inf": 3}  # fmt: skip
    assert {le: samples[bucket, "scripted", le] for le in expected} == expected
    assert samples["sla_connector_cycle_duration_seconds_count", "scripted", None] == 3
    assert abs(samples["sla_connector_cycle_duration_seconds_sum", "scripted", None] - 403.05) < 1e-9
    # a duration equal to a bound counts in that bucket (le: less or equal)
    assert samples[bucket, "other", "0.5"] == 0 and samples[bucket, "other", "1.0"] == 1
    assert samples["sla_connector_cycle_duration_seconds_count", "other", None] == 1


def test_a_dry_run_counts_no_cycle(tmp_path):
    store = Store.open(tmp_path / "sla.db")
    settings = load_config_text(tmp_path, DEFAULT_POLICY.replace("[connector]", "[connector]\ndry_run = true"))
    host = ScriptedHost(tmp_path / "host.json")
    host.put_ticket("1", t(2, 10), t(2, 10), [("m1", t(2, 10), "customer", True)])
    service = Service(settings, store, {"scripted": ScriptedAdapter(host)}, Engine.from_settings(settings),
                      now=lambda: t(2, 11), timer=Timer(0.0, 1.0))  # fmt: skip
    assert service.tick("scripted").pulled == 1
    assert store.db.execute("SELECT count(*) FROM cycle_durations").fetchone() == (0,)


def test_the_migration_is_safe_on_a_store_that_has_it(tmp_path):
    from connector.store.database import m007_cycle_durations

    store = Store.open(tmp_path / "sla.db")
    store.add_cycle_duration("x", 2.0)
    m007_cycle_durations(store.db)  # again: keeps what was counted
    assert store.db.execute("SELECT count FROM cycle_durations WHERE source = 'x' AND le = 2.5").fetchone() == (1,)


def load_config_text(folder, text):
    path = folder / "config.toml"
    path.write_text(text)
    return load_config(path)
