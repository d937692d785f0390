"""Complaints by phone through Twilio Voice: the caller leaves a recorded message, which
becomes a complaint; the reference and every answer go to the caller's number by SMS.

`POST /webhooks/twilio/voice` answers the call with TwiML: the greeting in Indonesian then
English, then `<Record>`. When the caller has finished, Twilio requests the record's
`action` (we say goodbye and hang up); when the recording is empty Twilio skips the action
and goes on with the verbs after `<Record>` (we say nothing was heard and hang up).

The complaint is made from the recording status callback, sent once Twilio holds the whole
recording: the audio is fetched with the account's credentials and delivered as one
message whose provider id is the RecordingSid, so a redelivered callback makes one
complaint. A recording callback does not say who called, so the caller's number travels in
the callback URL we give Twilio, which Twilio signs with the form.

With transcription on, the transcription callback delivers the text as a transcript of the
recording, which the service adds to the complaint. When Twilio transcribes before it
reports the recording, the transcript has nothing to join yet: the recording is then
fetched and delivered with the transcript as its text, and the transcript after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import ClassVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from twilio.twiml.voice_response import VoiceResponse

from channels.base import (
    Address,
    Attachment,
    ChannelName,
    InboundMessage,
    OutboundMessage,
    Outcome,
    PermanentSendError,
    RawDelivery,
    SendRate,
    SendReceipt,
    ServiceHandlers,
    UnknownDelivery,
)
from channels.kept_payloads import fields, read_fields
from channels.phone import PhoneNumberError, e164
from channels.twilio_webhook import (
    MAX_MEDIA_BYTES,
    MediaFetchError,
    TwilioWebhooks,
    forged,
    kept,
)

log = logging.getLogger(__name__)

# Seconds of silence that end a recording: callers pause to think, so more than Twilio's 5.
_SILENCE_SECONDS = 10

# The kinds of delivery this channel keeps (see `process`), and the field of a kept one
# that holds the caller's number (from the callback's URL; Twilio sends no such field).
_RECORDING = "recording"
_TRANSCRIPTION = "transcription"
_CALLER = "caller"

# (language Twilio speaks it in, text)
Line = tuple[str, str]


@dataclass(frozen=True, slots=True)
class VoiceScript:
    """What callers hear and how their message reads as text; the service owns the words."""

    greeting: tuple[Line, ...]
    goodbye: tuple[Line, ...]
    nothing_recorded: tuple[Line, ...]
    hidden_number: tuple[Line, ...]
    # The text of a voice message: from its length in seconds, or from Twilio's transcript.
    recorded: Callable[[int], str]
    transcribed: Callable[[str], str]
    # What the text says of a recording (by its sid) Twilio did not hand over.
    recording_lost: Callable[[str], str]


class TwilioVoiceChannel:
    name: ClassVar[ChannelName] = ChannelName.VOICE
    # It only receives: callers are answered on the SMS channel.
    supports_attachments: ClassVar[bool] = False
    send_rate: ClassVar[SendRate] = SendRate()
    resend_is_safe: ClassVar[bool] = False
    merges_bursts: ClassVar[bool] = False
    prefers_short_text: ClassVar[bool] = False

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        public_base_url: str,
        script: VoiceScript,
        now: Callable[[], datetime],
        max_seconds: int = 120,
        transcribe: bool = False,
        api_base: str | None = None,
    ) -> None:
        self._twilio = TwilioWebhooks(account_sid, auth_token, public_base_url, api_base=api_base)
        self._script = script
        self._now = now
        self._max_seconds = max_seconds
        self._transcribe = transcribe
        self._handlers: ServiceHandlers | None = None

    async def start(self, handlers: ServiceHandlers) -> None:
        self._handlers = handlers

    async def stop(self) -> None:
        self._handlers = None

    async def send(self, message: OutboundMessage) -> SendReceipt:
        raise PermanentSendError("the voice channel does not send: callers are answered by SMS")

    @cached_property
    def router(self) -> APIRouter:
        """Its endpoints, built when the web app mounts them (commands never do)."""
        router = APIRouter(include_in_schema=False)

        @router.post("/webhooks/twilio/voice")
        async def call(request: Request) -> Response:
            params = await self._twilio.verified(request)
            if params is None:
                return forged()
            try:
                caller = e164(params.get("From", ""))
            except PhoneNumberError:
                return _twiml(self._hang_up(self._script.hidden_number))
            return _twiml(self._greeting(caller))

        @router.post("/webhooks/twilio/voice/recorded")
        async def recorded(request: Request) -> Response:
            if await self._twilio.verified(request) is None:
                return forged()
            return _twiml(self._hang_up(self._script.goodbye))

        @router.post("/webhooks/twilio/recording")
        async def recording(request: Request) -> Response:
            checked = await self._checked(request)
            if isinstance(checked, Response):
                return checked
            params, handlers = checked
            sid = params.get("RecordingSid")
            if not sid:
                return _bad("RecordingSid: missing")
            if not _recorded(params):
                log.info("empty recording ignored", extra={"recording": sid})
                return Response(status_code=204)
            # Kept before the audio is fetched: a redelivered callback fetches nothing.
            delivery = self._delivery(_RECORDING, sid, params)
            return await kept(handlers, delivery, Response(status_code=204))

        @router.post("/webhooks/twilio/transcription")
        async def transcription(request: Request) -> Response:
            checked = await self._checked(request)
            if isinstance(checked, Response):
                return checked
            params, handlers = checked
            recording_sid, sid = params.get("RecordingSid"), params.get("TranscriptionSid")
            if not (recording_sid and sid and params.get("RecordingUrl")):
                return _bad("RecordingSid, RecordingUrl and TranscriptionSid: all needed")
            if params.get("TranscriptionStatus") != "completed" or not _transcript(params):
                return Response(status_code=204)
            delivery = self._delivery(_TRANSCRIPTION, sid, params)
            return await kept(handlers, delivery, Response(status_code=204))

        return router

    async def process(self, delivery: RawDelivery) -> None:
        handlers = self._handlers
        if handlers is None:
            raise UnknownDelivery("the voice channel is not started")
        params = read_fields(delivery.payload)
        caller = e164(params.get(_CALLER, ""))
        if delivery.kind == _RECORDING:
            await self._recording_made(handlers, params, caller, delivery.received_at)
        elif delivery.kind == _TRANSCRIPTION:
            await self._transcribed(handlers, params, caller, delivery.received_at)
        else:
            raise UnknownDelivery(f"the voice channel keeps no {delivery.kind!r} deliveries")

    async def _recording_made(
        self, handlers: ServiceHandlers, params: dict[str, str], caller: str, at: datetime
    ) -> None:
        sid, url = params["RecordingSid"], params["RecordingUrl"]
        seconds = _whole_seconds(params.get("RecordingDuration"))
        text, audio = await self._recording(sid, url, self._script.recorded(seconds))
        await handlers.deliver(self._message(sid, caller, text, audio, at))

    async def _transcribed(
        self, handlers: ServiceHandlers, params: dict[str, str], caller: str, at: datetime
    ) -> None:
        recording_sid, text = params["RecordingSid"], _transcript(params)
        transcript = InboundMessage(
            channel=ChannelName.VOICE,
            sender=caller,
            text=text,
            received_at=at,
            provider_message_id=params["TranscriptionSid"],
            reply_to=Address(ChannelName.SMS, caller),
            language_hint="id",
            transcript_of=recording_sid,
        )
        receipt = await handlers.deliver(transcript)
        if receipt.outcome is Outcome.UNKNOWN_REFERENCE:
            said, audio = await self._recording(
                recording_sid, params["RecordingUrl"], self._script.transcribed(text)
            )
            await handlers.deliver(self._message(recording_sid, caller, said, audio, at))
            await handlers.deliver(transcript)

    def _delivery(self, kind: str, sid: str, params: dict[str, str]) -> RawDelivery:
        return RawDelivery(ChannelName.VOICE, kind, f"{kind}:{sid}", fields(params), self._now())

    async def _checked(self, request: Request) -> tuple[dict[str, str], ServiceHandlers] | Response:
        """A recording or transcription callback's fields, with the caller's number from
        the callback's URL (which Twilio signs too), and the service; or the answer that
        refuses it."""
        accepted = await self._twilio.accepted(request, self._handlers)
        if isinstance(accepted, Response):
            return accepted
        params, handlers = accepted
        caller = request.query_params.get(_CALLER, "")
        try:
            e164(caller)
        except PhoneNumberError as exc:
            return _bad(f"caller: {exc}")
        return {**params, _CALLER: caller}, handlers

    def _greeting(self, caller: str) -> VoiceResponse:
        twiml = VoiceResponse()
        _say(twiml, self._script.greeting)
        public, query = self._twilio.public, urlencode({"caller": caller})
        transcription = (
            {
                "transcribe": True,
                "transcribe_callback": f"{public}/webhooks/twilio/transcription?{query}",
            }
            if self._transcribe
            else {}
        )
        twiml.record(
            action=f"{public}/webhooks/twilio/voice/recorded",
            method="POST",
            max_length=self._max_seconds,
            timeout=_SILENCE_SECONDS,
            finish_on_key="#",
            play_beep=True,
            trim="trim-silence",
            recording_status_callback=f"{public}/webhooks/twilio/recording?{query}",
            recording_status_callback_method="POST",
            **transcription,
        )
        # Reached only when the recording is empty: then Twilio skips the action.
        _say(twiml, self._script.nothing_recorded)
        twiml.hangup()
        return twiml

    def _hang_up(self, lines: tuple[Line, ...]) -> VoiceResponse:
        twiml = VoiceResponse()
        _say(twiml, lines)
        twiml.hangup()
        return twiml

    async def _recording(self, sid: str, url: str, text: str) -> tuple[str, bytes | None]:
        """The message's text and its recording as MP3 (which Twilio serves on request and is
        smaller than its WAV). A recording Twilio does not hand over is named in the text,
        so the complaint is made all the same and officers can find the audio in Twilio."""
        try:
            audio = await self._twilio.fetch(f"{url}.mp3", max_bytes=MAX_MEDIA_BYTES)
        except MediaFetchError as exc:
            log.error("recording not fetched; complaint made without it", extra={"error": str(exc)})
            return f"{text} {self._script.recording_lost(sid)}", None
        if audio is None:
            log.error(
                "recording too large to keep; the complaint has no audio", extra={"recording": sid}
            )
        return text, audio

    def _message(
        self, sid: str, caller: str, text: str, audio: bytes | None, at: datetime
    ) -> InboundMessage:
        return InboundMessage(
            channel=ChannelName.VOICE,
            sender=caller,
            text=text,
            received_at=at,
            provider_message_id=sid,
            attachments=(Attachment(f"{sid}.mp3", "audio/mpeg", audio),) if audio else (),
            # Answers go to the caller's number by SMS; the greeting was Indonesian first.
            reply_to=Address(ChannelName.SMS, caller),
            language_hint="id",
        )


def _twiml(twiml: VoiceResponse) -> Response:
    return Response(str(twiml), media_type="text/xml")


def _say(twiml: VoiceResponse, lines: tuple[Line, ...]) -> None:
    for language, text in lines:
        twiml.say(text, language=language)


def _bad(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=400)


def _recorded(params: dict[str, str]) -> bool:
    """Whether the callback reports a recording with something in it."""
    return (
        params.get("RecordingStatus", "completed") == "completed"
        and bool(params.get("RecordingUrl"))
        and _whole_seconds(params.get("RecordingDuration")) > 0
    )


def _transcript(params: dict[str, str]) -> str:
    return params.get("TranscriptionText", "").strip()


def _whole_seconds(value: str | None) -> int:
    try:
        return max(int(value or 0), 0)
    except ValueError:
        return 0
