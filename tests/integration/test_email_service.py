"""Email through the service layer, on real storage: threading onto a complaint by any of
its messages and only for its own resident, the thread headers of what we send, delivery
reports and refused mail, and officers acting by replying to the agency's mail.

Mail comes in as the email adapter hands it over (`InboundMessage`s built here); it goes
out to a fake email channel that, like a real one, reports our own Message-IDs.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import typer
from sqlalchemy import event
from sqlmodel import SQLModel
from typer.testing import CliRunner

from bot.bootstrap import Service
from bot.cli.email import rejected
from bot.domain.lifecycle import ComplaintStatus
from channels.base import (
    ChannelName,
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    IntakeReceipt,
    OutboundMessage,
    Outcome,
    RefusedMessage,
    SendReceipt,
)
from channels.email_message import parse_email
from storage.engine import make_engine, make_session_factory
from storage.models import AuditEntry, Complaint, Message, OutboxMessage
from storage.models import RefusedMessage as Kept
from storage.roles import OfficerRole
from storage.unit_of_work import UnitOfWork
from tests.fakes import FakeClock, FakeEmailChannel, inbound
from tests.integration.db import count, rows

RESIDENT = "warga@example.com"
STRANGER = "tetangga@example.net"
OFFICER = "sari@dlh.kota.example.go.id"
_mail_ids = itertools.count(1)


class MessageIdEmailChannel(FakeEmailChannel):
    """Records sends and, as a mail server does, knows each by our own Message-ID."""

    name: ClassVar[ChannelName] = ChannelName.EMAIL

    def __init__(self) -> None:
        super().__init__()
        self.message_ids: dict[str, str] = {}  # outbox key → Message-ID

    async def send(self, message: OutboundMessage) -> SendReceipt:
        receipt = await super().send(message)
        message_id = f"<{receipt.provider_message_id}@aduan.test>"
        self.message_ids[message.key] = message_id
        return SendReceipt(provider_message_id=message_id, thread_key=message_id)

    def to(self, recipient: str) -> list[OutboundMessage]:
        return [m for m in self.sent if m.recipient == recipient]

    def id_of(self, message: OutboundMessage) -> str:
        return self.message_ids[message.key]


@pytest.fixture
def email() -> MessageIdEmailChannel:
    return MessageIdEmailChannel()


def mail(text: str, *, sender: str = RESIDENT, **fields: Any) -> InboundMessage:
    return inbound(
        text,
        sender=sender,
        channel=ChannelName.EMAIL,
        provider_id=f"<in-{next(_mail_ids)}@mail.example.com>",
        **fields,
    )


async def filed(service: Service, email: MessageIdEmailChannel) -> tuple[InboundMessage, str]:
    """A resident's complaint by mail, its acknowledgement and agency notice sent."""
    first = mail("Sampah menumpuk di pasar Beringharjo sejak seminggu", subject="Sampah pasar")
    receipt = await service.deliver(first)
    assert receipt.outcome is Outcome.COMPLAINT and receipt.reference is not None
    await service.dispatcher.dispatch_once()
    return first, receipt.reference


async def status_of(service: Service, reference: str) -> str:
    [complaint] = await rows(service, Complaint, Complaint.reference == reference)
    return complaint.status


# --- threading ------------------------------------------------------------------------


async def test_a_reply_threads_by_any_message_of_its_complaint(
    service: Service, email: MessageIdEmailChannel
) -> None:
    first, reference = await filed(service, email)
    [ack] = email.to(RESIDENT)

    # A reply to our acknowledgement; then one that names only the resident's own first
    # mail (a client that kept References but dropped In-Reply-To, or a second thought).
    to_ack = await service.deliver(mail("Foto menyusul", thread_keys=(email.id_of(ack),)))
    to_own = await service.deliver(
        mail("Sudah dua minggu", thread_keys=(first.provider_message_id,))
    )

    assert (to_ack.outcome, to_ack.reference) == (Outcome.FOLLOW_UP, reference)
    assert (to_own.outcome, to_own.reference) == (Outcome.FOLLOW_UP, reference)
    assert await count(service, Complaint) == 1


