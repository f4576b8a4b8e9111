"""Replay the stored history under a proposed policy: compliance, credits and escalation writes,
current against proposed.

Public API: `proposed_settings(live, path) -> Settings`, `simulate(store, live, proposed, now,
start, end, group_by) -> Simulation` (its `compliance()`, `credits()`, `escalations()` tables).

"Current" is what the store holds: the records the service decided, counted by the reports' own
queries (compliance and the records each contract is credited for), and their stored steps for
the writes. "Proposed" is every stored ticket of the period recomputed from scratch, in memory,
by the same engine under the proposal's calendars, levels, rules and ladder (everything else from
the live config). Nothing is written: the replay reads the store query-only, so a write would fail
rather than happen, and nothing reaches a helpdesk.

Which tickets: those created before the period's end that changed in it, or are still open, or
still have a running clock: any clock that can be decided in the period belongs to one of them.
A record counts as the reports count it: met on the day it stopped, failed on the day it became
due (a running clock past its due time is failed), in the report time zone.

Escalation writes are replayed as a service polling often would have made them: each step's
actions at the step's time, a met clock taking its tags off again. A priority raise counts when
the ladder raises above the priority the helpdesk shows now (or an earlier raise in the replay).
"""

from __future__ import annotations

import copy
import gc
import multiprocessing
import os
import tomllib
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from connector.config.settings import Settings, cross_check, load_config
from connector.core.clocks import RecordStatus, SlaRecord, recompute
from connector.core.errors import ConfigError
from connector.core.escalation import Escalation
from connector.core.model import PRIORITY_RANKS, Ticket
from connector.core.policy import Policy
from connector.reports.customers import Customers
from connector.reports.queries import (
    Column,
    Filters,
    Reports,
    Table,
    compliance_percent,
    credit_amount,
    credit_percent,
)
from connector.store.codec import iso, steps_from_json
from connector.store.database import Store
from connector.store.tickets import TicketStore

GROUPS = ("date", "week", "month", "department", "agent", "level", "metric", "customer")
WRITE_KINDS = (
    ("add_tags", "tags_added"),
    ("remove_tags", "tags_removed"),
    ("raise_priority", "priority_raises"),
    ("add_note", "notes"),
    ("notify", "emails"),
)
SLA_SECTIONS = ("calendars", "levels", "rules", "escalation")
_MET, _BREACHED, _RUNNING = RecordStatus.MET, RecordStatus.BREACHED, RecordStatus.RUNNING
_CANCELLED = RecordStatus.CANCELLED
_STATUS_OF = {member.value: member for member in RecordStatus}
_from_iso = datetime.fromisoformat


def proposed_settings(live: Settings, path: Path) -> Settings:
    """The live settings with the proposal's calendars, levels, rules and ladder (and its
    `[connector] default_level`, where it sets one: the level names may be new)."""
    proposal = load_config(path)
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    update: dict[str, Any] = {name: getattr(proposal, name) for name in SLA_SECTIONS}
    if "default_level" in raw.get("connector", {}):
        update["connector"] = live.connector.model_copy(update={"default_level": proposal.connector.default_level})
    elif live.connector.default_level not in {level.name for level in proposal.levels}:
        update["connector"] = live.connector.model_copy(update={"default_level": None})
    merged = live.model_copy(update=update)
    problems = cross_check(merged)
    if problems:
        raise ConfigError([f"{path}: {problem} (with the live config's other sections)" for problem in problems])
    return merged


@dataclass
class _Side:
    """One policy's outcomes: counts per group, per contract and month, writes per week."""

    met: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    contract_met: Counter = field(default_factory=Counter)
    contract_failed: Counter = field(default_factory=Counter)
    weekly: dict[str, list[int]] = field(default_factory=dict)  # week -> actions, in WRITE_KINDS order

    @property
    def writes(self) -> Counter:
        """(week, kind) -> actions."""
        return Counter(
            {(week, kind): n for week, counts in self.weekly.items() for (kind, _), n in zip(WRITE_KINDS, counts) if n}
        )

    def add(self, other: _Side) -> None:
        for name in ("met", "failed", "contract_met", "contract_failed"):
            getattr(self, name).update(getattr(other, name))
        for week, counts in other.weekly.items():
            mine = self.weekly.setdefault(week, [0] * len(WRITE_KINDS))
            mine[:] = [a + b for a, b in zip(mine, counts)]


