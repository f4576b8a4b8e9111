"""Reading tickets in pages: one statement per page, whatever the page holds (each ticket with its
requester, form answers, thread entries and events in one row), and at most two more for a page
with a thread too long to pack; mapped into the connector's model.

Public API: `Reader(db, lookups, section, times, web_url)` with `page(ticket_ids)` and
`range_page(after, size)` (with the last id it reached), each giving `[Read(ticket, messages,
row)]`; `range_rows(db, after, size)` and `complete(rows)`, the two halves of a range page;
`from_row(row)`; `messages_of(records, times)`; `Times` (how datetimes are read).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from adapters.osticket.schema import Lookups
from connector.config.sources import OsticketSection
from connector.core.errors import BadRecord
from connector.core.model import Channel, Message, Person, Priority, Role, Status, StatusChange, Ticket

log = logging.getLogger("sla_connector.osticket")

CHANNELS = {"Web": Channel.WEB, "Email": Channel.EMAIL, "Phone": Channel.PHONE, "API": Channel.API}
STATES = {"open": Status.OPEN, "closed": Status.CLOSED, "archived": Status.CLOSED}
HIDDEN = 0x4  # an entry superseded by an edit
HISTORY_EVENTS = ("created", "closed", "reopened", "edited", "assigned", "transferred")
# events that change no status: the time of the last one of each, and how many, as custom fields
MOVES = {"assigned": "osticket_assigned_at", "transferred": "osticket_transferred_at"}
COUNTS = {"assigned": "osticket_assignments", "transferred": "osticket_transfers"}
TIMES = ("duedate", "est_duedate", "closed", "lastupdate", "created", "updated")  # packed in this order
RECORD, FIELD = "\x1e", "\x1f"  # ASCII record and unit separators: packed lists and event fields
_CUSTOMER, _AGENT, _SYSTEM = Role.CUSTOMER, Role.AGENT, Role.SYSTEM
_from_epoch = datetime.fromtimestamp


class Times:
    """osTicket's DATETIMEs are naive local times of the DB server's OS zone. Without a configured
    zone the server converts them itself (UNIX_TIMESTAMP in a session on the SYSTEM zone, with that
    zone's DST rules); with one, they are read naive and placed in it here."""

    def __init__(self, zone: str | None):
        self.zone = ZoneInfo(zone) if zone else None

    def sql(self, column: str) -> str:
        return column if self.zone else f"UNIX_TIMESTAMP({column})"

    def text(self, raw: str) -> datetime | None:
        """A time from a packed text: Unix seconds, or a naive local time of the configured zone."""
        if not raw:
            return None
        if self.zone is None:
            seconds = int(raw.partition(".")[0])
            return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None  # 0: osTicket's zero date
        if raw.startswith("0000"):
            return None
        return datetime.fromisoformat(raw).replace(tzinfo=self.zone).astimezone(UTC)

    def now_sql(self) -> str:
        return "NOW()" if self.zone else "UNIX_TIMESTAMP(NOW())"

    def epoch(self, raw) -> int:
        """The server's NOW() as Unix seconds."""
        return int(raw) if self.zone is None else int(raw.replace(tzinfo=self.zone).timestamp())

    def since(self, epoch: int) -> tuple[str, object]:
        """A WHERE operand and its parameter for `column >= <Unix seconds>`."""
        if self.zone is None:
            return "FROM_UNIXTIME(%s)", epoch
        return "%s", datetime.fromtimestamp(epoch, self.zone).replace(tzinfo=None)


class Read(NamedTuple):
    """A ticket as read, and the row it was mapped from (its lists complete), which `Reader.from_row`
    maps again: kept as it is for a deleted ticket's last snapshot, far cheaper than encoding the
    mapped ticket and its messages."""

    ticket: Ticket
    messages: tuple[Message, ...]
    row: tuple[str | None, ...]


def priority_rank(urgency: int) -> int:
    """osTicket's urgency counts from 1 = most urgent (emergency) to 4 = low."""
    return max(1, min(4, 5 - int(urgency or 3)))


class Reader:
    def __init__(self, db, lookups: Lookups, section: OsticketSection, times: Times, web_url: str | None):
        self.db = db
        self.look = lookups
        self.section = section
        self.times = times
        self.web_url = web_url.rstrip("/") if web_url else None
        self.edited = lookups.events.get("edited")
        self.names = {ident: name for name, ident in lookups.events.items()}
        self.history_ids = [lookups.events[n] for n in HISTORY_EVENTS if n in lookups.events]

    # ---- statements -----------------------------------------------------------------------------
    # A pure-Python driver spends its time per field it parses, so each ticket comes as one row of a
    # few texts the server packs: its ids, its times, and its thread entries and events, each list
    # packed into one text (GROUP_CONCAT). A list longer than the session's limit is cut by the
    # server; it is then read again unpacked: one more statement for the page's cut entry lists, one
    # for its cut event lists.

    def _entry_record(self) -> str:
        ts = self.times.sql
        channels = ",".join(f"'{name}'" for name in CHANNELS)
        return (
            f"CONCAT_WS(',', e.id, e.type, e.staff_id <> 0, e.staff_id = 0 AND e.poster = %s, {ts('e.created')},"
            f" IF(e.source IN ({channels}), e.source, ''))"
        )

    def _event_record(self) -> str:
        return (
            f"CONCAT_WS('{FIELD}', ev.id, IFNULL(ev.event_id, 0), {self.times.sql('ev.timestamp')},"
            f" REPLACE(IFNULL(ev.data, ''), '{RECORD}', ''))"
        )

    def _entries_where(self) -> str:
        return f"(e.flags & {HIDDEN}) = 0"

    def _events_where(self) -> str:
        return f"ev.event_id IN ({_ints(self.history_ids) if self.history_ids else 'NULL'})"

    def _ticket_sql(self, where: str) -> str:
        p, ts, f = self.look.prefix, self.times.sql, self.look.fields
        cdata = ("IFNULL(cd.priority, '')", f"LEFT JOIN `{p}ticket__cdata` cd ON cd.ticket_id = t.ticket_id")
        if not self.look.has_cdata:
            cdata = ("''", "")
        times = ", ".join(f"IFNULL({ts('t.' + column)}, '')" for column in TIMES)
        return (
            f"SELECT CONCAT_WS(',', t.ticket_id, t.status_id, t.dept_id, t.topic_id, t.sla_id, t.staff_id,"
            f" t.team_id, t.isoverdue, t.isanswered, IFNULL(th.id, ''), IFNULL(pv.value_id, ''),"
            f" IFNULL(u.org_id, ''), t.source, {cdata[0]}),"
            f" CONCAT_WS(',', {times}), t.number, sv.value, u.name, ue.address,"
            f" (SELECT GROUP_CONCAT({self._entry_record()} ORDER BY e.id SEPARATOR '{RECORD}')"
            f" FROM `{p}thread_entry` e WHERE e.thread_id = th.id AND {self._entries_where()}),"
            f" (SELECT GROUP_CONCAT({self._event_record()} ORDER BY ev.id SEPARATOR '{RECORD}')"
            f" FROM `{p}thread_event` ev WHERE ev.thread_id = th.id AND {self._events_where()})"
            f" FROM `{p}ticket` t"
            f" LEFT JOIN `{p}thread` th ON th.object_type = 'T' AND th.object_id = t.ticket_id"
            f" LEFT JOIN `{p}form_entry` fe ON fe.object_type = 'T' AND fe.object_id = t.ticket_id"
            f" AND fe.form_id = {int(self.look.form_id)}"
            f" LEFT JOIN `{p}form_entry_values` sv ON sv.entry_id = fe.id AND sv.field_id = {int(f.get('subject', 0))}"
            f" LEFT JOIN `{p}form_entry_values` pv ON pv.entry_id = fe.id AND pv.field_id = {int(f.get('priority', 0))}"
            f" {cdata[1]}"
            f" LEFT JOIN `{p}user` u ON u.id = t.user_id"
            f" LEFT JOIN `{p}user_email` ue ON ue.id = u.default_email_id"
            f" WHERE {where} ORDER BY t.ticket_id"
        )

    def range_rows(self, db, after: int, size: int) -> tuple[list[tuple], int | None]:
        """The rows of the next tickets by id, read through `db` (this reader's own, or another
        session's fetching ahead), and the last id they reached (None: no more tickets)."""
        rows = db.query(self._ticket_sql("t.ticket_id > %s") + " LIMIT %s", (self.section.poster, after, size))
        last = max(int(row[0].partition(",")[0]) for row in rows) if rows else None
        return rows, last

    def range_page(self, after: int, size: int) -> tuple[list[Read], int | None]:
        """The next tickets by id, and the last id the page reached (None: no more tickets)."""
        rows, last = self.range_rows(self.db, after, size)
        return self.complete(rows), last

    def page(self, ticket_ids: Iterable[int]) -> list[Read]:
        ids = sorted(set(ticket_ids))
        if not ids:
            return []
        rows = self.db.query(self._ticket_sql(f"t.ticket_id IN ({_ints(ids)})"), (self.section.poster,))
        return self.complete(rows)

    def complete(self, rows: list[tuple]) -> list[Read]:
        """Map the rows of a page (reading again, on this reader's session, the lists the server cut)."""
        tickets: dict[str, tuple] = {}
        for row in rows:
            # a second Ticket Details entry of one ticket: the first wins
            tickets.setdefault(row[0].partition(",")[0], row)
        limit = self.db.pack_limit
        cut_entries = [row for row in tickets.values() if row[6] is not None and len(row[6]) >= limit]
        cut_events = [row for row in tickets.values() if row[7] is not None and len(row[7].encode()) >= limit]
        entries = self._unpacked(cut_entries, "thread_entry", "e", self._entry_record(), self._entries_where,
                                 (self.section.poster,))  # fmt: skip
        events = self._unpacked(cut_events, "thread_event", "ev", self._event_record(), self._events_where, ())
        mapped = []
        for key, row in tickets.items():
            try:
                thread = row[0].split(",", 13)[9]
                if thread in entries or thread in events:  # the lists the server cut, complete
                    whole = (entries.get(thread), events.get(thread))
                    row = (*row[:6], *(RECORD.join(found) if found is not None else packed
                                       for found, packed in zip(whole, row[6:8], strict=True)))  # fmt: skip
                ticket, messages = self.from_row(row)
                mapped.append(Read(ticket, messages, row))
            except (BadRecord, ValueError, TypeError, KeyError, OverflowError, IndexError) as exc:
                # one broken ticket must not stop the others; say which, once per pull
                log.warning("%s: skipped ticket %s (number %s): %s", self.section.name, key, row[2], exc)
        return mapped

    def from_row(self, row, times: Times | None = None) -> tuple[Ticket, tuple[Message, ...]]:
        """Map one row as the ticket statement gives it; `times`: the zone its times are in, when
        the row was kept under another setting."""
        entries = row[6].split(RECORD) if row[6] else []
        events = row[7].split(RECORD) if row[7] else []
        return self._map(row[0].split(",", 13), row, entries, events, times or self.times)

    def _unpacked(self, rows, table: str, alias: str, record: str, where, args) -> dict[str, list[str]]:
        """The records of the threads whose packed list the server cut, one row each."""
        threads = [row[0].split(",", 13)[9] for row in rows]
        threads = [int(t) for t in threads if t]
        found: dict[str, list[str]] = {str(t): [] for t in threads}
        if threads:
            log.info("%s: %d threads too long to pack, read unpacked", self.section.name, len(threads))
            for thread, text in self.db.query(
                f"SELECT {alias}.thread_id, {record} FROM `{self.look.prefix}{table}` {alias}"
                f" WHERE {alias}.thread_id IN ({_ints(threads)}) AND {where()}"
                f" ORDER BY {alias}.thread_id, {alias}.id",
                args,
            ):
                found[str(thread)].append(text)
        return found

    # ---- mapping --------------------------------------------------------------------------------

    def _map(
        self, ids: list[str], row, entries: list[str], events: list[str], times: Times
    ) -> tuple[Ticket, tuple[Message, ...]]:
        (ticket_id, status_id, dept_id, topic_id, sla_id, staff_id, team_id, isoverdue, isanswered, thread,
         priority_id, org_id) = (int(v) if v else None for v in ids[:12])  # fmt: skip
        source, cdata_priority = ids[12], ids[13]
        duedate, est_duedate, closed, lastupdate, created, updated = map(times.text, row[1].split(","))
        number, subject, user_name, user_email = row[2:6]
        look = self.look
        status_name, state = look.statuses.get(status_id, (f"status {status_id}", "open"))
        messages = messages_of(entries, times)
        history, moves, counts = self._history(events, times)
        if created is None:
            raise BadRecord("it has no creation time")
        if thread is None:
            raise BadRecord("it has no thread")
        moments = [m for m in (updated, lastupdate, created) if m is not None]
        moments += [m.at for m in messages] + [h.at for h in history] + list(moves.values())
        due = duedate or est_duedate
        sla = look.slas.get(sla_id)
        custom = {
            "osticket_sla": sla[0] if sla else None,
            "osticket_sla_hours": sla[1] if sla else None,
            "osticket_due": due.isoformat() if due else None,
            "osticket_overdue": bool(isoverdue),
            "osticket_answered": bool(isanswered),
            "help_topic": look.topics.get(topic_id),
            "team": look.teams.get(team_id),
        }
        for name, moment in moves.items():
            custom[name] = moment.isoformat()
        custom.update(counts)
        assignee = look.staff[staff_id][0] if staff_id in look.staff else look.teams.get(team_id)
        ticket = Ticket(
            source=self.section.name,
            external_id=str(ticket_id),
            created_at=created,
            updated_at=max(moments),
            status=STATES.get(state, Status.OPEN),
            raw_status=status_name,
            number=number or "",
            title=subject or "",
            channel=CHANNELS.get(source, Channel.OTHER),
            status_history=history,
            priority=self._priority(priority_id, cdata_priority),
            department=look.departments.get(dept_id),
            assignee=assignee,
            requester=Person(user_name, user_email) if (user_name or user_email) else None,
            organization=look.organizations.get(org_id),
            custom=custom,
            web_url=f"{self.web_url}/scp/tickets.php?id={ticket_id}" if self.web_url else None,
            closed_at=closed if state in ("closed", "archived") else None,
            deleted=state == "deleted",
        )
        return ticket, messages

    def _priority(self, priority_id, cdata_priority) -> Priority | None:
        """The form value is what osTicket's ticket page shows; `__cdata` is its copy; then the default."""
        for candidate in (priority_id, cdata_priority, self.look.config.get("default_priority_id")):
            try:
                ident = int(candidate)
            except (TypeError, ValueError):
                continue
            if ident in self.look.priorities:
                _key, desc, urgency = self.look.priorities[ident]
                return Priority(priority_rank(urgency), desc, str(ident))
        return None

    def _history(
        self, events: list[str], times: Times
    ) -> tuple[tuple[StatusChange, ...], dict[str, datetime], dict[str, int]]:
        """Status changes from the status events, in the host's order (`seq`: the event's id); and the
        last assignment and transfer, which change no status, as times rules can use."""
        changes = []
        moves: dict[str, datetime] = {}
        counts = {"osticket_assignments": 0, "osticket_transfers": 0}
        for packed in events:
            ident, event_id, at, data = packed.split(FIELD, 3)
            name = self.names.get(int(event_id))
            moment = times.text(at)
            if moment is None:
                continue
            seq = int(ident)
            if name == "created":
                changes.append(StatusChange(moment, Status.OPEN, "created", seq))
            elif name == "reopened":
                changes.append(StatusChange(moment, Status.OPEN, "reopened", seq))
            elif name in ("closed", "edited"):
                status_id = _status_of(data)
                if status_id is None:
                    continue  # an edit of another field
                status_name, state = self.look.statuses.get(status_id, (f"status {status_id}", "closed"))
                default = Status.CLOSED if name == "closed" else Status.OPEN
                changes.append(StatusChange(moment, STATES.get(state, default), status_name, seq))
            elif name in MOVES:
                moves[MOVES[name]] = moment
                counts[COUNTS[name]] += 1
        return tuple(changes), moves, counts


def messages_of(entries: list[str], times: Times) -> tuple[Message, ...]:
    """Thread entries from their packed records (`id,type,by staff,own,created,source`)."""
    text, epoch = times.text, times.zone is None
    found = []
    for packed in entries:
        ident, kind, by_staff, own, created, source = packed.split(",", 5)
        # Unix seconds (the common case, inlined: a thread of a million entries reads each once)
        at = _from_epoch(int(created), UTC) if epoch and created.isdigit() and created != "0" else text(created)
        channel = CHANNELS.get(source) if source else None
        if kind == "M":
            found.append(Message(ident, at, _CUSTOMER, True, channel))
        elif kind == "R":
            found.append(Message(ident, at, _AGENT, True, channel))
        else:
            found.append(Message(ident, at, _AGENT if by_staff == "1" else _SYSTEM, False, channel, own=own == "1"))
    return tuple(found)


def _status_of(data: str | None) -> int | None:
    """`{"status": [id, "Name"]}` (closed) or `{"status": id}` (a change within a state)."""
    try:
        status = json.loads(data).get("status") if data else None
    except (ValueError, AttributeError):
        return None
    if isinstance(status, list) and status:
        status = status[0]
    return status if isinstance(status, int) else None


def _ints(values: Iterable[int]) -> str:
    return ",".join(str(int(v)) for v in values)
