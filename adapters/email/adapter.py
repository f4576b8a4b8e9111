"""The e-mail source: a local Maildir or an IMAP account.

Public API: `EmailAdapter(section)` with `check()`.
"""

from __future__ import annotations

from pathlib import Path

from connector.config_sections import EmailSection
from connector.errors import PermanentSourceError

MAILDIR_FOLDERS = ("cur", "new", "tmp")


class EmailAdapter:
    def __init__(self, section: EmailSection):
        self.section = section

    def check(self) -> str:
        if self.section.maildir is not None:
            return self._check_maildir(self.section.maildir)
        raise PermanentSourceError(f"{self.section.name}: IMAP mailboxes are not supported by this version yet")

    def _check_maildir(self, path: Path) -> str:
        missing = [name for name in MAILDIR_FOLDERS if not (path / name).is_dir()]
        if missing:
            raise PermanentSourceError(
                f"{self.section.name}: {path} is not a Maildir (missing {', '.join(missing)}/)"
            )
        count = sum(1 for name in ("cur", "new") for entry in (path / name).iterdir() if not entry.name.startswith("."))
        return f"maildir {path}: {count} messages"