class Simulation:
    def __init__(self, live: Settings, proposed: Settings, now: datetime, start: date, end: date, group_by: str):
        if group_by not in GROUPS:
            raise ValueError(f"--group-by {group_by!r} is not one of {', '.join(GROUPS)}")
        if end < start:
            raise ValueError(f"--to {end} is before --from {start}")
        self.live, self.proposed_settings, self.now, self.group_by = live, proposed, now, group_by
        self.zone = ZoneInfo(live.connector.report_timezone)
        self.customers = Customers(live.contracts)  # the reports' rule: one contract per ticket
        self.low = datetime.combine(start, time(), self.zone)
        self.high = datetime.combine(end + timedelta(days=1), time(), self.zone)
        # the same instants in UTC, as the records hold theirs: two datetimes of one tzinfo compare
        # as plain values, of two zones only after each one's offset is looked up
        self._span = self.low.astimezone(UTC), self.high.astimezone(UTC)
        self.policy = Policy.from_settings(proposed)
        live_policy = Policy.from_settings(live)
        self.escalations = (Escalation.from_policy(live_policy, live), Escalation.from_policy(self.policy, proposed))
        self._actions = {id(e): _actions(e) for e in self.escalations}
        self.current, self.proposed = _Side(), _Side()
        self.tickets = 0
        # the UTC instants each local day and ISO week of the period starts at (and the period's
        # end): a record's day or week is a bisection, its zone's rules looked up once per day
        self._days = list(_days(start, end))
        self._day_starts = [datetime.combine(day, time(), self.zone).astimezone(UTC) for day in self._days]
        mondays = [i for i, day in enumerate(self._days) if i == 0 or day.weekday() == 0]
        self._week_starts = [self._day_starts[i] for i in mondays] + [self._span[1]]
        self._week_labels = [_week_label(self._days[i]) for i in mondays]

    # ---- the replay ------------------------------------------------------------------------------

    def add(self, ticket: Ticket, messages: list, fired: list[_Fired]) -> None:
        """Replay one stored ticket: its proposed records counted, and the writes of both ladders
        (`fired`: its stored records that reached a step, the current side's writes)."""
        self.tickets += 1
        proposed = recompute(ticket, messages, self.policy, (), self.now)
        self._count(self.proposed, ticket, proposed)
        rank = ticket.priority.rank if ticket.priority else 0
        self._writes(self.proposed, rank, proposed, self.escalations[1])
        if fired:
            self._writes(self.current, rank, fired, self.escalations[0])

    def count_current(self, store: Store) -> None:
        """The current side's compliance and contract counts: the reports' own queries on the
        stored records (a report of the same period shows the same figures)."""
        reports = Reports(store, self.live, self.now)
        first, last = self.low.date(), (self.high - timedelta(days=1)).date()
        for row in reports.compliance(Filters(start=first, end=last), self.group_by).rows:
            if row[1]:
                self.current.met[row[0]] += row[1]
            if row[5]:
                self.current.failed[row[0]] += row[5]
        contracts = self.live.contracts
        for index, outcome, at in reports.contract_outcomes(first, last):
            key = contracts[index].customer, f"{self._day(_from_iso(at)):%Y-%m}"
            (self.current.contract_met if outcome == "met" else self.current.contract_failed)[key] += 1

    def _count(self, side: _Side, ticket: Ticket, records: Iterable[SlaRecord]) -> None:
        contracts = None
        (low, high), now, by_level = self._span, self.now.astimezone(UTC), self.group_by == "level"
        for record in records:
            status = record.status  # counted as the reports count: met at its stop, failed at its due time
            if status is _MET:
                outcome, at = "met", record.stop
            elif status is _BREACHED or (status is _RUNNING and record.due <= now):
                outcome, at = "failed", record.due
            else:
                continue
            if not (low <= at < high):
                continue
            key = record.level if by_level else self._group(ticket, record, at)
            (side.met if outcome == "met" else side.failed)[key] += 1
            if contracts is None:
                contracts = _contracts_of(ticket, self.customers)
            for contract in contracts:
                if contract.level is None or contract.level == record.level:
                    month = f"{self._day(at):%Y-%m}"
                    (side.contract_met if outcome == "met" else side.contract_failed)[contract.customer, month] += 1

    def _day(self, at: datetime) -> date:
        """The local day of an instant of the period."""
        return self._days[bisect_right(self._day_starts, at) - 1]

    def _group(self, ticket: Ticket, record: SlaRecord, at: datetime) -> str:
        by = self.group_by
        if by == "date":
            return self._day(at).isoformat()
        if by == "week":
            return _week_label(self._day(at))
        if by == "month":
            return f"{self._day(at):%Y-%m}"
        if by == "department":
            value = ticket.department
        elif by == "agent":
            value = ticket.assignee
        elif by == "customer":
            value = _customer(ticket, self.customers)
        else:
            value = getattr(record, by)
        return value if value else "(none)"

    def _writes(self, side: _Side, rank: int, records: list, escalation: Escalation) -> None:
        """Count the writes `escalation.plan` would make for each step and met clock of a ticket
        shown at priority `rank`, event by event as a service polling often would have seen them.
        Counted here rather than planned: a plan renders every note and e-mail, and a year holds
        millions of steps. The tests hold these counts to `plan`'s actions on random histories.
        `records` are the ticket's records (`SlaRecord` or `_Fired`); those that reached no step
        write nothing and hold no tag, so they may be left out."""
        (low, high), remove_when_met = self._span, escalation.remove_tags_when_met
        actions = self._actions[id(escalation)]
        events = []
        for record in records:
            fired = record.steps_fired
            if not fired or record.status is _CANCELLED:
                continue  # no step reached: no write, no tag held; cancelled clocks write nothing
            # ordered as `plan` sees them: by time, then by event key (ticket, metric, seq, point)
            base, steps = (record.metric, record.seq), actions.get(record.level, ())
            for index, at, point in fired:
                if low <= at < high and index < len(steps):
                    events.append((at, base, point or "", steps[index], record))
            if remove_when_met and record.status is _MET and low <= record.stop < high:
                events.append((record.stop, base, "", None, record))
        if not events:
            return
        if len(events) > 1:
            events.sort(key=_event_order)
        ladders, weekly, starts = escalation.ladders, side.weekly, self._week_starts
        begins = ends = low  # the week of the last event, and its counts
        counts: list[int] = []
        for at, _, _, step, record in events:
            if not begins <= at < ends:
                week = bisect_right(starts, at) - 1
                begins, ends, label = starts[week], starts[week + 1], self._week_labels[week]
                counts = weekly.get(label) or weekly.setdefault(label, [0] * len(WRITE_KINDS))
            if step is None:  # met: the tags its steps left come off, unless another clock holds them
                if _held(record, ladders.get(record.level, ()), at) - _held_by_others(record, records, ladders, at):
                    counts[1] += 1
                continue
            add_tags, remove_tags, raise_to, note, notify = step
            counts[0] += add_tags
            if remove_tags:
                held = _held_by_others(record, records, ladders, at)
                if any(tag not in held for tag in remove_tags):
                    counts[1] += 1
            if rank < raise_to:
                counts[2] += 1
                rank = raise_to
            counts[3] += note
            counts[4] += notify

    # ---- the tables --------------------------------------------------------------------------------

    def compliance(self) -> Table:
        columns = [
            Column(self.group_by, "label"),
            Column("current_met", "int"),
            Column("current_failed", "int"),
            Column("current_compliance", "percent"),
            Column("proposed_met", "int"),
            Column("proposed_failed", "int"),
            Column("proposed_compliance", "percent"),
            Column("difference", "percent"),
        ]
        keys = sorted(
            set(self.current.met) | set(self.current.failed) | set(self.proposed.met) | set(self.proposed.failed)
        )
        rows = []
        for key in keys:
            now_ = _compliance(self.current.met[key], self.current.failed[key])
            then = _compliance(self.proposed.met[key], self.proposed.failed[key])
            rows.append(
                [
                    key,
                    self.current.met[key],
                    self.current.failed[key],
                    now_,
                    self.proposed.met[key],
                    self.proposed.failed[key],
                    then,
                    None if now_ is None or then is None else then - now_,
                ]
            )
        return Table(columns, rows)

    def credits(self) -> Table:
        columns = [
            Column("customer"),
            Column("month", "label"),
            Column("current_compliance", "percent"),
            Column("current_credit", "money"),
            Column("proposed_compliance", "percent"),
            Column("proposed_credit", "money"),
            Column("difference", "money"),
            Column("currency", "label"),
        ]
        months = sorted({f"{d:%Y-%m}" for d in _days(self.low.date(), (self.high - timedelta(days=1)).date())})
        rows = []
        for contract in self.live.contracts:
            for month in months:
                key = contract.customer, month
                cells = []
                for side in (self.current, self.proposed):
                    met, failed = side.contract_met[key], side.contract_failed[key]
                    compliance = compliance_percent(met, met + failed)
                    percent = credit_percent(contract, met, met + failed)
                    amount = credit_amount(contract, percent)
                    cells.append((compliance, amount))
                (c_now, a_now), (c_then, a_then) = cells
                rows.append([contract.customer, month, c_now, a_now, c_then, a_then, a_then - a_now, contract.currency])
        return Table(columns, rows)

    def escalation_writes(self) -> Table:
        columns = [Column("week", "label")]
        for _, name in WRITE_KINDS:
            columns += [Column(f"current_{name}", "int"), Column(f"proposed_{name}", "int")]
        current, proposed = self.current.writes, self.proposed.writes
        weeks = sorted({week for week, _ in current} | {week for week, _ in proposed})
        rows = []
        for week in weeks:
            row: list[Any] = [week]
            for kind, _ in WRITE_KINDS:
                row += [current[week, kind], proposed[week, kind]]
            rows.append(row)
        return Table(columns, rows)


