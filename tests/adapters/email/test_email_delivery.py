"""Delivery through the e-mail adapter against real servers on 127.0.0.1 (Dovecot and an aiosmtpd
sink): refusals classified per recipient, the notice channel's health its own, writes in planned
order through dropped connections, notices saved to the sent folder and not sent twice."""

from __future__ import annotations

import pytest

from adapters.email.adapter import EmailAdapter
from adapters.email.smtp import notice_message_id
from connector.core.escalation import Action
from connector.service.cycle import Engine, run_cycle
from connector.store.database import Store
from connector.store.outbox import Outbox, deliver
from tests.adapters.email.test_email_imap import Account, t
from tests.support.engine_helpers import load_settings
from tests.support.mail_factory import build_mail as mail
from tests.support.smtp_sink import SmtpSink
from tests.support.tcp_proxy import DroppingProxy

ENGINE = Engine.from_settings(load_settings())


@pytest.fixture
def account(dovecot):
    return Account(dovecot)


def smtp(sink, **extra):
    return {"host": "127.0.0.1", "port": sink.port, "security": "plain", "sender": "sla-bot@help.example", **extra}


def notice(n, recipients):
    return Action(
        f"k{n}:notify", f"k{n}", "email:t1", "notify", {"recipients": recipients, "subject": "s", "body": "b"}
    )


def rows(store):
    return {row["key"]: row for row in Outbox(store).list()}


def test_refusals_are_classified_per_recipient(account, smtp_server, store, tmp_path):
    smtp_server.answers = {"grey@x.example": "451 4.7.1 greylisted", "gone@x.example": "550 5.1.1 no such user"}
    adapter = EmailAdapter(account.section(smtp=smtp(smtp_server)), tmp_path)
    outbox = Outbox(store)
    outbox.add("email", 1, [notice(1, ["lead@x.example", "grey@x.example", "gone@x.example"])], t(2, 9))
    outbox.add("email", 2, [notice(2, ["grey@x.example"])], t(2, 9))  # other tickets: not held behind k1
    outbox.add("email", 3, [notice(3, ["gone@x.example"])], t(2, 9))
    report = deliver(outbox, adapter, t(2, 9), sleep=lambda _: None, attempts=1)
    # delivered to the one who was accepted; refused for the others, each with the server's answer
    assert [(m[1], m[2]["Message-ID"]) for m in smtp_server.messages][0][0] == ["lead@x.example"]
    entries = rows(store)
    assert entries["k1:notify"]["state"] == "delivered"
    assert (
        entries["k1:notify+parked"]["state"] == "parked"
        and "550 5.1.1 no such user" in entries["k1:notify+parked"]["last_error"]
    )
    assert '"recipients": ["gone@x.example"]' in entries["k1:notify+parked"]["payload"]
    assert (
        entries["k1:notify+queued"]["state"] == "queued"
        and "451 4.7.1 greylisted" in entries["k1:notify+queued"]["last_error"]
    )
    # a 451 alone waits for a later try; a 550 alone is parked for good
    assert entries["k2:notify"]["state"] == "sending" and "451" in entries["k2:notify"]["last_error"]
    assert entries["k3:notify"]["state"] == "parked" and "550" in entries["k3:notify"]["last_error"]
    assert (report.delivered, report.parked) == (1, 2)
    assert smtp_server.connections == 1  # one connection for the cycle's notices
    smtp_server.answers = {}
    again = deliver(outbox, adapter, t(2, 10), sleep=lambda _: None)
    assert again.delivered == 2
    assert sorted(tuple(m[1]) for m in smtp_server.messages[1:]) == [("grey@x.example",), ("grey@x.example",)]
    assert {row["state"] for row in rows(store).values()} == {"delivered", "parked"}


def test_a_notice_in_the_sent_folder_is_not_sent_again_after_an_interruption(account, smtp_server, store, tmp_path):
    adapter = EmailAdapter(account.section(smtp=smtp(smtp_server)), tmp_path)
    outbox = Outbox(store)
    outbox.add("email", 1, [notice(1, ["lead@x.example"]), notice(2, ["lead@x.example"])], t(2, 9))
    assert deliver(outbox, adapter, t(2, 9)).delivered == 2
    account.client.select("Sent")
    assert len(account.client.uid("SEARCH", None, "ALL")[1][0].split()) == 2  # each saved with its Message-ID
    # an interruption after the send: the outcome of one is unknown; the other's copy is lost too
    store.db.execute("UPDATE outbox SET state = 'sending'")
    account.client.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    account.client.expunge()
    report = deliver(outbox, adapter, t(2, 10))
    assert report.delivered == 2 and len(smtp_server.messages) == 3  # found one, sent the other again
    assert smtp_server.messages[2][2]["Message-ID"] == smtp_server.messages[1][2]["Message-ID"]


