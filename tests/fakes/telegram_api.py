"""A fake Telegram Bot API on loopback, for tests that drive the real python-telegram-bot.

The fake is an HTTP server (a Starlette app -- the ASGI core of FastAPI -- served by uvicorn
as a background task in the test's own event loop) that answers the Bot API the way
python-telegram-bot 22.8 calls it: ``POST {base}/bot{token}/{method}`` with
``application/x-www-form-urlencoded`` parameters, or ``multipart/form-data`` when a file is
uploaded. PTB encodes every non-string value as JSON inside the form field (so
``reply_markup``, ``reply_parameters``, ``entities`` and ``allowed_updates`` arrive as JSON
text, and ``chat_id`` as ``"-100123"``); the fake decodes them per parameter name. JSON bodies
(``application/json``) and query strings are accepted too.

Wiring the real client (the token is appended to both URLs by ``telegram.Bot``)::

    async with running_fake_bot_api() as api:
        application = (
            ApplicationBuilder()
            .token(api.token)
            .base_url(api.base_url)            # "http://127.0.0.1:PORT/bot"
            .base_file_url(api.base_file_url)  # "http://127.0.0.1:PORT/file/bot"
            .build()
        )
        # or: Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url)

Feeding updates: build REAL Update JSON (numbered with increasing update ids) with the
builders (``text_message``, ``command_message``, ``reply_message``, ``callback_query``,
``photo_message``, ``document_message``, ``location_message``) and queue it with
``api.push_update(update)``; getUpdates hands it out (long polling honours ``offset``,
``timeout`` and ``limit``). In webhook mode, ``await api.deliver_webhook(update)`` POSTs it
to the URL the bot registered with setWebhook, with the ``X-Telegram-Bot-Api-Secret-Token``
header.

Inspecting: ``api.sent`` (every message the bot sent, as ``SentMessage``), ``api.sent_to``,
``api.calls`` / ``api.calls_of(method)`` (every request, including failed ones),
``api.message(chat_id, message_id)`` (the current, possibly edited, message JSON),
``await api.wait_for_sent(...)`` / ``await api.wait_for_call(...)``.

Failures: ``api.flood(method, times=n)`` answers the next n calls with HTTP 429 and
``retry_after`` (PTB raises ``telegram.error.RetryAfter``); ``api.fail_next(...)`` injects any
Bot API error; ``api.stall(method, seconds=s)`` holds the next call that long and then
answers 504 without doing it (a timeout, for a client that gives up sooner), and with
``done=True`` does it first and holds only its answer (the client cannot tell the two);
``async with api.refusing_connections():`` closes the port meanwhile (connection refused);
``api.blocked_chats`` answers 403 as a user who blocked the bot.

Behaviour copied from Telegram, so that tests catch what production would reject:

- ``strict_chats`` (default on): the bot can only send to chats it knows -- chats seen in
  a built update or added with ``api.add_chat`` -- otherwise "Bad Request: chat not found"
  (a group) or 403 "Forbidden: bot can't initiate conversation with a user" (a user who
  never wrote to the bot).
- ``parse_mode="HTML"`` is parsed: the returned message carries the plain text plus
  entities, and bad markup (``<foo>``, a stray ``<``, unbalanced tags) is a 400 "can't parse
  entities" error. Markdown modes are passed through unparsed.
- Message ids increase per chat and are shared by the bot's and the users' messages; edits
  that change nothing are "message is not modified"; editMessageText without
  ``reply_markup`` removes the inline keyboard; callback data must be 1-64 bytes; a callback
  query can be answered once; replying to an unknown message is an error unless
  ``allow_sending_without_reply``; getUpdates while a webhook is set is 409 Conflict, and a
  second concurrent getUpdates terminates the first with 409.

Not modelled: group privacy mode (the test decides which updates the bot sees), Markdown
parsing, HTTPS/port rules for webhooks, media groups, inline mode. Methods other than those
in ``FakeBotApi.METHODS`` answer 404 "Not Found" (PTB raises ``InvalidToken``, or
``EndPointNotFound`` from ``do_api_request``) unless a test adds them with ``stub_method``.

Use it from your own fixture (it is deliberately not in conftest.py)::

    @pytest.fixture
    async def telegram_api() -> AsyncIterator[FakeBotApi]:
        async with running_fake_bot_api() as api:
            yield api
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import inspect
import itertools
import json
import mimetypes
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, TypeVar

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

JSONDict = dict[str, Any]
ChatType = Literal["private", "group", "supergroup", "channel"]
Handler = Callable[[JSONDict], Any]
T = TypeVar("T")

DEFAULT_TOKEN = "7012345678:AAFakeTokenForAduanTests-0123456789ab"
FIRST_UPDATE_ID = 548_210_000
MAX_TEXT_UTF16 = 4096
MAX_CAPTION_UTF16 = 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
PHOTO_SIZES = ((90, 68), (320, 240), (1280, 960))
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
WEBHOOK_CONFLICT_TEXT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


# --------------------------------------------------------------------------- data types


class BotApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(
        self, error_code: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> JSONDict:
        """The response body Telegram would send."""
        body: JSONDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def webhook_conflict() -> BotApiError:
    """getUpdates while a webhook is set."""
    return BotApiError(409, WEBHOOK_CONFLICT_TEXT)


def bad_request(detail: str) -> BotApiError:
    """A 400 error whose description starts with "Bad Request: " as Telegram's do."""
    return BotApiError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class TgUser:
    """A Telegram user as it appears in ``from`` fields."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "id"
    is_bot: bool = False

    def to_json(self) -> JSONDict:
        """User JSON, omitting absent optional fields like Telegram does."""
        data: JSONDict = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        optional = {
            "last_name": self.last_name,
            "username": self.username,
            "language_code": self.language_code,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        return data


@dataclass(frozen=True)
class TgChat:
    """A Telegram chat as it appears in ``chat`` fields."""

    id: int
    type: ChatType
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    @classmethod
    def private(cls, user: TgUser) -> TgChat:
        """The private chat between ``user`` and the bot (its id is the user's id)."""
        return cls(
            id=user.id,
            type="private",
            username=user.username,
            first_name=user.first_name,
            last_name=user.last_name,
        )

    @classmethod
    def group(cls, chat_id: int, title: str) -> TgChat:
        """A basic group; Telegram gives these small negative ids."""
        if chat_id >= 0:
            raise ValueError("group ids are negative")
        return cls(id=chat_id, type="group", title=title)

    @classmethod
    def supergroup(cls, chat_id: int, title: str, username: str | None = None) -> TgChat:
        """A supergroup; Telegram gives these ids of the form -100xxxxxxxxxx."""
        if not str(chat_id).startswith("-100"):
            raise ValueError("supergroup ids look like -1001234567890")
        return cls(id=chat_id, type="supergroup", title=title, username=username)

    def to_json(self) -> JSONDict:
        """Chat JSON, omitting absent optional fields."""
        data: JSONDict = {"id": self.id}
        optional = {
            "title": self.title,
            "username": self.username,
            "first_name": self.first_name,
            "last_name": self.last_name,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        data["type"] = self.type
        return data


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class StoredFile:
    """A file the fake can serve through getFile and the file download URL."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None

    def to_json(self) -> JSONDict:
        """File JSON as getFile returns it."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


@dataclass
class ApiCall:
    """One request to the fake, with its decoded parameters and outcome."""

    method: str
    params: JSONDict
    result: Any = None
    error: BotApiError | None = None


@dataclass
class SentMessage:
    """A message the bot sent (sendMessage, sendPhoto, sendDocument)."""

    method: str
    chat_id: int
    message_id: int
    text: str | None
    caption: str | None
    parse_mode: str | None
    reply_markup: JSONDict | None
    reply_to_message_id: int | None
    reply_parameters: JSONDict | None
    photo: bytes | str | None
    document: bytes | str | None
    file_name: str | None
    params: JSONDict
    message: JSONDict = field(repr=False)


class _Default(enum.Enum):
    STORED = "stored"


# --------------------------------------------------------------------------- parameters

JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "entities",
        "caption_entities",
        "link_preview_options",
        "allowed_updates",
        "media",
        "commands",
        "scope",
    }
)
INT_PARAMS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "message_thread_id",
        "reply_to_message_id",
        "offset",
        "limit",
        "cache_time",
        "max_connections",
        "user_id",
    }
)
FLOAT_PARAMS = frozenset({"timeout", "latitude", "longitude"})
BOOL_PARAMS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "disable_content_type_detection",
        "has_spoiler",
        "show_caption_above_media",
    }
)


