"""Complaints by phone end to end: Twilio-signed voice, recording and transcription
callbacks into the real app, recordings fetched from and answers sent through a fake
Twilio REST API on loopback with the real twilio client, on real storage."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from bot.bootstrap import Service
from bot.domain.lifecycle import ComplaintStatus
from bot.officers.actions import Actor, Role
from config.settings import Settings
from storage.models import (
    Agency,
    Attachment,
    AuditEntry,
    Complaint,
    Direction,
    Message,
    OutboxMessage,
)
from tests.fakes import FakeClock
from tests.fakes.twilio_api import (
    FakeTwilioApi,
    new_sid,
    running_fake_twilio,
    signed_post,
    twilio_signature,
)
from tests.integration.db import count, prepared_service, rows

PUBLIC = "https://aduan.kota.example.go.id"
CALLER = "+6281234567890"
AUDIO = b"ID3\x04 an mp3 of a resident describing a problem"
SMOKE = "Ada asap hitam dari cerobong pabrik dekat rumah saya setiap malam"


@pytest.fixture
def transcribe() -> bool:
    return False


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioApi]:
    async with running_fake_twilio() as fake:
        yield fake


@pytest.fixture
async def service(
    settings: Settings,
    engine: AsyncEngine,
    clock: FakeClock,
    twilio: FakeTwilioApi,
    transcribe: bool,
) -> Service:
    return await prepared_service(
        settings,
        engine,
        clock,
        **twilio.service_settings(PUBLIC + "/"),
        voice_transcribe=transcribe,
    )


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    # The app is reached at an internal address; Twilio signed the public one.
    transport = httpx.ASGITransport(app=service.app)
    async with (
        service.running(),
        httpx.AsyncClient(transport=transport, base_url="http://10.0.0.7") as c,
    ):
        yield c


class Call:
    """One phone call as Twilio makes it: the webhooks it sends, signed with the token."""

    def __init__(self, client: httpx.AsyncClient, twilio: FakeTwilioApi) -> None:
        self.client = client
        self.twilio = twilio
        self.sid = new_sid("CA")

    async def answer(self, caller: str = "081234567890") -> ET.Element:
        """The TwiML our voice webhook answers the incoming call with."""
        params = {
            "CallSid": self.sid,
            "AccountSid": self.twilio.account_sid,
            "From": caller,
            "Caller": caller,
            "To": "+15005550006",
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        response = await self.post(f"{PUBLIC}/webhooks/twilio/voice", params)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/xml")
        return ET.fromstring(response.text)

    async def recording_done(
        self, twiml: ET.Element, sid: str, url: str, *, seconds: int = 42, status: str = "completed"
    ) -> httpx.Response:
        """Twilio's recording status callback, to the URL the TwiML gave it."""
        params = {
            "AccountSid": self.twilio.account_sid,
            "CallSid": self.sid,
            "RecordingSid": sid,
            "RecordingUrl": url,
            "RecordingStatus": status,
            "RecordingDuration": str(seconds),
            "RecordingChannels": "1",
            "RecordingSource": "RecordVerb",
            "RecordingStartTime": "Mon, 02 Nov 2026 02:00:00 +0000",
        }
        return await self.post(record(twiml)["recordingStatusCallback"], params)

    async def transcribed(
        self, twiml: ET.Element, sid: str, url: str, text: str, *, status: str = "completed"
    ) -> httpx.Response:
        """Twilio's transcription callback, to the URL the TwiML gave it."""
        params = {
            "AccountSid": self.twilio.account_sid,
            "CallSid": self.sid,
            "TranscriptionSid": "TR" + sid[2:],
            "TranscriptionText": text,
            "TranscriptionStatus": status,
            "TranscriptionUrl": f"{self.twilio.account_url}/Transcriptions/TR{sid[2:]}",
            "RecordingSid": sid,
            "RecordingUrl": url,
            "From": CALLER,
            "To": "+15005550006",
            "CallStatus": "completed",
            "ApiVersion": "2010-04-01",
            "Direction": "inbound",
        }
        return await self.post(record(twiml)["transcribeCallback"], params)

    async def post(self, url: str, params: dict[str, str]) -> httpx.Response:
        return await signed_post(url, params, self.twilio.auth_token, client=self.client)