def test_a_refused_smtp_password_holds_only_the_notices(account, tmp_path, store):
    sink = SmtpSink(password="right").start()
    try:
        account.append("INBOX", mail("ada@acme.example", "Printer broken", t(2, 9), "a1"), t(2, 9))
        section = account.section(smtp=smtp(sink, user="bot", password="wrong"), notify_to=["oncall@x.example"])
        adapter = EmailAdapter(section, tmp_path)
        run_cycle(store, adapter, ENGINE, t(2, 9, 30))
        summary = run_cycle(store, adapter, ENGINE, t(2, 12, 5))  # warning, breach and the +2h notice
        assert account.flags() == {1: {"sla_breached", "\\Flagged"}}  # the keyword writes went out
        assert summary.delivery.failed == 1 and "smtp" in summary.delivery.channel_errors
        state = store.sync_state("email")
        assert "smtp: SMTP 127.0.0.1" in state["delivery_error"] and "refused" in state["delivery_error"]
        assert "wrong" not in state["delivery_error"]
        assert Outbox(store).depth("email")["queued"] == 1 and not sink.messages
    finally:
        sink.stop()


def run(account, store, adapter, times):
    for when in times:
        run_cycle(store, adapter, ENGINE, when, sleep=lambda _: None)


def test_dropped_connections_leave_the_mailbox_as_a_fault_free_run_does(dovecot, tmp_path):
    results = []
    for faulty in (False, True):
        account = Account(dovecot)
        account.append("INBOX", mail("ada@acme.example", "Printer broken", t(2, 9), "a1"), t(2, 9))
        proxy = DroppingProxy(dovecot.port)
        adapter = EmailAdapter(account.section(port=proxy.port), tmp_path / str(faulty))
        (tmp_path / str(faulty)).mkdir()
        store = Store.open(tmp_path / str(faulty) / "sla.db")
        run(account, store, adapter, [t(2, 9, 30)])
        if faulty:  # the warning's keyword cannot be written this cycle, whatever the retries
            proxy.drop_when(b"+FLAGS.SILENT (sla_warning)", times=100)
        run(account, store, adapter, [t(2, 10, 5)])  # the warning and the breach in one cycle
        proxy.rules.clear()
        run(account, store, adapter, [t(2, 10, 6), t(2, 10, 7)])
        results.append((account.flags(), proxy.dropped))
        proxy.close()
    (clean, _), (faulty, dropped) = results
    assert dropped >= 1
    assert faulty == clean == {1: {"sla_breached", "\\Flagged"}}


def test_a_broken_mail_cache_is_said_in_one_line_and_rebuilt(account, tmp_path, caplog):
    account.append("INBOX", mail("ada@acme.example", "Printer broken", t(2, 9), "a1"), t(2, 9))
    first = EmailAdapter(account.section(), tmp_path)
    cursor = max(s.cursor for s in first.pull(None))
    (tmp_path / "email-mail-cache.db").write_bytes(b"not a database" * 1000)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"email-mail-cache.db{suffix}").unlink(missing_ok=True)
    with caplog.at_level("WARNING"):
        again = list(EmailAdapter(account.section(), tmp_path).pull(cursor))
    assert [s.ticket.title for s in again] == ["Printer broken"]  # read again whole, whatever the cursor
    [line] = [r.message for r in caplog.records if "mail cache" in r.message]
    assert "unreadable" in line and "rebuilding it from the mailbox" in line
    assert (tmp_path / "email-mail-cache.db.broken").exists()


def test_notices_not_tried_after_the_channel_failed_stay_queued_not_in_flight(account, tmp_path, store):
    sink = SmtpSink(password="right").start()
    try:
        section = account.section(smtp=smtp(sink, user="bot", password="wrong"))
        outbox = Outbox(store)
        for n in range(3):  # three tickets: one round
            outbox.add("email", n + 1, [notice(n, ["lead@x.example"])], t(2, 9))
        report = deliver(outbox, EmailAdapter(section, tmp_path), t(2, 9))
        assert (report.failed, report.held) == (1, 2)
        assert {row["state"] for row in rows(store).values()} == {"queued"}
    finally:
        sink.stop()


