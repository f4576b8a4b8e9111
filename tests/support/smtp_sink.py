"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives and answers chosen
recipients with chosen refusals (`answers["x@y"] = "451 4.7.1 greylisted"`), optionally with a
required login.

`SmtpSink().start()`; `.port`, `.messages` [(from, [to], EmailMessage)], `.connections`; `stop()`.
"""

from __future__ import annotations

import email
import email.policy
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.support.dovecot import free_port


class _Handler:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sink.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.sink.answers.get(address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        message = email.message_from_bytes(content, policy=email.policy.default)
        self.sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, password: str | None = None):
        self.port = free_port()
        self.messages: list = []
        self.answers: dict[str, str] = {}
        self.connections = 0
        self.password = password
        extra = {}
        if password is not None:
            extra = {"authenticator": self._authenticate, "auth_require_tls": False, "auth_required": True}
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **extra)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        # handled=False: aiosmtpd answers 535 itself; True would leave the client hanging
        return AuthResult(success=auth_data.password.decode() == self.password, handled=False)

    def start(self) -> SmtpSink:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Requiring AUTH while not requiring TLS": loopback only
            self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
