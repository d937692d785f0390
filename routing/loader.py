"""Reading and validating rule files: every problem reported with its line number."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from routing.rules import Area, Problem, Rule, RuleFileError, RuleSet, Severity
from routing.shadowing import shadowing_warnings
from routing.text import normalise

CHANNELS = frozenset({"web", "sms", "email", "telegram", "voice", "open311"})
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_TOP_KEYS = frozenset({"fallback", "areas", "rules"})
_RULE_KEYS = frozenset(
    {"id", "agency", "priority", "description", "any", "all", "none", "regex", "channels", "areas"}
)
_AREA_KEYS = frozenset({"name", "aliases", "bbox"})


@dataclass(frozen=True, slots=True)
class _Located:
    """A YAML value and the line it starts on."""

    value: Any
    line: int


# libyaml's parser when PyYAML was built with it (about ten times faster); marks are the same.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """Safe YAML whose every mapping value and list item remembers its line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        return _Located(super().construct_object(node, deep=True), node.start_mark.line + 1)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            mapping[key] = self.construct_object(value_node)
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> list[Any]:
        return [self.construct_object(child) for child in node.value]


@dataclass
class _Report:
    source: str
    problems: list[Problem] = field(default_factory=list)

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(line, message))

    def warn(self, line: int, message: str) -> None:
        self.problems.append(Problem(line, message, Severity.WARNING))

    @property
    def failed(self) -> bool:
        return any(p.severity is Severity.ERROR for p in self.problems)


@dataclass(frozen=True, slots=True)
class LoadedRules:
    rules: RuleSet
    warnings: tuple[Problem, ...]


def load_rules(
    text: str, *, agencies: Collection[str] | None, source: str = "<rules>", lint: bool = True
) -> LoadedRules:
    """Parse and validate a rule file; RuleFileError lists every error (and warning) found.

    `agencies` are the codes rules may name (None: any, for files checked when applied);
    `lint` adds warnings for rules that can never win. Results are cached by content, so
    every instance re-reading the same stored version parses it once.
    """
    return _load(text, None if agencies is None else frozenset(agencies), source, lint)


@lru_cache(maxsize=16)
def _load(text: str, agencies: frozenset[str] | None, source: str, lint: bool) -> LoadedRules:
    report = _Report(source)
    try:
        document = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        reason = getattr(exc, "problem", None) or str(exc)
        raise RuleFileError(source, (Problem(line, f"not valid YAML: {reason}"),)) from None
    rule_set = _rule_set(document, agencies, report)
    if lint and rule_set is not None and not report.failed:
        for line, message in shadowing_warnings(rule_set):
            report.warn(line, message)
    if rule_set is None or report.failed:
        raise RuleFileError(source, tuple(sorted(report.problems, key=lambda p: p.line)))
    return LoadedRules(rule_set, tuple(report.problems))


def _rule_set(document: Any, agencies: frozenset[str] | None, report: _Report) -> RuleSet | None:
    if not isinstance(document, _Located) or not isinstance(document.value, dict):
        report.error(1, "a rule file is a mapping with 'fallback:' and 'rules:'")
        return None
    top: dict[str, _Located] = document.value
    _unknown_keys(top, _TOP_KEYS, "the file", document.line, report)
    fallback = _agency(top.get("fallback"), "fallback", agencies, document.line, report)
    areas = _areas(top.get("areas"), report)
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    raw_rules = top.get("rules")
    if raw_rules is None or not isinstance(raw_rules.value, list):
        report.error(
            raw_rules.line if raw_rules else document.line, "'rules:' must be a list of rules"
        )
        return None
    area_names = frozenset(area.name.casefold() for area in areas)
    for item in raw_rules.value:
        raw_id = item.value.get("id") if isinstance(item.value, dict) else None
        if raw_id is not None and isinstance(raw_id.value, str | int):
            first = seen.setdefault(str(raw_id.value), item.line)
            if first != item.line:
                report.error(
                    item.line, f"duplicate rule id {raw_id.value!r} (first used on line {first})"
                )
                continue
        rule = _rule(item, agencies, area_names, report)
        if rule is not None:
            rules.append(rule)
    return RuleSet(fallback or "", tuple(rules), areas, document.line)


