"""Notices from a Zammad source: by e-mail through the shared [smtp] section (the assignee is the
ticket's owner), or as an internal note naming the recipients."""

from __future__ import annotations

from datetime import UTC, datetime

from connector.config.sources import SmtpSection
from connector.core.escalation import Action
from tests.adapters.email.test_email_maildir import smtp_sink  # noqa: F401 (a fixture)
from tests.adapters.zammad.conftest import make_adapter


def notice(ident, key="evt-9:notify"):
    payload = {"recipients": ["lead@help.example", "assignee"], "subject": "SLA first_reply breached", "body": "b"}
    return Action(key, "evt-9", f"zammad:{ident}", "notify", payload)


def test_a_notice_goes_to_the_lead_and_the_owner_through_the_shared_smtp(zammad, clock, sleeps, smtp_sink):  # noqa: F811
    controller, sink = smtp_sink
    ident = zammad.add_ticket("Printer broken", at=datetime(2026, 11, 2, 9, tzinfo=UTC))
    zammad.tickets[ident]["owner_id"] = 3
    smtp = SmtpSection(host="127.0.0.1", port=controller.port, security="plain", sender="sla-bot@help.example")
    adapter = make_adapter(zammad, clock, sleeps, smtp=smtp)
    assert "notify" in adapter.capabilities
    adapter.apply(notice(ident))
    ((sender, recipients, mail),) = sink.messages
    assert sender == "sla-bot@help.example"
    assert recipients == ["lead@help.example", "agent1@help.example"]
    assert mail["Subject"] == f"SLA first_reply breached [#{31000 + ident}]"
    assert mail["Auto-Submitted"] == "auto-generated"


def test_a_notice_as_a_note_names_the_recipients_once(zammad, clock, sleeps):
    ident = zammad.add_ticket("Printer broken", at=datetime(2026, 11, 2, 9, tzinfo=UTC))
    zammad.tickets[ident]["owner_id"] = 3
    adapter = make_adapter(zammad, clock, sleeps, notify_by="note")
    adapter.apply(notice(ident))
    adapter.apply(notice(ident))
    (note,) = zammad.notes(ident)
    assert "lead@help.example, agent1@help.example" in note["body"] and note["internal"]


def test_without_smtp_notices_are_not_a_capability(zammad, clock, sleeps):
    assert "notify" not in make_adapter(zammad, clock, sleeps).capabilities
