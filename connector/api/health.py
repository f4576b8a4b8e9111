"""`/healthz` for a load balancer or systemd watchdog, `/metrics` for Prometheus.

A source is failing when its last error is newer than its last success (or it never succeeded);
it has been failing since its last success (or since it was first seen). /healthz answers 503
once any source has been failing for longer than `[api] unhealthy_after`.

The metrics are read from the store at each scrape, by a prometheus-client collector, except
the records by status and metric: counting them scans every record (seconds on millions), so a
background thread counts them every `[api] metrics_refresh` and a scrape reads the last count
(`sla_connector_record_counts_age_seconds` says how old it is). The cycle duration histogram
is the one the service keeps in the store: each finished cycle is counted there, per source,
with its last success.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from connector.api.context import Context, context
from connector.api.models import Health
from connector.api.readonly import ReadOnlyStore
from connector.core.errors import StoreError
from connector.store.outbox import STATES, Outbox

log = logging.getLogger("sla_connector.api")
router = APIRouter(tags=["service"])


def source_health(ctx: Context) -> list[dict[str, Any]]:
    outbox = Outbox(ctx.store)
    first_seen = {row["name"]: row["first_seen_at"] for row in ctx.store.db.query("SELECT * FROM sources")}
    states = {row["source"]: row for row in ctx.store.db.query("SELECT * FROM sync_state")}
    limit = ctx.settings.api.unhealthy_after
    answer = []
    for section in ctx.settings.sources():
        state = states.get(section.name, {})
        success, error_at = state.get("last_success_at"), state.get("last_error_at")
        failing_for = None
        if error_at and (success is None or error_at > success):
            since = success or first_seen.get(section.name) or error_at
            failing_for = max(0, int((ctx.now - datetime.fromisoformat(since)).total_seconds()))
        answer.append(
            {
                "name": section.name,
                "kind": section.kind,
                "healthy": failing_for is None or failing_for <= limit.total_seconds(),
                "last_success_at": success,
                "last_error_at": error_at,
                "last_error": state.get("last_error"),
                "failing_for_seconds": failing_for,
                "outbox": {s: n for s, n in sorted(outbox.depth(section.name).items())},
            }
        )
    return answer


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(ctx: Annotated[Context, Depends(context)]) -> Response:
    """Per source: the last success, the last error, the outbox; 503 when one has failed too long."""
    sources = source_health(ctx)
    healthy = all(s["healthy"] for s in sources)
    return JSONResponse({"status": "ok" if healthy else "failing", "sources": sources}, 200 if healthy else 503)


class RecordCounts:
    """The records by status and metric, counted now and then in a thread of their own."""

    def __init__(self, database: Any, every: timedelta):
        self.database, self.every = database, every
        self.counts: list[tuple[str, str, int]] = []
        self.counted_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def count(self) -> None:
        try:
            store = ReadOnlyStore.open(self.database)
        except StoreError as exc:
            log.warning("metrics: %s", exc)
            return
        try:
            sql = "SELECT status, metric, count(*) FROM sla_records GROUP BY 1, 2 ORDER BY 1, 2"
            self.counts = [tuple(row) for row in store.db.execute(sql)]
            self.counted_at = time.monotonic()
        finally:
            store.close()

    def start(self) -> None:
        self.count()  # before the first request, so no scrape sees an empty count

        def loop() -> None:
            while not self._stop.wait(self.every.total_seconds()):
                self.count()

        self._thread = threading.Thread(target=loop, name="record-counts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


class StoreCollector(Collector):
    """The store's state as gauges, read when Prometheus scrapes."""

    def __init__(self, ctx: Context, counts: RecordCounts):
        self.ctx, self.counts = ctx, counts

    def collect(self):
        db = self.ctx.store.db
        records = GaugeMetricFamily(
            "sla_connector_records", "SLA records by status and metric", labels=["status", "metric"]
        )
        for status, metric, count in self.counts.counts:
            records.add_metric([status, metric], count)
        yield records
        if self.counts.counted_at is not None:
            yield GaugeMetricFamily(
                "sla_connector_record_counts_age_seconds",
                "how long ago sla_connector_records was counted",
                value=time.monotonic() - self.counts.counted_at,
            )
        open_breaches = GaugeMetricFamily(
            "sla_connector_breaches_open", "breached records whose clock has not stopped yet (unanswered)"
        )
        (count,) = db.execute(
            "SELECT count(*) FROM sla_records WHERE status = 'breached' AND stopped_at IS NULL"
        ).fetchone()
        open_breaches.add_metric([], count)
        yield open_breaches
        outbox = GaugeMetricFamily(
            "sla_connector_outbox", "outbox entries by source and state", labels=["source", "state"]
        )
        depth = {(s, st): n for s, st, n in db.execute("SELECT source, state, count(*) FROM outbox GROUP BY 1, 2")}
        for section in self.ctx.settings.sources():
            for state in STATES:
                outbox.add_metric([section.name, state], depth.get((section.name, state), 0))
        yield outbox
        success = GaugeMetricFamily(
            "sla_connector_last_success_timestamp_seconds", "the last successful sync of each source", labels=["source"]
        )
        errors = GaugeMetricFamily(
            "sla_connector_host_errors",
            "1 for each source whose last cycle failed, labelled with the kind of error",
            labels=["source", "kind"],
        )
        failing = GaugeMetricFamily(
            "sla_connector_source_failing_seconds",
            "how long each source has been failing (0: it is not)",
            labels=["source"],
        )
        for source in source_health(self.ctx):
            if source["last_success_at"]:
                success.add_metric([source["name"]], datetime.fromisoformat(source["last_success_at"]).timestamp())
            if source["failing_for_seconds"] is not None:
                kind = (source["last_error"] or "").split(":", 1)[0] or "unknown"
                errors.add_metric([source["name"], kind], 1)
            failing.add_metric([source["name"]], source["failing_for_seconds"] or 0)
        yield success
        yield errors
        yield failing
        yield self._cycle_durations(db)

    @staticmethod
    def _cycle_durations(db: Any) -> HistogramMetricFamily:
        histogram = HistogramMetricFamily(
            "sla_connector_cycle_duration_seconds", "how long each finished sync cycle took", labels=["source"]
        )
        buckets: dict[str, list[tuple[str, float]]] = {}
        try:
            rows = db.execute("SELECT source, le, count FROM cycle_durations ORDER BY source, le").fetchall()
            sums = dict(db.execute("SELECT source, coalesce(cycle_seconds_sum, 0) FROM sync_state"))
        except sqlite3.OperationalError:  # a store the service has not upgraded yet: no cycle counted
            return histogram
        for source, bound, count in rows:
            buckets.setdefault(source, []).append((floatToGoString(bound), count))
        for source, counts in buckets.items():
            histogram.add_metric([source], counts, sum_value=sums.get(source, 0.0))
        return histogram


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request, ctx: Annotated[Context, Depends(context)]) -> Response:
    """The store's state in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(ctx, request.app.state.record_counts))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
