"""Whole flows through the real python-telegram-bot client and our Telegram channel,
against a fake Bot API on loopback, on real storage."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import Service, bootstrap
from bot.domain.lifecycle import ComplaintStatus
from channels.base import ChannelName
from config.settings import Settings
from storage.lease import LeaderLease
from storage.models import Attachment as StoredAttachment
from storage.models import (
    Complaint,
    DeliveryState,
    KeptDelivery,
    OutboxMessage,
    OutboxStatus,
)
from storage.roles import OfficerRole
from tests.fakes import FakeClock, inbound
from tests.fakes.telegram_api import (
    SECRET_HEADER,
    FakeBotApi,
    SentMessage,
    TgChat,
    TgUser,
    running_fake_bot_api,
)
from tests.integration.db import failed_send, prepared_service, queue, rows, settled
from tests.integration.forms import camera_traces, photo_with_location
from tests.integration.test_cli import aduan

OFFICER = TgUser(501, "Sari", "Wulandari")
RESIDENT = TgUser(42, "Budi")
GROUP = TgChat.supergroup(-1001234567890, "Dishub Kota")


@pytest.fixture
def clock() -> FakeClock:
    """Now: Telegram stamps messages (and we stamp button presses) with the real time."""
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with running_fake_bot_api() as fake:
        yield fake


@pytest.fixture
async def service(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, api: FakeBotApi
) -> Service:
    return await prepared_service(
        settings,
        engine,
        clock,
        **api.service_settings(),
    )


def to(chat_id: int, words: str) -> Callable[[SentMessage], bool]:
    def match(message: SentMessage) -> bool:
        return message.chat_id == chat_id and words in (message.text or "")

    return match


async def link_officer_and_group(service: Service, api: FakeBotApi) -> None:
    _, code = await service.desk.add_officer(
        "DISHUB", "Sari", OfficerRole.OFFICER, created_by="admin"
    )
    group_code = await service.desk.group_code("DISHUB", created_by="admin")
    api.push_update(api.command_message(OFFICER, f"/link {code}"))
    await api.wait_for_sent(to(OFFICER.id, "Terhubung sebagai Sari"))
    api.push_update(api.command_message(OFFICER, f"/link {group_code}", chat=GROUP))
    await api.wait_for_sent(to(GROUP.id, "grup Dinas Perhubungan"))


async def posted_complaint(service: Service, api: FakeBotApi, text: str) -> SentMessage:
    """A linked officer and group, and the resident's complaint as the group got it."""
    await link_officer_and_group(service, api)
    api.push_update(api.text_message(RESIDENT, text))
    return await api.wait_for_sent(to(GROUP.id, "(via telegram, dari"))


async def test_resident_complains_group_sees_it_officer_answers_by_replying(
    service: Service, api: FakeBotApi
) -> None:
    async with service.running():
        await link_officer_and_group(service, api)
        api.push_update(api.text_message(RESIDENT, "Lampu jalan di Jl. Mawar mati sejak Senin"))
        ack = await api.wait_for_sent(to(RESIDENT.id, "Terima kasih, pengaduan Anda diterima"))
        notice = await api.wait_for_sent(to(GROUP.id, "(via telegram, dari"))
        [complaint] = await rows(service, Complaint)
        assert complaint.reference in (ack.text or "") and complaint.reference in (
            notice.text or ""
        )
        assert "Budi" not in (notice.text or "") and "42" not in (notice.text or "").split()
        labels = [b["text"] for row in (notice.reply_markup or {})["inline_keyboard"] for b in row]
        assert labels == ["Ambil", "Minta info", "Alihkan", "Selesai", "Tolak"]

        api.push_update(api.callback_query(OFFICER, notice, pressed(notice, "Ambil")))
        await api.wait_for_call("answerCallbackQuery")
        await api.wait_for_call("editMessageText")
        edited = api.message(GROUP.id, notice.message_id)
        assert edited["text"].endswith(
            f"— {complaint.reference} diambil oleh Sari. "
            "Balas pesan pengaduan untuk menjawab warga."
        )
        assert "reply_markup" in edited  # still there: the others may ask or transfer
        api.push_update(api.reply_message(OFFICER, notice, "Sudah kami perbaiki tadi pagi."))
        answer = await api.wait_for_sent(to(RESIDENT.id, "Jawaban Dinas Perhubungan"))
        await api.wait_for_sent(to(GROUP.id, "Jawaban dikirim ke pelapor"))

    assert (answer.text or "").endswith("Sudah kami perbaiki tadi pagi.")
    [complaint] = await rows(service, Complaint)
    assert complaint.status == ComplaintStatus.ANSWERED
    assert complaint.first_response_at is not None


