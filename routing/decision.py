"""A routing decision and the protocol every router implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Decision:
    """Which agency, by which rule, because of which words: officers see why it came to them."""

    agency_code: str
    rule_id: str
    matched_terms: tuple[str, ...]
    explanation_id: str
    explanation_en: str
    version: str | None = None


class Router(Protocol):
    def decide(
        self, text: str, channel: str, latitude: float | None = None, longitude: float | None = None
    ) -> Decision: ...

    def chosen(self, rule_id: str) -> Decision | None: ...
