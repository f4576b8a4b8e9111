"""Escalation notices by SMTP, marked as machine mail so no auto-reply comes back.

Public API: `send_notice(smtp_section, action, ticket_id, recipients)`, `build_notice(...)`.
SMTP errors are translated here, in one place: refused credentials -> AuthFailed, 5xx answers ->
PermanentSourceError, 4xx answers, timeouts and connection errors -> TransientSourceError.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from adapters.email.parse import OWN_HEADER
from connector.core.errors import AuthFailed, PermanentSourceError, TransientSourceError
from connector.core.escalation import Action

TIMEOUT = 30


def build_notice(sender: str, action: Action, ticket_id: str, recipients: list[str]) -> EmailMessage:
    notice = EmailMessage()
    notice["From"] = sender
    notice["To"] = ", ".join(recipients)
    notice["Subject"] = f"{action.payload['subject']} [#{ticket_id}]"
    notice["Date"] = formatdate(localtime=False)
    # the same action always gets the same Message-ID: a repeat is recognisable as one
    notice["Message-ID"] = f"<{hashlib.sha1(action.key.encode()).hexdigest()}@sla-connector.invalid>"
    notice["Auto-Submitted"] = "auto-generated"
    notice["X-Auto-Response-Suppress"] = "All"
    notice[OWN_HEADER] = action.key
    notice.set_content(action.payload["body"])
    return notice


def send_notice(section, action: Action, ticket_id: str, recipients: list[str]) -> None:
    if not recipients:
        raise PermanentSourceError(
            f"notice {action.key}: nobody to send it to (set escalation.leads or email.notify_to)"
        )
    where = f"SMTP {section.host}:{section.port}"
    notice = build_notice(section.sender, action, ticket_id, recipients)
    try:
        if section.security == "tls":
            client = smtplib.SMTP_SSL(section.host, section.port, timeout=TIMEOUT, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(section.host, section.port, timeout=TIMEOUT)
        with client:
            if section.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if section.user:
                client.login(section.user, section.password.get_secret_value() if section.password else "")
            client.send_message(notice, to_addrs=recipients)
    except smtplib.SMTPAuthenticationError as exc:
        raise AuthFailed(f"{where}: login refused ({exc.smtp_code})") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentSourceError(f"{where}: recipients refused: {', '.join(exc.recipients)}") from None
    except smtplib.SMTPResponseException as exc:
        kind = PermanentSourceError if 500 <= exc.smtp_code < 600 else TransientSourceError
        raise kind(f"{where}: {exc.smtp_code} {exc.smtp_error.decode(errors='replace')}") from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise TransientSourceError(f"{where}: {type(exc).__name__}: {exc}") from None
