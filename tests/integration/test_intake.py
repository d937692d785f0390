"""Intake against real storage (SQLite and PostgreSQL): one path for every message."""

from __future__ import annotations

from datetime import timedelta
from typing import Unpack

import pytest
from sqlmodel import col

from bot.bootstrap import Service
from bot.domain.lifecycle import ComplaintStatus
from bot.officers.actions import Actor, Role
from channels.base import Address, Attachment, ChannelName, InboundMessage, Location, Outcome
from storage.models import AuditEntry, Complaint, Message, OutboxMessage, Resident
from tests.fakes import FakeClock, InboundFields, inbound
from tests.integration.db import count, rows

ADMIN = Actor(Role.ADMIN, 7, "Rina (admin)")


async def test_new_complaint_is_routed_acknowledged_and_audited(service: Service) -> None:
    receipt = await service.deliver(inbound("Jln depan SD 3 berlubang besar, tlg diperbaiki"))

    assert receipt.outcome is Outcome.COMPLAINT
    assert receipt.agency_code == "PUPR"
    assert receipt.status == ComplaintStatus.ASSIGNED
    assert receipt.reference and receipt.reference in receipt.reply_text
    assert receipt.due_at == inbound("x").received_at + timedelta(days=2)
    [complaint] = await rows(service, Complaint)
    assert complaint.routing_rule == "pupr-roads"
    assert complaint.routing_version == "v1"
    assert "lubang" in complaint.routing_terms
    assert complaint.routing_explanation.startswith("Aturan 'pupr-roads' cocok: kata ")
    outbox = {row.kind: row for row in await rows(service, OutboxMessage)}
    assert outbox["reply"].recipient == "+6281234567890"
    assert outbox["reply"].channel == "sms"
    assert "Rabu, 4 November 2026 09.00 WIB" in outbox["reply"].text
    assert outbox["agency_notice"].channel == "email"
    assert outbox["agency_notice"].recipient == "pupr@kota.example.go.id"
    assert "+62812•••••890" in outbox["agency_notice"].text
    assert "6281234567890" not in outbox["agency_notice"].text
    actions = [
        (a.action, a.from_status, a.to_status)
        for a in await rows(service, AuditEntry, col(AuditEntry.complaint_id).is_not(None))
    ]
    assert actions == [("create", None, "new"), ("assign", "new", "assigned")]


async def test_replayed_message_is_one_complaint_with_the_same_answer(service: Service) -> None:
    message = inbound("Sampah menumpuk di TPS Jl. Melati sudah seminggu", provider_id="SM123")
    first = await service.deliver(message)
    again = await service.deliver(message)

    assert again.duplicate and not first.duplicate
    assert again.reference == first.reference
    assert again.reply_text == first.reply_text
    assert await count(service, Complaint) == 1
    assert await count(service, Message) == 1
    assert await count(service, OutboxMessage) == 2


async def test_concurrent_deliveries_of_one_message_make_one_complaint(service: Service) -> None:
    import asyncio

    message = inbound("Air PDAM mati sejak pagi di Perum Griya Asri", provider_id="dup-1")
    receipts = await asyncio.gather(*(service.deliver(message) for _ in range(5)))

    assert {r.reference for r in receipts} == {receipts[0].reference}
    assert sum(not r.duplicate for r in receipts) == 1
    assert await count(service, Complaint) == 1
    assert await count(service, OutboxMessage) == 2


async def test_reference_in_text_from_the_same_resident_is_a_follow_up(
    service: Service, clock: FakeClock
) -> None:
    first = await service.deliver(inbound("Lampu jalan di Jl. Kenanga mati semua"))
    assert first.reference is not None
    later = clock.advance(hours=3)
    follow = await service.deliver(
        inbound(f"utk {first.reference.lower()}: sdh 3 malam gelap", at=later)
    )

    assert follow.outcome is Outcome.FOLLOW_UP
    assert follow.reference == first.reference
    assert await count(service, Complaint) == 1
    replies = [r for r in await rows(service, OutboxMessage) if r.kind == "reply"]
    assert len(replies) == 2
    notices = [r for r in await rows(service, OutboxMessage) if r.kind == "agency_notice"]
    assert "sdh 3 malam gelap" in notices[-1].text


