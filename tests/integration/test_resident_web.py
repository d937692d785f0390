"""The resident's web (issue 14 defect 2's CSRF, issue 15 item 6): the real app over HTTP,
real storage. The same flows in a browser are in test_browser.py."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.bootstrap import Service
from bot.domain.lifecycle import ComplaintStatus
from bot.officers.actions import Actor, Role
from config.settings import SettingsError, load_settings
from storage.models import Attachment, AuditEntry, Complaint, Message, OutboxMessage
from tests.fakes import FakeClock, FakeSmsChannel
from tests.integration.db import count, prepared_service, rows
from tests.integration.forms import (
    PHOTO_LATITUDE,
    PHOTO_LONGITUDE,
    gps_of,
    photo_with_location,
    post_form,
)

ADMIN = Actor(Role.ADMIN, 7, "Rina (admin)")
FORM = {"text": "Lampu jalan di Jl. Mawar mati sejak Senin", "location": "Jl. Mawar", "lang": "id"}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _filed(client: httpx.AsyncClient, **fields: str) -> tuple[str, str]:
    """A complaint filed on the form: its reference and its tracking link's token."""
    page = await post_form(client, {**FORM, **fields})
    assert page.status_code == 201, page.text
    link = html.unescape(re.findall(r'href="([^"]+)" id="tracking"', page.text)[0])
    return urlsplit(link).path.split("/")[-1], parse_qs(urlsplit(link).query)["k"][0]


# --- CSRF ----------------------------------------------------------------------------------


async def test_a_cross_site_post_files_nothing_and_keeps_what_was_typed(
    client: httpx.AsyncClient, service: Service
) -> None:
    # Another site's page posting to us: no cookie of ours, or ours with no or a made-up token.
    no_cookie = await client.post("/filed", data=FORM)
    await client.get("/")  # the browser holds our cookie now
    no_token = await client.post("/filed", data=FORM)
    made_up = await client.post("/filed", data={**FORM, "csrf_token": "x" * 44})
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url=client.base_url) as other:
        # A token from a page someone else was served is bound to their cookie, not ours.
        theirs = TOKEN.search((await other.get("/")).text)
    assert theirs is not None
    foreign = await client.post("/filed", data={**FORM, "csrf_token": theirs[1]})

    for refused in (no_cookie, no_token, made_up, foreign):
        assert refused.status_code == 403
        assert "Formulir ini sudah kedaluwarsa" in refused.text
        assert f"{FORM['text']}</textarea>" in refused.text
        assert 'value="Jl. Mawar"' in refused.text
    assert await count(service, Complaint) == 0
    # The page that said so carries a token that works: sending again files it.
    assert (await post_form(client, FORM)).status_code == 201
    assert await count(service, Complaint) == 1


async def test_the_tracking_pages_posts_need_the_token_too(
    client: httpx.AsyncClient, service: Service, sms: FakeSmsChannel
) -> None:
    reference, k = await _filed(client, contact="0812 3456 7890")
    code = await client.post(f"/lacak/{reference}/kode", data={"k": k})
    added = await client.post(
        f"/lacak/{reference}/tambah", data={"k": k, "text": "Tiangnya juga miring"}
    )

    assert code.status_code == added.status_code == 403
    assert "Formulir ini sudah kedaluwarsa" in added.text and "Tiangnya juga miring" in added.text
    assert await rows(service, OutboxMessage, OutboxMessage.kind == "verification_code") == []
    assert await count(service, Message, Message.kind == "follow_up") == 0


async def test_the_cookie_is_http_only_same_site_and_secure_over_https(
    client: httpx.AsyncClient, service: Service
) -> None:
    plain = (await client.get("/")).headers["set-cookie"]
    https = await prepared_service(
        service.settings,
        service.engine,
        service.clock,
        public_base_url="https://aduan.kota.example",
    )
    transport = httpx.ASGITransport(app=https.app)
    async with (
        https.running(),
        httpx.AsyncClient(transport=transport, base_url="https://aduan.kota.example") as browser,
    ):
        secure = (await browser.get("/")).headers["set-cookie"]
        again = await browser.get("/")  # the cookie is kept, not set anew

    for cookie in (plain, secure):
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        assert "path=/" in cookie.lower()
    assert "secure" not in plain.lower() and "secure" in secure.lower()
    assert "set-cookie" not in again.headers