async def test_an_officers_answer_is_threaded_onto_too(
    service: Service, email: MessageIdEmailChannel
) -> None:
    _, reference = await filed(service, email)
    await service.actions.answer(reference, "Sudah diangkut.", await _admin(service))
    await service.dispatcher.dispatch_once()
    answer = email.to(RESIDENT)[-1]

    again = await service.deliver(mail("Masih ada sisa", thread_keys=(email.id_of(answer),)))
    assert (again.outcome, again.reference) == (Outcome.FOLLOW_UP, reference)


@pytest.mark.parametrize(
    "subject",
    [
        "Re: [{ref}] Pengaduan Anda",
        "AW: [{ref}]",
        "Balas: BLS: [{ref}] x",
        "SV: VS: [{ref}]",
        "Fwd: TRS: [{ref}]",
        "RE: {lower}",
    ],
)
async def test_the_residents_subject_reference_continues_it(
    service: Service, email: MessageIdEmailChannel, subject: str
) -> None:
    _, reference = await filed(service, email)
    typed = subject.format(ref=reference, lower=reference.lower())
    receipt = await service.deliver(mail("Tambahan: baunya menyengat", subject=typed))
    assert (receipt.outcome, receipt.reference) == (Outcome.FOLLOW_UP, reference)


async def test_the_residents_body_reference_in_any_case_continues_it(
    service: Service, email: MessageIdEmailChannel
) -> None:
    _, reference = await filed(service, email)
    receipt = await service.deliver(mail(f"Soal pengaduan {reference.lower()}: makin parah"))
    assert (receipt.outcome, receipt.reference) == (Outcome.FOLLOW_UP, reference)


async def test_a_stranger_quoting_the_reference_files_a_complaint_of_their_own(
    service: Service, email: MessageIdEmailChannel
) -> None:
    _, reference = await filed(service, email)

    by_subject = await service.deliver(
        mail("Di pasar juga ada lubang besar", sender=STRANGER, subject=f"Re: [{reference}]")
    )
    by_body = await service.deliver(
        mail(f"Sama seperti {reference}, lampu jalan mati", sender="lain@example.org")
    )
    # An adapter (or a form) that names the complaint outright: not refused by mail, where
    # a refusal would reach nobody.
    named = await service.deliver(
        mail("Jalan di depan rumah berlubang", sender="ketiga@example.org", reference=reference)
    )

    for receipt in (by_subject, by_body, named):
        assert receipt.outcome is Outcome.COMPLAINT, receipt
        assert receipt.reference != reference
    assert await count(service, Complaint) == 4
    [original] = await rows(service, Complaint, Complaint.reference == reference)
    messages = await rows(service, Message, Message.complaint_id == original.id)
    assert [m.kind for m in messages if m.direction == "in"] == ["complaint"]


async def test_a_reply_all_from_someone_else_is_their_own_complaint(
    service: Service, email: MessageIdEmailChannel
) -> None:
    first, reference = await filed(service, email)
    [ack] = email.to(RESIDENT)
    receipt = await service.deliver(
        mail(
            "Saya juga melihat tumpukan sampah itu di pasar",
            sender=STRANGER,
            thread_keys=(email.id_of(ack), first.provider_message_id),
        )
    )
    assert receipt.outcome is Outcome.COMPLAINT and receipt.reference != reference


async def test_the_residents_reply_after_a_strangers_reply_all_continues_their_complaint(
    service: Service, email: MessageIdEmailChannel
) -> None:
    _, reference = await filed(service, email)
    [ack] = email.to(RESIDENT)
    # The stranger's mail is stored answering our acknowledgement, as the resident's is.
    stranger = await service.deliver(
        mail(
            "Jalan di depan pasar berlubang besar", sender=STRANGER, thread_keys=(email.id_of(ack),)
        )
    )
    reply = await service.deliver(
        mail("Petugas belum datang juga", thread_keys=(email.id_of(ack),))
    )

    assert stranger.outcome is Outcome.COMPLAINT and stranger.reference != reference
    assert (reply.outcome, reply.reference) == (Outcome.FOLLOW_UP, reference)


async def test_a_stranger_waiting_for_their_own_answer_still_files_a_new_one(
    service: Service, email: MessageIdEmailChannel
) -> None:
    _, reference = await filed(service, email)
    stranger_first = await service.deliver(
        mail("Got mampet di Jl. Kenari sudah seminggu", sender=STRANGER)
    )
    assert stranger_first.reference is not None
    await service.actions.ask_resident(
        stranger_first.reference, "Di nomor berapa?", await _admin(service)
    )
    receipt = await service.deliver(
        mail("Sampah pasar itu juga mengganggu", sender=STRANGER, subject=f"Re: [{reference}]")
    )
    assert receipt.outcome is Outcome.COMPLAINT
    assert receipt.reference not in (reference, stranger_first.reference)


