"""A contact typed into the web form is a claim, never an identity (issue 14, defects 2 and
14): the real app over HTTP, real storage, the fake SMS channel we own."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx

from bot.bootstrap import Service
from bot.cli.record_text import render_record
from bot.domain.lifecycle import ComplaintStatus
from bot.officers.actions import Actor, Role
from bot.records.queries import complaint_record
from channels.base import Outcome
from storage.models import Complaint, ContactClaim, Direction, Message, OutboxMessage, Resident
from tests.fakes import FakeClock, FakeSmsChannel, inbound
from tests.integration.db import count, prepared_service, rows, settled
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


async def filed_with_contact(client: httpx.AsyncClient) -> tuple[str, str]:
    """A complaint filed on the form with the resident's number: its reference and its link."""
    page = await post_form(
        client, {"text": "Got mampet di Jl. Kenari, air meluap", "contact": TYPED}
    )
    assert page.status_code == 201
    assert "Kami belum mengirim apa pun ke kontak" in page.text
    [link] = re.findall(r'href="(http://127\.0\.0\.1:8000/lacak/[^"]+)"', page.text)
    link = html.unescape(link)
    return link.split("/lacak/")[1].split("?")[0], parse_qs(urlsplit(link).query)["k"][0]


async def test_a_contact_confirmed_with_its_code_gets_the_answers(
    client: httpx.AsyncClient, service: Service, sms: FakeSmsChannel
) -> None:
    reference, token = await filed_with_contact(client)
    page = await client.get(f"/lacak/{reference}", params={"k": token})
    assert "Belum ada yang kami kirim ke +62812•••••890" in page.text
    assert await rows(service, OutboxMessage, OutboxMessage.recipient == VICTIM) == []

    no_token = await post_form(client, {"k": "wrong"}, f"/lacak/{reference}/kode")
    sent = await post_form(client, {"k": token}, f"/lacak/{reference}/kode")
    again = await post_form(client, {"k": token}, f"/lacak/{reference}/kode")
    [code_row] = await settled(service, OutboxMessage.kind == "verification_code")
    [message] = [m for m in sms.sent if m.recipient == VICTIM]
    code = re.search(r"\b(\d{6})\b", message.text)
    assert code is not None
    [claim] = await rows(service, ContactClaim)
    assert claim.code_hash is not None and code[1] not in claim.code_hash
    wrong = "000000" if code[1] != "000000" else "111111"
    refused = await post_form(
        client, {"k": token, "code": wrong, "lang": "en"}, f"/lacak/{reference}/konfirmasi"
    )
    confirmed = await post_form(
        client, {"k": token, "code": code[1]}, f"/lacak/{reference}/konfirmasi"
    )

    assert "verification" not in no_token.text and code_row.channel == "sms"
    assert sent.status_code == 200 and "Kode sudah kami kirim ke +62812•••••890" in sent.text
    assert again.status_code == 429 and "Kode baru dapat diminta lagi" in again.text
    assert refused.status_code == 422 and "Tries left: 4" in refused.text
    assert confirmed.status_code == 200 and "sudah dikonfirmasi" in confirmed.text
    assert 'id="send-code"' not in confirmed.text
    # The complaint is now the number's own: answers go there, its replies continue it.
    await service.actions.ask_resident(reference, "Di depan nomor berapa?", ADMIN)
    [question] = await settled(service, OutboxMessage.kind == "officer_question")
    assert (question.channel, question.recipient) == ("sms", VICTIM)
    reply = await service.deliver(inbound("Nomor 12, Pak", sender=VICTIM))
    assert (reply.outcome, reply.reference) == (Outcome.FOLLOW_UP, reference)
    page = await client.get(f"/lacak/{reference}", params={"k": token})
    assert "Di depan nomor berapa?" in page.text and "Nomor 12, Pak" in page.text
    # From the web it still takes additions naming the contact it was filed with, only.
    added = await client.post(
        f"/api/complaints/{reference}/messages",
        json={"text": "Sekarang sudah banjir", "contact": TYPED},
    )
    other = await client.post(
        f"/api/complaints/{reference}/messages",
        json={"text": "Sekarang sudah banjir juga", "contact": "0813 1111 2222"},
    )
    assert added.status_code == 200 and added.json()["outcome"] == "follow_up", added.text
    assert other.status_code == 403, other.text
    record = await complaint_record(service.uow, reference)
    assert record is not None
    shown = render_record(record, ZoneInfo("Asia/Jakarta"))
    assert f"  contact   sms:{VICTIM} (typed into the form, confirmed 2026-" in shown