def coerce_param(name: str, value: Any) -> Any:
    """Decode one form value the way Telegram does: JSON for objects, numbers, booleans."""
    if not isinstance(value, str):
        return value
    try:
        if name in JSON_PARAMS:
            return json.loads(value)
        if name in INT_PARAMS:
            return value if value.startswith("@") else int(value)
        if name in FLOAT_PARAMS:
            return float(value)
    except ValueError as exc:
        raise bad_request(f"can't parse {name}: {value!r}") from exc
    if name in BOOL_PARAMS:
        return value.strip().lower() in ("true", "1")
    return value


async def read_params(request: Request) -> JSONDict:
    """The request's parameters (query, form or JSON body), uploads resolved and decoded."""
    raw: JSONDict = dict(request.query_params)
    uploads: dict[str, Upload] = {}
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        raw.update(await _json_body(request))
    elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        async with request.form() as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    uploads[key] = Upload(key, value.filename, value.content_type, data)
                else:
                    raw[key] = value
    params = {key: _resolve_attachment(value, uploads) for key, value in raw.items()}
    params.update({key: upload for key, upload in uploads.items() if key not in params})
    return {key: coerce_param(key, value) for key, value in params.items()}


async def _json_body(request: Request) -> JSONDict:
    body = await request.body()
    if not body:
        return {}
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise bad_request("can't parse JSON encoded request parameters") from exc
    if not isinstance(payload, dict):
        raise bad_request("JSON object expected")
    return payload


def _resolve_attachment(value: Any, uploads: Mapping[str, Upload]) -> Any:
    if isinstance(value, str) and value.startswith("attach://"):
        name = value.removeprefix("attach://")
        if name not in uploads:
            raise bad_request(f"file {name!r} referenced by attach:// was not uploaded")
        return uploads[name]
    return value


def require(params: JSONDict, name: str, description: str | None = None) -> Any:
    """A required parameter, or Telegram's "... is empty" error."""
    value = params.get(name)
    if value is None or value == "":
        raise bad_request(description or f"{name} is empty")
    return value


# --------------------------------------------------------------------------- text


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


_AUTO_ENTITY = re.compile(
    r"(?P<url>https?://\S+)"
    r"|(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?)(?!\w)"
    r"|(?P<mention>(?<!\w)@[A-Za-z0-9_]{5,32})"
    r"|(?P<hashtag>(?<![\w#])#\w+)"
)


def detect_entities(text: str) -> list[JSONDict]:
    """The entities Telegram adds to a user's text: urls, bot commands, mentions, hashtags."""
    return [
        {
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group()),
            "type": match.lastgroup,
        }
        for match in _AUTO_ENTITY.finditer(text)
    ]


