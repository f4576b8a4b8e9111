"""The e-mail adapter on a local Maildir: threading, roles, status, incremental pulls, notices."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.email.adapter import EmailAdapter
from adapters.email.parse import OWN_HEADER
from connector.config.sources import EmailSection
from connector.core.errors import PermanentSourceError
from connector.core.escalation import Action
from connector.core.model import Role, Status, StatusChange
from connector.service.cycle import Engine, run_cycle
from connector.store.database import Store
from tests.support.engine_helpers import load_settings
from tests.support.mail_factory import build_mail

UTC = UTC


def t(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


class Maildir:
    def __init__(self, root: Path):
        self.root, self.count = root, 0
        for folder in ("", ".Sent", ".Done"):
            for sub in ("cur", "new", "tmp"):
                (root / folder / sub).mkdir(parents=True, exist_ok=True)
            (root / folder / "dovecot-keywords").write_text("0 pending\n1 urgent\n")

    def add(
        self, folder, sender, subject, when, ident, reply_to=(), to="support@help.example", flags="S", **headers
    ) -> Path:
        self.count += 1
        path = self.root / folder / "cur" / f"{int(when.timestamp())}.M{self.count}P1.test:2,{flags}"
        path.write_bytes(build_mail(sender, subject, when, ident, reply_to, to, **headers))
        return path


def section(root: Path, **extra) -> EmailSection:
    return EmailSection(
        maildir=str(root), agent_addresses=["support@help.example"], agent_domains=["help.example"], **extra
    )


def snapshots(adapter, since=None):
    return {s.ticket.title: s for s in adapter.pull(since)}


@pytest.fixture
def box(tmp_path):
    return Maildir(tmp_path / "mail")


def test_threads_by_headers_token_and_subject(box):
    box.add("", "ada@acme.example", "Printer broken", t(2, 9), "a1")
    box.add(".Sent", "support@help.example", "Re: Printer broken", t(2, 10), "a2", ["a1"], to="ada@acme.example")
    box.add("", "ada@acme.example", "Fwd: still broken", t(2, 11), "a3", ["a1", "a2"])  # forwarded, with headers
    box.add("", "ada@acme.example", "Re: Printer broken", t(3, 9), "a4")  # no headers: by subject
    box.add("", "bob@beta.example", "Printer broken", t(2, 9, 30), "b1")  # another customer
    tickets = list(EmailAdapter(section(box.root)).pull(None))
    assert len(tickets) == 2
    ada = next(s for s in tickets if s.ticket.requester.email == "ada@acme.example")
    assert [m.external_id for m in ada.messages] == ["a1", "a2", "a3", "a4"]
    assert [m.role for m in ada.messages] == [Role.CUSTOMER, Role.AGENT, Role.CUSTOMER, Role.CUSTOMER]
    token = f"[#{ada.ticket.external_id}]"
    box.add("", "ada@acme.example", f"Another question {token}", t(10, 9), "a5")  # later, by token
    box.add("", "ada@acme.example", "Re: Printer broken", t(30, 9), "a6")  # 20 days on: new
    tickets = list(EmailAdapter(section(box.root)).pull(None))
    ada = next(s for s in tickets if s.ticket.external_id == ada.ticket.external_id)
    assert [m.external_id for m in ada.messages][-1] == "a5" and len(tickets) == 3


def test_agent_first_threads_and_auto_replies(box):
    box.add(".Sent", "support@help.example", "Your renewal", t(2, 9), "o1", to="ada@acme.example")
    box.add(
        "", "ada@acme.example", "Automatic reply: Your renewal", t(2, 9, 1), "o2", ["o1"], Auto_Submitted="auto-replied"
    )
    assert list(EmailAdapter(section(box.root)).pull(None)) == []  # no human customer yet: no ticket
    box.add("", "ada@acme.example", "Re: Your renewal", t(2, 11), "o3", ["o1"])
    [snapshot] = EmailAdapter(section(box.root)).pull(None)
    assert [(m.role, m.auto_generated) for m in snapshot.messages] == [
        (Role.AGENT, False),
        (Role.CUSTOMER, True),
        (Role.CUSTOMER, False),
    ]


def test_status_and_priority_from_folders_keywords_and_headers(box):
    box.add(".Done", "ada@acme.example", "Solved one", t(2, 9), "s1")
    box.add("", "bob@beta.example", "Waiting one", t(2, 9), "w1", flags="Sa")  # keyword a = pending
    box.add("", "cy@gamma.example", "Flagged one", t(2, 9), "f1", flags="FS")
    box.add("", "di@delta.example", "Important one", t(2, 9), "i1", Importance="high")
    got = snapshots(EmailAdapter(section(box.root)))
    assert got["Solved one"].ticket.status is Status.SOLVED
    assert got["Waiting one"].ticket.status is Status.PENDING and got["Waiting one"].ticket.tags == {"pending"}
    assert got["Flagged one"].ticket.priority.rank == 3 and got["Important one"].ticket.priority.rank == 3
    assert got["Waiting one"].ticket.priority.rank == 2


class Clock:
    """The cycles' times, near the real one: a rename's change time is the file system's."""

    def __init__(self):
        self.now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, hours: float) -> datetime:
        self.now += timedelta(hours=hours)
        return self.now


