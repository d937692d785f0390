"""Async engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import aiosqlite
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sqlite_checkpoint import AUTOCHECKPOINT_PAGES, WalCheckpointer
from storage.sqlite_inline import inline_connector

SessionFactory = async_sessionmaker[AsyncSession]
# How long a SQLite call waits for another process's lock (awaiting, not blocking the loop;
# see storage.sqlite_inline) before it fails with "database is locked".
BUSY_SECONDS = 30.0
# A PostgreSQL connection back from the pool after this long unused is pinged before use.
# SQLAlchemy's pool_pre_ping pings every time: BEGIN, a query and ROLLBACK, three round
# trips before each transaction, which cost a sixth of intake's throughput one message at
# a time (bench.intake). Busy connections come back within milliseconds; a ping catches
# the idle timeouts, failovers and restarts that drop quiet ones. A restart (0.25 s for an
# idle cluster here) that falls within this window is met by the next statement instead,
# as one during a transaction is: SQLAlchemy then replaces every pooled connection, the
# caller is told the database is unavailable, and a webhook's delivery is kept on a new
# connection (bot.intake.inbox).
PING_AFTER_IDLE_SECONDS = 0.1
_IDLE_SINCE = "aduan_idle_since"


def make_engine(
    url: str,
    *,
    schema: str | None = None,
    echo: bool = False,
    sqlite_synchronous: Literal["full", "normal"] = "full",
    ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
) -> AsyncEngine:
    """Build the engine; `schema` puts every table in one PostgreSQL schema, created if missing.

    SQLite syncs every commit to disk (`synchronous=FULL`): a commit the service reported
    (to a provider, to a resident) survives a power failure. `normal` syncs at checkpoints
    only: still safe against a process crash, but the last commits can be lost with power.
    A PostgreSQL connection unused for `ping_after_idle` seconds is pinged before use.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo, synchronous=sqlite_synchronous)
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    engine = create_async_engine(
        url, echo=echo, connect_args=connect_args, pool_size=10, max_overflow=10
    )
    _ping_when_idle(engine, ping_after_idle)
    if schema:

        @event.listens_for(engine.sync_engine, "connect")
        def _ensure_schema(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            cursor.close()
            # Committed now: were the connection's first use a read that ends in a rollback
            # (a schema check), the schema would go with it and the next write find none.
            dbapi_connection.commit()

    return engine


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection before use when it sat unused for `idle_seconds`; one the
    server dropped is replaced, and with it every connection pooled before (a restart
    drops them all), as pool_pre_ping does."""
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                # The pool replaces it (and the older ones) and checks out again.
                raise exc.InvalidatePoolError(
                    f"the server dropped the connection: {error}"
                ) from error
            raise


def _sqlite_engine(url: str, *, echo: bool, synchronous: Literal["full", "normal"]) -> AsyncEngine:
    database = make_url(url).database or ":memory:"
    in_file = database != ":memory:"
    if in_file:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect = inline_connector(
        database, busy_seconds=BUSY_SECONDS, commit_in_thread=synchronous == "full"
    )

    async def creator() -> aiosqlite.Connection:
        return await connect()

    # One connection per file (see storage.sqlite_inline); SQLAlchemy gives a database in
    # memory its one shared connection by itself.
    pool = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 60} if in_file else {}
    engine = create_async_engine(url, echo=echo, async_creator=creator, **pool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so we can open them IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the writer; see make_engine for `synchronous`.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        if in_file:
            checkpointer = record.info["checkpointer"] = WalCheckpointer(database)
            checkpointer.start()

    @event.listens_for(engine.sync_engine.pool, "close")
    def _on_close(_dbapi_connection: Any, record: Any) -> None:
        # Before the connection closes, so that the last one out may remove the log.
        if checkpointer := record.info.pop("checkpointer", None):
            checkpointer.stop()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails at once with "database is
        # locked" when another writer got there first; taking the write lock up front makes
        # concurrent writers wait for the lock instead (see storage.sqlite_inline).
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, autoflush=False)
