"""Residents' keywords (help, stop, start), the sender rate limit and the blocklist, through
intake and the outbox dispatcher on real storage (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from bot.bootstrap import Service, bootstrap
from bot.intake.blocklist import Blocklist, BlocklistError
from bot.messaging.templates import render
from bot.officers.actions import Actor, Role
from channels.base import Address, ChannelName, Outcome, RecipientOptedOut
from channels.sms_encoding import measure
from config.settings import Settings
from storage.models import (
    AuditEntry,
    Complaint,
    Message,
    OutboxMessage,
    OutboxStatus,
    Resident,
)
from tests.fakes import FakeClock, FakeEmailChannel, FakeSmsChannel, inbound
from tests.integration.db import count, prepared_service, rows

ADMIN = Actor(Role.ADMIN, 7, "Rina (admin)")
NUMBER = "+6281234567890"
MAILER = "warga@example.com"


async def drain(service: Service) -> None:
    while await service.dispatcher.dispatch_once():
        pass


async def resident(service: Service, address: str = NUMBER) -> Resident:
    [found] = await rows(service, Resident, Resident.address == address)
    return found


async def test_help_answers_in_the_residents_language_in_two_sms_at_most(
    service: Service, clock: FakeClock
) -> None:
    indonesian = await service.deliver(inbound(" Bantuan! "))
    await service.deliver(inbound("BAHASA en", sender="+6281399990000"))
    english = await service.deliver(inbound("help", sender="+6281399990000"))

    assert indonesian.outcome is english.outcome is Outcome.COMMAND
    assert indonesian.reply_text == render("help", "id")
    assert english.reply_text == render("help", "en")
    assert "STATUS <nomor>" in indonesian.reply_text and "BERHENTI" in indonesian.reply_text
    assert "STOP" in english.reply_text
    for text in (indonesian.reply_text, english.reply_text):
        assert measure(text).segments <= 2
    assert await count(service, Complaint) == 0


async def test_stop_is_confirmed_once_and_holds_back_everything_until_start(
    service: Service, clock: FakeClock, sms: FakeSmsChannel
) -> None:
    filed = await service.deliver(inbound("Lampu jalan di Jl. Mawar mati sejak Senin"))
    reference = filed.reference or ""
    await drain(service)
    stopped_at = clock.advance(minutes=5)
    stop = await service.deliver(inbound("STOP", at=stopped_at))
    again = await service.deliver(inbound("berhenti", at=clock.advance(minutes=1)))
    await drain(service)

    confirmation = "Anda tidak akan menerima SMS lagi dari layanan ini. Kirim MULAI untuk "
    assert stop.reply_text.startswith(confirmation) and again.reply_text == ""
    assert [m.text for m in sms.sent] == [filed.reply_text, stop.reply_text]
    assert (await resident(service)).opted_out_at == stopped_at

    await service.actions.answer(reference, "Lampu sudah diganti.", ADMIN)
    clock.advance(minutes=1)
    await drain(service)
    assert len(sms.sent) == 2
    [answer] = await rows(service, OutboxMessage, OutboxMessage.kind == "officer_reply")
    assert answer.status is OutboxStatus.SUPPRESSED
    assert answer.last_error == (
        "suppressed: the recipient opted out (STOP); not sent and not retried"
    )
    # The agency answered; that the resident chose not to receive it does not make it late.
    [complaint] = await rows(service, Complaint)
    assert complaint.first_response_at is not None

    start = await service.deliver(inbound("Mulai", at=clock.advance(minutes=1)))
    await service.actions.answer(reference, "Tiang juga sudah dicat.", ADMIN)
    await drain(service)

    assert start.reply_text.startswith("Anda akan menerima SMS lagi dari layanan ini.")
    assert [m.text for m in sms.sent[2:]] == [
        start.reply_text,
        render(
            "officer_reply",
            "id",
            agency="Dinas Perhubungan",
            reference=reference,
            text="Tiang juga sudah dicat.",
        ),
    ]
    assert (await resident(service)).opted_out_at is None
    audit = await rows(service, AuditEntry, col(AuditEntry.action).in_(["opt_out", "opt_in"]))
    # On the complaint, where officers read why their answer did not reach the resident.
    assert [(a.complaint_id, a.action, a.detail) for a in audit] == [
        (complaint.id, "opt_out", f"sms resident {complaint.resident_id}: STOP"),
        (complaint.id, "opt_in", f"sms resident {complaint.resident_id}: MULAI"),
    ]


async def test_a_complaint_sent_while_opted_out_is_filed_and_officers_are_told(
    service: Service, sms: FakeSmsChannel, email: FakeEmailChannel
) -> None:
    await service.deliver(inbound("UNREG"))
    await drain(service)
    filed = await service.deliver(inbound("Sampah menumpuk di TPS Jl. Melati sudah seminggu"))
    await drain(service)

    assert filed.outcome is Outcome.COMPLAINT
    [notice] = email.sent
    assert "pelapor meminta berhenti menerima pesan (BERHENTI)" in notice.text
    [ack] = await rows(service, OutboxMessage, OutboxMessage.kind == "reply")
    assert ack.status is OutboxStatus.SUPPRESSED
    assert [m.text for m in sms.sent] == [render("opted_out", "id", medium="SMS")]


async def test_yes_is_an_opt_in_only_after_an_opt_out(service: Service, clock: FakeClock) -> None:
    filed = await service.deliver(inbound("Pohon tumbang menutup jalan di Jl. Merpati"))
    await service.actions.ask_resident(filed.reference or "", "Dekat nomor berapa?", ADMIN)
    answer = await service.deliver(inbound("yes", at=clock.advance(hours=2)))
    await service.deliver(inbound("Stop", at=clock.advance(hours=1)))
    restart = await service.deliver(inbound("YES", at=clock.advance(hours=1)))

    assert answer.outcome is Outcome.FOLLOW_UP and answer.reference == filed.reference
    assert restart.outcome is Outcome.COMMAND
    assert restart.reply_text == render("opted_in", "id", medium="SMS")


@pytest.mark.parametrize("keyword", ["STOP", "BERHENTI", "UNSUBSCRIBE", "MULAI"])
async def test_a_web_form_cannot_opt_out_the_contact_it_names(
    service: Service, keyword: str
) -> None:
    receipt = await service.deliver(
        inbound(
            keyword,
            channel=ChannelName.WEB,
            sender=None,
            claimed_contact=Address(ChannelName.SMS, NUMBER),
        )
    )
    # Answered on the form, as the form's own: no complaint, nobody opted out or in.
    assert receipt.outcome is Outcome.COMMAND
    assert receipt.reply_text == render("subscription_from_the_address", "id")
    assert await rows(service, Resident, Resident.address == NUMBER) == []
    assert await count(service, Complaint) == 0


async def test_a_provider_refusing_an_unsubscribed_number_opts_the_resident_out(
    service: Service, sms: FakeSmsChannel
) -> None:
    sms.fail_next = [
        RecipientOptedOut("Twilio 400 (code 21610): Attempt to send to unsubscribed recipient")
    ]
    filed = await service.deliver(inbound("Air PDAM mati sejak pagi di Perum Griya Asri"))
    await drain(service)
    await service.actions.answer(filed.reference or "", "Sudah mengalir lagi.", ADMIN)
    await drain(service)

    assert sms.sent == []
    ack, answer = await rows(service, OutboxMessage, OutboxMessage.channel == "sms")
    assert (ack.status, answer.status) == (OutboxStatus.SUPPRESSED, OutboxStatus.SUPPRESSED)
    assert "code 21610" in (ack.last_error or "")
    assert (await resident(service)).opted_out
    [entry] = await rows(service, AuditEntry, AuditEntry.action == "opt_out")
    assert entry.actor == "system" and "21610" in entry.detail


async def test_keyword_lookalikes_are_complaints(service: Service) -> None:
    texts = (
        "stop banjir di jalan",
        "tolong bantuan air mati",
        "Berhenti di halte Trans Jogja tapi atapnya bocor",
        "Mulai kapan jalan di depan pasar diperbaiki?",
        "Help, the street light near the market is broken",
    )
    for number, text in enumerate(texts):
        receipt = await service.deliver(inbound(text, sender=f"+62812000000{number}"))
        assert receipt.outcome is Outcome.COMPLAINT, text
    assert not any(r.opted_out for r in await rows(service, Resident))


async def test_a_flood_from_one_sender_is_kept_bounded_and_told_once(
    service: Service, clock: FakeClock, email: FakeEmailChannel
) -> None:
    receipts = [
        await service.deliver(
            inbound(
                f"Pengaduan nomor {n}: jalan rusak di gang {n}",
                channel=ChannelName.EMAIL,
                sender=MAILER,
                at=clock.now(),
            )
        )
        for n in range(50)
    ]

    outcomes = [r.outcome for r in receipts]
    assert outcomes == [Outcome.COMPLAINT] * 20 + [Outcome.THROTTLED] * 30
    assert await count(service, Complaint) == 20
    # Nothing is lost: every message is kept, the throttled ones with the latest complaint.
    throttled = await rows(service, Message, Message.kind == "throttled")
    assert len(throttled) == 30
    assert {m.complaint_id for m in throttled} == {(await rows(service, Complaint))[-1].id}
    notices = [r.reply_text for r in receipts if r.reply_text.startswith("Pesan Anda terlalu")]
    assert notices == [
        "Pesan Anda terlalu banyak; coba lagi nanti. Pesan berikutnya tetap kami simpan, "
        "tetapi baru kami balas setelah Senin, 2 November 2026 10.00 WIB."
    ]
    assert measure(notices[0]).segments == 1
    replies = await rows(service, OutboxMessage, OutboxMessage.recipient == MAILER)
    assert len(replies) == 21  # 20 acknowledgements and the one notice

    # Stopping messages is always possible; the next window starts afresh.
    stop = await service.deliver(inbound("STOP", channel=ChannelName.EMAIL, sender=MAILER))
    assert stop.outcome is Outcome.COMMAND and (await resident(service, MAILER)).opted_out
    later = await service.deliver(
        inbound(
            "Lampu jalan mati di gang 7",
            channel=ChannelName.EMAIL,
            sender=MAILER,
            at=clock.advance(hours=1),
        )
    )
    assert later.outcome is Outcome.COMPLAINT


async def test_the_limit_holds_across_instances_under_concurrency(
    settings: Settings,
    engine: AsyncEngine,
    clock: FakeClock,
) -> None:
    limited = settings.model_copy(update={"sender_rate_limit": "5/minute"})
    first = await prepared_service(limited, engine, clock)
    second = bootstrap(limited, clock=clock, engine=engine)
    messages = [
        inbound(f"Sampah menumpuk di RT {n:02d}", channel=ChannelName.EMAIL, sender=MAILER)
        for n in range(12)
    ]
    receipts = await asyncio.gather(
        *((first if n % 2 else second).deliver(m) for n, m in enumerate(messages))
    )

    outcomes = [r.outcome for r in receipts]
    assert outcomes.count(Outcome.COMPLAINT) == 5 and outcomes.count(Outcome.THROTTLED) == 7
    assert sum(bool(r.reply_text) for r in receipts if r.outcome is Outcome.THROTTLED) == 1
    assert (await resident(first, MAILER)).window_messages == 12


async def test_a_blocked_address_is_recorded_and_nothing_else(
    service: Service, clock: FakeClock
) -> None:
    blocklist = Blocklist(service.uow, clock)
    block = await blocklist.add(ChannelName.SMS, "0812-3456-7890", reason="spam", admin="rina")
    receipt = await service.deliver(inbound("Jalan rusak parah di Jl. Kaliurang km 6"))

    assert (block.address, block.by) == (NUMBER, "rina")
    assert receipt.outcome is Outcome.BLOCKED and receipt.reply_text == ""
    assert await count(service, Complaint) == 0
    assert await count(service, OutboxMessage) == 0
    [kept] = await rows(service, Message)
    assert (kept.kind, kept.text) == ("blocked", "Jalan rusak parah di Jl. Kaliurang km 6")
    assert [b.address for b in await blocklist.entries()] == [NUMBER]

    await blocklist.remove(ChannelName.SMS, NUMBER, admin="rina")
    after = await service.deliver(inbound("Jalan rusak parah di Jl. Kaliurang km 7"))
    assert after.outcome is Outcome.COMPLAINT
    audit = await rows(service, AuditEntry, col(AuditEntry.action).in_(["block", "unblock"]))
    assert [(a.actor, a.action, a.detail) for a in audit] == [
        ("admin:rina", "block", f"sms {NUMBER}: spam"),
        ("admin:rina", "unblock", f"sms {NUMBER} (was: spam)"),
    ]


@pytest.mark.parametrize(
    ("channel", "address", "error"),
    [
        (ChannelName.SMS, "12", "'12': this phone number is not valid"),
        (ChannelName.SMS, "budi", "'budi': give a phone number"),
        (ChannelName.SMS, "warga@example.com", "'warga@example.com' is not an sms address"),
        (ChannelName.TELEGRAM, "@budi", "'@budi' is not a Telegram chat id"),
        (ChannelName.WEB, "x", "web messages come from the contact they give"),
    ],
)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_blocklist_refusals_say_why(
    service: Service, clock: FakeClock, channel: ChannelName, address: str, error: str
) -> None:
    with pytest.raises(BlocklistError, match=error):
        await Blocklist(service.uow, clock).add(channel, address, reason="spam", admin="rina")


async def test_the_window_starts_with_the_first_message_after_the_last_one_ended(
    service: Service, clock: FakeClock
) -> None:
    began = clock.now()
    for minutes in (0, 30, 59):
        await service.deliver(
            inbound(f"Got mampet di gang {minutes}", at=began + timedelta(minutes=minutes))
        )
    counted = await resident(service)
    assert (counted.window_started_at, counted.window_messages) == (began, 3)

    await service.deliver(inbound("Got mampet lagi", at=began + timedelta(minutes=61)))
    counted = await resident(service)
    assert (counted.window_started_at, counted.window_messages) == (
        began + timedelta(minutes=61),
        1,
    )


async def test_the_answer_an_agency_waits_for_gets_through_the_rate_limit(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    limited = settings.model_copy(update={"sender_rate_limit": "3/hour"})
    service = await prepared_service(limited, engine, clock, channels=[FakeSmsChannel()])
    filed = await service.deliver(inbound("Limbah pabrik tahu dibuang ke sungai Code"))
    for n in range(3):
        await service.deliver(inbound(f"Tambahan foto ke-{n}", at=clock.advance(minutes=1)))
    asked = await service.actions.ask_resident(filed.reference or "", "Di RT berapa?", ADMIN)
    assert asked.sla_running_since is None  # the clock waits for the resident

    answer = await service.deliver(inbound("RT 04 RW 02", at=clock.advance(minutes=5)))
    flood = await service.deliver(inbound("Tolong segera", at=clock.advance(minutes=1)))

    assert (answer.outcome, flood.outcome) == (Outcome.FOLLOW_UP, Outcome.THROTTLED)
    [complaint] = await rows(service, Complaint)
    assert complaint.status == "in_progress" and complaint.sla_running_since is not None
    # The agency reads the answer; the flood after it is held back.
    told = [row.text for row in await rows(service, OutboxMessage) if row.recipient != NUMBER]
    assert sum("RT 04 RW 02" in text for text in told) == 1
    assert not any("Tolong segera" in text for text in told)
