"""A ticket's articles and tags in one read (`tickets/{id}?all=true`): the same snapshot as
`by_ticket` and `tags` give, the article type and sender names learned from `by_ticket` (read
again only for an id not known yet), and what a first sync and a cycle cost in requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.zammad.client import NotFound
from adapters.zammad.mapping import CHANNELS, map_article
from connector.core.escalation import Action
from connector.core.model import Channel, Role
from tests.adapters.zammad.conftest import make_adapter


def t(day, hour, minute=0, second=0):
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def varied(zammad) -> list[int]:
    """Tickets of every channel with notes, internal articles, System articles, auto-replies,
    the connector's own note and tags."""
    ids = []
    for n, channel in enumerate(["email", "phone", "web", "chat", "sms", "email"]):
        ident = zammad.add_ticket(f"T{n} by {channel}", at=t(2, 9, n), channel=channel)
        zammad.add_article(ident, "Agent", "note", internal=True, at=t(2, 9, n, 10))
        zammad.add_article(ident, "Agent", channel, at=t(2, 9, n, 20))
        zammad.add_article(ident, "System", "note", at=t(2, 9, n, 30))
        zammad.add_article(
            ident, "Agent", "email", at=t(2, 9, n, 40), preferences={"send-auto-response": False, "is-auto-response": n}
        )
        zammad.add_article(ident, "Customer", "web", internal=n % 2 == 1, at=t(2, 9, n, 50))
        zammad.tags[ident] = ["VIP", f"tag{n}"][: n % 3]
        ids.append(ident)
    zammad.add_article(ids[-1], "Agent", "note", internal=True, body="SLA<br>\n<small>[sla-connector:k1]</small>")
    return ids


def through_by_ticket(adapter, ident: int):
    """The messages, channel and tags as the articles and tags endpoints give them."""
    articles = sorted(
        adapter.client.get(f"ticket_articles/by_ticket/{ident}"), key=lambda a: (a["created_at"], a["id"])
    )
    tags = adapter.client.get("tags", object="Ticket", o_id=ident)["tags"]
    return tuple(map_article(a) for a in articles), CHANNELS.get(articles[0]["type"], Channel.OTHER), tags


def test_the_one_read_gives_the_snapshot_that_the_articles_and_tags_endpoints_give(zammad, clock, sleeps):
    ids = varied(zammad)
    adapter = make_adapter(zammad, clock, sleeps)
    snapshots = {int(s.ticket.external_id): s for s in adapter.pull(None)}
    assert sorted(snapshots) == ids
    # by_ticket only for the first ticket with a type not seen before: email (with note and web), phone, chat, sms
    assert zammad.count("GET", "by_ticket") == 4 and zammad.count("GET", r"tickets/\d+$") == len(ids)
    assert zammad.count("GET", "tags") == 0
    for ident in ids:
        messages, channel, tags = through_by_ticket(adapter, ident)
        snapshot = snapshots[ident]
        assert snapshot.messages == messages
        assert snapshot.ticket.channel is channel
        assert snapshot.ticket.tags == frozenset(tag.lower() for tag in tags)
    every = [m for s in snapshots.values() for m in s.messages]
    assert {m.role for m in every} == {Role.AGENT, Role.CUSTOMER, Role.SYSTEM}
    assert {m.channel for m in every} >= {Channel.EMAIL, Channel.PHONE, Channel.WEB, Channel.CHAT, Channel.OTHER}
    assert any(m.public for m in every) and any(not m.public for m in every)
    assert any(m.auto_generated for m in every) and [m.own for m in every].count(True) == 1


def test_the_one_read_answers_as_zammads_assets_all_does(zammad, clock, sleeps):
    ident = zammad.add_ticket("Printer broken", at=t(2, 9))
    zammad.add_article(ident, "Agent", "note", internal=True, at=t(2, 9, 5))
    zammad.tags[ident] = ["vip"]
    adapter = make_adapter(zammad, clock, sleeps)
    answer = adapter.client.get(f"tickets/{ident}", all="true")
    assert answer["ticket_id"] == ident and answer["tags"] == ["vip"]
    assert set(answer) >= {"ticket_article_ids", "assets", "links", "mentions", "form_meta"}
    articles = answer["assets"]["TicketArticle"]
    assert sorted(articles) == [str(i) for i in answer["ticket_article_ids"]]
    assert all("sender" not in a and "type" not in a and {"sender_id", "type_id"} <= set(a) for a in articles.values())
    assert answer["assets"]["Ticket"][str(ident)]["article_ids"]
    with pytest.raises(NotFound):
        adapter.client.get("tickets/999", all="true")
    # the connector's own note is there too, and the pull reads it from there
    clock.now = t(2, 10)
    adapter.apply(Action("evt-1:add_note", "evt-1", f"zammad:{ident}", "add_note", {"text": "Overdue"}))
    answer = adapter.client.get(f"tickets/{ident}", all="true")
    assert (
        "[sla-connector:evt-1:add_note]"
        in answer["assets"]["TicketArticle"][str(answer["ticket_article_ids"][-1])]["body"]
    )
    before = zammad.count("GET", "by_ticket")
    (snapshot,) = adapter.pull(None)
    assert [m.own for m in snapshot.messages] == [False, False, True]
    assert zammad.count("GET", "by_ticket") == before  # the note's look-up taught the names