def ctime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_ctime_ns / 1e9, UTC)


def test_incremental_pulls_read_only_new_files_and_renames(box, tmp_path):
    first = box.add("", "ada@acme.example", "Printer broken", t(2, 9), "a1")
    box.add("", "bob@beta.example", "VPN", t(2, 9), "b1")
    adapter = EmailAdapter(section(box.root), tmp_path, Clock())
    everything = list(adapter.pull(None))
    cursor = everything[-1].cursor
    assert [s.cursor for s in everything] == sorted(s.cursor for s in everything)
    assert adapter.maildir_read == (2, 2, 0, 0)  # listed, read, renamed, gone
    assert list(adapter.pull(cursor)) == [] and adapter.maildir_read == (2, 0, 0, 0)
    box.add(".Sent", "support@help.example", "Re: VPN", t(2, 10), "b2", ["b1"], to="bob@beta.example")
    assert [s.ticket.title for s in adapter.pull(cursor)] == ["VPN"] and adapter.maildir_read == (3, 1, 0, 0)
    cursor = max(s.cursor for s in adapter.pull(None))
    seen = first.parent / (first.name.partition(":2,")[0] + ":2,RS")  # read and answered: flags only
    os.rename(first, seen)
    [renamed] = adapter.pull(cursor)
    assert renamed.ticket.title == "Printer broken" and adapter.maildir_read == (3, 0, 1, 0)
    cursor = renamed.cursor
    # a new adapter over the same cache (a restart) reads nothing again
    again = EmailAdapter(section(box.root), tmp_path, Clock())
    assert list(again.pull(cursor)) == [] and again.maildir_read == (3, 0, 0, 0)


def test_a_solve_is_dated_by_the_move_into_done_not_by_the_last_mail(box, tmp_path):
    """Answered on Thursday, moved to Done later: solved when it was moved."""
    question = box.add("", "ada@acme.example", "Printer broken", t(5, 9), "a1")
    box.add(".Sent", "support@help.example", "Re: Printer broken", t(5, 12, 31), "a2", ["a1"], to="ada@acme.example")
    clock = Clock()
    adapter = EmailAdapter(section(box.root), tmp_path, clock)
    [opened] = adapter.pull(None)
    assert opened.ticket.status is Status.OPEN and opened.ticket.closed_at is None
    moved = box.root / ".Done" / "cur" / question.name
    os.rename(question, moved)
    clock.advance(2)
    [solved] = adapter.pull(opened.cursor)
    assert solved.ticket.status is Status.SOLVED
    assert solved.ticket.closed_at == ctime(moved) != t(5, 12, 31)
    assert solved.ticket.status_history[-1] == StatusChange(ctime(moved), Status.SOLVED, "Done", 1, False)
    # the customer writes again: reopened when that mail arrived
    box.add("", "ada@acme.example", "Re: Printer broken", t(5, 15), "a3", ["a2"])
    clock.advance(1)
    [reopened] = adapter.pull(solved.cursor)
    assert reopened.ticket.status is Status.OPEN and reopened.ticket.closed_at is None
    assert [c.status for c in reopened.ticket.status_history] == [Status.OPEN, Status.SOLVED, Status.OPEN]


def test_a_solved_keyword_set_in_a_mail_client_is_dated_by_the_cycle_that_saw_it(box, tmp_path):
    (box.root / "dovecot-keywords").write_text("0 pending\n1 urgent\n2 solved\n")
    question = box.add("", "ada@acme.example", "Printer broken", t(5, 9), "a1")
    clock = Clock()
    adapter = EmailAdapter(section(box.root), tmp_path, clock)
    [opened] = adapter.pull(None)
    os.rename(question, question.parent / (question.name.partition(":2,")[0] + ":2,Sc"))
    seen_at = clock.advance(0.5)
    [solved] = adapter.pull(opened.cursor)
    assert (solved.ticket.status, solved.ticket.closed_at) == (Status.SOLVED, seen_at)
    assert solved.ticket.status_history[-1].estimated is False


