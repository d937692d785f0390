"""The fake Bot API (tests/fakes/telegram_api.py) driven by the real python-telegram-bot 22.8."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, EndPointNotFound, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from tests.fakes.telegram_api import (
    SECRET_HEADER,
    BotApiError,
    FakeBotApi,
    LoopbackServer,
    TgChat,
    TgUser,
    render_text,
    running_fake_bot_api,
)

RESIDENT = TgUser(id=5_123_456_789, first_name="Siti", username="siti_w")
OFFICER = TgUser(id=6_200_000_001, first_name="Budi", last_name="Santoso", username="budi_dlh")
AGENCY_GROUP = TgChat.supergroup(-1_001_987_654_321, "DLH Kota — Pengaduan")
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
RULES_YAML = b"rules:\n  - agency: dlh\n    keywords: [asap, limbah, bau]\n"
TAKE = InlineKeyboardMarkup([[InlineKeyboardButton("Ambil", callback_data="take:ADU-1")]])


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    """A running fake Bot API for one test."""
    async with running_fake_bot_api() as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    """A real, initialized ``telegram.Bot`` pointed at the fake."""
    async with Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url) as real:
        yield real


def build_application(api: FakeBotApi) -> Application[Any, Any, Any, Any, Any, Any]:
    """The real PTB Application wired to the fake."""
    return (
        ApplicationBuilder()
        .token(api.token)
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .build()
    )


@contextlib.asynccontextmanager
async def polling(
    application: Application[Any, Any, Any, Any, Any, Any],
) -> AsyncIterator[None]:
    """Run ``application`` with long polling for the duration of the block."""
    updater = application.updater
    assert updater is not None, "the application was built without an updater"
    async with application:
        await updater.start_polling(poll_interval=0.0, timeout=1)
        await application.start()
        try:
            yield
        finally:
            await updater.stop()
            await application.stop()


async def test_get_me_and_send_message_with_inline_keyboard(api: FakeBotApi, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (api.bot.id, True, "aduan_test_bot")
    assert me.can_join_groups is True
    assert me.can_read_all_group_messages is False

    api.add_chat(AGENCY_GROUP)
    first = await bot.send_message(AGENCY_GROUP.id, "Pengaduan baru ADU-1", reply_markup=TAKE)
    second = await bot.send_message(AGENCY_GROUP.id, "Pengaduan baru ADU-2")

    assert first.reply_markup == TAKE
    assert first.from_user is not None and first.from_user.id == api.bot.id
    assert first.chat.type == "supergroup"
    assert second.message_id == first.message_id + 1
    recorded = api.sent_to(AGENCY_GROUP.id)
    assert [m.text for m in recorded] == ["Pengaduan baru ADU-1", "Pengaduan baru ADU-2"]
    assert recorded[0].reply_markup == TAKE.to_dict()
    assert recorded[1].reply_markup is None


async def test_application_polls_answers_and_confirms_updates(api: FakeBotApi) -> None:
    seen: list[str] = []

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        seen.append(update.message.text)
        await update.message.reply_text(f"Diterima: {update.message.text}", reply_markup=TAKE)

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Diambil")
        await query.edit_message_text(f"{query.data} diambil oleh {query.from_user.first_name}")

    def application() -> Application[Any, Any, Any, Any, Any, Any]:
        app = build_application(api)
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
        app.add_handler(CallbackQueryHandler(on_button))
        return app

    first_id = api.push_update(api.text_message(RESIDENT, "jalan rusak di jl. mawar"))
    async with polling(application()):
        reply = await api.wait_for_sent(lambda m: m.text == "Diterima: jalan rusak di jl. mawar")
        press_id = api.push_update(api.callback_query(RESIDENT, reply, "take:ADU-1"))
        answer = await api.wait_for_call("answerCallbackQuery", lambda c: c.error is None)
        edit = await api.wait_for_call("editMessageText", lambda c: c.error is None)

    assert press_id == first_id + 1
    assert answer.params["text"] == "Diambil"
    assert edit.params["message_id"] == reply.message_id
    edited = api.message(RESIDENT.id, reply.message_id)
    assert edited["text"] == "take:ADU-1 diambil oleh Siti"
    assert "reply_markup" not in edited  # editing without reply_markup drops the keyboard
    assert api.pending_updates == []
    assert api.confirmed_offset == press_id + 1

    later_id = api.push_update(api.text_message(RESIDENT, "ada kabar?"))
    async with polling(application()):
        await api.wait_for_sent(lambda m: m.text == "Diterima: ada kabar?")
    assert seen == ["jalan rusak di jl. mawar", "ada kabar?"]  # nothing redelivered
    assert len(api.calls_of("answerCallbackQuery")) == 1
    assert api.confirmed_offset == later_id + 1


async def test_group_command_is_parsed_and_answered_as_a_quote(api: FakeBotApi) -> None:
    async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"Status {' '.join(context.args or [])}")

    app = build_application(api)
    app.add_handler(CommandHandler("status", status))
    command = api.command_message(OFFICER, "/status ADU-7", chat=AGENCY_GROUP)
    api.push_update(command)
    async with polling(app):
        reply = await api.wait_for_sent(lambda m: m.chat_id == AGENCY_GROUP.id)

    assert command["message"]["entities"] == [{"offset": 0, "length": 7, "type": "bot_command"}]
    assert reply.text == "Status ADU-7"
    assert reply.reply_to_message_id == command["message"]["message_id"]
    assert reply.message["reply_to_message"]["text"] == "/status ADU-7"


async def test_photo_bytes_download_through_get_file(api: FakeBotApi, bot: Bot) -> None:
    update = Update.de_json(api.photo_message(RESIDENT, PHOTO, caption="Sampah menumpuk"), bot)
    assert update.message is not None and update.message.caption == "Sampah menumpuk"
    largest = update.message.photo[-1]

    telegram_file = await bot.get_file(largest.file_id)
    assert telegram_file.file_path is not None
    assert telegram_file.file_path.startswith(f"{api.base_file_url}{api.token}/photos/")
    assert await telegram_file.download_as_bytearray() == bytearray(PHOTO)

    sent = await bot.send_photo(RESIDENT.id, photo=PHOTO, caption="Bukti perbaikan")
    assert api.sent[-1].photo == PHOTO
    uploaded = await (await bot.get_file(sent.photo[-1].file_id)).download_as_bytearray()
    assert uploaded == bytearray(PHOTO)

    document = await bot.send_document(RESIDENT.id, document=RULES_YAML, filename="rules.yaml")
    assert document.document is not None and document.document.file_name == "rules.yaml"
    assert (api.sent[-1].document, api.sent[-1].file_name) == (RULES_YAML, "rules.yaml")
    resent = await bot.send_document(RESIDENT.id, document=document.document.file_id)
    assert resent.document is not None
    assert resent.document.file_id == document.document.file_id


async def test_flood_control_raises_retry_after(
    api: FakeBotApi, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # retry_after as timedelta, no deprecation
    api.add_chat(AGENCY_GROUP)
    api.flood("sendMessage", times=1, retry_after=1)

    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(AGENCY_GROUP.id, "Pengingat SLA")
    assert flood.value.retry_after == dtm.timedelta(seconds=1)

    await bot.send_message(AGENCY_GROUP.id, "Pengingat SLA")
    failed, passed = api.calls_of("sendMessage")
    assert failed.error is not None and failed.error.error_code == 429
    assert passed.error is None
    assert [m.text for m in api.sent] == ["Pengingat SLA"]


async def test_yaml_document_arrives_and_downloads(api: FakeBotApi) -> None:
    received: list[tuple[str | None, str | None, bytes]] = []

    async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.document is not None
        document = update.message.document
        data = await (await document.get_file()).download_as_bytearray()
        received.append((document.file_name, document.mime_type, bytes(data)))
        await update.message.reply_text(f"Aturan diterima: {document.file_name}")

    app = build_application(api)
    app.add_handler(MessageHandler(filters.Document.FileExtension("yaml"), on_document))
    update = api.document_message(
        OFFICER, RULES_YAML, "rules.yaml", mime_type="application/x-yaml", chat=AGENCY_GROUP
    )
    api.push_update(update)
    async with polling(app):
        await api.wait_for_sent(lambda m: m.text == "Aturan diterima: rules.yaml")

    assert received == [("rules.yaml", "application/x-yaml", RULES_YAML)]


async def test_get_updates_offset_limit_long_poll_and_conflict(api: FakeBotApi, bot: Bot) -> None:
    ids = [api.push_update(api.text_message(RESIDENT, f"pesan {n}")) for n in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3

    first_two = await bot.get_updates(limit=2, timeout=0)
    assert [u.update_id for u in first_two] == ids[:2]
    rest = await bot.get_updates(offset=ids[1] + 1, timeout=0)
    assert [u.update_id for u in rest] == ids[2:]
    assert [u["update_id"] for u in api.pending_updates] == ids[2:]

    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.create_task(bot.get_updates(offset=ids[2] + 1, timeout=2))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # long polling: no busy loop
    late = api.push_update(api.text_message(RESIDENT, "terlambat"))
    assert [u.update_id for u in await waiting] == [late]
    assert loop.time() - started < 1.5

    async with httpx.AsyncClient(base_url=f"{api.base_url}{api.token}") as raw:
        long_poll = {"offset": late + 1, "timeout": 2, "limit": 5}
        polling_call = asyncio.create_task(raw.post("/getUpdates", json=long_poll))
        await api.wait_for_call("getUpdates", lambda c: c.params.get("limit") == 5)
        second = await raw.post("/getUpdates", json={"offset": late + 1, "timeout": 0})
        first = await polling_call
    assert second.json() == {"ok": True, "result": []}
    assert first.status_code == 409
    assert "terminated by other getUpdates request" in first.json()["description"]


async def test_builders_make_updates_ptb_parses(api: FakeBotApi, bot: Bot) -> None:
    private = Update.de_json(api.text_message(RESIDENT, "cek https://x.id #banjir"), bot)
    group = Update.de_json(api.text_message(OFFICER, "siap", chat=AGENCY_GROUP), bot)
    location = Update.de_json(api.location_message(RESIDENT, -6.2, 106.8), bot)
    assert private.message is not None and group.message is not None
    assert location.message is not None and location.message.location is not None

    assert private.message.chat.type == "private" and private.message.chat.id == RESIDENT.id
    assert [e.type for e in private.message.entities] == ["url", "hashtag"]
    assert group.message.chat.type == "supergroup"
    assert group.message.from_user is not None and group.message.from_user.id == OFFICER.id
    assert location.message.message_id == private.message.message_id + 1  # same chat
    assert (location.message.location.latitude, location.message.location.longitude) == (
        -6.2,
        106.8,
    )

    notice = await bot.send_message(AGENCY_GROUP.id, "ADU-9 baru", reply_markup=TAKE)
    reply = Update.de_json(api.reply_message(OFFICER, api.sent[-1], "sudah ditangani"), bot)
    assert reply.message is not None and reply.message.reply_to_message is not None
    assert reply.message.reply_to_message.message_id == notice.message_id
    assert reply.message.reply_to_message.reply_markup == TAKE
    with pytest.raises(ValueError, match="callback_data"):
        api.callback_query(OFFICER, api.sent[-1], "not-a-button")

    await bot.edit_message_reply_markup(AGENCY_GROUP.id, notice.message_id, reply_markup=None)
    assert "reply_markup" not in api.message(AGENCY_GROUP.id, notice.message_id)
    stale = Update.de_json(api.callback_query(OFFICER, api.sent[-1], "take:ADU-1"), bot)
    assert stale.callback_query is not None
    assert isinstance(stale.callback_query.message, Message)
    assert stale.callback_query.message.reply_markup is None  # pressed on an outdated view


async def test_telegram_like_errors(api: FakeBotApi, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(-1_009_999_999_999, "halo")

    api.add_chat(AGENCY_GROUP)
    with pytest.raises(BadRequest, match=r'(?i)unsupported start tag "ref"'):
        await bot.send_message(AGENCY_GROUP.id, "Nomor <ref>", parse_mode=ParseMode.HTML)
    html = await bot.send_message(AGENCY_GROUP.id, "<b>ADU-1</b> &lt;baru&gt;", parse_mode="HTML")
    assert html.text == "ADU-1 <baru>"
    assert [(e.type, e.offset, e.length) for e in html.entities] == [("bold", 0, 5)]

    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "<b>ADU-1</b> &lt;baru&gt;", AGENCY_GROUP.id, html.message_id, parse_mode="HTML"
        )
    edited = await bot.edit_message_text("ADU-1 <baru>", AGENCY_GROUP.id, html.message_id)
    assert isinstance(edited, Message) and edited.entities == ()  # entities differ: modified
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("12345")
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(AGENCY_GROUP.id, "x", reply_to_message_id=999)
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendComplaintCard")

    requests = HTTPXRequest(), HTTPXRequest()
    stranger = Bot(
        "1:wrong", base_url=api.base_url, request=requests[0], get_updates_request=requests[1]
    )
    try:
        with pytest.raises(InvalidToken):
            await stranger.get_me()
    finally:
        for request in requests:
            await request.shutdown()


async def test_webhook_delivery_with_secret_header(api: FakeBotApi, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def webhook(request: Request) -> Response:
        received.append((request.headers.get(SECRET_HEADER), await request.json()))
        return Response(status_code=200)

    receiver = LoopbackServer(Starlette(routes=[Route("/tg", webhook, methods=["POST"])]))
    await receiver.start()
    try:
        await bot.set_webhook(f"{receiver.url}/tg", secret_token="rahasia-123")
        info = await bot.get_webhook_info()
        assert info.url == f"{receiver.url}/tg"
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()

        response = await api.deliver_webhook(api.text_message(RESIDENT, "lampu mati"))
        assert response.status_code == 200
        await api.deliver_webhook(api.text_message(RESIDENT, "x"), secret_token="salah")
    finally:
        await receiver.stop()

    (secret, first), (wrong, _) = received
    assert secret == "rahasia-123" and wrong == "salah"
    assert first["message"]["text"] == "lampu mati"
    assert Update.de_json(first, bot).update_id == first["update_id"]

    await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == ()


def entity(kind: str, offset: int, length: int, **extra: str) -> dict[str, Any]:
    """MessageEntity JSON as Telegram returns it."""
    return {"offset": offset, "length": length, "type": kind, **extra}


@pytest.mark.parametrize(
    ("html", "text", "entities"),
    [
        ("<b>ADU-1</b> baru", "ADU-1 baru", [entity("bold", 0, 5)]),
        (
            '<a href="https://aduan.id/t?a=1&amp;b=2">lacak</a>',
            "lacak",
            [entity("text_link", 0, 5, url="https://aduan.id/t?a=1&b=2")],
        ),
        (
            "<b>tebal <i>miring</i></b>",
            "tebal miring",
            [entity("bold", 0, 12), entity("italic", 6, 6)],
        ),
        (
            '<pre><code class="language-yaml">a: 1</code></pre>',
            "a: 1",
            [entity("pre", 0, 4, language="yaml")],
        ),
        ("👍 <u>ok</u>", "👍 ok", [entity("underline", 3, 2)]),  # offsets in UTF-16 units
    ],
)
def test_html_parse_mode_like_telegram(
    html: str, text: str, entities: list[dict[str, Any]]
) -> None:
    assert render_text(html, "HTML", None) == (text, entities)


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("1 < 2 > 0", 'Unsupported start tag "" at byte offset 2'),
        ("<b>tebal", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
    ],
)
def test_html_parse_errors_like_telegram(html: str, error: str) -> None:
    with pytest.raises(BotApiError) as rejected:
        render_text(html, "HTML", None)
    assert rejected.value.error_code == 400
    assert rejected.value.description.startswith("Bad Request: can't parse entities: " + error)
