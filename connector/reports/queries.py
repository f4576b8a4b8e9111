"""The reports, computed from the stored SLA records: compliance, SLA log, credits, breaches, due.

Public API: `Reports(store, settings, now)` with `compliance(filters, group_by)`, `log(filters,
sort, descending)`, `credits(month, customer)`, `breaches(month, customer)`, `due(filters,
within)`; each returns a `Table` whose rows are streamed from SQLite. `Filters`, `Column`.

When a record counts: met on the date it stopped, failed on the date it became due (both in the
report time zone); a running record already past its due time counts as failed; running records
not yet due and cancelled records do not count. A record that changed (a late reply after a
breach) is stored once, under its final state, so it is counted once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connector.core.calendar import BusinessCalendar
from connector.core.local_times import local_times
from connector.store.codec import iso
from connector.store.database import Store

_US = 1_000_000
_MICROSECOND = timedelta(microseconds=1)
GROUPS = ("date", "week", "month", "department", "agent", "level", "metric", "customer")
CUSTOMER_SQL = (
    "COALESCE(NULLIF(t.organization, ''), lower(substr(t.requester_email, instr(t.requester_email, '@') + 1)))"
)
SORTABLE = {
    "requester": "t.requester_email",
    "ticket": "t.number",
    "department": "t.department",
    "agent": "t.assignee",
    "level": "r.level",
    "metric": "r.metric",
    "start": "r.start_at",
    "due": "r.due_at",
    "stopped": "r.stopped_at",
    "status": "r.status",
}
ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "CLP", "ISK", "VND", "HUF"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"  # text (from the helpdesk: neutralized in CSV), int, duration, percent, money, time, label


@dataclass
class Table:
    columns: list[Column]
    rows: Iterable[list[Any]]


@dataclass(frozen=True)
class Filters:
    start: date | None = None  # inclusive, in the report time zone
    end: date | None = None  # inclusive
    department: str | None = None
    agent: str | None = None
    level: str | None = None
    customer: str | None = None
    metric: str | None = None
    status: str | None = None


def month_range(month: str) -> tuple[date, date]:
    """'2026-11' -> (2026-11-01, 2026-11-30)."""
    first = datetime.strptime(month, "%Y-%m").date()
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)


class Reports:
    def __init__(self, store: Store, settings: Any, now: datetime):
        self.db, self.settings, self.now = store.db, settings, now
        self.zone = ZoneInfo(settings.connector.report_timezone)
        self._local = local_times(self.zone)
        self._calendars = {c.name: c for c in settings.calendars}
        self._built: dict[str, BusinessCalendar] = {}

    # ---- helpers -------------------------------------------------------------------------------

    def _instant(self, day: date) -> str:
        return iso(datetime.combine(day, time(), self.zone))

    def _bounds(self, filters: Filters) -> tuple[datetime, datetime]:
        start = datetime.combine(filters.start or date(1970, 1, 2), time(), self.zone)
        end = datetime.combine(
            (filters.end or self.now.astimezone(self.zone).date()) + timedelta(days=1), time(), self.zone
        )
        return start, end

    def _where(self, filters: Filters, time_column: str | None) -> tuple[list[str], list[Any]]:
        """SQL conditions for the filters, on records `r` joined with their tickets `t`."""
        clauses, params = [], []
        if time_column is not None:
            start, end = self._bounds(filters)
            clauses, params = [f"{time_column} >= ?", f"{time_column} < ?"], [iso(start), iso(end)]
        for value, sql in (
            (filters.department, "t.department = ?"),
            (filters.agent, "t.assignee = ?"),
            (filters.level, "r.level = ?"),
            (filters.metric, "r.metric = ?"),
            (filters.customer, f"{CUSTOMER_SQL} = ?"),
            (filters.status, "r.status = ?"),
        ):
            if value is not None:
                clauses.append(sql)
                params.append(value)
        return clauses, params

    def calendar(self, name: str) -> BusinessCalendar | None:
        if name not in self._built and name in self._calendars:
            self._built[name] = BusinessCalendar.from_config(self._calendars[name])
        return self._built.get(name)

    def _signed_left(self, calendar_name: str, due: datetime) -> timedelta | None:
        """Business time from now to `due`; negative once it has passed."""
        calendar = self.calendar(calendar_name)
        if calendar is None:
            return None
        return calendar.elapsed(self.now, due) if self.now < due else -calendar.elapsed(due, self.now)

    # ---- compliance ----------------------------------------------------------------------------

    def _outcomes(self) -> list[tuple[str, str]]:
        """(the time a record counts at, the condition) of the met and of the failed records."""
        failed = f"(r.status = 'breached' OR (r.status = 'running' AND r.due_at <= '{iso(self.now)}'))"
        return [("r.stopped_at", "r.status = 'met'"), ("r.due_at", failed)]

    def _decided(self) -> str:
        """Every record with its outcome (NULL: not decided) and the time it counts at."""
        (_, met), (_, failed) = self._outcomes()
        return (
            f"SELECT r.*, CASE WHEN {met} THEN 'met' WHEN {failed} THEN 'failed' END AS outcome, "
            f"CASE WHEN {met} THEN r.stopped_at ELSE r.due_at END AS decided_at FROM sla_records r"
        )

    def compliance(self, filters: Filters, group_by: str = "date") -> Table:
        if group_by not in GROUPS:
            raise ValueError(f"--group-by {group_by!r} is not one of {', '.join(GROUPS)}")
        if group_by in ("date", "week", "month"):
            rows = self._compliance_by_time(filters, group_by)
        else:
            rows = self._compliance_by_key(filters, group_by)
        columns = [
            Column(group_by, "label"),
            Column("met", "int"),
            Column("met_avg", "duration"),
            Column("met_max", "duration"),
            Column("met_min", "duration"),
            Column("failed", "int"),
            Column("failed_avg", "duration"),
            Column("failed_max", "duration"),
            Column("failed_min", "duration"),
            Column("compliance", "percent"),
        ]
        return Table(columns, (_compliance_row(row) for row in rows))

    def _compliance_by_time(self, filters: Filters, group_by: str) -> list[tuple]:
        """One pair of aggregate queries per day, week or month: each a range scan of a covering
        index between that period's local midnights, exact on every zone and DST change."""
        start, end = self._bounds(filters)
        conditions, params = self._where(filters, None)
        join = (
            "JOIN tickets t ON t.id = r.ticket_id" if any((filters.department, filters.agent, filters.customer)) else ""
        )
        queries = [
            (
                f"SELECT count(*), sum(r.business_us), max(r.business_us), min(r.business_us) FROM sla_records r {join} "
                f"WHERE {column} >= ? AND {column} < ? AND {condition}" + "".join(f" AND {c}" for c in conditions)
            )
            for column, condition in self._outcomes()
        ]
        rows = []
        for label, low, high in _periods(start.date(), (end - timedelta(days=1)).date(), group_by, self.zone):
            met, failed = (self.db.execute(sql, [iso(low), iso(high), *params]).fetchone() for sql in queries)
            if met[0] or failed[0]:
                rows.append((label, *met, *failed))
        return rows

    def _compliance_by_key(self, filters: Filters, group_by: str) -> list[tuple]:
        key = {"agent": "t.assignee", "department": "t.department", "customer": CUSTOMER_SQL}.get(
            group_by, f"r.{group_by}"
        )
        parts, params = [], []
        for (column, condition), outcome in zip(self._outcomes(), ("met", "failed")):
            clauses, where_params = self._where(filters, column)
            parts.append(
                f"SELECT {key} AS grp, '{outcome}' AS outcome, r.business_us AS business_us "
                f"FROM sla_records r JOIN tickets t ON t.id = r.ticket_id "
                f"WHERE {condition} AND {' AND '.join(clauses)}"
            )
            params += where_params
        sql = (
            "SELECT grp, "
            "SUM(outcome = 'met'), SUM(CASE WHEN outcome = 'met' THEN business_us END), "
            "MAX(CASE WHEN outcome = 'met' THEN business_us END), MIN(CASE WHEN outcome = 'met' THEN business_us END), "
            "SUM(outcome = 'failed'), SUM(CASE WHEN outcome = 'failed' THEN business_us END), "
            "MAX(CASE WHEN outcome = 'failed' THEN business_us END), MIN(CASE WHEN outcome = 'failed' THEN business_us END) "
            f"FROM ({' UNION ALL '.join(parts)}) GROUP BY grp ORDER BY grp"
        )
        return self.db.execute(sql, params).fetchall()

    # ---- the SLA log -----------------------------------------------------------------------------

    def log(self, filters: Filters, sort: list[str] | None = None, descending: bool = False) -> Table:
        clauses, params = self._where(filters, "r.start_at")
        order = []
        for name in sort or ["start"]:
            if name not in SORTABLE:
                raise ValueError(f"--sort {name!r} is not one of {', '.join(SORTABLE)}")
            order.append(f"{SORTABLE[name]} {'DESC' if descending else 'ASC'}")
        sql = (
            "SELECT t.requester_email, t.number, t.external_id, t.web_url, t.department, t.assignee, r.level, "
            "r.metric, r.seq, r.start_at, r.due_at, r.stopped_at, r.status, r.target_us, r.business_us, r.calendar, "
            f"{_STOP_NOTES}, t.title "
            f"FROM sla_records r JOIN tickets t ON t.id = r.ticket_id WHERE {' AND '.join(clauses)} "
            f"ORDER BY {', '.join(order)}, r.rowid"
        )
        columns = [
            Column("requester"),
            Column("ticket"),
            Column("link"),
            Column("department"),
            Column("agent"),
            Column("level"),
            Column("metric", "label"),
            Column("seq", "int"),
            Column("start", "time"),
            Column("due", "time"),
            Column("stopped", "time"),
            Column("remaining", "duration"),
            Column("status", "label"),
            Column("stop_note"),
            Column("title"),
        ]
        return Table(columns, self._log_rows(self.db.execute(sql, params)))

    def _log_rows(self, cursor) -> Iterator[list[Any]]:
        local = self._local
        for (
            requester,
            number,
            external,
            link,
            department,
            agent,
            level,
            metric,
            seq,
            start,
            due,
            stopped,
            status,
            target_us,
            business_us,
            calendar_name,
            estimated,
            corrected_from,
            title,
        ) in cursor:
            if status == "cancelled":
                remaining = None
            elif stopped is None and status in ("running", "breached"):
                remaining = self._signed_left(calendar_name, datetime.fromisoformat(due))
            else:
                remaining = _MICROSECOND * (target_us - business_us)
            yield [
                requester,
                number or external,
                link,
                department,
                agent,
                level,
                metric,
                seq,
                local(start),
                local(due),
                local(stopped),
                remaining,
                status,
                self._stop_note(estimated, corrected_from),
                title,
            ]

    def _stop_note(self, estimated: int | None, corrected_from: str | None) -> str:
        """Why a stop may not be what it seems: estimated by the source, or corrected later."""
        notes = ["estimated"] if estimated else []
        if corrected_from is not None:
            was = self._local(corrected_from) if corrected_from else None
            notes.append(f"corrected, was {was}" if was else "corrected, was running")
        return "; ".join(notes)

    # ---- credits and breaches -------------------------------------------------------------------------

    def _contracts(self, customer: str | None) -> list[Any]:
        contracts = [c for c in self.settings.contracts if customer is None or c.customer == customer]
        if customer is not None and not contracts:
            known = ", ".join(c.customer for c in self.settings.contracts) or "none"
            raise ValueError(f"--customer {customer!r} has no [[contracts]] entry (defined: {known})")
        return contracts

    def _contract_where(self, contract: Any) -> tuple[str, list[Any]]:
        parts, params = [], []
        if contract.organizations:
            parts.append(f"lower(t.organization) IN ({', '.join('?' for _ in contract.organizations)})")
            params += [o.lower() for o in contract.organizations]
        if contract.domains:
            parts.append(
                f"lower(substr(t.requester_email, instr(t.requester_email, '@') + 1)) IN "
                f"({', '.join('?' for _ in contract.domains)})"
            )
            params += [d.lower() for d in contract.domains]
        where = f"({' OR '.join(parts)})"
        if contract.level:
            where += " AND r.level = ?"
            params.append(contract.level)
        return where, params

    def credits(self, month: str, customer: str | None = None) -> Table:
        first, last = month_range(month)
        columns = [
            Column("customer"),
            Column("month", "label"),
            Column("records", "int"),
            Column("met", "int"),
            Column("failed", "int"),
            Column("compliance", "percent"),
            Column("credit_percent", "percent"),
            Column("credit", "money"),
            Column("currency", "label"),
        ]
        rows = []
        for contract in self._contracts(customer):
            where, params = self._contract_where(contract)
            sql = (
                f"SELECT SUM(outcome = 'met'), SUM(outcome = 'failed') FROM ({self._decided()}) r "
                f"JOIN tickets t ON t.id = r.ticket_id WHERE outcome IS NOT NULL AND r.decided_at >= ? "
                f"AND r.decided_at < ? AND {where}"
            )
            met, failed = self.db.execute(
                sql, [self._instant(first), self._instant(last + timedelta(days=1)), *params]
            ).fetchone()
            met, failed = met or 0, failed or 0
            total = met + failed
            compliance = (Decimal(met) * 100 / total).quantize(Decimal("0.01")) if total else None
            percent = credit_percent(contract, compliance, failed)
            exponent = Decimal("1") if contract.currency in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
            amount = (contract.monthly_fee * percent / 100).quantize(exponent, rounding=ROUND_HALF_UP)
            rows.append([contract.customer, month, total, met, failed, compliance, percent, amount, contract.currency])
        return Table(columns, rows)

    def breaches(self, month: str, customer: str) -> Table:
        first, last = month_range(month)
        [contract] = self._contracts(customer)
        where, params = self._contract_where(contract)
        sql = (
            "SELECT t.number, t.external_id, t.requester_email, t.title, r.level, r.metric, r.seq, "
            f"r.start_at, r.due_at, r.stopped_at, r.target_us, r.business_us, r.calendar, {_STOP_NOTES} "
            f"FROM ({self._decided()}) r JOIN tickets t ON t.id = r.ticket_id "
            f"WHERE r.outcome = 'failed' AND r.decided_at >= ? AND r.decided_at < ? AND {where} ORDER BY r.due_at"
        )
        columns = [
            Column("ticket"),
            Column("requester"),
            Column("title"),
            Column("level"),
            Column("metric", "label"),
            Column("seq", "int"),
            Column("start", "time"),
            Column("due", "time"),
            Column("stopped", "time"),
            Column("overdue", "duration"),
            Column("stop_note"),
        ]
        cursor = self.db.execute(sql, [self._instant(first), self._instant(last + timedelta(days=1)), *params])
        return Table(columns, self._breach_rows(cursor))

    def _breach_rows(self, cursor) -> Iterator[list[Any]]:
        local = self._local
        for (
            number,
            external,
            requester,
            title,
            level,
            metric,
            seq,
            start,
            due,
            stopped,
            target_us,
            business_us,
            calendar_name,
            estimated,
            corrected_from,
        ) in cursor:
            if stopped is None:
                left = self._signed_left(calendar_name, datetime.fromisoformat(due))
                overdue = -left if left is not None else None
            else:
                overdue = _MICROSECOND * (business_us - target_us)
            yield [
                number or external,
                requester,
                title,
                level,
                metric,
                seq,
                local(start),
                local(due),
                local(stopped),
                overdue,
                self._stop_note(estimated, corrected_from),
            ]

    # ---- the queue -----------------------------------------------------------------------------

    def due(self, filters: Filters, within: timedelta | None = None) -> Table:
        local = self._local
        clauses, params = self._where(filters, None)
        sql = (
            "SELECT t.number, t.external_id, t.requester_email, t.title, r.level, r.metric, r.seq, "
            "r.due_at, r.calendar, r.next_step_at, r.status "
            "FROM sla_records r JOIN tickets t ON t.id = r.ticket_id "
            "WHERE r.stopped_at IS NULL AND r.status IN ('running', 'paused', 'breached') "
            + "".join(f" AND {c}" for c in clauses)
            + " ORDER BY r.due_at"
        )
        columns = [
            Column("ticket"),
            Column("requester"),
            Column("title"),
            Column("level"),
            Column("metric", "label"),
            Column("due", "time"),
            Column("left", "duration"),
            Column("next_step", "time"),
            Column("status", "label"),
        ]

        def rows() -> Iterator[list[Any]]:
            for (
                number,
                external,
                requester,
                title,
                level,
                metric,
                _seq,
                due,
                calendar_name,
                next_step,
                status,
            ) in self.db.execute(sql, params):
                left = self._signed_left(calendar_name, datetime.fromisoformat(due))
                if within is not None and left is not None and left > within:
                    continue
                yield [number or external, requester, title, level, metric, local(due), left, local(next_step), status]

        return Table(columns, rows())