def test_the_first_read_of_an_existing_mailbox_estimates_the_solve_and_says_so(box, tmp_path):
    box.add(".Done", "ada@acme.example", "Old question", t(2, 9), "o1")
    box.add(".Sent", "support@help.example", "Re: Old question", t(2, 10), "o2", ["o1"], to="ada@acme.example")
    [old] = EmailAdapter(section(box.root), tmp_path, Clock()).pull(None)
    assert old.ticket.status is Status.SOLVED and old.ticket.closed_at == t(2, 10)
    assert old.ticket.status_history[-1] == StatusChange(t(2, 10), Status.SOLVED, "Done", 1, True)


def test_check_names_the_problem(tmp_path, box):
    assert EmailAdapter(section(box.root)).check().startswith(f"maildir {box.root}: 0 messages in 3 folders")
    with pytest.raises(PermanentSourceError, match="is not a Maildir \\(missing cur, new, tmp/\\)"):
        EmailAdapter(section(tmp_path)).check()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_sink():
    from aiosmtpd.controller import Controller

    class Sink:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            import email
            import email.policy

            self.messages.append(
                (
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    email.message_from_bytes(
                        envelope.original_content or envelope.content, policy=email.policy.default
                    ),
                )
            )
            return "250 Message accepted for delivery"

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, sink
    controller.stop()


def test_a_breach_notice_reaches_the_lead_once_and_its_echo_moves_no_clock(box, tmp_path, smtp_sink):
    controller, sink = smtp_sink
    box.add("", "ada@acme.example", "Printer broken", t(2, 9), "a1")
    email_section = section(
        box.root,
        notify_to=["oncall@help.example"],
        smtp={"host": "127.0.0.1", "port": controller.port, "security": "plain", "sender": "sla-bot@help.example"},
    )
    adapter = EmailAdapter(email_section)
    assert adapter.capabilities == {"notify"}
    settings = load_settings()
    store = Store.open(tmp_path / "sla.db")
    engine = Engine.from_settings(settings)
    run_cycle(store, adapter, engine, t(2, 9, 30))
    summary = run_cycle(store, adapter, engine, t(2, 12, 5))  # breached at 10:00, +2h notifies the lead
    # the warning's tag and the breach's tags, priority and note: a read-only mailbox can do none of them
    assert summary.delivery.delivered == 1 and summary.delivery.skipped == 5
    [(sender, recipients, notice)] = sink.messages
    assert sender == "sla-bot@help.example" and recipients == ["lead@help.example", "oncall@help.example"]
    assert notice["Auto-Submitted"] == "auto-generated" and notice["X-Auto-Response-Suppress"] == "All"
    assert notice[OWN_HEADER].endswith("first_reply:1:step@+2h:notify")
    assert notice["Subject"] == "SLA first_reply breached on ticket 1001 [#1001]"
    assert run_cycle(store, adapter, engine, t(2, 12, 10)).delivery.delivered == 0
    # the notice comes back into the shared mailbox (the lead replied-all): it starts no clock
    echo = box.add("", "sla-bot@help.example", notice["Subject"], t(2, 12, 6), "echo1", ["a1"])
    echo.write_bytes(
        echo.read_bytes().replace(b"Subject:", f"{OWN_HEADER}: {notice[OWN_HEADER]}\nSubject:".encode(), 1)
    )
    snapshot = next(iter(adapter.pull(None)))
    assert [m.own for m in snapshot.messages] == [False, True]
    # the lead forwards it to the customer, who answers from another address: the number threads it
    box.add("", "ada.home@example.org", "Re: Fwd: " + notice["Subject"], t(2, 13), "x1")
    [joined] = [s for s in adapter.pull(None) if s.ticket.number == "1001"]
    assert [m.external_id for m in joined.messages][-1] == "x1"


def test_each_conversation_keeps_its_short_number_across_cycles_and_restarts(box, tmp_path):
    box.add("", "ada@acme.example", "Printer broken", t(2, 9), "a1")
    box.add("", "bob@beta.example", "VPN", t(2, 10), "b1")
    running = EmailAdapter(section(box.root), tmp_path)  # still open: what it wrote is committed
    first = {s.ticket.title: s.ticket.number for s in running.pull(None)}
    assert sorted(first.values()) == ["1001", "1002"]
    box.add("", "cy@gamma.example", "Invoice", t(2, 11), "c1")
    box.add("", "ada@acme.example", "Re: Printer broken", t(2, 12), "a2", ["a1"])
    again = {s.ticket.title: s.ticket.number for s in EmailAdapter(section(box.root), tmp_path).pull(None)}
    assert again == {**first, "Invoice": "1003"}
    assert running.cache().number("m-a-new-one") == 1004


