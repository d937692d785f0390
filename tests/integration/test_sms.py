"""The SMS channel end to end: Twilio-signed webhooks into the real app, answers through
the real twilio client to a fake Twilio REST API on loopback, on real storage."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from bot.bootstrap import Service
from bot.intake.blocklist import Blocklist
from bot.officers.actions import Actor, Role
from channels.base import ChannelName, InboundHandler, InboundMessage, IntakeReceipt
from channels.sms_encoding import Encoding, SmsSize, measure
from config.settings import Settings
from storage.models import (
    Attachment,
    AuditEntry,
    Complaint,
    DeliveryState,
    KeptDelivery,
    Message,
    OutboxMessage,
    OutboxStatus,
    Resident,
    stored_id,
)
from tests.fakes import FakeClock, inbound
from tests.fakes.twilio_api import (
    FakeMessage,
    FakeTwilioApi,
    count_segments,
    running_fake_twilio,
    signed_post,
)
from tests.integration.db import count, failed_send, prepared_service, queue, rows, settled
from tests.integration.forms import camera_traces, photo_with_location

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
        **twilio.service_settings(PUBLIC + "/"),
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
    from tests.fakes.twilio_api import twilio_signature

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


async def mms_stored(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi, sid: str, photo: bytes
) -> Attachment:
    """The file the service kept of an MMS carrying `photo`."""
    url = twilio.add_media("image/jpeg", photo)
    media = {"NumMedia": "1", "MediaUrl0": url, "MediaContentType0": "image/jpeg"}
    params = sms(sid, "Asap hitam dari cerobong", **media)
    assert (await signed_post(WEBHOOK, params, twilio.auth_token, client=client)).status_code == 200
    [stored] = await rows(service, Attachment)
    return stored


async def test_mms_media_is_fetched_with_the_credentials(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    photo = b"\xff\xd8 jpeg of a flooded road"
    stored = await mms_stored(service, client, twilio, "MM" + "4" * 32, photo)
    assert (stored.content_type, stored.content) == ("image/jpeg", photo)


async def test_an_mms_photo_loses_its_camera_data(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    stored = await mms_stored(service, client, twilio, "MM" + "5" * 32, photo_with_location())
    assert (stored.filename, stored.content_type) == ("mms-0.jpg", "image/jpeg")
    assert camera_traces(stored.content) == []


async def test_mms_media_twilio_will_not_hand_over_costs_the_file_not_the_message(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    url = twilio.add_media("image/jpeg", b"\xff\xd8 jpeg")
    twilio.fail_next_fetch(status=503, times=10)
    params = sms(
        "MM" + "7" * 32,
        "Pohon tumbang menutup jalan",
        NumMedia="1",
        MediaUrl0=url,
        MediaContentType0="image/jpeg",
    )
    assert (await signed_post(WEBHOOK, params, twilio.auth_token, client=client)).status_code == 200
    [complaint] = await rows(service, Complaint)
    assert complaint.text.startswith("Pohon tumbang menutup jalan")
    assert "[lampiran MMS tidak dapat diambil: image/jpeg]" in complaint.text
    assert await count(service, Attachment) == 0


async def test_media_elsewhere_than_our_twilio_account_is_never_fetched(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    knocked: list[bytes] = []

    async def trap(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        knocked.append(await reader.read(4096))
        writer.close()

    server = await asyncio.start_server(trap, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        params = sms(
            "MM" + "8" * 32,
            "Banjir di jalan",
            NumMedia="1",
            MediaUrl0=f"http://127.0.0.1:{port}/2010-04-01/Accounts/{twilio.account_sid}/x",
            MediaContentType0="image/jpeg",
        )
        answered = await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
    finally:
        server.close()
        await server.wait_closed()
    assert answered.status_code == 200
    assert knocked == []  # never asked, so never sent our credentials
    [complaint] = await rows(service, Complaint)
    assert "[lampiran MMS tidak dapat diambil: image/jpeg]" in complaint.text


@pytest.mark.parametrize("declared", ["abc", "-1", "99999999999", "1e3", ""])
async def test_a_num_media_twilio_could_not_have_sent_is_read_as_none(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi, declared: str
) -> None:
    params = sms("MM" + "9" * 32, "Jalan berlubang", NumMedia=declared)
    answered = await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
    assert answered.status_code == 200
    [complaint] = await rows(service, Complaint)
    assert complaint.text == "Jalan berlubang"


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


# --- delivery status callbacks ---------------------------------------------------------

STATUS_WEBHOOK = f"{PUBLIC}/webhooks/twilio/status"
ADMIN = Actor(Role.ADMIN, 7, "Rina (admin)")


async def sent_row(service: Service, message: FakeMessage) -> OutboxMessage:
    """The outbox row of a message the fake received, once the dispatcher has settled it."""
    for _ in range(200):
        found = await rows(service, OutboxMessage, OutboxMessage.provider_message_id == message.sid)
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no outbox row settled with {message.sid}")


async def report(
    client: httpx.AsyncClient, twilio: FakeTwilioApi, sid: str, status: str, **extra: str
) -> httpx.Response:
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": twilio.account_sid}
    return await signed_post(STATUS_WEBHOOK, {**params, **extra}, twilio.auth_token, client=client)


async def filed_by_sms(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi, sid: str
) -> tuple[Complaint, FakeMessage]:
    """A complaint sent by SMS, and its acknowledgement as the fake Twilio received it."""
    params = sms(sid, "Saluran air di Jl. Anggrek tersumbat sampah, banjir tiap hujan")
    assert (await signed_post(WEBHOOK, params, twilio.auth_token, client=client)).status_code == 200
    ack = await twilio.wait_for_message(lambda m: m.to == NUMBER)
    [complaint] = await rows(service, Complaint)
    return complaint, ack


async def answered(
    service: Service, twilio: FakeTwilioApi, complaint: Complaint, text: str
) -> FakeMessage:
    """An officer's answer to the complaint, as the fake Twilio received it, once the
    dispatcher has recorded it as sent."""
    await service.actions.answer(complaint.reference, text, ADMIN)
    service.dispatcher.wake()
    message = await twilio.wait_for_message(lambda m: m.to == NUMBER and text[:30] in m.body)
    await sent_row(service, message)
    return message


async def test_delivery_statuses_only_move_forward(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    _, ack = await filed_by_sms(service, client, twilio, "SM" + "a" * 32)
    await sent_row(service, ack)
    # Out of order and repeated, as Twilio may deliver them.
    for status in ("sent", "delivered", "sent", "queued", "delivered", "undelivered"):
        response = await report(client, twilio, ack.sid, status)
        assert response.status_code == 200
    row = await sent_row(service, ack)
    assert (row.delivery_status, row.delivery_error) == ("delivered", None)
    assert row.delivery_status_at is not None
    assert row.status is OutboxStatus.SENT
    assert await rows(service, AuditEntry, AuditEntry.action == "undelivered") == []


async def test_a_report_that_comes_before_the_send_is_recorded_is_recorded_later(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi, clock: FakeClock
) -> None:
    # Twilio may call back in the moment between accepting a message and the dispatcher
    # recording its id: the report is answered at once, kept, and recorded once it matches.
    _, ack = await filed_by_sms(service, client, twilio, "SM" + "c" * 32)
    row = await sent_row(service, ack)
    early = "SM" + "e" * 32
    response = await report(client, twilio, early, "failed", ErrorCode="30006")
    assert response.status_code == 200
    [kept] = await rows(service, KeptDelivery, KeptDelivery.kind == "status")
    assert (kept.state, kept.key) == (DeliveryState.PENDING, f"status:{early}:failed")
    async with service.uow() as uow:
        [stored] = (await uow.outbox.many([stored_id(row)])).values()
        stored.provider_message_id = early
        await uow.commit()
    clock.advance(seconds=3)
    await service.inbox.retry_due()
    [recorded] = await rows(service, OutboxMessage, OutboxMessage.id == row.id)
    assert (recorded.delivery_status, recorded.delivery_error) == ("failed", "30006")


async def test_a_report_on_a_message_not_ours_is_let_go_after_its_attempts(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi, clock: FakeClock
) -> None:
    # Another application on the same Twilio account: not an error, and no dead letter.
    response = await report(client, twilio, "SM" + "f" * 32, "delivered")
    assert response.status_code == 200
    for _ in range(service.settings.deadletter_after_attempts):
        clock.advance(hours=2)
        await service.inbox.retry_due()
    [kept] = await rows(service, KeptDelivery, KeptDelivery.kind == "status")
    assert (kept.state, kept.payload) == (DeliveryState.DONE, b"")
    assert kept.last_error is not None and "no message sent by sms" in kept.last_error


async def test_status_callbacks_are_signed_known_and_well_formed(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    _, ack = await filed_by_sms(service, client, twilio, "SM" + "b" * 32)
    await sent_row(service, ack)
    params = {"MessageSid": ack.sid, "MessageStatus": "delivered"}
    forged = await signed_post(STATUS_WEBHOOK, params, "not-the-token", client=client)
    unsigned = await client.post("/webhooks/twilio/status", data=params)
    assert (forged.status_code, unsigned.status_code) == (403, 403)

    unknown_status = await report(client, twilio, ack.sid, "teleported")
    assert unknown_status.status_code == 400
    assert unknown_status.json()["detail"].startswith("MessageStatus: 'teleported' is not one of")
    no_sid = await signed_post(
        STATUS_WEBHOOK, {"MessageStatus": "sent"}, twilio.auth_token, client=client
    )
    assert no_sid.status_code == 400 and no_sid.json()["detail"] == "MessageSid: missing"
    # A message this service never sent: acknowledged, so Twilio stops calling, and ignored.
    stranger = await report(client, twilio, "SM" + "f" * 32, "delivered")
    assert stranger.status_code == 200

    assert (await sent_row(service, ack)).delivery_status is None
    # Twilio's own names for a messaging service's queue are understood.
    assert (await report(client, twilio, ack.sid, "accepted")).status_code == 200
    assert (await sent_row(service, ack)).delivery_status == "queued"


async def test_an_undelivered_answer_is_audited_and_is_no_response(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    complaint, _ = await filed_by_sms(service, client, twilio, "SM" + "c" * 32)
    answer = await answered(service, twilio, complaint, "Saluran sudah kami bersihkan.")
    row = await sent_row(service, answer)
    [complaint] = await rows(service, Complaint)
    assert complaint.first_response_at == row.sent_at

    response = await report(client, twilio, answer.sid, "undelivered", ErrorCode="30003")
    assert response.status_code == 200
    await report(client, twilio, answer.sid, "undelivered", ErrorCode="30003")  # repeated

    row = await sent_row(service, answer)
    assert (row.delivery_status, row.delivery_error) == ("undelivered", "30003")
    [entry] = await rows(service, AuditEntry, AuditEntry.action == "undelivered")
    assert entry.complaint_id == complaint.id and entry.actor == "system"
    assert entry.detail == (
        f"officer_reply (outbox #{row.id}) by sms: undelivered, provider error 30003; "
        "it no longer counts as the first response"
    )
    [complaint] = await rows(service, Complaint)
    assert complaint.first_response_at is None

    # The agency tries again, and this answer arrives: that is the response.
    again = await answered(service, twilio, complaint, "Saluran sudah bersih, mohon dicek.")
    row = await sent_row(service, again)
    await report(client, twilio, again.sid, "delivered")
    [complaint] = await rows(service, Complaint)
    assert complaint.first_response_at == row.sent_at


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (400, OutboxStatus.FAILED),  # e.g. 21211 an invalid 'To' number: retrying cannot help
        (401, OutboxStatus.FAILED),
        (404, OutboxStatus.FAILED),
        (500, OutboxStatus.PENDING),
        (503, OutboxStatus.PENDING),
    ],
)
async def test_permanent_errors_are_not_retried_and_transient_ones_are(
    service: Service,
    client: httpx.AsyncClient,
    twilio: FakeTwilioApi,
    clock: FakeClock,
    status: int,
    outcome: OutboxStatus,
) -> None:
    twilio.fail_next(status=status, times=1)
    params = sms("SM" + "d" * 32, "Lampu jalan mati di Jl. Melati")
    await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
    for _ in range(200):
        [reply] = await rows(service, OutboxMessage, OutboxMessage.kind == "reply")
        if reply.last_error:
            break
        await asyncio.sleep(0.02)
    assert (reply.status, reply.attempts) == (outcome, 1)
    assert f"Twilio {status}" in (reply.last_error or "")
    if outcome is OutboxStatus.PENDING:
        assert reply.next_attempt_at == clock.now() + timedelta(seconds=5)
        clock.advance(seconds=5)
        service.dispatcher.wake()
        await twilio.wait_for_message(lambda m: m.to == NUMBER)
    assert len(twilio.attempts) == (2 if outcome is OutboxStatus.PENDING else 1)


async def test_an_unreachable_twilio_is_retried(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, twilio: FakeTwilioApi
) -> None:
    offline = await prepared_service(
        settings,
        engine,
        clock,
        **(
            twilio.service_settings(PUBLIC)
            | {"twilio_api_base": "http://127.0.0.1:9"}  # nothing listens there
        ),
    )
    transport = httpx.ASGITransport(app=offline.app)
    async with (
        offline.running(),
        httpx.AsyncClient(transport=transport, base_url="http://10.0.0.7") as client,
    ):
        params = sms("SM" + "7" * 32, "Lampu jalan mati di Jl. Kenanga")
        await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
        for _ in range(200):
            [reply] = await rows(offline, OutboxMessage, OutboxMessage.kind == "reply")
            if reply.last_error:
                break
            await asyncio.sleep(0.02)
    assert reply.status is OutboxStatus.PENDING
    assert (reply.last_error or "").startswith("TransientSendError: Twilio unreachable")


@pytest.fixture
async def impatient(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, twilio: FakeTwilioApi
) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    """A running service that waits half a second for Twilio's answer."""
    service = await prepared_service(
        settings,
        engine,
        clock,
        **twilio.service_settings(PUBLIC + "/"),
        provider_timeout_seconds=0.5,
    )
    transport = httpx.ASGITransport(app=service.app)
    async with (
        service.running(),
        httpx.AsyncClient(transport=transport, base_url="http://10.0.0.7") as client,
    ):
        yield service, client