async def test_thread_look_ups_search_indexes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'plans.db'}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        statements: list[tuple[str, Any]] = []

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append((statement, parameters))

        async with UnitOfWork(make_session_factory(engine)) as uow:
            await uow.messages.thread_hit(["<a@x>", "<b@x>"], own_ids_of="email")
            await uow.messages.conversations([1, 2], "email")
        assert len(statements) == 2
        async with engine.connect() as connection:
            for statement, parameters in statements:
                plan = await connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {statement}", parameters
                )
                steps = [row[-1] for row in plan]
                assert not [s for s in steps if s.startswith("SCAN")], (statement, steps)
    finally:
        await engine.dispose()


# --- what we send ---------------------------------------------------------------------


async def test_our_mail_carries_the_reference_its_thread_and_whether_it_is_automatic(
    service: Service, email: MessageIdEmailChannel
) -> None:
    first, reference = await filed(service, email)
    [ack] = email.to(RESIDENT)
    [notice] = email.to("dlh@kota.example.go.id")

    assert ack.subject is not None and ack.subject.startswith(f"[{reference}] ")
    assert ack.in_reply_to == first.provider_message_id
    assert ack.references == (first.provider_message_id,)
    assert ack.automatic
    assert notice.subject is not None and notice.subject.startswith(f"[{reference}] ")
    assert notice.automatic
    # The agency's thread is its own: no resident's Message-ID in it.
    assert first.provider_message_id not in (notice.in_reply_to, *notice.references)

    second = mail("Foto menyusul", thread_keys=(email.id_of(ack),))
    await service.deliver(second)
    await service.actions.answer(reference, "Sudah diangkut.", await _admin(service))
    await service.dispatcher.dispatch_once()
    answer = email.to(RESIDENT)[-1]
    follow_up_notice = email.to("dlh@kota.example.go.id")[1]

    assert answer.subject is not None and answer.subject.startswith(f"[{reference}] ")
    assert answer.in_reply_to == second.provider_message_id  # the resident's latest mail
    follow_up_ack = email.to(RESIDENT)[1]
    assert answer.references == (
        first.provider_message_id,
        email.id_of(ack),
        email.id_of(follow_up_ack),
        second.provider_message_id,
    )
    assert not answer.automatic  # written by an officer: an autoresponder may answer it
    assert follow_up_notice.in_reply_to == email.id_of(notice)
    assert follow_up_notice.references == (email.id_of(notice),)


async def test_our_mail_is_in_the_residents_language_and_the_agencys_in_the_officers(
    service: Service, email: MessageIdEmailChannel
) -> None:
    receipt = await service.deliver(
        mail("Garbage piled up at Beringharjo market for a week", language="en")
    )
    assert receipt.reference is not None
    await service.actions.answer(receipt.reference, "Collected today.", await _admin(service))
    await service.dispatcher.dispatch_once()

    assert [m.language for m in email.to(RESIDENT)] == ["en", "en"]
    assert [m.language for m in email.to("dlh@kota.example.go.id")] == ["id"]


async def test_a_mail_that_came_without_a_message_id_is_answered_without_threading_headers(
    service: Service, email: MessageIdEmailChannel
) -> None:
    # Known by a digest of its bytes, which names no mail a client could thread onto.
    anonymous = inbound(
        "Sampah menumpuk di pasar Beringharjo sejak seminggu",
        sender=RESIDENT,
        channel=ChannelName.EMAIL,
        provider_id="<sha256:739f0c2a>",
    )
    await service.deliver(anonymous)
    await service.dispatcher.dispatch_once()

    [ack] = email.to(RESIDENT)
    assert (ack.in_reply_to, ack.references) == (None, ())


async def test_a_reply_about_no_complaint_answers_the_residents_mail(
    service: Service, email: MessageIdEmailChannel
) -> None:
    question = mail("BANTUAN")
    receipt = await service.deliver(question)
    await service.dispatcher.dispatch_once()
    assert receipt.outcome is Outcome.COMMAND
    [reply] = email.to(RESIDENT)
    assert reply.in_reply_to == question.provider_message_id
    assert reply.references == (question.provider_message_id,)
    assert reply.automatic


