"""Leader leases: of all instances, one at a time holds a named lease (the one that polls).

PostgreSQL: a session advisory lock on a connection kept open while held; if the holder
dies, its connection closes and the lock is free for the next instance. The connection is
in autocommit and idle between checks, never inside a transaction, so a database's
`idle_in_transaction_session_timeout` does not end it and it holds no other lock. Each
`acquire` while held checks the connection still answers: one the database ended (a
restart, `pg_terminate_backend`) lost the lock with it, and the lease is given up, to be
competed for again after a while. Advisory locks belong to the whole database, so deployments kept
apart by schema (ADUAN_DATABASE_SCHEMA) lock keys of their own. SQLite serves one host: an
exclusive `flock` on a file beside the database does the same job.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
import zlib
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# An instance whose lease was lost leaves it this long to the standbys (they try every few
# seconds): its session was ended for a reason the others may not share.
STAND_BACK_SECONDS = 10.0


def lease_key(name: str, schema: str | None = None) -> int:
    """The advisory lock's key (a 64-bit number): a stable hash of the lease's name and of
    the schema, if any. Without a schema it is what it has always been, so instances of
    different versions in one deployment still exclude each other."""
    scope = f"aduan:{schema}:{name}" if schema else f"aduan:{name}"
    return zlib.crc32(scope.encode())


class LeaderLease:
    def __init__(
        self,
        engine: AsyncEngine,
        name: str,
        *,
        schema: str | None = None,
        stand_back: float = STAND_BACK_SECONDS,
    ) -> None:
        self._engine = engine
        self._name = name
        self.key = lease_key(name, schema)
        self._stand_back = stand_back
        self._lost_at: float | None = None
        self._connection: AsyncConnection | None = None
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    async def acquire(self) -> bool:
        """Take the lease if it is free; True while this instance holds it. Called again
        while held, it checks the lease was not lost; False too when the database cannot
        be reached (nobody can tell who holds it then)."""
        if self._file is not None:
            return True
        if self._engine.dialect.name == "sqlite":
            return self._acquire_file()
        if self._connection is not None:
            try:
                await self._connection.scalar(text("SELECT 1"))
                return True
            except SQLAlchemyError as exc:
                # Ended by the database, or left unusable by a check cancelled half-way.
                log.warning("lease %s lost with its database session: %s", self._name, exc)
                await self._drop()
                self._lost_at = time.monotonic()
        if self._lost_at is not None and time.monotonic() - self._lost_at < self._stand_back:
            return False
        self._lost_at = None
        try:
            return await self._lock()
        except (DBAPIError, OSError) as exc:
            log.warning("lease %s not taken: the database did not answer: %s", self._name, exc)
            return False

    async def _lock(self) -> bool:
        connection = await self._engine.connect()
        try:
            # No transaction is left open: the lock is the session's, not a transaction's.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            taken = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            )
        except BaseException:
            # Interrupted, the lock may have been granted: the session goes, and it with it,
            # rather than back to the pool.
            with contextlib.suppress(SQLAlchemyError, OSError):
                await connection.invalidate()
            await connection.close()
            raise
        if taken:
            self._connection = connection
            return True
        await connection.close()
        return False

    async def _drop(self) -> None:
        """Close the lease's database session, whatever state it is in."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await connection.invalidate()
                await connection.close()

    async def release(self) -> None:
        connection = self._connection
        if connection is not None:
            try:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            except SQLAlchemyError:
                # Closing the session ends its lock, if the database had not ended both.
                await self._drop()
            finally:
                if self._connection is not None:
                    self._connection = None
                    await connection.close()
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def _acquire_file(self) -> bool:
        database = make_url(str(self._engine.url)).database or "aduan"
        path = Path(f"{database}.{self._name}.lease") if database != ":memory:" else None
        if path is None:
            return True  # an in-memory database has one process by definition
        handle = path.open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        os.set_inheritable(handle.fileno(), False)
        self._file = handle
        return True
