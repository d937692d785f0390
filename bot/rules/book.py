"""The rule book: versioned routing rules in the database, and the router that follows them.

Applying a file makes a new version (with author, comment and an audit row); rolling back
applies an earlier version's content as a new version, so history only grows. Every
instance polls the newest version number and recompiles when it changes, so a change is
in force everywhere within seconds, without a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.clock import Clock
from bot.rules.compiled import compiled_version
from routing.decision import Decision
from routing.diff import RuleSetDiff, diff_rule_sets
from routing.loader import LoadedRules, load_rules
from routing.matcher import CompiledRules
from routing.rules import RuleSet
from storage.errors import ConflictError
from storage.models import NewAuditEntry, RuleSetVersion
from storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


class RuleBookError(Exception):
    """A rule-book request that cannot be carried out; the message says why."""


@dataclass(frozen=True, slots=True)
class Applied:
    version: RuleSetVersion
    warnings: tuple[str, ...]


class RuleBook:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def agency_codes(self) -> frozenset[str]:
        async with self._uow() as uow:
            return frozenset(agency.code for agency in await uow.agencies.all() if agency.active)

    async def check(self, text: str, source: str = "<rules>") -> LoadedRules:
        """Validate against the agencies in the directory; RuleFileError lists the problems."""
        return load_rules(text, agencies=await self.agency_codes(), source=source)

    async def apply(
        self, text: str, *, author: str, comment: str = "", source: str = "<rules>"
    ) -> Applied:
        loaded = await self.check(text, source)
        version = await self._store(text, author=author, comment=comment, restored_from=None)
        return Applied(version, tuple(str(w) for w in loaded.warnings))

    async def rollback(self, version: int, *, author: str) -> RuleSetVersion:
        """Put an earlier version back in force, as a new version with its content."""
        old = await self.get(version)
        await self.check(old.content, f"version {version}")
        return await self._store(
            old.content,
            author=author,
            comment=f"rollback to version {version}",
            restored_from=version,
        )

    async def get(self, version: int | None = None) -> RuleSetVersion:
        """A stored version, or the one in force when `version` is None."""
        async with self._uow() as uow:
            found = await (
                uow.rule_sets.latest() if version is None else uow.rule_sets.get(version)
            )
        if found is None:
            raise RuleBookError(
                "no rules have been applied yet: run `aduan db upgrade`"
                if version is None
                else f"there is no rule set version {version} (see `aduan rules history`)"
            )
        return found

    async def history(self, limit: int = 20) -> Sequence[RuleSetVersion]:
        async with self._uow() as uow:
            return await uow.rule_sets.history(limit)

    async def diff(self, old: int, new: int) -> RuleSetDiff:
        return diff_rule_sets(parse(await self.get(old)), parse(await self.get(new)))

    async def seed(self, text: str, source: str) -> RuleSetVersion | None:
        """Apply `text` as version 1 if no rules were ever applied; None otherwise."""
        async with self._uow() as uow:
            if await uow.rule_sets.latest_number() is not None:
                return None
        await self.check(text, source)
        return await self._store(
            text, author="system", comment=f"default rules from {source}", restored_from=None
        )

    async def _store(
        self, text: str, *, author: str, comment: str, restored_from: int | None
    ) -> RuleSetVersion:
        digest = hashlib.sha256(text.encode()).hexdigest()
        for _ in range(3):
            try:
                async with self._uow() as uow:
                    latest = await uow.rule_sets.latest()
                    if latest is not None and latest.sha256 == digest:
                        raise RuleBookError(
                            f"these rules are identical to version {latest.version}, "
                            "which is in force"
                        )
                    now = self._clock.now()
                    stored = RuleSetVersion(
                        version=(latest.version + 1) if latest else 1,
                        content=text,
                        sha256=digest,
                        author=author,
                        comment=comment[:500],
                        restored_from=restored_from,
                        created_at=now,
                    )
                    uow.rule_sets.add(stored)
                    uow.audit.add(
                        NewAuditEntry(
                            actor=f"admin:{author}"[:64],
                            action="rules_rollback" if restored_from else "rules_apply",
                            detail=f"version {stored.version}: {comment}",
                            created_at=now,
                        )
                    )
                    await uow.commit()
                    return stored
            except ConflictError:
                continue  # another admin applied at the same moment; number after theirs
        raise RuleBookError("could not store the rules: too many concurrent changes, try again")


def parse(stored: RuleSetVersion) -> RuleSet:
    """A stored version's rules (validated when applied, so agencies are not re-checked)."""
    return load_rules(
        stored.content, agencies=None, source=f"version {stored.version}", lint=False
    ).rules


class LiveRouter:
    """The router intake uses: the newest rule set, recompiled when a new one is applied."""

    def __init__(self, uow: UnitOfWorkFactory, initial: CompiledRules) -> None:
        self._uow = uow
        self._compiled = initial
        self._version: int | None = None
        self._lock = asyncio.Lock()

    @property
    def compiled(self) -> CompiledRules:
        return self._compiled

    def decide(
        self, text: str, channel: str, latitude: float | None = None, longitude: float | None = None
    ) -> Decision:
        return self._compiled.decide(text, channel, latitude, longitude)

    def chosen(self, rule_id: str) -> Decision | None:
        return self._compiled.chosen(rule_id)

    async def refresh(self) -> bool:
        """Follow the newest applied version; True when it changed."""
        async with self._lock:
            async with self._uow() as uow:
                number = await uow.rule_sets.latest_number()
                if number is None or number == self._version:
                    return False
                stored = await uow.rule_sets.get(number)
            if stored is None:
                raise RuleBookError(
                    f"rule set version {number} is the newest but was deleted as it was read; "
                    "rule set versions are history: restore it from a backup"
                )
            # Compiling a large rule set takes a while: keep the event loop serving.
            compiled = await asyncio.to_thread(compiled_version, stored)
            self._compiled, self._version = compiled, number
        log.info(
            "routing rules in force",
            extra={"version": number, "rules": len(compiled.rule_set.rules)},
        )
        return True
