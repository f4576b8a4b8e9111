from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlite_utils import Database

from connector.core.errors import StoreError
from connector.core.model import Status, StatusChange, Ticket
from connector.store.codec import iso as to_iso
from connector.store.codec import parse_iso as from_iso
from connector.store.codec import ticket_from_json, ticket_to_json
from connector.store.database import MIGRATIONS, Store


def test_new_database_is_migrated_and_in_wal_mode(tmp_path):
    store = Store.open(tmp_path / "sla.db")
    assert store.schema_version == len(list(MIGRATIONS.pending(Database(memory=True)))) >= 5
    assert store.db.journal_mode == "wal"
    assert {"sources", "sync_state", "tickets", "messages", "sla_records", "sla_events", "outbox"} <= set(
        store.db.table_names()
    )


def test_a_schema_version_1_database_opens_under_the_current_version(tmp_path):
    path = tmp_path / "old.db"
    old = Database(path)
    MIGRATIONS.apply(old, stop_before="m002_report_indexes")
    old["sync_state"].insert({"source": "email", "cursor": "1:42"})
    old.close()

    store = Store.open(path)
    assert store.schema_version == len(list(MIGRATIONS.pending(Database(memory=True))))
    assert store.sync_state("email")["cursor"] == "1:42" and store.sync_state("email")["breaker"] is None
    assert "records_by_due" in {index.name for index in store.db["sla_records"].indexes}


def test_the_breaker_column_is_added_once_also_where_it_exists_already(tmp_path):
    path = tmp_path / "old.db"
    old = Database(path)
    MIGRATIONS.apply(old, stop_before="m005_delivery_breaker")
    old["sync_state"].insert({"source": "email", "cursor": "1:42"})
    old["sync_state"].add_column("breaker", str)  # a store where the column came another way
    old["sync_state"].update("email", {"breaker": '{"smtp": {}}'})
    old.close()
    store = Store.open(path)
    assert store.schema_version == len(list(MIGRATIONS.pending(Database(memory=True))))
    assert store.sync_state("email")["breaker"] == '{"smtp": {}}'


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "new.db"
    Store.open(path).db["_sqlite_migrations"].insert(
        {"migration_set": "sla-connector", "name": "m999_future", "applied_at": "2030-01-01"}
    )
    with pytest.raises(StoreError, match="written by a newer SLA Connector .*'m999_future'"):
        Store.open(path)


def test_missing_folder_and_garbage_file_are_clear_errors(tmp_path):
    with pytest.raises(StoreError, match="does not exist; create it first"):
        Store.open(tmp_path / "no" / "such" / "sla.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the database"):
        Store.open(garbage)


def test_atomic_rolls_back_every_write_of_a_failed_cycle(tmp_path):
    store = Store.open(tmp_path / "sla.db")
    with pytest.raises(RuntimeError):
        with store.atomic():
            store.set_sync_state("email", cursor="1:10")
            store.register_source("email", "email")
            raise RuntimeError("crash in the middle of a cycle")
    assert store.sync_state("email")["cursor"] is None
    assert store.db["sources"].count == 0


def test_a_nested_atomic_block_is_undone_alone_and_kept_or_undone_with_the_outer_one(store):
    def cursor(value):
        store.set_sync_state("email", cursor=value)

    with store.atomic():
        cursor("1")
        with store.atomic():
            cursor("2")
            with pytest.raises(RuntimeError), store.atomic():
                cursor("3")
                raise RuntimeError("a bad ticket")
            assert store.sync_state("email")["cursor"] == "2"
        with pytest.raises(RuntimeError), store.atomic():
            cursor("4")
            with store.atomic():
                cursor("5")
            raise RuntimeError("a bad ticket after a good inner step")
        assert store.sync_state("email")["cursor"] == "2"
    assert store.sync_state("email")["cursor"] == "2"

    with pytest.raises(RuntimeError), store.atomic():
        cursor("6")
        with store.atomic():
            cursor("7")
        raise RuntimeError("the cycle fails")
    assert store.sync_state("email")["cursor"] == "2"
    assert not store.db.conn.in_transaction


def test_times_are_stored_as_utc_iso_text():
    berlin = timezone(timedelta(hours=1))
    assert to_iso(datetime(2026, 11, 25, 9, 30, tzinfo=berlin)) == "2026-11-25T08:30:00+00:00"
    assert from_iso("2026-11-25T08:30:00+00:00") == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive datetime"):
        to_iso(datetime(2026, 11, 25, 9, 30))


def test_a_tickets_status_history_keeps_the_hosts_order_and_estimates():
    at = datetime(2026, 11, 2, 10, tzinfo=UTC)
    history = (StatusChange(at, Status.OPEN, "open", 7), StatusChange(at, Status.SOLVED, "Done", 8, True))
    ticket = Ticket("email", "m1", at, at, Status.SOLVED, status_history=history)
    assert ticket_from_json(ticket_to_json(ticket)).status_history == history
    older = json.loads(ticket_to_json(ticket))
    older["status_history"] = [row[:3] for row in older["status_history"]]  # as an older version stored it
    assert ticket_from_json(json.dumps(older)).status_history == (
        StatusChange(at, Status.OPEN, "open"),
        StatusChange(at, Status.SOLVED, "Done"),
    )


def test_a_store_before_the_cycle_histogram_gains_it_and_keeps_its_state(tmp_path):
    path = tmp_path / "old.db"
    old = Database(path)
    MIGRATIONS.apply(old, stop_before="m007_cycle_durations")
    old["sync_state"].insert({"source": "email", "cursor": "1:42", "last_cycle": "email: 3 tickets pulled"})
    old.close()

    store = Store.open(path)
    assert store.sync_state("email")["cursor"] == "1:42"
    assert "records_by_kind" in {index.name for index in store.db["sla_records"].indexes}
    with store.atomic():
        store.add_cycle_duration("email", 0.3)
        store.add_cycle_duration("email", 0.3)
    counts = dict(store.db.execute("SELECT le, count FROM cycle_durations WHERE source = 'email'").fetchall())
    assert counts[0.25] == 0 and counts[0.5] == 2 and counts[float("inf")] == 2
    assert store.sync_state("email")["cycle_seconds_sum"] == pytest.approx(0.6)
