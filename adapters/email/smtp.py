"""Escalation notices by SMTP, marked as machine mail so no auto-reply comes back. Any adapter
that sends e-mail (`notify`) uses this module with its own `SmtpSection`.

Public API:
- `SmtpSender(section)`: one connection, opened at the first `send` and reused for every message
  until `close()` (or the end of a `with` block); a dropped connection is opened again by the
  next `send`. `send(message, recipients)` returns the recipients the server refused, each with
  its code and answer; it returns as soon as the server has taken the message (its `250` after
  DATA), so the caller can record the delivery before anything else can fail.
- `build_notice(sender, action, ticket_id, recipients)`: the notice's bytes, with a Message-ID that
  is the same for the same action, so a copy can be looked for and a repeat recognised.
- `notice_outcome(action, where, recipients, refused)`: what a partial refusal means for the
  outbox (raises the errors below); `send_notice(...)` does all of it over a one-off connection.

Errors are translated here, in one place: refused credentials -> AuthFailed; a 5xx answer ->
PermanentSourceError; a 4xx answer (greylisting, a full queue), a timeout or a dropped connection
-> TransientSourceError; some recipients refused and others not -> PartlyDelivered, whose parts
name the refused recipients with the server's answers (4xx: tried again later; 5xx: parked).
"""

from __future__ import annotations

import hashlib
import quopri
import smtplib
import socket
import ssl
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from adapters.email.parse import OWN_HEADER
from connector.core.errors import AuthFailed, PartlyDelivered, PermanentSourceError, TransientSourceError
from connector.core.escalation import Action

TIMEOUT = 30.0
CRLF = "\r\n"

Refused = dict[str, tuple[int, str]]


def notice_message_id(action: Action) -> str:
    return f"<{hashlib.sha1(action.key.encode()).hexdigest()}@sla-connector.invalid>"


def _header(name: str, value: str) -> bytes:
    """One header line, folded, RFC 2047-encoded where it is not ASCII; line breaks in the value
    (a ticket title in a subject) become spaces, so no header can be smuggled in."""
    text = " ".join(value.split())
    charset = "us-ascii" if text.isascii() else "utf-8"
    return f"{name}: {Header(text, charset, header_name=name).encode(linesep=CRLF)}".encode("ascii") + b"\r\n"


def _address(text: str) -> str:
    """An address with its display name encoded where it is not ASCII, the address left as it is."""
    return text if text.isascii() else formataddr(parseaddr(text), "utf-8")


def build_notice(sender: str, action: Action, ticket_id: str, recipients: list[str]) -> bytes:
    """The notice as the bytes sent and saved (CRLF line ends). Built by hand: the standard
    library's EmailMessage spends about a millisecond of CPU on each header it sets."""
    headers = [
        ("From", _address(sender)),
        ("To", ", ".join(_address(recipient) for recipient in recipients)),
        ("Subject", f"{action.payload['subject']} [#{ticket_id}]"),
        ("Date", formatdate(localtime=False)),
        # the same action always gets the same Message-ID: a repeat is recognisable as one
        ("Message-ID", notice_message_id(action)),
        ("Auto-Submitted", "auto-generated"),
        ("X-Auto-Response-Suppress", "All"),
        (OWN_HEADER, action.key),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
    ]
    body = action.payload["body"].replace("\r\n", "\n")
    if body.isascii() and all(len(line) < 990 for line in body.split("\n")):
        headers.append(("Content-Transfer-Encoding", "7bit"))
        encoded = body.replace("\n", "\r\n").encode("ascii")
    else:
        headers.append(("Content-Transfer-Encoding", "quoted-printable"))
        encoded = quopri.encodestring(body.encode("utf-8")).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not encoded.endswith(b"\r\n"):
        encoded += b"\r\n"
    return b"".join(_header(name, value) for name, value in headers) + b"\r\n" + encoded


def _answer(code: int, text: bytes | str) -> str:
    words = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())}"


