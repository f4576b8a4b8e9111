"""The normalized tickets and messages every adapter maps into; no helpdesk names beyond `raw_*`.

Public API: `Ticket`, `Message`, `Person`, `Priority`, `StatusChange`, and the enums `Channel`,
`Status`, `Role`; `PRIORITY_RANKS` maps normalized priority names to ranks; `message_order`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    EMAIL = "email"
    WEB = "web"
    CHAT = "chat"
    PHONE = "phone"
    API = "api"
    OTHER = "other"


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"
    CLOSED = "closed"

    @property
    def is_done(self) -> bool:
        return self in _DONE


_DONE = frozenset((Status.SOLVED, Status.CLOSED))


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"


_SYSTEM = Role.SYSTEM
PRIORITY_RANKS = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
_RANK_NAMES = {rank: name for name, rank in PRIORITY_RANKS.items()}


@dataclass(frozen=True, slots=True)
class Priority:
    rank: int  # 1 low, 2 normal, 3 high, 4 urgent
    raw_name: str = ""  # the host's own name, e.g. "3 high"
    raw_id: str | None = None

    @property
    def name(self) -> str:
        return _RANK_NAMES[self.rank]


@dataclass(frozen=True, slots=True)
class Person:
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """The ticket entered `status` at `at` (from the host's history, where it has one). Changes
    of the same instant follow the host's `seq` (its history entry's number); `estimated` marks
    an instant the host could not tell and the source had to guess (a mailbox's first read)."""

    at: datetime
    status: Status
    raw_status: str = ""
    seq: int = 0
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class Ticket:
    source: str
    external_id: str
    created_at: datetime
    updated_at: datetime
    status: Status = Status.OPEN
    raw_status: str = ""
    number: str = ""
    title: str = ""
    channel: Channel = Channel.EMAIL
    status_history: tuple[StatusChange, ...] = ()
    priority: Priority | None = None
    department: str | None = None
    assignee: str | None = None
    requester: Person | None = None
    organization: str | None = None
    tags: frozenset[str] = frozenset()
    custom: Mapping[str, Any] = field(default_factory=dict)
    referrer_url: str | None = None
    web_url: str | None = None
    closed_at: datetime | None = None
    deleted: bool = False

    @property
    def key(self) -> str:
        """Unique across sources: `source:external_id`."""
        return f"{self.source}:{self.external_id}"


@dataclass(frozen=True, slots=True)
class Message:
    external_id: str
    at: datetime
    role: Role
    public: bool = True
    channel: Channel | None = None
    auto_generated: bool = False  # auto-replies, bounces, list mail
    own: bool = False  # written by the connector itself

    @property
    def counts(self) -> bool:
        """Whether this message can start or stop an SLA clock."""
        return self.public and not self.auto_generated and not self.own and self.role is not _SYSTEM


def message_order(message: Message) -> tuple[datetime, int, str]:
    """Messages in time order; those of the same instant by their id, numbers as numbers (hosts
    number their articles, and "10" comes after "9"): a total order, whatever order they came in."""
    return message.at, len(message.external_id), message.external_id
