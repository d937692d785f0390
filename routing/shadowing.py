"""Rules that can never win: another rule matches whenever they do and always beats them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from routing.rules import Rule, RuleSet
from routing.text import normalise


def shadowing_warnings(rule_set: RuleSet) -> Iterator[tuple[int, str]]:
    """(line, message) for each rule some other rule always shadows.

    The check is conservative: it reports a rule only when the shadowing can be proved
    from the conditions alone, so it never warns wrongly but can miss a case.
    """
    forms = {rule.id: _Forms(rule) for rule in rule_set.rules}
    by_term: dict[str, list[Rule]] = defaultdict(list)
    unconditional: list[Rule] = []
    for rule in rule_set.rules:
        f = forms[rule.id]
        if not f.any and not f.all:
            unconditional.append(rule)
        for term in f.any | f.all:
            by_term[term].append(rule)
    order = {rule.id: index for index, rule in enumerate(rule_set.rules)}
    for shadowed in rule_set.rules:
        b = forms[shadowed.id]
        candidates = {id(r): r for term in b.any | b.all for r in by_term[term]}
        candidates.update({id(r): r for r in unconditional})
        for winner in candidates.values():
            if winner is shadowed or not _beats(winner, shadowed, order):
                continue
            if _implies(b, forms[winner.id]):
                yield (
                    shadowed.line,
                    f"rule {shadowed.id!r} never applies: rule {winner.id!r} (line {winner.line}) "
                    "matches whenever it does and takes precedence",
                )
                break


class _Forms:
    """A rule's conditions as sets of normalised terms, for comparison."""

    __slots__ = ("all", "any", "areas", "channels", "none", "regex")

    def __init__(self, rule: Rule) -> None:
        self.any = frozenset(normalise(t) for t in rule.any)
        self.all = frozenset(normalise(t) for t in rule.all)
        self.none = frozenset(normalise(t) for t in rule.none)
        self.regex = frozenset(rule.regex)
        self.channels = frozenset(rule.channels)
        self.areas = frozenset(a.casefold() for a in rule.areas)


def _beats(a: Rule, b: Rule, order: dict[str, int]) -> bool:
    if a.priority != b.priority:
        return a.priority > b.priority
    # Same priority: only an identical rule listed earlier certainly wins the tie.
    return order[a.id] < order[b.id] and (a.any, a.all, a.none, a.regex, a.channels, a.areas) == (
        b.any,
        b.all,
        b.none,
        b.regex,
        b.channels,
        b.areas,
    )


def _implies(b: _Forms, a: _Forms) -> bool:
    """Whether every text matching rule b also matches rule a."""
    required = b.all | (b.any if len(b.any) == 1 else frozenset())
    any_ok = not a.any or bool(a.any & required) or (bool(b.any) and b.any <= a.any)
    return (
        any_ok
        and a.all <= required
        and a.none <= b.none
        and _within(a.regex, b.regex)
        and _within(a.channels, b.channels)
        and _within(a.areas, b.areas)
    )


def _within(a: frozenset[str], b: frozenset[str]) -> bool:
    """A condition of a ('one of these') holds whenever b's does."""
    return not a or (bool(b) and b <= a)