async def test_twilio_that_took_the_sms_and_did_not_answer_is_asked_and_not_sent_it_again(
    impatient: tuple[Service, httpx.AsyncClient], twilio: FakeTwilioApi, clock: FakeClock
) -> None:
    service, client = impatient
    twilio.stall(seconds=1.5, done=True)
    params = sms("SM" + "8" * 32, "Lampu jalan mati di Jl. Dahlia")
    await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
    reply = await failed_send(service, OutboxMessage.kind == "reply")
    assert reply.status is OutboxStatus.PENDING
    assert (reply.last_error or "").startswith(
        "delivery unknown: Twilio took the request and did not answer (SocketTimeoutError"
    )
    assert (reply.last_error or "").endswith("; looked up at the provider before it is sent again")
    assert reply.unconfirmed_since == clock.now()
    assert twilio.lists == []  # not before Twilio has had time to finish with it

    clock.advance(minutes=2)
    service.dispatcher.wake()
    [reply] = await settled(service, OutboxMessage.kind == "reply")
    [taken] = twilio.messages  # it did go, once
    assert (reply.status, reply.provider_message_id) == (OutboxStatus.SENT, taken.sid)
    # When it went, not when it was found.
    assert reply.sent_at == clock.now() - timedelta(minutes=2)
    assert reply.unconfirmed_since is None
    assert twilio.lists == [{"To": NUMBER, "From": "+15005550006", "PageSize": "100"}]
    [outbound] = await rows(service, Message, Message.provider_message_id == taken.sid)
    assert outbound.text == reply.text


