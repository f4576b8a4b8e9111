"""SLA levels and the ordered rules that pick a ticket's level. Pure: no I/O, no wall clock.

Public API: `Policy.from_settings(settings)`, `Policy.level_for(ticket, messages, now)`, `Level`
(targets per metric, by priority, its calendar and escalation ladder), `Step`.

Rules run in order; every matching active rule with `set_level` replaces the level chosen so far,
and a matching rule with `stop = true` ends the list. No level chosen: the default level, or none.
String comparisons ignore case; `matches` is a regular-expression search as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, NamedTuple

from connector.core.calendar import BusinessCalendar
from connector.core.durations import parse_duration
from connector.core.errors import ConfigError
from connector.core.model import Message, Ticket, message_order

METRICS = ("first_reply", "next_reply", "resolution", "chat_reply", "call_reply")


@dataclass(frozen=True, slots=True)
class Step:
    """One rung of an escalation ladder, at a point relative to the due time."""

    index: int
    at: str  # as written: "-20%", "-30m", "0", "+2h"
    share: Fraction | None  # -0.2 for "-20%"
    offset: timedelta  # business time for "-30m" / "+2h"
    actions: Any  # the StepSection: add_tags, remove_tags, raise_priority, add_note, notify

    def business_us(self, target_us: int) -> int:
        """Business microseconds from the clock's start to this step, given the record's target."""
        if self.share is not None:  # integer arithmetic: Fraction products are slow in bulk
            return target_us + target_us * self.share.numerator // self.share.denominator
        return target_us + self.offset // timedelta(microseconds=1)


def parse_step(index: int, section: Any) -> Step:
    text = section.at.strip()
    if text.endswith("%"):
        return Step(index, text, Fraction(text[:-1]) / 100, timedelta(0), section)
    sign = -1 if text.startswith("-") else 1
    return Step(index, text, None, sign * parse_duration(text.lstrip("+-")), section)


class Target(NamedTuple):
    """One metric's target under a level, in the forms the clocks use."""

    duration: timedelta
    us: int  # the duration in business microseconds
    steps: tuple[tuple[int, int, str], ...]  # (step index, business µs from a clock's start, its point)
    earliest_step: int | None  # the smallest of those amounts; None: no steps


@dataclass(frozen=True)
class Level:
    name: str
    calendar: BusinessCalendar
    targets: dict[str, timedelta]
    by_priority: dict[str, dict[str, timedelta]]
    steps: tuple[Step, ...]
    _cache: dict[tuple[str, ...], dict[str, Target]] = field(default_factory=dict, compare=False, repr=False)
    _by_duration: dict[timedelta, Target] = field(default_factory=dict, compare=False, repr=False)

    def targets_for(self, priority_names: tuple[str, ...]) -> dict[str, Target]:
        """Every metric's target for a ticket with these priority names, with the ladder's steps
        worked out for it; cached, since a level has few priorities and every ticket asks."""
        found = self._cache.get(priority_names)
        if found is None:
            found = {}
            for metric in METRICS:
                duration = self.target(metric, priority_names)
                if duration is not None:
                    found[metric] = self.target_of(duration)
            self._cache[priority_names] = found
        return found

    def target_of(self, duration: timedelta) -> Target:
        """A target of this duration with this level's ladder worked out for it (cached)."""
        found = self._by_duration.get(duration)
        if found is None:
            amount = duration // timedelta(microseconds=1)
            steps = tuple((step.index, step.business_us(amount), step.at) for step in self.steps)
            earliest = min((a for _, a, _ in steps), default=None)
            found = self._by_duration[duration] = Target(duration, amount, steps, earliest)
        return found

    def target(self, metric: str, priority_names: Iterable[str] = ()) -> timedelta | None:
        for name in priority_names:
            specific = self.by_priority.get(name.casefold(), {}).get(metric)
            if specific is not None:
                return specific
        return self.targets.get(metric)


Predicate = Callable[["Facts"], bool]


class Facts(NamedTuple):
    """What rules look at: the ticket, who wrote last, and the evaluation time. A named tuple:
    one is built for every ticket the engine sees."""

    ticket: Ticket
    last_message_by: str | None
    now: datetime


@dataclass(frozen=True)
class Rule:
    name: str
    predicate: Predicate
    set_level: str | None
    stop: bool


class Policy:
    def __init__(
        self, levels: dict[str, Level], rules: list[Rule], default_level: str | None, pause_statuses: Iterable[str]
    ):
        self.levels = levels
        self.rules = rules
        self.default_level = default_level
        self.pause_statuses = frozenset(s.casefold() for s in pause_statuses)
        self._uses_last_message = True  # rules may look at who wrote last; from_settings knows better

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        calendars = {c.name: BusinessCalendar.from_config(c) for c in settings.calendars}
        ladder = tuple(parse_step(i, s) for i, s in enumerate(settings.escalation.steps))
        levels = {}
        for section in settings.levels:
            steps = ladder if section.steps is None else tuple(parse_step(i, s) for i, s in enumerate(section.steps))
            levels[section.name] = Level(
                name=section.name,
                calendar=calendars[section.calendar],
                targets=_targets(section),
                by_priority={name.casefold(): _targets(t) for name, t in section.by_priority.items()},
                steps=steps,
            )
        rules = []
        for i, section in enumerate(settings.rules):
            if section.active:
                try:
                    rules.append(Rule(section.name, compile_condition(section.when), section.set_level, section.stop))
                except ValueError as exc:
                    raise ConfigError([f"rules[{i}] ({section.name}): {exc}"]) from None
        policy = cls(levels, rules, settings.connector.default_level, settings.connector.pause_statuses)
        policy._uses_last_message = any(_mentions(section.when, "last_message_by") for section in settings.rules)
        return policy

    def level_for(self, ticket: Ticket, messages: Iterable[Message], now: datetime) -> Level | None:
        facts = Facts(ticket, last_message_by(messages) if self._uses_last_message else None, now)
        chosen = None
        for rule in self.rules:
            if rule.predicate(facts):
                chosen = rule.set_level or chosen
                if rule.stop:
                    break
        name = chosen or self.default_level
        return self.levels.get(name) if name else None

    def is_pausing(self, status: str, raw_status: str = "") -> bool:
        return status.casefold() in self.pause_statuses or (raw_status or "").casefold() in self.pause_statuses


