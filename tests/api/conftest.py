"""A store with known records, the API on it served by a real uvicorn on 127.0.0.1 (a free port),
and the CLI's output for the same store at the same instant, to compare against."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from connector.api.app import create_app
from connector.api.server import Server, bind
from connector.api.tokens import hash_token, load_tokens
from connector.config.settings import load_config
from connector.store.database import Store
from tests.support.engine_helpers import CALENDARS

NOW = datetime(2026, 11, 5, 14, 0, tzinfo=UTC)  # a Thursday, 15:00 in Berlin
TOKEN = "s3cret-api-token"
US = 1_000_000

CONFIG = (
    CALENDARS
    + """
[connector]
report_timezone = "Europe/Berlin"

[[levels]]
name = "Standard"
calendar = "always"
first_reply = "1h"

[[contracts]]
customer = "ACME Corp"
organizations = ["ACME"]
monthly_fee = "2500.00"
currency = "EUR"
tiers = [ { below = 99, credit_percent = 5 }, { below = 95, credit_percent = 10 } ]

[[contracts]]
customer = "Beta"
domains = ["beta.example"]
monthly_fee = "999.99"
currency = "EUR"
per_breach_percent = "7"

[email]
name = "mail"
maildir = "mail"
agent_addresses = ["support@help.example"]

