"""The database an instance serves: brought to the newest schema with the default agencies
and rules loaded, or the reason it cannot be served as it is.

Nothing here needs channels, the web app or the scheduler, so `aduan db upgrade` does not
import them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.clock import Clock
from bot.records.agencies import DEFAULT_AGENCIES, seed_agencies
from bot.rules.book import RuleBook
from config.settings import Settings
from storage import migrate
from storage.unit_of_work import UnitOfWorkFactory

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "config" / "rules.yaml"


@dataclass(frozen=True, slots=True)
class Prepared:
    agencies_added: int
    rules_version: int | None  # the version seeded from the default file, if any


async def prepare_database(
    settings: Settings,
    engine: AsyncEngine,
    uow: UnitOfWorkFactory,
    rulebook: RuleBook,
    clock: Clock,
) -> Prepared:
    """Migrate to the newest schema; load default agencies and rules where there are none."""
    await migrate.upgrade(engine)
    added = await seed_agencies(uow, settings.agencies_file or DEFAULT_AGENCIES, clock)
    rules_file = settings.rules_file or DEFAULT_RULES
    seeded = await rulebook.seed(rules_file.read_text(encoding="utf-8"), rules_file.name)
    return Prepared(added, seeded.version if seeded else None)


async def schema_problem(engine: AsyncEngine) -> str | None:
    """Why the database cannot be served as it is, or None when it is at the newest schema."""
    try:
        current = await migrate.current_revision(engine)
    except Exception as exc:
        return f"cannot reach the database ({type(exc).__name__}: {exc})"
    if current != migrate.head_revision():
        return (
            f"the database schema is at {current or 'nothing'}, the code needs "
            f"{migrate.head_revision()}: run `aduan db upgrade`"
        )
    return None