def simulate(
    store: Store,
    live: Settings,
    proposed: Settings,
    now: datetime,
    start: date,
    end: date,
    group_by: str = "level",
    workers: int | None = None,
) -> Simulation:
    """Replay the stored tickets of the period; the store is only read. A large period is split
    between `workers` processes (default: one per core), each reading its share of the tickets
    over its own connection; their counts add up to what one process counts. The current side's
    compliance and contract counts are the reports' queries, run meanwhile."""
    simulation = Simulation(live, proposed, now, start, end, group_by)
    store.db.execute("PRAGMA query_only = ON")
    try:
        ids = [
            row[0]
            for row in store.db.execute(
                f"SELECT id FROM tickets WHERE {_REPLAYED} ORDER BY id", [iso(simulation.high), iso(simulation.low)]
            )
        ]
        if workers is None:
            workers = min(os.cpu_count() or 1, 8) if len(ids) >= _IN_PARALLEL_FROM else 1
        if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            _replay(simulation, store, ids)
            workers = 1
    finally:
        store.db.execute("PRAGMA query_only = OFF")
    if workers == 1:
        simulation.count_current(store)  # the reports' queries (a temporary table at most)
        return simulation
    global _JOB
    _JOB = (store.path, simulation)  # inherited by the forked workers, never pickled
    try:
        # each worker reads every `workers`-th chunk of consecutive tickets: the shares stay even
        # as the history grows, and no two processes decode the same pages of the store
        step = workers * _CHUNK
        shares = [
            [n for at in range(i * _CHUNK, len(ids), step) for n in ids[at : at + _CHUNK]] for i in range(workers)
        ]
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            replayed = pool.map_async(_replay_share, shares)
            simulation.count_current(store)
            for tickets, current, proposed_side in replayed.get():
                simulation.tickets += tickets
                simulation.current.add(current)
                simulation.proposed.add(proposed_side)
    finally:
        _JOB = None
    return simulation