_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
}
_CHAR_REF = re.compile(r"&(?:#(\d+)|#[xX]([0-9a-fA-F]+)|(lt|gt|amp|quot));")
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ATTRIBUTE = re.compile(r"""([^\s=>/"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_TAG_NAME = re.compile(r"[^\s>]*")


def _decode_ref(match: re.Match[str]) -> str:
    decimal, hexadecimal, named = match.groups()
    if decimal:
        return chr(int(decimal))
    if hexadecimal:
        return chr(int(hexadecimal, 16))
    return _NAMED_REFS[named]


def decode_html_refs(text: str) -> str:
    """Replace the character references Telegram understands (&lt; &gt; &amp; &quot; &#N;)."""
    return _CHAR_REF.sub(_decode_ref, text)


@dataclass
class _OpenTag:
    name: str
    attributes: dict[str, str]
    offset: int


class HtmlParser:
    """Telegram's HTML parse mode: plain text plus entities, or a "can't parse" error."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.position = 0
        self.pieces: list[str] = []
        self.offset = 0
        self.open_tags: list[_OpenTag] = []
        self.entities: list[JSONDict] = []

    def parse(self) -> tuple[str, list[JSONDict]]:
        """Run the parser over the whole source."""
        while self.position < len(self.source):
            char = self.source[self.position]
            if char == "<":
                self._tag()
            elif char == "&":
                self._reference()
            else:
                self._emit(char)
                self.position += 1
        if self.open_tags:
            name = self.open_tags[-1].name
            raise self._error(f'Can\'t find end tag corresponding to start tag "{name}"')
        for entity in self.entities:
            entity.pop("_language", None)
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return "".join(self.pieces), self.entities

    def _emit(self, text: str) -> None:
        self.pieces.append(text)
        self.offset += utf16_len(text)

    def _reference(self) -> None:
        match = _CHAR_REF.match(self.source, self.position)
        if match is None:
            self._emit("&")
            self.position += 1
            return
        self._emit(_decode_ref(match))
        self.position = match.end()

    def _byte_offset(self, position: int) -> int:
        return len(self.source[:position].encode())

    @staticmethod
    def _error(detail: str) -> BotApiError:
        return bad_request(f"can't parse entities: {detail}")

    def _tag(self) -> None:
        start = self.position
        end = self.source.find(">", start)
        if self.source.startswith("</", start):
            self._end_tag(start, end)
        else:
            self._start_tag(start, end)

    def _start_tag(self, start: int, end: int) -> None:
        at = f"at byte offset {self._byte_offset(start)}"
        if end == -1:
            raise self._error(f"Unclosed start tag {at}")
        body = self.source[start + 1 : end]
        name_match = _TAG_NAME.match(body)
        name = name_match.group().lower() if name_match else ""
        if name not in _HTML_ENTITY_TYPES:
            raise self._error(f'Unsupported start tag "{name}" {at}')
        attributes = {
            match.group(1).lower(): decode_html_refs(
                next((group for group in match.groups()[1:] if group is not None), "")
            )
            for match in _ATTRIBUTE.finditer(body, len(name))
        }
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise self._error(f'Tag "span" must have class "tg-spoiler" {at}')
        self.open_tags.append(_OpenTag(name, attributes, self.offset))
        self.position = end + 1

    def _end_tag(self, start: int, end: int) -> None:
        at = f"at byte offset {self._byte_offset(start)}"
        if end == -1:
            raise self._error(f"Unclosed end tag {at}")
        if not self.open_tags:
            raise self._error(f"Unexpected end tag {at}")
        name = self.source[start + 2 : end].strip().lower()
        tag = self.open_tags.pop()
        if name and name != tag.name:
            raise self._error(
                f'Unmatched end tag {at}, expected "</{tag.name}>", found "</{name}>"'
            )
        self._close(tag)
        self.position = end + 1

    def _close(self, tag: _OpenTag) -> None:
        length = self.offset - tag.offset
        if length <= 0:
            return
        entity: JSONDict = {
            "offset": tag.offset,
            "length": length,
            "type": _HTML_ENTITY_TYPES[tag.name],
        }
        if tag.name == "a":
            if not tag.attributes.get("href"):
                return
            entity["url"] = tag.attributes["href"]
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.attributes.get("emoji-id", "")
        elif tag.name == "blockquote" and "expandable" in tag.attributes:
            entity["type"] = "expandable_blockquote"
        elif tag.name == "code":
            language = tag.attributes.get("class", "")
            if language.startswith("language-"):
                entity["_language"] = language.removeprefix("language-")
        elif tag.name == "pre":
            self._absorb_code(entity)
        self.entities.append(entity)

    def _absorb_code(self, pre: JSONDict) -> None:
        """``<pre><code class="language-x">`` is one pre entity with a language."""
        if not self.entities:
            return
        last = self.entities[-1]
        same_span = (last["offset"], last["length"]) == (pre["offset"], pre["length"])
        if last["type"] == "code" and same_span:
            self.entities.pop()
            if last.get("_language"):
                pre["language"] = last["_language"]


def render_text(
    text: str, parse_mode: str | None, entities: list[JSONDict] | None
) -> tuple[str, list[JSONDict]]:
    """The text and entities Telegram stores for a sent text or caption."""
    if not parse_mode:
        return text, list(entities or [])
    mode = parse_mode.lower()
    if mode == "html":
        return HtmlParser(text).parse()
    if mode in ("markdown", "markdownv2"):
        return text, []
    raise bad_request("unsupported parse_mode")


BUTTON_ACTIONS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)


def check_inline_keyboard(markup: JSONDict) -> None:
    """Reject inline keyboards Telegram would reject."""
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("can't parse inline keyboard markup: expected an Array of Arrays")
    for button in itertools.chain.from_iterable(rows):
        if not button.get("text"):
            raise bad_request("can't parse inline keyboard button: Text must be non-empty")
        if not BUTTON_ACTIONS & set(button):
            raise bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in the "
                "inline keyboard"
            )
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= 64:
            raise bad_request("BUTTON_DATA_INVALID")


def without_reply(message: JSONDict) -> JSONDict:
    """A message as embedded in ``reply_to_message``: Telegram nests only one level."""
    return {key: value for key, value in message.items() if key != "reply_to_message"}


def file_extension(file_name: str | None, mime_type: str | None) -> str:
    """The extension of ``file_name``, else one for ``mime_type`` (".jpg"), else ""."""
    if file_name and "." in file_name:
        return "." + file_name.rpartition(".")[2]
    return (mimetypes.guess_extension(mime_type) if mime_type else None) or ""


def update_kind(update: JSONDict) -> str:
    """The update type: the key besides ``update_id`` ("message", "callback_query", ...)."""
    return next((key for key in update if key != "update_id"), "")


def _now() -> int:
    return int(time.time())


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


# --------------------------------------------------------------------------- server


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves the test runner's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LoopbackServer:
    """Serves an ASGI app on 127.0.0.1 (a free port) as a task in the running loop."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self._app = app
        self.host = host
        self.port = 0
        self._server = self._new_server()
        self._task: asyncio.Task[None] | None = None

    def _new_server(self) -> _QuietServer:
        """A server on `self.port` (0 before the first start: a free one)."""
        config = uvicorn.Config(
            self._app,
            host=self.host,
            port=self.port,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        return _QuietServer(config)

    @property
    def url(self) -> str:
        """``http://host:port`` once started."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Start serving and wait (at most 5 s) until the socket is listening."""
        self._task = asyncio.create_task(self._server.serve(), name="fake-telegram-uvicorn")
        async with asyncio.timeout(5):
            while not self._server.started:
                if self._task.done():
                    raise RuntimeError("uvicorn stopped before it started") from (
                        self._task.exception()
                    )
                await asyncio.sleep(0.005)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, and await the serving task."""
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None

    @contextlib.asynccontextmanager
    async def refusing(self) -> AsyncIterator[None]:
        """Closed meanwhile: connections to the port are refused; then served again on it."""
        await self.stop()
        try:
            yield
        finally:
            self._server = self._new_server()
            await self.start()


# --------------------------------------------------------------------------- the fake


class TelegramSettings(TypedDict):
    """The service's settings (`Settings` field names) that point it at the fake, polling."""

    telegram_token: str
    telegram_api_base: str
    telegram_poll_timeout: int
    telegram_group_messages_per_minute: float


class FakeBotApi:
    """The fake Bot API: state, method handlers, update builders and inspection helpers."""

    METHODS = (
        "getMe",
        "getUpdates",
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "deleteMessage",
        "answerCallbackQuery",
        "sendChatAction",
        "setWebhook",
        "deleteWebhook",
        "getWebhookInfo",
        "getFile",
        "setMyCommands",
        "getMyCommands",
        "deleteMyCommands",
    )

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "aduan_test_bot",
        bot_name: str = "Aduan Test Bot",
        strict_chats: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.bot = TgUser(
            id=int(token.split(":", 1)[0]),
            first_name=bot_name,
            username=bot_username,
            language_code=None,
            is_bot=True,
        )
        self.strict_chats = strict_chats
        self.chats: dict[int, JSONDict] = {}
        self.blocked_chats: set[int] = set()
        self.messages: dict[tuple[int, int], JSONDict] = {}
        self.sent: list[SentMessage] = []
        self.calls: list[ApiCall] = []
        self.files: dict[str, StoredFile] = {}
        self.callback_answers: dict[str, JSONDict] = {}
        self.commands: list[JSONDict] = []
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.allowed_updates: list[str] | None = None
        self.internal_errors: list[BaseException] = []
        self._updates: list[JSONDict] = []
        self._last_update_id = FIRST_UPDATE_ID
        self._last_pushed_id = 0
        self._confirmed_offset = 0
        self._message_ids: dict[int, int] = {}
        self._file_counter = itertools.count(1)
        self._query_counter = itertools.count(1)
        self._open_queries: set[str] = set()
        self._photo_groups: dict[str, list[JSONDict]] = {}
        # None lets a call through before the failures behind it.
        self._failures: dict[str, deque[BotApiError | None]] = {}
        self._stalls: dict[str, deque[tuple[float, bool]]] = {}
        self._handlers: dict[str, tuple[str, Handler]] = {}
        self._poll_generation = 0
        self._closing = False
        self._changed = asyncio.Event()
        self._server = LoopbackServer(self._asgi_app(), host)
        self._install_handlers()

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The server root, ``http://127.0.0.1:PORT``."""
        return self._server.url

    @property
    def base_url(self) -> str:
        """Pass to ``ApplicationBuilder.base_url`` / ``Bot(base_url=)``; PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """Pass to ``ApplicationBuilder.base_file_url``; PTB appends the token."""
        return f"{self.url}/file/bot"

    def service_settings(self) -> TelegramSettings:
        """The settings that make a service poll this fake for updates."""
        return {
            "telegram_token": self.token,
            "telegram_api_base": self.base_url,
            "telegram_poll_timeout": 1,
            # The fake has no limits; at the real pace (one message to a group every 3 s) a
            # test clock standing still would hold back all but the first.
            "telegram_group_messages_per_minute": 60_000.0,
        }

    async def start(self) -> None:
        """Start the HTTP server on a free loopback port."""
        await self._server.start()

    async def stop(self) -> None:
        """Wake any long poll with an empty answer and stop the server."""
        self._closing = True
        self._notify()
        await self._server.stop()

    @contextlib.asynccontextmanager
    async def refusing_connections(self) -> AsyncIterator[None]:
        """Within it, connections to the fake are refused (as when nothing listens); a long
        poll in flight is answered empty first."""
        self._closing = True
        self._notify()
        try:
            async with self._server.refusing():
                self._closing = False
                yield
        finally:
            self._closing = False

    def raise_internal_errors(self) -> None:
        """Fail loudly if a handler of the fake itself crashed (a bug in the fake)."""
        if self.internal_errors:
            raise RuntimeError(f"the fake Bot API crashed: {self.internal_errors!r}")

    def _notify(self) -> None:
        """Wake everything waiting for a state change (long polls, wait_for_*)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, check: Callable[[], T | None], seconds: float) -> T | None:
        """``check()`` once it returns something other than None, or None after ``seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (found := check()) is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return found

    # ------------------------------------------------------------------ HTTP

    def _asgi_app(self) -> Starlette:
        methods = ["GET", "POST"]
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._bot_endpoint, methods=methods),
                Route("/file/bot{token}/{file_path:path}", self._file_endpoint, methods=["GET"]),
                Route("/{path:path}", self._not_found, methods=methods),
            ]
        )

    @staticmethod
    def _answer(result: Any) -> Response:
        return JSONResponse({"ok": True, "result": result})

    @staticmethod
    def _fail(error: BotApiError) -> Response:
        return JSONResponse(error.to_json(), status_code=error.error_code)

    async def _not_found(self, request: Request) -> Response:
        return self._fail(BotApiError(404, "Not Found"))

    async def _bot_endpoint(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return self._fail(BotApiError(401, "Unauthorized"))
        try:
            params = await read_params(request)
        except BotApiError as error:
            return self._fail(error)
        return await self._call(request.path_params["method"], params)

    async def _call(self, method: str, params: JSONDict) -> Response:
        name, handler = self._handlers.get(method.lower(), (method, None))
        call = ApiCall(name, params)
        self.calls.append(call)
        try:
            stall = self._stall_asked(name)
            if stall is not None and not stall[1]:
                await asyncio.sleep(stall[0])
                raise BotApiError(504, "Gateway Timeout")
            self._raise_injected_failure(name)
            if handler is None:
                raise BotApiError(404, "Not Found")
            call.result = await self._run(handler, params)
            if stall is not None:
                self._notify()  # done: waiters see it while its answer is held
                await asyncio.sleep(stall[0])
        except BotApiError as error:
            call.error = error
            return self._fail(error)
        except Exception as exc:  # a bug in the fake: report it, never hide it
            self.internal_errors.append(exc)
            call.error = BotApiError(500, f"Internal Server Error: {exc!r}")
            return self._fail(call.error)
        finally:
            self._notify()
        return self._answer(call.result)

    @staticmethod
    async def _run(handler: Handler, params: JSONDict) -> Any:
        result = handler(params)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _file_endpoint(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return self._fail(BotApiError(401, "Unauthorized"))
        path = request.path_params["file_path"]
        stored = next((f for f in self.files.values() if f.file_path == path), None)
        if stored is None:
            return self._fail(BotApiError(404, "Not Found"))
        return Response(stored.data, media_type=stored.mime_type or "application/octet-stream")

    def _install_handlers(self) -> None:
        for name in self.METHODS:
            snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
            self._handlers[name.lower()] = (name, getattr(self, f"_m_{snake}"))

    def stub_method(self, method: str, result: Any = True) -> None:
        """Answer ``method`` (not otherwise implemented) with a fixed ``result``."""
        self._handlers[method.lower()] = (method, lambda params: result)

    # ------------------------------------------------------------------ failure injection

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        *,
        times: int = 1,
        parameters: JSONDict | None = None,
        after: int = 0,
    ) -> None:
        """Answer ``times`` calls of ``method`` with this Bot API error, once ``after``
        more calls of it went through."""
        queue = self._failures.setdefault(method.lower(), deque())
        queue.extend([None] * after)
        queue.extend(BotApiError(error_code, description, parameters) for _ in range(times))

    def flood(self, method: str, *, times: int = 1, retry_after: int = 1, after: int = 0) -> None:
        """Flood control: ``times`` calls of ``method`` answer 429 with retry_after, once
        ``after`` more calls of it went through."""
        self.fail_next(
            method,
            429,
            f"Too Many Requests: retry after {retry_after}",
            times=times,
            parameters={"retry_after": retry_after},
            after=after,
        )

    def stall(self, method: str, *, seconds: float, times: int = 1, done: bool = False) -> None:
        """Hold the next ``times`` calls of ``method`` for ``seconds`` each, then answer 504
        without doing them: a client with a shorter timeout sees a timeout. With ``done``,
        each call is done first (a message is sent) and only its answer held."""
        self._stalls.setdefault(method.lower(), deque()).extend([(seconds, done)] * times)

    def _stall_asked(self, method: str) -> tuple[float, bool] | None:
        queue = self._stalls.get(method.lower())
        return queue.popleft() if queue else None

    def _raise_injected_failure(self, method: str) -> None:
        queue = self._failures.get(method.lower())
        if queue and (failure := queue.popleft()) is not None:
            raise failure

    # ------------------------------------------------------------------ inspection

    def sent_to(self, chat_id: int | str) -> list[SentMessage]:
        """Messages the bot sent to one chat, oldest first."""
        return [message for message in self.sent if message.chat_id == int(chat_id)]

    def calls_of(self, method: str) -> list[ApiCall]:
        """Requests made to one method (case-insensitive), oldest first."""
        return [call for call in self.calls if call.method.lower() == method.lower()]

    def message(self, chat_id: int | str, message_id: int) -> JSONDict:
        """The current JSON of a message (after edits); KeyError if unknown or deleted."""
        return self.messages[(int(chat_id), message_id)]

    async def wait_for_sent(
        self,
        predicate: Callable[[SentMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 -- a deadline for the fake, not for I/O
    ) -> SentMessage:
        """The first message in ``sent`` (already sent or yet to come) matching ``predicate``."""

        def check() -> SentMessage | None:
            return next((m for m in self.sent if predicate is None or predicate(m)), None)

        found = await self._wait_until(check, timeout)
        if found is None:
            summary = [(m.method, m.chat_id, m.text or m.caption) for m in self.sent]
            raise AssertionError(f"no matching message sent within {timeout}s; sent: {summary}")
        return found

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[ApiCall], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 -- a deadline for the fake, not for I/O
    ) -> ApiCall:
        """The first call of ``method`` (made or yet to come) matching ``predicate``."""

        def check() -> ApiCall | None:
            calls = self.calls_of(method)
            return next((c for c in calls if predicate is None or predicate(c)), None)

        found = await self._wait_until(check, timeout)
        if found is None:
            made = [call.method for call in self.calls if call.method != "getUpdates"]
            raise AssertionError(f"no matching {method} within {timeout}s; calls: {made}")
        return found

    async def wait_until_confirmed(
        self,
        update_id: int,
        timeout: float = 5.0,  # noqa: ASYNC109 -- a deadline for the fake, not for I/O
    ) -> None:
        """Wait until getUpdates was called with an offset above ``update_id``."""
        confirmed = await self._wait_until(
            lambda: True if self._confirmed_offset > update_id else None, timeout
        )
        if confirmed is None:
            raise AssertionError(
                f"update {update_id} not confirmed within {timeout}s "
                f"(offset {self._confirmed_offset})"
            )

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Queued updates not yet confirmed by a getUpdates offset."""
        return list(self._updates)

    @property
    def confirmed_offset(self) -> int:
        """The highest offset getUpdates was called with (0 before any)."""
        return self._confirmed_offset

    # ------------------------------------------------------------------ chats and files

    def add_chat(self, chat: TgChat) -> JSONDict:
        """Make a chat known to the bot (e.g. a group it was added to)."""
        self.chats[chat.id] = chat.to_json()
        return self.chats[chat.id]

    def register_file(
        self,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        folder: str = "documents",
        file_id_prefix: str = "BQACAgUAAxkBAAI",
    ) -> StoredFile:
        """Store bytes under a new file_id; getFile and the download URL will serve them."""
        number = next(self._file_counter)
        digest = _digest(self.token, number)
        stored = StoredFile(
            file_id=f"{file_id_prefix}{number:05d}{digest[:20]}",
            file_unique_id=f"AgAD{number:05d}{digest[20:28]}",
            file_path=f"{folder}/file_{number}{file_extension(file_name, mime_type)}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        return stored

    def file_bytes(self, file_id: str) -> bytes:
        """The bytes stored under ``file_id``."""
        return self.files[file_id].data

    def _register_photo(self, data: bytes) -> list[JSONDict]:
        sizes: list[JSONDict] = []
        for width, height in PHOTO_SIZES:
            stored = self.register_file(
                data, mime_type="image/jpeg", folder="photos", file_id_prefix="AgACAgUAAxkBAAI"
            )
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": len(data),
                    "width": width,
                    "height": height,
                }
            )
        for size in sizes:
            self._photo_groups[size["file_id"]] = sizes
        return sizes

    def _next_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def _store_message(self, chat: JSONDict, sender: JSONDict, content: JSONDict) -> JSONDict:
        message_id = self._next_message_id(chat["id"])
        message = {
            "message_id": message_id,
            "from": sender,
            "chat": chat,
            "date": _now(),
            **content,
        }
        self.messages[(chat["id"], message_id)] = message
        return message

    # ------------------------------------------------------------------ update queue

    def push_update(self, update: JSONDict) -> int:
        """Queue an update for getUpdates; returns its update_id.

        Builders already number their updates; a dict without ``update_id`` gets the next
        one. Updates must be pushed in increasing update_id order, as Telegram queues them.
        """
        numbered = self._numbered(update)
        update_id = int(numbered["update_id"])
        if update_id <= self._last_pushed_id:
            raise ValueError(f"push updates in id order: {update_id} after {self._last_pushed_id}")
        self._last_pushed_id = update_id
        self._updates.append(numbered)
        self._notify()
        return update_id

    def next_update_id(self) -> int:
        """Allocate a fresh, increasing update_id."""
        self._last_update_id += 1
        return self._last_update_id

    def _numbered(self, update: JSONDict) -> JSONDict:
        if "update_id" in update:
            self._last_update_id = max(self._last_update_id, int(update["update_id"]))
            return update
        return {"update_id": self.next_update_id(), **update}

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self._confirmed_offset = max(self._confirmed_offset, offset)
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _is_allowed(self, update: JSONDict) -> bool:
        kind = update_kind(update)
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in DEFAULT_EXCLUDED_UPDATES

    def _deliverable(self, limit: int) -> list[JSONDict]:
        return [u for u in self._updates if self._is_allowed(u)][:limit]

    async def deliver_webhook(
        self,
        update: JSONDict,
        *,
        url: str | None = None,
        secret_token: str | _Default | None = _Default.STORED,
    ) -> httpx.Response:
        """POST an update to the webhook (the one set with setWebhook unless ``url``).

        The secret header carries the secret given to setWebhook, unless ``secret_token`` is
        passed (a string to send a wrong one, None to send none).
        """
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("no webhook set: call setWebhook first or pass url=")
        secret = self.webhook_secret if secret_token is _Default.STORED else secret_token
        headers = {SECRET_HEADER: secret} if secret else {}
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            return await client.post(target, json=self._numbered(update), headers=headers)

    # ------------------------------------------------------------------ update builders

    def text_message(
        self,
        user: TgUser,
        text: str,
        *,
        chat: TgChat | None = None,
        reply_to: SentMessage | JSONDict | None = None,
    ) -> JSONDict:
        """A message update: in the user's private chat, in ``chat``, or replying."""
        content: JSONDict = {"text": text}
        entities = detect_entities(text)
        if entities:
            content["entities"] = entities
        return self._user_message(user, chat, reply_to, content)

    def command_message(
        self, user: TgUser, command: str, *, chat: TgChat | None = None
    ) -> JSONDict:
        """A bot command such as ``/start`` or ``/status REF`` (bot_command entity at 0)."""
        if not command.startswith("/"):
            raise ValueError("a command starts with '/'")
        return self.text_message(user, command, chat=chat)

    def reply_message(self, user: TgUser, to: SentMessage | JSONDict, text: str) -> JSONDict:
        """A user's text reply to a message (usually one the bot sent)."""
        return self.text_message(user, text, reply_to=to)

    def photo_message(
        self,
        user: TgUser,
        data: bytes,
        *,
        caption: str | None = None,
        chat: TgChat | None = None,
        reply_to: SentMessage | JSONDict | None = None,
    ) -> JSONDict:
        """A photo message (three sizes, all downloadable as ``data``) with a caption."""
        content: JSONDict = {"photo": self._register_photo(data), **self._caption(caption)}
        return self._user_message(user, chat, reply_to, content)

    def document_message(
        self,
        user: TgUser,
        data: bytes,
        file_name: str,
        *,
        mime_type: str | None = None,
        caption: str | None = None,
        chat: TgChat | None = None,
        reply_to: SentMessage | JSONDict | None = None,
    ) -> JSONDict:
        """A document message (e.g. a YAML file) whose bytes getFile can download."""
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self.register_file(data, file_name=file_name, mime_type=mime)
        document = {
            "file_name": file_name,
            "mime_type": mime,
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(data),
        }
        content = {"document": document, **self._caption(caption)}
        return self._user_message(user, chat, reply_to, content)

    def location_message(
        self,
        user: TgUser,
        latitude: float,
        longitude: float,
        *,
        chat: TgChat | None = None,
        horizontal_accuracy: float | None = None,
    ) -> JSONDict:
        """A location message (a pin dropped by the user)."""
        location: JSONDict = {"latitude": latitude, "longitude": longitude}
        if horizontal_accuracy is not None:
            location["horizontal_accuracy"] = horizontal_accuracy
        return self._user_message(user, chat, None, {"location": location})

    def callback_query(self, user: TgUser, message: SentMessage | JSONDict, data: str) -> JSONDict:
        """A press of the inline button with callback ``data`` on a bot ``message``.

        The button must be on ``message`` as given (pass an old snapshot to press a button
        the bot has since edited away, as a client with a stale view does); the query carries
        the message as it is now, or an inaccessible message (date 0) if it was deleted.
        """
        snapshot = message.message if isinstance(message, SentMessage) else message
        offered = [
            button.get("callback_data")
            for button in itertools.chain.from_iterable(
                snapshot.get("reply_markup", {}).get("inline_keyboard", [])
            )
        ]
        if data not in offered:
            raise ValueError(f"the message has no button with callback_data {data!r}: {offered}")
        query_id = str(4_382_000_000_000_000_000 + next(self._query_counter))
        self._open_queries.add(query_id)
        chat = snapshot["chat"]
        current = self.messages.get(
            (chat["id"], snapshot["message_id"]),
            {"chat": chat, "message_id": snapshot["message_id"], "date": 0},
        )
        chat_instance = str(int(_digest(chat["id"])[:15], 16))
        query = {
            "id": query_id,
            "from": user.to_json(),
            "message": current,
            "chat_instance": f"-{chat_instance}",
            "data": data,
        }
        return {"update_id": self.next_update_id(), "callback_query": query}

    @staticmethod
    def _caption(caption: str | None) -> JSONDict:
        if caption is None:
            return {}
        entities = detect_entities(caption)
        return {"caption": caption, **({"caption_entities": entities} if entities else {})}

    def _current(self, message: SentMessage | JSONDict) -> JSONDict:
        data = message.message if isinstance(message, SentMessage) else message
        return self.messages.get((data["chat"]["id"], data["message_id"]), data)

    def _user_message(
        self,
        user: TgUser,
        chat: TgChat | None,
        reply_to: SentMessage | JSONDict | None,
        content: JSONDict,
    ) -> JSONDict:
        if reply_to is not None:
            target = self._current(reply_to)
            if chat is not None and chat.id != target["chat"]["id"]:
                raise ValueError("reply_to is a message of another chat")
            chat_json = target["chat"]
            content = {**content, "reply_to_message": without_reply(target)}
        else:
            chat_json = (chat or TgChat.private(user)).to_json()
        self.chats[chat_json["id"]] = chat_json
        message = self._store_message(chat_json, user.to_json(), content)
        return {"update_id": self.next_update_id(), "message": message}

    # ------------------------------------------------------------------ helpers for sends

    def _chat_id(self, value: int | str) -> int:
        """A numeric chat id, resolving ``@username`` among the chats the bot knows."""
        if isinstance(value, int):
            return value
        found = [c["id"] for c in self.chats.values() if f"@{c.get('username')}" == value]
        if not found:
            raise bad_request("chat not found")
        return int(found[0])

    def _chat_for_send(self, params: JSONDict) -> JSONDict:
        chat_id = self._chat_id(require(params, "chat_id"))
        if chat_id in self.blocked_chats:
            raise BotApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id not in self.chats:
            if self.strict_chats and chat_id > 0:
                raise BotApiError(403, "Forbidden: bot can't initiate conversation with a user")
            if self.strict_chats:
                raise bad_request("chat not found")
            self.chats[chat_id] = self._guess_chat(chat_id)
        return self.chats[chat_id]

    @staticmethod
    def _guess_chat(chat_id: int) -> JSONDict:
        if chat_id > 0:
            return {"id": chat_id, "first_name": f"User {chat_id}", "type": "private"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "title": f"Chat {chat_id}", "type": kind}

    def _reply_target(self, params: JSONDict, chat_id: int) -> JSONDict | None:
        wanted = params.get("reply_parameters")
        if wanted is None and params.get("reply_to_message_id") is not None:
            wanted = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": params.get("allow_sending_without_reply", False),
            }
        if wanted is None:
            return None
        target_chat = wanted.get("chat_id", chat_id)
        target = self.messages.get((self._chat_id(target_chat), int(wanted["message_id"])))
        if target is None:
            if wanted.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        return without_reply(target)

    @staticmethod
    def _markup(params: JSONDict) -> tuple[JSONDict | None, JSONDict | None]:
        """(the markup as sent, the markup Telegram echoes: inline keyboards only)."""
        markup = params.get("reply_markup")
        if markup is None:
            return None, None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            return markup, None
        check_inline_keyboard(markup)
        return markup, markup

    @staticmethod
    def _text_content(params: JSONDict) -> JSONDict:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("message text is empty")
        plain, entities = render_text(text, params.get("parse_mode"), params.get("entities"))
        if not plain.strip():
            raise bad_request("message text is empty")
        if utf16_len(plain) > MAX_TEXT_UTF16:
            raise bad_request("message is too long")
        return {"text": plain, **({"entities": entities} if entities else {})}

    @staticmethod
    def _caption_content(params: JSONDict) -> JSONDict:
        caption = params.get("caption")
        if not caption:
            return {}
        entities = params.get("caption_entities")
        plain, rendered = render_text(str(caption), params.get("parse_mode"), entities)
        if utf16_len(plain) > MAX_CAPTION_UTF16:
            raise bad_request("message caption is too long")
        return {"caption": plain, **({"caption_entities": rendered} if rendered else {})}

    def _input_file(self, value: Any, *, folder: str, name: str) -> StoredFile:
        """A sent file: an upload (stored), a known file_id, or a URL (stored empty)."""
        if isinstance(value, Upload):
            mime = value.content_type or mimetypes.guess_type(value.filename or "")[0]
            return self.register_file(
                value.data, file_name=value.filename, mime_type=mime, folder=folder
            )
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {name} in the request")
        if value in self.files:
            return self.files[value]
        if value.startswith(("http://", "https://")):
            return self.register_file(b"", file_name=value.rsplit("/", 1)[-1], folder=folder)
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _send(self, method: str, params: JSONDict, chat: JSONDict, content: JSONDict) -> JSONDict:
        markup, echoed = self._markup(params)
        reply = self._reply_target(params, chat["id"])
        if reply is not None:
            content["reply_to_message"] = reply
        if echoed is not None:
            content["reply_markup"] = echoed
        if params.get("message_thread_id"):
            content["message_thread_id"] = params["message_thread_id"]
            content["is_topic_message"] = True
        message = self._store_message(chat, self.bot.to_json(), content)
        self.sent.append(self._sent_record(method, params, message, markup, reply))
        return message

    @staticmethod
    def _sent_record(
        method: str,
        params: JSONDict,
        message: JSONDict,
        markup: JSONDict | None,
        reply: JSONDict | None,
    ) -> SentMessage:
        def raw_file(name: str) -> bytes | str | None:
            value = params.get(name)
            return value.data if isinstance(value, Upload) else value

        document = message.get("document") or {}
        return SentMessage(
            method=method,
            chat_id=message["chat"]["id"],
            message_id=message["message_id"],
            text=params.get("text"),
            caption=params.get("caption"),
            parse_mode=params.get("parse_mode"),
            reply_markup=markup,
            reply_to_message_id=reply["message_id"] if reply else None,
            reply_parameters=params.get("reply_parameters"),
            photo=raw_file("photo"),
            document=raw_file("document"),
            file_name=document.get("file_name"),
            params=params,
            message=message,
        )

    def _edit_target(self, params: JSONDict) -> JSONDict | None:
        """The bot message to edit, or None for an inline message (result ``True``)."""
        if params.get("inline_message_id"):
            return None
        chat_id = require(params, "chat_id")
        message_id = require(params, "message_id", "message identifier is not specified")
        message = self.messages.get((self._chat_id(chat_id), int(message_id)))
        if message is None:
            raise bad_request("message to edit not found")
        if message["from"]["id"] != self.bot.id:
            raise bad_request("message can't be edited")
        return message

    def _save_edit(self, old: JSONDict, changes: JSONDict, markup: JSONDict | None) -> JSONDict:
        new = {key: value for key, value in old.items() if key not in changes}
        new.update({key: value for key, value in changes.items() if value})
        new.pop("reply_markup", None)
        if markup is not None:
            new["reply_markup"] = markup
        if without_edit_date(new) == without_edit_date(old):
            raise bad_request(NOT_MODIFIED)
        new["edit_date"] = _now()
        self.messages[(old["chat"]["id"], old["message_id"])] = new
        return new

    # ------------------------------------------------------------------ methods

    def _m_get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot.to_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook_url:
            raise webhook_conflict()
        self._confirm(int(params.get("offset", 0)))
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"]) or None
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # an older long poll now ends with 409
        batch: list[JSONDict] | BotApiError | None = await self._wait_until(
            lambda: self._poll_result(generation, limit), float(params.get("timeout", 0))
        )
        if batch is None or self._closing:
            return []
        if isinstance(batch, BotApiError):
            raise batch
        return batch

    def _poll_result(self, generation: int, limit: int) -> list[JSONDict] | BotApiError | None:
        if self.webhook_url:
            return webhook_conflict()
        if generation != self._poll_generation:
            return BotApiError(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one "
                "bot instance is running",
            )
        if self._closing:
            return []
        return self._deliverable(limit) or None

    def _m_send_message(self, params: JSONDict) -> JSONDict:
        chat = self._chat_for_send(params)
        return self._send("sendMessage", params, chat, self._text_content(params))

    def _m_send_photo(self, params: JSONDict) -> JSONDict:
        chat = self._chat_for_send(params)
        stored = self._input_file(params.get("photo"), folder="photos", name="photo")
        sizes = self._photo_groups.get(stored.file_id) or self._register_photo(stored.data)
        content = {"photo": sizes, **self._caption_content(params)}
        return self._send("sendPhoto", params, chat, content)

    def _m_send_document(self, params: JSONDict) -> JSONDict:
        chat = self._chat_for_send(params)
        stored = self._input_file(params.get("document"), folder="documents", name="document")
        document = {
            "file_name": stored.file_name or "document",
            "mime_type": stored.mime_type or "application/octet-stream",
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }
        content = {"document": document, **self._caption_content(params)}
        return self._send("sendDocument", params, chat, content)

    def _m_edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        message = self._edit_target(params)
        _, markup = self._markup(params)
        if message is None:
            return True
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        content = self._text_content(params)
        return self._save_edit(message, {"entities": None, **content}, markup)

    def _m_edit_message_caption(self, params: JSONDict) -> JSONDict | bool:
        message = self._edit_target(params)
        _, markup = self._markup(params)
        if message is None:
            return True
        if "text" in message or "location" in message:
            raise bad_request("there is no caption in the message to edit")
        content = {"caption": None, "caption_entities": None, **self._caption_content(params)}
        return self._save_edit(message, content, markup)

    def _m_edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        message = self._edit_target(params)
        _, markup = self._markup(params)
        if message is None:
            return True
        return self._save_edit(message, {}, markup)

    def _m_delete_message(self, params: JSONDict) -> bool:
        chat_id = require(params, "chat_id")
        message_id = require(params, "message_id", "message identifier is not specified")
        if self.messages.pop((self._chat_id(chat_id), int(message_id)), None) is None:
            raise bad_request("message to delete not found")
        return True

    def _m_answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(require(params, "callback_query_id"))
        if query_id not in self._open_queries:
            raise bad_request(QUERY_INVALID)
        self._open_queries.discard(query_id)
        self.callback_answers[query_id] = params
        return True

    def _m_send_chat_action(self, params: JSONDict) -> bool:
        self._chat_for_send(params)
        require(params, "action", "action is empty")
        return True

    def _m_set_webhook(self, params: JSONDict) -> bool:
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"]) or None
        self.webhook_url = str(params.get("url") or "")
        self.webhook_secret = str(secret) if secret and self.webhook_url else None
        return True

    def _m_delete_webhook(self, params: JSONDict) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook_url = ""
        self.webhook_secret = None
        return True

    def _m_get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = 40
        if self.allowed_updates:
            info["allowed_updates"] = list(self.allowed_updates)
        return info

    def _m_get_file(self, params: JSONDict) -> JSONDict:
        stored = self.files.get(str(require(params, "file_id", "invalid file_id")))
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_BYTES:
            raise bad_request("file is too big")
        return stored.to_json()

    def _m_set_my_commands(self, params: JSONDict) -> bool:
        self.commands = list(require(params, "commands"))
        return True

    def _m_get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return list(self.commands)

    def _m_delete_my_commands(self, params: JSONDict) -> bool:
        self.commands = []
        return True


def without_edit_date(message: JSONDict) -> JSONDict:
    """A message without ``edit_date``, to compare contents."""
    return {key: value for key, value in message.items() if key != "edit_date"}


@contextlib.asynccontextmanager
async def running_fake_bot_api(
    token: str = DEFAULT_TOKEN,
    *,
    bot_username: str = "aduan_test_bot",
    strict_chats: bool = True,
) -> AsyncIterator[FakeBotApi]:
    """A started ``FakeBotApi``; stopped on exit, and its own crashes re-raised there."""
    api = FakeBotApi(token, bot_username=bot_username, strict_chats=strict_chats)
    await api.start()
    try:
        yield api
    finally:
        await api.stop()
    api.raise_internal_errors()


__all__ = [
    "DEFAULT_TOKEN",
    "SECRET_HEADER",
    "ApiCall",
    "BotApiError",
    "FakeBotApi",
    "LoopbackServer",
    "SentMessage",
    "StoredFile",
    "TelegramSettings",
    "TgChat",
    "TgUser",
    "Upload",
    "detect_entities",
    "render_text",
    "running_fake_bot_api",
]
