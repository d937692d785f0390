"""The Telegram channel (python-telegram-bot): residents in private chats, officers in
their agency's group.

A resident's message becomes an `InboundMessage`; an officer's reply to the bot's post, a
button press or a command becomes an `ActionRequest`. Updates are fetched here, not by
PTB's updater, so the offset moves past an update only after the service has committed
it, or kept it to try again (`ServiceHandlers.failed`): a crash refetches it, and intake's
dedupe on (chat, message id) makes that harmless, while an update that keeps failing holds
nobody else's back. A webhook's update is kept by the service before it is processed.

What the bot says back to an officer after the service acted (the answer to a button, a
reply in the group) is a courtesy: a press too old to answer, a deleted message or a group
the bot has left does not undo the action, nor make the update fail.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial
from typing import Annotated, Any, ClassVar, TypeVar

import httpx
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from telegram import (
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from channels.base import (
    ActionKind,
    ActionRequest,
    ActionResult,
    Attachment,
    Button,
    ChannelName,
    ChannelStartError,
    DeliveryNotKept,
    Identity,
    InboundMessage,
    Lease,
    Location,
    OutboundMessage,
    PartlySent,
    PermanentSendError,
    RawDelivery,
    SendProgress,
    SendRate,
    SendReceipt,
    ServiceHandlers,
    TransientSendError,
    UnknownDelivery,
    stop_task,
)
from channels.http_failure import send_failure
from channels.photos import without_camera_data

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_TEXT = 4096
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# How often a standby instance checks whether the polling instance is gone.
_LEASE_RETRY = 2.0
# Waits longer than this are left to the outbox's backoff rather than slept through.
_LONGEST_WAIT = 30
_COMMANDS = {
    "link": ActionKind.LINK,
    "take": ActionKind.TAKE,
    "reply": ActionKind.ANSWER,
    "ask": ActionKind.ASK,
    "note": ActionKind.NOTE,
    "close": ActionKind.CLOSE,
    "reject": ActionKind.REJECT,
    "transfer": ActionKind.TRANSFER,
    "list": ActionKind.LIST,
    "mine": ActionKind.MINE,
    "overdue": ActionKind.OVERDUE,
    "rules": ActionKind.RULES,
    "stats": ActionKind.STATS,
}
# Where a complaint's reference goes in a prompt of `TelegramTexts`.
REFERENCE_SLOT = "{reference}"


@dataclass(frozen=True, slots=True)
class TelegramTexts:
    """What the bot says on its own; the service owns the words."""

    # The answer to /start, and the language choices under it.
    welcome: str
    languages: tuple[Button, ...]
    # Buttons that need words from the officer: pressing one posts its prompt, with the
    # complaint's reference at REFERENCE_SLOT, to reply to. The prompt says what it is for,
    # so the reply carries all we need (no state kept here).
    prompts: Mapping[ActionKind, str]
    # The answer to a press on a button we cannot read (from an older version).
    unknown_button: str


def thread_key(chat_id: int | str, message_id: int) -> str:
    """The handle by which a reply to a bot message finds its complaint."""
    return f"telegram:{chat_id}:{message_id}"


# The one kind of delivery this channel keeps (see `process`).
_UPDATE = "update"


class UpdateFailed(Exception):
    """A handler of the update raised; the cause is chained."""


class UnusableUpdate(Exception):
    """An update a handler cannot act on: it lacks what the handler's filter promised, or it
    came while the channel is stopped. The error handler leaves it unconfirmed, so it comes
    again."""


def _needed(update: Update, value: T | None, what: str) -> T:
    if value is None:
        raise UnusableUpdate(
            f"Telegram update {update.update_id} has no {what}, which its handler needs; if "
            "python-telegram-bot's filters let it through, check TelegramChannel._register"
        )
    return value


class TelegramChannel:
    name: ClassVar[ChannelName] = ChannelName.TELEGRAM
    supports_attachments: ClassVar[bool] = True
    # The Bot API's limits: about 30 messages a second, 20 a minute to one group, whose
    # chat id is negative (a private chat's is the user's id).
    send_rate: ClassVar[SendRate] = SendRate(
        per_second=30, group_per_minute=20, is_group=lambda chat_id: chat_id.startswith("-")
    )
    resend_is_safe: ClassVar[bool] = False
    merges_bursts: ClassVar[bool] = True
    prefers_short_text: ClassVar[bool] = False

    def __init__(
        self,
        token: str,
        *,
        api_base: str | None = None,
        poll_timeout: int = 25,
        timeout: float = 10.0,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        lease: Lease | None = None,
        texts: TelegramTexts,
    ) -> None:
        # A send waits `timeout` to connect, and as long for each part of the answer (PTB
        # would wait 5 s); getUpdates keeps PTB's, plus its long poll's wait.
        builder = (
            ApplicationBuilder()
            .token(token)
            .updater(None)
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .write_timeout(timeout)
        )
        if api_base:
            builder = builder.base_url(api_base).base_file_url(_file_base(api_base))
        self.app: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        # Named in errors; the bot's own base URL ends in the token.
        self._api_base = api_base or "https://api.telegram.org/bot"
        self._poll_timeout = poll_timeout
        # With a secret, Telegram pushes updates to `webhook_url`; without, we poll.
        self._webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        # Telegram allows one getUpdates at a time: only the lease holder polls.
        self._lease = lease
        self._texts = texts
        self._prompt_patterns = {
            kind: re.compile(
                "^"
                + re.escape(prompt).replace(
                    re.escape(REFERENCE_SLOT), r"(?P<ref>[0-9A-Z]{4}-[0-9A-Z]{4})"
                )
            )
            for kind, prompt in texts.prompts.items()
        }
        self._handlers: ServiceHandlers | None = None
        self._poller: asyncio.Task[None] | None = None
        # Why the handling of an update failed, by update id: updates are processed
        # concurrently in webhook mode, so each asks about its own.
        self._failed: dict[int, BaseException] = {}
        self._register()

    # --- lifecycle ------------------------------------------------------------------

    async def start(self, handlers: ServiceHandlers) -> None:
        self._handlers = handlers
        try:
            await self.app.initialize()
            if self._webhook_secret:
                await self.app.bot.set_webhook(
                    url=f"{self._webhook_url}",
                    secret_token=self._webhook_secret,
                    allowed_updates=Update.ALL_TYPES,
                )
        except InvalidToken as exc:
            raise ChannelStartError(
                f"Telegram refused the bot token ({exc}); check it with @BotFather"
            ) from None
        except TelegramError as exc:
            raise ChannelStartError(
                f"Telegram's Bot API at {self._api_base} did not answer: "
                f"{exc or type(exc).__name__}"
            ) from None
        if self._webhook_secret:
            return
        self._poller = asyncio.create_task(self._poll(), name="telegram-poll")

    async def stop(self) -> None:
        if self._poller is not None:
            await stop_task(self._poller)
            self._poller = None
        if self._lease is not None:
            await self._lease.release()
        await self.app.shutdown()
        self._handlers = None

    def _started(self, update: Update) -> ServiceHandlers:
        if self._handlers is None:
            raise UnusableUpdate(
                f"Telegram update {update.update_id} came while the channel is stopped; "
                "it comes again once the service has started"
            )
        return self._handlers

    async def _poll(self) -> None:
        offset: int | None = None
        pause = 1.0
        while True:
            if self._lease is not None and not await self._lease.acquire():
                await asyncio.sleep(_LEASE_RETRY)  # another instance polls; wait our turn
                continue
            try:
                updates = await self.app.bot.get_updates(
                    offset=offset, timeout=self._poll_timeout, allowed_updates=Update.ALL_TYPES
                )
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc))
                continue
            except TelegramError as exc:
                log.warning("telegram getUpdates failed: %s", exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 60)
                continue
            pause = 1.0
            for update in updates:
                if not await self._taken(update):
                    # Neither done nor kept: leave the offset so the update comes again.
                    await asyncio.sleep(pause)
                    break
                offset = update.update_id + 1

    async def _taken(self, update: Update) -> bool:
        """Process a polled update; a failure is kept by the service to try again. False
        when it could be neither done nor kept."""
        try:
            await self._process(update)
        except Exception as exc:
            handlers = self._handlers
            if handlers is None:
                return False
            try:
                await handlers.failed(_delivery(update, update.to_json().encode()), exc)
            except DeliveryNotKept:
                return False
        return True

    async def process(self, delivery: RawDelivery) -> None:
        if delivery.kind != _UPDATE:
            raise UnknownDelivery(f"the Telegram channel keeps no {delivery.kind!r} deliveries")
        update = _update_of(delivery.payload, self.app.bot)
        if update is None:
            raise UnknownDelivery(f"kept Telegram delivery {delivery.key} is not an update")
        await self._process(update)

    @cached_property
    def router(self) -> APIRouter:
        """Its endpoints, built when the web app mounts them (commands never do)."""
        router = APIRouter()

        @router.post("/webhooks/telegram", include_in_schema=False)
        async def webhook(
            request: Request,
            secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
        ) -> JSONResponse:
            expected = self._webhook_secret
            # Bytes, not text: a header may carry any bytes, and compare_digest refuses
            # text that is not ASCII.
            given = (secret or "").encode("utf-8", "surrogateescape")
            if not expected or secret is None or not hmac.compare_digest(given, expected.encode()):
                return JSONResponse({"detail": "wrong or missing secret token"}, status_code=403)
            handlers = self._handlers
            if handlers is None:
                return JSONResponse({"detail": "starting or stopping; retry"}, status_code=503)
            body = await request.body()
            update = _update_of(body, self.app.bot)
            if update is None:
                return JSONResponse(
                    {"detail": "not a Telegram update (a JSON object with update_id)"},
                    status_code=400,
                )
            try:
                await handlers.receive(_delivery(update, body))
            except DeliveryNotKept as exc:
                # Telegram delivers it again after a failure answer.
                return JSONResponse({"detail": f"{exc}; retry"}, status_code=500)
            return JSONResponse({"ok": True})

        return router

    # --- updates --------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        for command in _COMMANDS:
            app.add_handler(CommandHandler(command, self._on_command))
        app.add_handler(CommandHandler("start", self._on_start, filters.ChatType.PRIVATE))
        app.add_handler(CallbackQueryHandler(self._on_button))
        app.add_handler(
            MessageHandler(
                filters.ChatType.GROUPS & filters.REPLY & filters.TEXT, self._on_group_reply
            )
        )
        app.add_handler(MessageHandler(filters.ChatType.PRIVATE, self._on_private))
        app.add_error_handler(self._on_error)

    async def _process(self, update: Update) -> None:
        """Process `update`; raises what its handler raised (nothing of it was committed)."""
        await self.app.process_update(update)
        failure = self._failed.pop(update.update_id, None)
        if failure is not None:
            raise UpdateFailed(f"update {update.update_id}: {failure!r}") from failure

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if isinstance(update, Update):
            self._failed[update.update_id] = context.error or UnusableUpdate("no error given")
        log.warning("telegram update not handled", exc_info=context.error)

    async def _on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _needed(update, update.effective_message, "message")
        await _courtesy(
            message.reply_text(
                self._texts.welcome,
                reply_markup=_keyboard(self._texts.languages),
                reply_parameters=_reply(message.message_id),
            )
        )

    async def _on_private(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _needed(update, update.effective_message, "message")
        handlers = self._started(update)
        document = message.document
        if document is not None and (document.file_name or "").lower().endswith(_RULE_FILES):
            # A rule file is an admin's proposal, not a complaint.
            content = await (await self.app.bot.get_file(document.file_id)).download_as_bytearray()
            await self._act(
                update,
                message,
                ActionKind.PROPOSE_RULES,
                reference=document.file_name,
                text=bytes(content).decode("utf-8", errors="replace"),
            )
            return
        inbound = await self._inbound(message)
        await handlers.deliver(inbound)

    async def _inbound(self, message: Message) -> InboundMessage:
        user = message.from_user
        attachments = await self._attachments(message)
        location = None
        if message.location is not None:
            location = Location(message.location.latitude, message.location.longitude)
        replied = message.reply_to_message
        language = user.language_code if user and user.language_code in ("id", "en") else None
        return InboundMessage(
            channel=ChannelName.TELEGRAM,
            sender=str(message.chat.id),
            text=message.text or message.caption or "",
            received_at=message.date.astimezone(UTC) if message.date else datetime.now(UTC),
            provider_message_id=f"{message.chat.id}:{message.message_id}",
            display_name=user.full_name if user else None,
            attachments=attachments,
            location=location,
            thread_keys=(thread_key(message.chat.id, replied.message_id),) if replied else (),
            language_hint=language,
        )

    async def _attachments(self, message: Message) -> tuple[Attachment, ...]:
        if message.photo:
            largest = message.photo[-1]
            name, kind, size, file_id = "foto.jpg", "image/jpeg", largest.file_size, largest.file_id
        elif message.document is not None:
            document = message.document
            name = document.file_name or "dokumen"
            kind = document.mime_type or "application/octet-stream"
            size, file_id = document.file_size, document.file_id
        else:
            return ()
        if size and size > MAX_ATTACHMENT_BYTES:
            log.warning("attachment over %d bytes not fetched", MAX_ATTACHMENT_BYTES)
            return ()
        content = await (await self.app.bot.get_file(file_id)).download_as_bytearray()
        # A photo sent as a file keeps the camera data Telegram strips from a photo.
        return (await without_camera_data(Attachment(name, kind, bytes(content))),)

    async def _on_group_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _needed(update, update.effective_message, "message")
        replied = _needed(update, message.reply_to_message, "replied-to message")
        bot = context.bot
        if replied.from_user is None or replied.from_user.id != bot.id:
            return  # officers talking among themselves
        for kind, pattern in self._prompt_patterns.items():
            if match := pattern.match(replied.text or ""):
                await self._act(
                    update, message, kind, reference=match["ref"], text=message.text or ""
                )
                return
        await self._act(
            update,
            message,
            ActionKind.ANSWER,
            text=message.text or "",
            thread=thread_key(message.chat.id, replied.message_id),
        )

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _needed(update, update.effective_message, "message")
        text = _needed(update, message.text, "text")
        command = text.split()[0].lstrip("/").split("@")[0].lower()
        kind = _COMMANDS[command]
        args = list(context.args or [])
        if kind is ActionKind.LINK:
            await self._act(update, message, kind, text=" ".join(args))
            return
        reference = args.pop(0) if args and kind not in _LISTS else None
        agency = args.pop(0).upper() if args and kind is ActionKind.TRANSFER else None
        replied = message.reply_to_message
        thread = thread_key(message.chat.id, replied.message_id) if replied else None
        await self._act(
            update,
            message,
            kind,
            reference=reference,
            agency=agency,
            text=" ".join(args),
            thread=thread,
        )

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = _needed(update, update.callback_query, "callback query")
        handlers = self._started(update)
        pressed = _decode(query.data or "")
        if pressed is None:
            await _courtesy(query.answer(self._texts.unknown_button))
            return
        if pressed.says is not None:
            # A resident's choice (a rating, a language): as if they had typed it.
            chat = _needed(update, update.effective_chat, "chat")
            await handlers.deliver(
                InboundMessage(
                    channel=ChannelName.TELEGRAM,
                    sender=str(chat.id),
                    text=pressed.says,
                    received_at=datetime.now(UTC),
                    provider_message_id=f"callback:{query.id}",
                )
            )
            await _courtesy(query.answer())
            return
        if pressed.action is None:
            raise UnusableUpdate(
                f"Telegram update {update.update_id}: {query.data!r} names no action"
            )
        if pressed.action in self._texts.prompts:
            await _courtesy(query.answer())
            chat = _needed(update, update.effective_chat, "chat")
            prompt = self._texts.prompts[pressed.action]
            prompt = prompt.replace(REFERENCE_SLOT, pressed.reference or "")
            await _courtesy(
                context.bot.send_message(
                    chat_id=chat.id, text=prompt, reply_markup=ForceReply(selective=True)
                )
            )
            return
        transfer = pressed.action is ActionKind.TRANSFER
        result = await self._request(
            update,
            pressed.action,
            reference=pressed.reference,
            agency=pressed.argument if transfer else None,
            text="" if transfer else pressed.argument or "",
        )
        await _courtesy(query.answer(result.message[:200], show_alert=not result.ok))
        if result.ok and pressed.action in _SETTLES and isinstance(query.message, Message):
            await self._mark_done(
                query.message, result.message, keep=pressed.action is ActionKind.TAKE
            )
        pressed_in = update.effective_chat
        if result.buttons and pressed_in is not None:
            # The service offers a next choice (the agencies a transfer can go to).
            await _courtesy(
                context.bot.send_message(
                    chat_id=pressed_in.id,
                    text=result.message,
                    reply_markup=_keyboard(result.buttons),
                )
            )

    async def _mark_done(self, posted: Message, outcome: str, *, keep: bool) -> None:
        """Show under the group's post what was done, so nobody does it twice."""
        text = f"{posted.text or ''}\n\n— {outcome}"[:MAX_TEXT]
        markup = posted.reply_markup if keep else None
        await _courtesy(posted.edit_text(text, reply_markup=markup))

    async def _act(
        self,
        update: Update,
        message: Message,
        kind: ActionKind,
        *,
        reference: str | None = None,
        agency: str | None = None,
        text: str = "",
        thread: str | None = None,
    ) -> None:
        result = await self._request(
            update, kind, reference=reference, agency=agency, text=text, thread=thread
        )
        await _courtesy(
            message.reply_text(
                result.message,
                reply_markup=_keyboard(result.buttons),
                reply_parameters=_reply(message.message_id),
            )
        )

    async def _request(
        self,
        update: Update,
        kind: ActionKind,
        *,
        reference: str | None = None,
        agency: str | None = None,
        text: str = "",
        thread: str | None = None,
    ) -> ActionResult:
        handlers = self._started(update)
        user = _needed(update, update.effective_user, "user")
        chat = _needed(update, update.effective_chat, "chat")
        identity = Identity(
            ChannelName.TELEGRAM,
            str(user.id),
            str(chat.id),
            user.full_name,
            group=chat.type in ("group", "supergroup"),
        )
        return await handlers.act(
            ActionRequest(
                identity,
                kind,
                str(update.update_id),
                reference=reference,
                text=text,
                agency_code=agency,
                thread_key=thread,
            )
        )

    # --- sending --------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Send the text in pieces Telegram takes, then each file under the last piece. A
        transient error after a part went raises PartlySent: the retry sends the rest."""
        chat_id = message.recipient
        chunks = split_text(message.text, MAX_TEXT)
        parts = len(chunks) + len(message.attachments)
        progress = message.progress or SendProgress(0)
        # The last text piece sent: what the files go under, and what the receipt names.
        last = int(progress.anchor) if progress.anchor else None
        for index in range(progress.parts_sent, parts):
            try:
                if index < len(chunks):
                    last = (await self._piece(message, chunks, index)).message_id
                else:
                    await self._file(message, message.attachments[index - len(chunks)], last)
            except TransientSendError as exc:
                if not index:
                    raise
                raise PartlySent(
                    f"{exc} (after {index} of {parts} parts went)",
                    SendProgress(index, None if last is None else str(last)),
                ) from exc
        if last is None:
            raise PermanentSendError("the message's text was sent and its id was not kept")
        return SendReceipt(
            provider_message_id=f"{chat_id}:{last}", thread_key=thread_key(chat_id, last)
        )

    async def _piece(self, message: OutboundMessage, chunks: list[str], index: int) -> Message:
        """One piece of the text: the first answers what the message replies to, the last
        carries the buttons."""
        chat_id = message.recipient
        reply_to = _replied_message(message.in_reply_to, chat_id) if index == 0 else None
        return await _delivered(
            partial(
                self.app.bot.send_message,
                chat_id=chat_id,
                text=chunks[index],
                reply_markup=_keyboard(message.buttons) if index == len(chunks) - 1 else None,
                reply_parameters=_reply(reply_to),
            )
        )

    async def _file(
        self, message: OutboundMessage, attachment: Attachment, under: int | None
    ) -> None:
        """A photo or file, right under the text it belongs to."""
        bot = self.app.bot
        if attachment.content_type.startswith("image/"):
            send = partial(bot.send_photo, photo=attachment.content)
        else:
            send = partial(bot.send_document, document=attachment.content)
        await _delivered(
            partial(
                send,
                chat_id=message.recipient,
                filename=attachment.filename,
                reply_parameters=_reply(under),
            )
        )


async def _delivered(call: Callable[[], Awaitable[Message]]) -> Message:
    """One Bot API send, waiting out a short flood-control pause; our errors otherwise."""
    for attempt in range(2):
        try:
            return await call()
        except RetryAfter as exc:
            wait = _seconds(exc)
            if attempt or wait > _LONGEST_WAIT:
                raise TransientSendError(
                    f"Telegram flood control: retry after {wait:.0f} s"
                ) from exc
            await asyncio.sleep(wait)
        except Forbidden as exc:
            raise PermanentSendError(f"Telegram refused: {exc.message}") from exc
        except BadRequest as exc:
            raise PermanentSendError(f"Telegram rejected the message: {exc.message}") from exc
        except TelegramError as exc:
            # PTB says "timed out" alike for a request that never left and one unanswered;
            # what httpx raised (its cause) tells them apart.
            if isinstance(exc, NetworkError) and isinstance(exc.__cause__, httpx.HTTPError):
                raise send_failure("Telegram", exc.__cause__) from exc
            raise TransientSendError(f"Telegram: {exc.message}") from exc
    raise AssertionError("unreachable")


async def _courtesy(call: Awaitable[object]) -> None:
    """Say something to an officer after the service acted. Telegram refusing it (a press
    too old to answer, a deleted message, a group the bot left) undoes nothing."""
    try:
        await call
    except (BadRequest, Forbidden) as exc:
        log.info("could not tell the officer: %s", exc.message)


def _delivery(update: Update, body: bytes) -> RawDelivery:
    return RawDelivery(
        ChannelName.TELEGRAM, _UPDATE, f"{_UPDATE}:{update.update_id}", body, datetime.now(UTC)
    )


def _reply(message_id: int | None) -> ReplyParameters | None:
    return ReplyParameters(message_id, allow_sending_without_reply=True) if message_id else None


# Commands that name no complaint.
_LISTS = (ActionKind.LIST, ActionKind.MINE, ActionKind.OVERDUE, ActionKind.RULES, ActionKind.STATS)
_RULE_FILES = (".yaml", ".yml")
# Button actions whose outcome is written under the group's post.
_SETTLES = (ActionKind.TAKE, ActionKind.CLOSE, ActionKind.TRANSFER)


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at a paragraph, line or word where possible;
    at least one."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        cut = cut if cut > limit // 2 else limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    pieces.append(rest)
    return pieces


def _keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    keys = [InlineKeyboardButton(b.label, callback_data=_encode(b)) for b in buttons]
    return InlineKeyboardMarkup([keys[i : i + 3] for i in range(0, len(keys), 3)])


def _encode(button: Button) -> str:
    """Callback data (at most 64 bytes): `s:<text>` for a resident, `a:<action>:<ref>:<arg>`."""
    if button.says is not None:
        return f"s:{button.says}"
    return f"a:{button.action}:{button.reference or ''}:{button.argument or ''}"


def _decode(data: str) -> Button | None:
    kind, _, rest = data.partition(":")
    if kind == "s":
        return Button("", says=rest)
    if kind != "a":
        return None
    action, reference, argument = [*rest.split(":"), "", ""][:3]
    try:
        return Button("", ActionKind(action), reference or None, argument or None)
    except ValueError:
        return None


def _replied_message(handle: str | None, chat_id: str) -> int | None:
    if not handle or not handle.startswith("telegram:"):
        return None
    _, chat, message_id = handle.split(":")
    return int(message_id) if chat == chat_id else None


def _file_base(api_base: str) -> str:
    """https://api.telegram.org/bot → https://api.telegram.org/file/bot."""
    root, _, _ = api_base.rstrip("/").rpartition("/bot")
    return f"{root}/file/bot"


def _update_of(body: bytes, bot: Any) -> Update | None:
    """The update in a webhook's body, or None for anything else: bad JSON, JSON that is
    not an object with an integer update_id, or fields python-telegram-bot cannot read."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        return None
    try:
        return Update.de_json(data, bot)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None


def _seconds(error: RetryAfter) -> float:
    """How long Telegram asks us to wait (an int today, a timedelta in PTB's next major)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: object = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)  # type: ignore[arg-type]
