"""The log's pages: a keyset cursor (the last row's sort key and id), so paging through returns
each row exactly once, in the CLI's order, whatever the sort (empty cells and ties included) and
whatever the service writes between two pages."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from connector.api.app import create_app
from connector.api.server import Server, bind
from connector.config.settings import load_config
from connector.store.database import Store
from tests.api.conftest import NOW, TOKEN, build_store

SPAN = {"from": "2026-08-01", "to": "2026-11-30"}


def pages(get, query: dict, limit: int, between=None) -> tuple[list[dict], int]:
    rows, cursor, count = [], None, 0
    while True:
        answer = get({**query, "limit": str(limit), **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["rows"]) <= limit
        rows += page["rows"]
        count += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return rows, count
        if between is not None:
            between(count)


@pytest.mark.parametrize(
    "sort, desc",
    [
        (None, False),
        ("stopped", False),  # open records have no stop: empty cells first
        ("stopped", True),  # ... and last, descending
        ("ticket", False),  # the mail ticket has no number
        ("department,agent", False),  # few values: long runs of ties
        ("department,stopped", True),
        ("status,due", False),
        ("remaining", False),  # computed per row: pages by position
    ],
)
@pytest.mark.parametrize("limit", [1, 4])
def test_every_sort_pages_to_the_cli_s_rows(api, cli, sort, desc, limit):
    args = ["log", "--from", SPAN["from"], "--to", SPAN["to"], "--format", "json"]
    query = dict(SPAN)
    if sort:
        args += ["--sort", sort]
        query["sort"] = sort
    if desc:
        args.append("--desc")
        query["desc"] = "true"
    expected = json.loads(cli(*args))
    rows, count = pages(lambda q: api.get("/api/v1/reports/log", params=q), query, limit)
    assert rows == expected
    assert count == max(1, -(-len(expected) // limit))


def test_a_cursor_is_for_its_sort_only(api):
    first = api.get("/api/v1/reports/log", params={**SPAN, "limit": "3"}).json()
    other = api.get("/api/v1/reports/log", params={**SPAN, "limit": "3", "sort": "due", "cursor": first["next_cursor"]})
    assert other.status_code == 422 and other.json()["detail"][0]["loc"] == ["query", "cursor"]
    for forged in ({"sort": "start", "after": ["x", "y", 3]}, {"sort": "start", "after": ["x", 2**64]},
                   {"sort": "start", "after": [1.5, 3]}, {"sort": "start", "offset": -1}, ["start"]):  # fmt: skip
        text = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
        wrong = api.get("/api/v1/reports/log", params={**SPAN, "limit": "3", "cursor": text})
        assert wrong.status_code == 422, forged
        assert wrong.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_pages_stay_exact_while_the_service_writes(tmp_path):
    """Between pages, records are added before and after the cursor and others change: each
    record there at the start is returned once, and no row twice (offsets would repeat rows)."""
    config = build_store(tmp_path)
    settings = load_config(config)
    server = Server(create_app(settings, clock=lambda: NOW), bind("127.0.0.1", 0)).start()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    store = Store.open(settings.connector.database)
    db = store.db
    before = {(r["ticket"], r["metric"], r["seq"]) for r in _all(session, server.url)}
    template = dict(next(db["sla_records"].rows_where("ticket_id = 10")))
    added_after: list[tuple] = []

    def write(page: int) -> None:
        with store.atomic():
            # a record started before everything read so far, one after, and changes to others
            early = {**template, "ticket_id": 11, "metric": "resolution", "seq": 100 + page,
                     "start_at": "2026-08-01T00:00:00+00:00"}  # fmt: skip
            late = {**template, "ticket_id": 12, "metric": "resolution", "seq": 100 + page,
                    "start_at": "2026-11-30T12:00:00+00:00"}  # fmt: skip
            db["sla_records"].insert_all([early, late])
            added_after.append(("2002", "resolution", 100 + page))
            db.execute(
                "UPDATE sla_records SET status = 'met', updated_at = ? WHERE rowid % 3 = ?", [NOW.isoformat(), page % 3]
            )

    rows, count = pages(
        lambda q: session.get(server.url + "/api/v1/reports/log", params=q, timeout=30), SPAN, 5, between=write
    )
    server.stop()
    store.close()
    seen = [(r["ticket"], r["metric"], r["seq"]) for r in rows]
    assert len(seen) == len(set(seen)), "a row came twice"
    assert before <= set(seen), "a row was skipped"
    assert set(seen) - before == set(added_after), "what was added after the cursor comes once; before it, never"
    assert count > 5


def _all(session, url: str) -> list[dict]:
    return session.get(url + "/api/v1/reports/log", params={**SPAN, "limit": "10000"}, timeout=30).json()["rows"]
