"""The rule model: what an admin writes in a rule file, as plain immutable data."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Area:
    """A kecamatan or kelurahan the router can recognise, by name or by a bounding box."""

    name: str
    # Other names for it and, for a kecamatan, its kelurahan: any of them names the area.
    aliases: tuple[str, ...] = ()
    # (south, west, north, east) in degrees, for complaints that carry coordinates.
    bbox: tuple[float, float, float, float] | None = None
    line: int = 0

    def contains(self, latitude: float, longitude: float) -> bool:
        if self.bbox is None:
            return False
        south, west, north, east = self.bbox
        return south <= latitude <= north and west <= longitude <= east


@dataclass(frozen=True, slots=True)
class Rule:
    """Send complaints matching every condition given here to `agency`.

    Text conditions: `any` (at least one term), `all` (every term), `none` (no term),
    `regex` (at least one pattern, searched in the case-folded text). Context conditions:
    `channels` and `areas` (at least one of each, where given).
    """

    id: str
    agency: str
    priority: int = 0
    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    regex: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()
    description: str = ""
    line: int = 0

    @property
    def terms(self) -> tuple[str, ...]:
        return (*self.any, *self.all, *self.none)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A whole rule file: rules in file order, the fallback agency and the known areas."""

    fallback: str
    rules: tuple[Rule, ...]
    areas: tuple[Area, ...] = ()
    line: int = 0

    def rule(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)

    @property
    def agencies(self) -> frozenset[str]:
        return frozenset({self.fallback, *(rule.agency for rule in self.rules)})


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a rule file, where it is, and what to do."""

    line: int
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        return f"line {self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True, slots=True)
class RuleFileError(Exception):
    """A rule file that cannot be used; `problems` lists every error and warning found."""

    source: str
    problems: tuple[Problem, ...] = field(default=())

    def __str__(self) -> str:
        return "\n".join(
            f"{self.source}:{p.line}: {p.severity}: {p.message}" for p in self.problems
        )
