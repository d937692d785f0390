"""What every response of ours carries for the browser's protection, the trailing-slash
redirect that names no host, and the bounds on a request's body (size, and time to arrive).

Pages are framed by no one (`frame-ancestors 'none'`, `X-Frame-Options`), load nothing from
elsewhere (the CSP allows our own origin, and the inline stylesheet of `base.html`), and no
address of ours is sent on in a Referer: a tracking page's carries the token that opens a
resident's conversation. The pages that show the token also forbid caching themselves
(`Cache-Control: no-store`); the form is `private` (its CSRF token is one browser's), so
that Back returns to it as it was.
"""

from __future__ import annotations

import asyncio
import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address
from types import MappingProxyType

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def protect(headers: MutableHeaders) -> None:
    """Add the browser's protections to a response's headers."""
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    if headers.get("content-type", "").startswith("text/html"):
        headers["X-Frame-Options"] = "DENY"
        # A page that runs an inline script of its own names it, by hash, in its own policy.
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                protect(MutableHeaders(scope=message))
            await send(message)

        await self._app(scope, receive, guarded_send)


class HeadAsGet:
    """HEAD answered as GET without the body (RFC 9110 9.3.2): uptime checks and link
    checkers ask with HEAD, and FastAPI's routes answer only the methods they name."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self._app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self._app({**scope, "method": "GET"}, receive, headers_only)


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


class RequestRefused(Exception):
    """A request's body broke a bound; `detail` says which, for the client."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


# Our answer to a refused request, as the client prefers it (a page or JSON).
Refusal = Callable[[Scope, RequestRefused], Response]
# Reads the next message of one request, raising RequestRefused when it breaks the bound.
Reader = Callable[[], Awaitable[Message]]


class _BodyGuard(ABC):
    """Refuses a request while its body arrives. The client gets our answer, with the
    connection closed (the rest of the body is never read), unless the app has begun its
    own; the app then reads a disconnect, stops, and whatever it answers is dropped."""

    def __init__(self, app: ASGIApp, refusal: Refusal) -> None:
        self._app = app
        self._refusal = refusal

    @abstractmethod
    def _reader(self, scope: Scope, receive: Receive) -> Reader:
        """One request's reader; raises RequestRefused if its headers already break the bound."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        try:
            read = self._reader(scope, receive)
        except RequestRefused as early:
            await self._refuse(scope, receive, send, early)
            return
        started = refused = False

        async def guarded_receive() -> Message:
            nonlocal refused
            if refused:
                return {"type": "http.disconnect"}
            try:
                return await read()
            except RequestRefused as exc:
                refused = True
                if not started:
                    await self._refuse(scope, receive, send, exc)
                return {"type": "http.disconnect"}

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self._app(scope, guarded_receive, guarded_send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, refused: RequestRefused
    ) -> None:
        response = self._refusal(scope, refused)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


class BodySizeLimit(_BodyGuard):
    """413 for bodies over `max_bytes`, declared or streamed, before anything parses them;
    POSTs to the paths in `larger` (a form taking a photo) may bring that many bytes."""

    def __init__(
        self,
        app: ASGIApp,
        refusal: Refusal,
        max_bytes: int,
        larger: Mapping[str, int] = MappingProxyType({}),
    ) -> None:
        super().__init__(app, refusal)
        self._max = max_bytes
        self._larger = larger

    def _reader(self, scope: Scope, receive: Receive) -> Reader:
        cap = self._max
        if scope["method"] == "POST":
            cap = self._larger.get(str(scope.get("path", "")), cap)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise _too_large(cap)
        received = 0

        async def read() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > cap:
                raise _too_large(cap)
            return message

        return read


def _too_large(cap: int) -> RequestRefused:
    return RequestRefused(413, f"request body is larger than {cap} bytes")


class BodyTimeout(_BodyGuard):
    """408 for a body that has not wholly arrived `seconds` after the request's headers: a
    client trickling (or stalling) its body would otherwise hold a connection and a request
    open for as long as it likes. Once the body is in, waiting (for a disconnect) is free."""

    def __init__(self, app: ASGIApp, refusal: Refusal, seconds: float) -> None:
        super().__init__(app, refusal)
        self._seconds = seconds

    def _reader(self, scope: Scope, receive: Receive) -> Reader:
        deadline = asyncio.get_running_loop().time() + self._seconds
        complete = False

        async def read() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestRefused(
                    408, f"the request body did not arrive within {self._seconds:g} s"
                ) from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        return read


class FixedWindows:
    """At most `limit` events per key per `window`, in fixed windows (one starts with the
    first event after the previous one ended), counted in this instance's memory."""

    # Windows kept at most, then the ended ones are dropped (memory stays bounded).
    _KEPT = 10_000

    def __init__(self, limit: int, window: timedelta) -> None:
        self._limit = limit
        self._window = window
        self._windows: dict[str, tuple[datetime, int]] = {}

    def count(self, key: str, now: datetime) -> int | None:
        """Count one event of `key`; None if allowed, else the seconds until it may be."""
        started, counted = self._windows.get(key, (now, 0))
        if now - started >= self._window:
            started, counted = now, 0
        if len(self._windows) >= self._KEPT:
            self._windows = {
                kept: value
                for kept, value in self._windows.items()
                if now - value[0] < self._window
            }
        self._windows[key] = (started, counted + 1)
        if counted < self._limit:
            return None
        return max(1, math.ceil((started + self._window - now).total_seconds()))