async def test_codes_run_out_and_wrong_tries_void_a_code(
    client: httpx.AsyncClient, service: Service, clock: FakeClock
) -> None:
    reference, token = await filed_with_contact(client)
    for _ in range(3):
        assert (
            await post_form(client, {"k": token}, f"/lacak/{reference}/kode")
        ).status_code == 200
        clock.advance(minutes=2)
    spent = await post_form(client, {"k": token}, f"/lacak/{reference}/kode")
    tries = [
        await post_form(client, {"k": token, "code": "12345x"}, f"/lacak/{reference}/konfirmasi")
        for _ in range(6)
    ]

    assert spent.status_code == 429 and "Sudah 3 kode dikirim" in spent.text
    assert [t.status_code for t in tries] == [422] * 6
    assert "Sisa percobaan: 1" in tries[3].text
    assert "sudah tidak berlaku" in tries[4].text and "sudah tidak berlaku" in tries[5].text
    [claim] = await rows(service, ContactClaim)
    assert claim.verified_at is None and claim.failed_tries == 5


async def limited(service: Service, trusted_proxies: str = "") -> Service:
    """The service with a limit of two posts an hour per client address."""
    return await prepared_service(
        service.settings,
        service.engine,
        service.clock,
        web_posts_per_ip="2/hour",
        trusted_proxies=trusted_proxies,
    )


async def test_posts_are_limited_per_ip(service: Service, clock: FakeClock) -> None:
    app = (await limited(service)).app
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    other = httpx.ASGITransport(app=app, client=("203.0.113.8", 5000))
    body = {"text": "Sampah menumpuk di pasar"}
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client,
        httpx.AsyncClient(transport=other, base_url="http://127.0.0.1:8000") as neighbour,
    ):
        allowed = [await client.post("/api/complaints", json=body) for _ in range(2)]
        api = await client.post("/api/complaints", json=body)
        page = await client.post("/filed", data=body, headers={"accept": "text/html"})
        elsewhere = await neighbour.post("/api/complaints", json=body)
        clock.advance(hours=1)
        later = await client.post("/api/complaints", json=body)

    assert [r.status_code for r in allowed] == [503, 503]  # counted, though not running
    assert api.status_code == 429 and api.headers["retry-after"] == "3600"
    assert "too many requests" in api.json()["detail"]
    assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
    assert page.text.index("Terlalu banyak kiriman") < page.text.index("Too many requests")
    assert elsewhere.status_code == later.status_code == 503


async def test_forwarded_for_counts_only_from_trusted_proxies(service: Service) -> None:
    app = (await limited(service, "10.0.0.0/8, 192.0.2.1")).app
    proxy = httpx.ASGITransport(app=app, client=("10.1.2.3", 5000))
    direct = httpx.ASGITransport(app=app, client=("198.51.100.9", 5000))
    body = {"text": "Sampah menumpuk di pasar"}

    async def post(transport: httpx.ASGITransport, forwarded: str) -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://a.test") as client:
            response = await client.post(
                "/api/complaints", json=body, headers={"x-forwarded-for": forwarded}
            )
            return response.status_code

    # Behind the proxy: each client by the address the proxy saw, whatever it wrote itself.
    assert [await post(proxy, f"6.6.6.{n}, 203.0.113.5, 192.0.2.1") for n in range(3)] == [
        503,
        503,
        429,
    ]
    assert await post(proxy, "203.0.113.6") == 503
    # From anyone else the header is ignored: a new one every time does not help.
    assert [await post(direct, f"203.0.113.{n}") for n in range(10, 13)] == [503, 503, 429]
