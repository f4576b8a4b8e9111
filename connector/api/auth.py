"""The token check: `Authorization: Bearer <token>`, or HTTP Basic with the token as the password
(so a browser can open the status page behind a token). No tokens file: nothing is asked.

Public API: `api_token`, `operator_token`, `page_token` (FastAPI dependencies).
"""

from __future__ import annotations

import base64
import binascii

from fastapi import HTTPException, Request

from connector.api.context import app_state


def _presented(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def _check(request: Request, challenge: str) -> None:
    tokens = app_state(request).tokens
    if tokens.required and not tokens.accepts(_presented(request)):
        raise HTTPException(401, "a valid API token is required", headers={"WWW-Authenticate": challenge})


def api_token(request: Request) -> None:
    _check(request, 'Bearer realm="sla-connector"')


def operator_token(request: Request) -> None:
    """/metrics and /healthz: behind the token only when `[api] metrics_need_token`."""
    if app_state(request).settings.api.metrics_need_token:
        _check(request, 'Bearer realm="sla-connector"')


def page_token(request: Request) -> None:
    if app_state(request).settings.api.status_page_needs_token:
        _check(request, 'Basic realm="sla-connector", charset="UTF-8"')