class PostsPerIp:
    """At most `posts` POSTs per client IP per `window` to what anyone may post to without an
    account (the form, the JSON API, the tracking page's forms; not the providers'
    webhooks, which carry their own signatures, nor Open311, limited per key): 429 with
    Retry-After beyond it.

    Windows are fixed, as the sender limit's; counts are kept in this instance's memory, so
    with N instances behind a balancer a client may post up to N times the limit. The client
    is the peer, unless the peer is a trusted proxy: then the nearest address in
    X-Forwarded-For that is not one of the trusted proxies.
    """

    # Paths whose posts are limited otherwise.
    _EXEMPT = ("/webhooks/", "/open311/")

    def __init__(
        self,
        app: ASGIApp,
        refusal: Refusal,
        *,
        posts: int,
        window: timedelta,
        trusted: Sequence[IPv4Network | IPv6Network],
        now: Callable[[], datetime],
    ) -> None:
        self._app = app
        self._refusal = refusal
        self._trusted = tuple(trusted)
        self._now = now
        self._windows = FixedWindows(posts, window)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or scope["method"] != "POST" or path.startswith(self._EXEMPT):
            await self._app(scope, receive, send)
            return
        wait = self._windows.count(client_ip(scope, self._trusted), self._now())
        if wait is None:
            await self._app(scope, receive, send)
            return
        response = self._refusal(
            scope, RequestRefused(429, "too many requests from this address; try again later")
        )
        response.headers["Retry-After"] = str(wait)
        await response(scope, receive, send)


def client_ip(scope: Scope, trusted: Sequence[IPv4Network | IPv6Network]) -> str:
    """The client's address: the peer's, or, behind trusted proxies, the nearest address in
    X-Forwarded-For that is not a trusted proxy's (what a client writes there itself is
    further left, and never read past an untrusted hop)."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not _within(peer, trusted):
        return str(peer)
    forwarded = [
        value.decode("latin-1")
        for name, value in scope.get("headers", [])
        if name == b"x-forwarded-for"
    ]
    hops = [hop.strip() for hop in ",".join(forwarded).split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ip_address(hop)
        except ValueError:
            return str(peer)  # a hop that is no address: nothing left of it can be trusted
        if not _within(hop, trusted):
            return hop
    return hops[0] if hops else str(peer)


def _within(address: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
