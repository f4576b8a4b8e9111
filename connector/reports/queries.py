"""The reports, computed from the stored SLA records: compliance, SLA log, credits, breaches, due.

Public API: `Reports(store, settings, now)` with `compliance(filters, group_by)` (a group or a
pair, e.g. ("department", "week")), `log(filters, sort, descending)`, `credits(month, customer)`,
`breaches(month, customer)`, `due(filters, within)`; each returns a `Table` whose rows are
streamed from SQLite (the queue, and the log sorted by remaining time, are sorted in memory).
`Filters`, `Column`, `GROUPS`, `TIME_GROUPS`, `SORTABLE`. A bad filter value (an unknown
customer, group or sort column) is a ValueError that names it.

When a record counts: met on the date it stopped, failed on the date it became due (both in the
report time zone); a running record already past its due time counts as failed; running records
not yet due and cancelled records do not count. A record that changed (a late reply after a
breach) is stored once, under its final state, so it is counted once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from connector.core.calendar import BusinessCalendar
from connector.core.local_times import local_times
from connector.reports.customers import Customers
from connector.store.codec import iso
from connector.store.database import Store

_US = 1_000_000
_MICROSECOND = timedelta(microseconds=1)
TIME_GROUPS = ("date", "week", "month")
GROUPS = ("date", "week", "month", "department", "agent", "level", "metric", "customer", "channel", "priority", "tag")
CUSTOMER_SQL = "sla_customer(t.organization, t.requester_email)"
# what a group-by or filter on a ticket's field reads
TICKET_KEYS = {
    "department": "t.department",
    "agent": "t.assignee",
    "customer": CUSTOMER_SQL,
    "channel": "t.channel",
    "priority": "t.priority_name",
}
NONE_LABEL = "(none)"  # the group of records whose department (agent, ...) is empty or unknown
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
    "remaining": None,  # computed per row at report time: the rows are sorted in memory
}


@dataclass(frozen=True)
class Column:
    name: str
    # text (from the helpdesk), int, duration, percent, money, time, label; in CSV every string
    # passes the formula guard, whatever its kind
    kind: str = "text"


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
    channel: str | None = None  # email, web, chat, phone, ...
    priority: str | None = None  # the helpdesk's priority name
    tag: str | None = None  # tickets that carry this tag

    def touches_tickets(self) -> bool:
        return any((self.department, self.agent, self.customer, self.channel, self.priority, self.tag))


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
        self.customers = Customers(settings.contracts)
        self.customers.register(self.db.conn)

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
        for more, more_params in (self._ticket_where(filters), self._record_where(filters)):
            clauses += more
            params += more_params
        return clauses, params

    def _ticket_where(self, filters: Filters) -> tuple[list[str], list[Any]]:
        """The filters on the ticket `t`."""
        customer = None if filters.customer is None else self.customers.resolve(filters.customer, self.db)
        return _conditions(
            (filters.department, "t.department = ?"),
            (filters.agent, "t.assignee = ?"),
            (customer, f"{CUSTOMER_SQL} = ?"),
            (filters.channel, "t.channel = ?"),
            (filters.priority, "t.priority_name = ?"),
            (filters.tag, "EXISTS (SELECT 1 FROM json_each(t.tags) WHERE value = ?)"),
        )

    def _record_where(self, filters: Filters) -> tuple[list[str], list[Any]]:
        """The filters on the record `r`."""
        return _conditions(
            (filters.level, "r.level = ?"),
            (filters.metric, "r.metric = ?"),
            (filters.status, "r.status = ?"),
        )

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

    def compliance(self, filters: Filters, group_by: str | Sequence[str] = "date") -> Table:
        """One row per group, or per pair of groups (`("department", "week")`: at most one of
        them a time), in the order given; the rows sorted by the first group, then the second."""
        groups = (group_by,) if isinstance(group_by, str) else tuple(group_by)
        for group in groups:
            if group not in GROUPS:
                raise ValueError(f"--group-by {group!r} is not one of {', '.join(GROUPS)}")
        times = [g for g in groups if g in TIME_GROUPS]
        keys = [g for g in groups if g not in TIME_GROUPS]
        if not 1 <= len(groups) <= 2 or len(times) > 1 or len(set(groups)) != len(groups):
            raise ValueError("--group-by takes one group or two different ones, at most one of them a time")
        if not keys:
            rows = self._compliance_by_time(filters, times[0])
        elif not times:
            rows = self._compliance_by_key(filters, keys)
        else:
            rows = self._compliance_by_time_and_key(filters, times[0], keys, time_first=groups[0] in TIME_GROUPS)
        columns = [
            *(Column(group, "label") for group in groups),
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
        join = "JOIN tickets t ON t.id = r.ticket_id" if filters.touches_tickets() else ""
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

    def _compliance_by_time_and_key(
        self, filters: Filters, unit: str, keys: list[str], time_first: bool
    ) -> list[tuple]:
        start, end = self._bounds(filters)
        rows = []
        for label, low, high in _periods(start.date(), (end - timedelta(days=1)).date(), unit, self.zone):
            period = replace(filters, start=low.date(), end=(high - timedelta(days=1)).date())
            rows += [(label, *row) for row in self._compliance_by_key(period, keys)]
        if time_first:
            return rows
        return sorted(((row[1], row[0], *row[2:]) for row in rows), key=lambda row: (_order(row[0]), row[1]))

    def _compliance_by_key(self, filters: Filters, groups: list[str]) -> list[tuple]:
        if "tag" in groups:
            return self._compliance_by_key_joined(filters, groups)
        return self._compliance_by_key_mapped(filters, groups)

    def _compliance_by_key_mapped(self, filters: Filters, groups: list[str]) -> list[tuple]:
        """Each ticket (of the ticket filters) is first given its group in a temporary table; then
        one aggregate per outcome reads the records from a covering index of the time they count
        at, looks the group up by ticket id, and sums: no join with the tickets' rows per record."""
        ticket_clauses, ticket_params = self._ticket_where(filters)
        ticket_keys = [TICKET_KEYS[g] if g in TICKET_KEYS else "NULL" for g in groups]
        # groups of the record alone (metric, level) with no filter on tickets: no lookup at all
        needed = ticket_clauses or any(group in TICKET_KEYS for group in groups)
        self.db.execute("DROP TABLE IF EXISTS temp.report_groups")
        if needed:
            self.db.execute("CREATE TEMP TABLE report_groups (id INTEGER PRIMARY KEY, k0, k1)")
            keys = ", ".join(f"NULLIF({key}, '')" for key in [*ticket_keys, "NULL"][:2])
            self.db.execute(
                f"INSERT INTO temp.report_groups SELECT t.id, {keys} FROM tickets t WHERE "
                + (" AND ".join(ticket_clauses) or "1"),
                ticket_params,
            )
        selected = [f"g.k{i}" if group in TICKET_KEYS else f"NULLIF(r.{group}, '')" for i, group in enumerate(groups)]
        record_clauses, record_params = self._record_where(filters)
        start, end = self._bounds(filters)
        totals: dict[tuple, list] = {}
        join = "JOIN temp.report_groups g ON g.id = r.ticket_id " if needed else ""
        try:
            for slot, (column, condition) in enumerate(self._outcomes()):
                sql = (
                    f"SELECT {', '.join(selected)}, count(*), sum(r.business_us), max(r.business_us), "
                    f"min(r.business_us) FROM sla_records r {join}"
                    f"WHERE {column} >= ? AND {column} < ? AND {condition}"
                    + "".join(f" AND {c}" for c in record_clauses)
                    + f" GROUP BY {', '.join(selected)}"
                )
                for row in self.db.execute(sql, [iso(start), iso(end), *record_params]):
                    key, figures = tuple(row[: len(groups)]), row[len(groups) :]
                    totals.setdefault(key, [None] * 8)[slot * 4 : slot * 4 + 4] = figures
        finally:
            self.db.execute("DROP TABLE IF EXISTS temp.report_groups")
        return [(*key, *totals[key]) for key in sorted(totals, key=lambda k: tuple(map(_order, k)))]

    def _compliance_by_key_joined(self, filters: Filters, groups: list[str]) -> list[tuple]:
        keys, tags = [], ""
        for group in groups:
            if group == "tag":
                keys.append("j.value")
                tags = " LEFT JOIN json_each(t.tags) j"
            else:
                keys.append(TICKET_KEYS.get(group, f"r.{group}"))
        names = [f"grp{i}" for i in range(len(keys))]
        selected = ", ".join(f"NULLIF({key}, '') AS {name}" for key, name in zip(keys, names))
        parts, params = [], []
        for (column, condition), outcome in zip(self._outcomes(), ("met", "failed")):
            clauses, where_params = self._where(filters, column)
            parts.append(
                f"SELECT {selected}, '{outcome}' AS outcome, r.business_us AS business_us "
                f"FROM sla_records r JOIN tickets t ON t.id = r.ticket_id{tags} "
                f"WHERE {condition} AND {' AND '.join(clauses)}"
            )
            params += where_params
        grouped = ", ".join(names)
        sql = (
            f"SELECT {grouped}, "
            "SUM(outcome = 'met'), SUM(CASE WHEN outcome = 'met' THEN business_us END), "
            "MAX(CASE WHEN outcome = 'met' THEN business_us END), MIN(CASE WHEN outcome = 'met' THEN business_us END), "
            "SUM(outcome = 'failed'), SUM(CASE WHEN outcome = 'failed' THEN business_us END), "
            "MAX(CASE WHEN outcome = 'failed' THEN business_us END), MIN(CASE WHEN outcome = 'failed' THEN business_us END) "
            f"FROM ({' UNION ALL '.join(parts)}) GROUP BY {grouped} ORDER BY {grouped}"
        )
        return self.db.execute(sql, params).fetchall()

    # ---- the SLA log -----------------------------------------------------------------------------

    def log(self, filters: Filters, sort: list[str] | None = None, descending: bool = False) -> Table:
        return self.log_page(filters, sort, descending)[0]

    def log_page(
        self,
        filters: Filters,
        sort: list[str] | None = None,
        descending: bool = False,
        after: Sequence[Any] | None = None,
        limit: int | None = None,
    ) -> tuple[Table, list[Any] | None]:
        """The log, or one page of it: at most `limit` rows after the row whose sort key is
        `after` (as returned for the page before), and the sort key of the page's last row when
        more follow. The key is the row's sort columns and its record's rowid, so a page starts
        where the last one ended whatever the service wrote meanwhile, and costs the same at any
        depth. (Sorted by remaining time, computed at report time, the key is not used.)"""
        clauses, params = self._where(filters, "r.start_at")
        order, keys = [], []
        sort = sort or ["start"]
        for name in sort:
            if name not in SORTABLE:
                raise ValueError(f"--sort {name!r} is not one of {', '.join(SORTABLE)}")
            if SORTABLE[name] is not None:
                order.append(f"{SORTABLE[name]} {'DESC' if descending else 'ASC'}")
                keys.append(SORTABLE[name])
        order.append("r.rowid")
        keys.append("r.rowid")
        in_sql = "remaining" not in sort
        if after is not None and in_sql:
            if len(after) != len(keys):
                raise ValueError(f"--cursor has {len(after)} values; this sort needs {len(keys)}")
            condition, condition_params = _keyset_after(keys, list(after), descending)
            clauses.append(condition)
            params += condition_params
            if keys[0] == "r.start_at" and isinstance(after[0], str):
                # the range's own bound, moved to the key: SQLite starts the index scan there
                # (given as a second bound, it starts at the range's and reads past every row before)
                if not descending:
                    params[0] = max(params[0], after[0])
                elif after[0] < params[1]:
                    clauses[1], params[1] = "r.start_at <= ?", after[0]
        paged = "".join(f", {key}" for key in keys) if limit is not None and in_sql else ""  # the page's sort key
        sql = (
            "SELECT t.requester_email, t.requester_name, t.number, t.external_id, t.web_url, t.department, t.assignee, r.level, "
            "r.metric, r.seq, r.start_at, r.due_at, r.stopped_at, r.status, r.target_us, r.business_us, r.calendar, "
            f"{_STOP_NOTES}, t.title{paged} "
            f"FROM sla_records r JOIN tickets t ON t.id = r.ticket_id WHERE {' AND '.join(clauses)} "
            f"ORDER BY {', '.join(order)}"
        )
        if limit is not None and in_sql:
            sql += f" LIMIT {int(limit) + 1}"
        columns = [
            Column("requester"),
            Column("requester_name"),
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
        if not paged:
            rows = self._log_rows(self.db.execute(sql, params))
            if not in_sql:
                names = [column.name for column in columns]
                rows = iter(_sorted_by(list(rows), [names.index(name) for name in sort], descending))
            return Table(columns, rows), None
        width = 20  # the columns `_log_rows` reads; the sort key follows them
        found = self.db.execute(sql, params).fetchall()
        more = len(found) > limit
        found = found[:limit]
        last = list(found[-1][width:]) if more else None
        return Table(columns, self._log_rows(row[:width] for row in found)), last

    def _log_rows(self, cursor) -> Iterator[list[Any]]:
        local = self._local
        for (
            requester,
            requester_name,
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
                requester_name,
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

    def _contracts(self, customer: str | None) -> list[tuple[int, Any]]:
        """(index, contract) of every contract, or of the one `--customer` names (any spelling of
        its name, organizations or domains, in any case)."""
        contracts = list(enumerate(self.settings.contracts))
        if customer is None:
            return contracts
        wanted = self.customers.resolve(customer, self.db)
        chosen = [(i, c) for i, c in contracts if c.customer == wanted]
        if not chosen:
            known = ", ".join(repr(c.customer) for c in self.settings.contracts) or "none"
            raise ValueError(f"--customer {customer!r} has no [[contracts]] entry (contracts: {known})")
        return chosen

    def _contract_where(self, index: int, contract: Any) -> tuple[str, list[Any]]:
        """The records a contract is credited for: its tickets (one contract per ticket), its level."""
        where, params = "sla_contract(t.organization, t.requester_email) = ?", [index]
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
        for index, contract in self._contracts(customer):
            where, params = self._contract_where(index, contract)
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
            percent = credit_percent(contract, met, total)
            amount = credit_amount(contract, percent)
            rows.append(
                [
                    contract.customer,
                    month,
                    total,
                    met,
                    failed,
                    compliance_percent(met, total),
                    percent,
                    amount,
                    contract.currency,
                ]
            )
        return Table(columns, rows)

    def breaches(self, month: str, customer: str) -> Table:
        first, last = month_range(month)
        [(index, contract)] = self._contracts(customer)
        where, params = self._contract_where(index, contract)
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
            "SELECT t.number, t.external_id, t.requester_email, t.requester_name, t.title, r.level, r.metric, r.seq, "
            "r.due_at, r.calendar, r.next_step_at, r.status, r.target_us, r.business_us "
            "FROM sla_records r JOIN tickets t ON t.id = r.ticket_id "
            "WHERE r.stopped_at IS NULL AND r.status IN ('running', 'paused', 'breached') "
            + "".join(f" AND {c}" for c in clauses)
            + " ORDER BY r.due_at"
        )
        columns = [
            Column("ticket"),
            Column("requester"),
            Column("requester_name"),
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
                requester_name,
                title,
                level,
                metric,
                _seq,
                due,
                calendar_name,
                next_step,
                status,
                target_us,
                business_us,
            ) in self.db.execute(sql, params):
                if status == "paused":  # its due time moves while it waits: what is left stays
                    left = _MICROSECOND * (target_us - business_us)
                    calendar = self.calendar(calendar_name)
                    if calendar is not None and left > timedelta(0):
                        due = iso(calendar.add(self.now, left))  # were it to resume now
                else:
                    left = self._signed_left(calendar_name, datetime.fromisoformat(due))
                if within is not None and left is not None and left > within:
                    continue
                yield [
                    number or external,
                    requester,
                    requester_name,
                    title,
                    level,
                    metric,
                    local(due),
                    left,
                    local(next_step),
                    status,
                ]

        # the queue in the order to answer it: least business time left first (a paused clock
        # by what it has left, not by its due time, which moves while it waits)
        return Table(columns, iter(_sorted_by(list(rows()), [7], False)))


# what the events say about a record's stop: estimated by the source, and the stop before the
# latest correction ('' when it had none)
_EVENT_OF_RECORD = "e.ticket_id = r.ticket_id AND e.metric = r.metric AND e.seq = r.seq"
_STOP_NOTES = (
    f"(SELECT 1 FROM sla_events e WHERE {_EVENT_OF_RECORD} AND e.kind IN ('met', 'breached', 'corrected') "
    "AND json_extract(e.data, '$.stop_estimated') LIMIT 1), "
    f"(SELECT coalesce(json_extract(e.data, '$.previous_stop'), '') FROM sla_events e WHERE {_EVENT_OF_RECORD} "
    "AND e.kind = 'corrected' ORDER BY e.id DESC LIMIT 1)"
)


def filter_conditions(store: Store, settings: Any, filters: Filters) -> tuple[list[str], list[Any]]:
    """The SQL conditions of `filters` on records `r` joined with tickets `t`, for other readers
    of the store (the forecast): the same customer rule and SQL functions as the reports."""
    reports = Reports(store, settings, datetime.now().astimezone())
    return reports._where(filters, None)


def _keyset_after(keys: list[str], values: list[Any], descending: bool) -> tuple[str, list[Any]]:
    """The condition for rows after `values` in the order `keys` (the last one the rowid, always
    ascending), as SQLite orders them: empty (NULL) cells first ascending, last descending."""
    condition, params = f"{keys[-1]} > ?", [values[-1]]
    for key, value in reversed(list(zip(keys[:-1], values[:-1], strict=True))):
        if value is None:
            if descending:
                condition = f"({key} IS NULL AND {condition})"
            else:
                condition = f"({key} IS NOT NULL OR ({key} IS NULL AND {condition}))"
        elif descending:
            condition, params = f"({key} < ? OR {key} IS NULL OR ({key} = ? AND {condition}))", [value, value, *params]
        else:
            condition, params = f"({key} > ? OR ({key} = ? AND {condition}))", [value, value, *params]
    # the first key's bound on its own too, which lets SQLite start the index scan at the key
    first, value = keys[0], values[0]
    if len(keys) == 1:
        return condition, params
    if value is not None and not descending:
        condition, params = f"{first} >= ? AND {condition}", [value, *params]
    elif value is not None:
        condition, params = f"({first} <= ? OR {first} IS NULL) AND {condition}", [value, *params]
    elif descending:
        condition = f"{first} IS NULL AND {condition}"
    return condition, params


def credit_amount(contract: Any, percent: Decimal) -> Decimal:
    """`percent` of the contract's fee, rounded half up to its currency's decimals."""
    exponent = Decimal(1).scaleb(-contract.decimals)
    return (contract.monthly_fee * percent / 100).quantize(exponent, rounding=ROUND_HALF_UP)


def credit_percent(contract: Any, met: int, total: int) -> Decimal:
    """The contract's credit: the best tier the compliance falls below, or a percent per breach;
    the larger of the two, capped. Tiers compare the exact ratio met / total, never the rounded
    percent shown (970 of 971 is 99.897 %: below 99.9, though it shows as 99.90)."""
    percent = Decimal(0)
    failed = total - met
    if total:
        compliance = Fraction(met * 100, total)
        for tier in contract.tiers:
            if compliance < Fraction(tier.below):
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


def _sorted_by(rows: list[list[Any]], indexes: list[int], descending: bool) -> list[list[Any]]:
    """Rows sorted by the given cells, empty cells last (stable: ties keep their order)."""

    def key(row: list[Any]) -> tuple:
        return tuple((row[i] is None, row[i] if row[i] is not None else 0) for i in indexes)

    if not descending:
        return sorted(rows, key=key)
    # descending, but still with the empty cells last
    return sorted(
        rows,
        key=lambda row: tuple((row[i] is not None, row[i] if row[i] is not None else 0) for i in indexes),
        reverse=True,
    )


def _conditions(*pairs: tuple[Any, str]) -> tuple[list[str], list[Any]]:
    given = [(value, sql) for value, sql in pairs if value is not None]
    return [sql for _, sql in given], [value for value, _ in given]


def _order(label: str | None) -> tuple[int, str]:
    return (0, "") if label is None else (1, label)


def _compliance_row(row: tuple) -> list[Any]:
    labels = [NONE_LABEL if label is None else label for label in row[:-8]]
    met, met_sum, met_max, met_min, failed, failed_sum, failed_max, failed_min = row[-8:]
    met, failed = met or 0, failed or 0
    total = met + failed
    return [
        *labels,
        met,
        _duration(met_sum / met if met else None),
        _duration(met_max),
        _duration(met_min),
        failed,
        _duration(failed_sum / failed if failed else None),
        _duration(failed_max),
        _duration(failed_min),
        compliance_percent(met, total),
    ]


def compliance_percent(met: int, total: int) -> Decimal | None:
    """The compliance shown: two decimals, rounded half up (65.625 -> 65.63), like money."""
    if not total:
        return None
    return (Decimal(met) * 100 / Decimal(total)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