async def test_unlinked_user_pressing_a_button_is_refused(
    service: Service, api: FakeBotApi
) -> None:
    async with service.running():
        notice = await posted_complaint(service, api, "Lampu jalan di Jl. Mawar mati sejak Senin")
        [complaint] = await rows(service, Complaint)
        stranger = TgUser(999, "Orang", "Lain")
        api.push_update(api.callback_query(stranger, notice, pressed(notice, "Ambil")))
        call = await api.wait_for_call("answerCallbackQuery")
    assert "belum terhubung" in call.params["text"]
    [complaint] = await rows(service, Complaint)
    assert complaint.status == ComplaintStatus.ASSIGNED


async def test_a_redelivered_message_is_one_complaint(service: Service, api: FakeBotApi) -> None:
    update = api.text_message(RESIDENT, "Sampah menumpuk di TPS Jl. Melati sudah seminggu")
    again = {**update, "update_id": api.next_update_id()}
    async with service.running():
        api.push_update(update)
        api.push_update(again)
        await api.wait_until_confirmed(again["update_id"])
    assert len(await rows(service, Complaint)) == 1


@pytest.fixture
async def webhook_service(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, api: FakeBotApi
) -> Service:
    """The service taking Telegram's updates by webhook, with the secret s3cret-token."""
    return await prepared_service(
        settings,
        engine,
        clock,
        telegram_token=api.token,
        telegram_api_base=api.base_url,
        telegram_webhook_secret="s3cret-token",
        public_base_url="https://aduan.kota.example.go.id/",
    )


async def test_webhook_mode_checks_the_secret_token(
    webhook_service: Service, api: FakeBotApi
) -> None:
    service = webhook_service
    transport = httpx.ASGITransport(app=service.app)
    update = api.text_message(RESIDENT, "Lampu jalan di Jl. Mawar mati sejak Senin")
    async with (
        service.running(),
        httpx.AsyncClient(transport=transport, base_url="http://aduan.test") as client,
    ):
        registered = await api.wait_for_call("setWebhook")
        assert registered.params["url"] == "https://aduan.kota.example.go.id/webhooks/telegram"
        assert registered.params["secret_token"] == "s3cret-token"

        def post(secret: str | None) -> Awaitable[httpx.Response]:
            headers = {SECRET_HEADER: secret} if secret else {}
            return client.post("/webhooks/telegram", json=update, headers=headers)

        forged, missing = await post("guessed"), await post(None)
        assert (forged.status_code, missing.status_code) == (403, 403)
        assert await rows(service, Complaint) == []
        accepted = await post("s3cret-token")
        replayed = await post("s3cret-token")
        assert (accepted.status_code, replayed.status_code) == (200, 200)
        await api.wait_for_sent(to(RESIDENT.id, "Terima kasih, pengaduan Anda diterima"))
    assert len(await rows(service, Complaint)) == 1
    assert api.calls_of("getUpdates") == []


async def test_webhook_answers_hostile_requests_with_4xx_never_500(
    webhook_service: Service, api: FakeBotApi
) -> None:
    service = webhook_service
    transport = httpx.ASGITransport(app=service.app)
    good = {SECRET_HEADER: "s3cret-token", "content-type": "application/json"}
    message = api.text_message(RESIDENT, "Lampu jalan mati")
    bad_date = {**message, "message": {**message["message"], "date": "kemarin"}}
    async with (
        service.running(),
        httpx.AsyncClient(transport=transport, base_url="http://aduan.test") as client,
    ):
        # A secret header of bytes that are not ASCII.
        forged = await client.post(
            "/webhooks/telegram",
            content=b"{}",
            headers=[(SECRET_HEADER.encode(), "rahasia-é".encode("latin-1"))],
        )
        assert forged.status_code == 403
        for body in (
            b"null",
            b"[]",
            b"{}",
            b'{"update_id": "1"}',
            b"{",
            json.dumps(bad_date).encode(),
        ):
            answered = await client.post("/webhooks/telegram", content=body, headers=good)
            assert answered.status_code == 400, (body, answered.text)
            assert "update_id" in answered.json()["detail"]
    assert await rows(service, Complaint) == []


