from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.mariadb import SERVER, MariaDB
from tests.support.osticket_db import Helpdesk, build

PASSWORD = "s3cret-for-tests"
INSTALLED = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
_names = itertools.count(1)

# the least-privilege account of the README, with {db} and {p} for the database and the prefix
GRANTS = [
    "GRANT SELECT ON `{db}`.* TO {user}",
    "GRANT UPDATE (lastupdate, updated) ON `{db}`.`{p}ticket` TO {user}",
    "GRANT INSERT, UPDATE ON `{db}`.`{p}form_entry_values` TO {user}",
    "GRANT INSERT, UPDATE ON `{db}`.`{p}ticket__cdata` TO {user}",
    "GRANT INSERT ON `{db}`.`{p}thread_event` TO {user}",
    "GRANT INSERT ON `{db}`.`{p}thread_entry` TO {user}",
    "GRANT INSERT, DELETE ON `{db}`.`{p}_search` TO {user}",
]


@pytest.fixture(scope="session")
def mariadb():
    """A throwaway MariaDB on 127.0.0.1 whose OS zone is America/New_York (scripts/test.sh installs it)."""
    if not Path(SERVER).exists():
        pytest.fail(f"{SERVER} is missing: run the tests with scripts/test.sh, which installs mariadb-server")
    server = MariaDB().start()
    yield server
    server.stop()


class OsticketHost:
    """A fresh osTicket database with the narrow account; `desk` writes as osTicket does."""

    def __init__(self, server: MariaDB, prefix: str = "ost_", grants: list[str] | None = None):
        number = next(_names)
        self.server, self.prefix = server, prefix
        self.database, self.user = f"osticket{number}", f"sla{number}"
        server.create_database(self.database)
        self.conn = server.root(self.database)
        build(self.conn, prefix)
        self.desk = Helpdesk(self.conn, prefix, server.zone).install(INSTALLED)
        grants = GRANTS if grants is None else grants
        server.create_user(
            self.user, PASSWORD, [g.replace("{db}", self.database).replace("{p}", prefix) for g in grants]
        )

    def section(self, **extra):
        from connector.config.sources import OsticketSection

        values = dict(host="127.0.0.1", port=self.server.port, database=self.database, user=self.user,
                      password=PASSWORD, web_url="https://help.example.com")  # fmt: skip
        return OsticketSection(**(values | extra))

    def one(self, sql: str, args=()):
        with self.conn.cursor() as cur:
            cur.execute(sql.replace("ost_", self.prefix), args)
            return cur.fetchone()

    def all(self, sql: str, args=()):
        with self.conn.cursor() as cur:
            cur.execute(sql.replace("ost_", self.prefix), args)
            return cur.fetchall()


@pytest.fixture
def osticket(mariadb):
    host = OsticketHost(mariadb)
    yield host
    host.conn.close()


@pytest.fixture
def smtp_sink():
    """An SMTP server on 127.0.0.1 that keeps what it is given: (sender, recipients, message)."""
    import email
    import email.policy

    from aiosmtpd.controller import Controller

    from tests.support.mariadb import free_port

    class Sink:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            parsed = email.message_from_bytes(
                envelope.original_content or envelope.content, policy=email.policy.default
            )
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
            return "250 Message accepted for delivery"

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, sink
    controller.stop()
