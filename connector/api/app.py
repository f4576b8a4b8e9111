"""The FastAPI application: its routes, the token checks, and /openapi.json with /docs.

/docs (Swagger UI) and /redoc load their scripts and styles from the package (fastapi-offline
ships them), never from a CDN, so they work on a host without Internet access.

Public API: `create_app(settings, clock=None, tokens=None) -> FastAPI`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from connector.api import health, report_routes, status_page, ticket_routes
from connector.api.auth import api_token, operator_token
from connector.api.context import AppState
from connector.api.tokens import Tokens, load_tokens
from connector.core.errors import StoreError

DESCRIPTION = """Read-only access to SLA Connector's store: the compliance report, the SLA log,
service credits, breach statements and the due queue (JSON, or CSV with `format=csv` or
`Accept: text/csv`), one ticket's SLA records, health and Prometheus metrics. Send the token as
`Authorization: Bearer <token>` when `[api] tokens_file` is set."""


DOCS_ASSETS = "/docs-assets"  # Swagger UI's and ReDoc's files, served from the package


def create_app(settings: Any, clock: Callable[[], datetime] | None = None, tokens: Tokens | None = None) -> FastAPI:
    counts = health.RecordCounts(settings.connector.database, settings.api.metrics_refresh)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        counts.start()
        yield
        counts.stop()

    app = FastAPIOffline(
        title="SLA Connector",
        version=version("sla-connector"),
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
    )
    app.state.record_counts = counts
    app.state.sla = AppState(
        settings=settings,
        clock=clock or (lambda: datetime.now(UTC)),
        tokens=tokens if tokens is not None else load_tokens(settings.api.tokens_file),
    )
    app.include_router(report_routes.router, dependencies=[Depends(api_token)])
    app.include_router(ticket_routes.router, dependencies=[Depends(api_token)])
    app.include_router(health.router, dependencies=[Depends(operator_token)])
    app.include_router(status_page.router)

    @app.exception_handler(StoreError)
    def store_unavailable(request: Request, exc: StoreError) -> JSONResponse:
        # no database yet, or it cannot be read: the service is not ready, not broken
        return JSONResponse({"detail": str(exc)}, status_code=503)

    return app
