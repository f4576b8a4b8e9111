"""Serving the API with uvicorn: `serve(settings)` blocks until SIGINT/SIGTERM; `Server` runs it
on a given socket in a thread (for `run --serve` and the tests), where uvicorn leaves the signals
to the main thread.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import socket
import threading
from typing import Any

import uvicorn

from connector.api.app import create_app

log = logging.getLogger("sla_connector.api")


def _warn_if_open(settings: Any, app) -> None:
    try:
        loopback = ipaddress.ip_address(settings.api.listen).is_loopback
    except ValueError:
        loopback = settings.api.listen == "localhost"
    if not loopback and not app.state.sla.tokens.required:
        log.warning(
            "the API listens on %s without a tokens_file: anyone who reaches it reads the reports", settings.api.listen
        )


def config(app, **kwargs: Any) -> uvicorn.Config:
    # uvicorn's own access log would repeat every scrape; errors still reach the log
    return uvicorn.Config(app, access_log=False, log_config=None, server_header=False, **kwargs)


def serve(settings: Any) -> None:
    app = create_app(settings)
    _warn_if_open(settings, app)
    log.info("API on http://%s:%s/ reading %s", settings.api.listen, settings.api.port, settings.connector.database)
    server = uvicorn.Server(config(app, host=settings.api.listen, port=settings.api.port))
    # SIGTERM (systemd's stop) and Ctrl-C finish the requests in flight, then exit 0; uvicorn's own
    # handling would end the process by the signal again
    server.capture_signals = contextlib.nullcontext
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: setattr(server, "should_exit", True))
    server.run()


class Server:
    """The API on an already bound socket, served by uvicorn in a background thread."""

    def __init__(self, app, sock: socket.socket):
        self.sock = sock
        self.server = uvicorn.Server(config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self, timeout: float = 10.0) -> Server:
        self.thread.start()
        started = threading.Event()
        while not self.server.started and self.thread.is_alive():
            started.wait(0.01)  # uvicorn offers no event to wait on; poll its flag
        if not self.server.started:
            raise RuntimeError("the API server did not start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock
