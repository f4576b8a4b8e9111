"""Reading tickets in pages: a bounded number of statements per page, whatever the page holds
(the tickets with their requester and form answers; their thread entries; their thread events),
mapped into the connector's model.

Public API: `Reader(db, lookups, section, times)` with `page(ticket_ids)` and `range_page(after,
size)`, each returning `[(Ticket, messages)]`; `Times` (how datetimes are read).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from adapters.osticket.schema import Lookups
from connector.config.sources import OsticketSection
from connector.core.errors import BadRecord
from connector.core.model import Channel, Message, Person, Priority, Role, Status, StatusChange, Ticket

log = logging.getLogger("sla_connector.osticket")

CHANNELS = {"Web": Channel.WEB, "Email": Channel.EMAIL, "Phone": Channel.PHONE, "API": Channel.API}
STATES = {"open": Status.OPEN, "closed": Status.CLOSED, "archived": Status.CLOSED}
HIDDEN = 0x4  # an entry superseded by an edit
HISTORY_EVENTS = ("created", "closed", "reopened", "edited")


class Times:
    """osTicket's DATETIMEs are naive local times of the DB server's OS zone. Without a configured
    zone the server converts them itself (UNIX_TIMESTAMP in a session on the SYSTEM zone, with that
    zone's DST rules); with one, they are read naive and placed in it here."""

    def __init__(self, zone: str | None):
        self.zone = ZoneInfo(zone) if zone else None

    def sql(self, column: str) -> str:
        return column if self.zone else f"UNIX_TIMESTAMP({column})"

    def value(self, raw) -> datetime | None:
        if raw is None:
            return None
        if self.zone is None:
            seconds = int(raw)
            return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None  # 0: osTicket's zero date
        if isinstance(raw, str):  # '0000-00-00 00:00:00' arrives as text
            return None
        return raw.replace(tzinfo=self.zone).astimezone(UTC)

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

    def _ticket_sql(self, where: str) -> str:
        p, ts, f = self.look.prefix, self.times.sql, self.look.fields
        cdata = ("cd.priority", f"LEFT JOIN `{p}ticket__cdata` cd ON cd.ticket_id = t.ticket_id")
        if not self.look.has_cdata:
            cdata = ("NULL", "")
        return (
            f"SELECT t.ticket_id, t.number, t.status_id, t.dept_id, t.topic_id, t.sla_id, t.staff_id, t.team_id,"
            f" t.source, t.isoverdue, t.isanswered, {ts('t.duedate')}, {ts('t.est_duedate')}, {ts('t.closed')},"
            f" {ts('t.lastupdate')}, {ts('t.created')}, {ts('t.updated')}, th.id, sv.value, pv.value_id,"
            f" {cdata[0]}, u.name, ue.address, u.org_id"
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

    def range_page(self, after: int, size: int) -> list[tuple[Ticket, tuple[Message, ...]]]:
        rows = self.db.query(self._ticket_sql("t.ticket_id > %s") + " LIMIT %s", (after, size))
        return self._complete(rows)

    def page(self, ticket_ids: Iterable[int]) -> list[tuple[Ticket, tuple[Message, ...]]]:
        ids = sorted(set(ticket_ids))
        if not ids:
            return []
        rows = self.db.query(self._ticket_sql(f"t.ticket_id IN ({_ints(ids)})"))
        return self._complete(rows)

    def _complete(self, rows: list[tuple]) -> list[tuple[Ticket, tuple[Message, ...]]]:
        tickets: dict[int, tuple] = {}
        for row in rows:
            tickets.setdefault(row[0], row)  # a second Ticket Details entry of one ticket: the first wins
        threads = [row[17] for row in tickets.values() if row[17] is not None]
        entries: dict[int, list[str]] = {}
        events: dict[int, list[tuple]] = {}
        if threads:
            p, ts = self.look.prefix, self.times.sql
            in_threads = _ints(threads)
            # one row per thread, its entries packed by the server: a pure-Python driver spends its
            # time per field, so ten entries as one text cost a tenth of ten rows
            for thread, packed in self.db.query(
                f"SELECT e.thread_id, GROUP_CONCAT(CONCAT_WS(',', e.id, e.type, e.staff_id <> 0,"
                f" e.staff_id = 0 AND e.poster = %s, e.source, {ts('e.created')}) ORDER BY e.id SEPARATOR ';')"
                f" FROM `{p}thread_entry` e WHERE e.thread_id IN ({in_threads}) AND (e.flags & {HIDDEN}) = 0"
                f" GROUP BY e.thread_id",
                (self.section.poster,),
            ):
                entries[thread] = packed.split(";")
            if self.history_ids:
                for row in self.db.query(
                    f"SELECT ev.thread_id, ev.id, ev.event_id, ev.data, {ts('ev.timestamp')}"
                    f" FROM `{p}thread_event` ev WHERE ev.thread_id IN ({in_threads})"
                    f" AND ev.event_id IN ({_ints(self.history_ids)}) ORDER BY ev.id"
                ):
                    events.setdefault(row[0], []).append(row)
        mapped = []
        for row in tickets.values():
            try:
                mapped.append(self._map(row, entries.get(row[17], []), events.get(row[17], [])))
            except (BadRecord, ValueError, TypeError, KeyError, OverflowError) as exc:
                # one broken ticket must not stop the others; say which, once per pull
                log.warning("%s: skipped ticket %s (number %s): %s", self.section.name, row[0], row[1], exc)
        return mapped

    # ---- mapping --------------------------------------------------------------------------------

    def _map(self, row: tuple, entries: list[str], events: list[tuple]) -> tuple[Ticket, tuple[Message, ...]]:
        (ticket_id, number, status_id, dept_id, topic_id, sla_id, staff_id, team_id, source, isoverdue,
         isanswered, duedate, est_duedate, closed, lastupdate, created, updated, _thread, subject,
         priority_id, cdata_priority, user_name, user_email, org_id) = row  # fmt: skip
        value = self.times.value
        look = self.look
        status_name, state = look.statuses.get(status_id, (f"status {status_id}", "open"))
        messages = tuple(self._message(e) for e in entries)
        history = self._history(events)
        created_at = value(created)
        if created_at is None:
            raise BadRecord("it has no creation time")
        if _thread is None:
            raise BadRecord("it has no thread")
        moments = [m for m in (value(updated), value(lastupdate), created_at) if m is not None]
        moments += [m.at for m in messages] + [h.at for h in history]
        due = value(duedate) or value(est_duedate)
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
        assignee = look.staff[staff_id][0] if staff_id in look.staff else look.teams.get(team_id)
        ticket = Ticket(
            source=self.section.name,
            external_id=str(ticket_id),
            created_at=created_at,
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
            closed_at=value(closed) if state in ("closed", "archived") else None,
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

    def _message(self, packed: str) -> Message:
        ident, kind, by_staff, own, source, created = packed.split(",")
        at = self.times.value(created if self.times.zone is None else datetime.fromisoformat(created))
        channel = CHANNELS.get(source) if source else None
        if kind == "M":
            return Message(ident, at, Role.CUSTOMER, True, channel)
        if kind == "R":
            return Message(ident, at, Role.AGENT, True, channel)
        return Message(ident, at, Role.AGENT if by_staff == "1" else Role.SYSTEM, False, channel, own=own == "1")

    def _history(self, events: list[tuple]) -> tuple[StatusChange, ...]:
        changes = []
        for _thread, _ident, event_id, data, at in events:
            name = self.names.get(event_id)
            moment = self.times.value(at)
            if name == "created":
                changes.append(StatusChange(moment, Status.OPEN, "created"))
            elif name == "reopened":
                changes.append(StatusChange(moment, Status.OPEN, "reopened"))
            elif name in ("closed", "edited"):
                status_id = _status_of(data)
                if status_id is None:
                    continue  # an edit of another field
                status_name, state = self.look.statuses.get(status_id, (f"status {status_id}", "closed"))
                default = Status.CLOSED if name == "closed" else Status.OPEN
                changes.append(StatusChange(moment, STATES.get(state, default), status_name))
        return tuple(changes)


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
