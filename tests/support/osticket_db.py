"""osTicket 1.18's tables, as far as SLA Connector reads or writes them, and a filler that writes
rows the way osTicket's own code does (see README "osTicket"): a ticket is a row in `ticket`, its
thread, a Ticket Details form entry with subject and priority answers, the materialised `__cdata`
copy, thread entries (M, R, N; edits hide the old row) and thread events (created, closed, ...).

The columns, types and defaults are those of a real 1.18.1 install; the statements that fill them
are our own. Times are naive local times in the DB server's OS zone, as osTicket stores them.

Public API: `TABLES`, `build(conn, prefix)`, `Helpdesk(conn, prefix, zone)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

# table (without prefix) -> its columns and keys
TABLES: dict[str, str] = {
    "config": """
        `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `namespace` varchar(64) NOT NULL,
        `key` varchar(64) NOT NULL,
        `value` text NOT NULL,
        `updated` timestamp NOT NULL DEFAULT current_timestamp(),
        PRIMARY KEY (`id`),
        KEY (`namespace`)
    """,
    "department": """
        `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `pid` int(11) unsigned DEFAULT NULL,
        `tpl_id` int(10) unsigned NOT NULL DEFAULT 0,
        `sla_id` int(10) unsigned NOT NULL DEFAULT 0,
        `schedule_id` int(10) unsigned NOT NULL DEFAULT 0,
        `email_id` int(10) unsigned NOT NULL DEFAULT 0,
        `autoresp_email_id` int(10) unsigned NOT NULL DEFAULT 0,
        `manager_id` int(10) unsigned NOT NULL DEFAULT 0,
        `flags` int(10) unsigned NOT NULL DEFAULT 0,
        `name` varchar(128) NOT NULL DEFAULT '',
        `signature` text NOT NULL,
        `ispublic` tinyint(1) unsigned NOT NULL DEFAULT 1,
        `group_membership` tinyint(1) NOT NULL DEFAULT 0,
        `ticket_auto_response` tinyint(1) NOT NULL DEFAULT 1,
        `message_auto_response` tinyint(1) NOT NULL DEFAULT 0,
        `path` varchar(128) NOT NULL DEFAULT '/',
        `updated` datetime NOT NULL,
        `created` datetime NOT NULL,
        PRIMARY KEY (`id`),
        KEY (`tpl_id`),
        KEY (`autoresp_email_id`),
        KEY (`manager_id`),
        KEY (`flags`),
        KEY (`name`)
    """,
    "event": """
        `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
        `name` varchar(60) NOT NULL,
        `description` varchar(60) DEFAULT NULL,
        PRIMARY KEY (`id`),
        UNIQUE KEY (`name`)
    """,
    "form": """
        `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `pid` int(10) unsigned DEFAULT NULL,
        `type` varchar(8) NOT NULL DEFAULT 'G',
        `flags` int(10) unsigned NOT NULL DEFAULT 1,
        `title` varchar(255) NOT NULL,
        `instructions` varchar(512) DEFAULT NULL,
        `name` varchar(64) NOT NULL DEFAULT '',
        `notes` text DEFAULT NULL,
        `created` datetime NOT NULL,
        `updated` datetime NOT NULL,
        PRIMARY KEY (`id`),
        KEY (`type`)
    """,
    "form_entry": """
        `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `form_id` int(11) unsigned NOT NULL,
        `object_id` int(11) unsigned DEFAULT NULL,
        `object_type` char(1) NOT NULL DEFAULT 'T',
        `sort` int(11) unsigned NOT NULL DEFAULT 1,
        `extra` text DEFAULT NULL,
        `created` datetime NOT NULL,
        `updated` datetime NOT NULL,
        PRIMARY KEY (`id`),
        KEY `entry_lookup` (`object_type`, `object_id`)
    """,
    "form_entry_values": """
        `entry_id` int(11) unsigned NOT NULL,
        `field_id` int(11) unsigned NOT NULL,
        `value` text DEFAULT NULL,
        `value_id` int(11) DEFAULT NULL,
        PRIMARY KEY (`entry_id`, `field_id`)
    """,
    "form_field": """
        `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `form_id` int(11) unsigned NOT NULL,
        `flags` int(10) unsigned DEFAULT 1,
        `type` varchar(255) NOT NULL DEFAULT 'text',
        `label` varchar(255) NOT NULL,
        `name` varchar(64) NOT NULL,
        `configuration` text DEFAULT NULL,
        `sort` int(11) unsigned NOT NULL,
        `hint` varchar(512) DEFAULT NULL,
        `created` datetime NOT NULL,
        `updated` datetime NOT NULL,
        PRIMARY KEY (`id`),
        KEY (`form_id`),
        KEY (`sort`)
    """,
    "help_topic": """
        `topic_id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `topic_pid` int(10) unsigned NOT NULL DEFAULT 0,
        `ispublic` tinyint(1) unsigned NOT NULL DEFAULT 1,
        `noautoresp` tinyint(3) unsigned NOT NULL DEFAULT 0,
        `flags` int(10) unsigned DEFAULT 0,
        `status_id` int(10) unsigned NOT NULL DEFAULT 0,
        `priority_id` int(10) unsigned NOT NULL DEFAULT 0,
        `dept_id` int(10) unsigned NOT NULL DEFAULT 0,
        `staff_id` int(10) unsigned NOT NULL DEFAULT 0,
        `team_id` int(10) unsigned NOT NULL DEFAULT 0,
        `sla_id` int(10) unsigned NOT NULL DEFAULT 0,
        `page_id` int(10) unsigned NOT NULL DEFAULT 0,
        `sequence_id` int(10) unsigned NOT NULL DEFAULT 0,
        `sort` int(10) unsigned NOT NULL DEFAULT 0,
        `topic` varchar(128) NOT NULL DEFAULT '',
        `number_format` varchar(32) DEFAULT NULL,
        `notes` text DEFAULT NULL,
        `created` datetime NOT NULL,
        `updated` datetime NOT NULL,
        PRIMARY KEY (`topic_id`),
        KEY (`topic_pid`),
        KEY (`priority_id`),
        KEY (`dept_id`),
        KEY (`staff_id`),
        KEY (`sla_id`),
        KEY (`page_id`),
        KEY (`topic`)
    """,
    "lock": """
        `lock_id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `staff_id` int(10) unsigned NOT NULL DEFAULT 0,
        `expire` datetime DEFAULT NULL,
        `code` varchar(20) DEFAULT NULL,
        `created` datetime NOT NULL,
        PRIMARY KEY (`lock_id`),
        KEY (`staff_id`)
    """,
    "organization": """
        `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `name` varchar(128) NOT NULL DEFAULT '',
        `manager` varchar(16) NOT NULL DEFAULT '',
        `status` int(11) unsigned NOT NULL DEFAULT 0,
        `domain` varchar(256) NOT NULL DEFAULT '',
        `extra` text DEFAULT NULL,
        `created` timestamp DEFAULT NULL,
        `updated` timestamp DEFAULT NULL on update current_timestamp(),
        PRIMARY KEY (`id`)
    """,
    "schedule": """
        `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `flags` int(11) unsigned NOT NULL DEFAULT 0,
        `name` varchar(255) NOT NULL,
        `timezone` varchar(64) DEFAULT NULL,
        `description` varchar(255) NOT NULL,
        `created` datetime NOT NULL,
        `updated` datetime NOT NULL,
        PRIMARY KEY (`id`)
    """,
    "schedule_entry": """
        `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `schedule_id` int(11) unsigned NOT NULL DEFAULT 0,
        `flags` int(11) unsigned NOT NULL DEFAULT 0,
        `sort` tinyint(3) unsigned NOT NULL DEFAULT 0,
        `name` varchar(255) NOT NULL,
        `repeats` varchar(16) NOT NULL DEFAULT 'never',
        `starts_on` date DEFAULT NULL,
        `starts_at` time DEFAULT NULL,
        `ends_on` date DEFAULT NULL,
        `ends_at` time DEFAULT NULL,
        `stops_on` datetime DEFAULT NULL,
        `day` tinyint(4) DEFAULT NULL,
        `week` tinyint(4) DEFAULT NULL,
        `month` tinyint(4) DEFAULT NULL,
        `created` datetime NOT NULL,
        `updated` datetime NOT NULL,
        PRIMARY KEY (`id`),
        KEY (`schedule_id`),
        KEY (`repeats`)
    """,
    "sla": """
        `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `schedule_id` int(10) unsigned NOT NULL DEFAULT 0,
        `flags` int(10) unsigned NOT NULL DEFAULT 3,
        `grace_period` int(10) unsigned NOT NULL DEFAULT 0,
        `name` varchar(64) NOT NULL DEFAULT '',
        `notes` text DEFAULT NULL,
        `created` datetime NOT NULL,
        `updated` datetime NOT NULL,
        PRIMARY KEY (`id`),
        UNIQUE KEY (`name`)
    """,
    "staff": """
        `staff_id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `dept_id` int(10) unsigned NOT NULL DEFAULT 0,
        `role_id` int(10) unsigned NOT NULL DEFAULT 0,
        `username` varchar(32) NOT NULL DEFAULT '',
        `firstname` varchar(32) DEFAULT NULL,
        `lastname` varchar(32) DEFAULT NULL,
        `passwd` varchar(128) DEFAULT NULL,
        `backend` varchar(32) DEFAULT NULL,
        `email` varchar(255) DEFAULT NULL,
        `phone` varchar(24) NOT NULL DEFAULT '',
        `phone_ext` varchar(6) DEFAULT NULL,
        `mobile` varchar(24) NOT NULL DEFAULT '',
        `signature` text NOT NULL,
        `lang` varchar(16) DEFAULT NULL,
        `timezone` varchar(64) DEFAULT NULL,
        `locale` varchar(16) DEFAULT NULL,
        `notes` text DEFAULT NULL,
        `isactive` tinyint(1) NOT NULL DEFAULT 1,
        `isadmin` tinyint(1) NOT NULL DEFAULT 0,
        `isvisible` tinyint(1) unsigned NOT NULL DEFAULT 1,
        `onvacation` tinyint(1) unsigned NOT NULL DEFAULT 0,
        `assigned_only` tinyint(1) unsigned NOT NULL DEFAULT 0,
        `show_assigned_tickets` tinyint(1) unsigned NOT NULL DEFAULT 0,
        `change_passwd` tinyint(1) unsigned NOT NULL DEFAULT 0,
        `max_page_size` int(11) unsigned NOT NULL DEFAULT 0,
        `auto_refresh_rate` int(10) unsigned NOT NULL DEFAULT 0,
        `default_signature_type` enum('none','mine','dept') NOT NULL DEFAULT 'none',
        `default_paper_size` enum('Letter','Legal','Ledger','A4','A3') NOT NULL DEFAULT 'Letter',
        `extra` text DEFAULT NULL,
        `permissions` text DEFAULT NULL,
        `created` datetime NOT NULL,
        `lastlogin` datetime DEFAULT NULL,
        `passwdreset` datetime DEFAULT NULL,
        `updated` datetime NOT NULL,
        PRIMARY KEY (`staff_id`),
        KEY (`dept_id`),
        UNIQUE KEY (`username`),
        KEY (`isactive`),
        KEY (`isadmin`),
        KEY (`onvacation`)
    """,
    "team": """
        `team_id` int(10) unsigned NOT NULL AUTO_INCREMENT,
        `lead_id` int(10) unsigned NOT NULL DEFAULT 0,
        `flags` int(10) unsigned NOT NULL DEFAULT 1,
        `name` varchar(125) NOT NULL DEFAULT '',
        `notes` text DEFAULT NULL,
        `created` datetime NOT NULL,
        `updated` datetime NOT NULL,
        PRIMARY KEY (`team_id`),
        KEY (`lead_id`),
        UNIQUE KEY (`name`)
    """,
    "thread": """
        `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `object_id` int(11) unsigned NOT NULL,
        `object_type` char(1) NOT NULL,
        `extra` text DEFAULT NULL,
        `lastresponse` datetime DEFAULT NULL,
        `lastmessage` datetime DEFAULT NULL,
        `created` datetime NOT NULL,
        PRIMARY KEY (`id`),
        KEY (`object_id`),
        KEY (`object_type`)
    """,
    "thread_entry": """
        `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `pid` int(11) unsigned NOT NULL DEFAULT 0,
        `thread_id` int(11) unsigned NOT NULL DEFAULT 0,
        `staff_id` int(11) unsigned NOT NULL DEFAULT 0,
        `user_id` int(11) unsigned NOT NULL DEFAULT 0,
        `type` char(1) NOT NULL DEFAULT '',
        `flags` int(11) unsigned NOT NULL DEFAULT 0,
        `poster` varchar(128) NOT NULL DEFAULT '',
        `editor` int(10) unsigned DEFAULT NULL,
        `editor_type` char(1) DEFAULT NULL,
        `source` varchar(32) NOT NULL DEFAULT '',
        `title` varchar(255) DEFAULT NULL,
        `body` text NOT NULL,
        `format` varchar(16) NOT NULL DEFAULT 'html',
        `ip_address` varchar(64) NOT NULL DEFAULT '',
        `extra` text DEFAULT NULL,
        `recipients` text DEFAULT NULL,
        `created` datetime NOT NULL,
        `updated` datetime NOT NULL,
        PRIMARY KEY (`id`),
        KEY (`pid`),
        KEY (`thread_id`),
        KEY (`staff_id`),
        KEY (`type`)
    """,
    "thread_event": """
        `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
        `thread_id` int(11) unsigned NOT NULL DEFAULT 0,
        `thread_type` char(1) NOT NULL DEFAULT '',
        `event_id` int(11) unsigned DEFAULT NULL,
        `staff_id` int(11) unsigned NOT NULL,
        `team_id` int(11) unsigned NOT NULL,
        `dept_id` int(11) unsigned NOT NULL,
        `topic_id` int(11) unsigned NOT NULL,
        `data` varchar(1024) DEFAULT NULL,
        `username` varchar(128) NOT NULL DEFAULT 'SYSTEM',
        `uid` int(11) unsigned DEFAULT NULL,
        `uid_type` char(1) NOT NULL DEFAULT 'S',
        `annulled` tinyint(1) unsigned NOT NULL DEFAULT 0,
        `timestamp` datetime NOT NULL,
        PRIMARY KEY (`id`),
        KEY (thread_id, event_id, timestamp),
        KEY (timestamp, event_id)
    """,
    "ticket": """
        `ticket_id` int(11) unsigned NOT NULL AUTO_INCREMENT,
        `ticket_pid` int(11) unsigned DEFAULT NULL,
        `number` varchar(20) DEFAULT NULL,
        `user_id` int(11) unsigned NOT NULL DEFAULT 0,
        `user_email_id` int(11) unsigned NOT NULL DEFAULT 0,
        `status_id` int(10) unsigned NOT NULL DEFAULT 0,
        `dept_id` int(10) unsigned NOT NULL DEFAULT 0,
        `sla_id` int(10) unsigned NOT NULL DEFAULT 0,
        `topic_id` int(10) unsigned NOT NULL DEFAULT 0,
        `staff_id` int(10) unsigned NOT NULL DEFAULT 0,
        `team_id` int(10) unsigned NOT NULL DEFAULT 0,
        `email_id` int(11) unsigned NOT NULL DEFAULT 0,
        `lock_id` int(11) unsigned NOT NULL DEFAULT 0,
        `flags` int(10) unsigned NOT NULL DEFAULT 0,
        `sort` int(11) unsigned NOT NULL DEFAULT 0,
        `ip_address` varchar(64) NOT NULL DEFAULT '',
        `source` enum('Web','Email','Phone','API','Other') NOT NULL DEFAULT 'Other',
        `source_extra` varchar(40) DEFAULT NULL,
        `isoverdue` tinyint(1) unsigned NOT NULL DEFAULT 0,
        `isanswered` tinyint(1) unsigned NOT NULL DEFAULT 0,
        `duedate` datetime DEFAULT NULL,
        `est_duedate` datetime DEFAULT NULL,
        `reopened` datetime DEFAULT NULL,
        `closed` datetime DEFAULT NULL,
        `lastupdate` datetime DEFAULT NULL,
        `created` datetime NOT NULL,
        `updated` datetime NOT NULL,
        PRIMARY KEY (`ticket_id`),
        KEY (`ticket_pid`),
        KEY (`user_id`),
        KEY (`status_id`),
        KEY (`dept_id`),
        KEY (`sla_id`),
        KEY (`topic_id`),
        KEY (`staff_id`),
        KEY (`team_id`),
        KEY (`duedate`),
        KEY (`closed`),
        KEY (`created`)
    """,
    "ticket_priority": """
        `priority_id` tinyint(4) NOT NULL AUTO_INCREMENT,
        `priority` varchar(60) NOT NULL DEFAULT '',
        `priority_desc` varchar(30) NOT NULL DEFAULT '',
        `priority_color` varchar(7) NOT NULL DEFAULT '',
        `priority_urgency` tinyint(1) unsigned NOT NULL DEFAULT 0,
        `ispublic` tinyint(1) NOT NULL DEFAULT 1,
        PRIMARY KEY (`priority_id`),
        UNIQUE KEY (`priority`),
        KEY (`priority_urgency`),
        KEY (`ispublic`)
    """,
    "ticket_status": """
        `id` int(11) NOT NULL AUTO_INCREMENT,
        `name` varchar(60) NOT NULL DEFAULT '',
        `state` varchar(16) DEFAULT NULL,
        `mode` int(11) unsigned NOT NULL DEFAULT 0,
        `flags` int(11) unsigned NOT NULL DEFAULT 0,
        `sort` int(11) unsigned NOT NULL DEFAULT 0,
        `properties` text NOT NULL,
        `created` datetime NOT NULL,
        `updated` datetime NOT NULL,
        PRIMARY KEY (`id`),
        UNIQUE KEY (`name`),
        KEY (`state`)
    """,
    "ticket__cdata": """
        `ticket_id` int(11) unsigned NOT NULL,
        `subject` mediumtext DEFAULT NULL,
        `priority` mediumtext DEFAULT NULL,
        PRIMARY KEY (`ticket_id`)
    """,
    "user": """
        `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
        `org_id` int(10) unsigned NOT NULL,
        `default_email_id` int(10) NOT NULL,
        `status` int(11) unsigned NOT NULL DEFAULT 0,
        `name` varchar(128) NOT NULL,
        `created` datetime NOT NULL,
        `updated` datetime NOT NULL,
        PRIMARY KEY (`id`),
        KEY (`org_id`),
        KEY (`default_email_id`),
        KEY (`name`)
    """,
    "user_email": """
        `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
        `user_id` int(10) unsigned NOT NULL,
        `flags` int(10) unsigned NOT NULL DEFAULT 0,
        `address` varchar(255) NOT NULL,
        PRIMARY KEY (`id`),
        KEY (`user_id`),
        UNIQUE KEY (`address`)
    """,
    "_search": """
        `object_type` varchar(8) NOT NULL,
        `object_id` int(11) unsigned NOT NULL,
        `title` text DEFAULT NULL,
        `content` text DEFAULT NULL,
        PRIMARY KEY (`object_type`, `object_id`),
        FULLTEXT KEY `search` (`title`, `content`)
    """,
}

SIGNATURE = "5fb92bef17f3b603659e024c01cc7a59"  # the core schema signature of 1.18.1
EVENTS = ["created", "closed", "reopened", "assigned", "released", "transferred", "referred", "overdue",
          "edited", "viewed", "error", "collab", "resent", "deleted", "merged", "unlinked", "linked",
          "login", "logout", "message", "note"]  # fmt: skip
# priority_id, key, description, colour, urgency (1 = most urgent)
PRIORITIES = [(1, "low", "Low", "#DDFFDD", 4), (2, "normal", "Normal", "#FFFFF0", 3),
              (3, "high", "High", "#FEE7E7", 2), (4, "emergency", "Emergency", "#FEE7E7", 1)]  # fmt: skip


def build(conn, prefix: str = "ost_", skip: tuple[str, ...] = ()) -> None:
    """Create the tables, utf8mb3 as osTicket's are."""
    with conn.cursor() as cur:
        for name, columns in TABLES.items():
            if name in skip:
                continue
            cur.execute(f"DROP TABLE IF EXISTS `{prefix}{name}`")
            cur.execute(f"CREATE TABLE `{prefix}{name}` ({columns}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3")


