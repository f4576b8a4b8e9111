"""A configuration for running the real command on an IMAP mailbox of the test Dovecot: every
customer mail's first reply is due within an hour, round the clock, and its breach is a notice."""

from __future__ import annotations

from tests.support.dovecot import PASSWORD

DAYS = "\n".join(f'{day} = ["00:00-24:00"]' for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))


def config(folder, account, smtp_port: int) -> str:
    """The configuration text (the database in `folder`; `account` is a test mailbox)."""
    return f"""
[connector]
database = "{folder}/sla.db"
poll_interval = "5s"
default_level = "Fast"
[[calendars]]
name = "always"
timezone = "UTC"
[calendars.hours]
{DAYS}
[[levels]]
name = "Fast"
calendar = "always"
first_reply = "1h"
[escalation]
leads = ["lead@help.example"]
[[escalation.steps]]
at = "0"
notify = ["lead"]
[email]
name = "email"
agent_domains = ["help.example"]
folders = ["INBOX"]
sent_folder = "Sent"
[email.imap]
host = "127.0.0.1"
port = {account.server.port}
security = "plain"
user = "{account.user}"
password = "{PASSWORD}"
[email.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
sender = "sla-bot@help.example"
timeout = "60s"
"""
