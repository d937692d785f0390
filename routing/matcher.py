"""The compiled matcher: every term of every rule in one Aho–Corasick automaton.

A decision walks the complaint's text once and looks only at the rules its words
trigger, so its cost grows with the text and the matches, not with the number of rules.
Regular expressions run only for rules that have them and are still in the running.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import ahocorasick

from routing.decision import Decision
from routing.rules import Rule, RuleSet
from routing.text import canonical, expand, raw_words, tokens, words

# Raw words remembered per rule set (what each normalises to); enough for a city's
# vocabulary of typed words, bounded so odd input cannot grow it without end.
_WORD_CACHE_SIZE = 200_000
# The rule id a decision names when no rule matched.
FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    order: int
    any: frozenset[int]
    all: frozenset[int]
    none: frozenset[int]
    positive: frozenset[int]  # any | all: the terms that can make it win
    regex: tuple[re.Pattern[str], ...]
    channels: frozenset[str]
    areas: frozenset[int]


class CompiledRules:
    """A rule set ready to decide; immutable, so one instance serves every request."""

    def __init__(self, rule_set: RuleSet, version: str | None = None) -> None:
        self.rule_set = rule_set
        self.version = version
        self._terms: list[str] = []  # term index → the spelling a rule used
        term_index: dict[str, int] = {}
        self._area_names = [area.name for area in rule_set.areas]
        area_index = {area.name.casefold(): i for i, area in enumerate(rule_set.areas)}
        self._vocabulary = frozenset(
            canonical(word)
            for rule in rule_set.rules
            for term in rule.terms
            for word in words(term)
        ) | frozenset(
            canonical(word)
            for area in rule_set.areas
            for name in (area.name, *area.aliases)
            for word in words(name)
        )
        automaton = ahocorasick.Automaton()

        def term_id(term: str) -> int:
            key = " ".join(tokens(term, self._vocabulary))
            if key not in term_index:
                term_index[key] = len(self._terms)
                self._terms.append(term)
                automaton.add_word(f" {key} ", term_index[key])
            return term_index[key]

        for i, area in enumerate(rule_set.areas):
            for name in (area.name, *area.aliases):
                key = " ".join(tokens(name, self._vocabulary))
                # Areas share the automaton; negative values tell them from terms.
                automaton.add_word(f" {key} ", -(i + 1))
        compiled_rules: list[_CompiledRule] = []
        for order, rule in enumerate(rule_set.rules):
            any_terms = frozenset(term_id(t) for t in rule.any)
            all_terms = frozenset(term_id(t) for t in rule.all)
            compiled = _CompiledRule(
                rule=rule,
                order=order,
                any=any_terms,
                all=all_terms,
                none=frozenset(term_id(t) for t in rule.none),
                positive=any_terms | all_terms,
                regex=tuple(re.compile(p, re.IGNORECASE) for p in rule.regex),
                channels=frozenset(rule.channels),
                areas=frozenset(area_index[a.casefold()] for a in rule.areas),
            )
            compiled_rules.append(compiled)
        # Rules are kept in the order they are tried (priority, then file order), so a
        # sorted list of positions is the order to check candidates in.
        self._rules = sorted(compiled_rules, key=lambda r: (-r.rule.priority, r.order))
        self._triggered_by: dict[int, list[int]] = {}
        self._always: list[int] = []
        for rank, compiled in enumerate(self._rules):
            if not compiled.positive:
                self._always.append(rank)
            for term in compiled.positive:
                self._triggered_by.setdefault(term, []).append(rank)
        self._term_words = [len(term.split()) for term in self._terms]
        self._word_cache: dict[str, list[str]] = {}
        if len(automaton):
            automaton.make_automaton()
        self._automaton = automaton if len(automaton) else None
        self._boxed = [(i, area) for i, area in enumerate(rule_set.areas) if area.bbox]

    def labelled(self, version: str | None) -> CompiledRules:
        """The same compiled rules under another version label (a copy that shares them)."""
        relabelled = copy.copy(self)
        relabelled.version = version
        return relabelled

    def decide(
        self,
        text: str,
        channel: str,
        latitude: float | None = None,
        longitude: float | None = None,
    ) -> Decision:
        terms, areas = self._scan(text)
        if latitude is not None and longitude is not None:
            areas.update(i for i, area in self._boxed if area.contains(latitude, longitude))
        candidates = {rank for term in terms for rank in self._triggered_by.get(term, ())}
        candidates.update(self._always)
        folded: str | None = None
        best: tuple[tuple[int, int, int, int], _CompiledRule] | None = None
        # Highest priority first: once a rule matches, lower priorities cannot beat it.
        for rank in sorted(candidates):
            rule = self._rules[rank]
            if best is not None and rule.rule.priority < best[0][0]:
                break
            if not self._context_matches(rule, channel, areas) or not self._terms_match(
                rule, terms
            ):
                continue
            if rule.regex:
                if folded is None:
                    folded = unicodedata.normalize("NFKC", text).casefold()
                if not any(pattern.search(folded) for pattern in rule.regex):
                    continue
            hits = rule.positive & terms
            hit_words = sum(self._term_words[t] for t in hits)
            key = (rule.rule.priority, len(hits) + bool(rule.regex), hit_words, -rule.order)
            if best is None or key > best[0]:
                best = (key, rule)
        if best is None:
            return self._fallback()
        winner = best[1]
        matched = [self._terms[t] for t in sorted(winner.positive & terms)]
        return self._explain(
            winner, matched, sorted(self._area_names[a] for a in winner.areas & areas)
        )

    def chosen(self, rule_id: str) -> Decision | None:
        """Where the category the sender chose sends a complaint: the rule `rule_id` (an
        Open311 service code), or "fallback" for the fallback agency; None for neither."""
        rule = self.rule_set.rule(rule_id)
        if rule is None:
            return self._fallback() if rule_id == FALLBACK else None
        return Decision(
            agency_code=rule.agency,
            rule_id=rule.id,
            matched_terms=(),
            explanation_id=f"Kategori '{rule.id}' dipilih pengirim.",
            explanation_en=f"Category '{rule.id}' chosen by the sender.",
            version=self.version,
        )

    def _scan(self, text: str) -> tuple[set[int], set[int]]:
        terms: set[int] = set()
        areas: set[int] = set()
        if self._automaton is None:
            return terms, areas
        haystack = " " + " ".join(self.normalised(text)) + " "
        for _, value in self._automaton.iter(haystack):
            if value >= 0:
                terms.add(value)
            else:
                areas.add(-value - 1)
        return terms, areas

    def normalised(self, text: str) -> list[str]:
        """The text's canonical words, as matching sees them (each distinct raw word is
        normalised once per rule set)."""
        cache = self._word_cache
        result: list[str] = []
        for raw in raw_words(text):
            known = cache.get(raw)
            if known is None:
                if len(cache) >= _WORD_CACHE_SIZE:
                    cache.clear()
                known = cache[raw] = [canonical(word, self._vocabulary) for word in expand(raw)]
            result.extend(known)
        return result

    @staticmethod
    def _context_matches(rule: _CompiledRule, channel: str, areas: set[int]) -> bool:
        if rule.channels and channel not in rule.channels:
            return False
        return not rule.areas or not rule.areas.isdisjoint(areas)

    @staticmethod
    def _terms_match(rule: _CompiledRule, terms: set[int]) -> bool:
        if rule.any and rule.any.isdisjoint(terms):
            return False
        if not rule.all <= terms:
            return False
        return rule.none.isdisjoint(terms)

    def _fallback(self) -> Decision:
        return Decision(
            agency_code=self.rule_set.fallback,
            rule_id=FALLBACK,
            matched_terms=(),
            explanation_id="Tidak ada aturan yang cocok; diteruskan ke instansi cadangan.",
            explanation_en="No rule matched; sent to the fallback agency.",
            version=self.version,
        )

    def _explain(
        self, rule: _CompiledRule, matched: Sequence[str], areas: Sequence[str]
    ) -> Decision:
        parts_id, parts_en = [], []
        if matched:
            quoted = ", ".join(f"'{term}'" for term in matched)
            parts_id.append(f"kata {quoted}")
            parts_en.append(f"words {quoted}")
        if rule.regex:
            parts_id.append("pola teks")
            parts_en.append("a text pattern")
        if areas:
            parts_id.append("wilayah " + ", ".join(areas))
            parts_en.append("area " + ", ".join(areas))
        if rule.channels:
            parts_id.append("kanal " + ", ".join(sorted(rule.channels)))
            parts_en.append("channel " + ", ".join(sorted(rule.channels)))
        name = rule.rule.id
        return Decision(
            agency_code=rule.rule.agency,
            rule_id=name,
            matched_terms=tuple(matched),
            explanation_id=f"Aturan '{name}' cocok: {'; '.join(parts_id)}.",
            explanation_en=f"Rule '{name}' matched: {'; '.join(parts_en)}.",
            version=self.version,
        )
