"""The core's plain keyword router: the agency whose words a text mentions most."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from routing.decision import Decision
from routing.text import normalise


class RoutingConfigError(ValueError):
    """A keyword file the router cannot use; the message says where and what."""


@dataclass(frozen=True, slots=True)
class _Entry:
    agency_code: str
    phrases: tuple[tuple[str, ...], ...]


class KeywordTable:
    """Counts keyword hits per agency; ties go to the agency listed first."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self._entries = tuple(
            _Entry(code, tuple(tuple(normalise(word).split()) for word in words))
            for code, words in table.items()
        )

    @classmethod
    def from_yaml(cls, path: Path) -> KeywordTable:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise RoutingConfigError(f"{path}: not valid YAML: {exc}") from exc
        table = data.get("keywords") if isinstance(data, dict) else None
        if not isinstance(table, dict) or not all(
            isinstance(words, list) and all(isinstance(w, str) for w in words)
            for words in table.values()
        ):
            raise RoutingConfigError(
                f"{path}: expected 'keywords:' mapping agency codes to lists of words"
            )
        return cls(table)

    @property
    def agency_codes(self) -> frozenset[str]:
        return frozenset(entry.agency_code for entry in self._entries)

    def decide(self, text: str, channel: str) -> Decision:
        words = normalise(text).split()
        vocabulary = frozenset(words)
        best: tuple[int, _Entry, tuple[str, ...]] | None = None
        for entry in self._entries:
            hits = tuple(" ".join(p) for p in entry.phrases if _contains(words, vocabulary, p))
            if hits and (best is None or len(hits) > best[0]):
                best = (len(hits), entry, hits)
        if best is None:
            return Decision(
                agency_code=None,
                rule_id="fallback",
                matched_terms=(),
                explanation_id="Tidak ada kata kunci yang cocok; diteruskan ke instansi cadangan.",
                explanation_en="No keyword matched; sent to the fallback agency.",
            )
        _, entry, hits = best
        terms = ", ".join(hits)
        return Decision(
            agency_code=entry.agency_code,
            rule_id=f"keywords:{entry.agency_code}",
            matched_terms=hits,
            explanation_id=f"Kata kunci cocok: {terms}.",
            explanation_en=f"Matched keywords: {terms}.",
        )


def _contains(words: list[str], vocabulary: frozenset[str], phrase: tuple[str, ...]) -> bool:
    if not vocabulary.issuperset(phrase):
        return False
    if len(phrase) == 1:
        return True
    n = len(phrase)
    return any(tuple(words[i : i + n]) == phrase for i in range(len(words) - n + 1))
