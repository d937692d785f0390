"""Fixtures: a real database per test (SQLite file, or a PostgreSQL schema) and the service
wired by the real composition root with fakes we own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import Service
from config.settings import Settings
from storage.engine import make_engine
from tests.conftest import PG_URL, need_service
from tests.fakes import FakeClock, FakeEmailChannel, FakeSmsChannel
from tests.integration.db import prepared_service
from tests.integration.templates import session_templates

_pg_checked: str | None = None


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
    import asyncpg

    connection = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


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