# --- the city's frame, the privacy notice ---------------------------------------------------


async def test_every_page_names_the_city_its_helpline_112_and_the_privacy_notice(
    service: Service, tmp_path: Path
) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(photo_with_location("PNG"))
    city = await prepared_service(
        service.settings,
        service.engine,
        service.clock,
        city_name="Kota Yogyakarta",
        city_logo=str(logo),
        city_hotline="(0274) 561270",
        retention_days=365,
    )
    transport = httpx.ASGITransport(app=city.app)
    async with (
        city.running(),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client,
    ):
        reference, k = await _filed(client)
        pages = {
            "form": await client.get("/"),
            "filed": await post_form(client, {**FORM, "text": "Sampah menumpuk di pasar"}),
            "tracking": await client.get(f"/lacak/{reference}", params={"k": k}),
            "public": await client.get(f"/lacak/{reference}"),
            "not found": await client.get("/lacak/ZZZZ-ZZZZ"),
            "error": await client.get("/tidak-ada", headers={"accept": "text/html"}),
            "privacy": await client.get("/privasi"),
        }
        served = await client.get("/logo")
        privacy_en = await client.get("/privasi", params={"lang": "en"})

    for name, page in pages.items():
        assert "Kota Yogyakarta" in page.text, name
        assert 'src="/logo" alt="Logo Kota Yogyakarta"' in page.text, name
        assert "Layanan informasi: (0274) 561270" in page.text, name
        assert "Telepon 112" in page.text, name
        assert 'href="/privasi?lang=id"' in page.text, name
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.content == logo.read_bytes()
    notice = pages["privacy"].text
    for said in ("Yang kami simpan", "Siapa yang melihatnya", "Berapa lama", "Menghapus data"):
        assert said in notice
    # The period the city set, as ADUAN_RETENTION_DAYS erases by it.
    assert "dihapus 365 hari setelah pengaduan selesai" in notice
    assert "Who sees it" in privacy_en.text and 'lang="en"' in privacy_en.text


@pytest.mark.parametrize(
    ("logo", "said"),
    [
        ("https://cdn.example.com/logo.png", "is on another site"),
        ("//cdn.example.com/logo.png", "is on another site"),
        ("/no/such/logo.png", "there is no file"),
        ("logo.svg", "is not a PNG, JPEG or WebP file"),
    ],
)
def test_a_logo_the_pages_could_not_load_is_refused_at_start(logo: str, said: str) -> None:
    with pytest.raises(SettingsError, match=said):
        load_settings(city_logo=logo, public_base_url="https://aduan.kota.example", _env_file=None)


def test_a_logo_on_this_site_is_loaded_from_there() -> None:
    settings = load_settings(
        city_logo="https://aduan.kota.example/img/logo.png",
        public_base_url="https://aduan.kota.example",
        _env_file=None,
    )
    assert (settings.city_logo_url, settings.city_logo_path) == ("/img/logo.png", None)


# --- photos, the browser's location ---------------------------------------------------------


async def _stored_photo(service: Service) -> Attachment:
    [attachment] = await rows(service, Attachment)
    return attachment


async def test_a_photos_location_is_stripped_unless_the_resident_shares_it(
    client: httpx.AsyncClient, service: Service
) -> None:
    photo = photo_with_location()
    assert gps_of(photo) and b"GPSLatitude" in photo  # the phone wrote where it was taken
    filed = await post_form(client, FORM, files={"photo": ("IMG_0042.jpg", photo, "image/jpeg")})

    assert filed.status_code == 201
    kept = await _stored_photo(service)
    assert kept.content_type == "image/jpeg" and gps_of(kept.content) == {}
    assert b"SN-0042-SECRET" not in kept.content and b"PhoneMaker" not in kept.content
    assert b"GPSLatitude" not in kept.content  # nor in the photo's XMP
    [complaint] = await rows(service, Complaint)
    assert (complaint.latitude, complaint.longitude) == (None, None)


