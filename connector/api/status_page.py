"""`/`: the status page a support lead opens in the morning: what is about to breach, what
breached today, and compliance per week over the last quarter. Plain HTML and an inline SVG,
readable on a phone; times in the report time zone.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from connector.analytics.forecast import HISTORY_DAYS, Risk, breach_risks, clock_key
from connector.api.auth import page_token
from connector.api.chart import weekly_compliance_svg
from connector.api.context import Context, context
from connector.core.durations import format_duration
from connector.reports.queries import Filters

router = APIRouter(tags=["status page"])

AT_RISK_SHOWN = 25
QUARTER_WEEKS = 13

STYLE = """
:root { color-scheme: light; --ink: #1c2430; --muted: #5b6675; --line: #dde2e8; --bad: #b42318; --warn: #b54708; --ok: #067647; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f6f7f9; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.meta { color: var(--muted); font-size: .9rem; margin: 0; }
.cards { display: flex; gap: .75rem; flex-wrap: wrap; margin-top: 1rem; }
.card { flex: 1 1 9rem; background: #fff; border: 1px solid var(--line); border-radius: .5rem; padding: .75rem 1rem; }
.card b { display: block; font-size: 1.8rem; line-height: 1.1; }
.card.bad b { color: var(--bad); }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); border-radius: .5rem; }
th, td { text-align: left; padding: .5rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
td.due, td.left { white-space: nowrap; } td.left { font-weight: 600; } tr.overdue td.left { color: var(--bad); } tr.soon td.left { color: var(--warn); }
a { color: #1849a9; }
.empty { color: var(--muted); background: #fff; border: 1px solid var(--line); border-radius: .5rem; padding: .75rem 1rem; }
.chart { width: 100%; height: auto; background: #fff; border: 1px solid var(--line); border-radius: .5rem; }
.chart .bar.good { fill: #12b76a; } .chart .bar.fair { fill: #f79009; } .chart .bar.poor { fill: #f04438; } .chart .bar.none { fill: #d0d5dd; }
.chart .grid { stroke: #eaecf0; } .chart text { font-size: 11px; fill: var(--muted); } .chart .value { fill: var(--ink); }
@media (max-width: 40rem) {
  main { padding: .6rem; }
  thead { display: none; }
  table, tbody, tr, td { display: block; width: 100%; }
  tr { border-bottom: 1px solid var(--line); padding: .4rem 0; }
  td { border: 0; padding: .15rem .6rem; }
  td::before { content: attr(data-label) ": "; color: var(--muted); font-size: .85rem; }
  td.ticket::before { content: ""; }
  td.ticket { font-weight: 600; }
  .chart text { font-size: 18px; }
}
"""


def _left(left: timedelta | None) -> str:
    if left is None:
        return "?"
    if left < timedelta(0):
        return f"{format_duration(-left)} overdue"
    return format_duration(left) if left else "due now"


def _chance(risk: Risk | None) -> str:
    """The breach chance as `report due --forecast` gives it: the percent, and its two counts."""
    if risk is None or risk.percent is None:  # no past clock of its kind ran as long
        return "no history"
    if risk.went_past is None:  # past its target already
        return f"{risk.percent} %"
    return f"{risk.percent} % ({risk.went_past} of {risk.ran_as_long})"


def _links(ctx: Context, tickets: list[str]) -> dict[str, str]:
    """The helpdesk's link of each shown ticket, where its adapter gave one."""
    if not tickets:
        return {}
    marks = ", ".join("?" for _ in tickets)
    rows = ctx.store.db.execute(
        f"SELECT coalesce(number, external_id), web_url FROM tickets WHERE web_url IS NOT NULL AND web_url != '' "
        f"AND coalesce(number, external_id) IN ({marks})",
        tickets,
    )
    return {key: url for key, url in rows if url.startswith(("https://", "http://"))}


def _weeks(ctx: Context, today: date) -> list[tuple[str, Decimal | None, int]]:
    first = today - timedelta(days=today.weekday(), weeks=QUARTER_WEEKS - 1)
    found = {
        row[0]: (row[-1], row[1] + row[5])
        for row in ctx.reports.compliance(Filters(start=first, end=today), "week").rows
    }
    weeks = []
    for n in range(QUARTER_WEEKS):
        year, week, _ = (first + timedelta(weeks=n)).isocalendar()
        label = f"{year}-W{week:02d}"
        percent, records = found.get(label, (None, 0))
        weeks.append((label, percent, records))
    return weeks


def render(ctx: Context) -> str:
    zone = ctx.reports.zone
    today = ctx.now.astimezone(zone).date()
    table = ctx.reports.due(Filters())
    queue = list(table.rows)
    left_at = [column.name for column in table.columns].index("left")
    shown = queue[:AT_RISK_SHOWN]
    links = _links(ctx, [row[0] for row in shown if row[0]])
    risks = breach_risks(ctx.store, ctx.settings, ctx.now, {clock_key(r[0], r[1], r[4], r[5]) for r in shown})
    overdue = sum(1 for row in queue if row[left_at] is not None and row[left_at] < timedelta(0))
    today_rows = list(ctx.reports.compliance(Filters(start=today, end=today), "date").rows)
    breached_today = sum(row[5] for row in today_rows)
    met_today = sum(row[1] for row in today_rows)
    weeks = _weeks(ctx, today)
    first_week = today - timedelta(days=today.weekday(), weeks=QUARTER_WEEKS - 1)

    body: list[str] = []
    for ticket, requester, _name, title, level, metric, due, left, next_step, status in shown:
        risk = risks.get(clock_key(ticket, requester, level, metric))
        percent = "" if risk is None or risk.percent is None else str(risk.percent)
        tone = (
            "overdue"
            if left is not None and left < timedelta(0)
            else "soon"
            if left is not None and left < timedelta(hours=1)
            else ""
        )
        name = escape(ticket or "?")
        cell = f'<a href="{escape(links[ticket])}" rel="noreferrer">{name}</a>' if ticket in links else name
        body.append(
            f'<tr class="ticket-row {tone}" data-ticket="{name}" data-metric="{escape(metric)}">'
            f'<td class="ticket" data-label="Ticket">{cell} {escape(title or "")}</td>'
            f'<td data-label="Requester">{escape(requester or "")}</td>'
            f'<td data-label="SLA">{escape(level or "")} · {escape(metric.replace("_", " "))}</td>'
            f'<td class="due" data-label="Due">{escape((due or "")[:16].replace("T", " "))}</td>'
            f'<td class="left" data-label="Business time left">{escape(_left(left))}{" (paused)" if status == "paused" else ""}</td>'
            f'<td data-label="Next step">{escape((next_step or "none")[:16].replace("T", " "))}</td>'
            f'<td class="risk" data-label="Breach chance" data-risk="{percent}">{escape(_chance(risk))}</td>'
            "</tr>"
        )
    if body:
        at_risk = (
            '<table id="at-risk"><thead><tr><th>Ticket</th><th>Requester</th><th>SLA</th><th>Due</th>'
            "<th>Business time left</th><th>Next step</th><th>Breach chance</th></tr></thead><tbody>"
            + "".join(body)
            + "</tbody></table>"
            + f'<p class="meta">Breach chance: of the clocks of the same level and metric started in the last {HISTORY_DAYS} '
            "days that ran as long as this one has, the share that went past its target (as "
            "<code>report due --forecast</code> shows it).</p>"
        )
        if len(queue) > len(shown):
            at_risk += f'<p class="meta">{len(queue) - len(shown)} more in <a href="/api/v1/reports/due?format=csv">the due queue (CSV)</a>.</p>'
    else:
        at_risk = '<p class="empty" id="at-risk">No open SLA clock: nothing is about to breach.</p>'

    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="300">
<title>SLA status</title><style>{STYLE}</style></head>
<body><main>
<h1>SLA status</h1>
<p class="meta">As of {ctx.now.astimezone(zone):%Y-%m-%d %H:%M} ({escape(str(zone))}); refreshes every 5 minutes.</p>
<section class="cards">
<div class="card" id="open-count"><b>{len(queue)}</b>open SLA clocks</div>
<div class="card{" bad" if overdue else ""}" id="overdue-count"><b>{overdue}</b>overdue now</div>
<div class="card{" bad" if breached_today else ""}" id="breaches-today"><b>{breached_today}</b>breached today</div>
<div class="card" id="met-today"><b>{met_today}</b>met today</div>
</section>
<h2>At risk, next due first</h2>
{at_risk}
<h2>Compliance per week, last quarter</h2>
{weekly_compliance_svg(weeks)}
<p class="meta">Share of decided SLA records met in each ISO week (numbered below the bars). <a href="/api/v1/reports/compliance?format=csv&amp;group_by=week&amp;from={first_week.isoformat()}&amp;to={today.isoformat()}">CSV</a> · <a href="/docs">API</a></p>
</main></body></html>
"""


@router.get("/", response_class=HTMLResponse, dependencies=[Depends(page_token)])
def status_page(ctx: Annotated[Context, Depends(context)]) -> HTMLResponse:
    """The status page: at-risk tickets, breaches today, compliance per week (HTML)."""
    return HTMLResponse(render(ctx))
