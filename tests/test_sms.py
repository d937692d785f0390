"""The SMS channel end to end: Twilio-signed webhooks into the real app, answers through
the real twilio client to a fake Twilio REST API on loopback, on real storage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import Service
from config.settings import Settings
from storage.models import Attachment, Complaint, OutboxMessage, OutboxStatus
from tests.db import prepared_service, rows
from tests.fake_twilio import FakeTwilioApi, running_fake_twilio, signed_post
from tests.fakes import FakeClock

PUBLIC = "https://aduan.kota.example.go.id"
WEBHOOK = f"{PUBLIC}/webhooks/twilio/sms"
NUMBER = "+6281234567890"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioApi]:
    async with running_fake_twilio() as fake:
        yield fake


@pytest.fixture
async def service(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, twilio: FakeTwilioApi
) -> Service:
    return await prepared_service(
        settings,
        engine,
        clock,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_from="+15005550006",
        twilio_api_base=twilio.base_url,
        public_base_url=PUBLIC + "/",
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


def sms(sid: str, body: str, sender: str = "081234567890", **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "From": sender,
        "To": "+15005550006",
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


async def test_signed_sms_becomes_a_complaint_and_is_answered_by_sms(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    params = sms("SM" + "1" * 32, "Jln depan SD 3 berlubang besar, tlg diperbaiki")
    response = await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
    assert response.status_code == 200
    assert response.text.endswith("<Response/>")
    answer = await twilio.wait_for_message(lambda m: m.to == NUMBER)
    [complaint] = await rows(service, Complaint)
    assert complaint.reference in answer.body and complaint.channel == "sms"
    assert answer.status_callback == f"{PUBLIC}/webhooks/twilio/status"


async def test_forged_signature_is_refused_and_nothing_kept(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    params = sms("SM" + "2" * 32, "Sampah menumpuk")
    forged = await signed_post(WEBHOOK, params, "not-the-token", client=client)
    unsigned = await client.post("/webhooks/twilio/sms", data=params)
    tampered = await client.post(
        "/webhooks/twilio/sms",
        data={**params, "Body": "something else"},
        headers={"X-Twilio-Signature": (await _signature(params, twilio))},
    )
    assert (forged.status_code, unsigned.status_code, tampered.status_code) == (403, 403, 403)
    assert await rows(service, Complaint) == []


async def _signature(params: dict[str, str], twilio: FakeTwilioApi) -> str:
    from tests.fake_twilio import twilio_signature

    return twilio_signature(WEBHOOK, params, twilio.auth_token)


async def test_replayed_message_sid_is_one_complaint_answered_once(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    params = sms("SM" + "3" * 32, "Air PDAM mati sejak pagi")
    for _ in range(3):
        assert (
            await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
        ).status_code == 200
    await twilio.wait_for_message(lambda m: m.to == NUMBER)
    assert len(await rows(service, Complaint)) == 1
    replies = await rows(service, OutboxMessage, OutboxMessage.kind == "reply")
    assert len(replies) == 1


async def test_mms_media_is_fetched_with_the_credentials(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    photo = b"\xff\xd8 jpeg of a flooded road"
    url = twilio.add_media("image/jpeg", photo)
    params = sms(
        "MM" + "4" * 32,
        "Banjir di jalan",
        NumMedia="1",
        MediaUrl0=url,
        MediaContentType0="image/jpeg",
    )
    assert (await signed_post(WEBHOOK, params, twilio.auth_token, client=client)).status_code == 200
    [stored] = await rows(service, Attachment)
    assert (stored.content_type, stored.content) == ("image/jpeg", photo)


async def test_bad_sender_number_is_a_clear_400(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    params = sms("SM" + "5" * 32, "Jalan rusak", sender="12")
    response = await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
    assert response.status_code == 400 and response.json()["detail"].startswith("From: ")


async def test_rate_limited_send_is_retried_later(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    twilio.fail_next(status=429, times=1)
    params = sms("SM" + "6" * 32, "Lampu jalan mati")
    await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
    for _ in range(100):
        [reply] = await rows(service, OutboxMessage, OutboxMessage.kind == "reply")
        if reply.last_error:
            break
        await asyncio.sleep(0.05)
    assert reply.status is OutboxStatus.PENDING
    assert "Twilio 429" in (reply.last_error or "")
