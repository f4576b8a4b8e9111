"""`sla-connector serve` and `run --serve` as real processes on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from connector.api.tokens import hash_token
from tests.conftest import ROOT
from tests.support.engine_helpers import CALENDARS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def service_config(tmp_path):
    shutil.copytree(ROOT / "examples" / "mailbox", tmp_path / "mailbox")
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        CALENDARS
        + f"""
[connector]
database = "{tmp_path / "sla.db"}"
default_level = "Standard"
poll_interval = "10m"
[[levels]]
name = "Standard"
calendar = "always"
first_reply = "1h"
[email]
maildir = "mailbox"
agent_domains = ["help.example"]
sent_folder = "Sent"
[api]
port = {port}
"""
    )
    return config, f"http://127.0.0.1:{port}"


def start(config, *command: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "--config", str(config), *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for(url: str, process: subprocess.Popen, ready=lambda answer: True, within: float = 30.0) -> requests.Response:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            answer = requests.get(url, timeout=2)
            if ready(answer):
                return answer
        except requests.ConnectionError:
            pass
        time.sleep(0.1)  # polling a starting process: nothing to be notified by
    raise AssertionError(f"{url} did not become ready")


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    return output


def test_run_serve_runs_the_service_and_the_api_in_one_process(service_config):
    config, url = service_config
    process = start(config, "run", "--serve")
    try:
        health = wait_for(
            url + "/healthz", process, lambda a: a.status_code == 200 and a.json()["sources"][0]["last_success_at"]
        )
        assert health.json()["sources"][0]["name"] == "email"
        due = requests.get(url + "/api/v1/reports/due", timeout=10)
        assert due.status_code == 200 and due.json()["rows"], "the example mailbox has open tickets"
        assert "SLA status" in requests.get(url + "/", timeout=10).text
    finally:
        stop(process)


def test_serve_alone_reads_the_store_the_service_wrote_and_asks_for_tokens(service_config, tmp_path):
    config, url = service_config
    assert (
        subprocess.run([sys.executable, "-m", "connector", "--config", str(config), "sync", "--once"]).returncode == 0
    )
    tokens = tmp_path / "tokens"
    hashed = subprocess.run(
        [sys.executable, "-m", "connector", "serve", "--hash-token"],
        input="lead-token\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert hashed == hash_token("lead-token")
    tokens.write_text(hashed + "\n")
    config.write_text(config.read_text() + f'tokens_file = "{tokens}"\n')
    before = (tmp_path / "sla.db").read_bytes()
    process = start(config, "serve")
    try:
        wait_for(url + "/openapi.json", process)
        assert requests.get(url + "/api/v1/reports/due", timeout=10).status_code == 401
        answer = requests.get(url + "/api/v1/reports/due", headers={"Authorization": "Bearer lead-token"}, timeout=10)
        assert answer.status_code == 200 and answer.json()["rows"]
    finally:
        stop(process)
    assert (tmp_path / "sla.db").read_bytes() == before  # the API wrote nothing