def record(twiml: ET.Element) -> dict[str, str]:
    found = twiml.find("Record")
    assert found is not None, ET.tostring(twiml)
    return dict(found.attrib)


def verbs(twiml: ET.Element) -> list[tuple[str, str | None]]:
    return [(child.tag, child.get("language")) for child in twiml]


async def agency_of(service: Service, complaint: Complaint) -> str:
    [agency] = await rows(service, Agency, Agency.id == complaint.agency_id)
    return agency.code


async def answered_by_sms(service: Service, twilio: FakeTwilioApi) -> str:
    """The one SMS the caller got, which must carry the complaint's reference."""
    sms = await twilio.wait_for_message(lambda m: m.to == CALLER)
    [complaint] = await rows(service, Complaint)
    assert complaint.reference in sms.body
    assert await count(service, OutboxMessage, OutboxMessage.kind == "reply") == 1
    assert [m.to for m in twilio.messages].count(CALLER) == 1
    return sms.body


async def test_a_call_is_greeted_in_indonesian_then_english_and_recorded(
    client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    twiml = await Call(client, twilio).answer()
    assert verbs(twiml) == [
        ("Say", "id-ID"),
        ("Say", "en-US"),
        ("Record", None),
        # Reached only when the caller leaves nothing: Twilio skips the action then.
        ("Say", "id-ID"),
        ("Say", "en-US"),
        ("Hangup", None),
    ]
    assert "pengaduan" in (twiml[0].text or "") and "complaint" in (twiml[1].text or "")
    attributes = record(twiml)
    assert attributes["maxLength"] == "120"
    assert attributes["action"] == f"{PUBLIC}/webhooks/twilio/voice/recorded"
    assert attributes["recordingStatusCallback"] == (
        f"{PUBLIC}/webhooks/twilio/recording?caller=%2B6281234567890"
    )
    assert "transcribe" not in attributes
    goodbye = await Call(client, twilio).post(f"{PUBLIC}/webhooks/twilio/voice/recorded", {})
    assert verbs(ET.fromstring(goodbye.text)) == [
        ("Say", "id-ID"),
        ("Say", "en-US"),
        ("Hangup", None),
    ]


async def test_a_hidden_number_is_told_why_and_not_recorded(
    client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    twiml = await Call(client, twilio).answer(caller="anonymous")
    assert verbs(twiml) == [("Say", "id-ID"), ("Say", "en-US"), ("Hangup", None)]
    assert "SMS" in (twiml[0].text or "")


async def test_forged_callbacks_are_refused_and_nothing_kept(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    call = Call(client, twilio)
    twiml = await call.answer()
    sid, url = twilio.add_recording(AUDIO)
    params = {"RecordingSid": sid, "RecordingUrl": url, "RecordingDuration": "42"}
    for path in ("voice", "voice/recorded", f"recording?caller={CALLER}"):
        forged = await signed_post(
            f"{PUBLIC}/webhooks/twilio/{path}", params, "not-the-token", client=client
        )
        assert forged.status_code == 403, path
    # Signed for another caller than the URL names: the query is part of what Twilio signs.
    signature = twilio_signature(
        record(twiml)["recordingStatusCallback"], params, twilio.auth_token
    )
    tampered = await client.post(
        "/webhooks/twilio/recording?caller=%2B6281111111111",
        data=params,
        headers={"X-Twilio-Signature": signature},
    )
    assert tampered.status_code == 403
    assert await rows(service, Complaint) == []
    assert twilio.fetches == []


async def test_a_recording_becomes_a_complaint_for_triage_answered_by_sms(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    call = Call(client, twilio)
    twiml = await call.answer()
    sid, url = twilio.add_recording(AUDIO)
    assert (await call.recording_done(twiml, sid, url)).status_code == 204
    [complaint] = await rows(service, Complaint)
    assert complaint.channel == "voice" and complaint.text == "(Pesan suara, 42 detik)"
    # No words to route by: the fallback agency triages it.
    assert await agency_of(service, complaint) == "DISKOMINFO"
    [audio] = await rows(service, Attachment)
    assert (audio.filename, audio.content_type, audio.content) == (
        f"{sid}.mp3",
        "audio/mpeg",
        AUDIO,
    )
    assert twilio.fetches == [f"{url.removeprefix(twilio.base_url)}.mp3"]
    [notice] = await rows(service, OutboxMessage, OutboxMessage.kind == "agency_notice")
    assert notice.attachment_ids == f"[{audio.id}]"
    body = await answered_by_sms(service, twilio)
    assert "DISKOMINFO" in body or "Komunikasi" in body


async def test_a_replayed_recording_callback_is_one_complaint_and_one_sms(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    call = Call(client, twilio)
    twiml = await call.answer()
    sid, url = twilio.add_recording(AUDIO)
    for _ in range(3):
        assert (await call.recording_done(twiml, sid, url)).status_code == 204
    await answered_by_sms(service, twilio)
    assert await count(service, Complaint) == 1
    assert await count(service, Attachment) == 1
    # Recognised before anything is fetched: the audio was asked for once.
    assert len(twilio.fetches) == 1


async def test_an_empty_recording_makes_nothing(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    call = Call(client, twilio)
    twiml = await call.answer()
    sid, url = twilio.add_recording(b"")
    response = await call.recording_done(twiml, sid, url, seconds=0, status="absent")
    assert response.status_code == 204
    assert await count(service, Message) == 0
    assert await count(service, OutboxMessage) == 0
    assert twilio.fetches == []


async def test_a_recording_twilio_will_not_hand_over_still_makes_the_complaint(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    # Twilio does not call back again after a 5xx: a brief outage is tried through, and a
    # longer one costs the audio, never the complaint.
    call = Call(client, twilio)
    twiml = await call.answer()
    sid, url = twilio.add_recording(AUDIO)
    twilio.fail_next_fetch(status=500, times=1)
    assert (await call.recording_done(twiml, sid, url)).status_code == 204
    assert await count(service, Attachment) == 1

    sid, url = twilio.add_recording(AUDIO)
    twilio.fail_next_fetch(status=500, times=10)
    assert (await call.recording_done(twiml, sid, url)).status_code == 204
    complaints = await rows(service, Complaint)
    assert len(complaints) == 2  # the second call is its own complaint
    lost = next(c for c in complaints if sid in c.text)
    assert "tidak dapat diambil dari Twilio" in lost.text
    assert await count(service, Attachment) == 1


@pytest.mark.parametrize("transcribe", [True])
async def test_a_transcript_routes_the_complaint_nobody_has_touched(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    call = Call(client, twilio)
    twiml = await call.answer()
    assert record(twiml)["transcribe"] == "true"
    assert record(twiml)["transcribeCallback"] == (
        f"{PUBLIC}/webhooks/twilio/transcription?caller=%2B6281234567890"
    )
    sid, url = twilio.add_recording(AUDIO)
    await call.recording_done(twiml, sid, url)
    for _ in range(2):  # the second is Twilio redelivering it
        assert (await call.transcribed(twiml, sid, url, SMOKE)).status_code == 204
    [complaint] = await rows(service, Complaint)
    assert await agency_of(service, complaint) == "DLH"
    assert complaint.status == ComplaintStatus.ASSIGNED
    assert complaint.routing_rule == "dlh-air-pollution"
    assert complaint.text.startswith(SMOKE) and "42 detik" in complaint.text
    [reroute] = await rows(
        service, AuditEntry, col(AuditEntry.detail).startswith("DISKOMINFO → DLH")
    )
    assert reroute.action == "assign"
    notices = await rows(service, OutboxMessage, OutboxMessage.kind == "agency_notice")
    assert [n.recipient.split("@")[0] for n in notices] == ["diskominfo", "dlh", "diskominfo"]
    [audio] = await rows(service, Attachment)
    assert notices[1].attachment_ids == f"[{audio.id}]"
    assert "dialihkan ke" in notices[2].text
    await answered_by_sms(service, twilio)


@pytest.mark.parametrize("transcribe", [True])
async def test_a_transcript_of_a_taken_complaint_is_only_a_note(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    call = Call(client, twilio)
    twiml = await call.answer()
    sid, url = twilio.add_recording(AUDIO)
    await call.recording_done(twiml, sid, url)
    [complaint] = await rows(service, Complaint)
    await service.actions.take(complaint.reference, Actor(Role.ADMIN, 1, "Admin Kota"))
    await call.transcribed(twiml, sid, url, SMOKE)
    [complaint] = await rows(service, Complaint)
    assert await agency_of(service, complaint) == "DISKOMINFO"
    assert complaint.status == ComplaintStatus.IN_PROGRESS
    last = (await rows(service, OutboxMessage, OutboxMessage.kind == "agency_notice"))[-1]
    assert last.text.startswith("Transkripsi otomatis") and SMOKE in last.text


@pytest.mark.parametrize("transcribe", [True])
async def test_a_transcript_before_the_recording_routes_the_new_complaint(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    call = Call(client, twilio)
    twiml = await call.answer()
    sid, url = twilio.add_recording(AUDIO)
    assert (await call.transcribed(twiml, sid, url, SMOKE)).status_code == 204
    assert (await call.recording_done(twiml, sid, url)).status_code == 204
    [complaint] = await rows(service, Complaint)
    assert await agency_of(service, complaint) == "DLH"
    assert complaint.text.startswith(SMOKE)
    [audio] = await rows(service, Attachment)
    assert audio.content == AUDIO
    inbound = await rows(service, Message, Message.direction == Direction.INBOUND)
    assert [m.kind for m in inbound] == ["complaint", "transcript"]
    assert await count(service, OutboxMessage, OutboxMessage.kind == "agency_notice") == 1
    await answered_by_sms(service, twilio)


@pytest.mark.parametrize("transcribe", [True])
async def test_a_failed_transcription_adds_nothing(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    call = Call(client, twilio)
    twiml = await call.answer()
    sid, url = twilio.add_recording(AUDIO)
    response = await call.transcribed(twiml, sid, url, "", status="failed")
    assert response.status_code == 204
    assert await count(service, Message) == 0


async def test_a_caller_is_the_same_resident_as_their_sms_number(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    sms = {"MessageSid": new_sid("SM"), "From": CALLER, "To": "+15005550006", "Body": SMOKE}
    assert (
        await signed_post(f"{PUBLIC}/webhooks/twilio/sms", sms, twilio.auth_token, client=client)
    ).status_code == 200
    [complaint] = await rows(service, Complaint)
    await service.actions.ask_resident(
        complaint.reference, "Pabrik yang mana?", Actor(Role.ADMIN, 1, "Admin Kota")
    )
    call = Call(client, twilio)
    twiml = await call.answer()
    sid, url = twilio.add_recording(AUDIO)
    await call.recording_done(twiml, sid, url)
    # The agency asked, the resident called back: the message answers it, no new complaint.
    [complaint] = await rows(service, Complaint)
    assert complaint.status == ComplaintStatus.IN_PROGRESS
    inbound = await rows(service, Message, Message.direction == Direction.INBOUND)
    assert [(m.channel, m.kind, m.complaint_id) for m in inbound] == [
        ("sms", "complaint", complaint.id),
        ("voice", "follow_up", complaint.id),
    ]
