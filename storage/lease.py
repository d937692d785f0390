"""Leader leases: of all instances, one at a time holds a named lease (the one that polls).

PostgreSQL: a session advisory lock on a connection kept open while held; if the holder
dies, its connection closes and the lock is free for the next instance. Advisory locks
belong to the whole database, so deployments kept apart by schema (ADUAN_DATABASE_SCHEMA)
lock keys of their own. SQLite serves one host: an exclusive `flock` on a file beside the
database does the same job.
"""

from __future__ import annotations

import fcntl
import os
import zlib
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def lease_key(name: str, schema: str | None = None) -> int:
    """The advisory lock's key (a 64-bit number): a stable hash of the lease's name and of
    the schema, if any. Without a schema it is what it has always been, so instances of
    different versions in one deployment still exclude each other."""
    scope = f"aduan:{schema}:{name}" if schema else f"aduan:{name}"
    return zlib.crc32(scope.encode())


class LeaderLease:
    def __init__(self, engine: AsyncEngine, name: str, *, schema: str | None = None) -> None:
        self._engine = engine
        self._name = name
        self.key = lease_key(name, schema)
        self._connection: AsyncConnection | None = None
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    async def acquire(self) -> bool:
        """Take the lease if it is free; True while this instance holds it."""
        if self.held:
            return True
        if self._engine.dialect.name == "sqlite":
            return self._acquire_file()
        connection = await self._engine.connect()
        try:
            taken = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            )
        except Exception:
            await connection.close()
            raise
        if taken:
            self._connection = connection
            return True
        await connection.close()
        return False

    async def release(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": self.key}
                )
            finally:
                await self._connection.close()
                self._connection = None
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
