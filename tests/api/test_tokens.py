"""The tokens file: hashed or plain lines, clear errors naming the file and line; what needs a token."""

from __future__ import annotations

import pytest
import requests

from connector.api.app import create_app
from connector.api.server import Server, bind
from connector.api.tokens import hash_token, load_tokens
from connector.core.errors import ConfigError
from tests.api.conftest import NOW, TOKEN


def test_hashed_and_plain_tokens_and_comments(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(f"# the finance team\n\n{hash_token('alpha')}\n  beta  \n")
    tokens = load_tokens(path)
    assert tokens.required and len(tokens.digests) == 2
    assert tokens.accepts("alpha") and tokens.accepts("beta")
    assert not tokens.accepts(hash_token("alpha")) and not tokens.accepts("") and not tokens.accepts(None)
    assert "alpha" not in path.read_text()  # at rest only its digest
    assert not load_tokens(None).required


@pytest.mark.parametrize(
    "text, message",
    [
        ("# nobody\n", "holds no token"),
        ("ok-token\nsha256:abc\n", "line 2: a hashed token is sha256: and 64 hex digits"),
    ],
)
def test_a_bad_tokens_file_is_named(tmp_path, text, message):
    path = tmp_path / "tokens"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_tokens(path)
    assert message in info.value.problems[0] and "tokens" in info.value.problems[0]
    with pytest.raises(ConfigError, match="cannot read"):
        load_tokens(tmp_path / "missing")


def test_status_page_behind_the_token_and_metrics_left_open(api):
    settings = api.settings.model_copy(
        update={
            "api": api.settings.api.model_copy(update={"status_page_needs_token": True, "metrics_need_token": False})
        }
    )
    server = Server(create_app(settings, clock=lambda: NOW), bind("127.0.0.1", 0)).start()
    try:
        page = requests.get(server.url + "/", timeout=10)
        assert page.status_code == 401 and page.headers["www-authenticate"].startswith("Basic")
        assert requests.get(server.url + "/", auth=("lead", TOKEN), timeout=10).status_code == 200
        assert requests.get(server.url + "/metrics", timeout=10).status_code == 200
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 503  # open, and the mailbox fails
        assert requests.get(server.url + "/api/v1/reports/due", timeout=10).status_code == 401
    finally:
        server.stop()