async def test_an_sms_twilio_never_took_is_sent_once_twilio_says_so(
    impatient: tuple[Service, httpx.AsyncClient], twilio: FakeTwilioApi, clock: FakeClock
) -> None:
    service, client = impatient
    twilio.stall(seconds=1.5)  # no answer in time, and in the end no message either
    twilio.fail_next_list(503)  # and the first lookup finds Twilio unable to answer
    params = sms("SM" + "7" * 32, "Lampu jalan mati di Jl. Kenanga")
    await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
    reply = await failed_send(service, OutboxMessage.kind == "reply")
    assert reply.status is OutboxStatus.PENDING and reply.unconfirmed_since is not None
    await asyncio.sleep(1.5)  # Twilio gave up on it

    clock.advance(minutes=2)
    service.dispatcher.wake()
    for _ in range(200):
        [reply] = await rows(service, OutboxMessage, OutboxMessage.kind == "reply")
        if reply.attempts == 2 and reply.status is OutboxStatus.PENDING:
            break
        await asyncio.sleep(0.05)
    assert len(twilio.lists) == 1 and twilio.messages == []  # not sent blind
    assert "could not be asked whether it took the message" in (reply.last_error or "")
    assert reply.unconfirmed_since is not None

    clock.advance(minutes=2)
    service.dispatcher.wake()
    [reply] = await settled(service, OutboxMessage.kind == "reply")
    [taken] = twilio.messages
    assert (reply.status, reply.provider_message_id) == (OutboxStatus.SENT, taken.sid)
    assert reply.unconfirmed_since is None and len(twilio.lists) == 2


