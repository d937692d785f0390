"""The service on a test's database, and reading that database directly to check what the
service wrote."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.bootstrap import Service, bootstrap
from bot.domain.clock import Clock
from channels.base import Channel, ChannelName, RawDelivery
from config.settings import Settings
from storage.models import (
    DeliveryState,
    KeptDelivery,
    NewOutboxMessage,
    OutboxMessage,
    OutboxStatus,
)
from tests.fakes import FakeClock
from tests.integration.templates import restore_template

T = TypeVar("T", bound=SQLModel)


async def rows(service: Service, model: type[T], *where: Any) -> list[T]:
    async with AsyncSession(service.engine, expire_on_commit=False) as session:
        statement = select(model).where(*where).order_by(col(model.id))  # type: ignore[attr-defined]
        return list((await session.exec(statement)).all())


async def count(service: Service, model: type[SQLModel], *where: Any) -> int:
    async with AsyncSession(service.engine) as session:
        statement = select(sa.func.count()).select_from(model).where(*where)
        return int((await session.exec(statement)).one())


async def prepared_service(
    settings: Settings,
    engine: AsyncEngine,
    clock: Clock,
    *,
    channels: Sequence[Channel] = (),
    **overrides: object,
) -> Service:
    """The service wired by the real composition root on this test's database, migrated
    and loaded with the defaults; `overrides` change settings (e.g. `sla_working_days=True`).
    An empty database gets a copy of the session's prepared one where that is the same."""
    configured = settings.model_copy(update=overrides) if overrides else settings
    await restore_template(configured, clock)
    service = bootstrap(configured, clock=clock, channels=channels, engine=engine)
    await service.prepare_database()
    return service


async def failed_send(service: Service, *where: Any) -> OutboxMessage:
    """The one outbox row matching `where`, once a send of it has failed."""
    found: list[OutboxMessage] = []
    for _ in range(200):
        found = await rows(service, OutboxMessage, *where)
        if len(found) == 1 and found[0].last_error:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no failed send: {found}")


async def settled(service: Service, *where: Any) -> list[OutboxMessage]:
    """The outbox rows matching `where`, once the running dispatcher has dealt with them all."""
    found: list[OutboxMessage] = []
    for _ in range(200):
        found = await rows(service, OutboxMessage, *where)
        if found and all(
            r.status not in (OutboxStatus.PENDING, OutboxStatus.SENDING) for r in found
        ):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"outbox rows still unsent: {found}")


async def drained(service: Service) -> None:
    """Every queued row sent and settled at the clock's time. The running service's own
    dispatcher may have claimed some (intake wakes it): this waits for it too, rather than
    only dispatching what is left."""
    async with asyncio.timeout(10):
        while True:
            await service.dispatcher.dispatch_once()
            async with service.uow() as uow:
                if not await uow.outbox.backlog():
                    return
            await asyncio.sleep(0.01)


async def queue(
    service: Service, channel: str, recipient: str, keys: list[str], *, text: str | None = None
) -> None:
    """Queue one row per key, all due now, in this order; each says `text`, or names its key."""
    now = service.clock.now()
    async with service.uow() as uow:
        for key in keys:
            uow.outbox.add(
                NewOutboxMessage(
                    key=key,
                    kind="reply",
                    channel=channel,
                    recipient=recipient,
                    text=f"pesan {key}" if text is None else text,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        await uow.commit()


async def dead_letter(
    service: Service, clock: FakeClock, channel: ChannelName, key: str
) -> KeptDelivery:
    """A delivery on `channel` that its adapter cannot process, tried by the inbox (moving the
    service's clock past each pause) until it is a dead letter."""
    delivery = RawDelivery(
        channel=channel, kind="message", key=key, payload=b"{}", received_at=service.clock.now()
    )
    await service.inbox.failed(delivery, RuntimeError("the adapter cannot read it"))
    for _ in range(service.settings.deadletter_after_attempts - 1):
        clock.advance(hours=2)
        await service.inbox.retry_due()
    [dead] = await rows(service, KeptDelivery, KeptDelivery.key == key)
    assert dead.state is DeliveryState.DEAD, dead
    return dead