async def test_reference_quoted_by_someone_else_starts_their_own_complaint(
    service: Service,
) -> None:
    first = await service.deliver(inbound("Lampu jalan di Jl. Kenanga mati semua"))
    other = await service.deliver(
        inbound(
            f"Sama dengan {first.reference}, lampu di gang sebelah juga mati",
            sender="+6281399990000",
        )
    )

    assert other.outcome is Outcome.COMPLAINT
    assert other.reference != first.reference


async def test_burst_within_merge_window_joins_the_open_complaint(
    service: Service, clock: FakeClock
) -> None:
    start = clock.now()
    first = await service.deliver(inbound("Ada pohon tumbang menutup jalan", at=start))
    second = await service.deliver(
        inbound("di Jl. Merpati dekat masjid", at=start + timedelta(minutes=9))
    )
    third = await service.deliver(
        inbound("Pohon lain juga tumbang di Jl. Elang", at=start + timedelta(minutes=30))
    )

    assert second.outcome is Outcome.FOLLOW_UP and second.reference == first.reference
    assert third.outcome is Outcome.COMPLAINT and third.reference != first.reference
    # A burst is not acknowledged message by message: the first answer covers it.
    replies = [r for r in await rows(service, OutboxMessage) if r.kind == "reply"]
    assert len(replies) == 2


async def test_a_greeting_then_the_problem_is_routed_by_the_problem(
    service: Service, clock: FakeClock
) -> None:
    start = clock.now()
    greeting = await service.deliver(inbound("Selamat pagi pak", at=start))
    problem = await service.deliver(
        inbound(
            "Lampu jalan di Jl. Mawar nomor 12 mati sejak Senin",
            at=start + timedelta(seconds=30),
        )
    )

    assert greeting.agency_code == "DISKOMINFO"  # the fallback: nothing to route by yet
    assert problem.outcome is Outcome.FOLLOW_UP and problem.reference == greeting.reference
    assert problem.agency_code == "DISHUB"
    [complaint] = await rows(service, Complaint)
    assert "Lampu jalan" in complaint.text and "Selamat pagi" in complaint.text
    assigned = await rows(service, AuditEntry, AuditEntry.action == "assign")
    assert any(
        "DISKOMINFO → DISHUB" in entry.detail and "merge window" in entry.detail
        for entry in assigned
    ), [entry.detail for entry in assigned]
    notices = [r.recipient for r in await rows(service, OutboxMessage) if r.kind != "reply"]
    assert any("dishub" in recipient for recipient in notices), notices


@pytest.mark.parametrize("moved_on", ["answered", "transferred", "answered then transferred"])
async def test_a_message_naming_nothing_never_joins_a_complaint_that_moved_on_by_time_alone(
    service: Service, clock: FakeClock, moved_on: str
) -> None:
    start = clock.now()
    first = await service.deliver(inbound("Lampu jalan mati di Jl. Mawar", at=start))
    assert first.reference is not None
    if "answered" in moved_on:
        await service.actions.answer(first.reference, "Sudah kami perbaiki.", ADMIN)
    if "transferred" in moved_on:
        await service.actions.transfer(first.reference, "PUPR", ADMIN, reason="tiang roboh")
    later = await service.deliver(
        inbound("Sampah menumpuk di depan pasar Kembang", at=start + timedelta(minutes=1))
    )

    assert later.outcome is Outcome.COMPLAINT and later.reference != first.reference
    # Acknowledged like any new complaint: the resident knows it was heard.
    assert "Terima kasih" in later.reply_text


async def test_merge_window_does_not_apply_to_channels_without_bursts(service: Service) -> None:
    sender = "warga@example.com"
    first = await service.deliver(
        inbound("Sampah menumpuk di pasar", channel=ChannelName.EMAIL, sender=sender)
    )
    second = await service.deliver(
        inbound("Trotoar rusak di Jl. Sudirman", channel=ChannelName.EMAIL, sender=sender)
    )
    assert second.outcome is Outcome.COMPLAINT and second.reference != first.reference