[zammad]
url = "https://help.example"
token = "unused"
"""
)


def build_store(folder: Path) -> Path:
    """Tickets and SLA records over the quarter before NOW, some open now; returns the config."""
    (folder / "mail").mkdir()
    database = folder / "sla.db"
    store = Store.open(database)
    db = store.db
    tickets = [
        # id, source, number, org, department, agent, email, title, link
        (
            1,
            "zammad",
            "1001",
            "ACME",
            "Support",
            "ann",
            "a@acme.example",
            "Printer on fire",
            "https://help.example/#ticket/zoom/1",
        ),
        (
            2,
            "zammad",
            "1002",
            None,
            "Sales",
            "bob",
            "b@beta.example",
            "=cmd|' /C calc'!A0",
            "https://help.example/#ticket/zoom/2",
        ),
        (3, "mail", None, "ACME", "Support", "ann", "c@acme.example", "VPN <down> & out", None),
    ]
    rng = random.Random(18)
    for n in range(40):
        tickets.append(
            (10 + n, "zammad", str(2000 + n), rng.choice(["ACME", None]), rng.choice(["Support", "Sales"]),
             rng.choice(["ann", "bob"]), f"u{n}@{rng.choice(['acme', 'beta'])}.example", f"Question {n}", None)
        )  # fmt: skip
    for ident, source, number, org, dept, agent, email, title, link in tickets:
        db["tickets"].insert(
            {
                "id": ident,
                "source": source,
                "external_id": str(ident) if source == "zammad" else f"<m{ident}@mail.example>",
                "number": number,
                "organization": org,
                "department": dept,
                "assignee": agent,
                "requester_email": email,
                "title": title,
                "web_url": link,
                "status": "open",
                "snapshot": "{}",
            }
        )

    def record(ticket, metric, status, start, due, stopped, target, business, next_step=None):
        db["sla_records"].insert(
            {
                "ticket_id": ticket,
                "metric": metric,
                "seq": 1,
                "level": "Standard",
                "calendar": "always",
                "target_us": int(target.total_seconds() * US),
                "start_at": start.isoformat(),
                "due_at": due.isoformat(),
                "stopped_at": stopped.isoformat() if stopped else None,
                "status": status,
                "business_us": int(business.total_seconds() * US),
                "paused_us": 0,
                "steps_fired": "[]",
                "pauses": "[]",
                "next_step_at": next_step.isoformat() if next_step else None,
                "next_check_at": None,
            }
        )

    hour = timedelta(hours=1)
    # decided records, one or two a day over the last 12 weeks (none in the week of 2026-09-14)
    for n in range(40):
        start = NOW - timedelta(days=84) + timedelta(days=2 * n, hours=n % 5)
        if start.isocalendar()[1] == 38:
            continue
        met = rng.random() < 0.8
        business = timedelta(minutes=rng.randrange(5, 55)) if met else timedelta(minutes=rng.randrange(70, 200))
        stopped = start + business
        record(10 + n, "first_reply", "met" if met else "breached", start, start + hour, stopped, hour, business)
    record(1, "first_reply", "met", NOW - 30 * hour, NOW - 29 * hour, NOW - 29.5 * hour, hour, 0.5 * hour)
    # breached today: became due at 10:00 UTC, answered late at 11:00
    record(1, "resolution", "breached", NOW - 6 * hour, NOW - 4 * hour, NOW - 3 * hour, 2 * hour, 3 * hour)
    # open: overdue since 13:00, due in 30 minutes, due in two days
    record(2, "first_reply", "running", NOW - 2 * hour, NOW - hour, None, hour, 2 * hour)
    record(3, "first_reply", "running", NOW - 0.5 * hour, NOW + 0.5 * hour, None, hour, 0.5 * hour, NOW + 0.25 * hour)
    record(2, "next_reply", "running", NOW - hour, NOW + 47 * hour, None, 48 * hour, hour)
    db["sla_events"].insert_all(
        [
            {"key": "1:first_reply:1:started", "ticket_id": 1, "metric": "first_reply", "seq": 1, "kind": "started",
             "at": (NOW - 30 * hour).isoformat(), "recorded_at": (NOW - 30 * hour).isoformat(), "data": "{}"},
            {"key": "1:first_reply:1:met", "ticket_id": 1, "metric": "first_reply", "seq": 1, "kind": "met",
             "at": (NOW - 29.5 * hour).isoformat(), "recorded_at": (NOW - 29 * hour).isoformat(), "data": "{}"},
        ]
    )  # fmt: skip
    for state, count in (("queued", 2), ("parked", 1), ("delivered", 5)):
        for i in range(count):
            db["outbox"].insert(
                {"key": f"{state}-{i}", "source": "zammad", "ticket_id": 1, "event_key": "e", "kind": "add_tags",
                 "payload": "{}", "state": state, "attempts": 0, "created_at": NOW.isoformat(), "updated_at": NOW.isoformat()}
            )  # fmt: skip
    store.register_source("zammad", "zammad")
    store.register_source("mail", "email")
    store.set_sync_state("zammad", last_success_at=(NOW - timedelta(minutes=3)).isoformat())
    # the mailbox has failed since its last success two hours ago
    store.set_sync_state(
        "mail",
        last_success_at=(NOW - 2 * hour).isoformat(),
        last_error_at=(NOW - timedelta(minutes=1)).isoformat(),
        last_error="TransientSourceError: IMAP server did not answer",
    )
    store.close()
    tokens = folder / "tokens"
    tokens.write_text(f"# readers\n{hash_token(TOKEN)}\nplain-second-token\n")
    config = folder / "config.toml"
    config.write_text(
        CONFIG.replace("[connector]", f'[connector]\ndatabase = "{database}"')
        + f'\n[api]\ntokens_file = "{tokens}"\nmetrics_need_token = true\nunhealthy_after = "1h"\n'
    )
    return config


class Api:
    """The running server, with a session that sends the token."""

    def __init__(self, server: Server, config: Path, settings):
        self.server, self.config, self.settings = server, config, settings
        self.url = server.url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {TOKEN}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url + path, timeout=30, **kwargs)


@pytest.fixture(scope="session")
def api(tmp_path_factory):
    config = build_store(tmp_path_factory.mktemp("api"))
    settings = load_config(config)
    app = create_app(settings, clock=lambda: NOW, tokens=load_tokens(settings.api.tokens_file))
    server = Server(app, bind("127.0.0.1", 0)).start()
    yield Api(server, config, settings)
    server.stop()


@pytest.fixture
def cli(api, monkeypatch, capsys):
    """The `sla-connector report ...` output for the same store, with the CLI's clock at NOW."""
    import connector.cli.report as report_command
    from connector.cli.main import main

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return NOW if tz is None else NOW.astimezone(tz)

    monkeypatch.setattr(report_command, "datetime", Frozen)

    def run(*args: str) -> str:
        capsys.readouterr()
        assert main(["--config", str(api.config), "report", *args]) == 0
        return capsys.readouterr().out

    return run
