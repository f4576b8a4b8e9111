"""Which adapter class serves which config section; imported lazily, so a Zammad user never
imports the MySQL driver.

Public API: `build(section, state_dir) -> Adapter`, `KINDS`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from adapters.base import Adapter
from connector.config.sources import SourceSection
from connector.core.errors import ConfigError

# kind -> "module:Class"
KINDS: dict[str, str] = {
    "email": "adapters.email.adapter:EmailAdapter",
    "osticket": "adapters.osticket.adapter:OsticketAdapter",
    "zammad": "adapters.zammad.adapter:ZammadAdapter",
}


def build(section: SourceSection, state_dir: Path) -> Adapter:
    """The adapter for a section; `state_dir` is where an adapter may keep a cache of its own."""
    target = KINDS.get(section.kind)
    if target is None:
        available = ", ".join(sorted(KINDS))
        raise ConfigError(
            [f"[{section.kind}]: this version has no {section.kind} adapter yet (available: {available})"]
        )
    module_name, class_name = target.split(":")
    adapter_class = getattr(importlib.import_module(module_name), class_name)
    return adapter_class(section, state_dir)