async def test_asking_the_resident_pauses_the_clock_and_their_reply_resumes_it(
    service: Service, api: FakeBotApi
) -> None:
    async with service.running():
        await link_officer_and_group(service, api)
        api.push_update(api.text_message(RESIDENT, "Lampu jalan mati"))
        await api.wait_for_sent(to(GROUP.id, "(via telegram, dari"))
        [complaint] = await rows(service, Complaint)
        api.push_update(
            api.command_message(
                OFFICER, f"/ask {complaint.reference} Di jalan apa tepatnya?", chat=GROUP
            )
        )
        question = await api.wait_for_sent(to(RESIDENT.id, "membutuhkan informasi tambahan"))
        [waiting] = await rows(service, Complaint)
        assert (
            waiting.status == ComplaintStatus.WAITING_FOR_RESIDENT
            and waiting.sla_running_since is None
        )

        api.push_update(api.reply_message(RESIDENT, question, "Jl. Mawar depan SD 3"))
        await api.wait_for_sent(to(GROUP.id, "Tambahan dari pelapor"))
    [resumed] = await rows(service, Complaint)
    assert resumed.status == ComplaintStatus.IN_PROGRESS and resumed.sla_running_since is not None


async def test_photo_with_caption_and_a_shared_location(service: Service, api: FakeBotApi) -> None:
    photo = b"\xff\xd8\xff\xe0 a jpeg of a pothole"
    async with service.running():
        api.push_update(api.photo_message(RESIDENT, photo, caption="Jalan berlubang besar di sini"))
        await api.wait_for_sent(to(RESIDENT.id, "Terima kasih"))
        pin = api.push_update(api.location_message(RESIDENT, -7.7956, 110.3695))
        await api.wait_until_confirmed(pin)
    [complaint] = await rows(service, Complaint)
    assert complaint.text == "Jalan berlubang besar di sini"
    from storage.models import Attachment, Message

    [stored] = await rows(service, Attachment)
    assert (stored.filename, stored.content_type, stored.content) == (
        "foto.jpg",
        "image/jpeg",
        photo,
    )
    located = [m for m in await rows(service, Message) if m.kind == "follow_up"]
    assert len(located) == 1  # the pin joined the complaint sent a moment before


async def test_a_photo_sent_as_a_file_loses_its_camera_data(
    service: Service, api: FakeBotApi
) -> None:
    # Telegram strips a photo's camera data, but not a file's.
    photo = photo_with_location()
    assert camera_traces(photo) == ["serial", "make", "place in XMP", "place in EXIF"]
    async with service.running():
        api.push_update(
            api.document_message(RESIDENT, photo, "IMG_2041.JPG", caption="Asap hitam pabrik")
        )
        await api.wait_for_sent(to(RESIDENT.id, "Terima kasih"))
    [stored] = await rows(service, StoredAttachment)
    assert (stored.filename, stored.content_type) == ("IMG_2041.jpg", "image/jpeg")
    assert camera_traces(stored.content) == []


async def test_long_answers_are_split_and_flood_control_is_waited_out(
    service: Service, api: FakeBotApi
) -> None:
    from channels.base import OutboundMessage
    from channels.telegram import TelegramChannel

    channel = service.channels["telegram"]
    assert isinstance(channel, TelegramChannel)
    await channel.app.initialize()
    try:
        api.add_chat(TgChat.private(RESIDENT))
        api.flood("sendMessage", times=1, retry_after=1)
        text = ("Kalimat jawaban yang panjang. " * 300).strip()  # ≈ 9,000 characters
        receipt = await channel.send(OutboundMessage(str(RESIDENT.id), text, key="k1"))
    finally:
        await channel.app.shutdown()
    pieces = [m.text or "" for m in api.sent_to(RESIDENT.id)]
    assert len(pieces) == 3 and all(len(p) <= 4096 for p in pieces)
    assert " ".join(pieces) == text
    assert receipt.thread_key == f"telegram:{RESIDENT.id}:{api.sent_to(RESIDENT.id)[-1].message_id}"


