"""`aduan residents erase`: a resident's personal data blanked everywhere, their complaints
kept for the record; on real storage, and the command as an operator runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bootstrap import Service
from bot.intake.erasure import Eraser, ErasureError
from bot.messaging.templates import render
from channels.base import Attachment, ChannelName, RefusedMessage
from storage.models import Attachment as StoredAttachment
from storage.models import (
    AuditEntry,
    Complaint,
    Message,
    OutboxMessage,
    OutboxStatus,
    Resident,
)
from storage.models import RefusedMessage as RefusedRow
from tests.fakes import FakeClock, inbound
from tests.integration.db import rows
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
        ("budi@mail.example.com", "no resident has the address"),
    ],
)
async def test_an_address_that_names_no_resident_is_refused_with_a_reason(
    service: Service, clock: FakeClock, typed: str, said: str
) -> None:
    with pytest.raises(ErasureError, match=said):
        await Eraser(service.uow, clock).erase(typed, admin="rina")


@pytest.fixture
def backend() -> str:
    return "sqlite"


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
