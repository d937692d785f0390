"""The SMS channel through Twilio: signed inbound webhooks, outbound with the real client.

The webhook is checked as every Twilio webhook is (`channels.twilio_webhook`). It answers
Twilio only after intake has committed; answers to the resident go through the outbox,
never as TwiML, so a redelivered webhook (same MessageSid) is deduplicated by intake and
answered once.

Every message sent asks Twilio for status callbacks at `/webhooks/twilio/status`, signed
the same way; each becomes a `DeliveryReport` for the service. A long text is cut to
`ADUAN_SMS_MAX_SEGMENTS`, ending with the link the service gave to read it whole.

A send whose fate was lost (a crash mid-send, no answer in time) can be looked up: the
channel is a `SentLookup`, asking Twilio's message list whether it took that text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar

import aiohttp
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from channels.base import (
    Attachment,
    ChannelName,
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    OutboundMessage,
    PermanentSendError,
    RawDelivery,
    RecipientOptedOut,
    SendRate,
    SendReceipt,
    ServiceHandlers,
    TransientSendError,
    UnknownDelivery,
)
from channels.http_failure import send_failure
from channels.kept_payloads import fields, read_fields
from channels.phone import PhoneNumberError, e164
from channels.photos import without_camera_data
from channels.sms_encoding import ellipsis_for, fit
from channels.twilio_webhook import (
    MediaFetchError,
    TwilioWebhooks,
    kept,
)

log = logging.getLogger(__name__)

# Twilio's "Attempt to send to unsubscribed recipient": the number texted STOP to us.
_UNSUBSCRIBED = 21610
# A lookup reads this many of the recipient's latest messages from us: far more than a
# resident is sent between a lost send and its lookup.
_LOOKED_UP = 100
# Twilio's clock and ours may differ by this much.
_CLOCK_SKEW = timedelta(minutes=1)

# Twilio's MessageStatus values for messages we send; "accepted" and "scheduled" are a
# messaging service's ways of saying queued.
_DELIVERY_STATUSES = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.SENDING,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.CANCELED,
}


# The kinds of delivery this channel keeps (see `process`).
_INBOUND = "sms"
_STATUS = "status"


def _reported(params: dict[str, str]) -> str:
    return (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()


def _report(params: dict[str, str], reported_at: datetime) -> DeliveryReport:
    return DeliveryReport(
        channel=ChannelName.SMS,
        provider_message_id=params.get("MessageSid") or params.get("SmsSid") or "",
        status=_DELIVERY_STATUSES[_reported(params)],
        reported_at=reported_at,
        error_code=params.get("ErrorCode") or None,
    )


# Twilio sends at most ten files with one MMS.
MAX_MMS_MEDIA = 10


def _media_count(declared: str) -> int:
    """NumMedia as a count Twilio could have meant (0 to 10); anything else counts none."""
    declared = declared.strip()
    return min(int(declared), MAX_MMS_MEDIA) if declared.isdigit() else 0


class _TwilioHttp(AsyncHttpClient):  # type: ignore[misc]
    """The twilio library's requests through one aiohttp session, with bounded timeouts.

    The library's own aiohttp client hands aiohttp a bare number as its timeout and
    otherwise waits for an answer as long as it takes, holding the message and its outbox
    claim. Here connecting (waiting for a pooled connection included) and each read are
    bounded, so a request that never left is told from one left unanswered. aiohttp rather
    than httpx: a send costs a quarter of the CPU, and httpx's pool grows costlier with
    every request in flight, as a wave of sends has.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__(log, True, timeout)
        # Made in the channel's start, on the running loop, as aiohttp wants.
        self._session = aiohttp.ClientSession()

    async def request(
        self,
        method: str,
        url: str,
        params: Mapping[str, object] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- the twilio client's signature
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        seconds = timeout if timeout is not None else self.timeout
        sent_headers = dict(headers or {})
        if auth is not None:
            sent_headers["Authorization"] = aiohttp.encode_basic_auth(*auth)
        async with self._session.request(
            method.upper(),
            url,
            params=params,  # type: ignore[arg-type]
            data=data,
            headers=sent_headers,
            timeout=aiohttp.ClientTimeout(connect=seconds, sock_read=seconds),
            allow_redirects=allow_redirects,
        ) as answer:
            return TwilioResponse(answer.status, await answer.text(), answer.headers)

    async def close(self) -> None:
        await self._session.close()


class TwilioSmsChannel:
    name: ClassVar[ChannelName] = ChannelName.SMS
    supports_attachments: ClassVar[bool] = False
    # A long code sends about one message a second (a messaging service's pool, more).
    send_rate: ClassVar[SendRate] = SendRate(per_second=1)
    resend_is_safe: ClassVar[bool] = False
    merges_bursts: ClassVar[bool] = True
    prefers_short_text: ClassVar[bool] = True

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        sender: str,
        public_base_url: str,
        now: Callable[[], datetime],
        api_base: str | None = None,
        max_segments: int = 3,
        media_lost: Callable[[str], str],
        timeout: float = 10.0,
    ) -> None:
        self._sid = account_sid
        self._token = auth_token
        # A phone number sends as From; an MG… id as a messaging service.
        self._sender = sender
        self._twilio = TwilioWebhooks(account_sid, auth_token, public_base_url, api_base=api_base)
        self._now = now
        self._api_base = api_base
        self._max_segments = max_segments
        # The note for the text naming the MMS files (their types) Twilio did not hand over.
        self._media_lost = media_lost
        self._timeout = timeout
        self._handlers: ServiceHandlers | None = None
        self._http: _TwilioHttp | None = None
        self._client: Client | None = None

    async def start(self, handlers: ServiceHandlers) -> None:
        self._handlers = handlers
        self._http = _TwilioHttp(self._timeout)
        self._client = Client(self._sid, self._token, http_client=self._http)
        if self._api_base:
            self._client.api.base_url = self._api_base

    async def stop(self) -> None:
        self._handlers = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def send(self, message: OutboundMessage) -> SendReceipt:
        if self._client is None:
            raise TransientSendError("the SMS channel is not started")
        sender = (
            {"messaging_service_sid": self._sender} if self._by_service else {"from_": self._sender}
        )
        try:
            sent = await self._client.messages.create_async(
                to=message.recipient,
                body=self._body(message),
                status_callback=f"{self._twilio.public}/webhooks/twilio/status",
                **sender,
            )
        except TwilioRestException as exc:
            detail = f"Twilio {exc.status} (code {exc.code}): {exc.msg}"
            if exc.status == 429 or exc.status >= 500:
                raise TransientSendError(detail) from exc
            if exc.code == _UNSUBSCRIBED:
                raise RecipientOptedOut(detail) from exc
            raise PermanentSendError(detail) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise send_failure("Twilio", exc) from exc
        return SendReceipt(provider_message_id=sent.sid)

    async def find_sent(self, message: OutboundMessage, since: datetime) -> list[str]:
        """Twilio's ids of the messages it took from us for `message`'s recipient since
        `since` with the body `send(message)` sends, newest first (`SentLookup`). Twilio
        lists an account's messages newest first and filters them by recipient and sender;
        the sent date filter is left alone, since a message still queued has none."""
        if self._client is None:
            raise TransientSendError("the SMS channel is not started")
        sender = {} if self._by_service else {"from_": self._sender}
        try:
            listed = await self._client.messages.list_async(
                to=message.recipient, limit=_LOOKED_UP, **sender
            )
        except (TwilioException, aiohttp.ClientError, TimeoutError) as exc:
            raise TransientSendError(
                f"Twilio could not be asked whether it took the message ({exc})"
            ) from exc
        body = self._body(message)
        earliest = since - _CLOCK_SKEW
        return [
            found.sid
            for found in listed
            if found.sid
            and found.body == body
            and (found.direction or "").startswith("outbound")
            and (not self._by_service or found.messaging_service_sid == self._sender)
            and (found.date_created is None or found.date_created >= earliest)
        ]

    @property
    def _by_service(self) -> bool:
        """Whether we send as a messaging service (an MG… id) rather than from a number."""
        return self._sender.startswith("MG")

    def _body(self, message: OutboundMessage) -> str:
        """The text Twilio is given for `message`: cut to the segment budget, ending with
        the link to read it whole."""
        mark = ellipsis_for(message.text)
        tail = f" {mark} {message.read_more_url}" if message.read_more_url else f" {mark}"
        return fit(message.text, self._max_segments, tail)

    async def process(self, delivery: RawDelivery) -> None:
        handlers = self._handlers
        if handlers is None:
            raise TransientSendError("the SMS channel is not started")
        params = read_fields(delivery.payload)
        if delivery.kind == _INBOUND:
            await handlers.deliver(await self._message(params, delivery.received_at))
        elif delivery.kind == _STATUS:
            await handlers.report(_report(params, delivery.received_at))
        else:
            raise UnknownDelivery(f"the SMS channel keeps no {delivery.kind!r} deliveries")

    @cached_property
    def router(self) -> APIRouter:
        """Its endpoints, built when the web app mounts them (commands never do)."""
        router = APIRouter()

        @router.post("/webhooks/twilio/sms", include_in_schema=False)
        async def inbound(request: Request) -> Response:
            accepted = await self._twilio.accepted(request, self._handlers)
            if isinstance(accepted, Response):
                return accepted
            params, handlers = accepted
            try:
                e164(params.get("From", ""))
            except PhoneNumberError as exc:
                return JSONResponse({"detail": f"From: {exc}"}, status_code=400)
            sid = params.get("MessageSid") or params.get("SmsSid")
            if not sid:
                return JSONResponse({"detail": "MessageSid: missing"}, status_code=400)
            return await kept(handlers, self._delivery(_INBOUND, sid, params))

        @router.post("/webhooks/twilio/status", include_in_schema=False)
        async def status(request: Request) -> Response:
            accepted = await self._twilio.accepted(request, self._handlers)
            if isinstance(accepted, Response):
                return accepted
            params, handlers = accepted
            sid = params.get("MessageSid") or params.get("SmsSid")
            if not sid:
                return JSONResponse({"detail": "MessageSid: missing"}, status_code=400)
            reported = _reported(params)
            if reported not in _DELIVERY_STATUSES:
                known = ", ".join(_DELIVERY_STATUSES)
                return JSONResponse(
                    {"detail": f"MessageStatus: {reported!r} is not one of {known}"},
                    status_code=400,
                )
            # Answered 200 whatever the service makes of it (even of a message it does not
            # know), or Twilio would keep calling back.
            key = f"{sid}:{reported}"
            return await kept(handlers, self._delivery(_STATUS, key, params))

        return router

    def _delivery(self, kind: str, key: str, params: dict[str, str]) -> RawDelivery:
        return RawDelivery(ChannelName.SMS, kind, f"{kind}:{key}", fields(params), self._now())

    async def _message(self, params: dict[str, str], received_at: datetime) -> InboundMessage:
        attachments, lost = await self._media(params)
        return InboundMessage(
            channel=ChannelName.SMS,
            sender=e164(params.get("From", "")),
            text="\n\n".join(part for part in (params.get("Body", ""), lost) if part),
            received_at=received_at,
            provider_message_id=params.get("MessageSid") or params.get("SmsSid") or "",
            attachments=attachments,
        )

    async def _media(self, params: dict[str, str]) -> tuple[tuple[Attachment, ...], str]:
        """The MMS files, and a note for the text naming those Twilio did not hand over."""
        found, lost = [], []
        for index in range(_media_count(params.get("NumMedia", ""))):
            url, kind = params.get(f"MediaUrl{index}"), params.get(f"MediaContentType{index}")
            if not url:
                continue
            try:
                content = await self._twilio.fetch(url)
            except MediaFetchError as exc:
                log.error("MMS media not fetched; delivered without it", extra={"error": str(exc)})
                lost.append(kind or "file")
                continue
            if content is not None:
                file = Attachment(f"mms-{index}", kind or "application/octet-stream", content)
                found.append(await without_camera_data(file))
        note = self._media_lost(", ".join(lost)) if lost else ""
        return tuple(found), note
