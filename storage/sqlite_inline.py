"""SQLite on the event loop's own thread: aiosqlite's interface without its worker thread.

aiosqlite runs every call on a thread of its own and hands the result back through the
event loop. A SQLite call in WAL mode takes microseconds; the hand-off costs more than the
call itself, about 40 of them per message. `InlineConnection` keeps aiosqlite's interface
(which SQLAlchemy's `sqlite+aiosqlite` dialect drives) and runs each call directly.

That is safe only while nothing waits on SQLite's lock inside the loop. `storage.engine`
ensures it: the engine holds one connection, so transactions of one process queue in
SQLAlchemy's asyncio-aware pool instead of in SQLite's busy handler. Another process
writing the same file can still make a call wait (up to the busy timeout): the embedded
default is one instance; several instances share PostgreSQL. Checkpoints, which sync the
disk, run on a thread of their own (`storage.sqlite_checkpoint`).
"""

from __future__ import annotations

import asyncio
import sqlite3
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


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run at once on the calling thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _InlineQueue()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        # No worker thread to start.
        return self._connect().__await__()


def inline_connector(path: str, **kwargs: Any) -> Callable[[], InlineConnection]:
    """An `async_creator`-style factory of inline connections to the database at `path`."""

    def connect() -> InlineConnection:
        return InlineConnection(lambda: sqlite3.connect(path, **kwargs))

    return connect