# --- loops and delivery reports -------------------------------------------------------


async def test_a_bounce_about_our_mail_marks_it_undelivered_on_the_complaint(
    service: Service, email: MessageIdEmailChannel, clock: FakeClock
) -> None:
    _, reference = await filed(service, email)
    [ack] = email.to(RESIDENT)
    bounce = DeliveryReport(
        ChannelName.EMAIL, email.id_of(ack), DeliveryStatus.UNDELIVERED, clock.now(), "5.1.1"
    )
    await service.delivery.record(bounce)
    await service.delivery.record(bounce)  # the same bounce fetched again

    [row] = await rows(service, OutboxMessage, OutboxMessage.key == ack.key)
    assert (row.delivery_status, row.delivery_error) == ("undelivered", "5.1.1")
    [complaint] = await rows(service, Complaint, Complaint.reference == reference)
    audits = await rows(service, AuditEntry, AuditEntry.action == "undelivered")
    assert [a.complaint_id for a in audits] == [complaint.id]
    assert "reply" in audits[0].detail and "5.1.1" in audits[0].detail


async def test_a_refused_mail_is_kept_once_and_never_answered(
    service: Service, email: MessageIdEmailChannel, clock: FakeClock
) -> None:
    raw = b"From: MAILER-DAEMON@mail.example.com\r\nAuto-Submitted: auto-replied\r\n\r\nOut"
    refused = RefusedMessage(
        ChannelName.EMAIL,
        "<vacation-1@example.com>",
        "automatic reply",
        raw,
        clock.now(),
        sender="mailer-daemon@mail.example.com",
    )
    await service.refusals.keep(refused)
    await service.refusals.keep(refused)
    await service.dispatcher.dispatch_once()

    assert await count(service, Kept) == 1
    assert await count(service, OutboxMessage) == 0
    assert await count(service, Complaint) == 0
    assert email.sent == []


# --- officers by email ----------------------------------------------------------------


async def _admin(service: Service) -> Any:
    from bot.officers.actions import Actor, Role

    return Actor(Role.ADMIN, 0, "Admin")


async def _officer(service: Service, agency: str = "DLH", address: str = OFFICER) -> None:
    await service.desk.add_officer(
        agency, "Sari", OfficerRole.OFFICER, created_by="admin", email=address.upper()
    )


async def reply_to_notice(
    service: Service, email: MessageIdEmailChannel, text: str, *, sender: str = OFFICER
) -> tuple[InboundMessage, IntakeReceipt]:
    notice = email.to("dlh@kota.example.go.id")[0]
    reply = mail(
        text, sender=sender, subject=f"Re: {notice.subject}", thread_keys=(email.id_of(notice),)
    )
    return reply, await service.deliver(reply)


async def test_an_officers_reply_to_the_notice_answers_the_resident(
    service: Service, email: MessageIdEmailChannel
) -> None:
    first, reference = await filed(service, email)
    await _officer(service)

    reply, receipt = await reply_to_notice(service, email, "Sampah sudah kami angkut pagi ini.")
    again = await service.deliver(reply)  # the same mail seen again (marked unread)
    await service.dispatcher.dispatch_once()

    assert receipt.outcome is Outcome.COMMAND and receipt.reference == reference
    assert again.duplicate
    assert await status_of(service, reference) == ComplaintStatus.ANSWERED
    answers = [r for r in await rows(service, OutboxMessage) if r.kind == "officer_reply"]
    assert len(answers) == 1
    answer = email.to(RESIDENT)[-1]
    assert "Sampah sudah kami angkut pagi ini." in answer.text
    assert answer.in_reply_to == first.provider_message_id and not answer.automatic
    assert email.to(OFFICER) == []  # done: nothing to tell the officer
    # The officer's mail is on no complaint's conversation, and made no complaint.
    assert await count(service, Complaint) == 1
    [complaint] = await rows(service, Complaint)
    kinds = [m.kind for m in await rows(service, Message, Message.complaint_id == complaint.id)]
    assert "officer_mail" not in kinds