async def test_a_shared_photo_location_is_kept_and_places_the_complaint(
    client: httpx.AsyncClient, service: Service
) -> None:
    shared = {**FORM, "share_photo_location": "1"}
    photo = ("IMG_0042.jpg", photo_with_location(), "image/jpeg")
    filed = await post_form(client, shared, files={"photo": photo})

    assert filed.status_code == 201
    kept = await _stored_photo(service)
    assert gps_of(kept.content) == gps_of(photo[1])
    assert b"SN-0042-SECRET" not in kept.content  # the rest of the camera's data still goes
    assert b"GPSLatitude" not in kept.content  # XMP too: the place is kept once, in EXIF
    [complaint] = await rows(service, Complaint)
    assert (complaint.latitude, complaint.longitude) == (PHOTO_LATITUDE, PHOTO_LONGITUDE)


async def test_a_heic_photo_is_kept_as_a_jpeg_without_its_location(
    client: httpx.AsyncClient, service: Service
) -> None:
    photo = ("IMG_0042.HEIC", photo_with_location("HEIF"), "image/heic")
    assert (await post_form(client, FORM, files={"photo": photo})).status_code == 201
    kept = await _stored_photo(service)
    assert kept.content.startswith(b"\xff\xd8\xff") and gps_of(kept.content) == {}


@pytest.mark.parametrize(
    ("photo", "said"),
    [
        (("surat.jpg", b"%PDF-1.7 not a photo at all", "image/jpeg"), "bukan foto JPEG"),
        (("fake.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png"), "rusak"),
        (("big.jpg", b"\xff\xd8\xff" + b"\0" * (64 * 1024), "image/jpeg"), "Foto terlalu besar"),
    ],
    ids=["wrong-type", "damaged", "too-large"],
)
async def test_a_photo_refused_gets_the_form_back_saying_why(
    service: Service, photo: tuple[str, bytes, str], said: str
) -> None:
    small = await prepared_service(
        service.settings, service.engine, service.clock, web_photo_max_bytes=64 * 1024
    )
    transport = httpx.ASGITransport(app=small.app)
    async with (
        small.running(),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client,
    ):
        page = await post_form(client, FORM, files={"photo": photo})

    assert page.status_code == 422
    assert re.search(rf'id="photo-problem">[^<]*{said}', page.text), page.text
    assert 'aria-describedby="photo-problem" aria-invalid="true"' in page.text
    assert FORM["text"] in page.text and 'value="Jl. Mawar"' in page.text
    assert await count(service, Complaint) == 0


async def test_a_photo_beyond_the_forms_cap_is_refused_before_it_is_read(
    client: httpx.AsyncClient, service: Service
) -> None:
    huge = ("huge.jpg", b"\xff\xd8\xff" + b"\0" * (11 * 1024 * 1024), "image/jpeg")
    refused = await post_form(client, FORM, files={"photo": huge})
    # A browser gets the page saying so (test_web_api.py); this client asked for no page.
    assert refused.status_code == 413 and "larger than" in refused.json()["detail"]
    assert await count(service, Complaint) == 0


async def test_the_browsers_position_is_kept_beside_the_typed_place(
    client: httpx.AsyncClient, service: Service
) -> None:
    located = {**FORM, "latitude": "-7.797068", "longitude": "110.370529"}
    assert (await post_form(client, located)).status_code == 201
    nowhere = await post_form(client, {**FORM, "latitude": "95", "longitude": "abc"})

    [complaint] = await rows(service, Complaint)
    assert (complaint.latitude, complaint.longitude) == (-7.797068, 110.370529)
    assert complaint.location_text == "Jl. Mawar"
    assert nowhere.status_code == 422 and "Koordinat lokasi tidak valid" in nowhere.text


# --- the reference box, the language switch ------------------------------------------------


async def test_the_reference_box_opens_the_public_page(client: httpx.AsyncClient) -> None:
    found = await client.get("/lacak", params={"ref": " k7qd-4xmp ", "lang": "en"})
    empty = await client.get("/lacak", params={"ref": ""})
    assert found.status_code == empty.status_code == 303
    assert found.headers["location"] == "/lacak/K7QD-4XMP?lang=en"
    assert empty.headers["location"] == "/?lang=id"