class SmtpSender:
    """One SMTP connection for many messages (see the module's docstring)."""

    def __init__(self, section: Any, timeout: float | None = None):
        self.section = section
        configured = getattr(section, "timeout", None)
        self.timeout = timeout or (configured.total_seconds() if configured else TIMEOUT)
        self.where = f"SMTP {section.host}:{section.port}"
        self.connections = 0  # how many times a connection was opened
        self._client: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        section = self.section
        if section.security == "tls":
            client = smtplib.SMTP_SSL(
                section.host, section.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(section.host, section.port, timeout=self.timeout)
        # smtplib writes a command and the message in separate pieces: without this, Nagle's
        # algorithm and the server's delayed ACK hold each message back for milliseconds
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if section.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if section.user:
                client.login(section.user, section.password.get_secret_value() if section.password else "")
        except BaseException:
            client.close()
            raise
        self.connections += 1
        return client

    def send(self, message: bytes, recipients: list[str]) -> Refused:
        """Send one message (from `build_notice`); the refused recipients (all of them when none
        was accepted)."""
        try:
            if self._client is None:
                self._client = self._connect()
            refused = self._client.sendmail(self.section.sender, recipients, message)
        except smtplib.SMTPRecipientsRefused as exc:
            return {address: (code, _answer(code, text)) for address, (code, text) in exc.recipients.items()}
        except smtplib.SMTPAuthenticationError as exc:
            self._drop()
            raise AuthFailed(f"{self.where}: login as {self.section.user} refused ({exc.smtp_code})") from None
        except smtplib.SMTPResponseException as exc:
            self._drop()
            kind = PermanentSourceError if 500 <= exc.smtp_code < 600 else TransientSourceError
            raise kind(f"{self.where}: {_answer(exc.smtp_code, exc.smtp_error)}") from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise TransientSourceError(f"{self.where}: {type(exc).__name__}: {exc}") from None
        return {address: (code, _answer(code, text)) for address, (code, text) in refused.items()}

    def _drop(self) -> None:
        """Forget a connection in an unknown state; the next send opens a new one."""
        if self._client is not None:
            try:
                self._client.close()
            except OSError:
                pass
            self._client = None

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()


def notice_outcome(action: Action, where: str, recipients: list[str], refused: Refused) -> None:
    """Nothing when every recipient was accepted; otherwise the error that tells the outbox what
    to do with the refused ones (see the module's docstring)."""
    if not refused:
        return
    later = [r for r in recipients if r in refused and 400 <= refused[r][0] < 500]
    never = [r for r in recipients if r in refused and r not in later]
    taken = [r for r in recipients if r not in refused]

    def answers(who: list[str]) -> str:
        return "; ".join(f"{r}: {refused[r][1]}" for r in who)

    if not taken and not never:
        raise TransientSourceError(f"{where}: recipients refused for now: {answers(later)}")
    if not taken and not later:
        raise PermanentSourceError(f"{where}: recipients refused: {answers(never)}")
    parts = [
        (state, {**action.payload, "recipients": who}, f"{where}: {answers(who)}")
        for state, who in (("parked", never), ("queued", later))
        if who
    ]
    taken_text = f"delivered to {', '.join(taken)}" if taken else "delivered to nobody"
    raise PartlyDelivered(
        f"{where}: notice {action.key} {taken_text}; refused {answers(later + never)}", bool(taken), parts
    )


def send_notice(
    section: Any, action: Action, ticket_id: str, recipients: list[str], sender: SmtpSender | None = None
) -> None:
    """Send one notice (over `sender`'s connection when given) and translate a partial refusal."""
    if not recipients:
        raise PermanentSourceError(
            f"notice {action.key}: nobody to send it to (set escalation.leads or email.notify_to)"
        )
    notice = build_notice(section.sender, action, ticket_id, recipients)
    if sender is not None:
        notice_outcome(action, sender.where, recipients, sender.send(notice, recipients))
        return
    with SmtpSender(section) as own:
        notice_outcome(action, own.where, recipients, own.send(notice, recipients))
