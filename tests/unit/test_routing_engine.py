"""The default rule file (config/rules.yaml) against complaints as residents write them.

The cases live in tests/data/routing_cases.yaml: add a case there when a complaint is
misrouted, then fix the rules until every case passes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from routing.loader import LoadedRules, load_rules
from routing.matcher import CompiledRules
from routing.text import normalise

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "config" / "rules.yaml"
AGENCIES_FILE = ROOT / "config" / "agencies.yaml"
CASES_FILE = Path(__file__).resolve().parents[1] / "data" / "routing_cases.yaml"
CHANNELS = {"web", "sms", "email", "telegram"}


def _agencies() -> list[dict[str, Any]]:
    return list(yaml.safe_load(AGENCIES_FILE.read_text(encoding="utf-8"))["agencies"])


AGENCY_CODES = [agency["code"] for agency in _agencies()]
FALLBACK = next(agency["code"] for agency in _agencies() if agency.get("fallback"))
CASES: list[dict[str, Any]] = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))


def _case_id(index: int, case: dict[str, Any]) -> str:
    start = re.sub(r"\s+", " ", str(case["text"])).strip()[:40].rstrip()
    return f"{index:03d}-{case['agency']}-{start}"


@pytest.fixture(scope="module")
def loaded() -> LoadedRules:
    return load_rules(
        RULES_FILE.read_text(encoding="utf-8"), agencies=AGENCY_CODES, source=str(RULES_FILE)
    )


@pytest.fixture(scope="module")
def compiled(loaded: LoadedRules) -> CompiledRules:
    return CompiledRules(loaded.rules)


@pytest.mark.parametrize(
    "case", CASES, ids=[_case_id(index, case) for index, case in enumerate(CASES)]
)
def test_case_is_routed_to_its_agency(compiled: CompiledRules, case: dict[str, Any]) -> None:
    decision = compiled.decide(case["text"], case.get("channel", "sms"))
    assert decision.agency_code == case["agency"], (
        f"rule {decision.rule_id!r} matched {decision.matched_terms}; note: {case.get('note', '-')}"
    )


def test_default_rules_load_without_errors_or_warnings(loaded: LoadedRules) -> None:
    assert loaded.warnings == ()
    assert loaded.rules.fallback == FALLBACK


def test_default_rules_have_at_least_300_distinct_terms(loaded: LoadedRules) -> None:
    distinct = {normalise(term) for rule in loaded.rules.rules for term in rule.terms}
    assert len(distinct) >= 300


def test_every_agency_but_the_fallback_has_a_rule(loaded: LoadedRules) -> None:
    with_rules = {rule.agency for rule in loaded.rules.rules}
    missing = sorted(set(AGENCY_CODES) - {FALLBACK} - with_rules)
    assert missing == []


def test_every_rule_explains_itself(loaded: LoadedRules) -> None:
    undescribed = [rule.id for rule in loaded.rules.rules if not rule.description.strip()]
    assert undescribed == []


def test_cases_file_is_well_formed() -> None:
    assert len(CASES) >= 150
    for case in CASES:
        assert set(case) <= {"text", "agency", "channel", "note"}, case
        assert isinstance(case["text"], str) and case["text"].strip(), case
        assert case["agency"] in AGENCY_CODES, case
        assert case.get("channel", "sms") in CHANNELS, case
    assert {case["agency"] for case in CASES} == set(AGENCY_CODES)


def test_a_chosen_category_routes_by_its_rule_whatever_the_words(compiled: CompiledRules) -> None:
    chosen = compiled.chosen("pupr-roads")
    by_words = compiled.decide("asap pabrik bau menyengat", "open311")

    assert chosen is not None and (chosen.agency_code, chosen.rule_id) == ("PUPR", "pupr-roads")
    assert by_words.agency_code == "DLH"
    fallback = compiled.chosen("fallback")
    assert fallback is not None and fallback.agency_code == FALLBACK
    assert compiled.chosen("no-such-rule") is None
