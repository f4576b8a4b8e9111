"""HTTP to one Zammad: the token, a request budget, retries, and every error translated here.

Public API: `ZammadClient(section, sleep=, monotonic=)` with `get`, `post`, `put`, `delete`,
`requests_made`; `NotFound`, `OutcomeUnknown`, `parse_retry_after`.

- Requests go one at a time, at most `requests_per_second` (a budget of our own: Zammad has no
  throttle, but the proxy in front of it may have one).
- Reads and naturally idempotent writes (PUT, tag add/remove) are retried with back-off on 429,
  5xx, timeouts and dropped connections, honouring `Retry-After`. A POST is never retried here:
  its outcome after such a failure is unknown (`OutcomeUnknown`), and only the caller can look.
- 401 and 403 are `AuthFailed` naming Zammad's `X-Failure` reason, except a 403 on one ticket
  (a group the token cannot read), which is that ticket's `PermanentSourceError`.
- TLS and DNS problems are named as such; the token never appears in a message. A redirect is
  an error naming where it points (a POST must not silently become a GET).
- Each request is prepared here and handed to requests' transport adapter (`transport`): the
  session's per-call merging costs more CPU than the rest of a ticket's work.
"""

from __future__ import annotations

import email.utils
import json
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from connector.config.sources import ZammadSection
from connector.core.errors import AuthFailed, PermanentSourceError, TransientSourceError

ATTEMPTS = 4
MAX_RETRY_AFTER = 300.0
RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
_backoff = wait_exponential_jitter(initial=1, max=30, jitter=1)


class NotFound(PermanentSourceError):
    """404: the ticket (or user, ...) is not there (deleted, or never was)."""


class OutcomeUnknown(TransientSourceError):
    """A write was sent and no answer came back (timeout, dropped connection, 5xx)."""


