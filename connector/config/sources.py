"""The helpdesk source sections (`[email]`, `[zammad]` or several `[[zammad]]`, `[osticket]`), one
model each, and the SMTP section they share (`[smtp]`, or a source's own `[email.smtp]`).

Adapters read their own section from here; this module imports only the shared value types.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from connector.config.values import ConfigPath, Duration, Section, TimeZoneName, _read_secret


class SourceSection(Section):
    """What every adapter section has; `name` defaults to the section's own name."""

    enabled: bool = True
    name: str = ""
    poll_interval: Duration | None = None

    @model_validator(mode="after")
    def _poll_often_enough(self) -> SourceSection:
        if self.poll_interval is not None and self.poll_interval < timedelta(seconds=5):
            raise ValueError('poll_interval is at least 5 seconds (e.g. "1m")')
        return self

    @property
    def kind(self) -> str:
        raise NotImplementedError

    @model_validator(mode="after")
    def _default_name(self) -> SourceSection:
        if not self.name:
            self.name = self.kind
        return self


Security = Literal["tls", "starttls", "plain"]


class ImapSection(Section):
    host: str
    port: int = Field(default=993, ge=1, le=65535)
    security: Security = "tls"
    user: str
    password: SecretStr | None = None
    password_file: ConfigPath | None = None

    timeout: Duration = timedelta(seconds=30)  # each connect, command and data transfer

    @model_validator(mode="after")
    def _secret(self) -> ImapSection:
        _read_secret(self, "password")
        if self.timeout <= timedelta(0):
            raise ValueError('timeout must be positive (e.g. "30s")')
        return self


class SmtpSection(Section):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Security = "starttls"
    user: str | None = None
    password: SecretStr | None = None
    password_file: ConfigPath | None = None
    sender: str

    timeout: Duration = timedelta(seconds=30)  # each connect, command and data transfer

    @model_validator(mode="after")
    def _secret(self) -> SmtpSection:
        _read_secret(self, "password")
        if self.timeout <= timedelta(0):
            raise ValueError('timeout must be positive (e.g. "30s")')
        return self


class EmailSection(SourceSection):
    maildir: ConfigPath | None = None
    imap: ImapSection | None = None
    smtp: SmtpSection | None = None
    folders: list[str] | None = None  # None: every folder
    sent_folder: str | None = "Sent"
    solved_folders: list[str] = ["Done"]
    solved_keywords: list[str] = ["solved", "done"]
    pending_keywords: list[str] = ["pending"]
    thread_window: Duration = timedelta(days=14)
    agent_addresses: list[str] = []
    agent_domains: list[str] = []
    notify_to: list[str] = []  # who receives notices for "assignee" (a mailbox has none)
    save_notices: bool = True  # with IMAP: a copy of each notice sent goes into sent_folder
    reply_prefixes: list[str] = []  # more reply / forward prefixes than the built-in languages'

    @property
    def kind(self) -> str:
        return "email"

    @model_validator(mode="after")
    def _one_mailbox(self) -> EmailSection:
        if (self.maildir is None) == (self.imap is None):
            raise ValueError('give exactly one mailbox: maildir = "path" or an [email.imap] section')
        return self


class ZammadSection(SourceSection):
    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    token: SecretStr | None = None
    token_file: ConfigPath | None = None
    act_as: str | None = None  # the From: header: write as this user (needs admin.user)
    verify_tls: bool = True
    ca_bundle: ConfigPath | None = None  # a CA file for a private certificate authority
    timeout: float = Field(default=30.0, gt=0)  # seconds per request
    requests_per_second: float = Field(default=5.0, gt=0)
    page_size: int = Field(default=100, ge=1, le=200)  # search pages; Zammad caps them at 200
    search: Literal["auto", "field", "condition", "paging"] = "auto"
    skew: Duration = timedelta(minutes=1)  # the cursor stays this far behind the cycle's start
    full_reconcile_every: Duration = timedelta(hours=6)
    tag_prefix: str = ""
    notify_by: Literal["email", "note"] = "email"
    smtp: SmtpSection | None = None  # else the shared [smtp] section

    @property
    def kind(self) -> str:
        return "zammad"

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    @model_validator(mode="after")
    def _secret(self) -> ZammadSection:
        _read_secret(self, "token")
        if self.token is None:
            instance = "" if self.name == "zammad" else re.sub(r"[^A-Z0-9]", "_", self.name.upper()) + "__"
            raise ValueError(f"give token (better: $SLA_CONNECTOR__ZAMMAD__{instance}TOKEN) or token_file")
        return self


class OsticketTls(Section):
    """TLS to the database server; `ca_file` alone verifies the server against that CA."""

    ca_file: ConfigPath | None = None
    cert_file: ConfigPath | None = None  # a client certificate, where the server asks for one
    key_file: ConfigPath | None = None
    verify_server: bool = True  # check the certificate and the host name


class OsticketSection(SourceSection):
    host: str = "127.0.0.1"
    port: int = Field(default=3306, ge=1, le=65535)
    socket: ConfigPath | None = None  # a unix socket instead of host and port
    database: str
    user: str
    password: SecretStr | None = None
    password_file: ConfigPath | None = None
    tls: OsticketTls | None = None
    # None: the prefix whose <prefix>config table holds osTicket's schema signature
    table_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]*_$")] | None = "ost_"
    web_url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None  # None: osTicket's helpdesk_url
    # None: the DB server converts its own times (osTicket stores naive times in the server's OS zone)
    db_time_zone: TimeZoneName | None = None
    page_size: int = Field(default=1000, ge=10, le=10000)
    poster: str = Field(default="SLA Connector", min_length=1, max_length=128)  # shown as the author of notes
    smtp: SmtpSection | None = None  # where notices go out; without it notices are skipped
    notify_to: list[str] = []  # who receives notices for "assignee" when the ticket has no agent

    @property
    def kind(self) -> str:
        return "osticket"

    @model_validator(mode="after")
    def _secret(self) -> OsticketSection:
        _read_secret(self, "password")
        return self
