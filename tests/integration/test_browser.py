"""The public complaint form in a real browser (Debian's Chromium, driven by Playwright).

The real app is built by the composition root and served by uvicorn on a loopback port
(conftest's `base_url`), lifespan included, so a form post travels the whole path: HTTP → web
channel → intake → database → the result page, and the outbox sends the acknowledgement to
the resident.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from bot.bootstrap import Service
from bot.domain.references import ALPHABET
from bot.officers.actions import Actor, Role
from storage.models import Attachment, Complaint, OutboxMessage
from tests.conftest import need_service
from tests.fakes import FakeClock, FakeSmsChannel, inbound
from tests.integration.db import count, rows, settled
from tests.integration.forms import gps_of, photo_with_location

try:
    from playwright.async_api import async_playwright, expect

    PLAYWRIGHT_PROBLEM = ""
except ImportError as exc:  # reported by the `browser` fixture
    PLAYWRIGHT_PROBLEM = f"the playwright package cannot be imported ({exc})"

if TYPE_CHECKING:
    from playwright.async_api import Browser, FilePayload, Geolocation, Page, Response

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
REFERENCE = re.compile(rf"^[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}$")
PHONE = "0812 3456 7890"
PHONE_E164 = "+6281234567890"
COMPLAINT = "Lampu jalan di Jl. Mawar mati sejak Senin"
WAIT_MS = 10_000


@pytest.fixture
def backend() -> str:
    """SQLite only: these tests are about the browser and HTTP; intake runs on both engines
    in test_intake.py. Delete this fixture to run them on PostgreSQL too."""
    return "sqlite"


# --- the browser ---------------------------------------------------------------------------


def _browser_problem() -> str:
    """Why no browser test can run here, or "" when Playwright and Chromium are both present."""
    if PLAYWRIGHT_PROBLEM:
        return PLAYWRIGHT_PROBLEM
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return ""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless; never a browser build downloaded by Playwright."""
    problem = _browser_problem()
    if problem:
        need_service("Chromium", problem)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser, base_url: str) -> AsyncIterator[Page]:
    """A fresh browsing context whose relative URLs point at the app."""
    context = await browser.new_context(base_url=base_url)
    context.set_default_timeout(WAIT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


# --- helpers -------------------------------------------------------------------------------


async def _fill_form(
    page: Page, *, text: str, location: str = "", name: str = "", contact: str = ""
) -> None:
    """Type into the complaint form the way a resident would."""
    await page.locator("#text").fill(text)
    await page.locator("#location").fill(location)
    await page.locator("#name").fill(name)
    await page.locator("#contact").fill(contact)


async def _submit(page: Page) -> Response:
    """Press the form's button and return the response to the POST it makes."""
    async with page.expect_navigation() as navigation:
        await page.locator("#send").click()
    response = await navigation.value
    assert response is not None
    return response


async def _shown_reference(page: Page) -> str:
    """The reference on the result page, checked against the reference alphabet."""
    await expect(page.locator("#reference")).to_have_text(REFERENCE)
    return (await page.locator("#reference").inner_text()).strip()


async def _sms_to(sms: FakeSmsChannel, recipient: str) -> list[str]:
    """Texts the outbox has sent by SMS to `recipient`, waiting briefly for the first."""
    for _ in range(WAIT_MS // 50):
        if texts := [m.text for m in sms.sent if m.recipient == recipient]:
            return texts
        await asyncio.sleep(0.05)
    raise AssertionError(f"no SMS to {recipient} within {WAIT_MS} ms")


# --- scenarios -----------------------------------------------------------------------------


async def test_resident_files_a_complaint_in_indonesian(
    page: Page, base_url: str, service: Service, sms: FakeSmsChannel, tmp_path: Path
) -> None:
    await page.goto("/")
    await expect(page.locator("html")).to_have_attribute("lang", "id")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Pengaduan Warga")

    await _fill_form(
        page, text=COMPLAINT, location="Jl. Mawar, Kel. Sukamaju", name="Budi", contact=PHONE
    )
    response = await _submit(page)

    assert response.status == 201
    await expect(page.get_by_role("heading", level=2)).to_have_text("Pengaduan diterima")
    reference = await _shown_reference(page)
    await expect(page.locator("#message")).to_contain_text("Dinas Perhubungan")
    await expect(page.locator("#message")).to_contain_text(reference)
    screenshot = tmp_path / "filed.png"
    await page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 0

    async with httpx.AsyncClient(base_url=base_url) as client:
        looked_up = await client.get(f"/api/complaints/{reference}")
    assert looked_up.status_code == 200
    assert looked_up.json()["agency"]["code"] == "DISHUB"
    assert looked_up.json()["channel"] == "web"
    assert await count(service, Complaint) == 1
    # Nothing reaches the number typed until its owner confirms it with the code sent there.
    await expect(page.locator("#confirm-contact")).to_be_visible()
    assert [m for m in sms.sent if m.recipient == PHONE_E164] == []
    # The link names ADUAN_PUBLIC_BASE_URL; this test's server listens elsewhere.
    link = await page.locator("#tracking").get_attribute("href") or ""
    await page.goto(link[link.index("/lacak/") :])
    await page.locator("#send-code").click()
    await expect(page.locator("#said")).to_contain_text("Kode sudah kami kirim")
    [message] = await _sms_to(sms, PHONE_E164)
    code = re.search(r"\b(\d{6})\b", message)
    assert code is not None and reference in message
    await page.locator("#code").fill(code[1])
    await page.locator("#confirm-code").click()
    await expect(page.locator("#said")).to_contain_text("sudah dikonfirmasi")
    confirmed = tmp_path / "confirmed.png"
    await page.screenshot(path=confirmed, full_page=True)
    assert confirmed.stat().st_size > 0


async def test_english_switch_gives_an_english_form_and_answer(page: Page) -> None:
    await page.goto("/")
    await page.get_by_role("button", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#send")).to_have_text("Send complaint")

    await _fill_form(page, text="The street light (lampu jalan) on Jl. Mawar is out since Monday")
    response = await _submit(page)

    assert response.status == 201
    await expect(page.get_by_role("heading", level=2)).to_have_text("Complaint received")
    reference = await _shown_reference(page)
    await expect(page.locator("#message")).to_contain_text(
        f"Thank you, your complaint is registered as {reference}"
    )


async def test_invalid_contact_keeps_what_the_resident_typed(page: Page, service: Service) -> None:
    text = "Sampah menumpuk di TPS Jl. Melati sudah seminggu,\nbaunya sampai ke rumah warga"
    await page.goto("/")
    await _fill_form(page, text=text, location="Jl. Melati", name="Sari", contact="abc")
    response = await _submit(page)

    assert response.status == 422
    await expect(page.get_by_role("alert")).to_have_text("Nomor HP atau alamat email tidak valid.")
    await expect(page.locator("#text")).to_have_value(text)
    await expect(page.locator("#location")).to_have_value("Jl. Melati")
    await expect(page.locator("#name")).to_have_value("Sari")
    await expect(page.locator("#contact")).to_have_value("abc")
    assert await count(service, Complaint) == 0

    # Correcting only the contact is enough to file it.
    await page.locator("#contact").fill(PHONE)
    assert (await _submit(page)).status == 201
    await _shown_reference(page)
    assert await count(service, Complaint) == 1


async def test_reloading_the_result_page_files_one_complaint(page: Page, service: Service) -> None:
    await page.goto("/")
    submission_id = await page.locator("input[name=submission_id]").input_value()
    await _fill_form(page, text=COMPLAINT, location="Jl. Mawar", contact=PHONE)
    assert (await _submit(page)).status == 201
    first = await _shown_reference(page)

    # Reloading a POST result posts the same form again: same hidden submission_id.
    replayed = await page.reload()
    assert replayed is not None
    assert replayed.request.method == "POST"
    assert submission_id in (replayed.request.post_data or "")
    assert replayed.status == 201

    assert await _shown_reference(page) == first
    assert await count(service, Complaint) == 1


async def test_back_and_submit_again_files_one_complaint(page: Page, service: Service) -> None:
    await page.goto("/")
    submission_id = await page.locator("input[name=submission_id]").input_value()
    await _fill_form(page, text=COMPLAINT, location="Jl. Mawar", contact=PHONE)
    assert (await _submit(page)).status == 201
    first = await _shown_reference(page)

    await page.go_back()
    await expect(page.locator("#text")).to_have_value(COMPLAINT)
    resubmitted = await _submit(page)
    again = await _shown_reference(page)

    assert submission_id in (resubmitted.request.post_data or "")
    assert again == first
    assert await count(service, Complaint) == 1


@pytest.mark.parametrize(
    ("path", "shown"),
    [("/docs", ".opblock-summary-description"), ("/redoc", "h2")],
    ids=["swagger-ui", "redoc"],
)
async def test_api_documentation_works_offline_under_our_policy(
    page: Page, base_url: str, tmp_path: Path, path: str, shown: str
) -> None:
    elsewhere: list[str] = []  # requests for anything not on our loopback server
    refused: list[str] = []  # requests the browser itself refused, by our CSP
    problems: list[str] = []
    local = (base_url, "data:", "blob:")
    page.on("request", lambda r: None if r.url.startswith(local) else elsewhere.append(r.url))
    page.on(
        "requestfailed",
        lambda r: refused.append(r.url) if r.failure == "csp" else None,
    )
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda error: problems.append(str(error)))

    response = await page.goto(path)

    assert response is not None and response.status == 200
    assert "script-src 'self'" in (await response.all_headers())["content-security-policy"]
    for operation in ("File a complaint", "Add information to a complaint"):
        await expect(page.locator(shown).filter(has_text=operation).first).to_be_visible()
    await page.screenshot(path=tmp_path / f"{path.strip('/')}.png", full_page=True)
    # ReDoc's sidebar shows Redocly's logo from their CDN: the policy stops it unsent.
    assert elsewhere == refused
    assert [text for text in problems if not any(url in text for url in refused)] == []


# --- the transparency page ---------------------------------------------------------------

# Where the screenshots of the public pages are kept (CI uploads them); a test's own
# temporary directory when unset.
ARTEFACTS = os.environ.get("ADUAN_TEST_ARTEFACTS")


async def _answered_and_not(service: Service, clock: FakeClock) -> None:
    """Complaints for three agencies over October and November, some answered."""
    admin = Actor(Role.ADMIN, 1, "Admin")
    texts = [
        "Lampu jalan di Jl. Mawar mati sejak Senin",
        "Sampah menumpuk di pasar Kliwon",
        "Jalan berlubang besar di Jl. Melati",
        "Sampah tidak diangkut di RT 03",
        "Lampu lalu lintas di perempatan Tugu mati",
    ]
    start = clock.now()
    for day in range(0, 40, 3):
        clock.move_to(start - timedelta(days=40 - day))
        filed = []
        for number, text in enumerate(texts[: 2 + day % 4]):
            sender = f"+628130{day:03d}{number:04d}"
            filed.append(await service.deliver(inbound(text, sender=sender, at=clock.now())))
        clock.advance(hours=20 + day)
        for receipt in filed[::2]:
            await service.actions.answer(receipt.reference or "", "Sudah ditangani.", admin)
        while await service.dispatcher.dispatch_once():
            pass
    clock.move_to(start)


# The texts under `selector` that the page lays out over more than one line.
_BROKEN_ACROSS_LINES = """(selector) => {
  const texts = document.createTreeWalker(document.querySelector(selector), NodeFilter.SHOW_TEXT);
  const broken = [];
  for (let text = texts.nextNode(); text; text = texts.nextNode()) {
    const range = document.createRange();
    range.selectNodeContents(text);
    if (text.textContent.trim() && range.getClientRects().length > 1) broken.push(text.textContent);
  }
  return broken;
}"""


@pytest.mark.parametrize(("name", "width", "height"), [("desktop", 1280, 900), ("phone", 360, 740)])
async def test_the_transparency_page_reads_on_a_desktop_and_a_phone(
    browser: Browser,
    base_url: str,
    service: Service,
    clock: FakeClock,
    tmp_path: Path,
    name: str,
    width: int,
    height: int,
) -> None:
    await _answered_and_not(service, clock)
    context = await browser.new_context(
        base_url=base_url, viewport={"width": width, "height": height}
    )
    try:
        page = await context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "response",
            lambda r: (
                problems.append(r.url)
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        response = await page.goto("/transparansi")
        assert response is not None and response.status == 200
        await expect(page.locator("#figures caption")).to_be_visible()
        await expect(page.locator("#figures tbody tr")).not_to_have_count(0)
        # Nothing wider than the screen but the tables, which scroll in their own box rather
        # than squeeze their columns until months and agency codes break letter by letter.
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        assert await page.evaluate(_BROKEN_ACROSS_LINES, "#trend") == []
        # Each agency's bars say which months they run from and to, as the table does.
        months = page.locator("#trend thead th.number")
        ends = [await months.first.inner_text(), await months.last.inner_text()]
        await expect(page.locator(".trend figure").first.locator(".months span")).to_have_text(ends)
        if name == "desktop":  # the latest month shows without scrolling
            box = "document.querySelector('#trend').parentElement"
            assert await page.evaluate(f"{box}.scrollWidth <= {box}.clientWidth")
        # Where it must scroll, it opens at the latest month, the agency codes beside it.
        latest = await months.last.bounding_box()
        agency = await page.locator("#trend thead th").first.bounding_box()
        assert latest is not None and latest["x"] + latest["width"] <= width
        assert agency is not None and agency["x"] >= 0
        folder = Path(ARTEFACTS) if ARTEFACTS else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=folder / f"transparansi-{name}.png", full_page=True)

        await page.get_by_role("link", name=re.compile("^Terlambat")).first.click()
        await expect(page.locator("#figures th[aria-sort=descending]")).to_contain_text("Terlambat")
        await page.get_by_role("link", name="English").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator("#figures th[aria-sort=descending]")).to_contain_text("Overdue")
        await page.screenshot(path=folder / f"transparansi-{name}-en.png", full_page=True)
        assert problems == []
    finally:
        await context.close()


# --- the resident's whole flow, at a desktop's width and a phone's ---------------------------

# Where the browser says the resident stands: Malioboro, Yogyakarta.
HERE: Geolocation = {"latitude": -7.792622, "longitude": 110.365761}
OFFICER = Actor(Role.ADMIN, 7, "Rina (admin)")
# Every element with text of its own: its colour, and the first opaque background behind it.
_COLOURS = """() => {
  const opaque = (element) => {
    for (let at = element; at; at = at.parentElement) {
      const background = getComputedStyle(at).backgroundColor;
      if (!/rgba\\(.*, 0\\)$/.test(background) && background !== "transparent") return background;
    }
    return "rgb(255, 255, 255)";
  };
  return [...document.querySelectorAll("body *")]
    .filter((e) => e.checkVisibility() && [...e.childNodes].some(
      (n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim()))
    .map((e) => [e.tagName + (e.id ? "#" + e.id : ""), getComputedStyle(e).color, opaque(e)]);
}"""


def _luminance(colour: str) -> float:
    red, green, blue = (int(part) / 255 for part in re.findall(r"\d+", colour)[:3])

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


async def _readable(page: Page, width: int) -> None:
    """Every text on the page has a contrast of 4.5:1 at least (WCAG AA), and nothing is
    wider than the window (no sideways scrolling on a phone)."""
    low = []
    for element, colour, background in await page.evaluate(_COLOURS):
        lighter, darker = sorted((_luminance(colour), _luminance(background)), reverse=True)
        if (lighter + 0.05) / (darker + 0.05) < 4.5:
            low.append((element, colour, background))
    assert low == []
    assert await page.evaluate("document.documentElement.scrollWidth") <= width


def _file(name: str, media_type: str, content: bytes) -> FilePayload:
    """A file as the resident picks it for the form's file field."""
    return {"name": name, "mimeType": media_type, "buffer": content}


async def _shot(page: Page, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    await page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 0


@pytest.mark.parametrize(
    ("width", "height"), [(1280, 900), (360, 740)], ids=["desktop", "phone-360px"]
)
async def test_the_residents_whole_flow(
    browser: Browser,
    base_url: str,
    service: Service,
    tmp_path: Path,
    width: int,
    height: int,
) -> None:
    context = await browser.new_context(
        base_url=base_url,
        viewport={"width": width, "height": height},
        geolocation=HERE,
        permissions=["geolocation"],
    )
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    problems: list[str] = []
    # Script errors, and requests refused (the browser's own favicon.ico, which no page
    # names, aside).
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    try:
        await page.goto("/")
        await expect(page.locator("#emergency")).to_contain_text("112")
        await _readable(page, width)
        await page.get_by_label("Isi pengaduan").fill(COMPLAINT)
        await page.get_by_role("textbox", name="Lokasi").fill("Jl. Malioboro, depan pasar")
        await page.locator("#use-location").click()
        await expect(page.locator("#location-said")).to_have_text(
            "Lokasi dari perangkat Anda ikut dikirim."
        )
        # By keyboard: the next field takes the focus, and shows that it has it.
        await page.locator("#name").focus()
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.id") == "contact"
        outline = "getComputedStyle(document.activeElement).outlineStyle"
        assert await page.evaluate(outline) == "solid"
        await _shot(page, tmp_path, "form-typed")

        # The switch keeps everything typed, the browser's position too.
        await page.locator("#switch").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.get_by_label("Your complaint")).to_have_value(COMPLAINT)
        await expect(page.locator("#location")).to_have_value("Jl. Malioboro, depan pasar")
        await expect(page.locator("#latitude")).to_have_value(str(HERE["latitude"]))
        photo = _file("IMG_0042.jpg", "image/jpeg", photo_with_location())
        await page.locator("#photo").set_input_files(files=[photo])
        await _shot(page, tmp_path, "form-en-with-photo")
        assert (await _submit(page)).status == 201
        reference = await _shown_reference(page)
        await _readable(page, width)
        await _shot(page, tmp_path, "filed")
        link = await page.locator("#tracking").get_attribute("href") or ""

        # The reference box, from the form: the public page, without the conversation.
        await page.goto("/?lang=en")
        await page.get_by_label("Reference number").fill(reference.lower())
        await page.get_by_label("Reference number").press("Enter")
        await expect(page).to_have_url(re.compile(rf"/lacak/{reference}\?lang=en$"))
        await expect(page.locator("#conversation-hidden")).to_be_visible()
        await _readable(page, width)
        await _shot(page, tmp_path, "looked-up")

        # The link's page: add information, then rate the answer once there is one.
        await page.goto(link[link.index("/lacak/") :])
        await page.get_by_label("What you want to add for the agency").fill("The pole leans too")
        await page.locator("#add").click()
        await expect(page.locator("#said")).to_contain_text(reference)
        await expect(page.locator("#conversation")).to_contain_text("The pole leans too")
        await service.actions.answer(reference, "Lampu sudah kami ganti.", OFFICER)
        await settled(service, OutboxMessage.kind == "officer_reply")  # then the page shows it
        await page.reload()
        await expect(page.locator("#conversation")).to_contain_text("Lampu sudah kami ganti.")
        await page.locator("#score-4").focus()
        await page.keyboard.press("Space")
        await page.locator("#rate").click()
        await expect(page.locator("#rated")).to_have_text("Your rating: 4/5.")
        await _readable(page, width)
        await _shot(page, tmp_path, "rated")

        # Its switch keeps the addition being typed.
        await page.locator("#addition").fill("Masih berkedip di malam hari")
        await page.locator("#switch").click()
        await expect(page.locator("html")).to_have_attribute("lang", "id")
        await expect(page.locator("#addition")).to_have_value("Masih berkedip di malam hari")
        await _shot(page, tmp_path, "tracking-switched")

        await page.locator("#privacy-link").click()
        await expect(page.locator("#privacy")).to_have_text("Pemberitahuan privasi")
        await _readable(page, width)
        await _shot(page, tmp_path, "privacy")
    finally:
        await context.close()

    assert problems == []
    [complaint] = await rows(service, Complaint)
    assert (complaint.latitude, complaint.longitude) == (HERE["latitude"], HERE["longitude"])
    assert complaint.location_text == "Jl. Malioboro, depan pasar" and complaint.rating == 4
    [kept] = await rows(service, Attachment)
    assert gps_of(kept.content) == {}  # not shared: the place it was taken is gone


async def test_a_refused_photo_brings_the_form_back_saying_why(
    page: Page, service: Service, tmp_path: Path
) -> None:
    await page.goto("/")
    await _fill_form(page, text=COMPLAINT, location="Jl. Mawar")
    await page.locator("#photo").set_input_files(
        files=[_file("surat.jpg", "image/jpeg", b"%PDF-1.7 not a photo")]
    )
    response = await _submit(page)

    assert response.status == 422
    await expect(page.locator("#photo-problem")).to_contain_text("bukan foto JPEG")
    await expect(page.locator("#photo")).to_have_attribute("aria-describedby", "photo-problem")
    await expect(page.locator("#text")).to_have_value(COMPLAINT)
    await _shot(page, tmp_path, "photo-refused")
    assert await count(service, Complaint) == 0
