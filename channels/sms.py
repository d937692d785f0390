"""The SMS channel through Twilio: signed inbound webhooks, outbound with the real client.

The webhook checks `X-Twilio-Signature` against the public address Twilio was given
(`ADUAN_PUBLIC_BASE_URL`), not the address the request arrived at, so it holds behind a
reverse proxy. It answers Twilio only after intake has committed; answers to the resident
go through the outbox, never as TwiML, so a redelivered webhook (same MessageSid) is
deduplicated by intake and answered once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from channels.base import (
    Attachment,
    ChannelName,
    InboundMessage,
    OutboundMessage,
    PermanentSendError,
    RecipientOptedOut,
    SendReceipt,
    ServiceHandlers,
    TransientSendError,
)
from channels.phone import PhoneNumberError, e164
from channels.sms_encoding import fit

log = logging.getLogger(__name__)

MAX_MEDIA_BYTES = 5 * 1024 * 1024
_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Twilio's "Attempt to send to unsubscribed recipient": the number texted STOP to us.
_UNSUBSCRIBED = 21610


class TwilioSmsChannel:
    name: ClassVar[ChannelName] = ChannelName.SMS
    max_body_chars: ClassVar[int] = 1600
    supports_attachments: ClassVar[bool] = False
    max_messages_per_second: ClassVar[float] = 1.0
    resend_is_safe: ClassVar[bool] = False
    merges_bursts: ClassVar[bool] = True

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
    ) -> None:
        self._sid = account_sid
        self._token = auth_token
        # A phone number sends as From; an MG… id as a messaging service.
        self._sender = sender
        self._public = public_base_url.rstrip("/")
        self._now = now
        self._api_base = api_base
        self._max_segments = max_segments
        self._validator = RequestValidator(auth_token)
        self._handlers: ServiceHandlers | None = None
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None
        self.router = self._routes()

    async def start(self, handlers: ServiceHandlers) -> None:
        self._handlers = handlers
        self._http = AsyncTwilioHttpClient()
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
        body = fit(message.text, self._max_segments, " …")
        sender = (
            {"messaging_service_sid": self._sender}
            if self._sender.startswith("MG")
            else {"from_": self._sender}
        )
        try:
            sent = await self._client.messages.create_async(
                to=message.recipient,
                body=body,
                status_callback=f"{self._public}/webhooks/twilio/status",
                **sender,
            )
        except TwilioRestException as exc:
            detail = f"Twilio {exc.status} (code {exc.code}): {exc.msg}"
            if exc.status == 429 or exc.status >= 500:
                raise TransientSendError(detail) from exc
            if exc.code == _UNSUBSCRIBED:
                raise RecipientOptedOut(detail) from exc
            raise PermanentSendError(detail) from exc
        except (httpx.HTTPError, OSError) as exc:
            raise TransientSendError(f"Twilio unreachable: {exc}") from exc
        return SendReceipt(provider_message_id=sent.sid)

    def _routes(self) -> APIRouter:
        router = APIRouter()

        @router.post("/webhooks/twilio/sms", include_in_schema=False)
        async def inbound(request: Request) -> Response:
            params = await self._verified(request)
            if params is None:
                return JSONResponse({"detail": "invalid X-Twilio-Signature"}, status_code=403)
            if self._handlers is None:
                return JSONResponse({"detail": "starting or stopping; retry"}, status_code=503)
            try:
                sender = e164(params.get("From", ""))
            except PhoneNumberError as exc:
                return JSONResponse({"detail": f"From: {exc}"}, status_code=400)
            sid = params.get("MessageSid") or params.get("SmsSid")
            if not sid:
                return JSONResponse({"detail": "MessageSid: missing"}, status_code=400)
            await self._handlers.deliver(
                InboundMessage(
                    channel=ChannelName.SMS,
                    sender=sender,
                    text=params.get("Body", ""),
                    received_at=self._now(),
                    provider_message_id=sid,
                    attachments=await self._media(params),
                )
            )
            return Response(_EMPTY_TWIML, media_type="text/xml")

        return router

    async def _verified(self, request: Request) -> dict[str, str] | None:
        """The webhook's form fields, if Twilio signed them for our public address."""
        form = await request.form()
        params = {key: str(value) for key, value in form.items()}
        url = (
            self._public + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
        signature = request.headers.get("X-Twilio-Signature", "")
        return params if signature and self._validator.validate(url, params, signature) else None

    async def _media(self, params: dict[str, str]) -> tuple[Attachment, ...]:
        count = int(params.get("NumMedia", "0") or 0)
        found = []
        async with httpx.AsyncClient(auth=(self._sid, self._token), follow_redirects=True) as http:
            for index in range(count):
                url, kind = params.get(f"MediaUrl{index}"), params.get(f"MediaContentType{index}")
                if not url:
                    continue
                response = await http.get(url)
                response.raise_for_status()
                if len(response.content) > MAX_MEDIA_BYTES:
                    log.warning("MMS media over %d bytes not kept", MAX_MEDIA_BYTES)
                    continue
                found.append(
                    Attachment(f"mms-{index}", kind or "application/octet-stream", response.content)
                )
        return tuple(found)
