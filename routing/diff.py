"""What changed between two rule sets, rule by rule, for admins to read before applying."""

from __future__ import annotations

from dataclasses import dataclass, fields

from routing.rules import Rule, RuleSet

_COMPARED = (
    "agency",
    "priority",
    "any",
    "all",
    "none",
    "regex",
    "channels",
    "areas",
    "description",
)


@dataclass(frozen=True, slots=True)
class RuleChange:
    rule_id: str
    # One entry per changed field: "agency: PUPR → DISHUB", "any: +aspal −lubang".
    changes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RuleSetDiff:
    added: tuple[Rule, ...]
    removed: tuple[Rule, ...]
    changed: tuple[RuleChange, ...]
    other: tuple[str, ...]  # fallback, areas, rule order

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.other)

    def lines(self) -> list[str]:
        out = [f"  {line}" for line in self.other]
        out += [f"+ {r.id} → {r.agency}: {_summary(r)}" for r in self.added]
        out += [f"- {r.id} → {r.agency}" for r in self.removed]
        out += [f"~ {c.rule_id}: {'; '.join(c.changes)}" for c in self.changed]
        return out or ["  no differences"]


def diff_rule_sets(old: RuleSet, new: RuleSet) -> RuleSetDiff:
    before = {rule.id: rule for rule in old.rules}
    after = {rule.id: rule for rule in new.rules}
    other = []
    if old.fallback != new.fallback:
        other.append(f"fallback: {old.fallback} → {new.fallback}")
    old_areas = {a.name: a for a in old.areas}
    new_areas = {a.name: a for a in new.areas}
    for name in sorted(new_areas.keys() - old_areas.keys()):
        other.append(f"area added: {name}")
    for name in sorted(old_areas.keys() - new_areas.keys()):
        other.append(f"area removed: {name}")
    for name in sorted(old_areas.keys() & new_areas.keys()):
        if _area_fields(old_areas[name]) != _area_fields(new_areas[name]):
            other.append(f"area changed: {name}")
    kept_old = [rule_id for rule_id in before if rule_id in after]
    kept_new = [rule_id for rule_id in after if rule_id in before]
    if kept_old != kept_new:
        other.append("rule order changed (order breaks ties between equal rules)")
    return RuleSetDiff(
        added=tuple(rule for rule_id, rule in after.items() if rule_id not in before),
        removed=tuple(rule for rule_id, rule in before.items() if rule_id not in after),
        changed=tuple(
            RuleChange(rule_id, changes)
            for rule_id in kept_new
            if (changes := _changes(before[rule_id], after[rule_id]))
        ),
        other=tuple(other),
    )


def _changes(old: Rule, new: Rule) -> tuple[str, ...]:
    changes = []
    for name in _COMPARED:
        a, b = getattr(old, name), getattr(new, name)
        if a == b:
            continue
        if isinstance(a, tuple):
            gained = [f"+{x}" for x in b if x not in a]
            lost = [f"−{x}" for x in a if x not in b]
            changes.append(f"{name}: {' '.join(gained + lost) or 'reordered'}")
        else:
            changes.append(
                f"{name}: {a!r} → {b!r}" if name == "description" else f"{name}: {a} → {b}"
            )
    return tuple(changes)


def _summary(rule: Rule) -> str:
    parts = [
        f"{name} [{', '.join(getattr(rule, name))}]"
        for name in _COMPARED[2:8]
        if getattr(rule, name)
    ]
    if rule.priority:
        parts.insert(0, f"priority {rule.priority}")
    return "; ".join(parts)


def _area_fields(area: object) -> tuple[object, ...]:
    return tuple(getattr(area, f.name) for f in fields(area) if f.name != "line")  # type: ignore[arg-type]
