"""Group commit: work handed in concurrently shares one transaction and one commit.

A transaction costs a BEGIN, a COMMIT (writing every page it touched) and the unit of
work around it, whatever it holds; rows appended to the same tables share their INSERT
statements and their pages. When several callers hand in work while a transaction runs,
`GroupCommit` takes everything that queued meanwhile into the next transaction, one item
after another in arrival order, and answers each caller once that transaction committed.
A caller alone gets a transaction of its own at once: nobody waits for company. A caller
that gives up (is cancelled) before its transaction begins has nothing done; after that,
its item is committed or not with the others, as a provider's retry will find.

An item that cannot share (its work raises, or asks for a transaction of its own by
raising `NeedsOwnTransaction`) makes the shared transaction roll back; every item of it
then runs again alone, in the same order. Nothing of a rolled-back transaction was
committed, so nothing is done twice, and a failure reaches only the caller it belongs to.
(A COMMIT whose answer was lost with the connection may have committed all the same:
`alone` must then find its item done, as intake does by the message's provider id.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from storage.errors import ConflictError
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class NeedsOwnTransaction(Exception):
    """Raised by shared work for an item whose writes must be rolled back on their own."""


@dataclass(slots=True)
class GroupCommitStats:
    """What a GroupCommit has done: items answered, and the transactions that held them."""

    items: int = 0
    transactions: int = 0
    shared_rolled_back: int = 0


@dataclass(slots=True)
class _Waiting(Generic[T, R]):
    item: T
    answer: asyncio.Future[R]


class GroupCommit(Generic[T, R]):
    """Runs submitted items in as few transactions as their arrival allows.

    `shared(uow, item)` does one item's work inside a transaction it shares with others
    and must not commit; `alone(item)` does it in a transaction of its own and commits
    (retrying conflicts as it sees fit). `prepare(uow, items)`, if given, runs first in
    each shared transaction: to read at once what every item will look up. At most
    `max_items` share a transaction, which bounds how long the others wait for the
    database meanwhile.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        shared: Callable[[UnitOfWork, T], Awaitable[R]],
        alone: Callable[[T], Awaitable[R]],
        prepare: Callable[[UnitOfWork, list[T]], Awaitable[None]] | None = None,
        max_items: int,
    ) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be at least 1, not {max_items}")
        self._uow = uow
        self._shared = shared
        self._alone = alone
        self._prepare = prepare
        self._max_items = max_items
        self._queue: list[_Waiting[T, R]] = []
        self._runner: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()
        self._caught_up.set()
        self.stats = GroupCommitStats()

    async def caught_up(self) -> None:
        """Returns once no item waits for its transaction to begin (at once if none does)."""
        await self._caught_up.wait()

    async def submit(self, item: T) -> R:
        """Do `item`'s work; returns once the transaction that did it has committed."""
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(item, answer))
        self._caught_up.clear()
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="group-commit")
        return await answer

    async def _run(self) -> None:
        batch: list[_Waiting[T, R]] = []
        try:
            while self._queue:
                taken = self._queue[: self._max_items]
                del self._queue[: self._max_items]
                if not self._queue:
                    self._caught_up.set()
                # A caller that gave up before its transaction began has nothing done.
                batch = [waiting for waiting in taken if not waiting.answer.done()]
                if len(batch) <= 1 or not await self._try_shared(batch):
                    for waiting in batch:
                        await self._run_alone(waiting)
        except BaseException:
            # Cancelled (the loop is shutting down): nobody may wait for an answer forever.
            for waiting in [*batch, *self._queue]:
                waiting.answer.cancel()
            self._queue.clear()
            self._caught_up.set()
            raise
        finally:
            self._runner = None

    async def _try_shared(self, batch: list[_Waiting[T, R]]) -> bool:
        """Run the batch in one transaction and answer everyone; False if it rolled back."""
        try:
            async with self._uow() as uow:
                if self._prepare is not None:
                    await self._prepare(uow, [waiting.item for waiting in batch])
                results = [await self._shared(uow, waiting.item) for waiting in batch]
                await uow.commit()
        except Exception as exc:  # every item runs again alone, where its error belongs
            self.stats.shared_rolled_back += 1
            # Conflicts and items that asked for it are the price of sharing; anything else
            # may fail every shared transaction and halve throughput unseen, so it is said.
            expected = isinstance(exc, NeedsOwnTransaction | ConflictError)
            log.log(
                logging.DEBUG if expected else logging.WARNING,
                "shared transaction of %d rolled back, each runs alone: %r",
                len(batch),
                exc,
            )
            return False
        self.stats.transactions += 1
        self.stats.items += len(batch)
        for waiting, result in zip(batch, results, strict=True):
            if not waiting.answer.done():  # its caller may have given up meanwhile
                waiting.answer.set_result(result)
        return True

    async def _run_alone(self, waiting: _Waiting[T, R]) -> None:
        try:
            result = await self._alone(waiting.item)
        except Exception as exc:
            if not waiting.answer.done():
                waiting.answer.set_exception(exc)
            return
        self.stats.transactions += 1
        self.stats.items += 1
        if not waiting.answer.done():
            waiting.answer.set_result(result)
