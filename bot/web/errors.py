"""What a client is told when its request fails.

Browsers (an `Accept` naming `text/html`) get a page saying it in Indonesian, then in
English, with the link back to the form, wherever no route of the JSON API answers: a path
that does not exist, a method a page does not take, a body refused before it was read, a
crash. Everyone else gets the API's error model: `{"detail": ...}`, and for a 422 the same
with `errors`, one entry per field. A database that cannot be used just now (restarting,
unreachable) is a 503 with `Retry-After`, not a crash: trying again shortly may work.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

from bot.messaging.templates import render
from bot.web.hardening import RequestRefused, protect
from channels.web import FieldError, ValidationErrorOut, page_words
from storage.errors import database_unavailable

# The page's sentences for a status: heading and explanation, `error_<name>[_text]`.
_PAGE_NAMES = {
    404: "not_found",
    405: "method",
    408: "timeout",
    413: "too_large",
    429: "too_many",
    500: "server",
}


_UNAVAILABLE = "the service cannot reach its database just now; please try again shortly"
_RETRY_AFTER_SECONDS = 5


class ErrorPages:
    def __init__(self, templates: Jinja2Templates) -> None:
        self._template = templates.get_template("error.html")

    def page(self, status: int) -> HTMLResponse:
        name = _PAGE_NAMES.get(status, "other")
        html = self._template.render(lang="id", t=page_words(render, "id"), problem=name)
        return HTMLResponse(html, status_code=status)

    def refusal(self, scope: Scope, refused: RequestRefused) -> Response:
        """A body refused before the app read it: a page for a browser, JSON otherwise."""
        if _accepts_html(Headers(scope=scope)):
            return self.page(refused.status)
        return JSONResponse({"detail": refused.detail}, status_code=refused.status)

    def install(self, app: FastAPI) -> None:
        app.add_exception_handler(HTTPException, self._http_error)  # type: ignore[arg-type]
        app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
        app.add_exception_handler(Exception, self._crash)

    async def _http_error(self, request: Request, exc: HTTPException) -> Response:
        if _wants_page(request):
            return self.page(exc.status_code)
        return await http_exception_handler(request, exc)

    async def _crash(self, request: Request, exc: Exception) -> Response:
        # Starlette answers a crash outside the middlewares: the headers are added here.
        response: Response
        if database_unavailable(exc):
            # A restarting database is not a fault in the request: the client may retry.
            response = (
                self.page(503)
                if _wants_page(request)
                else JSONResponse({"detail": _UNAVAILABLE}, status_code=503)
            )
            response.headers["Retry-After"] = str(_RETRY_AFTER_SECONDS)
        elif _wants_page(request):
            response = self.page(500)
        else:
            response = JSONResponse({"detail": "internal error"}, status_code=500)
        protect(response.headers)
        return response


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for error in exc.errors():
        if error["type"] == "json_invalid":
            reason = error.get("ctx", {}).get("error", "")
            problems.append(FieldError(field="body", message=f"not valid JSON ({reason})"))
            continue
        location = ".".join(str(part) for part in error["loc"] if part != "body") or "body"
        message = error["msg"].removeprefix("Value error, ")  # pydantic's, for our checks
        problems.append(FieldError(field=location, message=message))
    first = problems[0] if problems else FieldError(field="body", message="invalid request")
    body = ValidationErrorOut(detail=f"{first.field}: {first.message}", errors=problems)
    return JSONResponse(status_code=422, content=body.model_dump())


def _accepts_html(headers: Headers) -> bool:
    return "text/html" in headers.get("accept", "")


def _wants_page(request: Request) -> bool:
    """A browser, on a path no route has or on one of our pages (the API answers JSON)."""
    route = request.scope.get("route")
    page_route = route is None or (
        isinstance(route, APIRoute) and route.response_class is HTMLResponse
    )
    return page_route and _accepts_html(request.headers)