def _rule(
    item: _Located, agencies: frozenset[str] | None, areas: frozenset[str], report: _Report
) -> Rule | None:
    if not isinstance(item.value, dict):
        report.error(
            item.line, "each rule is a mapping with at least 'id', 'agency' and a condition"
        )
        return None
    raw: dict[str, _Located] = item.value
    rule_id = _string(raw.get("id"), "id", item.line, report)
    label = f"rule {rule_id!r}" if rule_id else "this rule"
    _unknown_keys(raw, _RULE_KEYS, label, item.line, report)
    if rule_id is not None and not _RULE_ID.match(rule_id):
        report.error(
            raw["id"].line,
            f"rule id {rule_id!r}: use lower-case letters, digits, '.', '_' or '-' (at most 80)",
        )
    agency = _agency(raw.get("agency"), f"{label}: agency", agencies, item.line, report)
    priority = raw.get("priority")
    if priority is not None and (
        not isinstance(priority.value, int) or isinstance(priority.value, bool)
    ):
        report.error(priority.line, f"{label}: priority must be a whole number")
    conditions = {
        key: _strings(raw.get(key), f"{label}: {key}", report)
        for key in ("any", "all", "none", "regex", "channels", "areas")
    }
    present = [key for key in conditions if key in raw]
    if not present:
        report.error(
            item.line, f"{label} has no condition: give any, all, none, regex, channels or areas"
        )
    if conditions["none"] and not any(conditions[k] for k in ("any", "all", "regex")):
        report.error(raw["none"].line, f"{label}: 'none' alone would match almost everything")
    for term_key in ("any", "all", "none"):
        for term, line in _items(raw.get(term_key)):
            if isinstance(term, str) and not normalise(term):
                report.error(line, f"{label}: term {term!r} has no letters or digits to match")
    for pattern, line in _items(raw.get("regex")):
        try:
            re.compile(str(pattern))
        except re.error as exc:
            report.error(line, f"{label}: bad regular expression {pattern!r}: {exc}")
    for channel, line in _items(raw.get("channels")):
        if channel not in CHANNELS:
            report.error(
                line, f"{label}: unknown channel {channel!r} (use {', '.join(sorted(CHANNELS))})"
            )
    for area, line in _items(raw.get("areas")):
        if isinstance(area, str) and area.casefold() not in areas:
            report.error(line, f"{label}: area {area!r} is not defined under 'areas:'")
    if rule_id is None or agency is None:
        return None
    description = raw.get("description")
    return Rule(
        id=rule_id,
        agency=agency,
        priority=priority.value if priority is not None and isinstance(priority.value, int) else 0,
        any=conditions["any"],
        all=conditions["all"],
        none=conditions["none"],
        regex=conditions["regex"],
        channels=conditions["channels"],
        areas=conditions["areas"],
        description=str(description.value) if description is not None else "",
        line=item.line,
    )


def _areas(raw: _Located | None, report: _Report) -> tuple[Area, ...]:
    if raw is None:
        return ()
    if not isinstance(raw.value, list):
        report.error(raw.line, "'areas:' must be a list of areas with a name")
        return ()
    areas = []
    for item in raw.value:
        if not isinstance(item.value, dict):
            report.error(
                item.line, "each area is a mapping with 'name' and optional 'aliases', 'bbox'"
            )
            continue
        fields: dict[str, _Located] = item.value
        name = _string(fields.get("name"), "area name", item.line, report)
        _unknown_keys(fields, _AREA_KEYS, f"area {name!r}", item.line, report)
        aliases = _strings(fields.get("aliases"), f"area {name!r}: aliases", report)
        bbox = _bbox(fields.get("bbox"), name, report)
        if name is not None:
            areas.append(Area(name=name, aliases=aliases, bbox=bbox, line=item.line))
    return tuple(areas)


def _bbox(
    raw: _Located | None, name: str | None, report: _Report
) -> tuple[float, float, float, float] | None:
    if raw is None:
        return None
    values = [item.value for item in raw.value] if isinstance(raw.value, list) else []
    if len(values) != 4 or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        report.error(raw.line, f"area {name!r}: bbox is [south, west, north, east] in degrees")
        return None
    south, west, north, east = (float(v) for v in values)
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
        report.error(raw.line, f"area {name!r}: bbox needs south < north and west < east")
        return None
    return south, west, north, east


def _agency(
    raw: _Located | None, what: str, agencies: frozenset[str] | None, line: int, report: _Report
) -> str | None:
    code = _string(raw, what, line, report)
    if code is not None and agencies is not None and code not in agencies:
        known = ", ".join(sorted(agencies))
        report.error(raw.line if raw else line, f"{what}: unknown agency {code!r} (known: {known})")
        return None
    return code


def _string(raw: _Located | None, what: str, line: int, report: _Report) -> str | None:
    if raw is None:
        report.error(line, f"{what} is missing")
        return None
    if (
        not isinstance(raw.value, str | int)
        or isinstance(raw.value, bool)
        or not str(raw.value).strip()
    ):
        report.error(raw.line, f"{what} must be a non-empty text")
        return None
    return str(raw.value).strip()


def _strings(raw: _Located | None, what: str, report: _Report) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw.value, list):
        report.error(raw.line, f"{what} must be a list, e.g. [asap, limbah]")
        return ()
    if not raw.value:
        report.error(raw.line, f"{what} is an empty condition: remove it or add terms")
        return ()
    values = []
    for item in raw.value:
        if (
            isinstance(item.value, str | int | float)
            and not isinstance(item.value, bool)
            and str(item.value).strip()
        ):
            values.append(str(item.value).strip())
        else:
            report.error(item.line, f"{what}: each entry must be a non-empty text")
    return tuple(values)


def _items(raw: _Located | None) -> list[tuple[Any, int]]:
    if raw is None or not isinstance(raw.value, list):
        return []
    return [(item.value, item.line) for item in raw.value]


def _unknown_keys(
    mapping: dict[str, _Located], allowed: frozenset[str], where: str, line: int, report: _Report
) -> None:
    for key, value in mapping.items():
        if key not in allowed:
            report.error(
                value.line if isinstance(value, _Located) else line,
                f"{where}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})",
            )
