"""A Zammad-compatible REST API on 127.0.0.1 (a free port, one thread per request), written from
the API's documented and source-read behaviour: tests and the bench talk real HTTP to it.

    server = ZammadServer(shape="array", field_search=True).start()
    ticket = server.add_ticket("Printer broken", at=t(2, 9))
    ...
    server.stop()

What it imitates (see the facts it follows in the Zammad reference notes):
- Auth by `Authorization: Token token=...`; no credentials 403 "Authentication required", a
  wrong token 401, both with `X-Failure`; a token's permissions (`ticket.agent`, `admin.sla`, ...);
  `From:` needs `admin.user`.
- `GET /tickets` in id order, silently capped at 100 a page; `/tickets/search` capped at 200,
  sorted by `sort_by`/`order_by`, answering in one of three shapes (`array`: the expanded list;
  `records`: `{"records": [...], "total_count": N}`; `classic`: `{"tickets": [ids],
  "tickets_count": n, "assets": {"Ticket": {...}}}` without names), filtering by a field query
  (`updated_at:>=...` or a bracket range; only with `field_search`, else such a query matches
  nothing, as the database fallback does) or by `condition` (unless `condition_search` is off,
  then nothing is found); beyond 10,000 results a field search finds nothing (ES window).
- `GET /tickets/{id}?all=true`: the ticket with its articles (as assets with ids only, no type or
  sender names), users, tags, links and mentions in one answer, as `Ticket::AssetsAll` builds it
  (with `assets_all` off the parameter is ignored, as by a server that does not know it).
- Index lag: a ticket changed less than `index_lag` ago (by the server's clock) is not found by
  search yet; `GET /tickets` sees it at once.
- Every write moves `updated_at` (tags added or removed, notes, priority), and states, tags and
  priorities leave history entries; a no-op PUT moves nothing.
- Tags: `/tags/add` creates a tag name it does not know only when the setting `tag_new` is on
  or the token has `admin.tag` (Zammad's `Tag.tag_allowed?` rule), else 422; `/tag_search`
  finds known tag names by substring, as the agent UI's autocomplete does.
- Mentions: a `text/html` article whose body links `data-mention-user-id="N"` mentions agent N
  on the ticket (`GET /mentions?mentionable_type=Ticket&mentionable_id=...` lists them); users
  are found by `/users/search?query=...` (a substring of login, e-mail or name).
- Faults, each for the next matching requests: "403" (Not authorized), "500", "502", "503", "504", "429" (no header),
  "429:<seconds>" (Retry-After), "slow:<seconds>", "drop" (connection closed, nothing done),
  "lost" (the request is carried out, then the connection is closed before the answer),
  "301:<url>" (moved there).
"""

from __future__ import annotations

import html
import json
import re
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "test-token-4n8Q"
STATES = [
    {"id": 1, "name": "new", "state_type_id": 1, "state_type": "new"},
    {"id": 2, "name": "open", "state_type_id": 2, "state_type": "open"},
    {"id": 3, "name": "pending reminder", "state_type_id": 3, "state_type": "pending reminder"},
    {"id": 4, "name": "closed", "state_type_id": 5, "state_type": "closed"},
    {"id": 5, "name": "merged", "state_type_id": 6, "state_type": "merged"},
    {"id": 6, "name": "removed", "state_type_id": 7, "state_type": "removed"},
    {"id": 7, "name": "pending close", "state_type_id": 4, "state_type": "pending action"},
]
PRIORITIES = [{"id": 1, "name": "1 low"}, {"id": 2, "name": "2 normal"}, {"id": 3, "name": "3 high"}]
ARTICLE_TYPES = {"email": 1, "sms": 2, "chat": 3, "fax": 4, "phone": 5, "note": 10, "web": 11}
SENDERS = {"Agent": 1, "Customer": 2, "System": 3}


def stamp(moment: datetime) -> str:
    """Zammad's JSON time: UTC, milliseconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("\\:", ":").strip('"').replace("Z", "+00:00"))


class Clock:
    """The server's own time, moved by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Fault:
    kind: str
    method: str = ""  # empty: any method
    path: str = ""  # a regular expression searched in the path; empty: any
    times: int = 1


