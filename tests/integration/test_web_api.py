"""The web channel and JSON API over HTTP, against the real app and real storage."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.bootstrap import Service, bootstrap
from bot.web.app import create_app
from bot.web.hardening import CONTENT_SECURITY_POLICY
from channels.base import ChannelName
from channels.web import WebChannel
from config.settings import Settings
from storage.models import Complaint, OutboxMessage, Resident
from tests.fakes import FakeClock
from tests.integration.db import count, rows
from tests.integration.forms import post_form

REFERENCE = re.compile(r"^[34679ACDEFGHJKMNPQRTUVWXY]{4}-[34679ACDEFGHJKMNPQRTUVWXY]{4}$")


async def file(client: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await client.post("/api/complaints", json=body)


async def test_file_a_complaint_and_look_it_up(client: httpx.AsyncClient) -> None:
    response = await file(
        client,
        text="Lampu jalan di Jl. Mawar depan SD 3 mati sejak Senin",
        name="Budi",
        contact="0812-3456-7890",
        location={"description": "Jl. Mawar", "latitude": -7.8, "longitude": 110.37},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert REFERENCE.match(body["reference"])
    assert body["agency"] == {"code": "DISHUB", "name": "Dinas Perhubungan"}
    assert body["status"] == "assigned"
    assert body["due_at"] == "2026-11-04T02:00:00Z"
    assert body["outcome"] == "complaint"

    lookup = await client.get(f"/api/complaints/{body['reference'].lower().replace('-', '')}")
    assert lookup.status_code == 200
    public = lookup.json()
    assert public["reference"] == body["reference"]
    assert public["agency"]["code"] == "DISHUB"
    assert public["status_label"] == {
        "id": "diteruskan ke instansi",
        "en": "assigned to the agency",
    }
    assert public["overdue"] is False
    assert [event["action"] for event in public["history"]] == ["create", "assign"]
    flat = lookup.text
    for private in ("Budi", "3456", "Mawar", "Senin"):
        assert private not in flat


async def test_unknown_reference_is_404(client: httpx.AsyncClient) -> None:
    for typed in ("KKKK-7777", "not-a-reference"):
        response = await client.get(f"/api/complaints/{typed}")
        assert response.status_code == 404
        assert typed in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({}, "text"),
        ({"text": "x" * 10_001}, "text"),
        ({"text": "Jalan rusak", "contact": "abc"}, "contact"),
        ({"text": "Jalan rusak", "contact": "0812"}, "contact"),
        ({"text": "Jalan rusak", "contact": "a" * 321 + "@x.id"}, "contact"),
        ({"text": "Jalan rusak", "location": {"latitude": 123}}, "location.latitude"),
        ({"text": "Jalan rusak", "colour": "red"}, "colour"),
        ({"text": 42}, "text"),
    ],
)
async def test_bad_fields_are_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/api/complaints", json=body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{field}: ")


@pytest.mark.parametrize("text", ["0", "??", "ok 12345", "a b c d"])
async def test_text_saying_too_little_is_refused_as_the_schema_says(
    client: httpx.AsyncClient, text: str
) -> None:
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["ComplaintIn"]
    assert re.search(schema["properties"]["text"]["pattern"], text) is None
    response = await file(client, text=text, location={"description": "Jl. Mawar"})
    assert response.status_code == 422
    assert response.json() == {
        "detail": "text: say what is wrong and where, in words: 5 letters at least",
        "errors": [
            {
                "field": "text",
                "message": "say what is wrong and where, in words: 5 letters at least",
            }
        ],
    }


async def test_invalid_utf8_and_non_json_bodies_are_refused(
    client: httpx.AsyncClient, service: Service
) -> None:
    headers = {"content-type": "application/json"}
    broken = await client.post(
        "/api/complaints", content=b'{"text": "jalan \xff\xfe rusak"}', headers=headers
    )
    garbage = await client.post("/api/complaints", content=b"text=hello", headers=headers)
    surrogate = await client.post(
        "/api/complaints", content=b'{"text": "Jalan rusak \\ud800 parah"}', headers=headers
    )
    assert broken.status_code == 400
    assert broken.json()["detail"] == "There was an error parsing the body"
    assert garbage.status_code == 422
    assert garbage.json()["detail"] == "body: not valid JSON (Expecting value)"
    assert surrogate.status_code == 422
    assert await count(service, Complaint) == 0


async def test_oversized_bodies_are_413(client: httpx.AsyncClient, service: Service) -> None:
    megabyte = "Limbah " * 150_000
    declared = await client.post("/api/complaints", json={"text": megabyte})

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(64):
            yield b"a" * 8192
        yield b'"}'

    streamed = await client.post(
        "/api/complaints", content=chunks(), headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert "larger than 262144 bytes" in declared.json()["detail"]
    assert await count(service, Complaint) == 0


async def test_idempotency_key_makes_retries_safe(
    client: httpx.AsyncClient, service: Service
) -> None:
    body = {"text": "Sampah tidak diangkut seminggu di Jl. Melati", "contact": "warga@example.com"}
    headers = {"Idempotency-Key": "4f9c2b"}
    first = await client.post("/api/complaints", json=body, headers=headers)
    again = await client.post("/api/complaints", json=body, headers=headers)
    other = await client.post(
        "/api/complaints", json={**body, "text": "Sampah lain"}, headers=headers
    )

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert other.json()["reference"] != first.json()["reference"]
    assert await count(service, Complaint) == 2


async def test_add_information_to_a_complaint(client: httpx.AsyncClient, service: Service) -> None:
    filed = await file(
        client, text="Got mampet di Jl. Kenari, air meluap", contact="0812 3456 7890"
    )
    reference = filed.json()["reference"]
    url = f"/api/complaints/{reference}/messages"
    added = await client.post(
        url, json={"text": "Sekarang sudah banjir", "contact": "+6281234567890"}
    )
    stranger = await client.post(url, json={"text": "Saya juga mau menambahkan"})
    missing = await client.post("/api/complaints/KKKK-7777/messages", json={"text": "Tambahan"})

    assert added.status_code == 200
    assert added.json()["outcome"] == "follow_up"
    assert added.json()["reference"] == reference
    assert stranger.status_code == 403
    assert "dari kontak yang sama" in stranger.json()["detail"]
    assert missing.status_code == 404
    assert "KKKK-7777" in missing.json()["detail"]
    assert await count(service, Complaint) == 1
    # The contact is not confirmed: both are acknowledged on the page, nothing to the phone.
    replies = await rows(service, OutboxMessage, OutboxMessage.kind == "reply")
    assert [r.channel for r in replies] == ["web"] * 2


async def test_anyone_holding_its_reference_adds_to_an_anonymous_complaint(
    client: httpx.AsyncClient,
) -> None:
    reference = (await file(client, text="Tiang listrik miring di Jl. Kenari")).json()["reference"]
    added = await client.post(
        f"/api/complaints/{reference}/messages", json={"text": "Makin miring"}
    )
    assert added.status_code == 200
    assert added.json()["reference"] == reference


async def test_anonymous_web_complaints_are_answered_on_the_web(
    client: httpx.AsyncClient, service: Service
) -> None:
    await file(client, text="Pedagang kaki lima menutup trotoar di alun-alun")
    replies = await rows(service, OutboxMessage, OutboxMessage.kind == "reply")
    assert [(r.channel, r.recipient.startswith("anon:")) for r in replies] == [("web", True)]


async def test_form_in_indonesian_with_an_english_switch(client: httpx.AsyncClient) -> None:
    indonesian = await client.get("/")
    english = await client.get("/?lang=en")
    assert indonesian.status_code == english.status_code == 200
    assert "Kirim pengaduan" in indonesian.text
    assert 'formaction="/lang" formnovalidate name="switch" value="en"' in indonesian.text
    assert "Send complaint" in english.text and 'lang="en"' in english.text


async def test_form_files_a_complaint_and_shows_the_reference(client: httpx.AsyncClient) -> None:
    form = {
        "text": "Lampu jalan mati di Jl. Mawar",
        "contact": "",
        "submission_id": "abc123",
        "lang": "id",
    }
    response = await post_form(client, form, "/")
    again = await post_form(client, form, "/")

    assert response.status_code == 201
    reference = re.search(r'id="reference">([^<]+)<', response.text)
    assert reference and REFERENCE.match(reference.group(1))
    assert "Dinas Perhubungan" in response.text
    assert reference.group(1) in again.text  # a resubmitted form files nothing new


async def test_form_with_a_bad_contact_keeps_what_was_typed(
    client: httpx.AsyncClient, service: Service
) -> None:
    form = {"text": "Sampah <b>menumpuk</b> di pasar", "contact": "bukan nomor", "lang": "id"}
    response = await post_form(client, form, "/")
    assert response.status_code == 422
    assert "Nomor HP atau alamat email tidak valid" in response.text
    assert "Sampah &lt;b&gt;menumpuk&lt;/b&gt; di pasar" in response.text  # kept, and escaped
    assert await count(service, Complaint) == 0


async def test_a_message_to_a_blank_reference_is_a_404_not_a_complaint(
    client: httpx.AsyncClient, service: Service
) -> None:
    # A control character is cleaned away at the edge, leaving no reference at all.
    for path in ("/api/complaints/%04/messages", "/api/complaints/%20/messages"):
        response = await client.post(path, json={"text": "\u0098Ï"})
        assert response.status_code == 404, response.text
    assert await count(service, Complaint) == 0


async def test_health_and_openapi(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200
    report = health.json()
    assert report["database"] == "ok"
    assert report["channels"]["web"]["configured"] is True
    assert report["channels"]["web"]["state"] == "ok"
    assert report["channels"]["telegram"]["configured"] is False

    spec = (await client.get("/openapi.json")).json()
    assert {
        "/api/complaints",
        "/api/complaints/{reference}",
        "/api/complaints/{reference}/messages",
    } <= set(spec["paths"])
    documented = spec["paths"]["/healthz"]["get"]["responses"]
    assert documented["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HealthReport"
    }
    assert {"ChannelHealth", "UnconfiguredChannel"} <= set(spec["components"]["schemas"])


PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


async def test_every_page_carries_the_browsers_protections(client: httpx.AsyncClient) -> None:
    form = {"text": "Lampu jalan mati di Jl. Mawar", "contact": "", "lang": "id"}
    filed = await post_form(client, form, "/")  # carries the tracking token
    reference = re.search(r'id="reference">([^<]+)<', filed.text)
    assert reference
    pages = [
        filed,
        await client.get("/"),
        await client.get(f"/lacak/{reference.group(1)}"),
        await client.get("/lacak/ZZZZ-ZZZZ"),  # a 404 page too
    ]
    for page in pages:
        assert page.headers["content-type"].startswith("text/html")
        assert {name: page.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS
    # Pages showing the token are never cached; the form is, by the browser alone (its CSRF
    # token is this browser's), so Back returns to it.
    for page in (pages[0], pages[2], pages[3]):
        assert page.headers["cache-control"] == "no-store"
    assert pages[1].headers["cache-control"] == "private"
    api = await client.get("/api/complaints/ZZZZ-ZZZZ")
    assert api.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/lacak/K7QD-4XMP/", "/lacak/K7QD-4XMP"),
        ("/lacak/K7QD-4XMP/?k=abc", "/lacak/K7QD-4XMP?k=abc"),
        ("//evil.example/", "/evil.example"),
    ],
)
async def test_a_trailing_slash_redirect_never_names_the_host_it_was_sent(
    client: httpx.AsyncClient, path: str, location: str
) -> None:
    # The path as sent, even where a URL parser would read a host into it.
    url = httpx.URL("http://aduan.test").copy_with(raw_path=path.encode())
    response = await client.get(url, headers={"Host": "evil.example"})
    assert response.status_code == 308
    assert response.headers["location"] == location


async def test_names_and_places_are_cleaned_like_the_text(
    client: httpx.AsyncClient, service: Service
) -> None:
    response = await file(
        client,
        text="Lampu jalan mati di Jl. Mawar",
        contact="0812 3456 7890",
        name="Siti\u0000 \u202eAminah\u202c\x1b[2J",
        location={"description": "Jl.\u0000 Mawar\nno 3 \u2066RT 02\u2069"},
    )
    assert response.status_code == 201, response.text
    [resident] = await rows(service, Resident)
    assert resident.display_name == "Siti Aminah[2J"
    [complaint] = await rows(service, Complaint)
    assert complaint.location_text == "Jl. Mawar no 3 RT 02"


FORM = {"text": "Lampu jalan mati di Jl. Mawar", "location": "Jl. Mawar", "lang": "id"}


@pytest.mark.parametrize(
    ("posted", "field"),
    [
        ({"text": "Lampu mati " + "x" * 10_000}, "text"),
        ({"location": "Jl. Mawar " * 60}, "location"),
        ({"name": "Budi " * 50}, "name"),
        ({"contact": "0812" * 100}, "contact"),
    ],
)
async def test_form_over_a_fields_limit_gets_the_form_back_with_the_typed_text(
    client: httpx.AsyncClient, service: Service, posted: dict[str, str], field: str
) -> None:
    for lang, said in [("id", "Terlalu panjang"), ("en", "Too long")]:
        form = {**FORM, **posted, "lang": lang}
        response = await post_form(client, form)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("text/html")
        assert re.search(rf'id="{field}-problem">{said}[^<]*\d+', response.text), response.text
        assert html.escape(form[field]) in response.text
    assert await count(service, Complaint) == 0


async def test_form_with_an_overlong_language_is_a_page_in_indonesian(
    client: httpx.AsyncClient, service: Service
) -> None:
    posted = await post_form(client, {**FORM, "lang": "en" * 500})
    shown = await client.get("/", params={"lang": "en" * 500})
    assert posted.status_code == 201
    assert 'lang="id"' in posted.text and "Pengaduan diterima" in posted.text
    assert shown.status_code == 200 and 'lang="id"' in shown.text
    assert await count(service, Complaint) == 1


async def test_form_posted_as_a_file_or_unreadable_is_still_the_page(
    client: httpx.AsyncClient, service: Service
) -> None:
    as_file = await post_form(client, {}, files={"text": ("a.txt", b"Lampu jalan", "text/plain")})
    broken = await client.post(
        "/filed",
        content=b"--x\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--x--\r\n",
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    for response in (as_file, broken):
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("text/html")
        assert "Formulir tidak dapat dibaca" in response.text
    assert await count(service, Complaint) == 0


async def test_an_oversized_form_gets_a_page_in_both_languages(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/filed",
        # Over the form's cap: the request limit and a photo's (10 MB by default) together.
        data={**FORM, "text": "Limbah " * 1_600_000},
        headers={"accept": "text/html,application/xhtml+xml"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    text = response.text
    assert text.index("Kiriman terlalu besar") < text.index("Too much to send")


@pytest.mark.parametrize(
    ("method", "path", "status", "heading"),
    [
        ("GET", "/tidak-ada", 404, ("Halaman tidak ditemukan", "Page not found")),
        ("GET", "/api/nothing/here", 404, ("Halaman tidak ditemukan", "Page not found")),
        ("DELETE", "/", 405, ("Permintaan tidak didukung", "Request not supported")),
    ],
)
async def test_browsers_get_a_page_for_what_does_not_exist(
    client: httpx.AsyncClient, method: str, path: str, status: int, heading: tuple[str, str]
) -> None:
    accept = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = await client.request(method, path, headers=accept)
    api = await client.request(method, path)

    assert page.status_code == api.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert {name: page.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS
    indonesian, english = heading
    assert page.text.index(indonesian) < page.text.index(english)
    assert 'href="/"' in page.text
    assert api.headers["content-type"] == "application/json"
    assert set(api.json()) == {"detail"}


async def test_the_api_answers_json_even_to_a_browser(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/complaints/KKKK-7777", headers={"accept": "text/html,*/*;q=0.8"}
    )
    assert response.status_code == 404
    assert "KKKK-7777" in response.json()["detail"]


async def test_a_crash_is_a_page_for_browsers_and_json_for_others(service: Service) -> None:
    def broken(key: str, language: str, **values: object) -> str:
        raise RuntimeError(f"no words for {key}")

    settings = service.settings
    web = WebChannel(service.clock.now, text=broken)
    await web.start(service.handlers())  # its forms' tokens are signed by the service
    app = create_app(
        web=web,
        uow=service.uow,
        clock=service.clock,
        links=service.links,
        verification=service.verification,
        figures=service.figures,
        zone=settings.zone,
        health=service.health.report,
        max_request_bytes=settings.max_request_bytes,
        body_timeout_seconds=settings.http_body_timeout_seconds,
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://aduan.test") as crashing:
        page = await crashing.get("/", headers={"accept": "text/html"})
        api = await crashing.get("/")

    assert page.status_code == api.status_code == 500
    assert {name: page.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS
    assert page.text.index("Terjadi kesalahan") < page.text.index("Something went wrong")
    assert api.json() == {"detail": "internal error"}
    assert api.headers["x-content-type-options"] == "nosniff"


async def test_a_database_that_cannot_be_used_is_503_with_retry_after(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-directory" / "aduan.db"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{missing}", email_file_dir=None, _env_file=None
    )
    service = bootstrap(settings, clock=FakeClock(), channels=[])
    web = service.channels[ChannelName.WEB]
    await web.start(service.handlers())
    transport = httpx.ASGITransport(app=service.app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://aduan.test") as c:
            api = await c.post(
                "/api/complaints", json={"text": "Sampah menumpuk di pasar Kliwon tiga hari"}
            )
            page = await c.get("/lacak/ADU-2026-000001", headers={"accept": "text/html"})
    finally:
        await web.stop()
        await service.aclose()

    assert api.status_code == page.status_code == 503
    assert api.headers["retry-after"] == page.headers["retry-after"] == "5"
    assert api.json() == {
        "detail": "the service cannot reach its database just now; please try again shortly"
    }
    assert page.text.index("Coba lagi sebentar lagi") < page.text.index("try again in a moment")
    assert {name: page.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS
