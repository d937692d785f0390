"""`/healthz`: whether the database answers, the outbox backlog, and each channel's state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

from bot.domain.clock import Clock
from storage.unit_of_work import UnitOfWorkFactory


class HealthStatus(StrEnum):
    OK = "ok"
    # Serving, but some channel's outbox is not draining: keep the instance, tell a person.
    DEGRADED = "degraded"
    UNAVAILABLE = "unavailable"


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

    async def report(self) -> dict[str, Any]:
        report: dict[str, Any] = {"status": HealthStatus.OK.value}
        channels: dict[str, dict[str, Any]] = {
            name: {"configured": True} for name in self._configured
        }
        try:
            async with self._uow() as uow:
                await uow.ping()
                report["outbox"] = await uow.outbox.count_by_status()
                stalled = await uow.outbox.stalled(self._clock.now() - self._stall)
            report["database"] = "ok"
        except Exception as exc:
            report["status"] = HealthStatus.UNAVAILABLE.value
            report["database"] = f"error: {type(exc).__name__}"
        else:
            # An unconfigured channel's rows wait by design; its entry already says why.
            stalled = {name: stuck for name, stuck in stalled.items() if name in channels}
            for name, stuck in stalled.items():
                since = stuck.since.isoformat()
                channels[name].update(
                    state=HealthStatus.DEGRADED.value,
                    stalled=stuck.rows,
                    since=since,
                    reason=f"{stuck.rows} outbox message(s) not sent, waiting since {since}",
                )
            if stalled:
                report["status"] = HealthStatus.DEGRADED.value
        report["channels"] = {
            **channels,
            **{
                name: {"configured": False, "reason": why}
                for name, why in self._unconfigured.items()
            },
        }
        return report
