"""What every response of ours carries for the browser's protection, and the trailing-slash
redirect that names no host.

Pages are framed by no one (`frame-ancestors 'none'`, `X-Frame-Options`), load nothing from
elsewhere (the CSP allows our own origin, and the inline stylesheet of `base.html`), and no
address of ours is sent on in a Referer: a tracking page's carries the token that opens a
resident's conversation. The pages that show the token also forbid caching themselves
(`Cache-Control: no-store`); the form does not, so that Back returns to it as it was. The
API documentation pages load Swagger's and ReDoc's scripts, so the CSP leaves them out.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_DOCUMENTATION = ("/docs", "/redoc")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        documentation = str(scope["path"]).startswith(_DOCUMENTATION)

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                if headers.get("content-type", "").startswith("text/html"):
                    headers["X-Frame-Options"] = "DENY"
                    if not documentation:
                        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            await send(message)

        await self._app(scope, receive, guarded_send)


class SlashRedirect:
    """`GET /lacak/X/` → 308 to `/lacak/X`: a relative address, so a forged Host header is
    never echoed back (Starlette's own redirect builds an absolute URL from it)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or path == "/"
            or not path.endswith("/")
        ):
            await self._app(scope, receive, send)
            return
        # The path as it came, percent-encoding and all; "//evil.example/" keeps one leading
        # slash, or it would be an address on another host.
        raw = scope.get("raw_path") or path.encode()
        location = b"/" + bytes(raw).strip(b"/")
        if query := scope.get("query_string", b""):
            location += b"?" + query
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [(b"location", location), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})