# what the events say about a record's stop: estimated by the source, and the stop before the
# latest correction ('' when it had none)
_EVENT_OF_RECORD = "e.ticket_id = r.ticket_id AND e.metric = r.metric AND e.seq = r.seq"
_STOP_NOTES = (
    f"(SELECT 1 FROM sla_events e WHERE {_EVENT_OF_RECORD} AND e.kind IN ('met', 'breached', 'corrected') "
    "AND json_extract(e.data, '$.stop_estimated') LIMIT 1), "
    f"(SELECT coalesce(json_extract(e.data, '$.previous_stop'), '') FROM sla_events e WHERE {_EVENT_OF_RECORD} "
    "AND e.kind = 'corrected' ORDER BY e.id DESC LIMIT 1)"
)


def credit_percent(contract: Any, compliance: Decimal | None, failed: int) -> Decimal:
    """The contract's credit: the best tier the compliance falls below, or a percent per breach;
    the larger of the two, capped."""
    percent = Decimal(0)
    if compliance is not None:
        for tier in contract.tiers:
            if compliance < tier.below:
                percent = max(percent, tier.credit_percent)
    if contract.per_breach_percent is not None:
        percent = max(percent, contract.per_breach_percent * failed)
    if contract.cap_percent is not None:
        percent = min(percent, contract.cap_percent)
    return percent