def _mentions(condition: Any, field: str) -> bool:
    if condition.field is not None:
        return condition.field == field
    return any(_mentions(part, field) for part in (condition.all or condition.any or []))


def _targets(section: Any) -> dict[str, timedelta]:
    return {metric: getattr(section, metric) for metric in METRICS if getattr(section, metric) is not None}


def last_message_by(messages: Iterable[Message]) -> str | None:
    counted = [m for m in messages if m.counts]
    return max(counted, key=message_order).role.value if counted else None


# ---- conditions --------------------------------------------------------------------------------


def _field_values(name: str) -> Callable[[Facts], list[Any]]:
    """How to read a field: every value it has that a condition may compare against."""
    simple = {
        # the members themselves, not `.value`: they are strings, and `.value` is slow to read
        "channel": lambda f: [f.ticket.channel],
        "status": lambda f: [f.ticket.status, f.ticket.raw_status],
        "created": lambda f: [f.ticket.created_at],
        "updated": lambda f: [f.ticket.updated_at],
        "deleted": lambda f: [f.ticket.deleted],
        "referrer_url": lambda f: [f.ticket.referrer_url],
        "priority": lambda f: [f.ticket.priority.name, f.ticket.priority.raw_name] if f.ticket.priority else [None],
        "last_message_by": lambda f: [f.last_message_by],
        "department": lambda f: [f.ticket.department],
        "assignee": lambda f: [f.ticket.assignee],
        "organization": lambda f: [f.ticket.organization],
        "requester": lambda f: [f.ticket.requester.email, f.ticket.requester.name] if f.ticket.requester else [None],
        "tags": lambda f: list(f.ticket.tags),
    }
    if name.startswith("custom."):
        key = name.removeprefix("custom.")

        def custom(f: Facts) -> list[Any]:
            value = f.ticket.custom.get(key)
            return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]

        return custom
    return simple[name]


def _text(value: Any) -> str:
    return str(value).casefold()


def _as_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif hasattr(value, "isoformat") and not isinstance(value, str):  # a TOML date
        moment = datetime.combine(value, datetime.min.time())
    else:
        moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def compile_condition(condition: Any) -> Predicate:
    """Turn a validated `Condition` section into a predicate; regexes are compiled here, once.
    Predicates run for every ticket the engine sees, so they are plain loops, not generators."""
    if condition.all is not None:
        parts = tuple(compile_condition(c) for c in condition.all)

        def every(f: Facts) -> bool:
            for part in parts:
                if not part(f):
                    return False
            return True

        return every
    if condition.any is not None:
        parts = tuple(compile_condition(c) for c in condition.any)

        def some(f: Facts) -> bool:
            for part in parts:
                if part(f):
                    return True
            return False

        return some
    values, op, value = _field_values(condition.field), condition.op, condition.value
    check: Callable[[Any, Facts], Any]
    if op in ("equals", "not_equals"):
        wanted = _text(value)
        check = lambda v, f: _text(v) == wanted  # noqa: E731
    elif op in ("in", "not_in"):
        wanted_set = {_text(v) for v in value}
        check = lambda v, f: _text(v) in wanted_set  # noqa: E731
    elif op in ("contains", "not_contains"):
        wanted = _text(value)
        if condition.field == "tags":  # a list field: one of its items, whole
            check = lambda v, f: _text(v) == wanted  # noqa: E731
        else:
            check = lambda v, f: wanted in _text(v)  # noqa: E731
    elif op == "matches":
        pattern = re.compile(str(value))
        check = lambda v, f: pattern.search(str(v))  # noqa: E731
    elif op in ("is_set", "is_empty"):
        check = lambda v, f: True  # noqa: E731
    elif op in ("before", "after"):
        try:
            limit = _as_time(value)
        except ValueError:
            raise ValueError(f"{condition.field} {op}: {value!r} is not a date or time (use e.g. 2026-01-31)") from None
        if op == "before":
            check = lambda v, f: _as_time(v) < limit  # noqa: E731
        else:
            check = lambda v, f: _as_time(v) > limit  # noqa: E731
    elif op in ("older_than", "newer_than"):
        age = parse_duration(value)
        if op == "older_than":
            check = lambda v, f: f.now - _as_time(v) > age  # noqa: E731
        else:
            check = lambda v, f: f.now - _as_time(v) < age  # noqa: E731
    else:  # pragma: no cover - the config model admits only the operators above
        raise ValueError(f"unknown operator {op!r}")

    def test(f: Facts) -> bool:
        """Whether any value the field has (None, "" and [] are no value) passes the check."""
        for v in values(f):
            if v is not None and v != "" and v != [] and check(v, f):
                return True
        return False

    if op.startswith("not_") or op == "is_empty":
        return lambda f: not test(f)
    return test
