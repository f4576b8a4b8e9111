"""`sla-connector import zammad --source NAME`: Zammad's calendars and SLAs as this connector's
`[[calendars]]`, `[[levels]]` and `[[rules]]`, printed as TOML to review and paste.

Public API: `add_parser(commands)`, `zammad_toml(calendars, slas, priorities, groups) -> str`.

Nothing is dropped silently: a condition or target without an equivalent is printed as a comment
next to what it belongs to.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date
from typing import Any

from adapters.zammad.client import ZammadClient
from connector.config.settings import load_config
from connector.core.errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RECURRING_YEARS = 3  # a recurring holiday is written for its year and the next ones


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "import",
        help="print a helpdesk's own calendars and SLAs as connector config (TOML)",
        description="Read the calendars and SLAs a helpdesk already has and print the equivalent "
        "[[calendars]], [[levels]] and [[rules]]. What cannot be translated is printed as comments.",
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    zammad = kinds.add_parser("zammad", help="from Zammad's /api/v1/calendars and /api/v1/slas")
    zammad.add_argument("--source", help="the [zammad] source's name (default: the only one)")
    zammad.set_defaults(handler=cmd_import_zammad)


def cmd_import_zammad(args: argparse.Namespace) -> int:
    from connector.config.settings import config_path

    settings = load_config(config_path(args.config))
    sections = [s for s in settings.sources() if s.kind == "zammad" and (args.source in (None, s.name))]
    if len(sections) != 1:
        names = ", ".join(s.name for s in settings.sources() if s.kind == "zammad") or "none"
        raise ConfigError([f"--source: give one of the zammad sources ({names})"])
    client = ZammadClient(sections[0])
    text = zammad_toml(
        client.get("calendars"), client.get("slas"), client.get("ticket_priorities"), client.get("groups")
    )
    sys.stdout.write(text)
    return 0


def _name(text: str) -> str:
    return json.dumps(str(text), ensure_ascii=False)


def _frame(start: str, end: str) -> str:
    return f"{start}-{'24:00' if end == '23:59' else end}"


def calendar_toml(calendar: dict[str, Any]) -> list[str]:
    lines = [
        "[[calendars]]",
        f"name = {_name(calendar['name'])}",
        f"timezone = {_name(calendar.get('timezone') or 'UTC')}",
    ]
    holidays: list[str] = []
    notes: list[str] = []
    for day, entry in sorted((calendar.get("public_holidays") or {}).items()):
        if not isinstance(entry, dict) or not entry.get("active") or entry.get("removed"):
            continue
        try:
            first = date.fromisoformat(day)
        except ValueError:
            notes.append(f"# holiday {day!r} is not a date: left out")
            continue
        if entry.get("recurring"):
            holidays += [first.replace(year=first.year + n).isoformat() for n in range(RECURRING_YEARS + 1)]
            notes.append(f"# {day} {entry.get('summary', '')} recurs yearly: written for {RECURRING_YEARS + 1} years")
        else:
            holidays.append(first.isoformat())
    if calendar.get("ical_url"):
        notes.append(f"# holidays also came from the feed {calendar['ical_url']} (only its current days are here)")
    lines.append(f"holidays = [{', '.join(holidays)}]")
    lines += notes
    lines.append("[calendars.hours]")
    hours = calendar.get("business_hours") or {}
    for day in DAYS:
        entry = hours.get(day) or {}
        if entry.get("active") and entry.get("timeframes"):
            frames = ", ".join(_name(_frame(*frame)) for frame in entry["timeframes"])
            lines.append(f"{day} = [{frames}]")
    return lines


def _minutes(value: Any) -> str | None:
    return f"{int(value)}m" if isinstance(value, int | float) and value > 0 else None


def _condition(
    key: str, rule: dict[str, Any], priorities: dict[str, str], groups: dict[str, str]
) -> tuple[dict | None, str]:
    """One Zammad selector entry as a rule condition, or None and why not."""
    operator = str(rule.get("operator", ""))
    values = rule.get("value")
    values = values if isinstance(values, list) else [values]
    negate = operator in ("is not", "contains not")
    lookups = {
        "ticket.priority_id": ("priority", priorities),
        "ticket.group_id": ("department", groups),
    }
    if key in lookups and operator in ("is", "is not"):
        field, names = lookups[key]
        mapped = [names.get(str(v)) for v in values]
        if None in mapped:
            return None, f"{key} {operator} {values}: unknown ids"
        if field == "priority":
            mapped = [re.sub(r"^\d+\s*", "", n).lower() for n in mapped]
        return {"field": field, "op": "not_in" if negate else "in", "value": mapped}, ""
    if key == "ticket.tags" and operator in ("contains all", "contains one", "contains", "contains not"):
        parts = [{"field": "tags", "op": "not_contains" if negate else "contains", "value": str(v)} for v in values]
        combined = {"any": parts} if operator == "contains one" else {"all": parts}
        return (parts[0] if len(parts) == 1 else combined), ""
    if key in ("ticket.title", "organization.name") and operator in ("contains", "contains not", "is", "is not"):
        field = "organization" if key.startswith("organization") else "title"
        if field == "title":
            return None, f"{key} {operator} {values}: rules have no title field"
        op = {"contains": "contains", "contains not": "not_contains", "is": "equals", "is not": "not_equals"}[operator]
        return {"field": field, "op": op, "value": str(values[0])}, ""
    return None, f"{key} {operator} {json.dumps(values)}: no equivalent"


def _inline(condition: dict) -> str:
    def value(v: Any) -> str:
        if isinstance(v, dict):
            return _inline(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return _name(v)

    return "{ " + ", ".join(f"{k} = {value(v)}" for k, v in condition.items()) + " }"


def zammad_toml(calendars: list[dict], slas: list[dict], priorities: list[dict], groups: list[dict]) -> str:
    by_id = {c["id"]: c for c in calendars if "id" in c}
    default = next((c for c in calendars if c.get("default")), calendars[0] if calendars else None)
    prio_names = {str(p["id"]): p["name"] for p in priorities}
    group_names = {str(g["id"]): g["name"] for g in groups}
    out = ["# Imported from Zammad: review before use. Zammad picks the first matching SLA by name;", ""]
    for calendar in calendars:
        out += calendar_toml(calendar) + [""]
    fallback = None
    rules: list[str] = []
    # Zammad's order: by name, then creation; the first whose condition matches wins
    for sla in sorted(slas, key=lambda s: (s.get("name", ""), s.get("created_at", ""))):
        calendar = by_id.get(sla.get("calendar_id"), default)
        out += [
            "[[levels]]",
            f"name = {_name(sla['name'])}",
            f"calendar = {_name(calendar['name'] if calendar else 'UTC')}",
        ]
        for zammad_key, ours in (
            ("first_response_time", "first_reply"),
            ("response_time", "next_reply"),
            ("solution_time", "resolution"),
        ):
            if _minutes(sla.get(zammad_key)):
                out.append(f"{ours} = {_name(_minutes(sla[zammad_key]))}")
        if _minutes(sla.get("update_time")):
            line = f'next_reply = "{_minutes(sla["update_time"])}"'
            if _minutes(sla.get("response_time")):
                line = "# " + line
            out.append(
                f"{line}   # Zammad update_time (between agent updates); this clock counts from the customer's message"
            )
        out.append("")
        condition = sla.get("condition") or {}
        if not condition:
            fallback = sla["name"]
            continue
        parts, skipped = [], []
        for key, rule in condition.items():
            mapped, why = _condition(key, rule if isinstance(rule, dict) else {}, prio_names, group_names)
            (parts.append(mapped) if mapped else skipped.append(why))
        rules += ["[[rules]]", f"name = {_name('Zammad SLA ' + sla['name'])}"]
        rules += [f"# not translated: {why}" for why in skipped]
        if parts:
            when = parts[0] if len(parts) == 1 else {"all": parts}
            rules += [f"when = {_inline(when)}", f"set_level = {_name(sla['name'])}", "stop = true", ""]
        else:
            rules += [
                "active = false   # nothing of its condition could be translated",
                'when = { field = "tags", op = "contains", value = "-" }',
                f"set_level = {_name(sla['name'])}",
                "",
            ]
    out += rules
    if fallback:
        out += ["# Zammad's fallback SLA (no condition): in [connector]", f"# default_level = {_name(fallback)}", ""]
    return "\n".join(out)
