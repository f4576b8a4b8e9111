"""schemathesis against /openapi.json: generated requests to every operation, no answer is a 5xx.

Bounded: a few dozen examples per operation, so the whole run takes seconds."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.api.conftest import TOKEN


def test_no_server_errors(api):
    """Every operation of the published schema, through schemathesis' strategies and hypothesis."""
    schema = schemathesis.openapi.from_url(api.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,  # the same examples on every run
            phases=[Phase.explicit, Phase.generate],  # a failure is reported as found, unshrunk
        )
        def no_server_error(case):
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
            healthz_failing = case.path == "/healthz" and response.status_code == 503  # the fixture's mailbox fails
            assert response.status_code < 500 or healthz_failing, (
                f"{case.method} {case.formatted_path} {case.query}: {response.status_code} {response.text[:500]}"
            )

        no_server_error()


def test_the_schema_describes_every_endpoint(api):
    paths = set(api.get("/openapi.json").json()["paths"])
    assert paths == {
        "/api/v1/reports/compliance",
        "/api/v1/reports/log",
        "/api/v1/reports/credits",
        "/api/v1/reports/breaches",
        "/api/v1/reports/due",
        "/api/v1/tickets/{source}/{ticket_id}/sla",
        "/healthz",
        "/metrics",
        "/",
    }
    assert api.get("/docs").status_code == 200
