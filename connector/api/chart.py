"""Compliance per week as an SVG bar chart, drawn on the server: no script needed to read it.

Public API: `weekly_compliance_svg(weeks)` with `weeks` = [(label, percent or None, records)].
One `rect.bar` per week; a week with no decided record gets an empty bar marked "no data".
"""

from __future__ import annotations

from decimal import Decimal
from html import escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 58, 6, 24, 34


def weekly_compliance_svg(weeks: list[tuple[str, Decimal | None, int]]) -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(weeks))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        '<title id="chart-title">Compliance per week</title>',
    ]
    for percent in (0, 50, 100):
        y = TOP + plot_h * (1 - percent / 100)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{percent}%</text>')
    for i, (label, percent, records) in enumerate(weeks):
        x = LEFT + i * slot + slot * 0.15
        width = slot * 0.7
        value = float(percent) if percent is not None else 0.0
        height = plot_h * value / 100
        tone = "none" if percent is None else "good" if value >= 95 else "fair" if value >= 85 else "poor"
        text = f"{label}: {percent}% of {records} records" if percent is not None else f"{label}: no data"
        parts.append(
            f'<rect class="bar {tone}" data-week="{escape(label)}" data-compliance="{"" if percent is None else percent}" '
            f'x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{width:.1f}" height="{height:.1f}">'
            f"<title>{escape(text)}</title></rect>"
        )
        if percent is not None and slot >= 30:
            parts.append(
                f'<text class="value" x="{x + width / 2:.1f}" y="{TOP + plot_h - height - 3:.1f}" '
                f'text-anchor="middle">{value:.0f}</text>'
            )
        if percent is None:
            parts.append(
                f'<text class="value none" x="{x + width / 2:.1f}" y="{TOP + plot_h - 4:.1f}" text-anchor="middle">–</text>'
            )
        week = label.rsplit("W", 1)[-1]
        parts.append(
            f'<text class="axis" x="{x + width / 2:.1f}" y="{HEIGHT - BOTTOM + 22}" text-anchor="middle">{week}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
