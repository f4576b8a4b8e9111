"""Reading a local Maildir (Maildir++ folders, Dovecot keyword letters), read-only.

Public API: `read_maildir(root, folders, log) -> list[Envelope]`, `is_maildir(path)`.

A message's arrival time is its file's mtime (what Dovecot uses as INTERNALDATE); its change
time is the file's ctime, which a move to another folder or a flag change (both renames) also
updates. Flags are the letters after `:2,`: upper case are the standard ones, lower case are
keywords named in that folder's `dovecot-keywords`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from adapters.email.parse import parse_mail
from adapters.email.threads import Envelope

STANDARD_FLAGS = {"D": "\\draft", "F": "\\flagged", "P": "\\passed", "R": "\\answered", "S": "\\seen", "T": "\\deleted"}
INBOX = "INBOX"


def is_maildir(path: Path) -> bool:
    return all((path / name).is_dir() for name in ("cur", "new", "tmp"))


def folder_paths(root: Path) -> dict[str, Path]:
    """INBOX is the root; Maildir++ folders are `.Name` (nested: `.Parent.Child`)."""
    found = {INBOX: root}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") and entry.name not in (".", "..") and is_maildir(entry):
            found[entry.name[1:]] = entry
    return found


def _keywords(folder: Path) -> dict[str, str]:
    try:
        lines = (folder / "dovecot-keywords").read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    letters = {}
    for line in lines:
        index, _, name = line.partition(" ")
        if index.isdigit() and int(index) < 26 and name:
            letters[chr(ord("a") + int(index))] = name.lower()
    return letters


def read_maildir(
    root: Path, folders: list[str] | None, warn: Callable[[str], None], prefixes: re.Pattern[str] | None = None
) -> list[tuple[Envelope, int]]:
    """Every message of the chosen folders, with the time it last changed (ctime, in ns: exact)."""
    envelopes = []
    for name, path in folder_paths(root).items():
        if folders is not None and name not in folders:
            continue
        letters = _keywords(path)
        for sub in ("new", "cur"):
            for entry in os.scandir(path / sub):
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                base, _, info = entry.name.partition(":2,")
                flags = {STANDARD_FLAGS[c] for c in info if c in STANDARD_FLAGS}
                flags |= {letters[c] for c in info if c in letters}
                stat = entry.stat()
                arrived = datetime.fromtimestamp(stat.st_mtime, UTC)
                where = f"{name}/{base}"
                try:
                    raw = Path(entry.path).read_bytes()
                except OSError as exc:  # moved away while we read: the next cycle sees it where it went
                    warn(f"{where}: cannot read ({exc.strerror}); skipped this cycle")
                    continue
                mail = parse_mail(raw, where, arrived, *([prefixes] if prefixes else []))
                for warning in mail.warnings:
                    warn(warning)
                envelopes.append((Envelope(where, name, frozenset(flags), arrived, mail), stat.st_ctime_ns))
    return envelopes
