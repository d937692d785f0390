"""The HTTP surface: the web channel's routes, public lookups and tracking pages, the public
figures and their open data, health, OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from bot.domain.clock import Clock
from bot.domain.lifecycle import ComplaintStatus
from bot.messaging.templates import format_when, render, status_label
from bot.messaging.tracking import TrackingLinks, conversation
from bot.sla.figures import Transparency
from bot.web.docs import add_documentation
from bot.web.errors import ErrorPages
from bot.web.hardening import BodySizeLimit, BodyTimeout, SecurityHeaders, SlashRedirect
from bot.web.health import HealthStatus
from bot.web.public import PublicComplaint, public_complaint
from bot.web.transparency import transparency_routes
from channels.web import TEMPLATES, WebChannel, page_words, refusals
from storage.unit_of_work import UnitOfWorkFactory

# The service's own pages, framed by the web channel's base.html.
_PAGES = Path(__file__).parent / "pages"


HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


def create_app(
    *,
    web: WebChannel,
    routers: Sequence[APIRouter] = (),
    uow: UnitOfWorkFactory,
    clock: Clock,
    links: TrackingLinks,
    figures: Transparency,
    zone: ZoneInfo,
    health: HealthCheck,
    max_request_bytes: int,
    body_timeout_seconds: float,
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
    app.add_middleware(SlashRedirect)
    app.add_middleware(SecurityHeaders)
    add_documentation(app, openapi_url=app.openapi_url or "/openapi.json")
    app.include_router(web.router)
    app.include_router(transparency_routes(figures, pages))
    for router in routers:  # other channels' endpoints: provider webhooks
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

    @app.get("/lacak/{reference}", response_class=HTMLResponse, include_in_schema=False)
    async def tracking_page(
        request: Request, reference: str, k: str | None = None, lang: str = "id"
    ) -> HTMLResponse:
        """The resident's page: the public view, and the conversation with a valid `k`.

        A wrong or missing token shows the public view, exactly as for anyone else.
        """
        language = "en" if lang == "en" else "id"
        found = await public_complaint(uow, reference, clock.now())
        opened = found is not None and await links.opens(found.reference, k)
        messages = await conversation(uow, found.reference) if found and opened else None

        def when(moment: datetime) -> str:
            return format_when(moment, language, zone)

        def label(status: str) -> str:
            return status_label(ComplaintStatus(status), language)

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
                "when": when,
                "label": label,
            },
            status_code=200 if found else 404,
        )
        response.headers["Cache-Control"] = "no-store"  # the address carries the token
        return response

    @app.get(
        "/healthz",
        tags=["operations"],
        summary="Database and channel health",
        responses={503: {"description": "The database does not answer"}},
    )
    async def healthz() -> JSONResponse:
        report = await health()
        # Degraded still serves: a load balancer keeps the instance, monitoring reads why.
        unavailable = report["status"] == HealthStatus.UNAVAILABLE
        return JSONResponse(report, status_code=503 if unavailable else 200)

    return app
