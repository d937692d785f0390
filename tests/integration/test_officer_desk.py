"""Officers acting from chat, through the desk, on real storage: linking with one-time
codes, acting on complaints by reference or by replying, refusals that say why."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import Service
from bot.domain.lifecycle import ComplaintStatus
from channels.base import (
    ActionKind,
    ActionRequest,
    ChannelName,
    Identity,
    IntakeReceipt,
    OutboundMessage,
)
from config.settings import Settings
from storage.models import (
    Agency,
    AuditEntry,
    Complaint,
    OutboxMessage,
)
from storage.roles import OfficerRole
from tests.fakes import FakeClock, FakeEmailChannel, FakeSmsChannel, FakeTelegramChannel, inbound
from tests.integration.db import prepared_service, rows

_updates = itertools.count(1000)
GROUP = "-100777"


def say(kind: ActionKind, user: str, *, group: bool = True, **fields: str) -> ActionRequest:
    identity = Identity(ChannelName.TELEGRAM, user, GROUP if group else user, "Sari", group)
    return ActionRequest(identity, kind, str(next(_updates)), **fields)


@pytest.fixture
async def telegram() -> FakeTelegramChannel:
    return FakeTelegramChannel()


@pytest.fixture
async def desk_service(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, telegram: FakeTelegramChannel
) -> Service:
    channels = [FakeSmsChannel(), FakeEmailChannel(), telegram]
    return await prepared_service(settings, engine, clock, channels=channels)


async def linked(
    service: Service, agency: str, user: str, role: OfficerRole = OfficerRole.OFFICER
) -> None:
    _, code = await service.desk.add_officer(agency, f"Petugas {user}", role, created_by="admin")
    result = await service.desk.handle(say(ActionKind.LINK, user, group=False, text=code))
    assert result.ok, result.message


async def posted_to_the_group(
    service: Service, telegram: FakeTelegramChannel
) -> tuple[IntakeReceipt, OutboundMessage]:
    """A linked officer and group, and a resident's complaint as the group received it."""
    await linked(service, "DISHUB", "501")
    group_code = await service.desk.group_code("DISHUB", created_by="admin")
    assert (await service.desk.handle(say(ActionKind.LINK, "501", text=group_code))).ok
    filed = await service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    while await service.dispatcher.dispatch_once():
        pass
    [posted] = [m for m in telegram.sent if m.recipient == GROUP]
    return filed, posted


async def test_linking_officers_and_the_agency_group(
    desk_service: Service, clock: FakeClock
) -> None:
    desk = desk_service.desk
    refused = await desk.handle(say(ActionKind.LIST, "501"))
    assert not refused.ok and "belum terhubung" in refused.message

    officer, code = await desk.add_officer(
        "DISHUB", "Sari", OfficerRole.OFFICER, created_by="admin"
    )
    assert (
        await desk.handle(say(ActionKind.LINK, "501", group=False, text=code.lower()))
    ).message == ("Terhubung sebagai Sari (officer) di Dinas Perhubungan.")
    again = await desk.handle(say(ActionKind.LINK, "502", group=False, text=code))
    assert not again.ok and "sudah dipakai" in again.message

    group_code = await desk.group_code("DISHUB", created_by="admin")
    private = await desk.handle(say(ActionKind.LINK, "501", group=False, text=group_code))
    assert not private.ok and "untuk grup instansi" in private.message
    assert (await desk.handle(say(ActionKind.LINK, "501", text=group_code))).ok
    [agency] = await rows(desk_service, Agency, Agency.code == "DISHUB")
    assert agency.telegram_chat_id == GROUP
    links = await rows(desk_service, AuditEntry, AuditEntry.action == "link")
    assert [entry.detail for entry in links] == [
        f"officer {officer.id} of DISHUB linked to telegram chat 501",
        f"group of DISHUB linked to telegram chat {GROUP}",
    ]

    _, late = await desk.add_officer("DISHUB", "Budi", OfficerRole.OFFICER, created_by="admin")
    clock.advance(days=8)
    expired = await desk.handle(say(ActionKind.LINK, "503", group=False, text=late))
    assert not expired.ok and "kedaluwarsa" in expired.message


async def test_an_officer_answering_someone_opted_out_is_told_it_will_not_reach_them(
    desk_service: Service, telegram: FakeTelegramChannel, clock: FakeClock
) -> None:
    filed, _ = await posted_to_the_group(desk_service, telegram)
    await desk_service.deliver(inbound("BERHENTI", at=clock.advance(minutes=5)))
    answered = await desk_service.desk.handle(
        say(ActionKind.ANSWER, "501", reference=filed.reference or "", text="Sudah diganti.")
    )

    assert answered.ok
    assert answered.message == (
        f"Jawaban dikirim ke pelapor {filed.reference}. Catatan: pelapor meminta berhenti "
        "menerima pesan (BERHENTI); jawaban tidak sampai kepadanya sampai ia mengirim MULAI."
    )


