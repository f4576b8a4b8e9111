"""/docs and /redoc work without Internet access: every script, style and icon they load is
served by the API itself, from the package."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*\(\s*["']?([^"')]+)""", re.IGNORECASE)
EXTERNAL = re.compile(r"""["'(]\s*(?:https?:)?//[a-z0-9.-]+""", re.IGNORECASE)


@pytest.mark.parametrize("page, scripts", [("/docs", ["swagger-ui-bundle.js"]), ("/redoc", ["redoc.standalone.js"])])
def test_the_docs_load_nothing_from_another_host(api, page, scripts):
    answer = api.session.get(api.url + page, timeout=30, headers={"Authorization": ""})  # open without a token
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert not EXTERNAL.findall(html), "the page names another host"
    assets = [a or b for a, b in ASSET.findall(html)]
    assert all(any(asset.endswith(name) for asset in assets) for name in scripts), assets
    for asset in assets:
        url = urljoin(api.url + page, asset)
        assert urlsplit(url).netloc == urlsplit(api.url).netloc, asset
        loaded = api.session.get(url, timeout=30)
        assert loaded.status_code == 200, asset
        assert len(loaded.content) > 100, asset
        if asset.endswith(".js"):
            assert "javascript" in loaded.headers["content-type"]


def test_the_docs_read_this_api_s_schema(api):
    html = api.get("/docs").text
    assert "'/openapi.json'" in html or '"/openapi.json"' in html
    assert api.get("/openapi.json").json()["info"]["title"] == "SLA Connector"