async def test_an_officers_first_line_asks_closes_or_transfers(
    service: Service, email: MessageIdEmailChannel
) -> None:
    _, reference = await filed(service, email)
    await _officer(service)

    await reply_to_notice(service, email, "#tanya\nDi sisi pasar sebelah mana?")
    assert await status_of(service, reference) == ComplaintStatus.WAITING_FOR_RESIDENT
    [question] = [r for r in await rows(service, OutboxMessage) if r.kind == "officer_question"]
    assert "Di sisi pasar sebelah mana?" in question.text

    await reply_to_notice(service, email, "#ALIHKAN pupr saluran tersumbat, bukan sampah")
    assert await status_of(service, reference) == ComplaintStatus.TRANSFERRED
    audits = await rows(service, AuditEntry, AuditEntry.action == "transfer")
    assert "DLH → PUPR: saluran tersumbat, bukan sampah" in audits[0].detail

    # Now PUPR's: DLH's officer may no longer act on it, and is told so, politely.
    await reply_to_notice(service, email, "#tutup")
    assert await status_of(service, reference) == ComplaintStatus.TRANSFERRED
    await _officer(service, "PUPR", "budi@pupr.kota.example.go.id")
    await reply_to_notice(
        service, email, "#close Sudah dibersihkan", sender="budi@pupr.kota.example.go.id"
    )
    assert await status_of(service, reference) == ComplaintStatus.CLOSED


async def test_an_officers_reply_that_lost_its_threading_headers_still_answers(
    service: Service, email: MessageIdEmailChannel
) -> None:
    _, reference = await filed(service, email)
    await _officer(service)
    notice = email.to("dlh@kota.example.go.id")[0]
    # Most agents' clients keep the subject's [REF] and drop In-Reply-To and References.
    headerless = mail(
        "Sampah sudah kami angkut pagi ini.",
        sender=OFFICER,
        subject=f"RE: {notice.subject}",
        subject_reference=reference,
    )

    receipt = await service.deliver(headerless)
    await service.dispatcher.dispatch_once()

    assert receipt.outcome is Outcome.COMMAND and receipt.reference == reference
    assert await count(service, Complaint) == 1
    [_, answer] = email.to(RESIDENT)
    assert "Sampah sudah kami angkut" in answer.text
    assert await status_of(service, reference) == ComplaintStatus.ANSWERED


async def test_an_officers_reply_that_cannot_be_done_is_answered_with_why(
    service: Service, email: MessageIdEmailChannel
) -> None:
    _, reference = await filed(service, email)
    await _officer(service)
    await reply_to_notice(service, email, "#alihkan")
    await reply_to_notice(service, email, "   ")
    await service.dispatcher.dispatch_once()

    [choices, empty] = email.to(OFFICER)
    assert "PUPR" in choices.text and "#alihkan KODE" in choices.text
    assert "tidak dijalankan" in empty.text
    assert choices.subject is not None and f"[{reference}]" in choices.subject
    assert await status_of(service, reference) == ComplaintStatus.ASSIGNED


async def test_a_reply_to_the_notice_from_anyone_else_is_refused_and_audited(
    service: Service, email: MessageIdEmailChannel
) -> None:
    _, reference = await filed(service, email)
    await _officer(service, "PUPR", "budi@pupr.kota.example.go.id")  # not DLH's

    for sender in (STRANGER, "budi@pupr.kota.example.go.id"):
        _, receipt = await reply_to_notice(
            service, email, "Saya bisa bantu, hubungi saya", sender=sender
        )
        assert receipt.outcome is Outcome.NOT_COMPLAINANT
    await service.dispatcher.dispatch_once()

    assert await status_of(service, reference) == ComplaintStatus.ASSIGNED
    assert len(email.to(RESIDENT)) == 1  # the acknowledgement only
    [refusal] = email.to(STRANGER)
    assert "hanya diterima dari petugas" in refusal.text and "only from officers" in refusal.text
    assert refusal.automatic
    [complaint] = await rows(service, Complaint)
    audits = await rows(service, AuditEntry, AuditEntry.action == "notice_reply_refused")
    assert [a.complaint_id for a in audits] == [complaint.id, complaint.id]
    assert STRANGER in audits[0].detail
    inbound_kinds = [
        m.kind
        for m in await rows(service, Message, Message.complaint_id == complaint.id)
        if m.direction == "in"
    ]
    assert inbound_kinds == ["complaint"]


