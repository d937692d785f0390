"""The public complaint form in a real browser (Debian's Chromium, driven by Playwright).

The real app is built by the composition root and served by uvicorn on a loopback port
(conftest's `base_url`), lifespan included, so a form post travels the whole path: HTTP → web
channel → intake → database → the result page, and the outbox sends the acknowledgement to
the resident.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from bot.bootstrap import Service
from bot.domain.references import ALPHABET
from storage.models import Complaint
from tests.conftest import need_service
from tests.fakes import FakeSmsChannel
from tests.integration.db import count

try:
    from playwright.async_api import async_playwright, expect

    PLAYWRIGHT_PROBLEM = ""
except ImportError as exc:  # reported by the `browser` fixture
    PLAYWRIGHT_PROBLEM = f"the playwright package cannot be imported ({exc})"

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, Response

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
