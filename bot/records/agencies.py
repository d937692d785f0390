"""The agency directory's default content, loaded into an empty database."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.domain.clock import Clock
from storage.models import Agency
from storage.unit_of_work import UnitOfWorkFactory

DEFAULT_AGENCIES = Path(__file__).resolve().parents[2] / "config" / "agencies.yaml"


class AgencyFileError(ValueError):
    """An agencies file that cannot be loaded; the message names the file and the entry."""


class AgencySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")
    name: str = Field(min_length=2, max_length=200)
    email: str | None = None
    phone: str | None = None
    telegram_chat_id: str | None = None
    fallback: bool = False
    # Days this agency has to answer, when not the city's default (ADUAN_SLA_DAYS).
    sla_days: float | None = Field(default=None, gt=0)


def load_agency_file(path: Path) -> list[AgencySpec]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AgencyFileError(f"{path}: {exc}") from exc
    entries = data.get("agencies") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise AgencyFileError(f"{path}: expected a top-level 'agencies:' list")
    specs = []
    for index, entry in enumerate(entries, start=1):
        try:
            specs.append(AgencySpec.model_validate(entry))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise AgencyFileError(f"{path}: agency #{index}: {problems}") from None
    codes = [spec.code for spec in specs]
    if len(set(codes)) != len(codes):
        raise AgencyFileError(f"{path}: duplicate agency codes")
    if sum(spec.fallback for spec in specs) != 1:
        raise AgencyFileError(f"{path}: exactly one agency must be marked 'fallback: true'")
    return specs


async def seed_agencies(uow_factory: UnitOfWorkFactory, path: Path, clock: Clock) -> int:
    """Load the agencies of `path` when the directory is empty; returns how many were added."""
    specs = load_agency_file(path)
    async with uow_factory() as uow:
        if await uow.agencies.count():
            return 0
        now = clock.now()
        for spec in specs:
            uow.agencies.add(
                Agency(
                    code=spec.code,
                    name=spec.name,
                    email=spec.email,
                    phone=spec.phone,
                    telegram_chat_id=spec.telegram_chat_id,
                    is_fallback=spec.fallback,
                    sla_days=spec.sla_days,
                    created_at=now,
                )
            )
        await uow.commit()
    return len(specs)
