"""The tracking page and its links, through the real app on real storage: the public view
for anyone, the conversation only with the link's token."""

from __future__ import annotations

import asyncio
import re

import httpx
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import Service
from bot.messaging.tracking import TrackingLinks
from bot.officers.actions import Actor, Role
from config.settings import Settings
from storage.models import Complaint, OutboxMessage, ServiceValue
from tests.fakes import FakeClock
from tests.integration.db import count, prepared_service, rows, settled
from tests.integration.forms import post_form

ADMIN = Actor(Role.ADMIN, 7, "Rina (admin)")


async def test_the_key_is_read_once_however_many_links_are_made_at_once() -> None:
    # Mail waiting at start-up asks for many links at once; each asking reader once cost
    # a database round trip of its own.
    reads = 0

    async def source() -> str:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.01)
        return "a-key-the-database-keeps"

    links = TrackingLinks("https://aduan.example.go.id", source)
    urls = await asyncio.gather(*(links.url(f"K7QD-4XM{c}") for c in "PQRTUVWXY"))
    assert reads == 1 and len(set(urls)) == 9


async def test_instances_share_the_generated_key_and_a_set_key_replaces_it(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    first = await prepared_service(settings, engine, clock)
    second = await prepared_service(settings, engine, clock)
    token = await first.links.token("K7QD-4XMP")

    assert await second.links.token("K7QD-4XMP") == token
    assert len(token) == 12
    assert await count(first, ServiceValue, ServiceValue.key == "secret_key") == 1
    assert await second.links.opens("k7qd4xmp", token)  # however the reference is typed
    assert not await second.links.opens("K7QD-4XMA", token)  # another complaint's
    assert not await second.links.opens("K7QD-4XMP", None)
    assert not await second.links.opens("not a reference", token)

    configured = await prepared_service(settings, engine, clock, secret_key=SecretStr("s" * 40))
    assert await configured.links.token("K7QD-4XMP") != token
    assert await configured.links.url("K7QD-4XMP") == (
        f"http://127.0.0.1:8000/lacak/K7QD-4XMP?k={await configured.links.token('K7QD-4XMP')}"
    )


async def test_a_web_filer_gets_the_link_that_shows_the_answer(
    client: httpx.AsyncClient, service: Service
) -> None:
    filed = await client.post(
        "/api/complaints", json={"text": "Pedagang kaki lima menutup trotoar di alun-alun"}
    )
    body = filed.json()
    reference, link = body["reference"], body["tracking_url"]
    assert link == await service.links.url(reference)
    await service.actions.answer(reference, "Sudah kami tertibkan pagi ini.", ADMIN)
    # The running service's dispatcher sends it (a dispatch of our own could find it taken).
    service.dispatcher.wake()
    await settled(service, OutboxMessage.kind == "officer_reply")

    page = await client.get(link)
    assert page.status_code == 200
    assert "Pedagang kaki lima menutup trotoar" in page.text
    assert "Sudah kami tertibkan pagi ini." in page.text
    english = await client.get(f"{link}&lang=en")
    assert "Conversation" in english.text and "Sudah kami tertibkan" in english.text

    # Anyone may add to an anonymous complaint by its reference, but gets no link to read it.
    added = await client.post(f"/api/complaints/{reference}/messages", json={"text": "Masih ada"})
    assert added.status_code == 200 and added.json()["tracking_url"] is None
    public = await client.get(f"/lacak/{reference.lower()}")
    assert public.status_code == 200 and "Sudah kami tertibkan" not in public.text
    assert "sudah dijawab" in public.text


async def test_after_a_transfer_the_first_agencys_answer_keeps_its_name(
    client: httpx.AsyncClient, service: Service, clock: FakeClock
) -> None:
    filed = await client.post(
        "/api/complaints", json={"text": "Lampu jalan di Jl. Mawar mati sejak Senin"}
    )
    reference, link = filed.json()["reference"], filed.json()["tracking_url"]
    await service.actions.answer(reference, "Tiangnya roboh, bukan lampunya.", ADMIN)
    service.dispatcher.wake()
    await settled(service, OutboxMessage.kind == "officer_reply")
    clock.advance(minutes=5)
    await service.actions.transfer(reference, "PUPR", ADMIN, reason="tiang roboh")

    page = await client.get(link)
    assert 'id="agency">Dinas Pekerjaan Umum' in page.text  # in charge now
    answer = re.search(r'<div class="meta">([^<]*)</div>[^<]*Tiangnya roboh', page.text)
    assert answer is not None and answer.group(1).startswith("DISHUB ·")


async def test_the_form_links_to_the_page(client: httpx.AsyncClient, service: Service) -> None:
    filed = await post_form(
        client, {"text": "Sampah menumpuk di pasar", "submission_id": "s1", "lang": "en"}
    )
    assert filed.status_code == 201
    [complaint] = await rows(service, Complaint)
    link = await service.links.url(complaint.reference)
    assert f'href="{link}&amp;lang=en" id="tracking"' in filed.text


async def test_an_unknown_reference_is_a_polite_404(client: httpx.AsyncClient) -> None:
    missing = await client.get("/lacak/KKKK-7777?k=whatever")
    assert missing.status_code == 404
    assert "Tidak ada pengaduan dengan nomor KKKK-7777" in missing.text
    garbage = await client.get("/lacak/%3Cscript%3E")
    assert garbage.status_code == 404 and "<script>" not in garbage.text
    # A bidi override or an ESC in the address is not echoed: it would turn the page round.
    spoofed = await client.get("/lacak/%E2%80%AEKKKK%1B%5B2J")
    assert spoofed.status_code == 404
    assert "\u202e" not in spoofed.text and "\x1b" not in spoofed.text
    assert "Tidak ada pengaduan dengan nomor KKKK[2J" in spoofed.text