async def claimed_and_begun_by_a_dead_process(service: Service) -> OutboxMessage:
    """The acknowledgement, its send begun by a process that then died."""
    lease = timedelta(minutes=2)
    now = service.clock.now()
    async with service.uow() as uow:
        [row] = await uow.outbox.claim_due(now, ["sms"], 10, lease, "dead")
        await uow.commit()
    async with service.uow() as uow:
        assert await uow.outbox.start_sends({stored_id(row)}, "dead", now, lease)
        await uow.commit()
    [begun] = await rows(service, OutboxMessage, OutboxMessage.id == row.id)
    return begun


@pytest.mark.parametrize("reached_twilio", [True, False])
async def test_an_sms_begun_by_a_process_that_died_goes_once_whether_or_not_twilio_took_it(
    service: Service, twilio: FakeTwilioApi, clock: FakeClock, reached_twilio: bool
) -> None:
    await service.deliver(inbound("Asap hitam dari cerobong pabrik", sender=NUMBER))
    begun = await claimed_and_begun_by_a_dead_process(service)
    if reached_twilio:
        twilio.take(to=NUMBER, body=begun.text)

    async with service.running():
        clock.advance(minutes=3)
        assert await service.dispatcher.recover_abandoned() == 1
        [row] = await rows(service, OutboxMessage, OutboxMessage.kind == "reply")
        assert row.status is OutboxStatus.PENDING
        assert row.unconfirmed_since == begun.send_started_at
        service.dispatcher.wake()
        [row] = await settled(service, OutboxMessage.kind == "reply")

    [taken] = twilio.messages  # once, either way
    assert (row.status, row.provider_message_id) == (OutboxStatus.SENT, taken.sid)
    assert len(twilio.lists) == 1


