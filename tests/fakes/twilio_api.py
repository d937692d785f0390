"""A fake Twilio REST API on loopback, for tests that drive the real ``twilio`` client (9.13).

The fake is a Starlette app served by uvicorn as a task in the test's own event loop (the
``LoopbackServer`` of ``tests.fakes.telegram_api``). It answers what the client sends for
``messages.create`` / ``messages.create_async``: ``POST
/2010-04-01/Accounts/{AccountSid}/Messages.json`` with form-encoded ``To``, ``From`` or
``MessagingServiceSid``, ``Body``, ``StatusCallback``, ``MediaUrl`` (repeatable) ..., and HTTP
basic auth ``AccountSid:AuthToken``.

Wiring the real client (checked against the twilio 9.13 source: ``ClientBase.request_async``
refuses a synchronous http client, ``Domain.absolute_url`` joins ``client.api.base_url`` with
``/2010-04-01/Accounts/...``, and ``get_hostname`` leaves the URL alone when neither
``edge`` nor ``region`` is set -- so do not set ``TWILIO_EDGE`` / ``TWILIO_REGION``)::

    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    async with running_fake_twilio() as fake:
        http_client = AsyncTwilioHttpClient()      # opens an aiohttp ClientSession
        client = Client(fake.account_sid, fake.auth_token, http_client=http_client)
        client.api.base_url = fake.base_url         # "http://127.0.0.1:PORT"
        try:
            message = await client.messages.create_async(to="+62...", from_="+1...", body="hi")
        finally:
            await http_client.close()              # else "Unclosed client session"

``AsyncTwilioHttpClient`` is also an async context manager (``__aexit__`` closes the
session). Errors come back as ``twilio.base.exceptions.TwilioRestException`` carrying the
HTTP ``status`` and Twilio's ``code`` (the error body has no RFC-9457 ``type``/``title``, so
the client takes its legacy path).

Behaviour copied from Twilio: wrong credentials -> 401 code 20003; another account's URL ->
404 code 20404; missing ``To`` -> 400 code 21604; ``To`` not E.164 (``+`` and 8-15 digits) ->
400 code 21211; neither ``From`` nor ``MessagingServiceSid`` -> 400 code 21603; neither
``Body`` nor ``MediaUrl`` -> 400 code 21602; ``Body`` over 1600 characters -> 400 code 21617.
A created message is answered 201 with a message resource (``sid`` "SM" + 32 hex, ``status``
"queued", or "accepted" when only ``MessagingServiceSid`` is given; ``num_segments`` from a
simple GSM-7 / UCS-2 count). Error bodies are ``{"code", "message", "more_info", "status"}``.

Inspecting: ``fake.messages`` (every created message, as ``FakeMessage``), ``fake.attempts``
(the form of every authenticated create request, including rejected ones) and ``await
fake.wait_for_message(...)``.

Failures: ``fake.fail_next(status=429, times=2)`` answers the next two authenticated creates
with that error (code and message default per status). ``fake.stall(seconds=s)`` holds the
next create that long, then answers 503 without creating it; with ``done=True`` it creates
the message first and holds only the answer (a client that gives up sooner cannot tell the
two). ``async with fake.refusing_connections():`` closes the port meanwhile.

Media: ``url = fake.add_media("image/jpeg", data)`` serves the bytes at a Twilio-shaped media
URL (``.../Messages/MM.../Media/ME...``) that requires basic auth, like Twilio's media URLs
with HTTP auth enabled; hand it out as ``MediaUrl0`` in inbound MMS webhooks.

Recordings: ``sid, url = fake.add_recording(data)`` serves a call recording at
``.../Recordings/RE...`` (the ``RecordingUrl`` of recording and transcription callbacks),
with ``.mp3`` or ``.wav`` appended as Twilio allows (the same bytes either way: the fake does
not convert audio), basic auth required. ``fake.fetches`` lists the path of every media or
recording GET; ``fake.fail_next_fetch(status=500, times=1)`` answers the next fetches with
that error.

Inbound webhooks: ``twilio_signature(url, params, auth_token)``, ``signed_headers(...)`` and
``await signed_post(url, params, auth_token)`` sign a form POST exactly as Twilio does
(``RequestValidator.compute_signature``). Sign the URL the application will reconstruct.

Listing: ``GET .../Messages.json`` answers the messages the fake created, newest first,
filtered by ``To`` and ``From`` as Twilio filters them, in pages of ``PageSize`` (default 50,
``next_page_uri`` to the next), in Twilio's list shape (``{"messages": [...], "page", ...}``;
``date_sent`` is null, as for a message still queued). ``fake.lists`` holds the query of
every authenticated list request; ``fake.fail_next_list(status=500, times=1)`` answers the
next ones with that error. ``fake.take(to=..., body=..., from_=...)`` records a message as if
a create had arrived from a client that never read the answer (a process killed mid-send).

Not modelled: fetching/updating single messages, calls, status callbacks, other resources
(404).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, TypedDict
from urllib.parse import urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from tests.fakes.telegram_api import LoopbackServer

JSONDict = dict[str, Any]

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "f" * 8 + "0123456789abcdef" + "e" * 8
API_VERSION = "2010-04-01"
MAX_BODY_CHARS = 1600
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
SIGNATURE_HEADER = "X-Twilio-Signature"

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

DEFAULT_ERRORS: dict[int, tuple[int, str]] = {
    400: (21211, "Invalid 'To' Phone Number"),
    401: (20003, "Authenticate"),
    404: (20404, "The requested resource was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


# --------------------------------------------------------------------------- data types


class TwilioApiError(Exception):
    """An error answer in Twilio's REST error shape."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message

    def to_json(self) -> JSONDict:
        """The body Twilio sends: ``{"code", "message", "more_info", "status"}``."""
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }

    def response(self) -> JSONResponse:
        """The HTTP response carrying this error."""
        return JSONResponse(self.to_json(), status_code=self.status)