async def test_email_reply_threads_onto_its_complaint(service: Service) -> None:
    sender = "warga@example.com"
    first = await service.deliver(
        inbound(
            "Saluran air tersumbat",
            channel=ChannelName.EMAIL,
            sender=sender,
            thread_keys=("<a@x>",),
        )
    )
    reply = await service.deliver(
        inbound(
            "Foto terlampir",
            channel=ChannelName.EMAIL,
            sender=sender,
            thread_keys=("<b@x>", "<a@x>"),
            attachments=(Attachment("foto.jpg", "image/jpeg", b"\xff\xd8jpeg"),),
        )
    )
    assert reply.outcome is Outcome.FOLLOW_UP and reply.reference == first.reference


async def test_status_command(service: Service, clock: FakeClock) -> None:
    first = await service.deliver(inbound("Banjir setinggi lutut di Kel. Sukamaju"))
    clock.advance(hours=1)
    known = await service.deliver(inbound(f"STATUS {first.reference}", sender="+6281311112222"))
    typo = await service.deliver(inbound("status QQQQ-7777", sender="+6281311112222"))
    empty = await service.deliver(inbound("STATUS", sender="+6281311112222"))

    assert known.outcome is Outcome.COMMAND
    assert "Badan Penanggulangan Bencana Daerah" in known.reply_text
    assert "diteruskan ke instansi" in known.reply_text
    assert "QQQQ-7777 tidak ditemukan" in typo.reply_text
    assert "Tulis nomor pengaduan setelah STATUS" in empty.reply_text
    assert await count(service, Complaint) == 1


async def test_language_command_changes_later_replies(service: Service) -> None:
    answer = await service.deliver(inbound("BAHASA en"))
    receipt = await service.deliver(
        inbound("Street light broken near the market", provider_id="m2")
    )

    assert answer.reply_text == "OK, we will reply in English."
    assert receipt.reply_text.startswith("Thank you, your complaint is registered")
    assert "Wednesday 4 November 2026 09:00 WIB" in receipt.reply_text
    [resident] = await rows(service, Resident)
    assert resident.language == "en"


async def test_english_first_message_gets_english_reply(service: Service) -> None:
    receipt = await service.deliver(
        inbound("There is garbage piled up near the school since last week")
    )
    assert receipt.reply_text.startswith("Thank you")


async def test_rating_after_close(service: Service, clock: FakeClock) -> None:
    first = await service.deliver(inbound("Pengamen di lampu merah Jl. Solo"))
    assert first.reference is not None
    nothing = await service.deliver(inbound("5", at=clock.advance(minutes=30)))
    assert "Belum ada pengaduan selesai" in nothing.reply_text
    async with service.uow() as uow:
        complaint = await uow.complaints.by_reference(first.reference)
        assert complaint is not None
        complaint.status = ComplaintStatus.CLOSED
        complaint.closed_at = clock.advance(days=1)
        await uow.commit()
    rated = await service.deliver(inbound("4", at=clock.advance(hours=1)))
    again = await service.deliver(inbound("5", at=clock.advance(hours=1)))

    assert rated.outcome is Outcome.COMMAND and "4/5" in rated.reply_text
    assert again.reply_text == f"Pengaduan {first.reference} sudah Anda nilai 4/5. Terima kasih."
    [complaint] = await rows(service, Complaint)
    assert complaint.rating == 4


