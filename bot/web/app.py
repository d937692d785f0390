"""The HTTP surface: the web channel's routes, public lookups and tracking pages, health,
OpenAPI."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.domain.clock import Clock
from bot.domain.lifecycle import ComplaintStatus
from bot.messaging.templates import format_when, render, status_label
from bot.messaging.tracking import TrackingLinks, conversation
from bot.web.hardening import SecurityHeaders, SlashRedirect
from bot.web.health import HealthStatus
from bot.web.public import PublicComplaint, public_complaint
from channels.web import TEMPLATES, ErrorOut, WebChannel, page_words
from storage.unit_of_work import UnitOfWorkFactory

# The service's own pages, framed by the web channel's base.html.
_PAGES = Path(__file__).parent / "pages"


class BodySizeLimit:
    """413 for bodies over `max_bytes`, declared or streamed, before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max:
            await self._too_large(send)
            return
        received = 0
        started = refused = False

        async def guarded_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max and not refused:
                    refused = True
                    if not started:
                        await self._too_large(send)
                    # The app sees the client gone and stops reading; its own answer is dropped.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self._app(scope, guarded_receive, guarded_send)

    async def _too_large(self, send: Send) -> None:
        body = json.dumps({"detail": f"request body is larger than {self._max} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


def create_app(
    *,
    web: WebChannel,
    routers: Sequence[APIRouter] = (),
    uow: UnitOfWorkFactory,
    clock: Clock,
    links: TrackingLinks,
    zone: ZoneInfo,
    health: HealthCheck,
    max_request_bytes: int,
    lifespan: Any = None,
) -> FastAPI:
    app = FastAPI(
        title="aduan",
        summary="Multichannel complaint service for city governments",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # SlashRedirect's, which names no host, instead
    app.add_middleware(BodySizeLimit, max_bytes=max_request_bytes)
    app.add_middleware(SlashRedirect)
    app.add_middleware(SecurityHeaders)
    app.include_router(web.router)
    for router in routers:  # other channels' endpoints: provider webhooks
        app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            if error["type"] == "json_invalid":
                reason = error.get("ctx", {}).get("error", "")
                problems.append({"field": "body", "message": f"not valid JSON ({reason})"})
                continue
            location = ".".join(str(part) for part in error["loc"] if part != "body") or "body"
            problems.append({"field": location, "message": error["msg"]})
        first = problems[0] if problems else {"field": "body", "message": "invalid request"}
        return JSONResponse(
            status_code=422,
            content={"detail": f"{first['field']}: {first['message']}", "errors": problems},
        )

    @app.get(
        "/api/complaints/{reference}",
        response_model=PublicComplaint,
        responses={404: {"model": ErrorOut}},
        tags=["complaints"],
        summary="Look up a complaint by reference (public; no personal data)",
    )
    async def lookup(reference: str) -> PublicComplaint:
        found = await public_complaint(uow, reference, clock.now())
        if found is None:
            raise HTTPException(404, f"no complaint has reference {reference!r}")
        return found

    pages = Jinja2Templates(directory=[_PAGES, TEMPLATES])

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

    @app.get("/healthz", tags=["operations"], summary="Database and channel health")
    async def healthz() -> JSONResponse:
        report = await health()
        # Degraded still serves: a load balancer keeps the instance, monitoring reads why.
        unavailable = report["status"] == HealthStatus.UNAVAILABLE
        return JSONResponse(report, status_code=503 if unavailable else 200)

    return app
