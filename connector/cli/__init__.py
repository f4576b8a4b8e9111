"""The `sla-connector` command: one module per command family; `main` is the entry point."""

from connector.cli.main import main

__all__ = ["main"]