# --- aduan email rejected ---------------------------------------------------------------


async def test_aduan_email_rejected_lists_and_shows(
    service: Service, clock: FakeClock, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    for number, (age, reason) in enumerate(
        [(timedelta(days=1), "automatic reply"), (timedelta(days=10), "larger than 10 bytes")]
    ):
        await service.refusals.keep(
            RefusedMessage(
                ChannelName.EMAIL,
                f"<r{number}@x>",
                reason,
                b"Subject: hi\r\n\r\nraw " + bytes([48 + number]),
                now - age,
                sender=f"s{number}@example.com",
            )
        )
    # Kept times are the service's clock: set them as if each was kept when received.
    async with service.uow() as uow:
        for kept in await uow.refused.since(datetime(2000, 1, 1, tzinfo=UTC), 10):
            kept.created_at = kept.received_at
        await uow.commit()
    app = typer.Typer()
    app.command()(rejected)
    app.command("other")(lambda: None)
    env = {"ADUAN_DATABASE_URL": service.settings.database_url, "ADUAN_LOG_LEVEL": "WARNING"}
    if service.settings.database_schema:
        env["ADUAN_DATABASE_SCHEMA"] = service.settings.database_schema

    def run(*args: str) -> Any:
        return CliRunner().invoke(app, ["rejected", *args], env=env)

    week = await asyncio.to_thread(run)
    month = await asyncio.to_thread(run, "--since", "30d")
    [kept] = await rows(service, Kept, Kept.provider_message_id == "<r0@x>")
    shown = await asyncio.to_thread(run, "--show", str(kept.id))
    missing = await asyncio.to_thread(run, "--show", "999999")

    assert week.exit_code == 0, week.output
    assert "s0@example.com" in week.output and "automatic reply" in week.output
    assert "<r0@x>" in week.output and "<r1@x>" not in week.output
    lines = month.output.splitlines()
    assert len(lines) == 2 and "<r0@x>" in lines[0] and "<r1@x>" in lines[1]  # newest first
    assert shown.exit_code == 0 and "raw 0" in shown.output
    assert "\r" not in shown.output and "\\x0d" not in shown.output  # a mail, not escapes
    assert missing.exit_code == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_aduan_officers_add_with_an_email_address(service: Service, tmp_path: Path) -> None:
    from tests.integration.test_cli import aduan

    url = service.settings.database_url
    added = await asyncio.to_thread(
        aduan,
        "officers",
        "add",
        "--agency",
        "DLH",
        "--name",
        "Budi",
        "--email",
        "Budi@DLH.kota.example.go.id",
        cwd=tmp_path,
        database_url=url,
    )
    wrong = await asyncio.to_thread(
        aduan,
        "officers",
        "add",
        "--agency",
        "DLH",
        "--name",
        "X",
        "--email",
        "budi",
        cwd=tmp_path,
        database_url=url,
    )

    assert added.returncode == 0, added.stderr
    assert "Replies from budi@dlh.kota.example.go.id to DLH's complaint mail" in added.stdout
    assert "/link " in added.stdout
    assert wrong.returncode == 2 and "not an email address" in wrong.stderr
    async with service.uow() as uow:
        officer = await uow.officers.by_email("BUDI@dlh.kota.example.go.id")
    assert officer is not None and officer.email == "budi@dlh.kota.example.go.id"


async def test_the_mail_as_it_came_is_kept_beside_the_text_the_agency_reads(
    service: Service,
) -> None:
    raw = (
        b"From: Budi <budi@mail.example.com>\r\nTo: aduan@kota.go.id\r\n"
        b"Subject: Sampah\r\nMessage-ID: <orig-1@mail.example.com>\r\n\r\n"
        b"Sampah di Jl. Melati sudah seminggu tidak diangkut.\r\n\r\nDikirim dari iPhone saya\r\n"
    )
    parsed = parse_email(raw, received_at=datetime.now(UTC), max_bytes=1 << 20)
    assert isinstance(parsed, InboundMessage)
    await service.deliver(parsed)
    [stored] = await rows(
        service, Message, Message.provider_message_id == "<orig-1@mail.example.com>"
    )
    assert "iPhone" not in stored.text
    assert stored.original_text is not None and "Dikirim dari iPhone saya" in stored.original_text
