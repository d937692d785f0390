"""Values every instance must agree on (the generated secret key), made once and shared.

The first instance that needs a value makes and stores it; one racing it loses on the
primary key and reads the winner's, so all instances end up with the same value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from storage.errors import MissingRow
from storage.models import ServiceValue


async def shared_value(
    engine: AsyncEngine, key: str, make: Callable[[], str], now: datetime
) -> str:
    """The value stored under `key`, made with `make` and stored if there is none yet."""
    found = await _read(engine, key)
    if found is not None:
        return found
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.insert(ServiceValue).values(key=key, value=make(), created_at=now)
            )
    except IntegrityError:
        pass  # another instance stored it first: theirs is the value
    found = await _read(engine, key)
    if found is None:
        raise MissingRow(
            f"service value {key!r} was stored (by us or another instance) but cannot be read "
            "back: check that every instance uses the same database and schema"
        )
    return found


async def _read(engine: AsyncEngine, key: str) -> str | None:
    async with engine.connect() as connection:
        value: str | None = await connection.scalar(
            sa.select(col(ServiceValue.value)).where(col(ServiceValue.key) == key)
        )
        return value