@dataclass
class Ids:
    form: int = 0
    subject_field: int = 0
    priority_field: int = 0
    message_field: int = 0


class Helpdesk:
    """Rows as osTicket writes them; `at` arguments are aware datetimes, stored as naive local times
    in the DB server's zone."""

    def __init__(self, conn, prefix: str = "ost_", zone: str = "UTC"):
        self.conn = conn
        self.p = prefix
        self.zone = ZoneInfo(zone)
        self.ids = Ids()
        self.events: dict[str, int] = {}
        self.installed: datetime | None = None

    def local(self, at: datetime | None) -> str | None:
        if at is None:
            return None
        return at.astimezone(self.zone).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")

    def run(self, sql: str, args=()) -> int:
        with self.conn.cursor() as cur:
            cur.execute(sql.replace("ost_", self.p), args)
            return cur.lastrowid

    def many(self, sql: str, rows) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(sql.replace("ost_", self.p), rows)

    # ---- the install ----------------------------------------------------------------------------

    def install(self, at: datetime) -> Helpdesk:
        self.installed = at
        now = self.local(at)
        self.many(
            "INSERT INTO ost_config (namespace, `key`, value) VALUES (%s, %s, %s)",
            [("core", "schema_signature", SIGNATURE), ("core", "default_timezone", "Europe/Berlin"),
             ("core", "default_priority_id", "2"), ("core", "default_sla_id", "1"),
             ("core", "helpdesk_url", "https://help.example.com/")],
        )  # fmt: skip
        # statuses as an admin left them: renamed, and one added; the state is what counts
        self.many(
            "INSERT INTO ost_ticket_status (id, name, state, mode, flags, sort, properties, created, updated)"
            " VALUES (%s, %s, %s, 3, 0, %s, %s, %s, %s)",
            [(1, "Neu / offen", "open", 1, '{"description":"Open tickets."}', now, now),
             (2, "Erledigt", "closed", 2, '{"allowreopen":true,"reopenstatus":0}', now, now),
             (3, "Geschlossen", "closed", 3, '{"allowreopen":true,"reopenstatus":0}', now, now),
             (4, "Archived", "archived", 4, "{}", now, now), (5, "Deleted", "deleted", 5, "{}", now, now),
             (6, "Waiting for parts", "open", 6, "{}", now, now)],
        )  # fmt: skip
        self.many(
            "INSERT INTO ost_ticket_priority (priority_id, priority, priority_desc, priority_color,"
            " priority_urgency, ispublic) VALUES (%s, %s, %s, %s, %s, 1)",
            PRIORITIES,
        )
        self.many("INSERT INTO ost_event (id, name, description) VALUES (%s, %s, '')", list(enumerate(EVENTS, 1)))
        self.events = {name: i for i, name in enumerate(EVENTS, 1)}
        # a contact form first, so the ticket form's ids are not 1 (ids differ per install)
        self.run("INSERT INTO ost_form (type, title, created, updated) VALUES ('U', 'Contact Information', %s, %s)",
                 (now, now))  # fmt: skip
        self.ids.form = self.run(
            "INSERT INTO ost_form (type, title, created, updated) VALUES ('T', 'Ticket Details', %s, %s)", (now, now)
        )
        for name, kind, sort in (("email", "text", 1), ("name", "text", 2)):
            self.run("INSERT INTO ost_form_field (form_id, type, label, name, sort, created, updated)"
                     " VALUES (1, %s, %s, %s, %s, %s, %s)", (kind, name, name, sort, now, now))  # fmt: skip
        for name, kind, sort in (("subject", "text", 1), ("message", "thread", 2), ("priority", "priority", 3)):
            field = self.run(
                "INSERT INTO ost_form_field (form_id, type, label, name, sort, created, updated)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (self.ids.form, kind, name.title(), name, sort, now, now),
            )
            setattr(self.ids, f"{name}_field", field)
        self.many(
            "INSERT INTO ost_sla (id, flags, grace_period, name, created, updated) VALUES (%s, %s, %s, %s, %s, %s)",
            [(1, 3, 18, "Default SLA", now, now), (2, 1, 4, "Gold 4h", now, now)],
        )
        self.many(
            "INSERT INTO ost_department (id, pid, sla_id, name, signature, path, created, updated)"
            " VALUES (%s, %s, %s, %s, '', %s, %s, %s)",
            [(1, None, 0, "Support", "/1/", now, now), (2, None, 0, "Sales", "/2/", now, now),
             (3, 1, 2, "Hardware", "/1/3/", now, now)],
        )  # fmt: skip
        self.many(
            "INSERT INTO ost_staff (staff_id, dept_id, username, firstname, lastname, passwd, email, signature,"
            " created, updated) VALUES (%s, 1, %s, %s, %s, 'not-read', %s, '', %s, %s)",
            [(1, "alice", "Alice", "Agent", "alice@help.example.com", now, now),
             (2, "bob", "Bob", "Builder", "bob@help.example.com", now, now)],
        )  # fmt: skip
        self.run("INSERT INTO ost_team (team_id, lead_id, name, created, updated) VALUES (1, 1, 'Level 2', %s, %s)",
                 (now, now))  # fmt: skip
        self.many(
            "INSERT INTO ost_help_topic (topic_id, topic_pid, topic, dept_id, created, updated)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [(1, 0, "Support", 1, now, now), (2, 1, "Printers", 3, now, now)],
        )
        self.run("INSERT INTO ost_organization (id, name, created, updated) VALUES (1, 'ACME Corp', %s, %s)",
                 (now, now))  # fmt: skip
        return self

    def user(self, name: str, email: str, org_id: int = 0, at: datetime | None = None) -> int:
        now = self.local(at or self.installed)
        user = self.run(
            "INSERT INTO ost_user (org_id, default_email_id, name, created, updated) VALUES (%s, 0, %s, %s, %s)",
            (org_id, name, now, now),
        )
        address = self.run("INSERT INTO ost_user_email (user_id, address) VALUES (%s, %s)", (user, email))
        self.run("UPDATE ost_user SET default_email_id = %s WHERE id = %s", (address, user))
        return user

    # ---- tickets --------------------------------------------------------------------------------

    def ticket(
        self, user: int, subject: str, body: str, at: datetime, *, priority: int = 2, source: str = "Web",
        dept: int = 1, topic: int = 0, sla: int = 1, staff: int = 0, team: int = 0, number: str | None = None,
        duedate: datetime | None = None, est_duedate: datetime | None = None,
    ) -> int:  # fmt: skip
        now = self.local(at)
        ticket = self.run(
            "INSERT INTO ost_ticket (number, user_id, status_id, dept_id, sla_id, topic_id, staff_id, team_id,"
            " source, duedate, est_duedate, lastupdate, created, updated)"
            " VALUES (%s, %s, 1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (number or "", user, dept, sla, topic, staff, team, source, self.local(duedate),
             self.local(est_duedate), now, now, now),
        )  # fmt: skip
        if number is None:
            self.run("UPDATE ost_ticket SET number = %s WHERE ticket_id = %s", (f"{100000 + ticket * 7:06d}", ticket))
        self.run(
            "INSERT INTO ost_thread (object_id, object_type, lastmessage, created) VALUES (%s, 'T', %s, %s)",
            (ticket, now, now),
        )
        entry = self.run(
            "INSERT INTO ost_form_entry (form_id, object_id, object_type, sort, created, updated)"
            " VALUES (%s, %s, 'T', 1, %s, %s)",
            (self.ids.form, ticket, now, now),
        )
        desc = PRIORITIES[priority - 1][2]
        self.many(
            "INSERT INTO ost_form_entry_values (entry_id, field_id, value, value_id) VALUES (%s, %s, %s, %s)",
            [(entry, self.ids.subject_field, subject, None), (entry, self.ids.priority_field, desc, priority)],
        )
        self.run("INSERT INTO ost_ticket__cdata (ticket_id, subject, priority) VALUES (%s, %s, %s)",
                 (ticket, subject, str(priority)))  # fmt: skip
        self.entry(ticket, "M", body, at, user=user, flags=65, source=source if source != "Web" else "")
        self.event(ticket, "created", at, username="SYSTEM", uid=user, uid_type="U")
        return ticket

    def thread_of(self, ticket: int) -> int:
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT id FROM {self.p}thread WHERE object_type = 'T' AND object_id = %s", (ticket,))
            return cur.fetchone()[0]

    def entry(
        self, ticket: int, kind: str, body: str, at: datetime, *, user: int = 0, staff: int = 0, flags: int = 0,
        poster: str = "", source: str = "",
    ) -> int:  # fmt: skip
        now = self.local(at)
        return self.run(
            "INSERT INTO ost_thread_entry (pid, thread_id, staff_id, user_id, type, flags, poster, source, title,"
            " body, format, created, updated) VALUES (0, %s, %s, %s, %s, %s, %s, %s, NULL, %s, 'html', %s, %s)",
            (self.thread_of(ticket), staff, user, kind, flags, poster, source, body, now, "0000-00-00 00:00:00"),
        )

    def event(
        self, ticket: int, name: str, at: datetime, *, data=None, username: str = "alice", uid: int | None = 1,
        uid_type: str = "S",
    ) -> int:  # fmt: skip
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT staff_id, team_id, dept_id, topic_id FROM {self.p}ticket WHERE ticket_id = %s",
                        (ticket,))  # fmt: skip
            staff, team, dept, topic = cur.fetchone()
        return self.run(
            "INSERT INTO ost_thread_event (thread_id, thread_type, event_id, staff_id, team_id, dept_id, topic_id,"
            " data, username, uid, uid_type, annulled, timestamp) VALUES (%s, 'T', %s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, 0, %s)",
            (self.thread_of(ticket), self.events[name], staff, team, dept, topic,
             None if data is None else json.dumps(data), username, uid, uid_type, self.local(at)),
        )  # fmt: skip

    def reply(self, ticket: int, body: str, at: datetime, staff: int = 1, *, claim: bool = False) -> int:
        """An agent response: the ticket row moves only when a column changes (isanswered, auto-claim)."""
        entry = self.entry(ticket, "R", body, at, staff=staff, flags=576, poster="Alice Agent")
        now = self.local(at)
        self.run("UPDATE ost_thread SET lastresponse = %s WHERE object_type = 'T' AND object_id = %s", (now, ticket))
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT isanswered, staff_id FROM {self.p}ticket WHERE ticket_id = %s", (ticket,))
            answered, assigned = cur.fetchone()
        if not answered or (claim and not assigned):
            self.run("UPDATE ost_ticket SET isanswered = 1, staff_id = IF(%s AND staff_id = 0, %s, staff_id),"
                     " updated = %s WHERE ticket_id = %s", (claim, staff, now, ticket))  # fmt: skip
        return entry

    def message(self, ticket: int, user: int, body: str, at: datetime) -> int:
        entry = self.entry(ticket, "M", body, at, user=user, flags=65, source="Email")
        now = self.local(at)
        self.run("UPDATE ost_thread SET lastmessage = %s WHERE object_type = 'T' AND object_id = %s", (now, ticket))
        self.run("UPDATE ost_ticket SET isanswered = 0, lastupdate = %s, updated = %s WHERE ticket_id = %s",
                 (now, now, ticket))  # fmt: skip
        return entry

    def edit_entry(self, ticket: int, entry: int, body: str, at: datetime) -> int:
        """An edit: a new row with a larger id and the old `created`; the old row is hidden."""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT type, staff_id, user_id, flags, poster, created FROM {self.p}thread_entry"
                        " WHERE id = %s", (entry,))  # fmt: skip
            kind, staff, user, flags, poster, created = cur.fetchone()
        new = self.run(
            "INSERT INTO ost_thread_entry (pid, thread_id, staff_id, user_id, type, flags, poster, editor,"
            " editor_type, body, format, created, updated) VALUES (%s, %s, %s, %s, %s, %s, %s, 1, 'S', %s, 'html',"
            " %s, %s)",
            (entry, self.thread_of(ticket), staff, user, kind, flags | 0x2, poster, body, created, self.local(at)),
        )
        self.run("UPDATE ost_thread_entry SET flags = flags | 4 WHERE id = %s", (entry,))
        return new

    def set_status(self, ticket: int, status_id: int, at: datetime) -> None:
        now = self.local(at)
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT s.state, t.status_id FROM {self.p}ticket t JOIN {self.p}ticket_status s"
                        " ON s.id = t.status_id WHERE t.ticket_id = %s", (ticket,))  # fmt: skip
            old_state, _ = cur.fetchone()
            cur.execute(f"SELECT state, name FROM {self.p}ticket_status WHERE id = %s", (status_id,))
            state, name = cur.fetchone()
        if state == "closed":
            self.run("UPDATE ost_ticket SET status_id = %s, closed = %s, lastupdate = %s, updated = %s,"
                     " est_duedate = NULL WHERE ticket_id = %s", (status_id, now, now, now, ticket))  # fmt: skip
            self.event(ticket, "closed", at, data={"status": [status_id, name]})
        elif old_state == "closed":
            self.run("UPDATE ost_ticket SET status_id = %s, reopened = %s, lastupdate = %s, updated = %s"
                     " WHERE ticket_id = %s", (status_id, now, now, now, ticket))  # fmt: skip
            self.run(f"UPDATE {self.p}thread_event SET annulled = 1 WHERE thread_id = %s AND event_id = %s",
                     (self.thread_of(ticket), self.events["closed"]))  # fmt: skip
            self.event(ticket, "reopened", at)
        else:
            self.run("UPDATE ost_ticket SET status_id = %s, updated = %s WHERE ticket_id = %s",
                     (status_id, now, ticket))  # fmt: skip
            self.event(ticket, "edited", at, data={"status": status_id})

    def assign(self, ticket: int, at: datetime, *, staff: int = 0, team: int = 0) -> None:
        self.run("UPDATE ost_ticket SET staff_id = IF(%s, %s, staff_id), team_id = IF(%s, %s, team_id),"
                 " updated = %s WHERE ticket_id = %s", (staff, staff, team, team, self.local(at), ticket))  # fmt: skip
        self.event(ticket, "assigned", at, data={"staff": staff} if staff else {"team": team})

    def transfer(self, ticket: int, dept: int, at: datetime) -> None:
        self.run("UPDATE ost_ticket SET dept_id = %s, updated = %s WHERE ticket_id = %s",
                 (dept, self.local(at), ticket))  # fmt: skip
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT name FROM {self.p}department WHERE id = %s", (dept,))
            name = cur.fetchone()[0]
        self.event(ticket, "transferred", at, data={"dept": name})

    def delete(self, ticket: int, at: datetime) -> None:
        """A hard delete as `Ticket::delete` does it: the events stay, with thread_id 0."""
        thread = self.thread_of(ticket)
        self.event(ticket, "deleted", at)
        self.run("DELETE FROM ost_ticket WHERE ticket_id = %s", (ticket,))
        self.run("DELETE v FROM ost_form_entry_values v JOIN ost_form_entry e ON e.id = v.entry_id"
                 " WHERE e.object_type = 'T' AND e.object_id = %s", (ticket,))  # fmt: skip
        self.run("DELETE FROM ost_form_entry WHERE object_type = 'T' AND object_id = %s", (ticket,))
        self.run("DELETE FROM ost_ticket__cdata WHERE ticket_id = %s", (ticket,))
        self.run("DELETE FROM ost_thread_entry WHERE thread_id = %s", (thread,))
        self.run("DELETE FROM ost_thread WHERE id = %s", (thread,))
        self.run("UPDATE ost_thread_event SET thread_id = 0 WHERE thread_id = %s", (thread,))
