"""The e-mail adapter against a real Dovecot on 127.0.0.1: pulls, write-backs read back over a
separate connection, UIDVALIDITY changes, dropped connections, wrong passwords."""

from __future__ import annotations

import imaplib
import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest

from adapters.email.adapter import EmailAdapter
from connector.config.sources import EmailSection
from connector.core.errors import AuthFailed, TransientSourceError
from connector.core.model import Status
from connector.service.cycle import Engine, run_cycle
from connector.store.database import Store
from tests.support.dovecot import PASSWORD
from tests.support.engine_helpers import load_settings
from tests.support.mail_factory import build_mail as mail

UTC = UTC


def t(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


class Account:
    """A fresh mailbox on the test server, with Sent and Done folders."""

    def __init__(self, server):
        self.server, self.user = server, server.add_user()
        self.client = server.connect(self.user)
        for folder in ("Sent", "Done"):
            self.client.create(folder)

    def append(self, folder, raw, when, flags=None):
        typ, data = self.client.append(folder, flags, imaplib.Time2Internaldate(when), raw)
        assert typ == "OK", data

    def flags(self, folder="INBOX") -> dict[int, set[str]]:
        self.client.select(folder)
        typ, data = self.client.uid("FETCH", "1:*", "(UID FLAGS)")
        result = {}
        for line in data:
            if line:
                text = line.decode()
                uid = int(text.split("UID ")[1].split()[0])
                result[uid] = set(text.split("FLAGS (")[1].split(")")[0].split()) - {"\\Recent"}
        return result

    def section(self, port=None, password=PASSWORD, **extra) -> EmailSection:
        return EmailSection(
            imap={
                "host": "127.0.0.1",
                "port": port or self.server.port,
                "security": "plain",
                "user": self.user,
                "password": password,
            },
            agent_addresses=["support@help.example"],
            agent_domains=["help.example"],
            **extra,
        )


@pytest.fixture
def account(dovecot):
    return Account(dovecot)


def test_pull_threads_roles_and_incremental_cycles(account, tmp_path):
    account.append("INBOX", mail("ada@acme.example", "Printer broken", t(2, 9), "a1"), t(2, 9))
    account.append(
        "Sent",
        mail("support@help.example", "Re: Printer broken", t(2, 10), "a2", ["a1"], to="ada@acme.example"),
        t(2, 10),
    )
    account.append("INBOX", mail("bob@beta.example", "VPN", t(2, 9, 30), "b1"), t(2, 9, 30))
    adapter = EmailAdapter(account.section(), tmp_path)
    first = list(adapter.pull(None))
    assert sorted(s.ticket.title for s in first) == ["Printer broken", "VPN"]
    ada = next(s for s in first if s.ticket.title == "Printer broken")
    assert [(m.external_id, m.role.value) for m in ada.messages] == [("a1", "customer"), ("a2", "agent")]
    cursor = max(s.cursor for s in first)
    assert list(adapter.pull(cursor)) == []
    account.append("INBOX", mail("bob@beta.example", "Re: VPN", t(2, 11), "b2", ["b1"]), t(2, 11))
    [again] = adapter.pull(cursor)
    assert again.ticket.title == "VPN" and len(again.messages) == 2


def test_escalation_writes_keywords_and_flagged_read_back_separately(account, tmp_path):
    account.append("INBOX", mail("ada@acme.example", "Printer broken", t(2, 9), "a1"), t(2, 9))
    adapter = EmailAdapter(account.section(), tmp_path)
    assert adapter.check().endswith("keywords supported")
    store, engine = Store.open(tmp_path / "sla.db"), Engine.from_settings(load_settings())
    run_cycle(store, adapter, engine, t(2, 9, 30))
    warned = run_cycle(store, adapter, engine, t(2, 9, 50))
    assert warned.delivery.delivered == 1
    assert account.flags() == {1: {"sla_warning"}}
    breached = run_cycle(store, adapter, engine, t(2, 10, 5))
    # tags added and removed, priority raised; the note has no place in a mailbox
    assert (breached.delivery.delivered, breached.delivery.skipped) == (3, 1)
    assert account.flags() == {1: {"sla_breached", "\\Flagged"}}
    # the flags come back in the next pull: a raised priority and the connector's tags
    account.append("INBOX", mail("ada@acme.example", "Re: Printer broken", t(2, 10, 6), "a3", ["a1"]), t(2, 10, 6))
    snapshot = next(iter(adapter.pull(None)))
    assert snapshot.ticket.priority.rank == 3 and "sla_breached" in snapshot.ticket.tags


def test_flag_and_folder_changes_are_picked_up(account, tmp_path):
    account.append("INBOX", mail("ada@acme.example", "Printer broken", t(2, 9), "a1"), t(2, 9))
    account.append("INBOX", mail("bob@beta.example", "VPN", t(2, 9), "b1"), t(2, 9))
    adapter = EmailAdapter(account.section(), tmp_path)
    cursor = max(s.cursor for s in adapter.pull(None))
    account.client.select("INBOX")
    account.client.uid("STORE", "1", "+FLAGS", "(pending)")  # an agent tags it in a mail client
    changed = {s.ticket.title: s for s in adapter.pull(cursor)}
    assert list(changed) == ["Printer broken"] and changed["Printer broken"].ticket.status is Status.PENDING
    cursor = max(s.cursor for s in adapter.pull(None))
    account.client.uid("COPY", "2", "Done")  # and moves the other to Done
    account.client.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    account.client.expunge()
    moved = {s.ticket.title: s for s in adapter.pull(cursor)}
    assert moved["VPN"].ticket.status is Status.SOLVED


def test_a_new_uidvalidity_means_reading_the_folder_again_without_duplicates(account, tmp_path):
    account.append("Done", mail("ada@acme.example", "Printer broken", t(2, 9), "a1"), t(2, 9))
    adapter = EmailAdapter(account.section(), tmp_path)
    [before] = adapter.pull(None)
    account.client.select("INBOX")
    account.client.delete("Done")
    account.client.create("Done")  # new UIDVALIDITY
    account.append("Done", mail("ada@acme.example", "Printer broken", t(2, 9), "a1"), t(2, 9))
    [after] = adapter.pull(before.cursor)
    assert after.ticket.external_id == before.ticket.external_id
    assert [m.external_id for m in after.messages] == ["a1"]
    assert len(list(adapter.cache().envelopes())) == 1


def test_a_wrong_password_is_a_clear_error_and_stops_that_source(account, tmp_path):
    adapter = EmailAdapter(account.section(password="wrong"), tmp_path)
    with pytest.raises(AuthFailed, match=f"login as {account.user} refused"):
        adapter.check()


class CuttingProxy:
    """Forwards to the server and drops the connection after `limit` bytes from it."""

    def __init__(self, port, limit):
        self.target, self.limit = port, limit
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        client, _ = self.listener.accept()
        server = socket.create_connection(("127.0.0.1", self.target))
        sent = 0

        def upstream():
            try:
                while data := client.recv(65536):
                    server.sendall(data)
            except OSError:
                pass

        threading.Thread(target=upstream, daemon=True).start()
        try:
            while sent < self.limit and (data := server.recv(4096)):
                client.sendall(data[: self.limit - sent])
                sent += len(data)
        finally:
            for end in (client, server):  # shutdown sends the FIN now, whatever the other thread does
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()
            self.listener.close()


def test_a_server_that_drops_the_connection_mid_fetch_is_retried_next_cycle(account, tmp_path):
    for n in range(30):
        account.append("INBOX", mail(f"c{n}@acme.example", f"Question {n}", t(2, 9), f"q{n}"), t(2, 9))
    proxy = CuttingProxy(account.server.port, limit=3000)
    cut = EmailAdapter(account.section(port=proxy.port, folders=["INBOX"]), tmp_path)
    with pytest.raises(TransientSourceError, match="IMAP 127.0.0.1"):
        list(cut.pull(None))
    whole = EmailAdapter(account.section(folders=["INBOX"]), tmp_path)
    assert len(list(whole.pull(None))) == 30


def savedates(account, folder) -> dict[int, datetime]:
    """SAVEDATE of each message, read over the test's own connection."""
    account.client.select(folder)
    typ, data = account.client.uid("FETCH", "1:*", "(UID SAVEDATE)")
    found = {}
    for line in data:
        text = line.decode()
        stamp = text.split('SAVEDATE "')[1].split('"')[0]
        found[int(text.split("UID ")[1].split()[0])] = datetime.strptime(stamp, "%d-%b-%Y %H:%M:%S %z")
    return found


def test_a_move_into_done_is_dated_by_its_savedate(account, tmp_path):
    """Answered on Thursday, moved to Done later: the solve is the move (RFC 8514 SAVEDATE)."""
    account.append("INBOX", mail("ada@acme.example", "Printer broken", t(5, 9), "a1"), t(5, 9))
    reply = mail("support@help.example", "Re: Printer broken", t(5, 12, 31), "a2", ["a1"], to="ada@acme.example")
    account.append("Sent", reply, t(5, 12, 31))
    now = [datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)]
    adapter = EmailAdapter(account.section(), tmp_path, lambda: now[0])
    [opened] = adapter.pull(None)
    assert opened.ticket.status is Status.OPEN
    account.client.select("INBOX")
    assert account.client.uid("MOVE", "1", "Done")[0] == "OK"
    [moved_at] = savedates(account, "Done").values()
    now[0] += timedelta(hours=2)
    [solved] = adapter.pull(opened.cursor)
    assert solved.ticket.status is Status.SOLVED
    assert solved.ticket.closed_at == moved_at != t(5, 12, 31)
    assert solved.ticket.status_history[-1].estimated is False


def test_the_first_sync_takes_the_savedate_of_mail_already_in_done(account, tmp_path):
    account.append("Done", mail("ada@acme.example", "Old question", t(2, 9), "o1"), t(2, 9))
    [saved_at] = savedates(account, "Done").values()
    [old] = EmailAdapter(account.section(), tmp_path, lambda: saved_at + timedelta(hours=1)).pull(None)
    assert (old.ticket.status, old.ticket.closed_at) == (Status.SOLVED, saved_at)
    assert old.ticket.status_history[-1].estimated is False
