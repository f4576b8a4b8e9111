"""Zammad's tickets, articles and history mapped into `connector.core.model`, and the look-ups
(states, priorities, groups, users, organizations) that mapping needs, cached and refreshed on a miss.

Public API: `Lookups(client)`, `map_ticket(row, tags, history, lookups, source, base_url, first_type)`,
`map_article(article)`, `parse_time`, `MARKER`, `note_marker(key)`.

- Article types and senders by name. Their ids are the instance's own: `Lookups.learn` takes them
  from articles that carry both (`by_ticket` answers), and `Lookups.name_article` names an article
  that carries ids only (the assets of `tickets/{id}?all=true`), or says it cannot.
- States by their *type*, so a renamed or added state still works: new -> new, open -> open,
  pending reminder / pending action -> pending, closed -> closed, merged and removed -> closed and
  deleted (their clocks are cancelled).
- Priorities by rank: the number their name starts with ("3 high"), else their order by id;
  rank 4 and above is urgent.
- An article counts as a reply only if it is a communication (email, phone, web, chat, ...) and
  not internal; notes never count, System articles never, the connector's own notes (they carry
  `MARKER`) never.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from connector.core.model import Channel, Message, Person, Priority, Role, Status, StatusChange, Ticket

MARKER = "[sla-connector:"
STATUS_BY_TYPE = {
    "new": Status.NEW,
    "open": Status.OPEN,
    "pending reminder": Status.PENDING,
    "pending action": Status.PENDING,
    "closed": Status.CLOSED,
    "merged": Status.CLOSED,
    "removed": Status.CLOSED,
}
GONE_TYPES = frozenset({"merged", "removed"})
CHANNELS = {"email": Channel.EMAIL, "web": Channel.WEB, "chat": Channel.CHAT, "phone": Channel.PHONE}
ROLES = {"Agent": Role.AGENT, "Customer": Role.CUSTOMER, "System": Role.SYSTEM}
NOT_COMMUNICATION = frozenset({"note"})
SYSTEM_USER = 1  # Zammad's "-": nobody


def note_marker(key: str) -> str:
    return f"{MARKER}{key}]"


def parse_time(value: Any) -> datetime:
    """Zammad's UTC time ("2021-11-03T11:51:13.790Z"); anything else is a ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"time {value!r} is not a string")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time {value!r} has no zone")
    return moment.astimezone(UTC)


def _rank(name: str, position: int) -> int:
    match = re.match(r"\s*(\d+)", name)
    return int(match.group(1)) if match else position


class Lookups:
    """Reference lists by id, read once and again when an unknown id turns up."""

    def __init__(self, get: Callable[..., Any]):
        self.get = get
        self.states: dict[int, tuple[str, str]] = {}  # id -> (name, type)
        self.priorities: dict[int, tuple[str, int]] = {}  # id -> (name, host rank)
        self.groups: dict[int, str] = {}
        self.users: dict[int, dict] = {}
        self.organizations: dict[int, str] = {}
        self.article_types: dict[int, str] = {}  # id -> name ("email", "note", ...), learned
        self.senders: dict[int, str] = {}  # id -> name ("Agent", "Customer", "System"), learned

    def learn(self, articles: Iterable[Mapping[str, Any]]) -> bool:
        """Take the type and sender ids with their names from articles that carry both; True when
        something was new."""
        new = False
        for article in articles:
            for table, key in ((self.article_types, "type"), (self.senders, "sender")):
                ident, name = article.get(f"{key}_id"), article.get(key)
                if isinstance(ident, int) and isinstance(name, str) and table.get(ident) != name:
                    table[ident], new = name, True
        return new

    def name_article(self, article: dict) -> dict | None:
        """The article with the names of its type and sender set from their ids; None when an id
        is one not learned yet."""
        kind, sender = self.article_types.get(article.get("type_id")), self.senders.get(article.get("sender_id"))
        if kind is None or sender is None:
            return None
        article["type"], article["sender"] = kind, sender
        return article

    def load(self) -> None:
        self.states = {
            s["id"]: (s["name"], str(s.get("state_type") or s.get("name")))
            for s in self.get("ticket_states", expand="true")
        }
        rows = sorted(self.get("ticket_priorities"), key=lambda p: p["id"])
        self.priorities = {p["id"]: (p["name"], _rank(p["name"], n)) for n, p in enumerate(rows, 1)}

    def state(self, ident: int) -> tuple[str, str]:
        if ident not in self.states:
            self.load()
        return self.states[ident]

    def state_named(self, name: str) -> str | None:
        return next((kind for state, kind in self.states.values() if state == name), None)

    def priority(self, ident: int) -> tuple[str, int]:
        if ident not in self.priorities:
            self.load()
        return self.priorities[ident]

    def priority_for(self, rank: int) -> int | None:
        """The id of the lowest host priority at or above this normalized rank."""
        fitting = sorted((host_rank, ident) for ident, (_, host_rank) in self.priorities.items() if host_rank >= rank)
        return fitting[0][1] if fitting else None

    def group(self, ident: int | None) -> str | None:
        if ident is None:
            return None
        if ident not in self.groups:
            self.groups = {g["id"]: g["name"] for g in self.get("groups")}
        return self.groups.get(ident)

    def user(self, ident: int | None) -> dict | None:
        if ident is None or ident == SYSTEM_USER:
            return None
        if ident not in self.users:
            self.users[ident] = self.get(f"users/{ident}")
        return self.users[ident]

    def organization(self, ident: int | None) -> str | None:
        if ident is None:
            return None
        if ident not in self.organizations:
            self.organizations[ident] = self.get(f"organizations/{ident}")["name"]
        return self.organizations[ident]