async def test_an_sms_twilio_never_says_it_took_is_given_up_as_unknown_never_sent_blind(
    service: Service, twilio: FakeTwilioApi, clock: FakeClock
) -> None:
    await service.deliver(inbound("Asap hitam dari cerobong pabrik", sender=NUMBER))
    await claimed_and_begun_by_a_dead_process(service)
    twilio.fail_next_list(503, times=100)
    clock.advance(minutes=3)
    assert await service.dispatcher.recover_abandoned() == 1
    channel = service.channels[ChannelName.SMS]
    await channel.start(service.handlers())
    try:
        for _ in range(service.settings.outbox_max_attempts):
            clock.advance(hours=2)
            await service.dispatcher.dispatch_once()
    finally:
        await channel.stop()

    [row] = await rows(service, OutboxMessage, OutboxMessage.kind == "reply")
    assert row.status is OutboxStatus.FAILED
    assert (row.last_error or "").startswith(
        "delivery unknown: Twilio could not be asked whether it took the message"
    )
    assert (row.last_error or "").endswith(
        f"after {row.attempts} attempts; not resent because sms never said whether it took it"
    )
    assert twilio.messages == [] and len(twilio.lists) == row.attempts - 1


async def test_a_twin_text_recorded_on_another_row_is_not_taken_for_this_ones_send(
    service: Service, engine: AsyncEngine, twilio: FakeTwilioApi, clock: FakeClock
) -> None:
    text = "Mohon balas 1 atau 2. / Please reply 1 or 2."
    earlier = twilio.take(to=NUMBER, body=text)  # sent, and recorded on another row
    await queue(service, "sms", NUMBER, ["earlier", "lost"], text=text)
    async with engine.begin() as connection:
        await connection.execute(
            sa.update(OutboxMessage)
            .where(col(OutboxMessage.key) == "earlier")
            .values(status=OutboxStatus.SENT, provider_message_id=earlier.sid)
        )
    await claimed_and_begun_by_a_dead_process(service)

    async with service.running():
        clock.advance(minutes=3)
        assert await service.dispatcher.recover_abandoned() == 1
        service.dispatcher.wake()
        [lost] = await settled(service, OutboxMessage.key == "lost")

    # The lookup found only the earlier row's message: the lost one went, once.
    assert [m.body for m in twilio.messages] == [text, text]
    assert (lost.status, lost.provider_message_id) == (OutboxStatus.SENT, twilio.messages[1].sid)


