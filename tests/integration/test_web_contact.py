"""A contact typed into the web form is a claim, never an identity (issue 14, defects 2 and
14): the real app over HTTP, real storage, the fake SMS channel we own."""

from __future__ import annotations

import httpx

from bot.bootstrap import Service
from bot.domain.lifecycle import ComplaintStatus
from bot.officers.actions import Actor, Role
from storage.models import Complaint, Direction, Message, OutboxMessage, Resident
from tests.fakes import FakeSmsChannel, inbound
from tests.integration.db import count, rows
from tests.integration.forms import post_form

VICTIM = "+6281234567890"
TYPED = "0812 3456 7890"  # the victim's number, as a stranger types it
ADMIN = Actor(Role.ADMIN, 7, "Rina (admin)")


async def test_a_stranger_with_the_residents_number_cannot_act_as_them(
    client: httpx.AsyncClient, service: Service
) -> None:
    filed = await service.deliver(inbound("Got mampet di Jl. Kenari, air meluap", sender=VICTIM))
    reference = filed.reference or ""
    await service.actions.ask_resident(reference, "Di depan rumah nomor berapa?", ADMIN)

    answered = await post_form(client, {"text": "Di depan nomor 12, sudah parah", "contact": TYPED})
    added = await client.post(
        f"/api/complaints/{reference}/messages",
        json={"text": "Sekarang sudah banjir", "contact": TYPED},
    )
    language = await client.post("/api/complaints", json={"text": "BAHASA en", "contact": TYPED})
    for number in range(25):
        await client.post(
            "/api/complaints", json={"text": f"Sampah menumpuk di gang {number}", "contact": TYPED}
        )

    assert answered.status_code == 201  # a complaint of its own, not the victim's answer
    assert added.status_code == 403
    assert language.status_code == 200 and language.json()["outcome"] == "command"
    [complaint] = await rows(service, Complaint, Complaint.reference == reference)
    assert complaint.status == ComplaintStatus.WAITING_FOR_RESIDENT
    [victim] = await rows(service, Resident, Resident.address == VICTIM)
    assert (victim.language, victim.window_messages) == ("id", 1)
    inbound_rows = Message.direction == Direction.INBOUND
    assert await count(service, Message, Message.complaint_id == complaint.id, inbound_rows) == 1
    to_victim = await rows(service, OutboxMessage, OutboxMessage.recipient == VICTIM)
    assert sorted(row.kind for row in to_victim) == ["officer_question", "reply"]
    page = await client.get(await service.links.url(reference))
    assert "Di depan nomor 12" not in page.text
    # The victim's own answer still continues their complaint, unthrottled.
    reply = await service.deliver(inbound("Nomor 12, Pak", sender=VICTIM))
    assert reply.reference == reference


async def test_status_typed_into_the_form_is_answered_not_filed(
    client: httpx.AsyncClient, service: Service
) -> None:
    filed = await service.deliver(inbound("Got mampet di Jl. Kenari, air meluap", sender=VICTIM))
    reference = filed.reference or ""

    page = await post_form(client, {"text": f"STATUS {reference}", "contact": ""})

    assert page.status_code == 200
    assert "Pengaduan diterima" not in page.text
    assert reference in page.text and "diteruskan ke instansi" in page.text
    [complaint] = await rows(service, Complaint)
    on_it = (Message.complaint_id == complaint.id, Message.direction == Direction.INBOUND)
    assert await count(service, Message, *on_it) == 1
    assert await count(service, Complaint) == 1


async def test_a_blocked_contact_is_told_only_that_it_arrived(
    client: httpx.AsyncClient, service: Service, sms: FakeSmsChannel
) -> None:
    await service.deliver(inbound("Lampu jalan mati di Jl. Mawar", sender=VICTIM))
    async with service.uow() as uow:
        resident = await uow.residents.find("sms", VICTIM)
        assert resident is not None
        resident.blocked_at = service.clock.now()
        await uow.commit()

    page = await post_form(client, {"text": "Sampah menumpuk di pasar", "contact": TYPED})
    api = await client.post(
        "/api/complaints", json={"text": "Sampah menumpuk di pasar", "contact": TYPED}
    )

    assert page.status_code == 200
    assert "Terima kasih, pesan Anda sudah kami terima." in page.text
    assert "Mohon" not in page.text and "Pengaduan diterima" not in page.text
    assert api.json()["outcome"] == "blocked"
    assert api.json()["message"] == "Terima kasih, pesan Anda sudah kami terima."
    assert await count(service, Complaint) == 1
