"""Errors, typed by how far they reach.

    ConnectorError                 base of everything this package raises on purpose
    ├── ConfigError                fatal at start-up: the config is unusable (exit status 2)
    ├── StoreError                 the database cannot be opened or is of a newer schema
    ├── SourceError                one source (helpdesk) failed
    │   ├── TransientSourceError   timeouts, connection errors, 429, 5xx: skip it this cycle
    │   ├── AuthFailed             credentials refused: stop polling it until an operator acts
    │   ├── PermanentSourceError   4xx other than 429, validation: the host said no
    │   └── PartlyDelivered        the host took part of a write and refused the rest
    └── BadRecord                  one ticket or message cannot be processed: skip it, count it

Messages never carry secrets: callers name the config key or the ticket, not the value.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of the errors this package raises on purpose."""


class ConfigError(ConnectorError):
    """The configuration is unusable. Carries one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class StoreError(ConnectorError):
    """The SQLite store cannot be used (unreadable, newer schema, ...)."""


class SourceError(ConnectorError):
    """A source failed; the message names the source."""


class TransientSourceError(SourceError):
    """Worth retrying later: timeouts, refused connections, 429, 5xx."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class AuthFailed(SourceError):
    """The host refused our credentials; retrying will not help."""


class PermanentSourceError(SourceError):
    """The host rejected the request itself; retrying will not help."""


class BadRecord(ConnectorError):
    """One ticket or message cannot be processed; the message names it."""


class PartlyDelivered(SourceError):
    """The host took a write for some of its targets (a notice for some recipients) and refused
    it for the others. `parts` are what is left, each a (state, payload, answer): state "queued"
    for a refusal worth trying again later, "parked" for one refused for good; the payload is the
    action's payload narrowed to those targets, the answer the host's own words."""

    def __init__(self, message: str, delivered: bool, parts: list[tuple[str, dict, str]]):
        super().__init__(message)
        self.delivered = delivered
        self.parts = list(parts)
