"""The reports, computed from the stored SLA records: compliance, SLA log, credits, breaches, due.

Public API: `Reports(store, settings, now)` with `compliance(filters, group_by)` (a group or a
pair, e.g. ("department", "week")), `log(filters, sort, descending)`, `credits(month, customer)`,
`breaches(month, customer)`, `due(filters, within)`; each returns a `Table` whose rows are
streamed from SQLite (the queue is sorted in memory; the log sorted by remaining time is sorted
by SQLite, from a temporary table of each record's remaining time, never held in memory).
`contract_outcomes(start, end)` yields the records `credits` sums, for any period.
`Filters`, `Column`, `GROUPS`, `TIME_GROUPS`, `SORTABLE`. A bad filter value (an unknown
customer, group or sort column) is a ValueError that names it.

When a record counts: met on the date it stopped, failed on the date it became due (both in the
report time zone); a running record already past its due time counts as failed; running records
not yet due and cancelled records do not count. A record that changed (a late reply after a
breach) is stored once, under its final state, so it is counted once.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from connector.core.calendar import BusinessCalendar
from connector.core.local_times import HourRow, local_times, utc_hours
from connector.reports.customers import Customers
from connector.reports.log_lines import hour_table_sql, line_sql, notes_sql
from connector.store import ticket_cells
from connector.store.codec import iso
from connector.store.database import Store

_US = 1_000_000
_MICROSECOND = timedelta(microseconds=1)
_TEMPORARY = itertools.count()  # names of temporary tables, one per report being read
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
RECORD_KEYS = ("metric", "level")  # the groups a record holds itself, in records_by_ticket's order
# the log's local times are looked up in a table of hours up to this long after its range
HOURS_AFTER = timedelta(days=62)
_LINES_PER_BATCH = 2000
# a compliance report over at least this share of the time the records span reads them all
WHOLE_SCAN_SHARE = 0.25
NONE_LABEL = "(none)"  # the group of records whose department (agent, ...) is empty or unknown
# the records alone, for a query no filter joins with their tickets
_RECORDS = "sla_records r"
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
    "remaining": None,  # computed per row at report time, sorted through a temporary table
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
    # the same rows for CSV, where SQLite writes them: batches of finished lines (without their
    # end), in which a row left to Python is a list of values
    csv_batches: Iterable[list[str | list[Any]]] | None = None


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
        self.db.conn.create_function("sla_group", 1, _group_number, deterministic=True)

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
        _, clauses, params = self._selection(filters, time_column)
        return clauses, params

    def _selection(self, filters: Filters, time_column: str | None) -> tuple[str, list[str], list[Any]]:
        """The records `r` the filters select: FROM (joined with their tickets `t` when a filter
        reads the ticket), the conditions and their values."""
        clauses, params = [], []
        if time_column is not None:
            start, end = self._bounds(filters)
            clauses, params = [f"{time_column} >= ?", f"{time_column} < ?"], [iso(start), iso(end)]
        ticket_clauses, ticket_params = self._ticket_where(filters)
        record_clauses, record_params = self._record_where(filters)
        records = f"{_RECORDS} JOIN tickets t ON t.id = r.ticket_id" if ticket_clauses else _RECORDS
        return records, clauses + ticket_clauses + record_clauses, params + ticket_params + record_params

    def _ticket_where(self, filters: Filters) -> tuple[list[str], list[Any]]:
        """The filters on the ticket `t`: a query that uses any of them joins the tickets (an
        empty value or `(none)` selects the tickets whose field is empty or missing)."""
        customer = filters.customer
        if customer is not None and not _is_none(customer):
            customer = self.customers.resolve(customer, self.db)
        return _conditions(
            _equal(filters.department, "t.department"),
            _equal(filters.agent, "t.assignee"),
            _equal(customer, CUSTOMER_SQL),
            _equal(filters.channel, "t.channel"),
            _equal(filters.priority, "t.priority_name"),
            (
                filters.tag,
                # a ticket without tags, or with an empty one, is in the `(none)` group of tags
                "(coalesce(json_array_length(t.tags), 0) = 0 "
                "OR EXISTS (SELECT 1 FROM json_each(t.tags) WHERE coalesce(value, '') = ''))"
                if _is_none(filters.tag)
                else "EXISTS (SELECT 1 FROM json_each(t.tags) WHERE value = ?)",
            ),
        )

    def _record_where(self, filters: Filters) -> tuple[list[str], list[Any]]:
        """The filters on the record `r`."""
        return _conditions(
            _equal(filters.level, "r.level"),
            _equal(filters.metric, "r.metric"),
            _equal(filters.status, "r.status"),
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
        records, conditions, params = self._selection(filters, None)
        queries = [
            (
                f"SELECT count(*), sum(r.business_us), max(r.business_us), min(r.business_us) FROM {records} "
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
        """One sum per period of the range, each read from the index of the time records count at;
        the tickets' groups are mapped once for all the periods."""
        start, end = self._bounds(filters)
        rows = []
        with self._ticket_map(filters, keys) as needed:
            for label, low, high in _periods(start.date(), (end - timedelta(days=1)).date(), unit, self.zone):
                period = replace(filters, start=low.date(), end=(high - timedelta(days=1)).date())
                found = self._sums_by_time(period, keys, needed)
                rows += [(label, *row) for row in self._totals(keys, found)]
        if time_first:
            return rows
        return sorted(((row[1], row[0], *row[2:]) for row in rows), key=lambda row: (_order(row[0]), row[1]))

    def _compliance_by_key(self, filters: Filters, groups: list[str]) -> list[tuple]:
        return self._compliance_by_key_mapped(filters, groups)

    def _compliance_by_key_mapped(self, filters: Filters, groups: list[str], whole: bool | None = None) -> list[tuple]:
        """Each ticket (of the ticket filters) is first given its groups in a temporary table (a
        ticket with two tags has two rows; groups as small integers, named after the sums); the
        records are then summed without reading the tickets' rows. Over most of the store
        (`whole`), one pass over the records in ticket order sums each ticket's records, and only
        those sums are grouped: no sort of the records. Over a small part, the records are read
        from a covering index of the time they count at."""
        with self._ticket_map(filters, groups) as needed:
            whole = needed and (self._most_of_the_store(filters) if whole is None else whole)
            found = self._sums_by_ticket(filters, groups) if whole else self._sums_by_time(filters, groups, needed)
            return self._totals(groups, found)

    def _totals(self, groups: list[str], found: list[list[tuple]]) -> list[tuple]:
        """The met and the failed sums of each group side by side, the groups named and sorted."""
        names = _GROUP_NAMES
        totals: dict[tuple, list] = {}
        for slot, rows in enumerate(found):
            for row in rows:
                key = tuple(
                    names[value] if value is not None and group not in RECORD_KEYS else value
                    for group, value in zip(groups, row)
                )
                figures = totals.setdefault(key, [None] * 8)
                for i, value in enumerate(row[len(groups) :]):
                    figures[slot * 4 + i] = value
        return [(*key, *totals[key]) for key in sorted(totals, key=lambda k: tuple(map(_order, k)))]

    @contextmanager
    def _ticket_map(self, filters: Filters, groups: list[str]) -> Iterator[bool]:
        """temp.report_groups while the sums are read, if a group or a filter needs the tickets;
        yields whether it does."""
        outside = not self.db.conn.in_transaction
        clauses, params = self._ticket_where(filters)
        needed = bool(clauses) or any(group not in RECORD_KEYS for group in groups)
        self.db.execute("DROP TABLE IF EXISTS temp.report_groups")
        try:
            if needed:
                self._map_tickets(groups, clauses, params)
            yield needed
        finally:
            self.db.execute("DROP TABLE IF EXISTS temp.report_groups")
            if outside and self.db.conn.in_transaction:
                self.db.conn.commit()  # only the temporary table was written

    def _map_tickets(self, groups: list[str], clauses: list[str], params: list[Any]) -> None:
        """temp.report_groups: (ticket id, its group k0, k1) for the tickets the filters keep."""
        keys, tags = [], ""
        for group in [*groups, None, None][:2]:
            if group == "tag":
                keys.append("sla_group(NULLIF(j.value, ''))")
                tags = " LEFT JOIN json_each(t.tags) j"
            elif group in TICKET_KEYS:
                keys.append(f"sla_group(NULLIF({TICKET_KEYS[group]}, ''))")
            else:
                keys.append("NULL")
        # one row per ticket can have the ticket id as its key; a ticket with tags has a row each
        self.db.execute(f"CREATE TEMP TABLE report_groups (id INTEGER{'' if tags else ' PRIMARY KEY'}, k0, k1)")
        self.db.execute(
            f"INSERT INTO temp.report_groups SELECT t.id, {', '.join(keys)} FROM tickets t{tags} WHERE "
            + (" AND ".join(clauses) or "1"),
            params,
        )
        if tags:
            self.db.execute("CREATE INDEX temp.report_groups_by_id ON report_groups (id)")

    def _most_of_the_store(self, filters: Filters) -> bool:
        """Does the report's time range cover most of the time the records span? Then reading
        every record in ticket order costs less than reading the range in time order and sorting
        it by group (read from the indexes' ends: no scan)."""
        first = self.db.execute("SELECT min(start_at) FROM sla_records").fetchone()[0]
        last = self.db.execute("SELECT max(due_at) FROM sla_records").fetchone()[0]
        if first is None or last is None:
            return False
        start, end = self._bounds(filters)
        low, high = datetime.fromisoformat(first), datetime.fromisoformat(last)
        covered = min(end, high) - max(start, low)
        return high > low and covered / (high - low) >= WHOLE_SCAN_SHARE

    def _sums_by_ticket(self, filters: Filters, groups: list[str]) -> list[list[tuple]]:
        """Per outcome: the sums of each ticket's records (from records_by_ticket, in its order:
        no sort), grouped by the ticket's groups and the record's own."""
        record_clauses, record_params = self._record_where(filters)
        start, end = self._bounds(filters)
        # the record's own groups, all of them so that the sums follow the index's order
        own = [f"r.{group}" for group in RECORD_KEYS] if set(RECORD_KEYS) & set(groups) else []
        outer = [f"g.k{i}" if group not in RECORD_KEYS else f"NULLIF(x.{group}, '')" for i, group in enumerate(groups)]
        found = []
        for column, condition in self._outcomes():
            per_ticket = (
                f"SELECT r.ticket_id AS ticket, {''.join(f'{c} AS {c[2:]}, ' for c in own)}count(*) AS n, "
                "sum(r.business_us) AS total, max(r.business_us) AS most, min(r.business_us) AS least "
                f"FROM sla_records r INDEXED BY records_by_ticket WHERE {column} >= ? AND {column} < ? "
                f"AND {condition}"
                + "".join(f" AND {c}" for c in record_clauses)
                + " GROUP BY r.ticket_id"
                + "".join(f", {c}" for c in own)
            )
            sql = (
                f"SELECT {', '.join(outer)}, sum(x.n), sum(x.total), max(x.most), min(x.least) "
                f"FROM ({per_ticket}) x JOIN temp.report_groups g ON g.id = x.ticket GROUP BY {', '.join(outer)}"
            )
            found.append(self.db.execute(sql, [iso(start), iso(end), *record_params]).fetchall())
        return found

    def _sums_by_time(self, filters: Filters, groups: list[str], needed: bool) -> list[list[tuple]]:
        """Per outcome: the records of the range read from a covering index of the time they count
        at, their ticket's groups looked up by ticket id, and summed."""
        selected = [
            f"g.k{i}" if group not in RECORD_KEYS else f"NULLIF(r.{group}, '')" for i, group in enumerate(groups)
        ]
        record_clauses, record_params = self._record_where(filters)
        start, end = self._bounds(filters)
        join = "JOIN temp.report_groups g ON g.id = r.ticket_id " if needed else ""
        found = []
        for column, condition in self._outcomes():
            sql = (
                f"SELECT {', '.join(selected)}, count(*), sum(r.business_us), max(r.business_us), "
                f"min(r.business_us) FROM sla_records r {join}"
                f"WHERE {column} >= ? AND {column} < ? AND {condition}"
                + "".join(f" AND {c}" for c in record_clauses)
                + f" GROUP BY {', '.join(selected)}"
            )
            found.append(self.db.execute(sql, [iso(start), iso(end), *record_params]).fetchall())
        return found

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
        selected, clauses, params = self._selection(filters, "r.start_at")
        sort = sort or ["start"]
        for name in sort:
            if name not in SORTABLE:
                raise ValueError(f"--sort {name!r} is not one of {', '.join(SORTABLE)}")
        direction = "DESC" if descending else "ASC"
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
        if "remaining" in sort:
            return Table(columns, self._log_by_remaining(selected, clauses, params, sort, direction)), None
        keys = [SORTABLE[name] for name in sort] + ["r.rowid"]
        order = [f"{key} {direction}" for key in keys[:-1]] + ["r.rowid"]  # ties: always in rowid order
        if after is not None:
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
        paged = "".join(f", {key}" for key in keys) if limit is not None else ""  # the page's sort key
        sql = (
            f"{_LOG_SELECT}{paged} "
            f"FROM sla_records r JOIN tickets t ON t.id = r.ticket_id WHERE {' AND '.join(clauses)} "
            f"ORDER BY {', '.join(order)}"
        )
        if limit is None:
            # SQLite writes the CSV from the store's ticket cells, unless they are another version's
            rendered = self._log_lines(selected, clauses, params, order) if ticket_cells.current(self.db.conn) else None
            return Table(columns, self._log_rows(self._lazily(sql, params)), rendered), None
        sql += f" LIMIT {int(limit) + 1}"
        width = 20  # the columns `_log_rows` reads; the sort key follows them
        found = self.db.execute(sql, params).fetchall()
        more = len(found) > limit
        found = found[:limit]
        last = list(found[-1][width:]) if more else None
        return Table(columns, self._log_rows(row[:width] for row in found)), last

    def _log_by_remaining(
        self, selected: str, clauses: list[str], params: list[Any], sort: list[str], direction: str
    ) -> Iterator[list[Any]]:
        """The log's rows sorted with the remaining time, which is computed per row and not
        stored: SQLite sorts them too, from a temporary table of (record, remaining) filled as
        the selected records stream by, so no year of records is held in memory."""
        table = f"temp.log_order_{next(_TEMPORARY)}"
        order = [
            f"o.remaining IS NULL, o.remaining {direction}" if name == "remaining" else f"{SORTABLE[name]} {direction}"
            for name in sort
        ]
        order.append("r.rowid")
        sql = (
            f"{_LOG_SELECT} FROM sla_records r JOIN tickets t ON t.id = r.ticket_id "
            f"JOIN {table} o ON o.record = r.rowid ORDER BY {', '.join(order)}"
        )
        outside = not self.db.conn.in_transaction
        self.db.execute(f"CREATE TABLE {table} (record INTEGER PRIMARY KEY, remaining INTEGER)")
        try:
            records = self.db.execute(
                "SELECT r.rowid, r.status, r.stopped_at, r.due_at, r.calendar, r.target_us, r.business_us "
                f"FROM {selected} WHERE {' AND '.join(clauses)}",
                params,
            )
            self.db.conn.executemany(
                f"INSERT INTO {table} VALUES (?, ?)",
                ((record, _as_us(self._remaining(*fields))) for record, *fields in records),
            )
            if outside:  # no transaction left open for the temporary table's rows
                self.db.conn.commit()
            yield from self._log_rows(self.db.execute(sql))
        finally:
            self.db.execute(f"DROP TABLE IF EXISTS {table}")

    def _lazily(self, sql: str, params: list[Any]) -> Iterator[tuple]:
        """The rows of `sql`, queried when the first is asked for (a table may be read as CSV instead)."""
        yield from self.db.execute(sql, params)

    def _log_lines(
        self, selected: str, clauses: list[str], params: list[Any], order: list[str]
    ) -> Iterator[list[str | list[Any]]]:
        """The log's CSV lines, written by SQLite (see `log_lines`), in batches."""
        number = next(_TEMPORARY)
        hours, notes = f"temp.log_hours_{number}", f"temp.log_notes_{number}"
        if selected == _RECORDS and any(key.startswith("t.") for key in order):
            selected = f"{_RECORDS} JOIN tickets t ON t.id = r.ticket_id"  # sorted by a ticket's field
        outside = not self.db.conn.in_transaction
        cursor = None
        try:
            self.db.execute(hour_table_sql(hours))
            rows = list(self._hours(params[0], params[1]))
            self.db.conn.executemany(f"INSERT INTO {hours} VALUES (?, ?, ?, ?, ?)", rows)
            for statement in notes_sql(notes):
                self.db.execute(statement)
            if outside:  # no transaction left open for the temporary tables' rows
                self.db.conn.commit()
            noted = self.db.execute(f"SELECT 1 FROM {notes} LIMIT 1").fetchone() is not None
            select, joins = line_sql(
                hours,
                notes if noted else None,
                whole_hours=all(r.minutes == 0 for r in rows),
                levels=[level.name for level in self.settings.levels],
            )
            sql = f"SELECT {select} FROM {selected} {joins} WHERE {' AND '.join(clauses)} ORDER BY {', '.join(order)}"
            cursor = self.db.execute(sql, params)
            while batch := cursor.fetchmany(_LINES_PER_BATCH):
                lines: list[str | list[Any]] = [line for (line,) in batch]
                try:
                    "".join(lines)  # type: ignore[arg-type]  # joined only to find a rowid, at C speed
                except TypeError:  # a rowid: a row SQLite left to Python
                    written = (self._log_row(line) if line.__class__ is int else line for line in lines)
                    lines = [line for line in written if line is not None]
                if lines:
                    yield lines
        finally:
            if cursor is not None:
                cursor.close()  # a table a statement still reads cannot be dropped
            self.db.execute(f"DROP TABLE IF EXISTS {hours}")
            self.db.execute(f"DROP TABLE IF EXISTS {notes}")

    def _log_row(self, record: int) -> list[Any] | None:
        """The record's row; None for a record without its ticket (written with the foreign keys
        off), which the log leaves out as the Python writer does."""
        sql = f"{_LOG_SELECT} FROM sla_records r JOIN tickets t ON t.id = r.ticket_id WHERE r.rowid = ?"
        return next(self._log_rows(self.db.execute(sql, (record,))), None)

    def _hours(self, low: str, high: str) -> Iterator[HourRow]:
        """The UTC hours the selected records' times fall in, mostly: from the first start in the
        range to the last due or stop, at most `HOURS_AFTER` past the range (a time outside is
        converted by Python)."""
        first = self.db.execute("SELECT min(start_at) FROM sla_records WHERE start_at >= ?", (low,)).fetchone()[0]
        if first is None or first >= high:
            return iter(())
        ends = [self.db.execute(f"SELECT max({c}) FROM sla_records").fetchone()[0] for c in ("due_at", "stopped_at")]
        last = min(max([e for e in ends if e is not None] + [first]), iso(datetime.fromisoformat(high) + HOURS_AFTER))
        return utc_hours(self.zone, datetime.fromisoformat(first), datetime.fromisoformat(last))

    def _remaining(
        self, status: str, stopped: str | None, due: str, calendar_name: str, target_us: int, business_us: int
    ) -> timedelta | None:
        """A record's business time left at report time (negative: overdue); none if cancelled."""
        if status == "cancelled":
            return None
        if stopped is None and status in ("running", "breached"):
            return self._signed_left(calendar_name, datetime.fromisoformat(due))
        return _MICROSECOND * (target_us - business_us)

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
                self._remaining(status, stopped, due, calendar_name, target_us, business_us),
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
        # the records of no customer have no contract
        wanted = None if _is_none(customer) else self.customers.resolve(customer, self.db)
        chosen = [(i, c) for i, c in contracts if c.customer == wanted]
        if not chosen:
            known = ", ".join(repr(c.customer) for c in self.settings.contracts) or "none"
            raise ValueError(f"--customer {customer!r} has no [[contracts]] entry (contracts: {known})")
        return chosen

    def _contract_where(self, index: int, contract: Any) -> tuple[str, list[Any]]:
        """The records a contract is credited for: its tickets (one contract per ticket), its level.
        (The tickets' contract looked up once per ticket, not once per record.)"""
        where = "r.ticket_id IN (SELECT id FROM tickets WHERE sla_contract(organization, requester_email) = ?)"
        params: list[Any] = [index]
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

    def contract_outcomes(self, start: date, end: date) -> Iterator[tuple[int, str, str]]:
        """(contract index, 'met' or 'failed', the UTC time it counts at) of each record a contract
        is credited for that counts from `start` to `end` (inclusive, in the report time zone):
        the records `credits` sums, for any period."""
        for index, contract in self._contracts(None):
            where, params = self._contract_where(index, contract)
            sql = (
                f"SELECT r.outcome, r.decided_at FROM ({self._decided()}) r "
                f"WHERE r.outcome IS NOT NULL AND r.decided_at >= ? AND r.decided_at < ? AND {where}"
            )
            bounds = [self._instant(start), self._instant(end + timedelta(days=1))]
            for outcome, at in self.db.execute(sql, [*bounds, *params]):
                yield index, outcome, at

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
# the log's columns, in the order `_log_rows` reads them
_LOG_SELECT = (
    "SELECT t.requester_email, t.requester_name, t.number, t.external_id, t.web_url, t.department, t.assignee, r.level, "
    "r.metric, r.seq, r.start_at, r.due_at, r.stopped_at, r.status, r.target_us, r.business_us, r.calendar, "
    f"{_STOP_NOTES}, t.title"
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


# the groups' names by the number report_groups holds, the same for every report of the process
_GROUP_NAMES: list[str] = []
_GROUP_NUMBERS: dict[str, int] = {}
_GROUP_LOCK = threading.Lock()


def _group_number(name: str | None) -> int | None:
    if name is None:
        return None
    number = _GROUP_NUMBERS.get(name)
    if number is None:
        with _GROUP_LOCK:
            number = _GROUP_NUMBERS.setdefault(name, len(_GROUP_NAMES))
            if number == len(_GROUP_NAMES):
                _GROUP_NAMES.append(name)
    return number


def _as_us(value: timedelta | None) -> int | None:
    return None if value is None else value // _MICROSECOND


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
    """The SQL of each given filter, and the values of its `?` (an empty filter has none)."""
    given = [(value, sql) for value, sql in pairs if value is not None]
    return [sql for _, sql in given], [value for value, sql in given if "?" in sql]


def _is_none(value: str | None) -> bool:
    """A filter value that selects the empty group: '' or the label `(none)` it is shown with."""
    return value is not None and (value == "" or value == NONE_LABEL)


def _equal(value: str | None, column: str) -> tuple[str | None, str]:
    """The filter `column` is `value`; an empty value or `(none)`: the column is empty or NULL."""
    return value, (f"coalesce({column}, '') = ''" if _is_none(value) else f"{column} = ?")


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
