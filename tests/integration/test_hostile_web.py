"""Hostile input on the web: script and template injection in what residents type is shown
as text on every page, and every HTML page the app serves carries the browser's protections.
Through the real app on real storage."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from bot.bootstrap import Service
from channels.web import FORM_LIMITS
from storage.models import Resident
from tests.integration.db import rows
from tests.integration.forms import post_form

# What a resident might type to run a script, break out of an attribute, get a template
# evaluated, or bold text in a Telegram HTML message.
HOSTILE = (
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}} ${7*7} {% raw %}",
    "<b>tebal</b> & <i>miring</i> &amp; <a href='javascript:alert(1)'>klik</a>",
)
HOSTILE_TEXT = "Jalan rusak parah di Jl. Mawar, tolong. " + " ".join(HOSTILE)
HOSTILE_NAME = "Budi <script>alert(1)</script> \"'><svg onload=alert(2)>"
# Markup the payloads would put in a page if they were not escaped.
INJECTED = re.compile(r"<script>alert|<img src=x|<svg onload|<b>tebal|<a href='javascript", re.I)
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.app)
    async with (
        service.running(),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c,
    ):
        yield c


def _shown_as_text(page: str) -> None:
    assert not INJECTED.search(page), INJECTED.search(page)
    # The template engine never evaluated what the resident typed.
    assert "{{7*7}} ${7*7}" in page and "49 ${7*7}" not in page


async def _file(client: httpx.AsyncClient) -> httpx.Response:
    return await post_form(
        client,
        {
            "text": HOSTILE_TEXT,
            "name": HOSTILE_NAME,
            "location": '"><img src=x onerror=alert(3)> Jl. Mawar',
            "contact": "0812 3456 7890",
            "lang": "id",
        },
    )


async def test_hostile_text_and_name_are_text_on_the_filed_and_tracking_pages(
    service: Service, client: httpx.AsyncClient
) -> None:
    filed = await _file(client)
    assert filed.status_code == 201, filed.text
    tracking = re.search(r'href="(http[^"]*/lacak/[^"]+)"', filed.text)
    assert tracking is not None, filed.text
    [resident] = [r for r in await rows(service, Resident) if r.channel == "web"]
    # Stored as typed: escaping is the page's job, not intake's.
    assert resident.display_name is not None and "<script>" in resident.display_name

    link = urlsplit(tracking.group(1).replace("&amp;", "&"))
    page = await client.get(f"{link.path}?{link.query}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text, page.text
    _shown_as_text(page.text)
    # Public pages show no personal data: neither the name nor the number.
    assert "Budi" not in page.text and "3456" not in page.text
    public = await client.get(link.path)
    assert "Budi" not in public.text and "3456" not in public.text
    assert not INJECTED.search(public.text)


async def test_a_refused_form_echoes_hostile_fields_as_text(client: httpx.AsyncClient) -> None:
    too_long = HOSTILE_TEXT + " x" * FORM_LIMITS["text"]
    page = await post_form(
        client, {"text": too_long, "name": HOSTILE_NAME, "contact": '"><script>'}
    )
    assert page.status_code == 422
    _shown_as_text(page.text)
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    assert "&#34;&gt;&lt;script&gt;" in page.text or "&quot;&gt;&lt;script&gt;" in page.text


async def test_hostile_reference_in_a_tracking_address_is_text(client: httpx.AsyncClient) -> None:
    page = await client.get("/lacak/<script>alert(1)</script>", params={"k": '"><b>'})
    assert page.status_code == 404
    assert "<script>alert" not in page.text and '"><b>' not in page.text


def _routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every endpoint with its full path, also those of included routers (FastAPI 0.16x
    keeps an included router whole, behind an object of its own, rather than copying its
    routes into the app's list)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        included: Any = getattr(route, "original_router", None)
        if included is not None:
            context: Any = getattr(route, "include_context", None)
            inner = prefix + str(getattr(context, "prefix", ""))
            yield from _routes(included.routes, inner)


def _html_paths(service: Service, reference: str) -> set[str]:
    """Every GET route of the app whose answer may be a page, its parameters filled in."""
    return {
        re.sub(r"\{[^}]+\}", reference, path)
        for path, route in _routes(service.app.routes)
        if "GET" in (route.methods or ())
    }


async def test_every_html_page_carries_the_security_headers(
    service: Service, client: httpx.AsyncClient
) -> None:
    filed = await _file(client)
    reference = (
        filed.headers.get("x-reference") or re.findall(r"[0-9A-Z]{4}-[0-9A-Z]{4}", filed.text)[0]
    )
    checked = {}
    for path in [*sorted(_html_paths(service, reference)), "/no-such-page"]:
        for lang in ("id", "en"):
            answer = await client.get(path, params={"lang": lang}, headers=BROWSER)
            if answer.headers.get("content-type", "").startswith("text/html"):
                checked[path] = answer
    posted = {"/": await post_form(client, {"text": ""}, "/"), "/filed": filed}
    for path, answer in [*checked.items(), *posted.items()]:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (path, name, answer.headers)
        policy = answer.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
    # The walk found the pages there are (a route added later is walked too).
    assert {"/", f"/lacak/{reference}", "/docs", "/redoc", "/no-such-page"} <= set(checked)
    assert checked[f"/lacak/{reference}"].headers["cache-control"] == "no-store"


async def test_head_is_answered_as_get_without_the_body(client: httpx.AsyncClient) -> None:
    for path, status in [("/", 200), ("/healthz", 200), ("/lacak/KKKK-7777", 404)]:
        got = await client.get(path, headers=BROWSER)
        head = await client.head(path, headers=BROWSER)
        assert (head.status_code, head.content) == (status, b""), path
        assert head.headers["content-type"] == got.headers["content-type"], path
        for name in SECURITY_HEADERS:
            assert head.headers.get(name) == got.headers.get(name), (path, name)
    assert (await client.head("/api/complaints")).status_code == 405  # POST only


async def test_a_file_posted_to_the_tracking_page_gets_the_page_not_json(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post(
        "/lacak/KKKK-7777/tambah",
        data={"text": "tambahan"},
        files={"photo": ("x.jpg", b"\xff\xd8\xff", "image/jpeg")},
        headers=BROWSER,
    )
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