def status_of(state_type: str) -> Status:
    return STATUS_BY_TYPE.get(state_type, Status.OPEN)


def map_article(article: Mapping[str, Any]) -> Message:
    kind = str(article.get("type") or "")
    sender = ROLES[article["sender"]]  # the name: an id alone is named by `Lookups.name_article` first
    preferences = article.get("preferences") or {}
    return Message(
        external_id=str(article["id"]),
        at=parse_time(article["created_at"]),
        role=sender,
        public=not article.get("internal", False) and kind not in NOT_COMMUNICATION,
        channel=CHANNELS.get(kind, Channel.OTHER),
        auto_generated=bool(preferences.get("is-auto-response") or preferences.get("send-auto-response") is False),
        own=MARKER in str(article.get("body") or ""),
    )


def map_history(history: Iterable[Mapping[str, Any]], lookups: Lookups) -> tuple[StatusChange, ...]:
    """State changes in the host's order (created_at, then id), which keeps two changes of the
    same second in the order they happened."""
    changes = []
    for entry in sorted(history, key=lambda e: (e["created_at"], e.get("id", 0))):
        if entry.get("attribute") != "state" or entry.get("object", "Ticket") != "Ticket":
            continue
        kind = lookups.states.get(entry.get("id_to"), (None, None))[1] or lookups.state_named(entry.get("value_to"))
        changes.append(
            StatusChange(parse_time(entry["created_at"]), status_of(kind or "open"), str(entry.get("value_to", "")))
        )
    return tuple(changes)


def map_ticket(
    row: Mapping[str, Any],
    tags: Iterable[str],
    history: Iterable[Mapping[str, Any]],
    lookups: Lookups,
    source: str,
    base_url: str,
    first_type: str | None = None,
    deleted: bool = False,
) -> Ticket:
    """`first_type`: the first article's type, which names the channel the ticket came by."""
    ident = int(row["id"])
    state_name, state_type = lookups.state(row["state_id"])
    status = status_of(state_type)
    priority_name, host_rank = lookups.priority(row["priority_id"])
    customer = lookups.user(row.get("customer_id")) or {}
    owner = lookups.user(row.get("owner_id")) if row.get("owner_id") else None
    organization = row.get("organization") or lookups.organization(row.get("organization_id"))
    full_name = " ".join(p for p in (customer.get("firstname"), customer.get("lastname")) if p) or None
    closed = row.get("close_at")
    return Ticket(
        source=source,
        external_id=str(ident),
        number=str(row.get("number") or ident),
        title=str(row.get("title") or ""),
        created_at=parse_time(row["created_at"]),
        updated_at=parse_time(row["updated_at"]),
        status=status,
        raw_status=state_name,
        channel=CHANNELS.get(first_type or str(row.get("create_article_type") or ""), Channel.OTHER),
        status_history=map_history(history, lookups),
        priority=Priority(max(1, min(host_rank, 4)), priority_name, str(row["priority_id"])),
        department=row.get("group") or lookups.group(row.get("group_id")),
        assignee=(owner or {}).get("login") or None,
        requester=Person(full_name, customer.get("email") or None) if customer else None,
        organization=organization,
        tags=frozenset(t.lower() for t in tags),
        web_url=f"{base_url}/#ticket/zoom/{ident}",
        closed_at=parse_time(closed) if closed and status.is_done else None,
        deleted=deleted or state_type in GONE_TYPES,
    )
