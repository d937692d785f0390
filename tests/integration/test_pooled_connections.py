"""PostgreSQL connections the server dropped while they sat in the pool: a connection idle
for a while is pinged and replaced before use; one used again at once is not pinged, and
the statement that finds it dropped replaces the pool, while a webhook's delivery is kept
all the same."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import Service
from channels.base import ChannelName, RawDelivery
from config.settings import Settings
from storage.engine import make_engine
from storage.errors import connection_dropped
from storage.models import DeliveryState, KeptDelivery
from tests.fakes import FakeClock, FakeEmailChannel, FakeSmsChannel
from tests.integration.db import prepared_service, rows

# Longer than any test here takes: a connection back in the pool is "used at once".
NEVER = 3600.0


@pytest.fixture
def backend() -> str:
    """SQLite has no server to drop a connection."""
    return "postgresql"


@pytest.fixture
async def admin(database: tuple[str, str | None]) -> AsyncIterator[AsyncEngine]:
    url, _ = database
    engine = make_engine(url)
    yield engine
    await engine.dispose()


async def pooled_backend(engine: AsyncEngine) -> int:
    """The server process behind the one connection `engine` now pools."""
    await engine.dispose()
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT pg_backend_pid()")))


async def drop(admin: AsyncEngine, pid: int) -> None:
    """End backend `pid`'s session as a restart or an idle timeout would, and wait for it."""
    async with admin.connect() as connection:
        ended = await connection.scalar(
            text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid}
        )
    assert ended


async def test_a_dropped_connection_idle_past_the_window_is_replaced_before_use(
    database: tuple[str, str | None], admin: AsyncEngine
) -> None:
    url, schema = database
    engine = make_engine(url, schema=schema, ping_after_idle=0)
    try:
        pid = await pooled_backend(engine)
        await drop(admin, pid)

        async with engine.connect() as connection:
            replaced = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert replaced != pid
    finally:
        await engine.dispose()


async def test_a_connection_used_again_at_once_is_not_pinged_and_its_drop_replaces_the_pool(
    database: tuple[str, str | None], admin: AsyncEngine
) -> None:
    url, schema = database
    engine = make_engine(url, schema=schema, ping_after_idle=NEVER)
    try:
        pid = await pooled_backend(engine)
        await drop(admin, pid)

        with pytest.raises(DBAPIError) as raised:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        assert connection_dropped(raised.value)

        async with engine.connect() as connection:
            replaced = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert replaced != pid
    finally:
        await engine.dispose()


async def test_a_webhooks_delivery_is_kept_on_a_new_connection_when_the_pooled_one_was_dropped(
    settings: Settings,
    database: tuple[str, str | None],
    admin: AsyncEngine,
    clock: FakeClock,
    sms: FakeSmsChannel,
    email: FakeEmailChannel,
) -> None:
    url, schema = database
    engine = make_engine(url, schema=schema, ping_after_idle=NEVER)
    try:
        service: Service = await prepared_service(settings, engine, clock, channels=[sms, email])
        await drop(admin, await pooled_backend(engine))

        delivery = RawDelivery(ChannelName.SMS, "sms", "SM-dropped", b"Body=x", clock.now())
        await service.inbox.receive(delivery)  # raises DeliveryNotKept if it was not kept

        [kept] = await rows(service, KeptDelivery, KeptDelivery.key == "SM-dropped")
        # The fake SMS adapter cannot process it: kept to be tried again, not lost.
        assert kept.state is DeliveryState.PENDING
        assert kept.payload == b"Body=x"
    finally:
        await engine.dispose()
