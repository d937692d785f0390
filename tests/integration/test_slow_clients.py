"""Clients that send a request's body slowly, or never finish it, against the real app
served by uvicorn on loopback, over raw sockets: each is answered 408 and disconnected once
ADUAN_HTTP_BODY_TIMEOUT_SECONDS have passed since its headers, instead of holding its
connection (and a request) open for as long as it likes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from config.settings import Settings

TIMEOUT = 1.0
# From the deadline to the closed connection, on a busy test machine.
SLACK = 3.0
HEAD = (
    b"POST /api/complaints HTTP/1.1\r\nHost: aduan.test\r\n"
    b"Content-Type: application/json\r\nContent-Length: 200\r\n"
)
PART = b'{"text": "Lampu jalan di Jl. Mawar'


@pytest.fixture
def backend() -> str:
    return "sqlite"  # about HTTP, not storage


@pytest.fixture
def settings(database: tuple[str, str | None]) -> Settings:
    url, schema = database
    return Settings(
        database_url=url,
        database_schema=schema,
        email_file_dir=None,
        http_body_timeout_seconds=TIMEOUT,
        web_posts_per_ip="off",  # a hundred clients from one loopback address
        _env_file=None,
    )


@dataclass
class Client:
    """One raw connection that sent its headers and part of a body, then stalled."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter  # kept: a collected writer closes its connection
    sent_at: float

    async def until_closed(self) -> tuple[bytes, float]:
        """Everything the server sends until it closes the connection, and how long after
        the headers it did."""
        async with asyncio.timeout(TIMEOUT + SLACK):
            answer = await self.reader.read()
        return answer, asyncio.get_running_loop().time() - self.sent_at


async def stalled(base_url: str, head: bytes = HEAD, part: bytes = PART) -> Client:
    address = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(head + b"\r\n" + part)
    await writer.drain()
    return Client(reader, writer, asyncio.get_running_loop().time())


async def test_a_stalled_body_gets_408_and_the_connection_closed(base_url: str) -> None:
    client = await stalled(base_url)
    answer, waited = await client.until_closed()

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in head.lower()
    assert body == b'{"detail":"the request body did not arrive within 1 s"}'
    assert TIMEOUT - 0.1 <= waited < TIMEOUT + SLACK


async def test_a_trickled_body_is_bounded_in_all_not_per_read(base_url: str) -> None:
    client = await stalled(base_url, part=b"")

    async def trickle() -> None:
        for _ in range(100):  # a byte every 0.1 s: never idle for long, never done
            client.writer.write(b"a")
            await client.writer.drain()
            await asyncio.sleep(0.1)

    trickling = asyncio.create_task(trickle())
    try:
        answer, waited = await client.until_closed()
    finally:
        trickling.cancel()
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert waited < TIMEOUT + SLACK


async def test_a_hundred_stalled_bodies_are_all_let_go(base_url: str) -> None:
    clients = await asyncio.gather(*(stalled(base_url) for _ in range(100)))
    answers = await asyncio.gather(*(client.until_closed() for client in clients))
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer, _ in answers)


async def test_a_browser_is_told_on_a_page(base_url: str) -> None:
    form = HEAD.replace(b"application/json", b"application/x-www-form-urlencoded")
    client = await stalled(
        base_url, form.replace(b"/api/complaints", b"/filed") + b"Accept: text/html\r\n"
    )
    answer, _ = await client.until_closed()
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"content-type: text/html" in answer.lower()
    assert b"content-security-policy: default-src 'self'" in answer.lower()
    assert b"Pengiriman terlalu lama" in answer
    assert b"Sending took too long" in answer
