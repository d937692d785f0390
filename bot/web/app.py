"""The HTTP surface: the web channel's routes, public lookups and tracking pages, the public
figures and their open data, health, OpenAPI."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.domain.clock import Clock
from bot.domain.lifecycle import RATEABLE_STATES, ComplaintStatus
from bot.intake.verification import ContactVerification, Verdict, VerificationResult
from bot.messaging.templates import format_when, render, status_label
from bot.messaging.tracking import TrackingLinks, conversation, given_rating
from bot.sla.figures import Transparency
from bot.web.docs import STATIC, add_documentation
from bot.web.errors import ErrorPages
from bot.web.hardening import (
    BodySizeLimit,
    BodyTimeout,
    HeadAsGet,
    PostsPerIp,
    SecurityHeaders,
    SlashRedirect,
)
from bot.web.health import HealthReport, HealthStatus
from bot.web.public import PublicComplaint, public_complaint
from bot.web.transparency import transparency_routes
from channels.base import Outcome, one_line
from channels.web import MAX_TEXT, PHOTO_FORM_PATHS, TEMPLATES, WebChannel, refusals
from storage.unit_of_work import UnitOfWorkFactory

# The service's own pages, framed by the web channel's base.html.
_PAGES = Path(__file__).parent / "pages"


HealthCheck = Callable[[], Awaitable[HealthReport]]
# The page's status when a code was not sent or not taken.
_REFUSED_VERDICTS = {
    Verdict.TOO_SOON: 429,
    Verdict.NO_MORE_CODES: 429,
    Verdict.WRONG: 422,
    Verdict.EXPIRED: 422,
}


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Said:
    """What the tracking page tells the resident about what they just did, and its status."""

    text: str
    ok: bool
    status: int
    # The field it is about, if it is about one (the addition's text).
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Posted:
    form: FormData
    k: str
    language: str
    # Why the post may not act, if it may not.
    refused: Said | None


# A post whose link token opens nothing does nothing, and the page shows the public view.
_NOT_OPENED = Said("", ok=False, status=403)
# What adding to a complaint from its page may come to, besides refusals.
_ADDED = frozenset({Outcome.FOLLOW_UP, Outcome.REOPENED})
_SCORES = frozenset(str(score) for score in range(1, 6))


def _verification_said(result: VerificationResult) -> Said:
    ok = result.verdict in (Verdict.SENT, Verdict.CONFIRMED)
    return Said(result.message, ok=ok, status=_REFUSED_VERDICTS.get(result.verdict, 200))


def _added_problem(text: str, language: str) -> Said | None:
    if not text.strip():
        return Said(render("tracking_add_missing", language), False, 422, "addition")
    if len(text) > MAX_TEXT:
        too_long = f"{render('form_too_long', language)} {render('form_at_most', language)} "
        return Said(
            f"{too_long}{MAX_TEXT} {render('form_characters', language)}.", False, 422, "addition"
        )
    return None


def create_app(
    *,
    web: WebChannel,
    routers: Sequence[APIRouter] = (),
    uow: UnitOfWorkFactory,
    clock: Clock,
    links: TrackingLinks,
    verification: ContactVerification,
    figures: Transparency,
    zone: ZoneInfo,
    health: HealthCheck,
    max_request_bytes: int,
    body_timeout_seconds: float,
    photo_max_bytes: int = 0,
    posts_per_ip: tuple[int, timedelta] | None = None,
    trusted_proxies: Sequence[IPv4Network | IPv6Network] = (),
    lifespan: Any = None,
) -> FastAPI:
    app = FastAPI(
        title="aduan",
        summary="Multichannel complaint service for city governments",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served from the package instead of a CDN: add_documentation
        redoc_url=None,
    )
    pages = Jinja2Templates(directory=[_PAGES, TEMPLATES])
    web.frame(pages)
    errors = ErrorPages(pages)
    errors.install(app)
    app.router.redirect_slashes = False  # SlashRedirect's, which names no host, instead
    app.add_middleware(
        BodySizeLimit,
        refusal=errors.refusal,
        max_bytes=max_request_bytes,
        # The form takes a photo: its posts alone may bring one on top.
        larger={path: max_request_bytes + photo_max_bytes for path in PHOTO_FORM_PATHS},
    )
    app.add_middleware(BodyTimeout, refusal=errors.refusal, seconds=body_timeout_seconds)
    if posts_per_ip is not None:
        posts, window = posts_per_ip
        app.add_middleware(
            PostsPerIp,
            refusal=errors.refusal,
            posts=posts,
            window=window,
            trusted=trusted_proxies,
            now=clock.now,
        )
    app.add_middleware(SlashRedirect)
    app.add_middleware(HeadAsGet)
    app.add_middleware(SecurityHeaders)
    add_documentation(app, openapi_url=app.openapi_url or "/openapi.json")
    # The public pages' own scripts ("use my location"), never inline: the CSP forbids it.
    app.mount("/static/pages", StaticFiles(directory=STATIC / "pages"), name="page scripts")
    # Other channels' endpoints (provider webhooks), /metrics: first, because routes are
    # tried in order and the webhooks are most of the traffic at load.
    for router in routers:
        app.include_router(router)
    app.include_router(web.router)
    app.include_router(transparency_routes(figures, pages))

    @app.get(
        "/api/complaints/{reference}",
        response_model=PublicComplaint,
        responses=refusals(404, 422),
        tags=["complaints"],
        summary="Look up a complaint by reference (public; no personal data)",
    )
    async def lookup(reference: str) -> PublicComplaint:
        found = await public_complaint(uow, reference, clock.now())
        if found is None:
            raise HTTPException(404, f"no complaint has reference {reference!r}")
        return found

    async def tracking(
        request: Request,
        reference: str,
        k: str | None,
        lang: str,
        *,
        said: Said | None = None,
        adding: str = "",
    ) -> HTMLResponse:
        """The resident's page: the public view; with a valid `k`, the conversation, the
        contact the complaint was filed with (to confirm), and forms to add to it and rate
        it. A wrong or missing token shows the public view, exactly as for anyone else."""
        language = "en" if lang == "en" else "id"
        found = await public_complaint(uow, reference, clock.now())
        opened = found is not None and await links.opens(found.reference, k)
        messages = await conversation(uow, found.reference) if found and opened else None
        claim = await verification.claim(found.reference) if found and opened else None
        rating = await given_rating(uow, found.reference) if found and opened else None

        def when(moment: datetime) -> str:
            return format_when(moment, language, zone)

        def label(status: str) -> str:
            return status_label(ComplaintStatus(status), language)

        def claim_words(key: str) -> str:
            return render(key, language, contact=claim.contact if claim else "")

        status = 200 if found else 404
        # Echoed from the address bar: no bidi override may turn the city's sentence round.
        typed = one_line(reference[:40]) or ""
        if said is not None:
            status = said.status
        response = await web.page(
            request,
            "tracking.html",
            {
                "lang": language,
                "not_found": render("tracking_not_found", language, typed=typed),
                "typed": typed,
                "complaint": found,
                "conversation": messages,
                "token": k if opened else None,
                "claim": claim,
                "claim_words": claim_words,
                "said": said,
                "adding": adding,
                "limit": MAX_TEXT,
                "rateable": found is not None and found.status in RATEABLE_STATES,
                "rating": rating,
                "submission_id": uuid.uuid4().hex,
                "when": when,
                "label": label,
            },
            status_code=status,
            templates=pages,
        )
        response.headers["Cache-Control"] = "no-store"  # the address carries the token
        return response

    @app.get("/lacak/{reference}", response_class=HTMLResponse, include_in_schema=False)
    async def tracking_page(
        request: Request, reference: str, k: str | None = None, lang: str = "id"
    ) -> HTMLResponse:
        return await tracking(request, reference, k, lang)

    async def posted_to(request: Request, reference: str) -> Posted:
        """A post from the tracking page: its fields, and whether it may act (the form's
        CSRF token matches the browser's cookie, and the link's token opens the complaint)."""
        form = await _typed_fields(request)
        k, language = _field(form, "k"), "en" if _field(form, "lang") == "en" else "id"
        if not await web.forms.accepts(request, form):
            expired = Said(render("form_expired", language), ok=False, status=403)
            return Posted(form, k, language, refused=expired)
        opens = await links.opens(reference, k)
        return Posted(form, k, language, refused=None if opens else _NOT_OPENED)

    @app.post("/lacak/{reference}/kode", response_class=HTMLResponse, include_in_schema=False)
    async def send_code(request: Request, reference: str) -> HTMLResponse:
        """Send a one-time code to the contact the complaint was filed with."""
        posted = await posted_to(request, reference)
        said = posted.refused
        if said is None:
            result = await verification.send_code(reference, posted.language)
            said = _verification_said(result) if result else None
        return await tracking(request, reference, posted.k, posted.language, said=said)

    @app.post("/lacak/{reference}/konfirmasi", response_class=HTMLResponse, include_in_schema=False)
    async def confirm_code(request: Request, reference: str) -> HTMLResponse:
        """The code the contact received, entered by the filer: the contact is confirmed."""
        posted = await posted_to(request, reference)
        said = posted.refused
        code = _field(posted.form, "code")[:20]
        if said is None and (
            result := await verification.confirm(reference, code, posted.language)
        ):
            said = _verification_said(result)
        return await tracking(request, reference, posted.k, posted.language, said=said)

    @app.post("/lacak/{reference}/tambah", response_class=HTMLResponse, include_in_schema=False)
    async def add_information(request: Request, reference: str) -> HTMLResponse:
        """What the resident adds from their page: a follow-up, as the complaint's resident."""
        posted = await posted_to(request, reference)
        text = _field(posted.form, "text")
        said = posted.refused or _added_problem(text, posted.language)
        if said is None:
            receipt = await web.submit(
                web.inbound(
                    text,
                    idempotency_key=_field(posted.form, "submission_id") or None,
                    reference=reference,
                    language=posted.language,
                    holds_tracking_link=True,
                )
            )
            said = Said(receipt.reply_text, ok=receipt.outcome in _ADDED, status=200)
            text = "" if said.ok else text
        return await tracking(request, reference, posted.k, posted.language, said=said, adding=text)

    @app.post("/lacak/{reference}/nilai", response_class=HTMLResponse, include_in_schema=False)
    async def rate(request: Request, reference: str) -> HTMLResponse:
        """The resident's rating of how their complaint was handled (1–5)."""
        posted = await posted_to(request, reference)
        score = _field(posted.form, "score")
        said = posted.refused
        if said is None and score not in _SCORES:
            said = Said(render("tracking_rate_missing", posted.language), ok=False, status=422)
        if said is None:
            receipt = await web.submit(
                web.inbound(
                    score,
                    idempotency_key=_field(posted.form, "submission_id") or None,
                    reference=reference,
                    language=posted.language,
                    holds_tracking_link=True,
                    rating=int(score),
                )
            )
            said = Said(receipt.reply_text, ok=receipt.outcome is Outcome.COMMAND, status=200)
        return await tracking(request, reference, posted.k, posted.language, said=said)

    @app.post("/lacak/{reference}/lang", response_class=HTMLResponse, include_in_schema=False)
    async def switch_language(request: Request, reference: str) -> HTMLResponse:
        """The page's language switch: the page again in the other language, keeping what
        was typed to add (unless another site posted it: it could put words in the form)."""
        form = await _typed_fields(request)
        language = "en" if _field(form, "switch") == "en" else "id"
        typed = _field(form, "text")[:MAX_TEXT] if await web.forms.accepts(request, form) else ""
        return await tracking(request, reference, _field(form, "k"), language, adding=typed)

    @app.get(
        "/healthz",
        tags=["operations"],
        summary="Database and channel health",
        response_model=HealthReport,
        responses={503: {"model": HealthReport, "description": "The database does not answer"}},
    )
    async def healthz() -> JSONResponse:
        report = await health()
        # Degraded still serves: a load balancer keeps the instance, monitoring reads why.
        unavailable = report.status is HealthStatus.UNAVAILABLE
        return JSONResponse(report.model_dump(mode="json"), status_code=503 if unavailable else 200)

    return app


async def _typed_fields(request: Request) -> FormData:
    """A tracking page's form: typed fields only. A body that is not one (a file in it, a
    broken multipart) reads as empty, which no form token matches: the page says so, where
    Starlette would answer its JSON 400."""
    try:
        return await request.form(max_files=0)
    except StarletteHTTPException:
        return FormData()
