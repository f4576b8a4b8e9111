"""An [osticket] source end to end through sync cycles, configured as a user writes it: notices go
out through the top-level [smtp] section (there is no [osticket.smtp]), and the note and the
priority go into osTicket's database, all from one breach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.registry import build
from connector.config.settings import load_config
from connector.service.cycle import Engine, run_cycle
from connector.store.database import Store
from tests.adapters.osticket.conftest import PASSWORD

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)

CONFIG = """
[connector]
database = "sla.db"
default_level = "Fast"

[[calendars]]
name = "always"
timezone = "UTC"
[calendars.hours]
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["00:00-24:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]

[[levels]]
name = "Fast"
calendar = "always"
first_reply = "1h"

[escalation]
leads = ["lead@help.example"]
[[escalation.steps]]
at = "0"
raise_priority = "urgent"
add_note = "SLA {metric} breached on ticket {ticket}"
notify = ["lead", "assignee"]

[osticket]
host = "127.0.0.1"
port = {port}
database = "{database}"
user = "{user}"
password_file = "osticket-password"
web_url = "https://help.example.com"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
sender = "sla-bot@help.example"
"""


def test_a_breach_notifies_through_the_shared_smtp_and_writes_into_osticket(osticket, smtp_sink, tmp_path):
    controller, sink = smtp_sink
    (tmp_path / "osticket-password").write_text(PASSWORD + "\n")
    path = tmp_path / "config.toml"
    path.write_text(
        CONFIG.replace("{port}", str(osticket.server.port)).replace("{database}", osticket.database)
        .replace("{user}", osticket.user).replace("{smtp_port}", str(controller.port))
    )  # fmt: skip
    settings = load_config(path)
    assert settings.osticket.smtp == settings.smtp  # no [osticket.smtp]: the shared section
    adapter = build(settings.osticket, tmp_path)
    assert "notify" in adapter.capabilities
    assert "notices via 127.0.0.1" in adapter.check()

    desk = osticket.desk
    user = desk.user("Carla Customer", "carla@acme.example")
    ticket = desk.ticket(user, "Printer on fire", "<p>It burns</p>", T0, priority=2)
    desk.assign(ticket, T0 + timedelta(minutes=1), staff=1)  # Alice Agent, alice@help.example.com
    number = osticket.one("SELECT number FROM ost_ticket WHERE ticket_id = %s", (ticket,))[0]

    store = Store.open(tmp_path / "sla.db")
    engine = Engine.from_settings(settings)
    first = run_cycle(store, adapter, engine, T0 + timedelta(minutes=10), sleep=lambda _: None)
    assert first.delivery.delivered == 0 and sink.messages == []  # running, not due yet

    second = run_cycle(store, adapter, engine, T0 + timedelta(minutes=70), sleep=lambda _: None)
    assert second.delivery.delivered == 3, second.line()
    [(sender, recipients, message)] = sink.messages
    assert sender == "sla-bot@help.example"
    assert sorted(recipients) == ["alice@help.example.com", "lead@help.example"]
    assert number in message["Subject"]
    notes = osticket.all("SELECT body FROM ost_thread_entry WHERE type = 'N' AND poster = 'SLA Connector'")
    assert len(notes) == 1 and f"ticket {number}" in notes[0][0]
    assert osticket.one("SELECT priority FROM ost_ticket__cdata WHERE ticket_id = %s", (ticket,)) == ("4",)

    # a third cycle finds the writes done: nothing is sent or written again
    third = run_cycle(store, adapter, engine, T0 + timedelta(minutes=80), sleep=lambda _: None)
    assert third.delivery.delivered == 0 and len(sink.messages) == 1
    assert len(osticket.all("SELECT id FROM ost_thread_entry WHERE type = 'N' AND poster = 'SLA Connector'")) == 1