@pytest.mark.parametrize(
    ("point", "copies"),
    [
        ("before_send", 1),  # in flight, not sent: sent once on restart
        ("after_accepted", 2),  # the server took it, the record did not happen: the one repeat
        ("after_record", 1),  # recorded: never sent again, though its copy was not saved
    ],
)
def test_a_notice_killed_at_any_point_is_delivered_and_repeated_at_most_once(
    account, smtp_server, tmp_path, point, copies
):
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.support.notice_crash_runner import section

    database = tmp_path / "sla.db"
    store = Store.open(database)
    Outbox(store).add("email", 1, [notice(1, ["lead@x.example"])], t(2, 9))
    store.close()
    args = [str(database), str(tmp_path), str(account.server.port), account.user, str(smtp_server.port), point]
    killed = subprocess.run([sys.executable, "-m", "tests.support.notice_crash_runner", *args], cwd=ROOT, timeout=60)
    assert killed.returncode == -9
    store = Store.open(database)
    deliver(
        Outbox(store), EmailAdapter(section(account.server.port, account.user, smtp_server.port), tmp_path), t(2, 10)
    )
    assert len(smtp_server.messages) == copies
    assert {row["state"] for row in rows(store).values()} == {"delivered"}


def test_copies_go_into_a_sent_folder_that_did_not_exist_in_one_append(account, smtp_server, store, tmp_path):
    adapter = EmailAdapter(account.section(smtp=smtp(smtp_server), sent_folder="Notices"), tmp_path)
    outbox = Outbox(store)
    for n in range(3):
        outbox.add("email", n + 1, [notice(n, ["lead@x.example"])], t(2, 9))
    assert deliver(outbox, adapter, t(2, 9)).delivered == 3
    account.client.select("Notices")  # created when the first APPEND was refused for want of it
    uids = account.client.uid("SEARCH", None, "ALL")[1][0].split()
    found = account.client.uid("FETCH", b",".join(uids), "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")[1]
    saved = sorted(item[1].split(b":", 1)[1].strip() for item in found if isinstance(item, tuple))
    assert saved == sorted(m[2]["Message-ID"].encode() for m in smtp_server.messages) and len(saved) == 3


def test_a_server_that_takes_the_data_and_never_answers_is_bounded_by_the_timeout(account, store, tmp_path):
    from tests.support.hanging_smtp import HangingSmtp

    hanging = HangingSmtp().start()
    try:
        section = account.section(smtp=smtp(hanging, timeout="1s"))
        assert section.smtp.timeout.total_seconds() == 1
        outbox = Outbox(store)
        outbox.add("email", 1, [notice(1, ["lead@x.example"])], t(2, 9))
        report = deliver(outbox, EmailAdapter(section, tmp_path), t(2, 9), sleep=lambda _: None, attempts=1)
        assert hanging.took_data.is_set() and report.failed == 1
        [row] = rows(store).values()
        # the server may have taken it: recorded as unknown, not as delivered, not as queued
        assert row["state"] == "sending" and "SMTP 127.0.0.1" in row["last_error"] and "timed out" in row["last_error"]
    finally:
        hanging.stop()


def test_a_notice_is_well_formed_mail_whatever_its_text():
    import email
    import email.policy

    from adapters.email.smtp import build_notice

    action = Action(
        "k1:notify",
        "k1",
        "email:t1",
        "notify",
        {
            "recipients": [],
            "subject": "Überfällig: Drucker\r\nBcc: evil@x.example",
            "body": "Grüße,\nline " + "x" * 2000,
        },
    )
    raw = build_notice("SLA Büro <sla-bot@help.example>", action, "1042", ["lead@x.example"])
    assert raw.isascii() and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only, 7-bit on the wire
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == "Überfällig: Drucker Bcc: evil@x.example [#1042]" and mail["Bcc"] is None
    assert mail["From"].addresses[0].display_name == "SLA Büro"
    assert mail["From"].addresses[0].addr_spec == "sla-bot@help.example"
    assert mail.get_content().replace("\r\n", "\n") == "Grüße,\nline " + "x" * 2000 + "\n"
    assert mail["Message-ID"] == notice_message_id(action) and mail["Auto-Submitted"] == "auto-generated"