def _periods(first: date, last: date, unit: str, zone: ZoneInfo) -> Iterator[tuple[str, datetime, datetime]]:
    """(label, start, end) of each local day, ISO week or month from `first` to `last`, clipped."""
    day = first
    while day <= last:
        if unit == "date":
            label, following = day.isoformat(), day + timedelta(days=1)
        elif unit == "week":
            year, week, weekday = day.isocalendar()
            label, following = f"{year}-W{week:02d}", day + timedelta(days=8 - weekday)
        else:
            label, following = f"{day:%Y-%m}", (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        following = min(following, last + timedelta(days=1))
        yield label, datetime.combine(day, time(), zone), datetime.combine(following, time(), zone)
        day = following


def _duration(us: float | int | None) -> timedelta | None:
    return None if us is None else timedelta(microseconds=int(us))


def _compliance_row(row: tuple) -> list[Any]:
    grp, met, met_sum, met_max, met_min, failed, failed_sum, failed_max, failed_min = row
    met, failed = met or 0, failed or 0
    total = met + failed
    return [
        grp,
        met,
        _duration(met_sum / met if met else None),
        _duration(met_max),
        _duration(met_min),
        failed,
        _duration(failed_sum / failed if failed else None),
        _duration(failed_max),
        _duration(failed_min),
        (Decimal(met) * 100 / total).quantize(Decimal("0.01")) if total else None,
    ]