async def test_a_number_answering_the_agencys_question_is_the_answer_not_a_rating(
    service: Service, clock: FakeClock
) -> None:
    closed = await service.deliver(inbound("Pengamen di lampu merah Jl. Solo"))
    asked = await service.deliver(
        inbound("Air PDAM mati di Jl. Cendana", at=clock.advance(hours=1))
    )
    async with service.uow() as uow:
        for receipt, status in [
            (closed, ComplaintStatus.CLOSED),
            (asked, ComplaintStatus.WAITING_FOR_RESIDENT),
        ]:
            complaint = await uow.complaints.by_reference(receipt.reference or "")
            assert complaint is not None
            complaint.status = status
            complaint.closed_at = clock.now() if status is ComplaintStatus.CLOSED else None
        await uow.commit()

    answer = await service.deliver(inbound("3", at=clock.advance(hours=1)))

    assert answer.outcome is Outcome.FOLLOW_UP and answer.reference == asked.reference
    by_reference = {c.reference: c for c in await rows(service, Complaint)}
    assert by_reference[asked.reference or ""].status == ComplaintStatus.IN_PROGRESS
    assert by_reference[closed.reference or ""].rating is None


async def test_a_sentence_starting_with_a_commands_word_is_a_complaint(service: Service) -> None:
    for number, text in enumerate(
        [
            "Cek dong, lampu jalan di Jl. Mawar mati sejak kemarin malam",
            "Bahasa kasar petugas parkir di Pasar Baru kepada pengunjung",
        ]
    ):
        receipt = await service.deliver(inbound(text, sender=f"+62812000000{number}"))
        assert receipt.outcome is Outcome.COMPLAINT, (text, receipt)


async def test_thanks_after_the_answer_is_kept_on_the_complaint_and_files_nothing(
    service: Service, clock: FakeClock
) -> None:
    filed = await service.deliver(inbound("Pipa PDAM bocor di Jl. Cendana"))
    async with service.uow() as uow:
        complaint = await uow.complaints.by_reference(filed.reference or "")
        assert complaint is not None
        complaint.status = ComplaintStatus.CLOSED
        complaint.closed_at = complaint.updated_at = clock.advance(days=2)
        await uow.commit()

    thanks = await service.deliver(inbound("Terima kasih banyak pak 🙏", at=clock.advance(hours=1)))
    stranger = await service.deliver(inbound("Terima kasih", sender="+6281299990000"))

    assert (thanks.outcome, thanks.reply_text) == (Outcome.COMMAND, "")
    [complaint] = await rows(service, Complaint)
    assert complaint.status == ComplaintStatus.CLOSED
    kept = await rows(service, Message, Message.complaint_id == complaint.id)
    assert "Terima kasih banyak pak 🙏" in [m.text for m in kept]
    assert stranger.outcome is Outcome.COMMAND and "Mohon jelaskan" in stranger.reply_text


async def test_reply_after_close_reopens_within_the_window(
    service: Service, clock: FakeClock
) -> None:
    first = await service.deliver(inbound("Pipa PDAM bocor di Jl. Cendana"))
    assert first.reference is not None
    async with service.uow() as uow:
        complaint = await uow.complaints.by_reference(first.reference)
        assert complaint is not None
        complaint.status = ComplaintStatus.CLOSED
        complaint.closed_at = clock.advance(days=2)
        await uow.commit()
    reopened = await service.deliver(
        inbound(f"{first.reference} bocor lagi", at=clock.advance(days=1))
    )
    late = await service.deliver(
        inbound(f"{first.reference} masih bocor", at=clock.advance(days=30))
    )

    assert reopened.outcome is Outcome.REOPENED and reopened.status == ComplaintStatus.REOPENED
    assert reopened.due_at == clock.now() - timedelta(days=30) + timedelta(days=2)
    # Still open after reopening, so the later message is a follow-up of it.
    assert late.outcome is Outcome.FOLLOW_UP


async def test_too_short_message_gets_a_polite_request_and_is_kept(service: Service) -> None:
    receipt = await service.deliver(inbound("  ??  "))
    assert receipt.outcome is Outcome.NEEDS_DETAIL
    assert receipt.reply_text.startswith("Mohon jelaskan masalahnya")
    [message] = await rows(service, Message)
    assert message.kind == "needs_detail"
    assert await count(service, Complaint) == 0


