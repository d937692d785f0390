"""`aduan residents erase`: a resident's personal data blanked everywhere, their complaints
kept for the record; on real storage, and the command as an operator runs it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.bootstrap import Service
from bot.intake.blocklist import Blocklist
from bot.intake.erasure import Eraser, ErasureError
from bot.intake.verification import Verdict
from bot.messaging.templates import render
from channels.base import Attachment, ChannelName, RawDelivery, RefusedMessage
from channels.kept_payloads import fields
from storage.models import Attachment as StoredAttachment
from storage.models import (
    AuditEntry,
    Complaint,
    ContactClaim,
    DeliveryState,
    KeptDelivery,
    Message,
    OutboxMessage,
    OutboxStatus,
    Resident,
)
from storage.models import RefusedMessage as RefusedRow
from tests.fakes import FakeClock, inbound
from tests.integration.db import rows, settled
from tests.integration.service_process import clean_env, run_cli

PHONE = "+6281234567890"
MARKER = render("erased", "id")


async def test_erasing_a_phone_blanks_the_resident_and_keeps_their_complaints(
    service: Service, clock: FakeClock
) -> None:
    filed = await service.deliver(
        inbound(
            "Jalan depan rumah Budi Santoso di Jl. Mawar 12 berlubang",
            display_name="Budi Santoso",
            attachments=(Attachment("rumah-budi.jpg", "image/jpeg", b"\xff\xd8 jpeg"),),
        )
    )
    other = await service.deliver(inbound("Lampu jalan mati di Jl. Kenanga", sender="+6281111111"))
    await service.refusals.keep(
        RefusedMessage(
            ChannelName.SMS, "r-1", "unreadable", b"raw " + PHONE.encode(), clock.now(), PHONE
        )
    )
    [before] = [c for c in await rows(service, Complaint) if c.reference == filed.reference]

    [erasure] = await Eraser(service.uow, clock).erase("0812 3456 7890", admin="rina")

    assert (erasure.channel, erasure.address) == ("sms", PHONE)
    assert erasure.erased.complaints == 1 and erasure.erased.attachments == 1
    [resident] = [r for r in await rows(service, Resident) if r.id == before.resident_id]
    assert resident.address == f"erased:{resident.id}" and resident.display_name is None
    [after] = [c for c in await rows(service, Complaint) if c.reference == filed.reference]
    assert after.text == MARKER
    # Kept for the public figures: the row, its agency, its times.
    assert (after.agency_id, after.received_at, after.due_at, after.status) == (
        before.agency_id,
        before.received_at,
        before.due_at,
        before.status,
    )
    theirs = [m for m in await rows(service, Message) if m.complaint_id == before.id]
    assert theirs and all(m.text == MARKER and m.original_text is None for m in theirs)
    [photo] = await rows(service, StoredAttachment)
    assert (photo.filename, photo.content, photo.size) == (MARKER, b"", 0)
    outbox = [o for o in await rows(service, OutboxMessage) if o.complaint_id == before.id]
    assert outbox and all(o.text == MARKER and PHONE not in o.recipient for o in outbox)
    assert all(o.status is OutboxStatus.SUPPRESSED for o in outbox if o.recipient == MARKER)
    [refused] = await rows(service, RefusedRow)
    assert refused.sender is None and refused.raw == b""
    # Everything stored now says nothing of them; the other resident is untouched.
    stored = []
    for model in (Resident, Complaint, Message, OutboxMessage, AuditEntry):
        stored += [str(vars(row)) for row in await rows(service, model)]
    everything = " ".join(stored)
    assert "Budi" not in everything and "81234567890" not in everything
    assert "Lampu jalan mati di Jl. Kenanga" in everything and other.reference
    [audit] = [a for a in await rows(service, AuditEntry) if a.action == "erase"]
    assert audit.actor == "admin:rina" and "1 complaints" in audit.detail


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("telegram:abc", "is not a Telegram chat id"),
        ("bukan alamat", "give a phone number"),
        ("budi@mail.example.com", "nothing is stored about the address"),
    ],
)
async def test_an_address_that_names_no_resident_is_refused_with_a_reason(
    service: Service, clock: FakeClock, typed: str, said: str
) -> None:
    with pytest.raises(ErasureError, match=said):
        await Eraser(service.uow, clock).erase(typed, admin="rina")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_command_asks_first_erases_with_yes_and_refuses_in_one_line(
    service: Service, settings: object, tmp_path: Path
) -> None:
    await service.deliver(inbound("Sampah menumpuk di TPS Jl. Melati", display_name="Siti"))
    env = clean_env(service.settings.database_url)

    asked = run_cli("residents", "erase", "sms:0812 3456 7890", env=env, cwd=tmp_path)
    assert asked.returncode == 1 and "nothing erased" in asked.stdout, asked
    assert [r.display_name for r in await rows(service, Resident) if r.channel == "sms"] == ["Siti"]

    done = run_cli("residents", "erase", f"sms:{PHONE}", "--yes", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"erased sms {PHONE}: 1 complaints"), done.stdout

    bad = run_cli("residents", "erase", "telegram:abc", "--yes", env=env, cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.count("\n") == 1 and "not a Telegram chat id" in bad.stderr


async def test_an_address_only_typed_into_a_form_is_erased_with_the_codes_sent_there(
    service: Service, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    filed = await client.post(
        "/api/complaints",
        json={"text": "Saluran air tersumbat di Jl. Anggrek", "contact": "0812 3456 7890"},
    )
    assert filed.status_code == 201, filed.text
    reference = filed.json()["reference"]
    sent = await service.verification.send_code(reference, "id")
    assert sent is not None and sent.verdict is Verdict.SENT
    await settled(service, OutboxMessage.kind == "verification_code")

    [erasure] = await Eraser(service.uow, clock).erase("0812 3456 7890", admin="rina")

    assert (erasure.channel, erasure.erased.claims, erasure.erased.complaints) == ("sms", 1, 0)
    [claim] = await rows(service, ContactClaim)
    assert (claim.address, claim.code_hash, claim.erased_at) == (MARKER, None, clock.now())
    stored = []
    for model in (ContactClaim, Message, OutboxMessage, AuditEntry):
        stored += [str(vars(row)) for row in await rows(service, model)]
    assert "81234567890" not in " ".join(stored)
    # Nothing more goes there, and the form's filer keeps the complaint they wrote.
    assert await service.verification.claim(reference) is None
    assert await service.verification.send_code(reference, "id") is None
    [complaint] = await rows(service, Complaint)
    assert complaint.text == "Saluran air tersumbat di Jl. Anggrek"


async def test_audit_rows_naming_the_address_are_rewritten_and_kept(
    service: Service, clock: FakeClock
) -> None:
    blocklist = Blocklist(service.uow, clock)
    await blocklist.add(ChannelName.TELEGRAM, "42", reason="kirim spam", admin="rina")
    await blocklist.add(ChannelName.TELEGRAM, "4242", reason="kirim spam juga", admin="rina")
    await blocklist.remove(ChannelName.TELEGRAM, "42", admin="rina")
    audited = len(await rows(service, AuditEntry))

    [erasure] = await Eraser(service.uow, clock).erase("telegram:42", admin="rina")

    assert erasure.erased.audit == 2
    details = [a.detail for a in await rows(service, AuditEntry) if a.action != "rules_apply"]
    assert details[-4:-1] == [
        f"telegram {MARKER}: kirim spam",
        "telegram 4242: kirim spam juga",
        f"telegram {MARKER} (was: kirim spam)",
    ]
    assert len(await rows(service, AuditEntry)) == audited + 1  # the erasure's own row


async def test_kept_deliveries_are_found_by_the_addresses_they_name(
    service: Service, clock: FakeClock
) -> None:
    await service.deliver(inbound("Lampu jalan mati di Jl. Kenanga"))

    async def keep(key: str, payload: bytes) -> None:
        delivery = RawDelivery(ChannelName.SMS, "sms", key, payload, clock.now())
        await service.inbox.failed(delivery, RuntimeError("the adapter cannot read it"))

    await keep("from-them", fields({"From": PHONE, "Body": "Jalan rusak"}))
    await keep("report-to-them", fields({"To": PHONE, "MessageStatus": "delivered"}))
    await keep("naming-them", fields({"From": "+6281111111111", "Body": f"nomor Budi {PHONE}"}))
    # Not the adapter's encoding: only the address appearing in it can tell.
    await keep("unreadable", b"MessageSid=SM1&From=" + PHONE.encode())

    [erasure] = await Eraser(service.uow, clock).erase(f"sms:{PHONE}", admin="rina")

    assert erasure.erased.deliveries == 3
    kept = {d.key: d for d in await rows(service, KeptDelivery)}
    assert {key for key, d in kept.items() if d.payload == b""} == {
        "from-them",
        "report-to-them",
        "unreadable",
    }
    assert kept["naming-them"].state is DeliveryState.PENDING
