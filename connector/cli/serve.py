"""`sla-connector serve`: the read-only HTTP API, metrics and status page (the `api` extra)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from connector.config.settings import config_path, load_config
from connector.core.errors import ConfigError


def add_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="the HTTP API, Prometheus metrics and the status page (read-only)",
        description="Serve the reports as JSON and CSV under /api/v1/, /healthz, /metrics, a status page at / "
        "and the API's description at /docs, on [api] listen and port (default 127.0.0.1:8750). "
        "It opens the database read-only, so it runs beside the service safely. Needs "
        "pip install 'sla-connector[api]'.",
    )
    serve.add_argument(
        "--hash-token",
        action="store_true",
        help="read a token on standard input and print the line to put in [api] tokens_file instead of it",
    )
    serve.set_defaults(handler=cmd_serve)


def api_module(name: str) -> Any:
    """connector.api.<name>, or a clear error when the extra is not installed."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ConfigError(["the API needs its extra: pip install 'sla-connector[api]'"]) from None
    from importlib import import_module

    return import_module(f"connector.api.{name}")


def cmd_serve(args: argparse.Namespace) -> int:
    if args.hash_token:
        from connector.api.tokens import hash_token

        token = sys.stdin.readline().strip()
        if not token:
            raise ConfigError(["--hash-token: no token on standard input"])
        print(hash_token(token))
        return 0
    settings = load_config(config_path(args.config))
    api_module("server").serve(settings)
    return 0
