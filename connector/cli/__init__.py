"""The `sla-connector` command: one module per command family; `main` is the entry point.

The top layer: it may import every other one.
"""

from connector.cli.main import main

__all__ = ["main"]
