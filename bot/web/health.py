"""`/healthz`: whether the database answers, the outbox backlog, and each channel's state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from storage.unit_of_work import UnitOfWorkFactory


class Health:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        configured: Iterable[str],
        unconfigured: Mapping[str, str],
    ) -> None:
        self._uow = uow
        self._configured = tuple(configured)
        self._unconfigured = unconfigured

    async def report(self) -> dict[str, Any]:
        report: dict[str, Any] = {"status": "ok"}
        try:
            async with self._uow() as uow:
                await uow.ping()
                report["outbox"] = await uow.outbox.count_by_status()
            report["database"] = "ok"
        except Exception as exc:
            report["status"] = "unavailable"
            report["database"] = f"error: {type(exc).__name__}"
        report["channels"] = {
            **{name: {"configured": True} for name in self._configured},
            **{
                name: {"configured": False, "reason": why}
                for name, why in self._unconfigured.items()
            },
        }
        return report
