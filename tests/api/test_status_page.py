"""The status page as a browser shows it: headless Chromium (Debian's `chromium`, which
scripts/test.sh installs when missing) reads the page from the real server; the DOM is checked
and a screenshot at a desktop's and at a phone's width is written to test-artifacts/."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def chromium(tmp_path: Path, *args: str) -> str:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is missing: run the tests with scripts/test.sh, which installs it")
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    done = subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Elements(HTMLParser):
    """Every element's tag and attributes, and the text inside each table row."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.rows: list[str] = []
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        self.found.append((tag, attributes))
        if tag == "tr" and "ticket-row" in attributes.get("class", ""):
            self._row = []

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.rows.append(" ".join("".join(self._row).split()))
            self._row = None

    def handle_data(self, data):
        if self._row is not None:
            self._row.append(data + " ")

    def with_class(self, tag: str, name: str) -> list[dict[str, str]]:
        return [a for t, a in self.found if t == tag and name in a.get("class", "").split()]


def test_the_page_shows_the_at_risk_tickets_and_a_bar_per_week(api, tmp_path):
    dom = Elements()
    dom.feed(chromium(tmp_path, "--dump-dom", api.url + "/"))
    # next due first: overdue 1002, then the mailbox ticket due in 30 minutes, then 1002's next reply
    assert [row.split(" ")[0] for row in dom.rows] == ["1002", "<m3@mail.example>", "1002"]
    assert "1h overdue" in dom.rows[0] and "30m" in dom.rows[1] and "1d23h" in dom.rows[2]
    assert "2026-11-05 15:15" in dom.rows[1]  # the next step, in the report time zone
    assert "VPN <down> & out" in dom.rows[1]  # escaped, shown as written
    links = [a["href"] for t, a in dom.found if t == "a" and "zoom" in a.get("href", "")]
    assert links == ["https://help.example/#ticket/zoom/2", "https://help.example/#ticket/zoom/2"]
    bars = dom.with_class("rect", "bar")
    assert len(bars) == 13
    assert [b["data-week"] for b in bars][-1] == "2026-W45" and bars[0]["data-week"] == "2026-W33"
    assert [b["data-week"] for b in dom.with_class("rect", "none")] == ["2026-W38"]
    breaches = next(a for t, a in dom.found if a.get("id") == "breaches-today")
    assert "bad" in breaches["class"]
    assert not [t for t, _ in dom.found if t == "script"]


@pytest.mark.parametrize("name, size", [("desktop", "1280,1500"), ("phone", "390,1800")])
def test_screenshots(api, tmp_path, name, size):
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"status-page-{name}.png"
    target.unlink(missing_ok=True)
    chromium(tmp_path, f"--window-size={size}", f"--screenshot={target}", api.url + "/")
    assert target.stat().st_size > 10_000
    with target.open("rb") as image:
        header = image.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(header[16:20], "big")
    assert width == int(size.split(",")[0])


def test_the_breach_chance_is_the_forecast_s(api, cli):
    import json

    forecast = json.loads(cli("due", "--forecast", "--format", "json"))
    expected = {(row["ticket"], row["metric"]): row for row in forecast}
    dom = Elements()
    dom.feed(api.get("/").text)
    cells = dom.with_class("td", "risk")
    rows = [row.split(" ")[0] for row in dom.rows]
    metrics = [a["data-metric"] for a in dom.with_class("tr", "ticket-row")]
    assert len(cells) == len(rows) == 3
    shown = {(ticket, metric): cell["data-risk"] for ticket, metric, cell in zip(rows, metrics, cells)}
    assert shown == {key: row["risk"] or "" for key, row in expected.items()}
    # the overdue clock is certain, the one due in 30 minutes has a figure from history, the next
    # reply has no past clock of its kind
    assert shown["1002", "first_reply"] == "100.00"
    assert shown["<m3@mail.example>", "first_reply"] not in ("", "100.00")
    assert shown["1002", "next_reply"] == ""
    page = api.get("/").text
    mail = expected["<m3@mail.example>", "first_reply"]
    assert f"{mail['risk']} % ({mail['past_went_past']} of {mail['past_ran_as_long']})" in page
    assert "no history" in page