def parse_retry_after(value: str | None) -> float | None:
    """RFC 9110: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    retry_after = getattr(error, "retry_after", None)
    return min(retry_after, MAX_RETRY_AFTER) if retry_after is not None else _backoff(state)


def _dns_failure(error: BaseException) -> bool:
    while error is not None:
        if isinstance(error, socket.gaierror) or "NameResolution" in type(error).__name__:
            return True
        error = error.__cause__ or error.__context__
    return False


class ZammadClient:
    def __init__(
        self,
        section: ZammadSection,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        attempts: int = ATTEMPTS,
    ):
        self.section, self.sleep, self.monotonic, self.attempts = section, sleep, monotonic, attempts
        self.where = f"{section.name} ({section.base_url})"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token token={section.token.get_secret_value()}"
        self.session.headers["Accept"] = "application/json"
        if section.act_as:
            self.session.headers["From"] = section.act_as
        # the environment (proxies, CA bundle) is read once here, not on every request: requests
        # otherwise walks os.environ per call, which costs more CPU than the rest of a ticket
        self.session.trust_env = False
        self.session.proxies = requests.utils.get_environ_proxies(section.base_url)
        environ_ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if section.ca_bundle:
            self.session.verify = str(section.ca_bundle)
        else:
            self.session.verify = (environ_ca or True) if section.verify_tls else False
        self.timeout = section.timeout
        # token auth is stateless, so no cookie jar is needed; a redirect is an error, not followed
        self.api = requests.Request("GET", f"{section.base_url}/api/v1/").prepare().url
        self.transport = self.session.get_adapter(self.api)
        self.headers = dict(self.session.headers)  # urllib3 takes any mapping; sent as given
        self.interval = 1.0 / section.requests_per_second
        self._last: float | None = None
        self.requests_made = 0

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=params)

    def put(self, path: str, body: dict) -> Any:
        return self._call("PUT", path, body=body)

    def delete(self, path: str, **params: Any) -> Any:
        return self._call("DELETE", path, params=params)

    def post(self, path: str, body: dict, idempotent: bool = False) -> Any:
        """`idempotent`: a repeat does no harm (tag add), so retry it like a read."""
        return self._call("POST", path, body=body, retry=idempotent)

    def _call(self, method: str, path: str, params=None, body=None, retry: bool = True) -> Any:
        try:  # the common case, nothing fails: no retry machinery
            return self._once(method, path, params, body, retry)
        except TransientSourceError as exc:
            if not retry:
                raise
            failed = [exc]

        def attempt() -> Any:
            if failed:  # the first attempt, made above: its error decides the first wait
                raise failed.pop()
            return self._once(method, path, params, body, retry)

        retrying = Retrying(
            retry=retry_if_exception_type(TransientSourceError),
            wait=_wait,
            stop=stop_after_attempt(self.attempts),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(attempt)

    def _budget(self) -> None:
        now = self.monotonic()
        if self._last is not None and now - self._last < self.interval:
            self.sleep(self.interval - (now - self._last))
            now = self.monotonic()
        self._last = now

    def _once(self, method: str, path: str, params, body, retry: bool) -> Any:
        self._budget()
        self.requests_made += 1
        path = path.lstrip("/")
        what = f"{self.where}: {method} /api/v1/{path}"
        unknown = TransientSourceError if retry or method == "GET" else OutcomeUnknown
        try:
            response = self._send(method, path, params, body)
        except requests.exceptions.SSLError as exc:
            raise PermanentSourceError(f"{what}: TLS problem: {_reason(exc)} (see verify_tls / ca_bundle)") from None
        except requests.exceptions.Timeout:
            raise unknown(f"{what}: no answer within {self.timeout:g}s") from None
        except requests.exceptions.ConnectionError as exc:
            if _dns_failure(exc):
                host = self.section.base_url.split("//", 1)[1].split("/", 1)[0]
                raise TransientSourceError(f"{what}: DNS cannot resolve {host}") from None
            raise unknown(f"{what}: connection failed ({_reason(exc)})") from None
        status = response.status_code
        if 300 <= status < 400:
            where = response.headers.get("Location", "?")
            raise PermanentSourceError(
                f"{what}: HTTP {status}, redirected to {where} (set url to the address it names)"
            )
        if status in RETRIED_STATUS:
            retry_after = parse_retry_after(response.headers.get("Retry-After")) if status in (429, 503) else None
            if status == 429 or method == "GET" or retry:
                raise TransientSourceError(f"{what}: HTTP {status}", retry_after)
            raise OutcomeUnknown(f"{what}: HTTP {status}", retry_after)
        if status in (401, 403):
            reason = response.headers.get("X-Failure") or _error_text(response)
            if status == 403 and reason == "Not authorized" and "ticket" in path:
                raise PermanentSourceError(f"{what}: HTTP 403 Not authorized (the token cannot see this ticket)")
            raise AuthFailed(f"{what}: HTTP {status} {reason} (check the token and its permissions)")
        if status == 404:
            raise NotFound(f"{what}: HTTP 404 {_error_text(response)}")
        if status >= 400:
            raise PermanentSourceError(f"{what}: HTTP {status} {_error_text(response)}")
        if not response.content:
            return None
        try:
            return json.loads(response.content)
        except ValueError:
            raise PermanentSourceError(f"{what}: the answer is not JSON ({response.text[:80]!r})") from None

    def _send(self, method: str, path: str, params: dict | None, body: dict | None) -> requests.Response:
        request = requests.PreparedRequest()
        request.method = method
        request.url = self.api + quote(path, safe="/") + (f"?{urlencode(params)}" if params else "")
        request.headers = dict(self.headers)
        if body is not None:
            request.body = json.dumps(body, ensure_ascii=False).encode()
            request.headers["Content-Type"] = "application/json"
            request.headers["Content-Length"] = str(len(request.body))
        elif method in ("POST", "PUT"):
            request.headers["Content-Length"] = "0"
        return self.transport.send(
            request, timeout=self.timeout, verify=self.session.verify, proxies=self.session.proxies
        )


def _error_text(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        return str(data.get("error_human") or data.get("error") or data)[:200]
    return str(data)[:200]


def _reason(exc: BaseException) -> str:
    reason = exc
    while reason.__cause__ or reason.__context__:
        reason = reason.__cause__ or reason.__context__
    return str(reason).split(": ", 1)[-1][:200] or type(reason).__name__
