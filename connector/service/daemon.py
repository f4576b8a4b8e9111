"""The long-running service: each source's cycle on its own interval, one instance per database.

Public API: `Service(settings, store, adapters, engine, now=..., timer=...)` (`timer`: the
monotonic clock each cycle's duration is measured with) with `start()`, `tick(name)`,
`run(stop)`; `instance_lock(database)`, `instance_running(database)`; `install_signal_handlers(stop)`.

The error policy of the poll loop: a source that starts failing is logged once (with the
traceback when the error is unexpected) and retried on later ticks with a growing back-off; its
recovery is logged once; refused credentials stop that source until an operator restarts the
service; other sources keep running. `schedule` jobs are wrapped so that none ever raises (a job
that raises would be retried in a tight loop and block the jobs after it).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
import time as monotonic_time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import schedule

from connector.core.errors import AuthFailed, ConnectorError, SourceError
from connector.service.cycle import CycleSummary, Engine, recompute_open, record_failure, run_cycle
from connector.store.database import Store

log = logging.getLogger("sla_connector.service")

MAX_BACKOFF = timedelta(hours=1)
CONFIG_HASH_KEY = "config_hash"


class ServiceLocked(ConnectorError):
    """Another instance already serves this database."""


def _lock_path(database: Path) -> Path:
    # beside the database's real path, so a symlink or a relative path meets the same lock
    return Path(f"{Path(database).resolve()}.lock")


@contextmanager
def instance_lock(database: Path) -> Iterator[None]:
    """Hold `<database>.lock` for as long as the service runs; the OS frees it if we die. The
    lock is taken beside the database's real path, so a symlink or a relative path to the same
    database meets the same lock."""
    handle = open(_lock_path(database), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise ServiceLocked(f"another sla-connector (pid {holder}) is already running on {database}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def instance_running(database: Path) -> bool:
    """Whether a process holds the database's instance lock now (`status` asks, to tell a cycle
    in progress from one whose process died)."""
    try:
        handle = open(_lock_path(database))
    except OSError:
        return False  # never locked: no service has run on it here
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


STOP_GRACE = 8.0  # seconds between SIGTERM and a hard exit (systemd waits longer, an operator less)


def install_signal_handlers(
    stop: threading.Event, grace: float = STOP_GRACE, exit_now: Callable[[int], None] = os._exit
) -> None:
    """SIGTERM and SIGINT stop the service between two writes. A host call that hangs cannot
    hold it: after `grace` seconds the process exits anyway, which is as safe as a kill (the
    outbox keeps every write not recorded as delivered)."""

    def stop_soon(*_: Any) -> None:
        if stop.is_set():
            return
        stop.set()

        def hard_exit() -> None:
            log.warning("not stopped within %.0f s (a host does not answer); exiting now", grace)
            logging.shutdown()
            exit_now(0)

        timer = threading.Timer(grace, hard_exit)
        timer.daemon = True
        timer.start()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop_soon)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Health:
    failures: int = 0
    retry_at: datetime | None = None
    stopped: bool = False
    writes_failing: bool = False  # said once when writes start failing, once when they recover


class Service:
    def __init__(
        self,
        settings: Any,
        store: Store,
        adapters: dict[str, Any],
        engine: Engine,
        now: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] | None = None,
        stop: threading.Event | None = None,
        timer: Callable[[], float] = monotonic_time.monotonic,
    ):
        self.settings, self.store, self.adapters, self.engine = settings, store, adapters, engine
        self.now, self.timer = now, timer
        self.stop = stop or threading.Event()
        # retries wait on the stop event, so a stop request cuts a back-off short
        self.sleep = sleep or (lambda seconds: self.stop.wait(seconds))
        self.health = {name: _Health() for name in adapters}
        self.scheduler = schedule.Scheduler()
        # daily jobs at "HH:MM" in report_timezone: (time, job); each day's run is remembered here
        self.extra_jobs: list[tuple[str, Callable[[], None]]] = []
        self._daily_done: dict[int, date] = {}

    def start(self) -> None:
        """Recompute open tickets when the SLA configuration changed since the last start
        (not in a dry run, which keeps nothing)."""
        if self.settings.connector.dry_run or self.store.meta(CONFIG_HASH_KEY) == self.engine.config_hash:
            return
        # every configured source, also those this run does not pull (`sync --once --source`):
        # the new configuration is recorded as applied once for all of them
        for source in sorted({section.name for section in self.settings.sources()} | set(self.adapters)):
            summary = recompute_open(self.store, self.engine, source, self.now())
            if summary.rechecked:
                log.info("configuration changed: recomputed %d open tickets of %s", summary.rechecked, source)
        with self.store.atomic():
            self.store.set_meta(CONFIG_HASH_KEY, self.engine.config_hash)

    def tick(self, name: str) -> CycleSummary | None:
        """One cycle of one source, never raising: what went wrong is logged and remembered."""
        health, adapter, now = self.health[name], self.adapters[name], self.now()
        if health.stopped or (health.retry_at is not None and now < health.retry_at):
            return None
        try:
            summary = run_cycle(
                self.store,
                adapter,
                self.engine,
                now,
                self.settings.connector.overlap,
                dry_run=self.settings.connector.dry_run,
                sleep=self.sleep,
                attempts=self.settings.connector.delivery_attempts,
                should_stop=self.stop.is_set,
                timer=self.timer,
                breaker_base=self.interval(name),
            )
        except Exception as exc:  # the loop must survive anything one source does
            self._failed(name, health, exc, now)
            return None
        if health.failures:
            log.info("%s: recovered after %d failed cycles", name, health.failures)
        health.failures, health.retry_at = 0, None
        self._delivery_health(name, health, summary)
        # an idle cycle is a debug line: at a one-minute poll, info would be 1,440 lines a day
        log.log(logging.DEBUG if summary.idle else logging.INFO, "%s", summary.line())
        return summary

    @staticmethod
    def _delivery_health(name: str, health: _Health, summary: CycleSummary) -> None:
        """Writes that keep failing are one warning, not one a cycle; their recovery one line."""
        delivery = summary.delivery
        problems = "; ".join(f"{channel}: {why}" for channel, why in delivery.channel_errors.items())
        if delivery.failed or problems:
            if not health.writes_failing:
                log.warning(
                    "%s: writes are failing (%s); they stay queued and are tried again every cycle",
                    name,
                    problems or f"{delivery.failed} failed",
                )
            health.writes_failing = True
        elif health.writes_failing and delivery.delivered:
            log.info("%s: writes go out again", name)
            health.writes_failing = False

    def _failed(self, name: str, health: _Health, error: Exception, now: datetime) -> None:
        health.failures += 1
        interval = self.interval(name)
        health.retry_at = now + min(interval * 2 ** (health.failures - 1), MAX_BACKOFF)
        try:
            record_failure(self.store, name, error, now)
        except Exception:  # the database itself may be what failed; the log still says so
            log.exception("%s: could not record the failure", name)
        if isinstance(error, AuthFailed):
            health.stopped = True
            log.error("%s: credentials refused (%s); this source stops until the service is restarted", name, error)
        elif health.failures == 1:
            if isinstance(error, SourceError):
                log.warning("%s: cycle failed: %s; retrying with back-off", name, error)
            else:
                log.error("%s: unexpected error; retrying with back-off\n%s", name, traceback.format_exc())
        else:
            log.debug("%s: still failing (%d): %s", name, health.failures, error)

    def interval(self, name: str) -> timedelta:
        """The source's poll interval (its own, or the connector's)."""
        return getattr(self.adapters[name].section, "poll_interval", None) or self.settings.connector.poll_interval

    def schedule_jobs(self) -> None:
        for name in self.adapters:
            seconds = max(1, int(self.interval(name).total_seconds()))
            self.scheduler.every(seconds).seconds.do(self.tick, name)
        self.scheduler.every(30).seconds.do(self.run_daily_jobs)

    def run_daily_jobs(self) -> None:
        """Run each daily job once a day, at its time in report_timezone (not the host's zone).
        A job whose time had passed when the service started waits for the next day."""
        local = self.now().astimezone(ZoneInfo(self.settings.connector.report_timezone))
        for index, (at, job) in enumerate(self.extra_jobs):
            hour, minute = (int(part) for part in at.split(":"))
            passed = local.time() >= time(hour, minute)
            if index not in self._daily_done:
                self._daily_done[index] = local.date() if passed else local.date() - timedelta(days=1)
                continue
            if passed and self._daily_done[index] < local.date():
                self._daily_done[index] = local.date()
                self._guarded(job)

    @staticmethod
    def _guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            log.exception("scheduled job %s failed; it runs again at its next time", getattr(job, "__name__", job))

    def run(self, stop: threading.Event | None = None) -> None:
        """Run until `stop` is set: every source once at start, then on its interval."""
        stop = self.stop = stop or self.stop
        self.start()
        self.schedule_jobs()
        self.run_daily_jobs()
        for name in self.adapters:
            if stop.is_set():
                break
            self.tick(name)
        while not stop.is_set():
            self.scheduler.run_pending()
            idle = self.scheduler.idle_seconds
            stop.wait(timeout=min(30.0, max(0.0, idle if idle is not None else 30.0)))
        log.info("stopped")
