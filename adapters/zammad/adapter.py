"""The Zammad source: incremental sync over the REST API, escalations written back once.

Public API: `ZammadAdapter(section, state_dir=None, clock=, sleep=)` with `check()`,
`pull(since, overlap)`, `apply(action)`, `capabilities`, `name`, `search_mode`, `client`.

Pull: tickets changed since the cursor come from `/tickets/search` (expand, sorted by
`updated_at` ascending, from the cursor minus the overlap, pages of the effective maximum,
deduplicated on id and `updated_at`), filtered by a field query where Elasticsearch answers one,
else by a `condition`, else by paging through all tickets. Every `full_reconcile_every`, and on
the first pull, all tickets are read in id order: that finds what the index missed, and deleted
tickets (their clocks are cancelled). Per changed ticket: its articles and tags in one
`tickets/{id}?all=true` read when `article_count` or the last contact moved (else only its tags),
and its state history (a ticket may have been pending and back between two cycles, and that
pause counts). That read names article types and senders by id only: the names come from
`by_ticket` answers (read for a ticket whose ids are not known yet: the first of an instance),
learned by the look-ups and kept in the cache. The
cursor ("<updated_at>|<id>") never passes the cycle's start minus `skew`, so a change the index
has not shown yet is read by a later cycle.

Write: tags are read before they are added or removed (no touch when nothing changes), the
priority is re-read and only ever raised, a note carries `[sla-connector:<action key>]` and is
looked for before it is written, and again after an answer that never came. A notice with
`notify_by = "note"` is such a note, mentioning each recipient who is a Zammad user.

Check: the token, the ladder's tags (whether they exist, where the token may not create tags),
and the search mode, in one line.
"""

from __future__ import annotations

import html
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.base import Snapshot, external_id
from adapters.email.smtp import send_notice
from adapters.zammad.cache import TicketCache
from adapters.zammad.client import NotFound, OutcomeUnknown, ZammadClient
from adapters.zammad.mapping import Lookups, map_article, map_ticket, note_marker, parse_time
from connector.config.sources import ZammadSection
from connector.core.errors import AuthFailed, PermanentSourceError, SourceError
from connector.core.escalation import Action

log = logging.getLogger("sla_connector.zammad")

SEARCH_MAX = 200
LIST_MAX = 100
RESULT_WINDOW = 10_000  # Elasticsearch's default: deeper pages come back empty
NOTE_ATTEMPTS = 3
MODES = {
    "field": "field search (the search index answers updated_at queries)",
    "condition": "condition search (updated_at filter; field queries find nothing here)",
    "paging": "full paging (neither field nor condition search finds tickets)",
}


def _cursor(moment: datetime, ident: int) -> str:
    return f"{moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')}Z|{ident:012d}"


def _cursor_time(cursor: str) -> datetime:
    return datetime.fromisoformat(cursor.split("|", 1)[0].replace("Z", "+00:00"))