class ZammadServer:
    def __init__(
        self,
        shape: str = "array",
        field_search: bool = True,
        condition_search: bool = True,
        index_lag: timedelta = timedelta(0),
        clock: Clock | None = None,
        permissions: tuple[str, ...] = ("ticket.agent", "admin.sla", "admin.calendar"),
    ):
        self.shape, self.field_search, self.condition_search = shape, field_search, condition_search
        self.index_lag = index_lag
        self.clock = clock or Clock(datetime(2026, 11, 2, 8, tzinfo=UTC))
        self.lock = threading.RLock()
        self.tickets: dict[int, dict] = {}
        self.articles: dict[int, dict] = {}
        self.ticket_articles: dict[int, list[int]] = {}  # ticket id -> its article ids
        self.tags: dict[int, list[str]] = {}
        self.history: dict[int, list[dict]] = {}
        self.changed: dict[int, datetime] = {}  # server time of a ticket's last change (index lag)
        self.raw: dict[int, Any] = {}  # tickets served as given, malformed on purpose
        self.users: dict[int, dict] = {
            1: {"id": 1, "login": "-", "email": "", "firstname": "", "lastname": ""},
            3: {"id": 3, "login": "agent1", "email": "agent1@help.example", "firstname": "Ann", "lastname": "Agent"},
            4: {"id": 4, "login": "sla-bot", "email": "sla-bot@help.example", "firstname": "SLA", "lastname": "Bot"},
        }
        self.groups = {1: {"id": 1, "name": "Users"}, 2: {"id": 2, "name": "Support"}}
        self.organizations: dict[int, dict] = {}
        self.calendars: list[dict] = []
        self.slas: list[dict] = []
        self.tokens = {TOKEN: {"user_id": 3, "permissions": set(permissions)}}
        self.tag_new = True  # the admin setting "New tags": may agents create tags?
        self.tag_items: dict[str, int] = {}  # known tag names (lower case) -> id
        self.agents = {3, 4}  # users who may be mentioned
        self.mentions: list[dict] = []
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.assets_all = True  # off: `?all=true` is ignored, the ticket alone comes back
        self.proxied = 0  # requests whose request line named the whole URL (as sent to a proxy)
        self._ids = {"ticket": 0, "article": 0, "history": 0, "user": 10}
        self._release = threading.Event()
        self.httpd: ThreadingHTTPServer | None = None

    # ---- running -------------------------------------------------------------------------------

    def start(self) -> ZammadServer:
        server = self

        class Handler(_Handler):
            zammad = server

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self._release.set()
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()

    def fail(self, kind: str, method: str = "", path: str = "", times: int = 1) -> None:
        with self.lock:
            self.faults.append(Fault(kind, method, path, times))

    def count(self, method: str = "", path: str = "") -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if (not method or m == method) and re.search(path, p))

    # ---- data ----------------------------------------------------------------------------------

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def create_tag(self, name: str) -> None:
        """A tag name created ahead (Admin > Tags), so agents may add it even without `tag_new`."""
        with self.lock:
            self.tag_items.setdefault(name.strip().lower(), len(self.tag_items) + 1)

    def add_user(self, email: str, firstname: str = "", lastname: str = "", organization: str | None = None) -> int:
        with self.lock:
            for user in self.users.values():
                if user["email"] == email:
                    return user["id"]
            org_id = None
            if organization:
                org_id = next((o["id"] for o in self.organizations.values() if o["name"] == organization), None)
                if org_id is None:
                    org_id = len(self.organizations) + 1
                    self.organizations[org_id] = {"id": org_id, "name": organization}
            ident = self._next("user")
            self.users[ident] = {
                "id": ident,
                "login": email,
                "email": email,
                "firstname": firstname,
                "lastname": lastname,
                "organization_id": org_id,
            }
            return ident

    def add_ticket(
        self,
        title: str,
        customer: str = "ada@acme.example",
        at: datetime | None = None,
        state: str = "new",
        priority: int = 2,
        group: int = 2,
        owner: int = 1,
        channel: str = "email",
        body: str = "It does not work.",
        organization: str | None = None,
    ) -> int:
        with self.lock:
            at = at or self.clock()
            customer_id = self.add_user(customer, organization=organization)
            ident = self._next("ticket")
            self.tickets[ident] = {
                "id": ident,
                "number": str(31000 + ident),
                "title": title,
                "group_id": group,
                "priority_id": priority,
                "state_id": self._state(state)["id"],
                "organization_id": self.users[customer_id].get("organization_id"),
                "owner_id": owner,
                "customer_id": customer_id,
                "create_article_type_id": ARTICLE_TYPES[channel],
                "create_article_sender_id": 2,
                "article_count": 0,
                "first_response_at": None,
                "close_at": None,
                "last_contact_at": None,
                "pending_time": None,
                "created_by_id": customer_id,
                "updated_by_id": customer_id,
                "created_at": stamp(at),
                "updated_at": stamp(at),
            }
            self.tags[ident] = []
            self.history[ident] = [self._history(ident, at, "created", customer_id)]
            self.add_article(ident, "Customer", channel, body=body, at=at, by=customer_id)
            return ident

    def add_article(
        self,
        ticket_id: int,
        sender: str = "Customer",
        kind: str = "email",
        internal: bool = False,
        body: str = "More detail.",
        at: datetime | None = None,
        by: int | None = None,
        preferences: dict | None = None,
    ) -> dict:
        with self.lock:
            at = at or self.clock()
            ticket = self.tickets[ticket_id]
            by = by if by is not None else (ticket["customer_id"] if sender == "Customer" else 3)
            ident = self._next("article")
            article = {
                "id": ident,
                "ticket_id": ticket_id,
                "type_id": ARTICLE_TYPES[kind],
                "type": kind,
                "sender_id": SENDERS[sender],
                "sender": sender,
                "from": self.users[by]["email"],
                "to": "",
                "subject": ticket["title"],
                "body": body,
                "content_type": "text/plain",
                "internal": internal,
                "preferences": preferences or {},
                "created_by_id": by,
                "created_by": self.users[by]["login"],
                "created_at": stamp(at),
                "updated_at": stamp(at),
                "attachments": [],
            }
            self.articles[ident] = article
            self.ticket_articles.setdefault(ticket_id, []).append(ident)
            if sender != "System":
                ticket["article_count"] += 1
            if not internal and kind != "note":
                ticket["last_contact_at"] = stamp(at)
                if sender == "Agent" and ticket["first_response_at"] is None:
                    ticket["first_response_at"] = stamp(at)
            self._touch(ticket_id, at, by)
            return article

    def set_state(self, ticket_id: int, name: str, at: datetime | None = None, by: int = 3) -> None:
        with self.lock:
            at = at or self.clock()
            ticket, state = self.tickets[ticket_id], self._state(name)
            old = self._state_by_id(ticket["state_id"])
            if old["id"] == state["id"]:
                return
            ticket["state_id"] = state["id"]
            if state["state_type"] == "closed" and ticket["close_at"] is None:
                ticket["close_at"] = stamp(at)
            entry = self._history(ticket_id, at, "updated", by, attribute="state")
            entry.update(id_from=old["id"], id_to=state["id"], value_from=old["name"], value_to=state["name"])
            self.history[ticket_id].append(entry)
            self._touch(ticket_id, at, by)

    def delete_ticket(self, ticket_id: int) -> None:
        with self.lock:
            self.tickets.pop(ticket_id)
            for ident in self.ticket_articles.pop(ticket_id, []):
                del self.articles[ident]

    def break_ticket(self, ticket_id: int, **fields) -> None:
        """Serve this ticket with these fields replaced (e.g. created_at="yesterday")."""
        with self.lock:
            self.raw[ticket_id] = fields

    def notes(self, ticket_id: int) -> list[dict]:
        with self.lock:
            return [a for a in self._articles_of(ticket_id) if a["type"] == "note"]

    def _articles_of(self, ticket_id: int) -> list[dict]:
        return [self.articles[a] for a in self.ticket_articles.get(ticket_id, [])]

    def _touch(self, ticket_id: int, at: datetime, by: int) -> None:
        ticket = self.tickets[ticket_id]
        # a save always moves updated_at, even when the test's clock stood still
        ticket["updated_at"] = stamp(max(at, parse_time(ticket["updated_at"]) + timedelta(milliseconds=1)))
        ticket["updated_by_id"] = by
        self.changed[ticket_id] = self.clock()

    def _history(self, ticket_id: int, at: datetime, kind: str, by: int, **extra) -> dict:
        entry = {"id": self._next("history"), "o_id": ticket_id, "type": kind, "object": "Ticket"}
        entry.update(extra, created_by_id=by, created_at=stamp(at))
        return entry

    def _state(self, name: str) -> dict:
        return next(s for s in STATES if s["name"] == name)

    def _state_by_id(self, ident: int) -> dict:
        return next(s for s in STATES if s["id"] == ident)

    # ---- rendering -----------------------------------------------------------------------------

    def render(self, ticket: dict, expand: bool) -> dict:
        out = dict(ticket)
        out["article_ids"] = sorted(self.ticket_articles.get(ticket["id"], []), reverse=True)
        if expand:
            out["state"] = self._state_by_id(ticket["state_id"])["name"]
            out["priority"] = next(p["name"] for p in PRIORITIES if p["id"] == ticket["priority_id"])
            out["group"] = self.groups[ticket["group_id"]]["name"]
            out["owner"] = self.users[ticket["owner_id"]]["login"]
            out["customer"] = self.users[ticket["customer_id"]]["login"]
            out["create_article_type"] = next(
                k for k, v in ARTICLE_TYPES.items() if v == ticket["create_article_type_id"]
            )
            out["create_article_sender"] = "Customer"
            if ticket.get("organization_id"):
                out["organization"] = self.organizations[ticket["organization_id"]]["name"]
        out.update(self.raw.get(ticket["id"], {}))
        return out

    def render_all(self, ticket: dict) -> dict:
        """`GET /tickets/{id}?all=true` (Zammad's `Ticket::AssetsAll`): the ticket, its articles,
        the users, group and organization they name, as assets keyed by id (strings, as JSON
        has them) and with association ids only (articles without the names `type`, `sender`,
        `created_by` that `by_ticket` gives); its tags, links, mentions in the same answer."""
        ident = ticket["id"]
        articles = self._articles_of(ident)
        users = {ticket["customer_id"], ticket["owner_id"], *(a["created_by_id"] for a in articles)}
        assets: dict[str, dict] = {
            "Ticket": {str(ident): self.render(ticket, False)},
            "TicketArticle": {
                str(a["id"]): {k: v for k, v in a.items() if k not in ("type", "sender", "created_by")}
                for a in articles
            },
            "User": {str(u): self.users[u] for u in sorted(users) if u in self.users},
            "Group": {str(ticket["group_id"]): self.groups[ticket["group_id"]]},
        }
        if ticket.get("organization_id"):
            assets["Organization"] = {str(ticket["organization_id"]): self.organizations[ticket["organization_id"]]}
        return {
            "ticket_id": ident,
            "ticket_article_ids": [a["id"] for a in articles],
            "assets": assets,
            "links": [],
            "tags": list(self.tags[ident]),
            "mentions": [m["id"] for m in self.mentions if m["mentionable_id"] == ident],
            "time_accountings": [],
            "form_meta": {"filter": {}, "dependencies": {}},
        }

    def search(self, params: dict[str, str]) -> tuple[list[dict], int] | None:
        """The search hits (rendered later) and the page's offset; None: a swallowed index error."""
        now = self.clock()
        found = [
            t
            for t in self.tickets.values()
            if now - self.changed.get(t["id"], datetime.min.replace(tzinfo=UTC)) >= self.index_lag
        ]
        query = params.get("query", params.get("term", "")).strip()
        if query:
            match = re.fullmatch(r'updated_at:(?:>=(\S+)|\[(".*?"|\S+) TO \*\])', query)
            if ":" in query and not self.field_search:
                return [], 0  # the database fallback reads "updated_at:..." as text, which matches nothing
            if match:
                since = parse_time(match.group(1) or match.group(2))
                found = [t for t in found if parse_time(t["updated_at"]) >= since]
            elif ":" in query:
                return None
            else:
                text = query.replace("*", "").lower()
                found = [t for t in found if text in t["title"].lower() or text in t["number"]]
        operator = params.get("condition[ticket.updated_at][operator]")
        if operator is not None:
            if not self.condition_search:
                return [], 0
            since = parse_time(params["condition[ticket.updated_at][value]"])
            found = [t for t in found if parse_time(t["updated_at"]) >= since]
        sort_by, order = params.get("sort_by", "updated_at"), params.get("order_by", "desc")
        if "order_by" not in params:
            sort_by = "updated_at"  # sort_by without order_by is ignored
        found.sort(key=lambda t: (t[sort_by], t["id"]), reverse=order == "desc")
        limit = min(int(params.get("per_page", params.get("limit", 50))), 200)
        offset = (int(params.get("page", 1)) - 1) * limit
        if self.field_search and query and offset + limit > 10_000:
            return None
        return found[offset : offset + limit], offset


