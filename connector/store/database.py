"""The connector's own SQLite database: schema, migrations, and the queries the service needs.

Public API: `Store.open(path)`, `Store.atomic()`, `Store.schema_version`, the sync-state helpers,
and `MIGRATIONS`. Timestamps are stored as UTC ISO-8601 text (`2026-11-25T08:00:00+00:00`), which
sorts correctly as text. WAL mode lets report exports read while the service writes. Opening
also makes the SLA log's ticket cells this version's (`connector.store.ticket_cells`).

A database whose applied migrations include one this version does not know was written by a
newer version; it is refused rather than half understood.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database, Migrations

from connector.core.errors import StoreError
from connector.store import ticket_cells
from connector.store.codec import iso

MIGRATIONS = Migrations("sla-connector")


@MIGRATIONS()
def m001_initial(db: Database) -> None:
    db["sources"].create({"name": str, "kind": str, "first_seen_at": str}, pk="name")
    db["sync_state"].create(
        {
            "source": str,
            "cursor": str,
            "last_success_at": str,
            "last_error_at": str,
            "last_error": str,
            "last_cycle": str,
        },
        pk="source",
    )
    db["tickets"].create(
        {
            "id": int,
            "source": str,
            "external_id": str,
            "number": str,
            "title": str,
            "channel": str,
            "status": str,
            "raw_status": str,
            "priority_rank": int,
            "priority_name": str,
            "department": str,
            "assignee": str,
            "requester_name": str,
            "requester_email": str,
            "organization": str,
            "tags": str,
            "custom": str,
            "referrer_url": str,
            "web_url": str,
            "created_at": str,
            "updated_at": str,
            "closed_at": str,
            "deleted": int,
            "level": str,
            "snapshot": str,
        },
        pk="id",
    )
    db["tickets"].create_index(["source", "external_id"], unique=True)
    db["messages"].create(
        {
            "ticket_id": int,
            "external_id": str,
            "at": str,
            "author_role": str,
            "public": int,
            "channel": str,
            "auto_generated": int,
            "own": int,
        },
        pk=("ticket_id", "external_id"),
        foreign_keys=[("ticket_id", "tickets", "id")],
    )
    db["sla_records"].create(
        {
            "ticket_id": int,
            "metric": str,
            "seq": int,
            "level": str,
            "calendar": str,
            "target_us": int,
            "start_at": str,
            "due_at": str,
            "stopped_at": str,
            "status": str,
            "business_us": int,
            "paused_us": int,
            "steps_fired": str,
            "next_step_at": str,
            "next_check_at": str,
            "pauses": str,
            "updated_at": str,
        },
        pk=("ticket_id", "metric", "seq"),
        foreign_keys=[("ticket_id", "tickets", "id")],
    )
    # the time-driven pick-up: records whose next step or due time has passed
    db["sla_records"].create_index(["next_check_at"])
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["sla_events"].create(
        {
            "id": int,
            "key": str,
            "ticket_id": int,
            "metric": str,
            "seq": int,
            "kind": str,
            "at": str,
            "recorded_at": str,
            "data": str,
        },
        pk="id",
    )
    db["sla_events"].create_index(["key"], unique=True)
    db["outbox"].create(
        {
            "id": int,
            "key": str,
            "source": str,
            "ticket_id": int,
            "event_key": str,
            "kind": str,
            "payload": str,
            "state": str,
            "attempts": int,
            "last_error": str,
            "created_at": str,
            "updated_at": str,
            "delivered_at": str,
        },
        pk="id",
    )
    db["outbox"].create_index(["key"], unique=True)
    db["outbox"].create_index(["state", "id"])


@MIGRATIONS()
def m002_report_indexes(db: Database) -> None:
    # reports select by the time a record was decided (covering: the compliance report reads
    # only these indexes) and by customer
    db["sla_records"].create_index(["stopped_at", "status", "business_us"])
    db["sla_records"].create_index(["due_at", "status", "business_us"])
    db["sla_records"].create_index(["start_at"])
    db["tickets"].create_index(["organization"])
    db["sla_events"].create_index(["ticket_id", "metric", "seq"])


@MIGRATIONS()
def m003_cycle_progress(db: Database) -> None:
    # what `status` shows while a cycle runs, and why writes are not going out
    db["sync_state"].add_column("cycle_started_at", str)
    db["sync_state"].add_column("cycle_phase", str)
    db["sync_state"].add_column("cycle_done", int)
    db["sync_state"].add_column("cycle_total", int)
    db["sync_state"].add_column("delivery_error", str)


@MIGRATIONS()
def m004_report_group_indexes(db: Database) -> None:
    # the compliance report by department, customer, metric ... reads the ticket, metric and
    # level of each record from these indexes too; they replace m002's narrower two
    db["sla_records"].create_index(
        ["stopped_at", "status", "ticket_id", "metric", "level", "business_us"], index_name="records_by_stop"
    )
    db["sla_records"].create_index(
        ["due_at", "status", "ticket_id", "metric", "level", "business_us"], index_name="records_by_due"
    )
    db.execute("DROP INDEX IF EXISTS idx_sla_records_stopped_at_status_business_us")
    db.execute("DROP INDEX IF EXISTS idx_sla_records_due_at_status_business_us")


@MIGRATIONS()
def m005_delivery_breaker(db: Database) -> None:
    # each channel whose circuit is open: since when, until when, and the last failure (JSON)
    if "breaker" not in db["sync_state"].columns_dict:
        db["sync_state"].add_column("breaker", str)


@MIGRATIONS()
def m006_records_by_ticket(db: Database) -> None:
    # the compliance report by department, customer, tag ... over most of the store reads every
    # record in ticket order from this index and sums each ticket's records without sorting them
    db["sla_records"].create_index(
        ["ticket_id", "metric", "level", "status", "stopped_at", "due_at", "business_us"],
        index_name="records_by_ticket",
        if_not_exists=True,
    )


# the upper bounds (seconds) of the cycle duration histogram's buckets; +Inf counts every cycle
CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, float("inf"))


@MIGRATIONS()
def m007_cycle_durations(db: Database) -> None:
    # each finished cycle's duration per source, as a cumulative histogram the API can expose:
    # a row per (source, bucket bound) with the cycles that took at most that long, and the
    # sum of all durations in the sync state
    db["cycle_durations"].create(
        {"source": str, "le": float, "count": int}, pk=("source", "le"), not_null={"count"}, if_not_exists=True
    )
    if "cycle_seconds_sum" not in db["sync_state"].columns_dict:
        db["sync_state"].add_column("cycle_seconds_sum", float)
    # the breach forecast reads the durations of a level's and metric's recent clocks from
    # this index alone (the status page does, for each page it shows)
    db["sla_records"].create_index(
        ["metric", "level", "start_at", "stopped_at", "status", "business_us"],
        index_name="records_by_kind",
        if_not_exists=True,
    )


# the events that change what the SLA log says of a record's stop (its `stop_note`)
CORRECTED_EVENT = "kind = 'corrected'"
ESTIMATED_STOP_EVENT = "kind IN ('met', 'breached', 'corrected') AND json_extract(data, '$.stop_estimated')"


@MIGRATIONS()
def m008_stop_note_indexes(db: Database) -> None:
    # the log export finds the few records with a stop note from these small indexes, instead of
    # probing every record's events
    db.execute(
        f"CREATE INDEX IF NOT EXISTS events_corrected ON sla_events (ticket_id, metric, seq) WHERE {CORRECTED_EVENT}"
    )
    db.execute(
        f"CREATE INDEX IF NOT EXISTS events_estimated ON sla_events (ticket_id, metric, seq) WHERE {ESTIMATED_STOP_EVENT}"
    )


def utc_now_iso() -> str:
    return iso(datetime.now(UTC))


class Store:
    """One SQLite database; open it with `Store.open(path)`."""

    def __init__(self, db: Database, path: Path):
        self.db = db
        self.path = path

    @classmethod
    def open(cls, path: str | Path) -> Store:
        path = Path(path)
        if not path.parent.is_dir():
            raise StoreError(f"{path}: the folder {str(path.parent)!r} does not exist; create it first")
        try:
            db = Database(path)
            db.execute("PRAGMA foreign_keys = ON")
            cls._refuse_newer(db, path)
            db.enable_wal()
            MIGRATIONS.apply(db)
            ticket_cells.ensure(db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the database: {exc}") from None
        return cls(db, path)

    @staticmethod
    def _refuse_newer(db: Database, path: Path) -> None:
        known = {m.name for m in MIGRATIONS.pending(Database(memory=True))}
        unknown = [m.name for m in MIGRATIONS.applied(db) if m.name not in known]
        if unknown:
            raise StoreError(
                f"{path}: written by a newer SLA Connector (schema step {unknown[0]!r} is unknown to this "
                "version); upgrade SLA Connector, or restore a backup made before the upgrade"
            )

    @property
    def schema_version(self) -> int:
        return len(MIGRATIONS.applied(self.db))

    def atomic(self) -> AbstractContextManager[Any]:
        """One transaction: everything inside is committed together or not at all. Inside another
        one it is a savepoint: undone alone on an error, kept or undone with the outer one."""
        return self._savepoint() if self.db.conn.in_transaction else self.db.atomic()

    @contextmanager
    def _savepoint(self) -> Iterator[Database]:
        # one fixed name (SQLite nests savepoints of the same name): sqlite-utils names each one
        # anew, so its statements are prepared again for every ticket of every sync
        conn = self.db.conn
        conn.execute("SAVEPOINT nested")
        try:
            yield self.db
        except BaseException:
            if conn.in_transaction:  # an error may have ended the whole transaction already
                conn.execute("ROLLBACK TO SAVEPOINT nested")
                conn.execute("RELEASE SAVEPOINT nested")
            raise
        conn.execute("RELEASE SAVEPOINT nested")

    def close(self) -> None:
        self.db.close()

    # ---- sources and their sync state --------------------------------------------------------

    def register_source(self, name: str, kind: str) -> None:
        self.db.execute(
            "INSERT INTO sources (name, kind, first_seen_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET kind = excluded.kind",
            [name, kind, utc_now_iso()],
        )

    def sync_state(self, source: str) -> dict[str, Any]:
        rows = list(self.db["sync_state"].rows_where("source = ?", [source]))
        return (
            rows[0]
            if rows
            else {
                "source": None,
                "cursor": None,
                "last_success_at": None,
                "last_error_at": None,
                "last_error": None,
                "last_cycle": None,
                "cycle_started_at": None,
                "cycle_phase": None,
                "cycle_done": None,
                "cycle_total": None,
                "delivery_error": None,
                "cycle_seconds_sum": None,
                "breaker": None,
            }
        )

    def set_sync_state(self, source: str, **fields: Any) -> None:
        self.db["sync_state"].upsert({"source": source, **fields}, pk="source")

    def add_cycle_duration(self, source: str, seconds: float) -> None:
        """Count one finished cycle of `source` in the duration histogram (in the caller's
        transaction, so it is counted with the cycle's other writes or not at all)."""
        seconds = max(0.0, seconds)
        self.db.conn.executemany(
            "INSERT INTO cycle_durations (source, le, count) VALUES (?, ?, 0) ON CONFLICT DO NOTHING",
            [(source, bound) for bound in CYCLE_BUCKETS],
        )
        self.db.execute("UPDATE cycle_durations SET count = count + 1 WHERE source = ? AND le >= ?", [source, seconds])
        self.db.execute(
            "UPDATE sync_state SET cycle_seconds_sum = coalesce(cycle_seconds_sum, 0) + ? WHERE source = ?",
            [seconds, source],
        )

    def meta(self, key: str) -> str | None:
        rows = list(self.db["meta"].rows_where("key = ?", [key]))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.db["meta"].upsert({"key": key, "value": value}, pk="key")