async def test_a_photo_that_failed_after_its_text_is_sent_alone_under_that_text(
    service: Service, api: FakeBotApi
) -> None:
    from channels.base import Attachment, OutboundMessage, PartlySent, SendProgress
    from channels.telegram import TelegramChannel

    channel = service.channels["telegram"]
    assert isinstance(channel, TelegramChannel)
    photo = Attachment("foto.jpg", "image/jpeg", b"\xff\xd8\xff a jpeg")
    notice = OutboundMessage(str(GROUP.id), "Aduan baru K7QD-4XMP", key="n1", attachments=(photo,))
    await channel.app.initialize()
    try:
        api.add_chat(GROUP)
        api.flood("sendPhoto", retry_after=120)  # longer than a send waits
        with pytest.raises(PartlySent) as raised:
            await channel.send(notice)
        [text] = api.sent_to(GROUP.id)
        assert raised.value.progress == SendProgress(1, str(text.message_id))
        receipt = await channel.send(dataclasses.replace(notice, progress=raised.value.progress))
    finally:
        await channel.app.shutdown()
    text_again, photo_sent = api.sent_to(GROUP.id)
    assert text_again == text and photo_sent.method == "sendPhoto"  # the text went once
    assert (photo_sent.reply_parameters or {})["message_id"] == text.message_id
    assert receipt.provider_message_id == f"{GROUP.id}:{text.message_id}"


async def test_a_long_answer_cut_short_by_flood_control_sends_only_the_rest_later(
    service: Service, api: FakeBotApi, clock: FakeClock
) -> None:
    text = ("Kalimat jawaban yang panjang. " * 300).strip()  # three pieces
    api.add_chat(TgChat.private(RESIDENT))
    api.flood("sendMessage", retry_after=120, after=1)
    await queue(service, "telegram", str(RESIDENT.id), ["long"], text=text)
    async with service.running():
        row = await failed_send(service, OutboxMessage.key == "long")
        [first] = api.sent_to(RESIDENT.id)
        assert (row.status, row.parts_sent) == (OutboxStatus.PENDING, 1)
        assert row.part_anchor == str(first.message_id)
        clock.advance(minutes=5)
        service.dispatcher.wake()
        [row] = await settled(service, OutboxMessage.key == "long")

    pieces = api.sent_to(RESIDENT.id)
    assert len(pieces) == 3 and " ".join(p.text or "" for p in pieces) == text  # each once
    assert row.status is OutboxStatus.SENT
    assert row.provider_message_id == f"{RESIDENT.id}:{pieces[-1].message_id}"


async def test_only_the_lease_holder_polls_and_a_standby_takes_over(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, api: FakeBotApi, service: Service
) -> None:
    from channels.telegram import TelegramChannel

    standby = bootstrap(service.settings, clock=clock, engine=engine)
    leader_channel, standby_channel = service.channels["telegram"], standby.channels["telegram"]
    assert isinstance(leader_channel, TelegramChannel) and isinstance(
        standby_channel, TelegramChannel
    )
    async with contextlib.AsyncExitStack() as leader:
        await leader.enter_async_context(service.running())
        await api.wait_for_call("getUpdates")
        async with standby.running():
            api.push_update(api.text_message(RESIDENT, "Sampah menumpuk di pasar"))
            await api.wait_for_sent(to(RESIDENT.id, "Terima kasih"))
            leader_lease, standby_lease = leader_channel._lease, standby_channel._lease
            assert isinstance(leader_lease, LeaderLease) and isinstance(standby_lease, LeaderLease)
            assert leader_lease.held and not standby_lease.held
            # The leader goes away, whole: its dispatcher would otherwise go on claiming
            # answers for a Telegram channel that no longer sends.
            await leader.aclose()
            # Generous waits: a loaded machine stretches the standby's 2 s lease retries.
            for _ in range(300):
                if standby_lease.held:
                    break
                await asyncio.sleep(0.1)
            other = TgUser(43, "Ani")
            api.push_update(api.text_message(other, "Lampu jalan mati di gang 3"))
            await api.wait_for_sent(to(other.id, "Dinas Perhubungan"), timeout=30)
    assert len(await rows(service, Complaint)) == 2


