"""The email channel: mail in from an IMAP mailbox (aioimaplib) and from an SMTP listener
(aiosmtpd), mail out through an SMTP server (aiosmtplib) or, with none, into `.eml` files.

Every raw message becomes our types through `read_email` (parsed, its pictures cleaned of
their camera data) and goes to the service. IMAP mail is marked `\\Seen` (and moved to
the done folder) only after the service has committed it, and the mailbox cursor moves
only past mail so dealt with: a crash in between fetches it again, and intake's dedupe
on (channel, Message-ID) answers it once. The SMTP listener answers 250 only after the
commit and 451 when the service failed, so the sending server retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import re
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Literal

import aioimaplib
import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session
from aiosmtplib.typing import Default

from channels.base import (
    ChannelName,
    DeliveryReport,
    DeliveryUnknown,
    InboundMessage,
    Lease,
    MailboxCursor,
    OutboundMessage,
    PermanentSendError,
    RawDelivery,
    SendRate,
    SendReceipt,
    ServiceHandlers,
    TransientSendError,
    UnknownDelivery,
    stop_task,
    while_held,
)
from channels.email_compose import ComposedMail, MailComposer
from channels.email_message import largest_raw, read_email

log = logging.getLogger(__name__)

# Servers drop an IDLE after 30 minutes (RFC 2177): it is re-issued before that.
IDLE_RENEW_SECONDS = 29 * 60
# How often a standby instance checks whether the reading instance is gone, and how often
# the reading instance checks it still holds the lease (the database may have ended it).
_LEASE_RETRY = 2.0
_LEASE_CHECK = 5.0
# The one kind of delivery this channel keeps (see `process`): a mail that failed.
_MAIL = "mail"
# Messages handed to the service at once; together they share group commits.
_CONCURRENT = 32
# UIDs whose sizes are asked in one FETCH, and what one FETCH of whole messages may carry.
_SIZE_WINDOW = 200
# aioimaplib reads a response's lines by recursion, two levels a message: 100 messages a
# FETCH stay well inside Python's recursion limit.
_FETCH_COUNT = 100
_FETCH_BYTES = 16 * 1024 * 1024
_LONGEST_PAUSE = 300.0
# SMTP sessions open at once (the outbox sends a wave of mails side by side; servers limit
# a client's connections), kept open for the next mails, and for how long unused.
_SMTP_KEPT = 4
_SMTP_IDLE_SECONDS = 30.0
# A session used this recently goes on without a NOOP to check it is still open.
_SMTP_TRUSTED_SECONDS = 1.0
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")


class MailSecurity(StrEnum):
    SSL = "ssl"  # TLS from the first byte (IMAPS 993, SMTPS 465)
    STARTTLS = "starttls"  # plain, then upgraded (IMAP 143, submission 587)
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ImapMailbox:
    """The mailbox residents write to, and how to reach it."""

    host: str
    user: str
    password: str
    security: MailSecurity = MailSecurity.SSL
    port: int | None = None
    folder: str = "INBOX"
    poll_seconds: float = 60.0
    # Where mail is moved once handled; None leaves it in `folder`, marked \Seen.
    done_folder: str | None = None
    # How long connecting, and each command, may wait for the server: one that stops
    # answering is left, and connected to again.
    timeout: float = 30.0

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port or (993 if self.security is MailSecurity.SSL else 143)

    def __repr__(self) -> str:  # never the password, in logs or tracebacks
        return f"ImapMailbox({self.user}@{self.host}/{self.folder})"


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """The server our mail goes out through."""

    host: str
    port: int | None = None
    user: str | None = None
    password: str | None = None
    security: MailSecurity = MailSecurity.STARTTLS
    timeout: float = 30.0

    @property
    def address(self) -> tuple[str, int]:
        defaults = {MailSecurity.SSL: 465, MailSecurity.STARTTLS: 587, MailSecurity.NONE: 25}
        return self.host, self.port or defaults[self.security]

    def __repr__(self) -> str:
        return f"SmtpServer({self.host})"


@dataclass(frozen=True, slots=True)
class MailFolder:
    """No server: each mail is written to `path` as a `.eml` file, as Django's file backend
    does, so the whole flow can be seen without a mail server."""

    path: Path


class MailboxError(Exception):
    """The IMAP server refused something the reader needs; it reconnects and tries again."""


class EmailChannel:
    name: ClassVar[ChannelName] = ChannelName.EMAIL
    supports_attachments: ClassVar[bool] = True
    # Mail servers take what we send, over at most `_SMTP_KEPT` sessions at once; a
    # provider with a limit is paced by the settings.
    send_rate: ClassVar[SendRate] = SendRate(at_once=_SMTP_KEPT)
    # Each send gets a fresh Message-ID: a resend would be a second mail, not a duplicate
    # the recipient's system can recognise.
    resend_is_safe: ClassVar[bool] = False
    # A mail is a whole letter, not a burst of chat lines.
    merges_bursts: ClassVar[bool] = False
    prefers_short_text: ClassVar[bool] = False
    router = None

    def __init__(
        self,
        *,
        sender: str,
        outbound: SmtpServer | MailFolder,
        now: Callable[[], datetime],
        max_bytes: int,
        mailbox: ImapMailbox | None = None,
        cursor: MailboxCursor | None = None,
        lease: Lease | None = None,
        intake: tuple[str, int] | None = None,
        language: str = "id",
        dropped_note: Callable[[Sequence[str]], str] | None = None,
    ) -> None:
        if mailbox is not None and cursor is None:
            raise TypeError("an IMAP mailbox needs a MailboxCursor to keep its place")
        self._composer = MailComposer(sender, language=language)
        self._now = now
        self._max_bytes = max_bytes
        self._mailbox = mailbox
        self._cursor = cursor
        self._lease = lease
        self._intake_address = intake
        # The line under a mail's text naming the files it dropped (worded by the service).
        self._dropped_note = dropped_note
        self._handlers: ServiceHandlers | None = None
        self._reader: asyncio.Task[None] | None = None
        self._listener: asyncio.Server | None = None
        self._transport: _SmtpRelay | _EmlFiles = (
            _SmtpRelay(outbound)
            if isinstance(outbound, SmtpServer)
            else _EmlFiles(outbound.path, now)
        )

    # --- lifecycle ------------------------------------------------------------------

    @property
    def intake_port(self) -> int | None:
        """The port the SMTP listener is bound to (the configured one, or the one the OS
        chose for port 0)."""
        if self._listener is None or not self._listener.sockets:
            return None
        port: int = self._listener.sockets[0].getsockname()[1]
        return port

    async def start(self, handlers: ServiceHandlers) -> None:
        self._handlers = handlers
        if self._intake_address is not None:
            host, port = self._intake_address
            loop = asyncio.get_running_loop()
            intake = _IntakeHandler(self._take)
            self._listener = await loop.create_server(
                lambda: SMTP(
                    intake,
                    # What parse_email takes whole: the files' limit plus base64's third.
                    data_size_limit=largest_raw(self._max_bytes),
                    enable_SMTPUTF8=True,
                    hostname=self._composer.domain,
                    loop=loop,
                ),
                host,
                port,
            )
            log.info("SMTP intake listening", extra={"host": host, "port": self.intake_port})
        if self._mailbox is not None and self._cursor is not None:
            reader = _ImapReader(self._mailbox, self._cursor, self._take)
            self._reader = asyncio.create_task(self._read(reader), name="imap-poll")

    async def stop(self) -> None:
        if self._reader is not None:
            await stop_task(self._reader)
            self._reader = None
        if self._lease is not None:
            await self._lease.release()
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None
        await self._transport.close()
        self._handlers = None

    async def _read(self, reader: _ImapReader) -> None:
        """Read the mailbox while this instance holds the lease; reconnect with backoff."""
        pause = 1.0
        while True:
            try:
                if self._lease is None:
                    await reader.session(connected=reader.reset_pause)
                elif not await self._lease.acquire():
                    await asyncio.sleep(_LEASE_RETRY)  # another instance reads; wait our turn
                    continue
                elif not await while_held(
                    self._lease,
                    reader.session(connected=reader.reset_pause),
                    check_every=_LEASE_CHECK,
                ):
                    log.warning("IMAP %r: the lease was lost; reading stopped", self._mailbox)
            except (MailboxError, aioimaplib.AioImapException, OSError, TimeoutError) as exc:
                log.warning("IMAP %r: %s; reconnecting", self._mailbox, exc or type(exc).__name__)
            except Exception:
                log.exception("IMAP reader of %r failed; reconnecting", self._mailbox)
            pause = reader.next_pause(pause)
            await asyncio.sleep(pause)

    async def _take(self, raw: bytes) -> None:
        """One raw mail to the service; returns once the service has committed it, or has
        kept it to try again (a mail that keeps failing holds no other back). Raises when
        it could do neither: the mail then stays with the server, or its sender."""
        handlers = self._handlers
        if handlers is None:
            raise MailboxError("mail arrived while the email channel is stopped")
        received_at = self._now()
        try:
            await self._hand_in(handlers, raw, received_at)
        except Exception as exc:
            key = f"{_MAIL}:{hashlib.sha256(raw).hexdigest()}"
            await handlers.failed(RawDelivery(ChannelName.EMAIL, _MAIL, key, raw, received_at), exc)

    async def process(self, delivery: RawDelivery) -> None:
        handlers = self._handlers
        if handlers is None:
            raise MailboxError("the email channel is stopped")
        if delivery.kind != _MAIL:
            raise UnknownDelivery(f"the email channel keeps no {delivery.kind!r} deliveries")
        await self._hand_in(handlers, delivery.payload, delivery.received_at)

    async def _hand_in(self, handlers: ServiceHandlers, raw: bytes, received_at: datetime) -> None:
        parsed = await read_email(
            raw,
            received_at=received_at,
            max_bytes=self._max_bytes,
            dropped_note=self._dropped_note,
        )
        if isinstance(parsed, InboundMessage):
            await handlers.deliver(parsed)
        elif isinstance(parsed, DeliveryReport):
            await handlers.report(parsed)
        else:
            await handlers.refuse(parsed)

    # --- sending --------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendReceipt:
        mail = self._composer.compose(message, self._now())
        await self._transport.deliver(mail)
        return SendReceipt(provider_message_id=mail.message_id, thread_key=mail.message_id)


class _EmlFiles:
    """Outbound mail as `.eml` files in a folder (no server)."""

    def __init__(self, folder: Path, now: Callable[[], datetime]) -> None:
        self._folder = folder
        self._now = now

    async def deliver(self, mail: ComposedMail) -> None:
        await asyncio.to_thread(_write_eml, self._folder, mail, self._now())

    async def close(self) -> None:
        return None


class _SmtpRelay:
    """Outbound mail through an SMTP server, in sessions kept open between mails. A server
    takes any number of messages in one session, so a burst of acknowledgements pays the
    connection, TLS and login once, not once a mail. A session idle for longer than
    `_SMTP_IDLE_SECONDS` is closed rather than reused (servers drop idle sessions after a
    few minutes, RFC 5321 4.5.3.2.7). At most `_SMTP_KEPT` sessions are open at once: a
    wave of mails waits for them rather than opening a connection each."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._sessions = asyncio.Semaphore(_SMTP_KEPT)

    async def deliver(self, mail: ComposedMail) -> None:
        """Relay `mail`; our send errors, permanent or transient, say why it did not go."""
        host, port = self._server.address
        try:
            await self._send(mail)
        except _DataUnanswered as exc:
            raise DeliveryUnknown(
                f"SMTP {host}:{port} took the mail and did not answer ({exc})"
            ) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            if all(500 <= r.code < 600 for r in exc.recipients):
                raise PermanentSendError(f"SMTP {host} refused the recipient: {detail}") from exc
            raise TransientSendError(f"SMTP {host} deferred the recipient: {detail}") from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Our credentials, not the message: retried until someone fixes the setting.
            raise TransientSendError(
                f"SMTP {host} refused our login ({exc.code} {exc.message}); check the SMTP "
                "user and password settings"
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            detail = f"SMTP {host} answered {exc.code} {exc.message}"
            if 500 <= exc.code < 600:
                raise PermanentSendError(detail) from exc
            raise TransientSendError(detail) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientSendError(
                f"SMTP {host}:{port} unreachable: {exc or type(exc).__name__}"
            ) from exc

    async def _send(self, mail: ComposedMail) -> None:
        async with self._sessions:
            await self._send_in_session(mail)

    async def _send_in_session(self, mail: ComposedMail) -> None:
        client = await self._session()
        # A server without SMTPUTF8 refuses the MAIL command, which says so.
        options = ["SMTPUTF8"] if mail.needs_utf8 else []
        try:
            await client.sendmail(mail.sender, mail.recipients, mail.data, mail_options=options)
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            # A refusal ends this message's transaction (aiosmtplib sends RSET), not the
            # session; one that lost the connection is not kept.
            self._keep(client)
            raise
        except BaseException:
            _drop(client)
            raise
        self._keep(client)

    async def _session(self) -> aiosmtplib.SMTP:
        """A session kept from an earlier mail, or a new one. One idle for a while is asked
        a NOOP first: a server that closed it is found out before any mail goes into it."""
        while self._idle:
            client, since = self._idle.pop()
            idle = time.monotonic() - since
            if not client.is_connected or idle > _SMTP_IDLE_SECONDS:
                _drop(client)
                continue
            if idle < _SMTP_TRUSTED_SECONDS:
                return client
            try:
                await client.noop()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                _drop(client)
                continue
            return client
        server = self._server
        host, port = server.address
        client = _Smtp(
            hostname=host,
            port=port,
            username=server.user,
            password=server.password,
            use_tls=server.security is MailSecurity.SSL,
            start_tls=server.security is MailSecurity.STARTTLS,
            timeout=server.timeout,
        )
        await client.connect()
        return client

    def _keep(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected and len(self._idle) < _SMTP_KEPT:
            self._idle.append((client, time.monotonic()))
        else:
            _drop(client)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await asyncio.wait_for(client.quit(), 5)
            _drop(client)


class _DataUnanswered(Exception):
    """The connection broke, or the server stopped answering, once it had the mail's DATA:
    it may have taken the mail."""


class _Smtp(aiosmtplib.SMTP):
    """aiosmtplib's client, telling a mail left unanswered from one that never went: a
    failure before DATA (connecting, MAIL, RCPT) is safe to retry, one during it is not."""

    async def data(
        self,
        message: str | bytes,
        /,
        *,
        # aiosmtplib's own signature, which sendmail calls.
        timeout: float | Literal[Default.token] | None = Default.token,  # noqa: ASYNC109
    ) -> aiosmtplib.SMTPResponse:
        try:
            return await super().data(message, timeout=timeout)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            raise _DataUnanswered(str(exc) or type(exc).__name__) from exc


def _drop(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        client.close()


def _write_eml(folder: Path, mail: ComposedMail, at: datetime) -> Path:
    """Write `mail` under `folder`, named by time and Message-ID; a reader never sees half."""
    folder.mkdir(parents=True, exist_ok=True)
    name = _UNSAFE_IN_NAME.sub("_", mail.message_id.strip("<>"))
    target = folder / f"{at:%Y%m%d-%H%M%S}-{name}.eml"
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(mail.data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return target


class _IntakeHandler:
    """aiosmtpd's handler: a delivered mail is answered 250 once the service committed it."""

    def __init__(self, take: Callable[[bytes], Awaitable[None]]) -> None:
        self._take = take

    # aiosmtpd calls the handler's methods by these names.
    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content
        if raw is None:
            return "554 5.6.0 No message content"
        try:
            await self._take(raw)
        except Exception:
            log.exception("mail from the SMTP listener not handled; the sender is told to retry")
            return "451 4.3.0 Not stored; please try again later"
        return "250 2.0.0 Message accepted"


class _ImapReader:
    """One connection's work: select the folder, take what is new, wait, repeat."""

    def __init__(
        self,
        mailbox: ImapMailbox,
        cursor: MailboxCursor,
        take: Callable[[bytes], Awaitable[None]],
    ) -> None:
        self._mailbox = mailbox
        self._cursor = cursor
        self._take = take
        self._limit = asyncio.Semaphore(_CONCURRENT)
        self._lost = asyncio.Event()
        self._connected = False

    def reset_pause(self) -> None:
        self._connected = True

    def next_pause(self, pause: float) -> float:
        """The wait before reconnecting: from one second after a good session, else doubled."""
        if self._connected:
            self._connected = False
            return 1.0
        return min(pause * 2, _LONGEST_PAUSE)

    async def session(self, *, connected: Callable[[], None]) -> None:
        client = await self._connect()
        try:
            box = self._mailbox
            uidvalidity, uidnext = await self._select(client)
            if box.done_folder:
                # NO when it exists already: either way it is there afterwards.
                await client.create(box.done_folder)
            connected()
            retry = 1.0
            while True:
                handled = await self._round(client, uidvalidity)
                # Mail that came while the round ran was announced (EXISTS) in the answer
                # to one of its UID commands, which aioimaplib drops, and is not announced
                # again in IDLE. SELECT is answered in full: a UIDNEXT that moved means
                # another round before idling.
                uidvalidity, arrived = await self._select(client)
                moved, uidnext = arrived != uidnext, arrived
                if handled:
                    retry = 1.0
                    if moved:
                        continue
                    wait = IDLE_RENEW_SECONDS if self._idles(client) else box.poll_seconds
                else:
                    # Something stayed unhandled: take it again soon, later each time.
                    wait, retry = retry, min(retry * 2, 60.0)
                await self._wait(client, wait)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.logout(), 5)

    async def _select(self, client: Any) -> tuple[int, int | None]:
        """Open the folder: its UIDVALIDITY, and its UIDNEXT where the server says it."""
        selected = await client.select(self._mailbox.folder)
        if selected.result != "OK":
            raise MailboxError(
                f"folder {self._mailbox.folder!r} cannot be opened: {_said(selected)}"
            )
        uidvalidity = _response_code(selected.lines, _UIDVALIDITY)
        if uidvalidity is None:
            raise MailboxError("the server gave no UIDVALIDITY for the folder")
        return uidvalidity, _response_code(selected.lines, _UIDNEXT)

    async def _connect(self) -> Any:
        box = self._mailbox
        host, port = box.address
        self._lost.clear()
        if box.security is MailSecurity.SSL:
            client = aioimaplib.IMAP4_SSL(host, port, timeout=box.timeout)
        else:
            client = aioimaplib.IMAP4(host, port, timeout=box.timeout)
        client.protocol.conn_lost_cb = lambda exc: self._lost.set()
        try:
            await _greeted(client, box.timeout)
            if box.security is MailSecurity.STARTTLS:
                await _starttls(client, host, box.timeout)
            response = await client.login(box.user, box.password)
            if response.result != "OK":
                raise MailboxError(f"login as {box.user} refused: {_said(response)}")
            # IDLE and MOVE are decided on what the server offers once logged in (Gmail,
            # for one, offers MOVE only then). aioimaplib bounds only its own commands.
            await asyncio.wait_for(client.protocol.capability(), box.timeout)
        except BaseException:
            _abandon(client)  # the session never started: no logout to wait for
            raise
        return client

    def _idles(self, client: Any) -> bool:
        return bool(client.has_capability("IDLE"))

    async def _round(self, client: Any, uidvalidity: int) -> bool:
        """Take every message past the cursor; True when none was left unhandled.

        Past a cursor of this UIDVALIDITY every message is new to the service, read or not
        (someone may have opened the mailbox in a mail client first). Without one (the
        first start, or a folder whose UIDs were renumbered) only unseen mail is taken:
        what is marked read was dealt with, by us before or by people before the service.
        """
        place = await self._cursor.load()
        last = 0
        if place is not None and place[0] == uidvalidity:
            last = place[1]
            criteria = f"UID {last + 1}:*"
        else:
            criteria = f"UID {last + 1}:* UNSEEN"
            if place is not None:
                log.warning(
                    "IMAP folder's UIDVALIDITY changed; reading its unseen mail again",
                    extra={"mailbox": repr(self._mailbox), "was": place[0], "now": uidvalidity},
                )
        found = await client.uid_search(criteria, charset=None)
        if found.result != "OK":
            raise MailboxError(f"SEARCH refused: {_said(found)}")
        # `n:*` names the last message even when its UID is below n.
        uids = sorted(uid for uid in _numbers(found.lines[:-1]) if uid > last)
        if place is None or place[0] != uidvalidity:
            await self._cursor.save(uidvalidity, last)
        all_handled = True
        for window in _batches(uids, _SIZE_WINDOW):
            sizes = await self._sizes(client, window)
            for chunk in _chunks(window, sizes):
                fetched = await self._fetch(client, chunk)
                handled = await asyncio.gather(
                    *(self._handle(uid, fetched.get(uid)) for uid in chunk)
                )
                done = [uid for uid, ok in zip(chunk, handled, strict=True) if ok]
                if done:
                    await self._mark_done(client, done)
                if all_handled:
                    # The cursor moves only over mail dealt with; the first failure stops it.
                    failed = [uid for uid, ok in zip(chunk, handled, strict=True) if not ok]
                    passed = min(failed) - 1 if failed else chunk[-1]
                    if passed > last:
                        last = passed
                        await self._cursor.save(uidvalidity, last)
                    all_handled = not failed
        return all_handled

    async def _sizes(self, client: Any, uids: list[int]) -> dict[int, int]:
        response = await client.uid("fetch", _uid_set(uids), "(UID RFC822.SIZE)")
        if response.result != "OK":
            raise MailboxError(f"FETCH of sizes refused: {_said(response)}")
        sizes: dict[int, int] = {}
        for line in response.lines:
            if isinstance(line, bytes) and (uid := _UID.search(line)):
                size = _SIZE.search(line)
                sizes[int(uid[1])] = int(size[1]) if size else 0
        return sizes

    async def _fetch(self, client: Any, uids: list[int]) -> dict[int, bytes]:
        # BODY.PEEK: fetching must not mark the mail \Seen; only handling it does.
        response = await client.uid("fetch", _uid_set(uids), "(UID BODY.PEEK[])")
        if response.result != "OK":
            raise MailboxError(f"FETCH refused: {_said(response)}")
        raw: dict[int, bytes] = {}
        lines = response.lines
        for line, following in itertools.pairwise(lines):
            if isinstance(following, bytearray) and (uid := _UID.search(bytes(line))):
                raw[int(uid[1])] = bytes(following)
        return raw

    async def _handle(self, uid: int, raw: bytes | None) -> bool:
        if raw is None:
            return True  # expunged since the search: nothing left to take
        async with self._limit:
            try:
                await self._take(raw)
            except Exception:
                log.exception(
                    "IMAP message not handled; it stays unseen and is taken again",
                    extra={"mailbox": repr(self._mailbox), "uid": uid},
                )
                return False
        return True

    async def _mark_done(self, client: Any, uids: list[int]) -> None:
        uid_set = _uid_set(uids)
        stored = await client.uid("store", uid_set, "+FLAGS.SILENT", r"(\Seen)")
        if stored.result != "OK":
            raise MailboxError(f"STORE \\Seen refused: {_said(stored)}")
        folder = self._mailbox.done_folder
        if not folder:
            return
        if client.has_capability("MOVE"):
            moved = await client.uid("move", uid_set, folder)
        else:
            moved = await client.uid("copy", uid_set, folder)
            if moved.result == "OK":
                await client.uid("store", uid_set, "+FLAGS.SILENT", r"(\Deleted)")
                await client.expunge()
        if moved.result != "OK":
            raise MailboxError(f"moving to {folder!r} refused: {_said(moved)}")

    async def _wait(self, client: Any, seconds: float) -> None:
        """Until new mail may be there: IDLE where offered, else the poll interval."""
        if not self._idles(client):
            await asyncio.sleep(seconds)
            return
        idle = await client.idle_start(timeout=seconds)
        try:
            while True:
                push = await self._push(client, seconds)
                if push is None or push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    return
                if any(isinstance(line, bytes) and line.endswith(b"EXISTS") for line in push):
                    return
        finally:
            if not self._lost.is_set() and client.has_pending_idle():
                client.idle_done()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(idle, self._mailbox.timeout)

    async def _push(self, client: Any, seconds: float) -> list[bytes] | None:
        """The next thing the server says while idling, None when `seconds` passed."""
        heard = asyncio.ensure_future(client.wait_server_push(timeout=seconds))
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({heard, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (heard, lost):
                task.cancel()
        if not heard.done() or heard.cancelled():
            raise MailboxError("connection lost while idling")
        try:
            push: list[bytes] = heard.result()
        except TimeoutError:
            return None
        return push


async def _greeted(client: Any, seconds: float) -> None:
    """Wait for the server's greeting (and aioimaplib's CAPABILITY after it). aioimaplib's
    own deadline for it cannot end the wait while that CAPABILITY goes unanswered (the
    command holds a lock the cancelled wait must take back), so it is kept here: past it,
    the connection and its command are abandoned."""
    hello = asyncio.ensure_future(client.wait_hello_from_server())
    done, _ = await asyncio.wait({hello}, timeout=seconds)
    if done:
        hello.result()
        return
    _abandon(client)
    # The abandoned wait ends at aioimaplib's own deadline; what it raises then is ours.
    hello.add_done_callback(lambda ended: ended.cancelled() or ended.exception())
    raise MailboxError(f"no greeting from the server within {seconds:g} s")


def _abandon(client: Any) -> None:
    """Close a connection whose session did not start, and end what aioimaplib runs on it."""
    protocol = client.protocol
    if protocol.transport is not None:
        protocol.transport.close()
    for task in list(protocol.tasks):
        task.cancel()


async def _starttls(client: Any, host: str, seconds: float) -> None:
    """Upgrade the plain connection (aioimaplib has no STARTTLS of its own)."""
    protocol = client.protocol
    if "STARTTLS" not in protocol.capabilities:
        raise MailboxError(
            "the server offers no STARTTLS; connect with TLS from the start (ssl) or without"
        )
    response = await asyncio.wait_for(
        protocol.execute(aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)),
        seconds,
    )
    if response.result != "OK":
        raise MailboxError(f"STARTTLS refused: {_said(response)}")
    loop = asyncio.get_running_loop()
    protocol.transport = await loop.start_tls(
        protocol.transport,
        protocol,
        ssl.create_default_context(),
        server_hostname=host,
        ssl_handshake_timeout=seconds,
    )
    # What the server offered in plain text may not be what it offers now.
    await asyncio.wait_for(protocol.capability(), seconds)


def _response_code(lines: Iterable[object], code: re.Pattern[bytes]) -> int | None:
    """The number a response code such as `[UIDNEXT 42]` carries, if a line has it."""
    for line in lines:
        if isinstance(line, bytes | bytearray) and (found := code.search(bytes(line))):
            return int(found[1])
    return None


def _numbers(lines: Iterable[object]) -> Iterator[int]:
    for line in lines:
        if isinstance(line, bytes | bytearray):
            yield from (int(word) for word in bytes(line).split() if word.isdigit())


def _batches(uids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(uids), size):
        yield uids[start : start + size]


def _chunks(uids: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    """UIDs in fetches of at most _FETCH_COUNT messages and about _FETCH_BYTES (a bigger
    message goes alone), so memory stays bounded whatever waits in the mailbox."""
    chunk: list[int] = []
    weight = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if chunk and (len(chunk) >= _FETCH_COUNT or weight + size > _FETCH_BYTES):
            yield chunk
            chunk, weight = [], 0
        chunk.append(uid)
        weight += size
    if chunk:
        yield chunk


def _uid_set(uids: list[int]) -> str:
    """1,2,3,5 → "1:3,5": short commands for long runs."""
    ranges: list[str] = []
    ordered = sorted(set(uids))
    start = previous = ordered[0]
    for uid in [*ordered[1:], None]:
        if uid is not None and uid == previous + 1:
            previous = uid
            continue
        ranges.append(str(start) if start == previous else f"{start}:{previous}")
        if uid is not None:
            start = previous = uid
    return ",".join(ranges)


def _said(response: Any) -> str:
    lines = [bytes(line).decode(errors="replace") for line in response.lines[-1:]]
    return f"{response.result} {' '.join(lines)}".strip()
