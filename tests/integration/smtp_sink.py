"""An SMTP server on loopback that keeps what it is sent (aiosmtpd, in the test's loop).

A recipient can be made to be refused: `refuse["x@y"] = "550 5.1.1 No such user"`, the
next mails answered with an error: `fail_next("451 4.3.0 Try again later", times=2)`, and
the next mail kept but its 250 held back: `stall_next(seconds)`. Each
mail's session is kept beside it (`sessions`, the client's address and port), so a test
can tell which mails shared one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.integration.tls import Certificate


@dataclass
class SmtpSink:
    port: int = 0
    mails: list[EmailMessage] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    sessions: list[object] = field(default_factory=list)
    # Replies for the next mails' DATA, in place of 250 (the mail is then not kept).
    failing: deque[str] = field(default_factory=deque)
    # How long the next mails' 250 is held back once they are kept.
    stalling: deque[float] = field(default_factory=deque)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(self, reply: str, *, times: int = 1) -> None:
        self.failing.extend([reply] * times)

    def stall_next(self, seconds: float, *, times: int = 1) -> None:
        self.stalling.extend([seconds] * times)

    def to(self, address: str) -> list[EmailMessage]:
        return [mail for mail in self.mails if address in str(mail["To"])]

    async def wait_for(
        self, match: Callable[[EmailMessage], bool], *, seconds: float = 20
    ) -> EmailMessage:
        async with asyncio.timeout(seconds):
            while True:
                for mail in self.mails:
                    if match(mail):
                        return mail
                self._arrived.clear()
                await self._arrived.wait()

    # aiosmtpd's handler interface
    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.failing:
            return self.failing.popleft()
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content or b"")
        if isinstance(parsed, EmailMessage):
            self.mails.append(parsed)
            self.sessions.append(session.peer)
        self._arrived.set()
        if self.stalling:
            await asyncio.sleep(self.stalling.popleft())
        return "250 OK"


@dataclass(frozen=True, slots=True)
class SinkTls:
    """How the sink speaks TLS: from the first byte (SMTPS) or after STARTTLS, which it then
    requires; with a login it also requires (`auth`: user, password)."""

    certificate: Certificate
    implicit: bool
    auth: tuple[str, str] | None = None


@contextlib.asynccontextmanager
async def running_smtp_sink(
    *, idle_timeout: float = 300, tls: SinkTls | None = None
) -> AsyncIterator[SmtpSink]:
    """The sink; it closes a session idle for `idle_timeout` seconds, as servers do."""
    sink = SmtpSink()
    loop = asyncio.get_running_loop()
    context: ssl.SSLContext | None = None
    options: dict[str, Any] = {}
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.certificate.cert, tls.certificate.key)
        if not tls.implicit:
            options = {"tls_context": context, "require_starttls": True}
        if tls.auth is not None:
            options |= {"auth_required": True, "auth_callback": _checks(tls.auth)}
            # aiosmtpd sees TLS only when it made it (STARTTLS); SMTPS is TLS throughout.
            options["auth_require_tls"] = not tls.implicit
    server = await loop.create_server(
        lambda: SMTP(sink, loop=loop, timeout=idle_timeout, **options),
        "127.0.0.1",
        0,
        ssl=context if tls is not None and tls.implicit else None,
    )
    sink.port = server.sockets[0].getsockname()[1]
    try:
        yield sink
    finally:
        server.close()
        await server.wait_closed()


def _checks(auth: tuple[str, str]) -> Callable[[str, bytes, bytes], bool]:
    def check(mechanism: str, login: bytes, password: bytes) -> bool:
        return (login.decode(), password.decode()) == auth

    return check
