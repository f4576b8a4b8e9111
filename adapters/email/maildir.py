"""Reading a local Maildir (Maildir++ folders, Dovecot keyword letters), read-only.

Public API: `scan_maildir(root, folders, known, warn, prefixes, trust_ctime) -> MaildirChanges`
(what changed since the files `known`, reading only new files), `read_maildir(root, folders, warn)
-> list[Envelope]` (everything, for a one-off read), `is_maildir(path)`, `folder_paths(root)`.

A file is known by its unique name, the part before `:2,`: a flag change renames only what follows,
a move to another folder keeps it. So a cycle lists the directories, reads the files whose name
it has not seen, and for the others only compares folder and flags letters.

A message's arrival time is its file's mtime (what Dovecot uses as INTERNALDATE); its change
time is the file's ctime, which a move to another folder or a flag change (both renames) also
updates. Flags are the letters after `:2,`: upper case are the standard ones, lower case are
keywords named in that folder's `dovecot-keywords`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from adapters.email.parse import Mail, parse_mail
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


@dataclass
class MaildirChanges:
    # (unique name, folder, flags suffix, flags, arrival, mail, entered its folder when known)
    new: list[tuple[str, str, str, frozenset[str], datetime, Mail, datetime | None]] = field(default_factory=list)
    # (unique name, folder, flags suffix, flags, moved in when: None for a flag change)
    renamed: list[tuple[str, str, str, frozenset[str], datetime | None]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    listed: int = 0


def scan_maildir(
    root: Path,
    folders: list[str] | None,
    known: dict[str, set[str]],
    lookup: Callable[[str], tuple[str, str] | None],
    warn: Callable[[str], None],
    prefixes: re.Pattern[str] | None = None,
    trust_ctime: bool = True,
) -> MaildirChanges:
    """What changed since the files `known` (folder -> file names read); `lookup` gives a unique
    name's folder and flags suffix as read. Each folder's listing is compared with what was read
    as sets, so unchanged files cost no Python work. A file's change time says when it entered
    its folder (a move is a rename, and a rename sets it); on a first read (`trust_ctime` false)
    it may be a copy's or a restore's time, so it is not used. Flags suffixes are kept with their
    `:2,` (a file in new/ has none)."""
    changes = MaildirChanges()
    extra = [prefixes] if prefixes else []
    appeared: dict[str, tuple[str, str, str]] = {}  # unique name -> folder, file name, path
    vanished: set[str] = set()
    keywords: dict[Path, dict[str, str]] = {}
    for name, path in folder_paths(root).items():
        if folders is not None and name not in folders:
            continue
        listing: dict[str, str] = {}
        for sub in ("new", "cur"):
            files = os.listdir(path / sub)
            changes.listed += len(files)
            listing.update(dict.fromkeys(files, sub))
        before = known.get(name, set())
        for file in listing.keys() - before:
            if not file.startswith("."):
                appeared[file.partition(":2,")[0]] = (name, file, str(path / listing[file] / file))
        vanished.update(file.partition(":2,")[0] for file in before - listing.keys())
    for base, (name, file, full) in appeared.items():
        info = file[len(base) :]
        folder_dir = Path(full).parent.parent
        if folder_dir not in keywords:
            keywords[folder_dir] = _keywords(folder_dir)
        letters = keywords[folder_dir]
        flagged = info.partition(":2,")[2]
        flags = frozenset(
            {STANDARD_FLAGS[c] for c in flagged if c in STANDARD_FLAGS} | {letters[c] for c in flagged if c in letters}
        )
        try:
            stat = os.stat(full)
        except OSError:  # moved away meanwhile: the next cycle sees it where it went
            vanished.discard(base)
            continue
        entered = datetime.fromtimestamp(stat.st_ctime_ns / 1e9, UTC) if trust_ctime else None
        was = lookup(base) if known else None  # a first read: nothing to look up
        if was is not None:
            changes.renamed.append((base, name, info, flags, entered if was[0] != name else None))
            vanished.discard(base)
            continue
        where = f"{name}/{base}"
        try:
            raw = Path(full).read_bytes()
        except OSError as exc:
            warn(f"{where}: cannot read ({exc.strerror}); skipped this cycle")
            continue
        arrived = datetime.fromtimestamp(stat.st_mtime, UTC)
        mail = parse_mail(raw, where, arrived, *extra)
        for warning in mail.warnings:
            warn(warning)
        changes.new.append((base, name, info, flags, arrived, mail, entered))
    changes.gone = vanished - appeared.keys()
    return changes
