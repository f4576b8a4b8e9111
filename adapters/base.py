"""The contract every helpdesk adapter fulfils, and nothing about SLAs.

Glossary
    source      one configured helpdesk (a `[zammad]`, `[osticket]` or `[email]` section), by name.
    check       verify the connection and permissions; return a one-line description of what was
                reached, or raise a `connector.errors.SourceError` subclass saying what is wrong.
"""

from __future__ import annotations

from typing import Protocol

from connector.config_sections import SourceSection


class Adapter(Protocol):
    section: SourceSection

    def check(self) -> str:
        """Reach the host; return e.g. 'maildir examples/mailbox: 42 messages'."""
        ...
