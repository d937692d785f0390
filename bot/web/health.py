"""`/healthz`: whether the database answers, the outbox, and each channel's state: when it
last received and sent, what it has still to send, its dead letters.

Everything comes from the database, so every instance answers the same; nothing in it
names a resident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from bot.domain.clock import Clock
from storage.models import OutboxStatus
from storage.unit_of_work import UnitOfWorkFactory


class HealthStatus(StrEnum):
    OK = "ok"
    # Serving, but some channel's outbox is not draining or its deliveries are failing for
    # good: keep the instance, tell a person.
    DEGRADED = "degraded"
    UNAVAILABLE = "unavailable"


class ChannelHealth(BaseModel):
    """A channel configured on this instance."""

    configured: Literal[True] = True
    state: HealthStatus = Field(
        description="`degraded` while its outbox is not draining or it has dead letters; "
        "`unavailable` when the database does not answer"
    )
    last_received: datetime | None = Field(
        default=None, description="When its latest message from a resident arrived"
    )
    last_sent: datetime | None = Field(
        default=None, description="When the outbox last sent a message on it"
    )
    backlog: int | None = Field(
        default=None, description="Outbox messages waiting to be sent on it (pending)"
    )
    dead_letters: int | None = Field(
        default=None,
        description="Inbound deliveries that failed every attempt (`aduan deadletters list`)",
    )
    stalled: int | None = Field(
        default=None,
        description="Outbox messages overdue by ADUAN_HEALTH_OUTBOX_STALL_SECONDS, or failing "
        "since as long",
    )
    since: datetime | None = Field(
        default=None, description="When the oldest of the stalled messages was queued"
    )
    reason: str | None = Field(default=None, description="Why it is degraded")


class UnconfiguredChannel(BaseModel):
    """A channel this instance does not run: its messages wait in the outbox."""

    configured: Literal[False] = False
    reason: str = Field(description="The settings it lacks")


class HealthReport(BaseModel):
    status: HealthStatus = Field(
        description="`ok`; `degraded` (still HTTP 200) when a channel is; `unavailable` "
        "(HTTP 503) when the database does not answer"
    )
    database: str = Field(description="`ok`, or `error: ` and the kind of error")
    outbox: dict[str, int] | None = Field(
        default=None, description="Outbox messages by status, all time"
    )
    channels: dict[str, ChannelHealth | UnconfiguredChannel]


class Health:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        configured: Iterable[str],
        unconfigured: Mapping[str, str],
        *,
        clock: Clock,
        stall: timedelta,
    ) -> None:
        self._uow = uow
        self._configured = tuple(configured)
        self._unconfigured = unconfigured
        self._clock = clock
        self._stall = stall

    async def report(self) -> HealthReport:
        channels: dict[str, ChannelHealth | UnconfiguredChannel] = {}
        try:
            async with self._uow() as uow:
                await uow.ping()
                outbox = await uow.outbox.count_by_status()
                stalled = await uow.outbox.stalled(self._clock.now() - self._stall)
                backlog = await uow.outbox.backlog()
                dead = await uow.deliveries.dead_by_channel()
                received = await uow.messages.last_received(self._configured)
                sent = await uow.outbox.last_sent(self._configured)
        except Exception as exc:
            for name in self._configured:
                channels[name] = ChannelHealth(state=HealthStatus.UNAVAILABLE)
            report = HealthReport(
                status=HealthStatus.UNAVAILABLE,
                database=f"error: {type(exc).__name__}",
                channels=channels,
            )
        else:
            for name in self._configured:
                # An unconfigured channel's rows wait by design; its entry already says why.
                channel = channels[name] = ChannelHealth(
                    state=HealthStatus.OK,
                    last_received=received.get(name),
                    last_sent=sent.get(name),
                    backlog=backlog.get((name, OutboxStatus.PENDING), 0),
                    dead_letters=dead.get(name, 0),
                )
                reasons = []
                stuck = stalled.get(name)
                if stuck is not None:
                    channel.stalled, channel.since = stuck.rows, stuck.since
                    reasons.append(
                        f"{stuck.rows} outbox message(s) not sent, waiting since "
                        f"{stuck.since.isoformat()}"
                    )
                if channel.dead_letters:
                    reasons.append(
                        f"{channel.dead_letters} dead letter(s): see `aduan deadletters list`"
                    )
                if reasons:
                    channel.state = HealthStatus.DEGRADED
                    channel.reason = "; ".join(reasons)
            degraded = any(
                isinstance(c, ChannelHealth) and c.state is HealthStatus.DEGRADED
                for c in channels.values()
            )
            report = HealthReport(
                status=HealthStatus.DEGRADED if degraded else HealthStatus.OK,
                database="ok",
                outbox=outbox,
                channels=channels,
            )
        for name, why in self._unconfigured.items():
            report.channels[name] = UnconfiguredChannel(reason=why)
        return report
