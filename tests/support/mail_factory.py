"""Test mail, built the way mail clients write it."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime


def build_mail(
    sender: str, subject: str, when: datetime, ident: str, reply_to=(), to="support@help.example", **headers: str
) -> bytes:
    """A message with Message-ID <ident>, In-Reply-To and References from `reply_to`, and extra
    headers given as keywords (Auto_Submitted="auto-replied" becomes Auto-Submitted)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = f"<{ident}>"
    if reply_to:
        message["In-Reply-To"] = f"<{reply_to[-1]}>"
        message["References"] = " ".join(f"<{r}>" for r in reply_to)
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("text")
    return bytes(message)
