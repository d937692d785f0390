"""SQLite on the event loop's own thread: aiosqlite's interface without its worker thread.

aiosqlite runs every call on a thread of its own and hands the result back through the
event loop. A SQLite call in WAL mode takes microseconds; the hand-off costs more than the
call itself, about 40 of them per message. `InlineConnection` keeps aiosqlite's interface
(which SQLAlchemy's `sqlite+aiosqlite` dialect drives) and runs each call directly.

That is safe only while no call waits inside the loop, and two kinds of call could:
- one that needs SQLite's lock while another process holds it (`aduan rules apply`,
  `aduan db upgrade` against the live file). SQLite's busy handler would sleep on the
  loop's thread, freezing web, health and polling alike; so the connection has no busy
  timeout, and a call SQLite answers "busy" is tried again after an asyncio sleep, for up
  to `busy_seconds`. Transactions of one process never meet that way: the engine holds
  one connection, so they queue in SQLAlchemy's asyncio-aware pool.
- a commit that syncs the disk (`synchronous=FULL`): it runs on a worker thread, which
  SQLite lets run while the loop goes on. (At `normal` a commit does not sync, and stays.)
Checkpoints, which sync the disk too, run on a thread of their own
(`storage.sqlite_checkpoint`).

The class overrides two private members of aiosqlite (`_tx`, `_execute`); the dependency
is bounded above in pyproject.toml for that reason.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite


class _InlineQueue:
    """Stands in for aiosqlite's queue to its worker thread: runs each call as it is put.

    Besides aiosqlite itself, SQLAlchemy's dialect puts calls on this queue directly (to
    set the isolation level), so it must keep the queue's `put_nowait` contract.
    """

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as the thread would
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


# Pauses between tries of a call SQLite answered "busy": short at first, since another
# process's write usually takes milliseconds.
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.1


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run at once on the calling thread, except a
    syncing commit; a call that finds the database locked waits without blocking."""

    def __init__(
        self,
        connector: Callable[[], sqlite3.Connection],
        *,
        busy_seconds: float,
        commit_in_thread: bool,
    ) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _InlineQueue()  # type: ignore[assignment]
        self._busy_seconds = busy_seconds
        self._commit_in_thread = commit_in_thread

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        connection = self._connection
        if not self._running or not connection:
            raise ValueError("Connection closed")
        if self._commit_in_thread and fn == connection.commit:
            return await asyncio.to_thread(fn)
        deadline = time.monotonic() + self._busy_seconds
        pause = _FIRST_PAUSE
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        # No worker thread to start.
        return self._connect().__await__()


def _busy(error: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused the call because another connection holds the lock: the call
    did nothing, and may be made again."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def inline_connector(
    path: str, *, busy_seconds: float, commit_in_thread: bool
) -> Callable[[], InlineConnection]:
    """An `async_creator`-style factory of inline connections to the database at `path`."""

    def connect() -> InlineConnection:
        return InlineConnection(
            # No busy timeout in SQLite itself: it would wait on the loop's thread.
            lambda: sqlite3.connect(path, timeout=0, check_same_thread=False),
            busy_seconds=busy_seconds,
            commit_in_thread=commit_in_thread,
        )

    return connect
