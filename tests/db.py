"""Reading the database directly in tests, to check what the service wrote."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.bootstrap import Service

T = TypeVar("T", bound=SQLModel)


async def rows(service: Service, model: type[T], *where: Any) -> list[T]:
    async with AsyncSession(service.engine, expire_on_commit=False) as session:
        statement = select(model).where(*where).order_by(col(model.id))  # type: ignore[attr-defined]
        return list((await session.exec(statement)).all())


async def count(service: Service, model: type[SQLModel], *where: Any) -> int:
    async with AsyncSession(service.engine) as session:
        statement = select(sa.func.count()).select_from(model).where(*where)
        return int((await session.exec(statement)).one())