async def test_twilio_refusing_connections_is_tried_again_and_sent_once(
    impatient: tuple[Service, httpx.AsyncClient], twilio: FakeTwilioApi, clock: FakeClock
) -> None:
    service, client = impatient
    async with twilio.refusing_connections():
        params = sms("SM" + "9" * 32, "Lampu jalan mati di Jl. Cempaka")
        await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
        reply = await failed_send(service, OutboxMessage.kind == "reply")
    assert reply.status is OutboxStatus.PENDING
    assert (reply.last_error or "").startswith("TransientSendError: Twilio unreachable")
    clock.advance(seconds=5)
    service.dispatcher.wake()
    await twilio.wait_for_message(lambda m: m.to == NUMBER)
    [reply] = await settled(service, OutboxMessage.kind == "reply")
    assert reply.status is OutboxStatus.SENT and reply.attempts == 2
    assert [m.to for m in twilio.messages] == [NUMBER]


# --- SMS-sized text ---------------------------------------------------------------------


async def test_the_acknowledgement_is_one_gsm_segment(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    complaint, ack = await filed_by_sms(service, client, twilio, "SM" + "e" * 32)
    assert measure(ack.body) == SmsSize(Encoding.GSM7, len(ack.body), 1)
    assert ack.body.startswith(f"Aduan diterima, no. {complaint.reference}. Ditangani ")


def cut_and_link(body: str) -> tuple[str, str]:
    """The text before the ellipsis, and the link after it."""
    head, _, link = body.rpartition(" ")
    return head.rsplit(" ", 1)[0], link


async def test_a_long_answer_is_cut_to_the_budget_with_a_link_to_all_of_it(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    complaint, _ = await filed_by_sms(service, client, twilio, "SM" + "1" * 31 + "a")
    text = " ".join(
        f"Langkah {i}: petugas memeriksa saluran, mengangkat sampah dan lumpur yang menyumbat."
        for i in range(1, 13)
    )
    assert len(text) > 990
    answer = await answered(service, twilio, complaint, text)

    assert measure(answer.body).encoding is Encoding.GSM7
    assert measure(answer.body).segments == count_segments(answer.body) == 3
    head, link = cut_and_link(answer.body)
    assert answer.body == f"{head} ... {link}"
    [row] = await rows(service, OutboxMessage, OutboxMessage.kind == "officer_reply")
    assert row.text.startswith(head) and row.text[len(head)] == " "  # cut between words
    assert link.startswith(f"{PUBLIC}/lacak/{complaint.reference}?k=")

    page = await client.get(link.removeprefix(PUBLIC))
    assert page.status_code == 200 and text in page.text
    assert "Saluran air di Jl. Anggrek tersumbat" in page.text  # what the resident wrote
    assert page.headers["cache-control"] == "no-store"
    public = await client.get(f"/lacak/{complaint.reference}")
    forged = await client.get(f"/lacak/{complaint.reference}?k=AAAAAAAAAAAA")
    for view in (public, forged):
        assert view.status_code == 200
        assert text not in view.text and "tersumbat" not in view.text
        assert 'id="conversation-hidden"' in view.text
        assert "sudah dijawab" in view.text  # the status and its timeline stay public
    for view in (page, public, forged):
        assert NUMBER not in view.text and "1234567890" not in view.text


async def test_an_answer_with_emoji_is_measured_and_cut_as_ucs2(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi
) -> None:
    complaint, _ = await filed_by_sms(service, client, twilio, "SM" + "2" * 31 + "a")
    text = "Terima kasih 🙏 saluran sudah bersih dan air mengalir lancar lagi 👍 " * 6
    answer = await answered(service, twilio, complaint, text)

    size = measure(answer.body)
    assert size.encoding is Encoding.UCS2 and size.segments == count_segments(answer.body) == 3
    assert size.units <= 3 * 67
    head, link = cut_and_link(answer.body)
    assert answer.body == f"{head} … {link}"
    assert link.startswith(f"{PUBLIC}/lacak/{complaint.reference}?k=")
    page = await client.get(link.removeprefix(PUBLIC))
    assert text.strip() in page.text


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
    assert bodies[0].startswith("Aduan diterima, no. ")
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


async def test_answers_go_out_at_the_pace_a_long_code_takes_them(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, twilio: FakeTwilioApi
) -> None:
    # The adapter's own pace (one a second from our number), not the fake's unlimited one.
    paced = settings.model_copy(
        update={**twilio.service_settings(PUBLIC + "/"), "sms_messages_per_second": None}
    )
    service = await prepared_service(paced, engine, clock)
    senders = [f"+62812555{i:05d}" for i in range(3)]
    for sender in senders:
        await service.deliver(inbound("Lampu jalan mati di depan SD 3", sender=sender))
    channel = service.channels["sms"]
    await channel.start(service.handlers())
    try:
        assert await service.dispatcher.dispatch_once() == 1
        assert await service.dispatcher.dispatch_once() == 0
        for _ in range(2):
            clock.advance(seconds=1)
            assert await service.dispatcher.dispatch_once() == 1
    finally:
        await channel.stop()

    assert [m.to for m in twilio.messages] == senders
    answers = await rows(service, OutboxMessage, OutboxMessage.channel == "sms")
    assert {(r.status, r.attempts) for r in answers} == {(OutboxStatus.SENT, 1)}


class FailsAtFirst:
    """The service's intake, failing its first calls as an unreachable database would."""

    def __init__(self, deliver: InboundHandler, failures: int) -> None:
        self._deliver = deliver
        self.failures = failures

    async def __call__(self, message: InboundMessage) -> IntakeReceipt:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the database did not answer")
        return await self._deliver(message)


async def test_an_sms_whose_intake_fails_is_kept_answered_and_taken_on_retry(
    service: Service, twilio: FakeTwilioApi, clock: FakeClock
) -> None:
    # Twilio never retries a message it got an error for: an error must not lose it.
    channel = service.channels["sms"]
    await channel.start(
        dataclasses.replace(service.handlers(), deliver=FailsAtFirst(service.deliver, 1))
    )
    transport = httpx.ASGITransport(app=service.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.7") as client:
            params = sms("SM" + "9" * 32, "Bau busuk dari saluran limbah pabrik tahu")
            response = await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
        assert response.status_code == 200
        assert await rows(service, Complaint) == []
        [kept] = await rows(service, KeptDelivery)
        assert kept.last_error == "ConnectionError: the database did not answer"
        clock.advance(seconds=3)
        assert await service.inbox.retry_due() == 1
    finally:
        await channel.stop()
    [complaint] = await rows(service, Complaint)
    [message] = await rows(service, Message, Message.complaint_id == complaint.id)
    assert message.text == "Bau busuk dari saluran limbah pabrik tahu"
    # The time it arrived, not the time it was retried.
    assert message.created_at == clock.now() - timedelta(seconds=3)
