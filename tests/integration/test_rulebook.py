"""Versioned rule sets on SQLite and PostgreSQL: apply, history, diff, rollback, hot reload."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import Service, bootstrap
from bot.rules.book import RuleBookError
from config.settings import Settings
from routing import RuleFileError
from storage.models import AuditEntry, Complaint
from tests.fakes import FakeClock, inbound
from tests.integration.db import rows

TINY = """\
fallback: DISKOMINFO
rules:
  - id: jalan
    agency: PUPR
    any: [jalan, lubang]
  - id: sampah
    agency: DLH
    any: [sampah]
"""


async def test_default_rules_are_version_one(service: Service) -> None:
    [version] = await service.rulebook.history()
    assert (version.version, version.author, version.comment) == (
        1,
        "system",
        "default rules from rules.yaml",
    )
    assert service.router.compiled.version == "v1"


async def test_apply_makes_a_new_audited_version_and_routes_by_it(service: Service) -> None:
    applied = await service.rulebook.apply(TINY, author="rina", comment="simpler rules")
    await service.router.refresh()
    receipt = await service.deliver(inbound("Jalan depan pasar rusak parah"))

    assert applied.version.version == 2 and applied.warnings == ()
    assert receipt.agency_code == "PUPR"
    [complaint] = await rows(service, Complaint)
    assert (complaint.routing_rule, complaint.routing_version) == ("jalan", "v2")
    audit = await rows(service, AuditEntry, AuditEntry.action == "rules_apply")
    assert [(a.actor, a.detail) for a in audit] == [
        ("admin:system", "version 1: default rules from rules.yaml"),
        ("admin:rina", "version 2: simpler rules"),
    ]


async def test_bad_or_identical_files_are_refused(service: Service) -> None:
    with pytest.raises(RuleFileError) as caught:
        await service.rulebook.apply(TINY.replace("DLH", "DLHX"), author="rina", source="new.yaml")
    assert str(caught.value).startswith(
        "new.yaml:7: error: rule 'sampah': agency: unknown agency 'DLHX'"
    )
    await service.rulebook.apply(TINY, author="rina")
    with pytest.raises(RuleBookError, match="identical to version 2, which is in force"):
        await service.rulebook.apply(TINY, author="rina")
    assert [v.version for v in await service.rulebook.history()] == [2, 1]


async def test_diff_and_rollback(service: Service) -> None:
    await service.rulebook.apply(TINY, author="rina")
    changed = TINY.replace("any: [sampah]", "any: [sampah, tps]")
    await service.rulebook.apply(changed, author="rina")

    assert (await service.rulebook.diff(2, 3)).lines() == ["~ sampah: any: +tps"]
    restored = await service.rulebook.rollback(2, author="budi")
    assert (restored.version, restored.restored_from, restored.comment) == (
        4,
        2,
        "rollback to version 2",
    )
    assert (await service.rulebook.get()).content == TINY
    with pytest.raises(RuleBookError, match="there is no rule set version 9"):
        await service.rulebook.rollback(9, author="budi")


async def test_every_instance_follows_a_new_version_within_seconds(
    settings: Settings,
    engine: AsyncEngine,
    clock: FakeClock,
    service: Service,
) -> None:
    fast = settings.model_copy(update={"rules_refresh_seconds": 0.1})
    other = bootstrap(fast, clock=clock, engine=engine)
    async with other.running():
        assert other.router.compiled.version == "v1"
        await service.rulebook.apply(TINY, author="rina")  # applied through another instance
        for _ in range(50):
            if other.router.compiled.version == "v2":
                break
            await asyncio.sleep(0.1)
        receipt = await other.deliver(inbound("Sampah menumpuk"))
    assert other.router.compiled.version == "v2"
    assert receipt.agency_code == "DLH"
    [complaint] = await rows(other, Complaint)
    assert complaint.routing_version == "v2"
