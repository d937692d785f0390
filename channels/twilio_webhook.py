"""Twilio's side of every Twilio channel: webhooks checked against the public address, and
media fetched with the account's credentials.

A media file that cannot be fetched never costs the message it came with: Twilio does not
call a webhook again after a 5xx (only after a failed connection, within 15 s), so the
fetch is tried a few times and then the message is delivered without the file, saying so.

A webhook's `X-Twilio-Signature` is checked against the public address Twilio was given
(`ADUAN_PUBLIC_BASE_URL`), not the address the request arrived at, so it holds behind a
reverse proxy. The query string is part of what Twilio signs, so values we put in a
callback URL come back as trustworthy as the form fields.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from twilio.request_validator import RequestValidator

from channels.base import DeliveryNotKept, RawDelivery, ServiceHandlers

log = logging.getLogger(__name__)

MAX_MEDIA_BYTES = 5 * 1024 * 1024
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Pauses between tries of a media fetch: well inside the 15 s Twilio waits for an answer.
FETCH_PAUSES = (0.5, 1.5)
# What a try waits to connect, and then for each part of the file: a stalled Twilio costs
# the three tries 12 s, not the webhook's answer.
FETCH_TIMEOUT = 4.0


class MediaFetchError(Exception):
    """Twilio did not hand over a media file or recording; worth asking again later."""


# Where Twilio's REST API is, and so the only place media and recordings are fetched from.
TWILIO_API = "https://api.twilio.com"


class TwilioWebhooks:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        public_base_url: str,
        *,
        api_base: str | None = None,
    ) -> None:
        self._auth = (account_sid, auth_token)
        self._validator = RequestValidator(auth_token)
        self.public = public_base_url.rstrip("/")
        # Our account's resources: a URL anywhere else is never sent our credentials.
        self._media_root = (
            f"{(api_base or TWILIO_API).rstrip('/')}/2010-04-01/Accounts/{account_sid}/"
        )

    async def verified(self, request: Request) -> dict[str, str] | None:
        """The webhook's form fields, if Twilio signed them for our public address."""
        form = await request.form()
        params = {key: str(value) for key, value in form.items()}
        query = f"?{request.url.query}" if request.url.query else ""
        signature = request.headers.get("X-Twilio-Signature", "")
        url = self.public + request.url.path + query
        return params if signature and self._validator.validate(url, params, signature) else None

    async def accepted(
        self, request: Request, handlers: ServiceHandlers | None
    ) -> tuple[dict[str, str], ServiceHandlers] | Response:
        """The webhook's fields and the service to hand them to, or the answer refusing it:
        403 for a signature Twilio did not make, 503 while the service starts or stops."""
        params = await self.verified(request)
        if params is None:
            return forged()
        if handlers is None:
            return JSONResponse({"detail": "starting or stopping; retry"}, status_code=503)
        return params, handlers

    async def fetch(self, url: str, *, max_bytes: int = MAX_MEDIA_BYTES) -> bytes | None:
        """The file at `url` (a media or recording URL), or None when it is over `max_bytes`;
        MediaFetchError when Twilio did not hand it over after a few tries, or when `url` is
        not one of our account's resources on Twilio's API (it is then not asked at all)."""
        if not url.startswith(self._media_root):
            raise MediaFetchError(f"not a media address of our Twilio account: {url[:200]!r}")
        for pause in FETCH_PAUSES:
            try:
                return await self._fetch_once(url, max_bytes)
            except MediaFetchError as exc:
                log.warning("media fetch failed, trying again", extra={"error": str(exc)})
                await asyncio.sleep(pause)
        return await self._fetch_once(url, max_bytes)

    async def _fetch_once(self, url: str, max_bytes: int) -> bytes | None:
        # Read as a stream, so an oversized file is dropped without being held in memory.
        try:
            async with (
                httpx.AsyncClient(
                    auth=self._auth, follow_redirects=True, timeout=FETCH_TIMEOUT
                ) as http,
                http.stream("GET", url) as response,
            ):
                if response.is_error:
                    raise MediaFetchError(f"Twilio answered {response.status_code} for {url}")
                content = bytearray()
                async for chunk in response.aiter_bytes():
                    content += chunk
                    if len(content) > max_bytes:
                        log.warning("Twilio media over %d bytes not kept", max_bytes)
                        return None
                return bytes(content)
        except httpx.HTTPError as exc:
            raise MediaFetchError(f"Twilio media unreachable: {exc}") from exc


async def kept(
    handlers: ServiceHandlers, delivery: RawDelivery, answer: Response | None = None
) -> Response:
    """Hand a checked webhook to the service, which keeps it before processing it; then
    `answer` (empty TwiML by default). 503 when it could not be kept: Twilio may try again."""
    try:
        await handlers.receive(delivery)
    except DeliveryNotKept as exc:
        return JSONResponse({"detail": f"{exc}; retry"}, status_code=503)
    return Response(EMPTY_TWIML, media_type="text/xml") if answer is None else answer


def forged() -> JSONResponse:
    """The answer to a request Twilio did not sign for our public address."""
    return JSONResponse({"detail": "invalid X-Twilio-Signature"}, status_code=403)
