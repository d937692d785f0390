"""`ADUAN_RETENTION_DAYS`: the texts of complaints finished longer ago, and kept deliveries
and refused mail older than that, are blanked; the complaints and their times stay, so the
public pages and figures still add up."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import Service
from bot.intake.erasure import Retention
from bot.messaging.templates import render
from bot.officers.actions import Actor, Role
from bot.sla.figures import Period
from channels.base import Attachment, ChannelName, RawDelivery, RefusedMessage
from config.settings import Settings
from storage.models import Attachment as StoredAttachment
from storage.models import (
    Complaint,
    ContactClaim,
    DeliveryState,
    KeptDelivery,
    Message,
    OutboxMessage,
    OutboxStatus,
)
from storage.models import RefusedMessage as RefusedRow
from storage.repositories.erasure import Expired
from tests.fakes import FakeClock, FakeEmailChannel, FakeSmsChannel, inbound
from tests.integration.db import drained, prepared_service, rows

DAYS = 30
EXPIRED = render("expired", "id")
ADMIN = Actor(Role.ADMIN, 7, "Rina (admin)")


@pytest.fixture
async def service(
    settings: Settings,
    engine: AsyncEngine,
    clock: FakeClock,
    sms: FakeSmsChannel,
    email: FakeEmailChannel,
) -> Service:
    return await prepared_service(
        settings, engine, clock, channels=[sms, email], retention_days=DAYS
    )


async def _file(service: Service, clock: FakeClock, text: str, sender: str) -> str:
    receipt = await service.deliver(
        inbound(
            text,
            sender=sender,
            at=clock.now(),
            attachments=(Attachment("foto.jpg", "image/jpeg", b"\xff\xd8 jpeg"),),
        )
    )
    assert receipt.reference is not None
    return receipt.reference


async def _keep(service: Service, clock: FakeClock, key: str) -> None:
    """A mail that failed to be processed, and one refused: both kept whole, as they came."""
    raw = f"From: budi@mail.example.com\r\nSubject: {key}\r\n\r\nRumah Budi di Jl. Mawar".encode()
    await service.inbox.failed(
        RawDelivery(ChannelName.EMAIL, "mail", f"mail:{key}", raw, clock.now()),
        RuntimeError("the adapter cannot read it"),
    )
    await service.refusals.keep(
        RefusedMessage(ChannelName.EMAIL, key, "an automatic reply", raw, clock.now())
    )


async def _by_reference(service: Service) -> dict[str, Complaint]:
    return {c.reference: c for c in await rows(service, Complaint)}


async def test_what_is_past_its_time_is_blanked_and_what_is_newer_or_open_stays(
    service: Service, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    assert service.retention is not None
    still_open = await _file(service, clock, "Lampu jalan di Jl. Kenanga mati", "+6281100000001")
    closed = await _file(service, clock, "Jalan depan rumah Budi berlubang", "+6281100000002")
    rejected = await _file(service, clock, "Tetangga saya berisik tiap malam", "+6281100000003")
    await service.actions.close(closed, ADMIN, note="Sudah ditambal")
    await service.actions.reject(rejected, ADMIN, reason="Bukan wewenang kota")
    await service.dispatcher.dispatch_once()
    await _keep(service, clock, "old")
    clock.advance(days=DAYS - 1)
    recent = await _file(service, clock, "Sampah di TPS Jl. Melati menumpuk", "+6281100000004")
    await service.actions.close(recent, ADMIN)
    await drained(service)  # its closing notice is its response: counted before the figures
    await _keep(service, clock, "new")
    clock.advance(days=2)
    period = Period.ending(service.figures.today(), days=90)
    as_of = service.figures.as_of()
    figures = await service.figures.figures(period, as_of)
    before = await _by_reference(service)

    expired = await service.retention.sweep()

    assert expired == Expired(complaints=2, messages=expired.messages, deliveries=1, refused=1)
    after = await _by_reference(service)
    for reference in (closed, rejected):
        old = after[reference]
        assert (old.text, old.subject, old.location_text) == (EXPIRED, None, None)
        assert (old.status, old.agency_id, old.received_at, old.due_at, old.closed_at) == (
            before[reference].status,
            before[reference].agency_id,
            before[reference].received_at,
            before[reference].due_at,
            before[reference].closed_at,
        )
        messages = await rows(service, Message, Message.complaint_id == old.id)
        assert messages and all(m.text == EXPIRED for m in messages)
        sent = await rows(service, OutboxMessage, OutboxMessage.complaint_id == old.id)
        assert sent and all(o.text == EXPIRED for o in sent if o.status is not OutboxStatus.PENDING)
    for reference in (still_open, recent):
        assert after[reference].text == before[reference].text != EXPIRED
        messages = await rows(service, Message, Message.complaint_id == after[reference].id)
        assert messages and EXPIRED not in {m.text for m in messages}
    files = {f.content for f in await rows(service, StoredAttachment)}
    assert files == {b"", b"\xff\xd8 jpeg"}
    deliveries = {d.key: d for d in await rows(service, KeptDelivery)}
    assert deliveries["mail:old"].payload == b""
    assert deliveries["mail:old"].state is DeliveryState.DROPPED
    assert deliveries["mail:new"].payload.startswith(b"From: budi")
    refused = {r.provider_message_id: r for r in await rows(service, RefusedRow)}
    assert (refused["old"].raw, refused["new"].raw[:5]) == (b"", b"From:")
    # The public record reads the same, and a second sweep finds nothing left to do.
    assert await service.figures.figures(period, as_of) == figures
    page = await client.get(f"/api/complaints/{closed}")
    assert page.status_code == 200 and page.json()["status"] == "closed", page.text
    assert (await client.get(f"/lacak/{closed}")).status_code == 200
    assert await service.retention.sweep() == Expired()


async def test_a_contact_claim_of_an_expired_complaint_is_erased(
    service: Service, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    assert service.retention is not None
    filed = await client.post(
        "/api/complaints",
        json={"text": "Saluran air tersumbat di Jl. Anggrek", "contact": "0812 9999 0000"},
    )
    assert filed.status_code == 201, filed.text
    reference = filed.json()["reference"]
    await service.actions.close(reference, ADMIN)
    clock.advance(days=DAYS + 1)

    await service.retention.sweep()

    [claim] = await rows(service, ContactClaim)
    assert (claim.address, claim.erased_at) == (EXPIRED, clock.now())
    assert await service.verification.claim(reference) is None
    assert await service.verification.send_code(reference, "id") is None


async def test_a_complaint_reopened_and_closed_again_is_blanked_again(
    service: Service, clock: FakeClock
) -> None:
    retention = Retention(service.uow, clock, days=1, batch=1)
    reference = await _file(service, clock, "Pohon tumbang di Jl. Cempaka", "+6281100000005")
    await service.actions.close(reference, ADMIN)
    clock.advance(hours=25)
    assert (await retention.sweep()).complaints == 1
    clock.advance(minutes=5)
    await service.deliver(
        inbound(f"{reference} pohonnya tumbang lagi", sender="+6281100000005", at=clock.now())
    )
    [reopened] = [c for c in await rows(service, Complaint) if c.reference == reference]
    assert reopened.status == "reopened"
    await service.actions.close(reference, ADMIN)
    clock.advance(hours=25)

    assert (await retention.sweep()).complaints == 1
    messages = await rows(service, Message, Message.complaint_id == reopened.id)
    assert all(m.text == render("expired", "id") for m in messages)


async def test_the_sweep_runs_daily_only_with_the_setting(
    service: Service, settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    [daily] = [job for job in service._scheduler().get_jobs() if job.id == "retention.sweep"]
    assert str(daily.trigger).startswith("cron[hour='3', minute='30'")
    keeping = await prepared_service(settings, engine, clock)
    assert keeping.retention is None
    assert "retention.sweep" not in {job.id for job in keeping._scheduler().get_jobs()}
