"""Core statements in the session's transaction, shared by the repositories.

The queries every inbound message makes are built once, at import, with bound parameters:
building a statement costs about as much as SQLite takes to run it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from storage.errors import ConflictError, MissingRow


async def session_connection(session: AsyncSession) -> AsyncConnection:
    """The connection of the session's transaction, for Core statements.

    Asking the session each time costs a trip through SQLAlchemy's greenlet bridge per
    statement; the connection stays the same until the transaction ends.
    """
    connection: AsyncConnection | None = session.info.get(_CONNECTION)
    if connection is None or connection.closed or not connection.in_transaction():
        connection = session.info[_CONNECTION] = await session.connection()
    return connection


_CONNECTION = "aduan.connection"


async def write(
    session: AsyncSession, statement: sa.Executable, values: dict[str, Any]
) -> sa.CursorResult[Any]:
    """Run one Core write in the session's transaction; a unique index that refuses it is a
    ConflictError, as it is when the unit of work flushes."""
    connection = await session_connection(session)
    try:
        return await connection.execute(statement, values)
    except IntegrityError as exc:
        raise ConflictError(str(exc.orig)) from exc


V = TypeVar("V")


async def read_among(
    session: AsyncSession,
    statement: sa.Executable,
    keys: Iterable[tuple[str, str]],
    known: dict[tuple[str, str], V | None],
    *,
    key: Callable[[Any], tuple[str, str]],
    build: Callable[[Any], V | None],
) -> None:
    """Add to `known` every one of `keys`, (channel, value) pairs, it lacks: what `build`
    makes of the row `statement` finds for it, or None where there is none (or `build`
    makes none of it).

    `statement` takes one channel ("channel") and its values ("values"), run once per
    channel: SQLite searches the unique index on (channel, value) for that form, but reads
    the whole table for a list of pairs.
    """
    by_channel: dict[str, list[str]] = {}
    for channel, value in set(keys):
        if (channel, value) not in known:
            by_channel.setdefault(channel, []).append(value)
    if not by_channel:
        return
    connection = await session_connection(session)
    # In one order on every instance: a statement that locks its rows (`FOR UPDATE`)
    # never waits for an instance that waits for it.
    for channel, values in sorted(by_channel.items()):
        params = {"channel": channel, "values": values}
        found = {key(row): build(row) for row in await connection.execute(statement, params)}
        for value in values:
            known[channel, value] = found.get((channel, value))


async def latest_per_channel(
    session: AsyncSession,
    moment: Mapped[datetime] | Mapped[datetime | None],
    channel: Mapped[str],
    channels: Iterable[str],
    *where: sa.ColumnElement[bool],
) -> dict[str, datetime]:
    """Per channel, the latest `moment` among the rows matching `where`; channels with none
    are left out. One query whose arms each read one end of an index on (channel, …,
    moment): a GROUP BY would read every row of the history."""
    arms = [
        sa.select(
            sa.literal(name, sa.String).label("channel"), sa.func.max(moment).label("at")
        ).where(channel == name, *where)
        for name in sorted(set(channels))
    ]
    if not arms:
        return {}
    connection = await session_connection(session)
    result = await connection.execute(sa.union_all(*arms))
    return {name: at for name, at in result.all() if at is not None}


M = TypeVar("M", bound=SQLModel)


async def referenced(session: AsyncSession, model: type[M], row_id: int) -> M:
    """The row of `model` with `row_id`, which another row refers to; MissingRow if it is
    not there."""
    row = await session.get(model, row_id)
    if row is None:
        raise MissingRow(
            f"{model.__name__} {row_id} is referred to by other rows but is not in the "
            "database (deleted by hand, or restored only in part): restore it from a backup"
        )
    return row


async def by_ids(session: AsyncSession, model: type[M], ids: Collection[int]) -> dict[int, M]:
    """The rows of `model` with these ids that exist, by id, in one query."""
    if not ids:
        return {}
    statement, key = _by_ids(model)
    result = await session.exec(statement, params={"ids": list(ids)})
    return {getattr(row, key): row for row in result.all()}


@functools.cache
def _by_ids(model: type[M]) -> tuple[SelectOfScalar[M], str]:
    """The query for rows of `model` by a list of ids (bound as `ids`), and the id's name:
    built once per model."""
    [key] = sa.inspect(model).primary_key
    return select(model).where(key.in_(sa.bindparam("ids", expanding=True))), key.key