async def test_the_language_switch_keeps_what_was_typed(client: httpx.AsyncClient) -> None:
    typed = {**FORM, "name": "Budi", "contact": "0812 3456 7890", "latitude": "-7.8"}
    typed |= {"longitude": "110.4", "switch": "en"}
    switched = await post_form(client, typed, "/lang")
    # Another site's page cannot put words in a resident's form through the switch.
    planted = await client.post("/lang", data=typed)  # our cookie, but no token

    assert switched.status_code == 200 and 'lang="en"' in switched.text
    assert "Send complaint" in switched.text and FORM["text"] in switched.text
    for value in ("Jl. Mawar", "Budi", "0812 3456 7890", "-7.8", "110.4"):
        assert f'value="{value}"' in switched.text
    assert planted.status_code == 200 and 'lang="en"' in planted.text
    assert FORM["text"] not in planted.text and 'value="Budi"' not in planted.text


# --- adding information and rating from the tracking page ----------------------------------


async def test_the_link_holder_adds_information_as_the_complaints_resident(
    client: httpx.AsyncClient, service: Service
) -> None:
    reference, k = await _filed(client, contact="0812 3456 7890")
    added = await post_form(
        client, {"k": k, "text": "Tiangnya juga miring", "lang": "id"}, f"/lacak/{reference}/tambah"
    )
    stranger = await post_form(
        client, {"k": "bukan-token", "text": "Palsu"}, f"/lacak/{reference}/tambah"
    )
    empty = await post_form(client, {"k": k, "text": "  "}, f"/lacak/{reference}/tambah")

    assert added.status_code == 200 and "Tiangnya juga miring" in added.text
    assert 'id="said"' in added.text and reference in added.text
    [complaint] = await rows(service, Complaint)
    [follow_up] = await rows(service, Message, Message.kind == "follow_up")
    assert follow_up.complaint_id == complaint.id and follow_up.text == "Tiangnya juga miring"
    notices = await rows(service, OutboxMessage, OutboxMessage.kind == "agency_notice")
    assert any("Tiangnya juga miring" in notice.text for notice in notices)
    assert stranger.status_code == 403 and "Palsu" not in str(await rows(service, Message))
    assert empty.status_code == 422 and "Mohon tuliskan tambahannya" in empty.text


async def test_the_answer_is_rated_once_from_the_page(
    client: httpx.AsyncClient, service: Service, clock: FakeClock
) -> None:
    reference, k = await _filed(client)
    before = await client.get(f"/lacak/{reference}", params={"k": k})
    early = await post_form(client, {"k": k, "score": "5"}, f"/lacak/{reference}/nilai")
    await service.actions.answer(reference, "Lampu sudah diganti.", ADMIN)
    clock.advance(hours=1)
    answered = await client.get(f"/lacak/{reference}", params={"k": k})
    rated = await post_form(client, {"k": k, "score": "4"}, f"/lacak/{reference}/nilai")
    again = await post_form(client, {"k": k, "score": "1"}, f"/lacak/{reference}/nilai")
    unreadable = await post_form(client, {"k": k, "score": "9"}, f"/lacak/{reference}/nilai")

    assert 'id="rate"' not in before.text and "Belum ada pengaduan selesai" in early.text
    assert 'id="rate"' in answered.text
    assert rated.status_code == 200 and "penilaian 4/5" in rated.text
    assert "Nilai Anda: 4/5." in rated.text and 'id="rate"' not in rated.text
    assert f"Pengaduan {reference} sudah Anda nilai 4/5" in again.text
    assert unreadable.status_code == 422 and "Pilih nilai 1 sampai 5" in unreadable.text
    [complaint] = await rows(service, Complaint)
    assert complaint.rating == 4 and complaint.status == ComplaintStatus.ANSWERED
    rates = await rows(service, AuditEntry, AuditEntry.action == "rate")
    assert [entry.detail for entry in rates] == ["rating 4/5"]


async def test_the_pages_switch_keeps_the_addition_being_typed(
    client: httpx.AsyncClient,
) -> None:
    reference, k = await _filed(client)
    typed = {"k": k, "text": "Masih mati", "switch": "en"}
    switched = await post_form(client, typed, f"/lacak/{reference}/lang")
    planted = await client.post(f"/lacak/{reference}/lang", data=typed)
    assert switched.status_code == 200 and 'lang="en"' in switched.text
    assert "Add information" in switched.text and "Masih mati</textarea>" in switched.text
    assert 'lang="en"' in planted.text and "Masih mati" not in planted.text
