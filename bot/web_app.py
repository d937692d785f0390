"""The HTTP surface: the web channel's routes, public lookups, health, OpenAPI."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.clock import Clock
from bot.queries import PublicComplaint, public_complaint
from channels.web import ErrorOut, WebChannel
from storage.unit_of_work import UnitOfWorkFactory


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
    app.add_middleware(BodySizeLimit, max_bytes=max_request_bytes)
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

    @app.get("/healthz", tags=["operations"], summary="Database and channel health")
    async def healthz() -> JSONResponse:
        report = await health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    return app
