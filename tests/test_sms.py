"""The SMS channel end to end: Twilio-signed webhooks into the real app, answers through
the real twilio client to a fake Twilio REST API on loopback, on real storage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.blocklist import Blocklist
from bot.bootstrap import Service
from bot.complaints import Actor, Role
from channels.base import ChannelName
from config.settings import Settings
from storage.models import Attachment, Complaint, Message, OutboxMessage, OutboxStatus, Resident
from tests.db import count, prepared_service, rows
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


async def settled(service: Service, *where: object) -> list[OutboxMessage]:
    """The outbox rows matching `where`, once the running dispatcher has dealt with them all."""
    for _ in range(200):
        found = await rows(service, OutboxMessage, *where)
        if found and all(
            r.status not in (OutboxStatus.PENDING, OutboxStatus.SENDING) for r in found
        ):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"outbox rows still unsent: {found}")


async def test_stop_holds_back_answers_until_start(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    admin = Actor(Role.ADMIN, 1, "Admin")

    async def text(sid: str, body: str) -> None:
        response = await signed_post(WEBHOOK, sms(sid, body), twilio.auth_token, client=client)
        assert response.status_code == 200

    await text("SM" + "7" * 32, "Lampu jalan di Jl. Mawar mati sejak Senin")
    [complaint] = await rows(service, Complaint)
    await text("SM" + "8" * 32, "STOP")
    await text("SM" + "9" * 32, "stop")
    confirmation = await twilio.wait_for_message(lambda m: "Kirim MULAI" in m.body)
    assert confirmation.body == (
        "Anda tidak akan menerima SMS lagi dari layanan ini. Kirim MULAI untuk berlangganan "
        "kembali."
    )

    await service.actions.answer(complaint.reference, "Lampu sudah diganti.", admin)
    service.dispatcher.wake()
    [held] = await settled(service, OutboxMessage.kind == "officer_reply")
    assert held.status is OutboxStatus.SUPPRESSED
    assert held.last_error == "suppressed: the recipient opted out (STOP); not sent and not retried"
    assert not any("Lampu sudah diganti" in attempt.get("Body", "") for attempt in twilio.attempts)
    assert sum("Kirim MULAI" in m.body for m in twilio.messages) == 1

    await text("SM" + "a" * 32, "START")
    await twilio.wait_for_message(lambda m: m.body.startswith("Anda akan menerima SMS lagi"))
    await service.actions.answer(complaint.reference, "Tiang juga sudah dicat.", admin)
    service.dispatcher.wake()
    await twilio.wait_for_message(lambda m: "Tiang juga sudah dicat." in m.body)


async def test_twilio_refusing_an_unsubscribed_number_opts_the_resident_out(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    twilio.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    params = sms("SM" + "b" * 32, "Air PDAM mati sejak pagi di Perum Griya Asri")
    assert (await signed_post(WEBHOOK, params, twilio.auth_token, client=client)).status_code == 200

    [ack] = await settled(service, OutboxMessage.kind == "reply")
    assert ack.status is OutboxStatus.SUPPRESSED
    assert ack.last_error == (
        "suppressed: the recipient opted out with the provider (Twilio 400 (code 21610): "
        "Unable to create record: Attempt to send to unsubscribed recipient)"
    )
    [resident] = await rows(service, Resident)
    assert resident.opted_out and twilio.messages == []


async def test_a_flood_from_one_number_gets_one_answer_and_one_notice(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    for n in range(50):
        params = sms(f"SM{n:032x}", f"Jalan rusak di gang {n}, mohon segera diperbaiki")
        response = await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
        assert response.status_code == 200

    await settled(service, OutboxMessage.recipient == NUMBER)
    # The burst merges into one complaint (SMS), acknowledged once; beyond the limit of 20
    # an hour the rest are kept with it, and the sender is told once.
    assert await count(service, Complaint) == 1
    assert await count(service, Message, Message.kind == "throttled") == 30
    bodies = [m.body for m in twilio.messages if m.to == NUMBER]
    assert len(bodies) == 2
    assert bodies[0].startswith("Terima kasih, pengaduan Anda diterima")
    assert bodies[1].startswith("Pesan Anda terlalu banyak; coba lagi nanti.")


async def test_a_blocked_number_is_answered_200_and_nothing_else(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi, clock: FakeClock
) -> None:
    await Blocklist(service.uow, clock).add(ChannelName.SMS, NUMBER, reason="spam", admin="rina")
    params = sms("SM" + "c" * 32, "Beli pulsa murah hubungi 0812xxxx")
    response = await signed_post(WEBHOOK, params, twilio.auth_token, client=client)

    assert response.status_code == 200 and response.text.endswith("<Response/>")
    assert await count(service, Complaint) == 0
    assert await count(service, OutboxMessage) == 0  # so nothing can ever be sent
    [kept] = await rows(service, Message)
    assert kept.kind == "blocked"


async def test_a_keyword_inside_a_complaint_is_a_complaint(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    params = sms("SM" + "d" * 32, "stop banjir di jalan depan SD 3")
    await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
    answer = await twilio.wait_for_message(lambda m: m.to == NUMBER)
    [complaint] = await rows(service, Complaint)
    assert complaint.reference in answer.body
