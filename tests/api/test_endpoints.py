"""The API against a real server: each report equals the CLI's for the same store, as JSON and CSV."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest

from connector.api.readonly import ReadOnlyStore
from tests.api.conftest import NOW

CASES = [
    # endpoint, its query, the CLI's arguments for the same report
    ("compliance", {"from": "2026-08-01", "to": "2026-11-30"}, ["compliance", "--from", "2026-08-01", "--to", "2026-11-30"]),
    ("compliance", {"from": "2026-08-01", "to": "2026-11-30", "group_by": "week", "department": "Support"},
     ["compliance", "--from", "2026-08-01", "--to", "2026-11-30", "--group-by", "week", "--department", "Support"]),
    ("compliance", {"from": "2026-08-01", "to": "2026-11-30", "group_by": "customer"},
     ["compliance", "--from", "2026-08-01", "--to", "2026-11-30", "--group-by", "customer"]),
    ("log", {"from": "2026-08-01", "to": "2026-11-30", "limit": "10000"}, ["log", "--from", "2026-08-01", "--to", "2026-11-30"]),
    ("log", {"from": "2026-11-01", "to": "2026-11-30", "status": "running", "sort": "due", "desc": "true"},
     ["log", "--from", "2026-11-01", "--to", "2026-11-30", "--status", "running", "--sort", "due", "--desc"]),
    ("credits", {"month": "2026-11"}, ["credits", "--month", "2026-11"]),
    ("credits", {"month": "2026-10", "customer": "Beta"}, ["credits", "--month", "2026-10", "--customer", "Beta"]),
    ("breaches", {"month": "2026-11", "customer": "Beta"}, ["breaches", "--month", "2026-11", "--customer", "Beta"]),
    ("due", {}, ["due"]),
    ("due", {"within": "1h", "metric": "first_reply"}, ["due", "--within", "1h", "--metric", "first_reply"]),
]  # fmt: skip


@pytest.mark.parametrize("endpoint, query, args", CASES)
def test_json_and_csv_equal_the_cli(api, cli, endpoint, query, args):
    expected_json = json.loads(cli(*args, "--format", "json"))
    expected_csv = cli(*args, "--format", "csv")
    assert expected_json, "the case should have rows"
    answer = api.get(f"/api/v1/reports/{endpoint}", params=query)
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == expected_json
    as_csv = api.get(f"/api/v1/reports/{endpoint}", params={**query, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text == expected_csv
    by_accept = api.get(f"/api/v1/reports/{endpoint}", params=query, headers={"Accept": "text/csv"})
    assert by_accept.text == expected_csv


def test_csv_is_formula_safe(api):
    text = api.get("/api/v1/reports/due", params={"format": "csv"}).text
    assert "'=cmd|' /C calc'!A0" in text
    assert "\n=cmd" not in text and ",=cmd" not in text


def test_csv_streams_in_chunks_with_one_header(api, cli):
    from connector.api import tables

    expected = cli("log", "--from", "2026-08-01", "--to", "2026-11-30", "--format", "csv")
    small = tables.CHUNK_ROWS
    tables.CHUNK_ROWS = 7  # many chunks from the small store; the default argument is read at call time
    try:
        answer = api.get("/api/v1/reports/log", params={"from": "2026-08-01", "to": "2026-11-30", "format": "csv"})
    finally:
        tables.CHUNK_ROWS = small
    assert answer.headers.get("transfer-encoding") == "chunked"
    assert answer.text == expected
    assert answer.text.count("requester,requester_name,ticket") == 1


def test_log_pages_follow_the_cursor_to_the_same_rows(api, cli):
    expected = json.loads(cli("log", "--from", "2026-08-01", "--to", "2026-11-30", "--format", "json"))
    rows, cursor, pages = [], None, 0
    while True:
        query = {"from": "2026-08-01", "to": "2026-11-30", "limit": "7"}
        if cursor:
            query["cursor"] = cursor
        page = api.get("/api/v1/reports/log", params=query).json()
        rows += page["rows"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert rows == expected
    assert pages == -(-len(expected) // 7)


@pytest.mark.parametrize(
    "endpoint, query, parameter",
    [
        ("compliance", {"from": "2026-13-01", "to": "2026-11-30"}, "from"),
        ("compliance", {"to": "2026-11-30"}, "from"),
        ("compliance", {"from": "2026-11-30", "to": "2026-11-01"}, "to"),
        ("compliance", {"from": "2000-01-01", "to": "2387-01-01"}, "to"),
        ("log", {"from": "2000-01-01", "to": "2387-01-01"}, "to"),
        ("log", {"from": "9999-12-31", "to": "9999-12-31"}, "from"),
        ("compliance", {"from": "2026-01-01", "to": "9999-12-31"}, "to"),
        ("credits", {"month": "9999-12"}, "month"),
        ("compliance", {"from": "2026-11-01", "to": "2026-11-30", "agent": ""}, "agent"),
        ("compliance", {"from": "2026-11-01", "to": "2026-11-30", "group_by": "planet"}, "group_by"),
        ("log", {"from": "2026-11-01", "to": "2026-11-30", "sort": "nonsense"}, "sort"),
        ("log", {"from": "2026-11-01", "to": "2026-11-30", "limit": "0"}, "limit"),
        ("log", {"from": "2026-11-01", "to": "2026-11-30", "cursor": "garbage!"}, "cursor"),
        ("log", {"from": "2026-11-01", "to": "2026-11-30", "status": "happy"}, "status"),
        ("credits", {"month": "2026-13"}, "month"),
        ("credits", {"month": "2026-11", "customer": "Nobody"}, "customer"),
        ("breaches", {"month": "2026-11"}, "customer"),
        ("due", {"within": "soon"}, "within"),
        ("due", {"format": "xml"}, "format"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(api, endpoint, query, parameter):
    answer = api.get(f"/api/v1/reports/{endpoint}", params=query)
    assert answer.status_code == 422, answer.text
    assert [error["loc"] for error in answer.json()["detail"]] == [["query", parameter]]


@pytest.mark.parametrize("path", ["/api/v1/reports/due", "/api/v1/tickets/zammad/1/sla", "/metrics", "/healthz"])
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Bearer ", "Basic Og==", "Token s3cret-api-token"])
def test_a_missing_or_wrong_token_is_401(api, path, header):
    import requests

    headers = {"Authorization": header} if header else {}
    answer = requests.get(api.url + path, headers=headers, timeout=10)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_every_listed_token_is_accepted_hashed_or_plain_and_basic_for_a_browser(api):
    import requests

    for headers in ({"Authorization": "Bearer plain-second-token"},):
        assert requests.get(api.url + "/api/v1/reports/due", headers=headers, timeout=10).status_code == 200
    assert (
        requests.get(api.url + "/api/v1/reports/due", auth=("lead", "s3cret-api-token"), timeout=10).status_code == 200
    )
    # the status page is open unless [api] status_page_needs_token; the docs always
    assert requests.get(api.url + "/", timeout=10).status_code == 200
    assert requests.get(api.url + "/openapi.json", timeout=10).status_code == 200


def test_the_database_is_opened_read_only(api):
    store = ReadOnlyStore.open(api.settings.connector.database)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.db.execute("UPDATE sla_records SET status = 'met'")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.db.execute("CREATE TABLE intruder (x)")
    finally:
        store.close()


def test_ticket_sla_has_its_records_and_events(api):
    answer = api.get("/api/v1/tickets/zammad/1001/sla")
    assert answer.status_code == 200
    body = answer.json()
    assert body["ticket"]["link"] == "https://help.example/#ticket/zoom/1"
    assert [(r["metric"], r["status"]) for r in body["records"]] == [("first_reply", "met"), ("resolution", "breached")]
    assert body["records"][1]["business_seconds"] == 3 * 3600
    assert [e["kind"] for e in body["events"]] == ["started", "met"]
    assert api.get("/api/v1/tickets/zammad/1/sla").json() == body  # by the helpdesk's id too
    assert api.get("/api/v1/tickets/mail/1001/sla").status_code == 404


def test_healthz_is_503_when_a_source_failed_longer_than_allowed(api):
    answer = api.get("/healthz")
    assert answer.status_code == 503
    sources = {s["name"]: s for s in answer.json()["sources"]}
    assert sources["zammad"]["healthy"] and sources["zammad"]["failing_for_seconds"] is None
    assert sources["zammad"]["outbox"] == {"delivered": 5, "parked": 1, "queued": 2}
    assert not sources["mail"]["healthy"]
    assert sources["mail"]["failing_for_seconds"] == 2 * 3600
    assert sources["mail"]["last_error"].startswith("TransientSourceError")


def test_metrics_in_prometheus_format(api):
    from prometheus_client.parser import text_string_to_metric_families

    answer = api.get("/metrics")
    assert answer.status_code == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
    assert samples[("sla_connector_records", (("metric", "first_reply"), ("status", "running")))] == 2
    assert samples[("sla_connector_records", (("metric", "resolution"), ("status", "breached")))] == 1
    assert samples[("sla_connector_outbox", (("source", "zammad"), ("state", "parked")))] == 1
    assert samples[("sla_connector_outbox", (("source", "mail"), ("state", "queued")))] == 0
    assert samples[("sla_connector_host_errors", (("kind", "TransientSourceError"), ("source", "mail")))] == 1
    assert samples[("sla_connector_source_failing_seconds", (("source", "mail"),))] == 7200
    last = samples[("sla_connector_last_success_timestamp_seconds", (("source", "zammad"),))]
    assert last == (NOW - timedelta(minutes=3)).timestamp()
