"""Leader leases on a real PostgreSQL: held outside any transaction, lost leases noticed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import Service, bootstrap
from channels.telegram import TelegramChannel
from config.settings import Settings
from storage.engine import make_engine
from storage.lease import LeaderLease
from storage.models import Complaint
from tests.fakes import FakeClock
from tests.fakes.telegram_api import FakeBotApi, TgUser, running_fake_bot_api
from tests.integration.db import prepared_service, rows

NAME = "telegram-poll"


@pytest.fixture
def backend() -> str:
    """Advisory locks are PostgreSQL's; SQLite's lease is a file lock."""
    return "postgresql"


async def holder_pid(engine: AsyncEngine, lease: LeaderLease) -> int | None:
    """The backend whose session holds `lease`'s advisory lock, if any."""
    async with engine.connect() as connection:
        pid = await connection.scalar(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = 0 AND objid = CAST(:key AS bigint)::oid AND objsubid = 1"
                " AND database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())"
            ),
            {"key": lease.key},
        )
    return int(pid) if pid is not None else None


async def terminate(engine: AsyncEngine, pid: int) -> None:
    """End backend `pid`'s session, waiting (up to 10 s) until it is gone, and its locks."""
    async with engine.connect() as connection:
        ended = await connection.scalar(
            text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid}
        )
    assert ended, f"backend {pid} still there"


async def test_a_lease_whose_session_the_database_ended_is_noticed_and_taken_over(
    database: tuple[str, str | None], engine: AsyncEngine
) -> None:
    _, schema = database
    mine = LeaderLease(engine, NAME, schema=schema, stand_back=0)
    rival = LeaderLease(engine, NAME, schema=schema)
    try:
        assert await mine.acquire() and not await rival.acquire()
        pid = await holder_pid(engine, mine)
        assert pid is not None
        await terminate(engine, pid)
        assert await rival.acquire()  # the lock went with the session
        assert not await mine.acquire() and not mine.held  # noticed, and not held twice
        await rival.release()
        assert await mine.acquire()  # a new session takes it when it is free again
        assert await holder_pid(engine, mine) not in (None, pid)
    finally:
        for lease in (mine, rival):
            await lease.release()


@pytest.fixture
async def impatient_role(database: tuple[str, str | None]) -> AsyncIterator[AsyncEngine]:
    """An engine for a role of its own whose sessions the database ends after 200 ms idle in
    a transaction (set on the role, as a DBA would; not on the role other tests use)."""
    url, _ = database
    role = f"lease_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    database_name = make_url(url).database
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        await connection.execute(
            text(
                f'ALTER ROLE "{role}" IN DATABASE "{database_name}"'
                " SET idle_in_transaction_session_timeout = '200ms'"
            )
        )
    engine = make_engine(make_url(url).set(username=role).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
                {"r": role},
            )
            await connection.execute(text(f'DROP ROLE "{role}"'))
        await admin.dispose()


async def test_a_lease_outlives_the_idle_in_transaction_timeout(
    database: tuple[str, str | None], engine: AsyncEngine, impatient_role: AsyncEngine
) -> None:
    _, schema = database
    mine = LeaderLease(impatient_role, NAME, schema=schema)
    rival = LeaderLease(engine, NAME, schema=schema)
    try:
        assert await mine.acquire()
        pid = await holder_pid(engine, mine)
        await asyncio.sleep(1)  # five times the timeout
        assert not await rival.acquire()
        assert await holder_pid(engine, mine) == pid  # the same session, never ended
        assert await mine.acquire()
    finally:
        for lease in (mine, rival):
            await lease.release()


# --- the Telegram poller -----------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    """Now: Telegram stamps messages with the real time."""
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with running_fake_bot_api() as fake:
        yield fake


async def test_a_poller_that_lost_its_lease_stops_and_a_standby_takes_over(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, api: FakeBotApi
) -> None:
    leader = await prepared_service(settings, engine, clock, **api.service_settings())
    standby: Service = bootstrap(leader.settings, clock=clock, engine=engine)
    channels = [leader.channels["telegram"], standby.channels["telegram"]]
    assert all(isinstance(channel, TelegramChannel) for channel in channels)
    leases = [channel._lease for channel in channels if isinstance(channel, TelegramChannel)]
    assert all(isinstance(lease, LeaderLease) for lease in leases)
    leader_lease, standby_lease = (lease for lease in leases if isinstance(lease, LeaderLease))
    async with leader.running():
        await api.wait_for_call("getUpdates")
        async with standby.running():
            assert leader_lease.held and not standby_lease.held
            pid = await holder_pid(engine, leader_lease)
            assert pid is not None
            await terminate(engine, pid)
            # The standby retries every 2 s; the leader checks before each long poll (1 s),
            # then stands back for 10 s.
            for _ in range(300):
                if standby_lease.held and not leader_lease.held:
                    break
                await asyncio.sleep(0.1)
            assert standby_lease.held and not leader_lease.held
            resident = TgUser(44, "Wati")
            api.push_update(api.text_message(resident, "Lampu jalan mati di gang 5"))
            await api.wait_for_sent(
                lambda m: m.chat_id == resident.id and "Terima kasih" in (m.text or ""),
                timeout=30,
            )
            assert not leader_lease.held  # it stays a standby
    assert len(await rows(leader, Complaint)) == 1