def test_an_article_type_or_sender_not_learned_yet_is_read_from_by_ticket_once(zammad, clock, sleeps, tmp_path):
    first = zammad.add_ticket("Email", at=t(2, 9))
    zammad.add_ticket("Email too", at=t(2, 9, 1))
    adapter = make_adapter(zammad, clock, sleeps, tmp_path)
    clock.now = t(2, 9, 10)
    cursor = max(s.cursor for s in adapter.pull(None))
    assert zammad.count("GET", "by_ticket") == 1  # a fresh instance: the first ticket names email, Customer
    zammad.add_article(first, "Agent", "chat", at=t(2, 9, 20))  # a type and a sender not seen yet
    fax = zammad.add_ticket("Fax", at=t(2, 9, 21), channel="fax")
    zammad.add_article(fax, "System", "note", at=t(2, 9, 22))
    clock.now = t(2, 9, 30)
    pulled = {s.ticket.title: s for s in adapter.pull(cursor)}
    assert zammad.count("GET", "by_ticket") == 1 + 2
    assert (pulled["Email"].messages[-1].channel, pulled["Email"].messages[-1].role) == (Channel.CHAT, Role.AGENT)
    assert [(m.channel, m.role) for m in pulled["Fax"].messages] == [
        (Channel.OTHER, Role.CUSTOMER),
        (Channel.OTHER, Role.SYSTEM),
    ]
    assert pulled["Email"].ticket.channel is Channel.EMAIL  # the first article's type
    # learned: another ticket with them is read in one request; a new process has the names too
    third = zammad.add_ticket("Chat", at=t(2, 9, 40), channel="chat")
    zammad.add_article(third, "System", "note", at=t(2, 9, 41))
    clock.now = t(2, 9, 50)
    fresh = make_adapter(zammad, clock, sleeps, tmp_path)
    (snapshot,) = [s for s in fresh.pull(max(s.cursor for s in pulled.values())) if s.ticket.title == "Chat"]
    assert zammad.count("GET", "by_ticket") == 3
    assert snapshot.ticket.channel is Channel.CHAT and [m.role for m in snapshot.messages] == [
        Role.CUSTOMER,
        Role.SYSTEM,
    ]


def test_a_first_sync_costs_one_read_a_ticket_and_a_cycle_reads_articles_only_when_they_moved(zammad, clock, sleeps):
    ids = [zammad.add_ticket(f"Ticket {n}", at=t(2, 9, n)) for n in range(40)]
    zammad.add_article(ids[0], "Agent", "email", at=t(2, 9, 0, 30))  # the first ticket names Agent too
    for ident in ids[3::4]:
        zammad.set_state(ident, "open", at=t(2, 9, 45))
    adapter = make_adapter(zammad, clock, sleeps, search="field")
    clock.now = t(2, 10)
    cursor = max(s.cursor for s in adapter.pull(None))
    # the look-ups (states, priorities), one page of tickets, one by_ticket, a read a ticket, and
    # the history of the ten not in the state they were created in; the customer came with the read
    assert zammad.count("GET", r"tickets/\d+$") == 40 and zammad.count("GET", "by_ticket") == 1
    assert zammad.count("GET", "ticket_history") == 10 and zammad.count("GET", "/tags") == 0
    assert zammad.count("GET", "/users") == 0
    assert zammad.count() == 2 + 1 + 1 + 40 + 10
    zammad.add_article(ids[1], "Agent", "email", at=t(2, 10, 1))  # articles moved
    zammad.tags[ids[2]].append("vip")
    zammad._touch(ids[2], t(2, 10, 2), 3)  # only the tags moved
    clock.now = t(2, 10, 10)
    before = zammad.count()
    pulled = [s for s in adapter.pull(cursor, timedelta(minutes=2)) if s.ticket.title in ("Ticket 1", "Ticket 2")]
    assert [s.ticket.title for s in pulled] == ["Ticket 1", "Ticket 2"]
    assert pulled[1].ticket.tags == frozenset({"vip"}) and len(pulled[0].messages) == 2
    assert zammad.count() - before == 1 + 2 + 2  # a search page; each: one read and its history
    assert zammad.count("GET", r"tickets/\d+$") == 41 and zammad.count("GET", "/tags") == 1


def test_a_zammad_that_ignores_all_true_is_read_through_by_ticket_and_tags(zammad, clock, sleeps):
    zammad.assets_all = False
    ids = varied(zammad)
    adapter = make_adapter(zammad, clock, sleeps)
    snapshots = {int(s.ticket.external_id): s for s in adapter.pull(None)}
    assert sorted(snapshots) == ids
    assert zammad.count("GET", "by_ticket") == zammad.count("GET", "/tags") == len(ids)
    for ident in ids:
        messages, channel, tags = through_by_ticket(adapter, ident)
        assert (snapshots[ident].messages, snapshots[ident].ticket.channel) == (messages, channel)
        assert snapshots[ident].ticket.tags == frozenset(tag.lower() for tag in tags)