@dataclass(frozen=True)
class FakeMessage:
    """A message the fake accepted, plus the resource JSON it answered with."""

    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    media_urls: tuple[str, ...]
    form: Mapping[str, str]
    resource: JSONDict


@dataclass(frozen=True)
class StoredMedia:
    """Bytes served at a media URL."""

    content_type: str
    data: bytes


@dataclass
class _Failure:
    """A queued injected failure."""

    error: TwilioApiError
    times: int


# --------------------------------------------------------------------------- helpers


def new_sid(prefix: str) -> str:
    """A Twilio-style SID: two-letter prefix + 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def count_segments(body: str) -> int:
    """SMS segments: GSM-7 (160, or 153 per part) else UCS-2 (70, or 67 per part)."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENDED for char in body):
        units = sum(2 if char in GSM7_EXTENDED else 1 for char in body)
        single, part = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else -(-units // part)


def twilio_date(moment: datetime) -> str:
    """Twilio's RFC 2822 date, e.g. ``Thu, 30 Jul 2015 20:12:31 +0000``."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def basic_auth_of(request: Request) -> tuple[str, str] | None:
    """The ``(username, password)`` of an HTTP basic ``Authorization`` header."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, sep, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (username, password) if sep else None


def twilio_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """``X-Twilio-Signature`` for a form POST to ``url``, computed like Twilio does."""
    signature: str = RequestValidator(auth_token).compute_signature(url, dict(params))
    return signature


def signed_headers(url: str, params: Mapping[str, str], auth_token: str) -> dict[str, str]:
    """Headers for a signed form webhook: the signature plus the form content type."""
    return {
        SIGNATURE_HEADER: twilio_signature(url, params, auth_token),
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def signed_post(
    url: str,
    params: Mapping[str, str],
    auth_token: str,
    *,
    client: httpx.AsyncClient | None = None,
) -> httpx.Response:
    """POST ``params`` form-encoded to ``url`` with a valid ``X-Twilio-Signature``.

    Pass ``client`` (e.g. an ``httpx.AsyncClient(transport=ASGITransport(app))``) to reach an
    in-process app; otherwise a throwaway client is used.
    """
    headers = {SIGNATURE_HEADER: twilio_signature(url, params, auth_token)}
    if client is not None:
        return await client.post(url, data=dict(params), headers=headers)
    async with httpx.AsyncClient() as own:
        return await own.post(url, data=dict(params), headers=headers)


# --------------------------------------------------------------------------- the fake


class TwilioSettings(TypedDict):
    """The service's settings (`Settings` field names) that point it at a Twilio account."""

    twilio_account_sid: str
    twilio_auth_token: str
    twilio_from: str
    twilio_api_base: str
    public_base_url: str
    sms_messages_per_second: float


class FakeTwilioApi:
    """State, handlers and inspection helpers of the fake Twilio REST API."""

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[FakeMessage] = []
        self.attempts: list[dict[str, str]] = []
        self.media: dict[str, StoredMedia] = {}
        self.recordings: dict[str, bytes] = {}
        self.fetches: list[str] = []
        self.lists: list[dict[str, str]] = []
        self._failures: deque[_Failure] = deque()
        self._list_failures: deque[_Failure] = deque()
        self._stalls: deque[tuple[float, bool]] = deque()
        self._fetch_failures: deque[_Failure] = deque()
        self._changed = asyncio.Event()
        self._server = LoopbackServer(self._build_app())

    # ---------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, the value for ``client.api.base_url``."""
        return self._server.url

    @property
    def account_url(self) -> str:
        """The account's resource root, ``{base_url}/2010-04-01/Accounts/{sid}``."""
        return f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}"

    def service_settings(self, public_base_url: str) -> TwilioSettings:
        """The settings that point a service at this fake, receiving webhooks at the given
        public address (which signatures are made for)."""
        return {
            "twilio_account_sid": self.account_sid,
            "twilio_auth_token": self.auth_token,
            "twilio_from": "+15005550006",
            "twilio_api_base": self.base_url,
            "public_base_url": public_base_url,
            # The fake takes messages as fast as they come; at the real pace (1 a second) a
            # test clock standing still would hold back every SMS after the first.
            "sms_messages_per_second": 1000.0,
        }

    async def start(self) -> None:
        """Start serving on a free loopback port."""
        await self._server.start()

    async def stop(self) -> None:
        """Stop serving."""
        await self._server.stop()

    def _build_app(self) -> Starlette:
        """The Starlette routes of the fake."""
        prefix = f"/{API_VERSION}/Accounts/{{account_sid}}"
        return Starlette(
            routes=[
                Route(f"{prefix}/Messages.json", self._create_message, methods=["POST"]),
                Route(f"{prefix}/Messages.json", self._list_messages, methods=["GET"]),
                Route(
                    f"{prefix}/Messages/{{message_sid}}/Media/{{media_sid}}",
                    self._get_media,
                    methods=["GET"],
                ),
                Route(
                    f"{prefix}/Recordings/{{recording_file}}",
                    self._get_recording,
                    methods=["GET"],
                ),
            ]
        )

    # ---------------------------------------------------------------- test controls

    def fail_next(
        self,
        status: int = 500,
        code: int | None = None,
        message: str | None = None,
        *,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` authenticated creates with an error of this status."""
        default_code, default_message = DEFAULT_ERRORS.get(status, (status, "Error"))
        error = TwilioApiError(status, code or default_code, message or default_message)
        self._failures.append(_Failure(error, times))

    def stall(self, *, seconds: float, times: int = 1, done: bool = False) -> None:
        """Hold the next ``times`` authenticated creates ``seconds`` each, then answer 503
        without creating them; with ``done``, create each first and hold only the answer."""
        self._stalls.extend([(seconds, done)] * times)

    def refusing_connections(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Within it, connections to the fake are refused (as when nothing listens)."""
        return self._server.refusing()

    def fail_next_fetch(self, status: int = 500, *, times: int = 1) -> None:
        """Answer the next ``times`` authenticated media or recording GETs with this error."""
        code, message = DEFAULT_ERRORS.get(status, (status, "Error"))
        self._fetch_failures.append(_Failure(TwilioApiError(status, code, message), times))

    def fail_next_list(self, status: int = 500, *, times: int = 1) -> None:
        """Answer the next ``times`` authenticated message list GETs with this error."""
        code, message = DEFAULT_ERRORS.get(status, (status, "Error"))
        self._list_failures.append(_Failure(TwilioApiError(status, code, message), times))

    def take(self, *, to: str, body: str, from_: str = "+15005550006") -> FakeMessage:
        """Record a message as a create from a client that never read the answer would."""
        return self._record({"To": to, "From": from_, "Body": body}, ())

    def add_recording(self, data: bytes) -> tuple[str, str]:
        """Serve ``data`` as a new recording; its ``(RecordingSid, RecordingUrl)``."""
        sid = new_sid("RE")
        self.recordings[sid] = data
        return sid, f"{self.account_url}/Recordings/{sid}"

    def add_media(self, content_type: str, data: bytes) -> str:
        """Serve ``data`` at a new auth-protected media URL and return that URL."""
        media_sid = new_sid("ME")
        self.media[media_sid] = StoredMedia(content_type, data)
        return f"{self.account_url}/Messages/{new_sid('MM')}/Media/{media_sid}"

    async def wait_for_message(
        self,
        predicate: Callable[[FakeMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 -- a deadline for the fake, not for I/O
    ) -> FakeMessage:
        """The first created message matching ``predicate``, waiting up to ``timeout`` s."""
        try:
            async with asyncio.timeout(timeout):
                while (found := self._find_message(predicate)) is None:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            summary = [(m.to, m.body) for m in self.messages]
            raise AssertionError(f"no matching message within {timeout}s; got {summary}") from None
        return found

    def _find_message(self, predicate: Callable[[FakeMessage], bool] | None) -> FakeMessage | None:
        """The first recorded message matching ``predicate``, if any."""
        return next((m for m in self.messages if predicate is None or predicate(m)), None)

    # ---------------------------------------------------------------- handlers

    def _authenticate(self, request: Request) -> None:
        """Raise 401 (20003) for wrong credentials, 404 (20404) for another account."""
        if basic_auth_of(request) != (self.account_sid, self.auth_token):
            raise TwilioApiError(401, 20003, "Authenticate")
        if request.path_params["account_sid"] != self.account_sid:
            raise TwilioApiError(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )

    def _take_failure(self, queue: deque[_Failure] | None = None) -> TwilioApiError | None:
        """The injected failure to answer now, if any (creates' queue unless told)."""
        queue = self._failures if queue is None else queue
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        return failure.error

    async def _create_message(self, request: Request) -> Response:
        """``POST .../Messages.json``."""
        try:
            self._authenticate(request)
            form = await request.form()
            fields = {key: str(value) for key, value in form.items()}
            media_urls = tuple(str(url) for url in form.getlist("MediaUrl"))
            self.attempts.append(fields)
            stall = self._stalls.popleft() if self._stalls else None
            if stall is not None and not stall[1]:
                await asyncio.sleep(stall[0])
                raise TwilioApiError(503, *DEFAULT_ERRORS[503])
            failure = self._take_failure()
            if failure is not None:
                raise failure
            validate_message(fields, media_urls)
        except TwilioApiError as error:
            return error.response()
        message = self._record(fields, media_urls)
        if stall is not None:
            await asyncio.sleep(stall[0])
        return JSONResponse(message.resource, status_code=201)

    async def _list_messages(self, request: Request) -> Response:
        """``GET .../Messages.json``: the created messages, newest first, filtered."""
        try:
            self._authenticate(request)
            query = dict(request.query_params)
            self.lists.append(query)
            failure = self._take_failure(self._list_failures)
            if failure is not None:
                raise failure
            size = min(int(query.get("PageSize", "50")), 1000)
            page = int(query.get("Page", "0"))
        except ValueError:
            return TwilioApiError(400, 20001, "Invalid paging parameters").response()
        except TwilioApiError as error:
            return error.response()
        matching = [
            m.resource
            for m in reversed(self.messages)
            if m.to == query.get("To", m.to) and m.from_ == query.get("From", m.from_)
        ]
        chunk = matching[page * size : (page + 1) * size]
        path = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        more = (page + 1) * size < len(matching)
        following = {**query, "Page": str(page + 1), "PageSize": str(size)}
        return JSONResponse(
            {
                "messages": chunk,
                "page": page,
                "page_size": size,
                "start": page * size,
                "end": page * size + max(len(chunk) - 1, 0),
                "uri": f"{path}?{urlencode(query)}",
                "first_page_uri": f"{path}?{urlencode({**query, 'Page': '0'})}",
                "previous_page_uri": None,
                "next_page_uri": f"{path}?{urlencode(following)}" if more else None,
            }
        )

    def _record(self, fields: dict[str, str], media_urls: tuple[str, ...]) -> FakeMessage:
        """Store an accepted message and wake waiters."""
        sid = new_sid("SM")
        message = FakeMessage(
            sid=sid,
            to=fields["To"],
            from_=fields.get("From"),
            messaging_service_sid=fields.get("MessagingServiceSid"),
            body=fields.get("Body", ""),
            status_callback=fields.get("StatusCallback"),
            media_urls=media_urls,
            form=fields,
            resource=self._resource(sid, fields, media_urls),
        )
        self.messages.append(message)
        self._changed.set()
        return message

    def _resource(self, sid: str, fields: dict[str, str], media_urls: tuple[str, ...]) -> JSONDict:
        """The message resource JSON Twilio answers a create with."""
        now = twilio_date(datetime.now(UTC))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        body = fields.get("Body", "")
        only_service = "From" not in fields
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": fields.get("From"),
            "messaging_service_sid": fields.get("MessagingServiceSid"),
            "num_media": str(len(media_urls)),
            "num_segments": str(count_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if only_service else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": fields["To"],
            "uri": f"{uri}.json",
        }

    async def _get_media(self, request: Request) -> Response:
        """``GET .../Messages/{MM}/Media/{ME}``: the registered bytes (basic auth required)."""
        try:
            self._authenticate_fetch(request)
        except TwilioApiError as error:
            return error.response()
        media = self.media.get(request.path_params["media_sid"])
        if media is None:
            return _not_found(request)
        return Response(media.data, media_type=media.content_type)

    async def _get_recording(self, request: Request) -> Response:
        """``GET .../Recordings/{RE}[.mp3|.wav]``: the recording (basic auth required)."""
        try:
            self._authenticate_fetch(request)
        except TwilioApiError as error:
            return error.response()
        sid, _, extension = request.path_params["recording_file"].partition(".")
        data = self.recordings.get(sid)
        if data is None or extension not in ("", "mp3", "wav"):
            return _not_found(request)
        return Response(data, media_type="audio/mpeg" if extension == "mp3" else "audio/x-wav")

    def _authenticate_fetch(self, request: Request) -> None:
        """Authenticate a media or recording GET, record it, and raise an injected failure."""
        self._authenticate(request)
        self.fetches.append(request.url.path)
        failure = self._take_failure(self._fetch_failures)
        if failure is not None:
            raise failure


def _not_found(request: Request) -> Response:
    return TwilioApiError(
        404, 20404, f"The requested resource {request.url.path} was not found"
    ).response()


def validate_message(fields: Mapping[str, str], media_urls: tuple[str, ...]) -> None:
    """Raise the 400 error Twilio gives for an unacceptable create request."""
    to = fields.get("To", "")
    if not to:
        raise TwilioApiError(400, 21604, "A 'To' phone number is required.")
    if not E164.match(to):
        raise TwilioApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if not fields.get("From") and not fields.get("MessagingServiceSid"):
        raise TwilioApiError(400, 21603, "A 'From' phone number is required.")
    body = fields.get("Body", "")
    if not body and not media_urls:
        raise TwilioApiError(400, 21602, "Message body is required.")
    if len(body) > MAX_BODY_CHARS:
        raise TwilioApiError(
            400, 21617, "The concatenated message body exceeds the 1600 character limit."
        )


@contextlib.asynccontextmanager
async def running_fake_twilio(
    account_sid: str = DEFAULT_ACCOUNT_SID,
    auth_token: str = DEFAULT_AUTH_TOKEN,
) -> AsyncIterator[FakeTwilioApi]:
    """A started ``FakeTwilioApi``, stopped on exit."""
    fake = FakeTwilioApi(account_sid, auth_token)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "SIGNATURE_HEADER",
    "FakeMessage",
    "FakeTwilioApi",
    "StoredMedia",
    "TwilioApiError",
    "count_segments",
    "running_fake_twilio",
    "signed_headers",
    "signed_post",
    "twilio_signature",
    "validate_message",
]