def test_a_refusing_smtp_server_parks_the_notice(box, smtp_sink):
    controller, _ = smtp_sink
    adapter = EmailAdapter(
        section(
            box.root,
            smtp={"host": "127.0.0.1", "port": controller.port, "security": "plain", "sender": "sla-bot@help.example"},
        )
    )
    action = Action("k:notify", "k", "email:m1", "notify", {"recipients": ["assignee"], "subject": "s", "body": "b"})
    with pytest.raises(PermanentSourceError, match="nobody to send it to"):
        adapter.apply(action)
    closed = EmailAdapter(
        section(
            box.root,
            smtp={"host": "127.0.0.1", "port": free_port(), "security": "plain", "sender": "sla-bot@help.example"},
        )
    )
    from connector.core.errors import TransientSourceError

    with pytest.raises(TransientSourceError, match="SMTP 127.0.0.1"):
        closed.apply(
            Action("k:notify", "k", "email:m1", "notify", {"recipients": ["a@b.example"], "subject": "s", "body": "b"})
        )


def test_the_bundled_sample_mailbox_syncs(tmp_path):
    from tests.conftest import ROOT

    adapter = EmailAdapter(section(ROOT / "examples" / "mailbox"))
    tickets = list(adapter.pull(None))
    assert len(tickets) >= 25
    assert any(s.ticket.status is Status.SOLVED for s in tickets)
    assert any(s.ticket.status is Status.PENDING for s in tickets)
    assert any("urgent" in s.ticket.tags for s in tickets)
    assert any(m.auto_generated for s in tickets for m in s.messages)


def test_the_cycle_summary_counts_warning_steps_and_mails_with_problems_apart(box, tmp_path):
    box.add("", "ada@acme.example", "Printer broken", t(2, 9), "a1")
    broken = box.root / "cur" / "1000.Mbad1P1.test:2,S"
    broken.write_bytes(b"Subject: no sender\nMessage-ID: <bad1@x>\nDate: Mon, 02 Nov 2026 09:00:00 +0000\n\nhi\x00\n")
    other = box.root / "cur" / "1000.Mbad2P1.test:2,S"
    other.write_bytes(b"From: cy@gamma.example\nSubject: Caf\xe9\nMessage-ID: <bad2@x>\n\nhi\n")
    store, engine = Store.open(tmp_path / "sla.db"), Engine.from_settings(load_settings())
    summary = run_cycle(store, EmailAdapter(section(box.root), tmp_path), engine, t(2, 9, 50))
    assert summary.mail_problems == 2
    assert "2 warning steps" in summary.line() and summary.line().endswith("; 2 mails with problems, see the log")


def test_a_conversation_moved_to_done_after_its_breach_stays_breached(box, tmp_path):
    """Answered in time for the first reply, moved to Done an hour after the resolution's due
    time: the breach stands, no `met` dated before it appears."""
    clock = Clock()
    start = clock.now - timedelta(hours=8)  # the resolution target is 8 h on a 24/7 calendar
    question = box.add("", "ada@acme.example", "Printer broken", start, "a1")
    reply_at = start + timedelta(minutes=30)
    box.add(".Sent", "support@help.example", "Re: Printer broken", reply_at, "a2", ["a1"], to="ada@acme.example")
    store, engine = Store.open(tmp_path / "sla.db"), Engine.from_settings(load_settings())
    adapter = EmailAdapter(section(box.root), tmp_path, clock)
    run_cycle(store, adapter, engine, clock.advance(-0.5))
    assert run_cycle(store, adapter, engine, clock.advance(1)).breaches == 1  # due at `clock.now - 0.5 h`
    moved = box.root / ".Done" / "cur" / question.name
    os.rename(question, moved)
    run_cycle(store, adapter, engine, clock.advance(1.5))
    [(status, stopped)] = store.db.execute(
        "SELECT status, stopped_at FROM sla_records WHERE metric = 'resolution'"
    ).fetchall()
    assert (status, datetime.fromisoformat(stopped)) == ("breached", ctime(moved))
    kinds = [k for (k,) in store.db.execute("SELECT kind FROM sla_events WHERE metric = 'resolution'")]
    assert "met" not in kinds and "corrected" not in kinds