def pressed(message: SentMessage, label: str) -> str:
    """The callback data of the button labelled `label` under a bot message."""
    rows_ = (message.reply_markup or {}).get("inline_keyboard", [])
    data: str = next(b["callback_data"] for row in rows_ for b in row if b["text"] == label)
    return data


async def test_start_offers_a_language_and_the_choice_sticks(
    service: Service, api: FakeBotApi
) -> None:
    async with service.running():
        api.push_update(api.command_message(RESIDENT, "/start"))
        welcome = await api.wait_for_sent(to(RESIDENT.id, "Pilih bahasa / Choose a language"))
        api.push_update(api.callback_query(RESIDENT, welcome, pressed(welcome, "English")))
        await api.wait_for_sent(to(RESIDENT.id, "OK, we will reply in English."))
        api.push_update(api.text_message(RESIDENT, "Lampu jalan di Jl. Mawar mati"))
        await api.wait_for_sent(to(RESIDENT.id, "Thank you, your complaint is registered"))


async def test_transfer_by_buttons_and_rating_after_close(
    service: Service, api: FakeBotApi
) -> None:
    async with service.running():
        notice = await posted_complaint(
            service, api, "Lampu jalan di Jl. Mawar mati, tiangnya roboh"
        )
        api.push_update(api.callback_query(OFFICER, notice, pressed(notice, "Alihkan")))
        picker = await api.wait_for_sent(to(GROUP.id, "ke instansi mana?"))
        api.push_update(api.callback_query(OFFICER, picker, pressed(picker, "PUPR")))
        await api.wait_for_call(
            "answerCallbackQuery", lambda c: "dialihkan ke PUPR" in c.params.get("text", "")
        )
        [complaint] = await rows(service, Complaint)
        assert complaint.status == ComplaintStatus.TRANSFERRED

        admin = await service.desk.add_officer("PUPR", "Admin", OfficerRole.ADMIN, created_by="t")
        api.push_update(api.command_message(TgUser(700, "Admin"), f"/link {admin[1]}"))
        await api.wait_for_sent(to(700, "Terhubung sebagai Admin"))
        api.push_update(
            api.command_message(
                TgUser(700, "Admin"), f"/close {complaint.reference} Tiang sudah diganti."
            )
        )
        closing = await api.wait_for_sent(to(RESIDENT.id, "telah diselesaikan"))
        api.push_update(api.callback_query(RESIDENT, closing, pressed(closing, "⭐⭐⭐⭐")))
        await api.wait_for_sent(to(RESIDENT.id, "penilaian 4/5"))
    [complaint] = await rows(service, Complaint)
    assert (complaint.status, complaint.rating) == (ComplaintStatus.CLOSED, 4)


GOOD_RULES = """\
fallback: DISKOMINFO
rules:
  - id: lampu
    agency: PUPR
    any: [lampu, tiang]
"""


