"""The lookups that run for every message, and those a daily job or anyone on the internet
may run over years of data, search the index that holds only what they ask for, on SQLite.

SQLite plans without statistics (the service never runs ANALYZE), so a plan depends on the
statement alone, never on the data: what EXPLAIN QUERY PLAN says on this empty database is
what runs on one of ten million messages. A plan that reads an index holding a whole
channel's messages costs nothing here and grows with every message taken; these tests
catch it while it is cheap. (PostgreSQL plans from its statistics; nothing to pin there.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import Service
from bot.intake.erasure import FINISHED
from storage.unit_of_work import UnitOfWork

# More values than SQLite's planner weighs against an index on fewer columns: it went
# down the wrong index from three provider ids on.
MANY = 32


@pytest.fixture
def backend() -> str:
    return "sqlite"


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """The SELECT statements `engine` runs meanwhile, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cursor: Any, statement: str, parameters: Any, _x: Any, many: bool) -> None:
        if not many and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


@dataclass(frozen=True, slots=True)
class Step:
    """One line of EXPLAIN QUERY PLAN: its id, the step it is part of, and its text."""

    id: int
    parent: int
    detail: str


async def plans(service: Service, read: Callable[[UnitOfWork], Awaitable[object]]) -> list[Step]:
    """Every step of the plans of the SELECTs `read` runs in a transaction, flattened."""
    with statements(service.engine) as seen:
        async with service.uow() as uow:
            await read(uow)
    assert seen, "the read ran no SELECT"
    steps: list[Step] = []
    async with service.engine.connect() as connection:
        for statement, parameters in seen:
            result = await connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, tuple(parameters)
            )
            steps += [Step(int(row.id), int(row.parent), str(row.detail)) for row in result]
    return steps


def searches_of(table: str, steps: list[Step]) -> list[str]:
    return [
        step.detail
        for step in steps
        if step.detail.split()[:2] in (["SEARCH", table], ["SCAN", table])
    ]


async def test_intake_recognises_redeliveries_by_the_unique_provider_id_index(
    service: Service,
) -> None:
    keys = [("sms", f"SM{number:032d}") for number in range(MANY)]
    steps = await plans(service, lambda uow: uow.messages.prefetch_inbound(keys))
    assert searches_of("messages", steps) == [
        "SEARCH messages USING INDEX sqlite_autoindex_messages_1 "
        "(channel=? AND provider_message_id=?)"
    ]


async def test_a_single_redelivery_is_found_by_the_same_index(service: Service) -> None:
    steps = await plans(service, lambda uow: uow.messages.find_inbound("sms", "SM1"))
    assert searches_of("messages", steps) == [
        "SEARCH messages USING INDEX sqlite_autoindex_messages_1 "
        "(channel=? AND provider_message_id=?)"
    ]


async def test_a_reply_is_threaded_by_the_thread_key_and_provider_id_indexes(
    service: Service,
) -> None:
    keys = [f"<{number}@mail.example>" for number in range(MANY)]
    steps = await plans(service, lambda uow: uow.messages.thread_hit(keys, "email"))
    assert searches_of("messages", steps) == [
        "SEARCH messages USING INDEX ix_messages_thread_key (thread_key=?)",
        "SEARCH messages USING INDEX sqlite_autoindex_messages_1 "
        "(channel=? AND provider_message_id=?)",
    ]


async def test_a_wave_reads_its_complaints_conversations_by_complaint(service: Service) -> None:
    complaints = list(range(1, MANY + 1))
    steps = await plans(service, lambda uow: uow.messages.conversations(complaints, "email"))
    assert searches_of("messages", steps) == [
        "SEARCH messages USING INDEX ix_messages_complaint_id (complaint_id=?)"
    ]


async def test_senders_are_looked_up_by_the_unique_address_index(service: Service) -> None:
    keys = [("sms", f"+62812{number:07d}") for number in range(MANY)]
    steps = await plans(service, lambda uow: uow.residents.prefetch(keys))
    assert searches_of("residents", steps) == [
        "SEARCH residents USING INDEX sqlite_autoindex_residents_1 (channel=? AND address=?)"
    ]


async def test_retention_reads_only_the_complaints_it_has_yet_to_blank(service: Service) -> None:
    """Not every complaint ever closed, a batch at a time: the partial index holds only
    finished complaints whose texts are still there."""
    now = datetime(2027, 1, 1, tzinfo=UTC)
    steps = await plans(
        service,
        lambda uow: uow.erasure.expire(FINISHED, now - timedelta(days=365), "-", now, 200),
    )
    assert searches_of("complaints", steps) == [
        "SEARCH complaints USING INDEX ix_complaints_to_expire (status=? AND closed_at<?)"
    ]


async def test_open311_lists_a_status_newest_first_without_sorting_the_period(
    service: Service,
) -> None:
    """Anyone may list closed requests over twenty years: each status is read newest first
    from the index and stops at the limit; what is sorted is only what those reads
    yielded (at most the limit each), never the complaints of the period."""
    now = datetime(2027, 1, 1, tzinfo=UTC)
    steps = await plans(
        service,
        lambda uow: uow.open311.public_requests(
            statuses=FINISHED, since=now - timedelta(days=20 * 365), until=now, limit=50
        ),
    )
    index = "ix_complaints_status_received_at (status=? AND received_at>? AND received_at<?)"
    assert searches_of("complaints", steps) == [
        f"SEARCH complaints USING INDEX {index}",
        f"SEARCH complaints USING INDEX {index}",
    ]
    sorts = [step for step in steps if "TEMP B-TREE" in step.detail]
    beside_a_sort = [step.detail for step in steps for sort in sorts if step.parent == sort.parent]
    assert not [detail for detail in beside_a_sort if "complaints" in detail.split()[:2]]
