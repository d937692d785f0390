"""The HTTP surface: the web channel's routes, public lookups and tracking pages, the public
figures and their open data, health, OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from bot.domain.clock import Clock
from bot.domain.lifecycle import ComplaintStatus
from bot.intake.verification import ContactVerification, Verdict, VerificationResult
from bot.messaging.templates import format_when, render, status_label
from bot.messaging.tracking import TrackingLinks, conversation
from bot.sla.figures import Transparency
from bot.web.docs import add_documentation
from bot.web.errors import ErrorPages
from bot.web.hardening import (
    BodySizeLimit,
    BodyTimeout,
    PostsPerIp,
    SecurityHeaders,
    SlashRedirect,
)
from bot.web.health import HealthReport, HealthStatus
from bot.web.public import PublicComplaint, public_complaint
from bot.web.transparency import transparency_routes
from channels.web import TEMPLATES, WebChannel, page_words, refusals
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
    errors = ErrorPages(pages)
    errors.install(app)
    app.router.redirect_slashes = False  # SlashRedirect's, which names no host, instead
    app.add_middleware(BodySizeLimit, refusal=errors.refusal, max_bytes=max_request_bytes)
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
    app.add_middleware(SecurityHeaders)
    add_documentation(app, openapi_url=app.openapi_url or "/openapi.json")
    app.include_router(web.router)
    app.include_router(transparency_routes(figures, pages))
    for router in routers:  # other channels' endpoints (provider webhooks), /metrics
        app.include_router(router)

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
        said: VerificationResult | None = None,
    ) -> HTMLResponse:
        """The resident's page: the public view; with a valid `k`, the conversation and the
        contact the complaint was filed with, to confirm. A wrong or missing token shows the
        public view, exactly as for anyone else."""
        language = "en" if lang == "en" else "id"
        found = await public_complaint(uow, reference, clock.now())
        opened = found is not None and await links.opens(found.reference, k)
        messages = await conversation(uow, found.reference) if found and opened else None
        claim = await verification.claim(found.reference) if found and opened else None

        def when(moment: datetime) -> str:
            return format_when(moment, language, zone)

        def label(status: str) -> str:
            return status_label(ComplaintStatus(status), language)

        def claim_words(key: str) -> str:
            return render(key, language, contact=claim.contact if claim else "")

        status = 200 if found else 404
        if said is not None and said.verdict in _REFUSED_VERDICTS:
            status = _REFUSED_VERDICTS[said.verdict]
        response = pages.TemplateResponse(
            request,
            "tracking.html",
            {
                "lang": language,
                "t": page_words(render, language),
                "not_found": render("tracking_not_found", language, typed=reference[:40]),
                "typed": reference[:40],
                "complaint": found,
                "conversation": messages,
                "token": k if opened else None,
                "claim": claim,
                "claim_words": claim_words,
                "said": said,
                "when": when,
                "label": label,
            },
            status_code=status,
        )
        response.headers["Cache-Control"] = "no-store"  # the address carries the token
        return response

    @app.get("/lacak/{reference}", response_class=HTMLResponse, include_in_schema=False)
    async def tracking_page(
        request: Request, reference: str, k: str | None = None, lang: str = "id"
    ) -> HTMLResponse:
        return await tracking(request, reference, k, lang)

    # Both posts carry the link's token, which no other site can know: it is their CSRF token.
    @app.post("/lacak/{reference}/kode", response_class=HTMLResponse, include_in_schema=False)
    async def send_code(request: Request, reference: str) -> HTMLResponse:
        """Send a one-time code to the contact the complaint was filed with."""
        posted = await request.form(max_files=0)
        k, language = _field(posted, "k"), "en" if _field(posted, "lang") == "en" else "id"
        said = None
        if await links.opens(reference, k):
            said = await verification.send_code(reference, language)
        return await tracking(request, reference, k, language, said=said)

    @app.post("/lacak/{reference}/konfirmasi", response_class=HTMLResponse, include_in_schema=False)
    async def confirm_code(request: Request, reference: str) -> HTMLResponse:
        """The code the contact received, entered by the filer: the contact is confirmed."""
        posted = await request.form(max_files=0)
        k, language = _field(posted, "k"), "en" if _field(posted, "lang") == "en" else "id"
        said = None
        if await links.opens(reference, k):
            said = await verification.confirm(reference, _field(posted, "code")[:20], language)
        return await tracking(request, reference, k, language, said=said)

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