# the tickets replayed: created before the period's end and changed in it, or still open, or with
# a clock still running (any clock decided in the period belongs to one of them)
_REPLAYED = (
    "created_at < ? AND (updated_at >= ? OR status NOT IN ('solved', 'closed') "
    "OR id IN (SELECT ticket_id FROM sla_records WHERE stopped_at IS NULL))"
)
_IN_PARALLEL_FROM = 20_000  # tickets; below this a second process costs more than it saves
_CHUNK = 500  # tickets read at a time
_JOB: tuple[Path, Simulation] | None = None


class _Fired(NamedTuple):
    """What the writes need of a stored record that reached a step of the ladder."""

    metric: str
    seq: int
    level: str
    status: RecordStatus
    stop: datetime | None
    steps_fired: tuple[tuple[int, datetime, str | None], ...]

    @property
    def ident(self) -> tuple[str, int]:
        return self.metric, self.seq


def _fired(store: Store, ids: list[int]) -> dict[int, list[_Fired]]:
    """The stored records of these tickets that reached a step, by ticket, in the store's order."""
    marks = ", ".join("?" for _ in ids)
    found: dict[int, list[_Fired]] = {}
    rows = store.db.conn.execute(
        "SELECT ticket_id, metric, seq, level, status, stopped_at, steps_fired FROM sla_records "
        f"WHERE ticket_id IN ({marks}) AND steps_fired != '[]' AND status != 'cancelled' "
        "ORDER BY ticket_id, metric, seq",
        ids,
    )
    for ticket_id, metric, seq, level, status, stop, steps in rows:
        record = _Fired(metric, seq, level, _STATUS_OF[status], stop and _from_iso(stop), steps_from_json(steps))
        found.setdefault(ticket_id, []).append(record)
    return found