def _zammad_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class ZammadAdapter:
    def __init__(
        self,
        section: ZammadSection,
        state_dir: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.section, self.clock = section, clock
        self.client = ZammadClient(section, sleep=sleep)
        self.lookups = Lookups(self.client.get)
        self.cache = TicketCache(state_dir / f"{section.name}-zammad-cache.db" if state_dir else None)
        names = json.loads(self.cache.meta("article_names") or "{}")
        self.lookups.article_types = {int(k): v for k, v in names.get("types", {}).items()}
        self.lookups.senders = {int(k): v for k, v in names.get("senders", {}).items()}
        self.search_mode: str | None = None if section.search == "auto" else section.search
        self.mode_reason = "set in the config" if self.search_mode else ""

    @property
    def name(self) -> str:
        return self.section.name

    @property
    def capabilities(self) -> frozenset[str]:
        kinds = {"add_tags", "remove_tags", "raise_priority", "add_note"}
        if self.section.notify_by == "note" or self.section.smtp is not None:
            kinds.add("notify")
        return frozenset(kinds)

    # ---- check ---------------------------------------------------------------------------------

    def check(self, ladder_tags: Iterable[str] = ()) -> str:
        """One line: who the token is, its permissions, the tags the ladder writes (`ladder_tags`,
        before `tag_prefix`), and how changed tickets will be found."""
        me = self.client.get("users/me")
        permissions = me.get("permissions")
        if permissions is not None and "ticket.agent" not in permissions and "ticket.agent" not in str(permissions):
            raise AuthFailed(f"{self.name}: the token of {me.get('login')} lacks the permission ticket.agent")
        self.lookups.load()  # needs ticket.agent: a 403 here says the token lacks it
        mode, why = self.detect_search()
        line = f"zammad {self.section.base_url} as {me.get('login')}: ticket.agent ok"
        tags = self.check_tags(ladder_tags, permissions)
        if tags:
            line += f"; {tags}"
        line += f"; search: {mode}, {why}"
        if self.section.notify_by == "email" and self.section.smtp is not None:
            line += f"; notices via {self.section.smtp.host}:{self.section.smtp.port}"
        return line

    def check_tags(self, ladder_tags: Iterable[str], permissions: Any) -> str:
        """Whether the tags the ladder adds may be written. Zammad lets a user add a tag that does
        not exist yet only when the admin setting "New tags" (`tag_new`) is on or the user has
        `admin.tag`; a tag that exists may always be added. The setting itself is readable by
        admins only, so a missing tag without `admin.tag` is named as a risk, not a failure."""
        wanted = sorted({self._tag_name(tag) for tag in ladder_tags})
        if not wanted:
            return ""
        granted = {str(p) for p in permissions or ()}
        if granted & {"admin", "admin.tag"}:
            return f"tags: {len(wanted)} written, admin.tag may create them"
        missing = [tag for tag in wanted if not self._tag_exists(tag)]
        if not missing:
            return f"tags: all {len(wanted)} exist"
        return (
            f"tags: {', '.join(missing)} do not exist yet and the token lacks admin.tag: they are written "
            "only if the admin setting New tags (tag_new) is on, else create them under Admin > Tags"
        )

    def _tag_name(self, tag: str) -> str:
        return f"{self.section.tag_prefix}{tag}".strip().lower()

    def _tag_exists(self, tag: str) -> bool:
        found = self.client.get("tag_search", term=tag, limit=50)
        return any(str(item.get("value", "")).strip().lower() == tag for item in found or () if isinstance(item, dict))

    def detect_search(self) -> tuple[str, str]:
        """Which way to find changed tickets, and why: a field query and a condition are each asked
        for the oldest ticket's own update time, which must find at least that ticket."""
        if self.section.search != "auto":
            self.search_mode, self.mode_reason = self.section.search, "set in the config"
            return self.search_mode, self.mode_reason
        first = self.client.get("tickets", page=1, per_page=1)
        if not first:
            self.search_mode, self.mode_reason = "condition", "no tickets yet to test field search with"
            return self.search_mode, self.mode_reason
        since = parse_time(first[0]["updated_at"])
        if self._search_rows("field", since, 1, 1):
            self.search_mode, self.mode_reason = "field", MODES["field"]
        elif self._search_rows("condition", since, 1, 1):
            self.search_mode, self.mode_reason = "condition", MODES["condition"]
        else:
            self.search_mode, self.mode_reason = "paging", MODES["paging"]
        return self.search_mode, self.mode_reason

    # ---- pull ----------------------------------------------------------------------------------

    def pull(self, since: str | None, overlap: timedelta = timedelta(0)) -> Iterator[Snapshot]:
        start = self.clock()
        cap = start - self.section.skew
        if not self.lookups.states:
            self.lookups.load()
        if self.search_mode is None:
            self.detect_search()
        last_full = self.cache.meta("last_full")
        full = (
            since is None
            or self.search_mode == "paging"
            or last_full is None
            or start - datetime.fromisoformat(last_full) >= self.section.full_reconcile_every
        )
        if full:
            rows, present = self._all_rows(), set()
        else:
            rows, present = self._changed_rows(_cursor_time(since) - overlap), None
        seen: dict[tuple[int, str], dict] = {}
        for row in rows:
            if isinstance(row, dict) and "id" in row:
                seen.setdefault((row["id"], str(row.get("updated_at"))), row)
                if present is not None:
                    present.add(row["id"])
            else:
                log.warning("%s: skipped a search hit that is not a ticket: %.80r", self.name, row)
        ordered = sorted(seen.values(), key=lambda r: (str(r.get("updated_at")), r["id"]))
        floor, ceiling = since or "", _cursor(cap, 0)
        last = floor
        for row in ordered:
            if full and since is not None and not self._changed(row, since):
                continue  # a full pass yields only what the cursor has not covered
            snapshot = self._snapshot(row)
            if snapshot is None:
                continue
            ticket, messages = snapshot
            last = max(floor, min(_cursor(ticket.updated_at, ticket_id(row)), ceiling))
            yield Snapshot(ticket, messages, last)
        if present is not None:
            for ident in sorted(self.cache.ids() - present):
                gone = self._deleted(ident)
                if gone is not None:
                    yield Snapshot(*gone, last or ceiling)
            self.cache.set_meta("last_full", start.isoformat())

    def _changed(self, row: dict, since: str) -> bool:
        cached = self.cache.get(row["id"])
        if cached is None or cached["row"].get("updated_at") != row.get("updated_at"):
            return True
        try:
            return parse_time(row["updated_at"]) >= _cursor_time(since)
        except (KeyError, ValueError):
            return True  # _snapshot names what is wrong with it

    def _all_rows(self) -> Iterator[dict]:
        page = 1
        while True:
            rows = self.client.get("tickets", expand="true", page=page, per_page=LIST_MAX)
            if not isinstance(rows, list):
                raise PermanentSourceError(f"{self.name}: GET /tickets answered {type(rows).__name__}, not a list")
            yield from rows
            if len(rows) < LIST_MAX:
                return
            page += 1

    def _changed_rows(self, since: datetime) -> Iterator[dict]:
        per_page = min(self.section.page_size, SEARCH_MAX)
        page, offset_since = 1, since
        while True:
            rows = self._search_rows(self.search_mode, offset_since, page, per_page)
            yield from rows
            if len(rows) < per_page:
                return
            page += 1
            if page * per_page > RESULT_WINDOW:  # start a new window where this one ended
                newest = parse_time(rows[-1]["updated_at"])
                if newest <= offset_since:
                    log.warning(
                        "%s: more than %d tickets share one update time; the full pass reads the rest",
                        self.name,
                        RESULT_WINDOW,
                    )
                    return
                page, offset_since = 1, newest

    def _search_rows(self, mode: str, since: datetime, page: int, per_page: int) -> list[dict]:
        params: dict[str, Any] = {
            "expand": "true",
            "sort_by": "updated_at",
            "order_by": "asc",
            "page": page,
            "per_page": per_page,
        }
        if mode == "field":
            params["query"] = f'updated_at:["{_zammad_time(since)}" TO *]'
        else:
            params["condition[ticket.updated_at][operator]"] = "after (absolute)"
            params["condition[ticket.updated_at][value]"] = _zammad_time(since)
        return self._rows(self.client.get("tickets/search", **params))

    def _rows(self, answer: Any) -> list[dict]:
        """Both generations of the search answer: a list (expand, 6.5+), `{"records": [...]}`,
        or the classic `{"tickets": [ids], "assets": {"Ticket": {...}}}`."""
        if isinstance(answer, list):
            return answer
        if isinstance(answer, dict) and isinstance(answer.get("records"), list):
            return answer["records"]
        if isinstance(answer, dict) and isinstance(answer.get("tickets"), list):
            assets = (answer.get("assets") or {}).get("Ticket") or {}
            return [assets[str(i)] for i in answer["tickets"] if str(i) in assets]
        raise PermanentSourceError(
            f"{self.name}: the ticket search answered in an unknown shape ({type(answer).__name__} "
            f"with keys {sorted(answer)[:5] if isinstance(answer, dict) else '-'})"
        )

    def _snapshot(self, row: dict):
        """The ticket with its messages, or None (logged with its id and number) when the host's
        data for it cannot be read."""
        ident, number = row.get("id"), row.get("number")
        try:
            extras = self._extras(row)
            articles = sorted(extras["articles"], key=lambda a: (a["created_at"], a["id"]))
            messages = tuple(map_article(a) for a in articles)
            ticket = map_ticket(
                row,
                extras["tags"],
                extras["history"],
                self.lookups,
                self.name,
                self.section.base_url,
                first_type=articles[0].get("type") if articles else None,
            )
        except NotFound:
            return None  # deleted between the search and now: the full pass cancels it
        except (KeyError, ValueError, TypeError, AttributeError, PermanentSourceError) as exc:
            log.warning(
                "%s: skipped ticket id %s (number %s): %s: %s", self.name, ident, number, type(exc).__name__, exc
            )
            return None
        if not messages:
            log.warning("%s: skipped ticket id %s (number %s): it has no articles", self.name, ident, number)
            return None
        self.cache.put(ident, extras | {"row": row})
        return ticket, messages

    def _extras(self, row: dict) -> dict:
        ident = int(row["id"])
        cached = self.cache.get(ident)
        if cached and cached["row"].get("updated_at") == row.get("updated_at"):
            return cached
        old = cached["row"] if cached else {}
        if cached and all(old.get(k) == row.get(k) for k in ("article_count", "last_contact_at")):
            articles = cached["articles"]
            tags = self._read_tags(ident)
        else:
            articles, tags = self._articles_and_tags(ident)
        state_type = self.lookups.state(row["state_id"])[1]
        if not cached and state_type == "new":
            history = []  # still in the state it was created in
        else:  # also when the state looks unchanged: pending and back between two cycles is a pause
            answer = self.client.get(f"ticket_history/{ident}")
            history = [_slim_history(h) for h in answer.get("history", []) if h.get("attribute") == "state"]
        return {"articles": articles, "tags": tags, "history": history}

    def _articles_and_tags(self, ident: int) -> tuple[list[dict], list[str]]:
        """A ticket's articles and tags from one `tickets/{id}?all=true` read (with the users it
        names, which the look-ups keep). Its articles carry the ids of their type and sender, not
        the names: an id not learned yet (the first ticket of an instance, a type added since)
        makes the ticket's articles come from `by_ticket`, which names them, and teaches the
        look-ups."""
        answer = self.client.get(f"tickets/{ident}", all="true")
        if not isinstance(answer, dict) or not isinstance(answer.get("ticket_article_ids"), list):
            # a Zammad (or a proxy) that ignores all=true answers with the ticket alone
            return [_slim(a) for a in self._by_ticket(ident)], self._read_tags(ident)
        tags = answer.get("tags") or []
        assets = answer.get("assets") or {}
        for key, user in (assets.get("User") or {}).items():  # the customer, the owner: no read of their own
            if key.isdigit() and isinstance(user, dict):
                self.lookups.users.setdefault(int(key), user)
        found = assets.get("TicketArticle") or {}
        named = [self.lookups.name_article(found.get(str(i)) or {}) for i in answer["ticket_article_ids"]]
        if all(named):
            return [_slim(a) for a in named], tags
        return [_slim(a) for a in self._by_ticket(ident)], tags

    def _read_tags(self, ident: int) -> list[str]:
        return self.client.get("tags", object="Ticket", o_id=ident).get("tags", [])

    def _by_ticket(self, ident: int) -> list[dict]:
        """The ticket's articles with the names of their types and senders, which the look-ups
        learn (kept in the cache with the rest)."""
        articles = self.client.get(f"ticket_articles/by_ticket/{ident}")
        if self.lookups.learn(articles):
            self.cache.set_meta(
                "article_names", json.dumps({"types": self.lookups.article_types, "senders": self.lookups.senders})
            )
        return articles

    def _deleted(self, ident: int):
        cached = self.cache.get(ident)
        self.cache.forget(ident)
        if cached is None:
            return None
        try:
            ticket = map_ticket(
                cached["row"],
                cached["tags"],
                cached["history"],
                self.lookups,
                self.name,
                self.section.base_url,
                deleted=True,
            )
            ticket = _with_update(ticket, self.clock())
            return ticket, tuple(map_article(a) for a in cached["articles"])
        except (KeyError, ValueError, TypeError, SourceError) as exc:
            log.warning("%s: ticket id %s is gone; its last copy cannot be read: %s", self.name, ident, exc)
            return None

    # ---- apply ---------------------------------------------------------------------------------

    def apply(self, action: Action) -> None:
        ident = external_id(action, self.name)
        if not ident.isdigit():
            raise PermanentSourceError(f"{self.name}: ticket {ident} is not a Zammad ticket id")
        if action.kind not in self.capabilities:
            raise PermanentSourceError(
                f"{self.name}: cannot {action.kind.replace('_', ' ')} (configure [smtp] for notices)"
            )
        try:
            if action.kind in ("add_tags", "remove_tags"):
                self._tags(int(ident), action)
            elif action.kind == "raise_priority":
                self._raise_priority(int(ident), action.payload["rank"])
            elif action.kind == "add_note":
                self._note(int(ident), action.key, action.payload["text"])
            else:
                self._notify(int(ident), action)
        except NotFound:
            raise PermanentSourceError(f"{self.name}: ticket {ident} does not exist (deleted?)") from None

    def _tags(self, ident: int, action: Action) -> None:
        present = {t.lower() for t in self._read_tags(ident)}
        wanted = [self._tag_name(tag) for tag in action.payload["tags"]]
        for tag in dict.fromkeys(wanted):
            if action.kind == "add_tags" and tag not in present:
                self.client.post("tags/add", {"object": "Ticket", "o_id": ident, "item": tag}, idempotent=True)
            elif action.kind == "remove_tags" and tag in present:
                self.client.delete("tags/remove", object="Ticket", o_id=ident, item=tag)

    def _raise_priority(self, ident: int, rank: int) -> None:
        ticket = self.client.get(f"tickets/{ident}")
        _, current = self.lookups.priority(ticket["priority_id"])
        if min(current, 4) >= rank:
            return  # already as high or higher: never lowered
        target = self.lookups.priority_for(rank)
        if target is None:
            raise PermanentSourceError(f"{self.name}: ticket {ident}: Zammad has no priority of rank {rank} or above")
        self.client.put(f"tickets/{ident}", {"priority_id": target})

    def _has_note(self, ident: int, marker: str) -> bool:
        return any(marker in str(a.get("body") or "") for a in self._by_ticket(ident))

    def _note(self, ident: int, key: str, text: str, markup: str | None = None) -> None:
        """An internal note of `text` (escaped), or of `markup` (HTML built here), with the marker."""
        marker = note_marker(key)
        body = f"{markup if markup is not None else html.escape(text)}<br>\n<small>{html.escape(marker)}</small>"
        for attempt in range(1, NOTE_ATTEMPTS + 1):
            if self._has_note(ident, html.escape(marker)):
                return  # written before (a lost answer, or a run killed before it noted the delivery)
            try:
                self.client.post(
                    "ticket_articles",
                    {"ticket_id": ident, "body": body, "type": "note", "internal": True, "content_type": "text/html"},
                )
                return
            except OutcomeUnknown as exc:
                log.warning(
                    "%s: ticket %s: note %s, outcome unknown (%s); looking before retrying", self.name, ident, key, exc
                )
                if attempt == NOTE_ATTEMPTS:
                    raise

    def _notify(self, ident: int, action: Action) -> None:
        ticket = self.client.get(f"tickets/{ident}")
        if self.section.notify_by == "note":
            self._mention(ident, ticket, action)
            return
        recipients = []
        for who in action.payload["recipients"]:
            if who == "assignee":
                owner = self.lookups.user(ticket.get("owner_id"))
                if owner and owner.get("email"):
                    recipients.append(owner["email"])
            else:
                recipients.append(who)
        send_notice(self.section.smtp, action, str(ticket.get("number") or ident), list(dict.fromkeys(recipients)))

    def _mention(self, ident: int, ticket: dict, action: Action) -> None:
        """The notice as an internal note that mentions each recipient who is a Zammad user: a link
        `data-mention-user-id` in the HTML body, which Zammad turns into a mention of that agent
        (and its notification). Recipients Zammad does not know are named in plain text."""
        users: dict[int, dict] = {}
        unknown: list[str] = []
        for who in action.payload["recipients"]:
            user = self.lookups.user(ticket.get("owner_id")) if who == "assignee" else self._user_by_email(who)
            if user and isinstance(user.get("id"), int):
                users.setdefault(user["id"], user)
            elif who != "assignee":  # a ticket without an owner has nobody to mention for it
                unknown.append(who)
        links = [
            f'<a data-mention-user-id="{uid}" rel="nofollow noreferrer noopener" '
            f'href="{html.escape(self.section.base_url)}/#user/profile/{uid}" target="_blank">'
            f"{html.escape(_full_name(user))}</a>"
            for uid, user in users.items()
        ]
        lines = [html.escape(action.payload["subject"])]
        if links:
            lines.append(f"For: {', '.join(links)}")
        if unknown:
            lines.append(f"Also for (not users of this Zammad): {html.escape(', '.join(dict.fromkeys(unknown)))}")
        lines += ["", *(html.escape(line) for line in str(action.payload["body"]).splitlines())]
        self._note(ident, action.key, "", markup="<br>\n".join(lines))

    def _user_by_email(self, address: str) -> dict | None:
        """The Zammad user with this e-mail address (the search is a substring match: the exact
        address is picked out of it), cached with the other look-ups."""
        address = address.strip().lower()
        cached = next(
            (u for u in self.lookups.users.values() if u and str(u.get("email", "")).lower() == address), None
        )
        if cached is not None:
            return cached
        found = self.client.get("users/search", query=address, limit=20)
        user = next(
            (u for u in found or () if isinstance(u, dict) and str(u.get("email", "")).lower() == address), None
        )
        if user is not None and isinstance(user.get("id"), int):
            self.lookups.users[user["id"]] = user
        return user


def ticket_id(row: dict) -> int:
    return int(row["id"])


def _full_name(user: dict) -> str:
    name = f"{user.get('firstname') or ''} {user.get('lastname') or ''}".strip()
    return name or str(user.get("email") or user.get("login") or user.get("id"))


def _slim(article: dict) -> dict:
    """What mapping needs of an article (the cache keeps no bodies but the marker's presence)."""
    keep = {k: article.get(k) for k in ("id", "created_at", "type", "sender", "sender_id", "internal", "preferences")}
    keep["body"] = "[sla-connector:]" if "[sla-connector:" in str(article.get("body") or "") else ""
    return keep


def _slim_history(entry: dict) -> dict:
    return {k: entry[k] for k in ("id", "created_at", "attribute", "object", "id_to", "value_to") if k in entry}


def _with_update(ticket, moment: datetime):
    return replace(ticket, updated_at=max(ticket.updated_at, moment))