async def test_admins_check_and_apply_a_rule_file_from_chat(
    service: Service, api: FakeBotApi
) -> None:
    admin = TgUser(700, "Rina")
    _, code = await service.desk.add_officer(
        "DISKOMINFO", "Rina", OfficerRole.ADMIN, created_by="t"
    )
    _, officer_code = await service.desk.add_officer(
        "DISHUB", "Sari", OfficerRole.OFFICER, created_by="t"
    )
    async with service.running():
        api.push_update(api.command_message(admin, f"/link {code}"))
        await api.wait_for_sent(to(admin.id, "Terhubung sebagai Rina"))
        api.push_update(api.command_message(OFFICER, f"/link {officer_code}"))
        await api.wait_for_sent(to(OFFICER.id, "Terhubung sebagai Sari"))
        api.push_update(api.command_message(OFFICER, "/rules"))
        await api.wait_for_sent(to(OFFICER.id, "Hanya admin"))

        api.push_update(api.command_message(admin, "/rules"))
        await api.wait_for_sent(to(admin.id, "Aturan aktif: versi 1 (64 aturan)"))
        bad = GOOD_RULES.replace("PUPR", "PUPRX").encode()
        api.push_update(api.document_message(admin, bad, file_name="aturan.yaml"))
        refused = await api.wait_for_sent(to(admin.id, "Berkas aturan tidak valid"))
        assert "aturan.yaml:4: error: rule 'lampu': agency: unknown agency 'PUPRX'" in (
            refused.text or ""
        )

        api.push_update(api.document_message(admin, GOOD_RULES.encode(), file_name="aturan.yaml"))
        proposal = await api.wait_for_sent(to(admin.id, "Berkas valid: 1 aturan"))
        assert "Dampak 30 hari:" in (proposal.text or "")
        api.push_update(api.callback_query(admin, proposal, pressed(proposal, "Terapkan")))
        await api.wait_for_call(
            "answerCallbackQuery", lambda c: "versi 2" in c.params.get("text", "")
        )
        api.push_update(api.callback_query(admin, proposal, pressed(proposal, "Terapkan")))
        await api.wait_for_call(
            "answerCallbackQuery", lambda c: "sudah diputuskan" in c.params.get("text", "")
        )

        api.push_update(api.command_message(admin, "/stats"))
        await api.wait_for_sent(to(admin.id, "30 hari terakhir"))
    assert service.router.compiled.version == "v2"


async def test_the_group_gets_the_residents_photo_under_the_complaint(
    service: Service, api: FakeBotApi
) -> None:
    photo = b"\xff\xd8\xff\xe0 a jpeg of a broken street light"
    async with service.running():
        await link_officer_and_group(service, api)
        api.push_update(api.photo_message(RESIDENT, photo, caption="Lampu jalan mati di Jl. Mawar"))
        notice = await api.wait_for_sent(to(GROUP.id, "(via telegram, dari"))
        shown = await api.wait_for_sent(lambda m: m.chat_id == GROUP.id and m.method == "sendPhoto")
    assert shown.photo == photo
    assert (shown.reply_parameters or {}).get("message_id") == notice.message_id


async def test_ask_and_reject_buttons_prompt_for_the_words(
    service: Service, api: FakeBotApi
) -> None:
    async with service.running():
        notice = await posted_complaint(service, api, "Lampu jalan di Jl. Mawar mati")
        [complaint] = await rows(service, Complaint)
        api.push_update(api.callback_query(OFFICER, notice, pressed(notice, "Minta info")))
        prompt = await api.wait_for_sent(
            to(GROUP.id, f"Pertanyaan untuk pelapor {complaint.reference}")
        )
        assert (prompt.reply_markup or {}).get("force_reply") is True
        api.push_update(api.reply_message(OFFICER, prompt, "Nomor tiangnya berapa?"))
        await api.wait_for_sent(to(RESIDENT.id, "Nomor tiangnya berapa?"))

        api.push_update(api.callback_query(OFFICER, notice, pressed(notice, "Tolak")))
        reason = await api.wait_for_sent(to(GROUP.id, f"Alasan menolak {complaint.reference}"))
        api.push_update(api.reply_message(OFFICER, reason, "Lampu milik PLN, bukan Pemkot."))
        await api.wait_for_sent(to(RESIDENT.id, "Alasan: Lampu milik PLN"))
    [complaint] = await rows(service, Complaint)
    assert complaint.status == ComplaintStatus.REJECTED


async def test_status_command_in_private_chat(service: Service, api: FakeBotApi) -> None:
    async with service.running():
        api.push_update(api.text_message(RESIDENT, "Sampah menumpuk di TPS Jl. Melati"))
        await api.wait_for_sent(to(RESIDENT.id, "Terima kasih"))
        [complaint] = await rows(service, Complaint)
        asker = TgUser(77, "Tetangga")
        api.push_update(api.command_message(asker, f"/status {complaint.reference.lower()}"))
        answer = await api.wait_for_sent(to(asker.id, f"Pengaduan {complaint.reference}:"))
    assert "Dinas Lingkungan Hidup" in (answer.text or "")
    assert len(await rows(service, Complaint)) == 1


