"""Fixtures: a real database per test (SQLite file, or a PostgreSQL schema), the service
wired by the real composition root with fakes we own, and its app served by uvicorn."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import Service
from config.settings import Settings
from storage.engine import make_engine
from tests.conftest import PG_URL, need_service
from tests.fakes import FakeClock, FakeEmailChannel, FakeSmsChannel
from tests.integration.db import prepared_service
from tests.integration.templates import release_schema, session_templates

_pg_checked: str | None = None
# The longest uvicorn may take to start or to stop.
SERVER_SECONDS = 10


async def _postgres_problem() -> str:
    import asyncpg

    try:
        connection = await asyncpg.connect(
            PG_URL.replace("postgresql+asyncpg", "postgresql"), timeout=3
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await connection.close()
    return ""


@pytest.fixture(scope="session", autouse=True)
def database_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The session's prepared databases that `prepared_service` copies; dropped at the end."""
    with session_templates(tmp_path_factory.mktemp("templates")):
        yield


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database(backend: str, tmp_path: Path) -> AsyncIterator[tuple[str, str | None]]:
    """(url, schema) of an empty database that only this test uses."""
    global _pg_checked
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'aduan.db'}", None
        return
    if _pg_checked is None:
        _pg_checked = await _postgres_problem()
    if _pg_checked:
        need_service("PostgreSQL at 127.0.0.1:5432", _pg_checked)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield PG_URL, schema
    await release_schema(PG_URL, schema)


@pytest.fixture
async def engine(database: tuple[str, str | None]) -> AsyncIterator[AsyncEngine]:
    url, schema = database
    engine = make_engine(url, schema=schema)
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sms() -> FakeSmsChannel:
    return FakeSmsChannel()


@pytest.fixture
def email() -> FakeEmailChannel:
    return FakeEmailChannel()


@pytest.fixture
def settings(database: tuple[str, str | None]) -> Settings:
    url, schema = database
    # No email unless a test brings one (a fake, or the real channel it points somewhere).
    return Settings(database_url=url, database_schema=schema, email_file_dir=None, _env_file=None)


@pytest.fixture
async def service(
    settings: Settings,
    engine: AsyncEngine,
    clock: FakeClock,
    sms: FakeSmsChannel,
    email: FakeEmailChannel,
) -> Service:
    return await prepared_service(settings, engine, clock, channels=[sms, email])


def _loopback_socket() -> socket.socket:
    """A listening socket on a free loopback port, bound before the server starts (no race)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def _until_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Wait for uvicorn (and so the app's lifespan) to be up, or surface why it is not."""
    async with asyncio.timeout(SERVER_SECONDS):
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started (lifespan failed?)")
            await asyncio.sleep(0.02)


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    """The running service's app over HTTP in this process, at its public address."""
    transport = httpx.ASGITransport(app=service.app)
    async with (
        service.running(),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c,
    ):
        yield c


@pytest.fixture
async def base_url(service: Service) -> AsyncIterator[str]:
    """The real app served over HTTP on loopback, in this test's event loop."""
    config = uvicorn.Config(
        service.app, lifespan="on", log_config=None, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    sock = _loopback_socket()
    host, port = sock.getsockname()
    task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        await _until_started(server, task)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(SERVER_SECONDS):
            await task
        sock.close()