class _Handler(BaseHTTPRequestHandler):
    zammad: ZammadServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_DELETE(self):
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        z = self.zammad
        split = urlsplit(self.path)
        path = split.path
        params = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        with z.lock:
            z.requests.append((method, path))
            z.proxied += self.path.startswith(("http://", "https://"))
            fault = next(
                (f for f in z.faults if (not f.method or f.method == method) and re.search(f.path, path)), None
            )
            if fault:
                fault.times -= 1
                if fault.times <= 0:
                    z.faults.remove(fault)
        kind = fault.kind if fault else ""
        if kind == "drop":
            return self._drop()
        if kind.startswith("slow:"):
            z._release.wait(float(kind.split(":")[1]))
        if kind in ("500", "502", "503", "504"):
            return self._json(int(kind), {"error": "Error ID AbC123xY: Please contact your administrator."})
        if kind == "403":  # a ticket in a group the token cannot read
            return self._json(403, {"error": "Not authorized"}, {"X-Failure": "Not authorized"})
        if kind.startswith("301:"):  # moved (e.g. a proxy sending http to https)
            return self._send(301, b"", "text/html", {"Location": kind.split(":", 1)[1]})
        if kind.startswith("429"):
            headers = {"Retry-After": kind.split(":")[1]} if ":" in kind else {}
            return self._send(429, b"Retry later", "text/plain", headers)
        try:
            body = json.loads(raw_body) if raw_body else {}
        except ValueError:
            return self._json(400, {"error": "malformed JSON"})
        with z.lock:
            status, payload, headers = self._route(method, path, params, body)
        if kind == "lost":
            return self._drop()
        self._json(status, payload, headers)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, status: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, payload: Any, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8", headers)

    def _auth(self) -> tuple[dict | None, tuple | None]:
        z = self.zammad
        header = self.headers.get("Authorization")
        if not header:
            return None, (403, "Authentication required")
        match = re.fullmatch(r"(?:Token token=|Token |Bearer )(.+)", header)
        token = z.tokens.get(match.group(1)) if match else None
        if token is None:
            return None, (401, "Can't find User for Token")
        acting = self.headers.get("From")
        if acting:
            if "admin.user" not in token["permissions"]:
                return None, (403, "Current user has no permission to use 'From'/'X-On-Behalf-Of'!")
            user = next((u for u in z.users.values() if acting in (str(u["id"]), u["login"], u["email"])), None)
            if user is None:
                return None, (403, f"No such user '{acting}'")
            return {"user_id": user["id"], "permissions": token["permissions"]}, None
        return token, None

    def _route(self, method: str, path: str, params: dict, body: dict) -> tuple[int, Any, dict]:
        z = self.zammad
        who, refused = self._auth()
        if refused:
            status, reason = refused
            return status, {"error": reason, "error_human": reason}, {"X-Failure": reason}
        allowed = who["permissions"]
        expand = params.get("expand") in ("true", "1")

        def forbidden():
            return 403, {"error": "Not authorized"}, {"X-Failure": "Not authorized"}

        def not_found(kind, ident):
            text = f"Couldn't find {kind} with 'id'={ident}"
            return 404, {"error": text, "error_human": text}, {}

        if path == "/api/v1/users/me":
            user = dict(z.users[who["user_id"]])
            user["permissions"] = sorted(allowed)
            return 200, user, {}
        if path in ("/api/v1/calendars", "/api/v1/slas"):
            needed = "admin.calendar" if path.endswith("calendars") else "admin.sla"
            if needed not in allowed:
                return forbidden()
            return 200, z.calendars if path.endswith("calendars") else z.slas, {}
        if "ticket.agent" not in allowed:
            return forbidden()
        if path == "/api/v1/users/search":
            term = params.get("query", "").lower()
            found = [
                u
                for u in z.users.values()
                if u["id"] != 1
                and any(term in str(u.get(k) or "").lower() for k in ("login", "email", "firstname", "lastname"))
            ]
            return 200, found[: int(params.get("limit", 10))], {}
        if path == "/api/v1/tag_search":
            term = params.get("term", "").strip().lower()
            found = [{"id": i, "value": name} for name, i in sorted(z.tag_items.items()) if term in name]
            return 200, found[: int(params.get("limit", 10))], {}
        if path == "/api/v1/mentions" and method == "GET":
            ident = int(params.get("mentionable_id", 0))
            return 200, {"mentions": [m for m in z.mentions if m["mentionable_id"] == ident]}, {}
        if path == "/api/v1/ticket_states":
            return 200, [dict(s) if expand else {k: v for k, v in s.items() if k != "state_type"} for s in STATES], {}
        if path == "/api/v1/ticket_priorities":
            return 200, PRIORITIES, {}
        if path == "/api/v1/groups":
            return 200, list(z.groups.values()), {}
        match = re.fullmatch(r"/api/v1/(users|organizations|groups)/(\d+)", path)
        if match:
            table = {"users": z.users, "organizations": z.organizations, "groups": z.groups}[match.group(1)]
            item = table.get(int(match.group(2)))
            return (200, item, {}) if item else not_found(match.group(1)[:-1].title(), match.group(2))
        if path == "/api/v1/tickets" and method == "GET":
            limit = min(int(params.get("per_page", 100)), 100)
            offset = (int(params.get("page", 1)) - 1) * limit
            rows = sorted(z.tickets.values(), key=lambda t: t["id"])[offset : offset + limit]
            return 200, [z.render(t, expand) for t in rows], {}
        if path == "/api/v1/tickets/search":
            result = z.search(params)
            rows = result[0] if result else []
            if z.shape == "classic":
                assets = {str(t["id"]): z.render(t, False) for t in rows}
                return (
                    200,
                    {"tickets": [t["id"] for t in rows], "tickets_count": len(rows), "assets": {"Ticket": assets}},
                    {},
                )
            rendered = [z.render(t, expand) for t in rows]
            if z.shape == "records":
                return 200, {"records": rendered, "total_count": len(rendered)}, {}
            return 200, rendered, {}
        match = re.fullmatch(r"/api/v1/tickets/(\d+)", path)
        if match:
            ticket = z.tickets.get(int(match.group(1)))
            if ticket is None:
                return not_found("Ticket", match.group(1))
            if method == "PUT":
                return self._update(ticket, body, who, expand)
            if params.get("all") in ("true", "1") and z.assets_all:
                return 200, z.render_all(ticket), {}
            return 200, z.render(ticket, expand), {}
        match = re.fullmatch(r"/api/v1/ticket_articles/by_ticket/(\d+)", path)
        if match:
            ident = int(match.group(1))
            if ident not in z.tickets:
                return not_found("Ticket", ident)
            return 200, z._articles_of(ident), {}
        if path == "/api/v1/ticket_articles" and method == "POST":
            ticket_id = body.get("ticket_id")
            if ticket_id not in z.tickets:
                return not_found("Ticket", ticket_id)
            if not body.get("body"):
                text = "Need at least an 'article body' field."
                return 422, {"error": text, "error_human": text}, {}
            article = z.add_article(
                ticket_id,
                "Agent",
                body.get("type", "note"),
                internal=bool(body.get("internal", False)),
                body=body["body"],
                at=z.clock(),
                by=who["user_id"],
            )
            article["content_type"] = body.get("content_type", "text/plain")
            if article["content_type"] == "text/html":
                for user_id in dict.fromkeys(int(n) for n in re.findall(r'data-mention-user-id="(\d+)"', body["body"])):
                    if user_id in z.agents:
                        z.mentions.append(
                            {
                                "id": len(z.mentions) + 1,
                                "mentionable_type": "Ticket",
                                "mentionable_id": ticket_id,
                                "user_id": user_id,
                                "created_by_id": who["user_id"],
                                "created_at": stamp(z.clock()),
                            }
                        )
            return 201, article, {}
        match = re.fullmatch(r"/api/v1/ticket_history/(\d+)", path)
        if match:
            ident = int(match.group(1))
            if ident not in z.tickets:
                return not_found("Ticket", ident)
            return 200, {"history": z.history[ident], "assets": {}}, {}
        if path.startswith("/api/v1/tags"):
            values = {**params, **body}
            ident = int(values.get("o_id", 0))
            if ident not in z.tickets:
                return not_found("Ticket", ident)
            if path == "/api/v1/tags" and method == "GET":
                return 200, {"tags": list(z.tags[ident])}, {}
            item = str(values.get("item", "")).strip()
            if not item:
                return 500, {"error": "undefined method `strip!' for nil:NilClass"}, {}
            tags = z.tags[ident]
            present = item.lower() in (t.lower() for t in tags)
            if path == "/api/v1/tags/add" and method == "POST":
                known = item.lower() in z.tag_items
                if not present and not known and not z.tag_new and "admin.tag" not in allowed:
                    text = f"Tag '{item}' does not exist; only admins may create new tags"
                    return 422, {"error": text, "error_human": text}, {}
                if not known:
                    z.tag_items[item.lower()] = len(z.tag_items) + 1
                if not present:
                    tags.append(item)
                    z.history[ident].append(
                        z._history(ident, z.clock(), "added", who["user_id"], attribute="tag", value_to=item)
                    )
                z._touch(ident, z.clock(), who["user_id"])
                return 201, True, {}
            if path == "/api/v1/tags/remove" and method == "DELETE":
                z.tags[ident] = [t for t in tags if t.lower() != item.lower()]
                z._touch(ident, z.clock(), who["user_id"])
                return 200, True, {}
        return 404, {"error": f"No route matches [{method}] {html.escape(path)}"}, {}

    def _update(self, ticket: dict, body: dict, who: dict, expand: bool) -> tuple[int, Any, dict]:
        z = self.zammad
        changed = False
        if "priority_id" in body:
            priority = next((p for p in PRIORITIES if p["id"] == body["priority_id"]), None)
            if priority is None:
                text = "Validation failed: Priority must exist"
                return 422, {"error": text, "error_human": text}, {}
            if priority["id"] != ticket["priority_id"]:
                entry = z._history(ticket["id"], z.clock(), "updated", who["user_id"], attribute="priority")
                entry.update(id_from=ticket["priority_id"], id_to=priority["id"])
                z.history[ticket["id"]].append(entry)
                ticket["priority_id"] = priority["id"]
                changed = True
        if changed:
            z._touch(ticket["id"], z.clock(), who["user_id"])
        return 200, z.render(ticket, expand), {}