async def test_huge_text_is_kept_whole_and_the_resident_told(service: Service) -> None:
    text = "Limbah pabrik mencemari sungai. " * 35_000  # ≈ 1.1 MB
    receipt = await service.deliver(inbound(text))

    assert receipt.outcome is Outcome.COMPLAINT and receipt.agency_code == "DLH"
    assert "teks lengkapnya kami simpan" in receipt.reply_text
    [complaint] = await rows(service, Complaint)
    [message] = await rows(service, Message)
    assert len(complaint.text) == 10_000
    assert message.text == text.strip()


async def test_control_characters_and_nul_are_removed(service: Service) -> None:
    receipt = await service.deliver(inbound("Sampah\x00 menumpuk\u202e di\x07 pasar\ud800\r\nKota"))
    [complaint] = await rows(service, Complaint)
    assert receipt.outcome is Outcome.COMPLAINT
    assert complaint.text == "Sampah menumpuk di pasar\nKota"


async def test_web_contact_makes_the_resident_reachable_by_sms(service: Service) -> None:
    receipt = await service.deliver(
        inbound(
            "Parkir liar di depan pasar Beringharjo",
            channel=ChannelName.WEB,
            sender="+6281234500000",
            reply_to=Address(ChannelName.SMS, "+6281234500000"),
            location=Location(-7.79, 110.36, "Pasar Beringharjo"),
        )
    )
    assert receipt.agency_code == "DISHUB"
    [complaint] = await rows(service, Complaint)
    assert complaint.channel == "web" and complaint.location_text == "Pasar Beringharjo"
    [reply] = [r for r in await rows(service, OutboxMessage) if r.kind == "reply"]
    assert (reply.channel, reply.recipient) == ("sms", "+6281234500000")


async def test_unmatched_text_goes_to_the_fallback_agency(service: Service) -> None:
    receipt = await service.deliver(inbound("Mohon info jam buka kantor kelurahan hari Sabtu"))
    assert receipt.agency_code == "DISKOMINFO"
    [complaint] = await rows(service, Complaint)
    assert complaint.routing_rule == "fallback"


async def test_explicit_unknown_reference_is_refused_and_nothing_kept(service: Service) -> None:
    receipt = await service.deliver(inbound("tambahan info", reference="KKKK-7777"))
    assert receipt.outcome is Outcome.UNKNOWN_REFERENCE
    assert await count(service, Message) == 0


async def test_explicit_reference_takes_additions_only_from_the_complainant(
    service: Service,
) -> None:
    first = await service.deliver(inbound("Pipa bocor di Jl. Cendana"))
    stranger = await service.deliver(
        inbound("Saya tambahkan", sender="+6281399990000", reference=first.reference)
    )
    owner = await service.deliver(inbound("Sudah 2 hari", reference=first.reference))

    assert stranger.outcome is Outcome.NOT_COMPLAINANT
    assert "dari kontak yang sama" in stranger.reply_text
    assert owner.outcome is Outcome.FOLLOW_UP
    assert await count(service, Message) == 2  # the refused addition left no trace


async def test_anonymous_web_complaints_take_additions_from_whoever_holds_the_reference(
    service: Service,
) -> None:
    def web(text: str, **fields: Unpack[InboundFields]) -> InboundMessage:
        return inbound(text, channel=ChannelName.WEB, sender=None, **fields)

    first = await service.deliver(web("Trotoar amblas di depan pasar"))
    added = await service.deliver(web("Ada yang terperosok", reference=first.reference))
    assert added.outcome is Outcome.FOLLOW_UP and added.reference == first.reference
    residents = await rows(service, Resident)
    assert [r.address.startswith("anon:") for r in residents] == [True, True]


async def test_a_blank_reference_names_no_complaint(service: Service) -> None:
    # Found by the property test: it was looked up, and "Nomor pengaduan  tidak ditemukan"
    # quoted the nothing back.
    receipt = await service.deliver(
        inbound("Lampu jalan di Jl. Kenanga mati semua", reference=" \u200b ")
    )
    assert receipt.outcome is Outcome.COMPLAINT