def _replay(simulation: Simulation, store: Store, ids: list[int]) -> None:
    # every ticket's objects are freed by reference counting as the next one is read; the cycle
    # collector would only walk the ever larger heap, again and again
    collecting = gc.isenabled()
    gc.disable()
    tickets = TicketStore(store)
    try:
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            fired = _fired(store, chunk)
            for ticket_id, ticket, messages, _ in tickets.load_many(chunk, records=False):
                simulation.add(ticket, messages, fired.get(ticket_id, ()))
    finally:
        if collecting:
            gc.enable()


def _replay_share(ids: list[int]) -> tuple[int, _Side, _Side]:
    path, template = _JOB
    simulation = copy.copy(template)
    simulation.current, simulation.proposed, simulation.tickets = _Side(), _Side(), 0
    store = Store.open(path)
    try:
        store.db.execute("PRAGMA query_only = ON")
        _replay(simulation, store, ids)
    finally:
        store.close()
    return simulation.tickets, simulation.current, simulation.proposed


_event_order = itemgetter(0, 1, 2)


def _actions(escalation: Escalation) -> dict[str, tuple[tuple[int, tuple[str, ...], int, int, int], ...]]:
    """Per level, each step's writes as `_writes` counts them: (adds tags 0/1, the tags it
    removes, the priority rank it raises to or 0, adds a note 0/1, notifies 0/1)."""
    return {
        level: tuple(
            (
                int(bool(a.add_tags)),
                tuple(a.remove_tags),
                PRIORITY_RANKS[a.raise_priority] if a.raise_priority else 0,
                int(bool(a.add_note)),
                int(bool(a.notify)),
            )
            for a in (step.actions for step in ladder)
        )
        for level, ladder in escalation.ladders.items()
    }


def _held(record: SlaRecord, ladder: tuple, until: datetime) -> set[str]:
    """The tags a record's steps reached by `until` left on the ticket, in the order they fired."""
    held: set[str] = set()
    for index, at, _ in sorted(record.steps_fired, key=lambda fired: (fired[1], fired[0])):
        if at <= until and index < len(ladder):
            held.update(ladder[index].actions.add_tags)
            held.difference_update(ladder[index].actions.remove_tags)
    return held


def _held_by_others(record: SlaRecord, records: list[SlaRecord], ladders: Any, at: datetime) -> set[str]:
    """The tags the ticket's other clocks, still running at `at`, held then."""
    held: set[str] = set()
    for other in records:
        if other is record or other.steps_fired == () or other.status is _CANCELLED:
            continue
        if other.ident != record.ident and (other.stop is None or other.stop > at):
            held |= _held(other, ladders.get(other.level, ()), at)
    return held


def _customer(ticket: Ticket, customers: Customers) -> str | None:
    """As the reports name a customer: its contract, else the organization, else the domain."""
    return customers.label(ticket.organization or None, ticket.requester.email if ticket.requester else None)


def _contracts_of(ticket: Ticket, customers: Customers) -> list[Any]:
    """The ticket's contract, as the reports credit it (organization before domain, file order)."""
    index = customers.contract_of(ticket.organization or None, ticket.requester.email if ticket.requester else None)
    return [] if index is None else [customers.contracts[index]]


def _week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _compliance(met: int, failed: int) -> Decimal | None:
    return compliance_percent(met, met + failed)


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