async def test_officers_work_a_complaint_from_the_group(
    desk_service: Service, telegram: FakeTelegramChannel
) -> None:
    desk = desk_service.desk
    filed, posted = await posted_to_the_group(desk_service, telegram)
    assert filed.reference is not None
    assert filed.reference in posted.text
    thread = "telegram-thread-1"  # what the fake channel reported for the group post

    took = await desk.handle(say(ActionKind.TAKE, "501", thread_key=thread))
    answered = await desk.handle(
        say(ActionKind.ANSWER, "501", thread_key=thread, text="Sudah diperbaiki.")
    )
    noted = await desk.handle(
        say(ActionKind.NOTE, "501", reference=filed.reference or "", text="cek lagi besok")
    )

    # Posted under the notice for the whole group: it names who took it, not "you".
    assert took.ok and took.message.startswith(f"{filed.reference} diambil oleh Petugas 501")
    assert answered.ok and answered.reference == filed.reference
    assert noted.ok
    [complaint] = await rows(desk_service, Complaint)
    assert complaint.status == ComplaintStatus.ANSWERED
    [reply] = await rows(desk_service, OutboxMessage, OutboxMessage.kind == "officer_reply")
    assert (reply.channel, reply.recipient) == ("sms", "+6281234567890")
    assert (
        reply.text
        == f"Jawaban Dinas Perhubungan untuk pengaduan {filed.reference}:\nSudah diperbaiki."
    )
    notes = await rows(desk_service, AuditEntry, AuditEntry.action == "note")
    assert [n.detail for n in notes] == ["cek lagi besok"]


async def test_refusals_say_why(desk_service: Service) -> None:
    desk = desk_service.desk
    await linked(desk_service, "PUPR", "601")
    filed = await desk_service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    reference = filed.reference or ""

    other_agency = await desk.handle(say(ActionKind.TAKE, "601", reference=reference))
    no_reference = await desk.handle(say(ActionKind.TAKE, "601"))
    not_a_reference = await desk.handle(say(ActionKind.TAKE, "601", reference="abc"))
    empty_answer = await desk.handle(say(ActionKind.ANSWER, "601", reference=reference))
    assert "petugas hanya dapat menangani pengaduan instansinya sendiri" in other_agency.message
    assert "sebutkan nomor pengaduan" in no_reference.message
    assert "'abc' bukan nomor pengaduan" in not_a_reference.message
    assert empty_answer.message == "Teks kosong: tulis jawaban untuk warga."
    assert not any(r.ok for r in (other_agency, no_reference, not_a_reference, empty_answer))


async def test_an_action_the_status_does_not_allow_is_refused_in_the_officers_words(
    desk_service: Service,
) -> None:
    desk = desk_service.desk
    await linked(desk_service, "DISHUB", "501")
    filed = await desk_service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    reference = filed.reference or ""
    closed = await desk.handle(say(ActionKind.CLOSE, "501", reference=reference))
    again = await desk.handle(say(ActionKind.CLOSE, "501", reference=reference))
    assert closed.ok and not again.ok
    assert again.message.startswith('Tidak dapat menutup: status pengaduan ini "selesai". ')
    assert "menunggu informasi dari pelapor" in again.message


async def test_lists_for_officers(desk_service: Service, clock: FakeClock) -> None:
    desk = desk_service.desk
    await linked(desk_service, "DISHUB", "501")
    first = await desk_service.deliver(inbound("Lampu jalan mati", sender="+6281200000001"))
    await desk_service.deliver(inbound("Lampu PJU padam di gang 2", sender="+6281200000002"))
    await desk.handle(say(ActionKind.TAKE, "501", reference=first.reference or ""))
    clock.advance(days=3)

    listed = (await desk.handle(say(ActionKind.LIST, "501"))).message.splitlines()
    mine = (await desk.handle(say(ActionKind.MINE, "501"))).message.splitlines()
    overdue = (await desk.handle(say(ActionKind.OVERDUE, "501"))).message.splitlines()
    assert listed[0] == "Pengaduan terbuka (2):"
    assert mine[0] == "Pengaduan yang Anda tangani (1):" and mine[1].startswith(
        first.reference or ""
    )
    assert overdue[0] == "Pengaduan terlambat (2):" and "TERLAMBAT" in overdue[1]


async def test_transfer_and_ask_from_chat(desk_service: Service) -> None:
    desk = desk_service.desk
    await linked(desk_service, "DISHUB", "501")
    filed = await desk_service.deliver(inbound("Lampu jalan mati, tiangnya roboh"))
    reference = filed.reference or ""
    asked = await desk.handle(
        say(ActionKind.ASK, "501", reference=reference, text="Di mana tepatnya?")
    )
    moved = await desk.handle(
        say(ActionKind.TRANSFER, "501", reference=reference, agency_code="PUPR", text="tiang roboh")
    )
    assert asked.ok and "dihentikan sementara" in asked.message
    assert moved.ok and moved.message == f"{reference} dialihkan ke PUPR."
    [complaint] = await rows(desk_service, Complaint)
    assert complaint.status == ComplaintStatus.TRANSFERRED


async def test_new_complaints_reach_the_group_with_buttons(
    desk_service: Service, telegram: FakeTelegramChannel
) -> None:
    filed, posted = await posted_to_the_group(desk_service, telegram)
    assert [(b.label, b.action, b.reference) for b in posted.buttons] == [
        ("Ambil", ActionKind.TAKE, filed.reference),
        ("Minta info", ActionKind.ASK, filed.reference),
        ("Alihkan", ActionKind.TRANSFER, filed.reference),
        ("Selesai", ActionKind.CLOSE, filed.reference),
        ("Tolak", ActionKind.REJECT, filed.reference),
    ]
    assert "+62812•••••890" in posted.text and "6281234567890" not in posted.text