async def test_an_update_that_keeps_failing_holds_none_back_and_becomes_a_dead_letter(
    service: Service, api: FakeBotApi, clock: FakeClock, tmp_path: Path
) -> None:
    attempts = service.settings.deadletter_after_attempts
    # Telegram will not hand over the photo, as many times as the service tries.
    api.fail_next("getFile", 400, "Bad Request: wrong file identifier", times=attempts)
    neighbour = TgUser(43, "Ani")
    async with service.running():
        poisoned = api.push_update(
            api.photo_message(RESIDENT, b"\xff\xd8 jpeg", caption="Asap hitam dari cerobong")
        )
        after = api.push_update(api.text_message(neighbour, "Lampu jalan mati di Jl. Mawar"))
        await api.wait_until_confirmed(after)
        await api.wait_for_sent(to(neighbour.id, "Terima kasih, pengaduan Anda diterima"))
        [kept] = await rows(service, KeptDelivery, KeptDelivery.state == DeliveryState.PENDING)
        assert (kept.key, kept.attempts) == (f"update:{poisoned}", 1)
        assert "Wrong file identifier" in (kept.last_error or "")
        for _ in range(attempts - 1):
            clock.advance(hours=2)
            await service.inbox.retry_due()
        [dead] = await rows(service, KeptDelivery, KeptDelivery.id == kept.id)
        assert (dead.state, dead.attempts) == (DeliveryState.DEAD, attempts)

        where = {"database_url": service.settings.database_url}
        where |= {"schema": service.settings.database_schema or ""}
        listed = aduan("deadletters", "list", cwd=tmp_path, **where)
        assert listed.returncode == 0, listed.stderr
        assert f"telegram/update  {attempts} attempts  update:{poisoned}" in listed.stdout
        assert "Wrong file identifier" in listed.stdout
        unknown = aduan("deadletters", "drop", "999999", cwd=tmp_path, **where)
        assert (unknown.returncode, unknown.stderr) == (
            1,
            "error: no kept delivery has the id 999999\n",
        )
        # The cause is gone (the fake answers getFile again): the admin replays it.
        replayed = aduan("deadletters", "replay", str(kept.id), cwd=tmp_path, **where)
        assert replayed.returncode == 0, replayed.stderr
        await service.inbox.retry_due()
        await api.wait_for_sent(to(RESIDENT.id, "Terima kasih, pengaduan Anda diterima"))
    assert len(await rows(service, Complaint)) == 2
    # Processed and settled: a dead letter no more, and the resident's words are not kept.
    assert aduan("deadletters", "list", cwd=tmp_path, **where).stdout == "no dead letters\n"
    [settled] = await rows(service, KeptDelivery, KeptDelivery.id == kept.id)
    assert (settled.state, settled.payload) == (DeliveryState.DONE, b"")


async def test_a_press_too_old_to_answer_still_acts_and_holds_nothing_back(
    service: Service, api: FakeBotApi
) -> None:
    async with service.running():
        post = await posted_complaint(service, api, "Truk pabrik parkir di trotoar Jl. Kenanga")
        # The press reaches us after Telegram stopped taking answers to it.
        api.fail_next("answerCallbackQuery", 400, "Bad Request: query is too old", times=1)
        press = api.push_update(api.callback_query(OFFICER, post, pressed(post, "Ambil")))
        await api.wait_until_confirmed(press)
        [complaint] = await rows(service, Complaint)
        assert complaint.status == ComplaintStatus.IN_PROGRESS
    assert await rows(service, KeptDelivery) == []


