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


def test_a_notice_as_a_note_mentions_each_recipient_zammad_knows_once(zammad, clock, sleeps):
    ident = zammad.add_ticket("Printer broken", at=datetime(2026, 11, 2, 9, tzinfo=UTC))
    zammad.tickets[ident]["owner_id"] = 3
    lead = zammad.add_user("lead@help.example", "Lea", "Lead <Team>")
    zammad.agents.add(lead)
    adapter = make_adapter(zammad, clock, sleeps, notify_by="note")
    payload = {
        "recipients": ["LEAD@help.example", "assignee", "agent1@help.example", "boss@elsewhere.example"],
        "subject": "SLA first_reply breached",
        "body": "due 10:00\novershot <5m>",
    }
    action = Action("evt-9:notify", "evt-9", f"zammad:{ident}", "notify", payload)
    adapter.apply(action)
    adapter.apply(action)  # a repeat (a restart before the outbox noted it) writes nothing
    (note,) = zammad.notes(ident)
    assert note["internal"] and note["content_type"] == "text/html"
    body = note["body"]
    assert f'<a data-mention-user-id="{lead}" ' in body and "Lea Lead &lt;Team&gt;</a>" in body
    assert body.count('data-mention-user-id="3"') == 1 and f"{zammad.url}/#user/profile/3" in body
    assert "Also for (not users of this Zammad): boss@elsewhere.example" in body
    assert "overshot &lt;5m&gt;" in body and "[sla-connector:evt-9:notify]" in body
    mentioned = adapter.client.get("mentions", mentionable_type="Ticket", mentionable_id=ident)["mentions"]
    assert sorted(m["user_id"] for m in mentioned) == sorted([3, lead])


def test_a_note_notice_for_a_ticket_without_owner_mentions_nobody_for_the_assignee(zammad, clock, sleeps):
    ident = zammad.add_ticket("Printer broken", at=datetime(2026, 11, 2, 9, tzinfo=UTC))
    zammad.tickets[ident]["owner_id"] = 1  # Zammad's "-": nobody
    adapter = make_adapter(zammad, clock, sleeps, notify_by="note")
    payload = {"recipients": ["assignee"], "subject": "SLA first_reply breached", "body": "b"}
    adapter.apply(Action("evt-9:notify", "evt-9", f"zammad:{ident}", "notify", payload))
    (note,) = zammad.notes(ident)
    assert "data-mention-user-id" not in note["body"] and "SLA first_reply breached" in note["body"]
    assert zammad.mentions == []


def test_without_smtp_notices_are_not_a_capability(zammad, clock, sleeps):
    assert "notify" not in make_adapter(zammad, clock, sleeps).capabilities
