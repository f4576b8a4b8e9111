"""A scripted helpdesk for the core's tests: its state lives in a JSON file, so a killed process
and its restart talk to the same host. `ScriptedAdapter` implements `adapters.base.Adapter`.

The host keeps tickets (with messages), the writes it accepted (each with its idempotency key, so
a repeated note is recognised the way real adapters recognise theirs), and a script of failures
to answer the next writes with: "timeout", "500", "429:<seconds>", "400", "401".
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from adapters.base import ACTION_KINDS, Snapshot, external_id
from connector.core.errors import AuthFailed, PermanentSourceError, TransientSourceError
from connector.core.escalation import Action
from connector.core.model import Channel, Message, Priority, Role, Status, StatusChange, Ticket


class ScriptedHost:
    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.exists():
            self.save({"tickets": {}, "writes": [], "failures": [], "tags": {}, "priority": {}, "pull_failures": []})

    def load(self) -> dict:
        return json.loads(self.path.read_text())

    def save(self, state: dict) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=1))
        os.replace(temporary, self.path)

    def put_ticket(
        self,
        external: str,
        created: datetime,
        updated: datetime,
        messages: list[tuple],
        status="open",
        history: list[tuple] = (),
        tags=(),
        priority: int = 2,
        title: str = "",
    ) -> None:
        state = self.load()
        state["tickets"][external] = {
            "created": created.isoformat(),
            "updated": updated.isoformat(),
            "status": status,
            "title": title,
            "history": [[at.isoformat(), s] for at, s in history],
            "tags": list(tags),
            "priority": priority,
            "messages": [[ident, at.isoformat(), role, public] for ident, at, role, public in messages],
        }
        self.save(state)

    def fail_next(self, *failures: str) -> None:
        state = self.load()
        state["failures"] += list(failures)
        self.save(state)

    def fail_next_pull(self, failure: str) -> None:
        state = self.load()
        state["pull_failures"].append(failure)
        self.save(state)

    def writes(self, kind: str | None = None) -> list[dict]:
        return [w for w in self.load()["writes"] if kind is None or w["kind"] == kind]


@dataclass
class _Section:
    name: str = "scripted"
    kind: str = "scripted"
    poll_interval: None = None


class ScriptedAdapter:
    def __init__(
        self,
        host: ScriptedHost,
        name: str = "scripted",
        capabilities: frozenset[str] = ACTION_KINDS,
        malformed: set[str] = frozenset(),
    ):
        self.host, self.section, self.capabilities, self.malformed = host, _Section(name), capabilities, malformed
        self.pulls: list[str | None] = []

    @property
    def name(self) -> str:
        return self.section.name

    def check(self) -> str:
        return f"scripted host {self.host.path.name}"

    def pull(self, since: str | None, overlap: timedelta = timedelta(0)) -> Iterator[Snapshot]:
        self.pulls.append(since)
        state = self.host.load()
        if state["pull_failures"]:
            failure = state["pull_failures"].pop(0)
            self.host.save(state)
            _raise(failure)
        rows = sorted((data["updated"], external, data) for external, data in state["tickets"].items())
        for updated, external, data in rows:
            cursor = f"{updated}|{external}"
            if since is not None and cursor <= since:
                continue
            yield Snapshot(self._ticket(external, data), self._messages(data), cursor)

    def _ticket(self, external: str, data: dict) -> Ticket:
        created = datetime.fromisoformat(data["created"])
        if external in self.malformed:
            created = created.replace(tzinfo=None)  # a naive time: the core must refuse this one ticket
        return Ticket(
            source=self.name,
            external_id=external,
            number=external,
            title=data["title"],
            created_at=created,
            updated_at=datetime.fromisoformat(data["updated"]),
            status=Status(data["status"]),
            channel=Channel.EMAIL,
            tags=frozenset(data["tags"]),
            priority=Priority(data["priority"]),
            status_history=tuple(StatusChange(datetime.fromisoformat(at), Status(s)) for at, s in data["history"]),
        )

    @staticmethod
    def _messages(data: dict) -> tuple[Message, ...]:
        return tuple(
            Message(ident, datetime.fromisoformat(at), Role(role), public=public)
            for ident, at, role, public in data["messages"]
        )

    def apply(self, action: Action) -> None:
        state = self.host.load()
        if state["failures"]:
            failure = state["failures"].pop(0)
            self.host.save(state)
            _raise(failure)
        ticket = external_id(action, self.name)
        if any(w["key"] == action.key for w in state["writes"]):
            return  # this write reached the host before: the host recognises its key
        tags = set(state["tags"].get(ticket, []))
        if action.kind == "add_tags":
            tags |= set(action.payload["tags"])
        elif action.kind == "remove_tags":
            tags -= set(action.payload["tags"])
        elif action.kind == "raise_priority":
            state["priority"][ticket] = max(state["priority"].get(ticket, 0), action.payload["rank"])
        state["tags"][ticket] = sorted(tags)
        state["writes"].append(
            {"key": action.key, "kind": action.kind, "ticket": ticket, "payload": dict(action.payload)}
        )
        self.host.save(state)


def _raise(failure: str) -> None:
    if failure == "timeout":
        raise TransientSourceError("scripted: timed out")
    if failure == "500":
        raise TransientSourceError("scripted: HTTP 500")
    if failure.startswith("429"):
        raise TransientSourceError("scripted: HTTP 429", retry_after=float(failure.split(":")[1]))
    if failure == "401":
        raise AuthFailed("scripted: HTTP 401")
    raise PermanentSourceError(f"scripted: HTTP {failure}")