async def test_a_webhook_update_that_fails_is_kept_answered_and_not_redone_on_redelivery(
    webhook_service: Service, api: FakeBotApi, clock: FakeClock
) -> None:
    service = webhook_service
    transport = httpx.ASGITransport(app=service.app)
    headers = {SECRET_HEADER: "s3cret-token"}
    api.fail_next("getFile", 400, "Bad Request: wrong file identifier", times=1)
    update = api.photo_message(RESIDENT, b"\xff\xd8 jpeg", caption="Bau limbah dari pabrik")
    async with (
        service.running(),
        httpx.AsyncClient(transport=transport, base_url="http://aduan.test") as client,
    ):
        first = await client.post("/webhooks/telegram", json=update, headers=headers)
        # Telegram redelivers what it thinks failed: the service already holds it.
        again = await client.post("/webhooks/telegram", json=update, headers=headers)
        assert (first.status_code, again.status_code) == (200, 200)
        assert len(api.calls_of("getFile")) == 1
        [kept] = await rows(service, KeptDelivery)
        assert (kept.state, kept.attempts) == (DeliveryState.PENDING, 1)
        clock.advance(seconds=3)
        await service.inbox.retry_due()
        await api.wait_for_sent(to(RESIDENT.id, "Terima kasih, pengaduan Anda diterima"))
    [complaint] = await rows(service, Complaint)
    assert complaint.channel == "telegram"
    [kept] = await rows(service, KeptDelivery)
    assert kept.state == DeliveryState.DONE


async def test_hostile_text_and_file_name_reach_the_group_intact_and_the_file_bare(
    service: Service, api: FakeBotApi
) -> None:
    # Sent as plain text (no parse_mode): markup a resident types is shown, not parsed, and
    # cannot make Telegram refuse the notice ("can't parse entities").
    hostile = "Lampu jalan mati <b>semua</b> & <script>alert(1)</script> {{7*7}} \"'><i>"
    async with service.running():
        await link_officer_and_group(service, api)
        api.push_update(
            api.document_message(
                RESIDENT, b"%PDF-1.4", file_name="../../etc/passwd", caption=hostile
            )
        )
        notice = await api.wait_for_sent(to(GROUP.id, "(via telegram, dari"))
        shown = await api.wait_for_sent(
            lambda m: m.chat_id == GROUP.id and m.method == "sendDocument"
        )
    assert hostile in (notice.text or "") and notice.parse_mode is None
    assert shown.file_name == "passwd" and shown.document == b"%PDF-1.4"
    [stored] = await rows(service, StoredAttachment)
    assert stored.filename == "passwd"


# --- a Bot API that does not answer ---------------------------------------------------------


@pytest.fixture
async def impatient(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, api: FakeBotApi
) -> AsyncIterator[Service]:
    """A running service that waits half a second for the Bot API's answer."""
    service = await prepared_service(
        settings, engine, clock, **api.service_settings(), provider_timeout_seconds=0.5
    )
    async with service.running():
        yield service


async def test_a_message_telegram_sent_without_answering_is_not_sent_again(
    impatient: Service, api: FakeBotApi, clock: FakeClock
) -> None:
    api.stall("sendMessage", seconds=1.5, done=True)
    api.push_update(api.text_message(RESIDENT, "Sampah menumpuk di pasar"))
    reply = await failed_send(impatient, OutboxMessage.kind == "reply")
    assert reply.status is OutboxStatus.FAILED
    assert (reply.last_error or "").startswith(
        "delivery unknown: Telegram took the request and did not answer (ReadTimeout"
    )
    clock.advance(hours=2)
    assert await impatient.dispatcher.dispatch_once() == 0
    assert len(api.sent_to(RESIDENT.id)) == 1  # it did go, once


async def test_a_bot_api_refusing_connections_is_tried_again_and_sent_once(
    impatient: Service, api: FakeBotApi, clock: FakeClock
) -> None:
    api.add_chat(TgChat.private(RESIDENT))
    async with api.refusing_connections():
        await impatient.deliver(
            inbound(
                "Lampu jalan mati di gang 3", sender=str(RESIDENT.id), channel=ChannelName.TELEGRAM
            )
        )
        impatient.dispatcher.wake()
        reply = await failed_send(impatient, OutboxMessage.kind == "reply")
    assert reply.status is OutboxStatus.PENDING
    assert (reply.last_error or "").startswith("TransientSendError: Telegram unreachable")
    clock.advance(seconds=5)
    impatient.dispatcher.wake()
    [reply] = await settled(impatient, OutboxMessage.kind == "reply")
    assert reply.status is OutboxStatus.SENT and reply.attempts == 2
    assert len(api.sent_to(RESIDENT.id)) == 1
