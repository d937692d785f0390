"""Rule files: validation with line numbers, the compiled matcher, shadowing and diffs (pure)."""

from __future__ import annotations

import textwrap

import pytest

from routing import CompiledRules, RuleFileError, Severity, diff_rule_sets, load_rules

AGENCIES = {"DLH", "PUPR", "DISHUB", "BPBD", "DISKOMINFO"}


def rules(body: str) -> str:
    return "fallback: DISKOMINFO\n" + textwrap.dedent(body)


def compiled(body: str) -> CompiledRules:
    return CompiledRules(load_rules(rules(body), agencies=AGENCIES).rules, "v7")


def problems(text: str) -> list[str]:
    with pytest.raises(RuleFileError) as caught:
        load_rules(text, agencies=AGENCIES, source="rules.yaml")
    return str(caught.value).splitlines()


def test_every_problem_is_reported_with_its_line() -> None:
    text = rules(
        """\
        rules:
          - id: asap
            agency: DLHX
            any: [asap]
          - id: asap
            agency: DLH
            any: []
          - id: jalan
            agency: PUPR
            regex: ['(unclosed']
            keywords: [jalan]
          - id: lampu
            agency: DISHUB
        """
    )
    assert problems(text) == [
        "rules.yaml:4: error: rule 'asap': agency: unknown agency 'DLHX' (known: BPBD, DISHUB, "
        "DISKOMINFO, DLH, PUPR)",
        "rules.yaml:6: error: duplicate rule id 'asap' (first used on line 3)",
        "rules.yaml:11: error: rule 'jalan': bad regular expression '(unclosed': missing ), "
        "unterminated subpattern at position 0",
        "rules.yaml:12: error: rule 'jalan': unknown key 'keywords' (allowed: agency, all, any, "
        "areas, channels, description, id, none, priority, regex)",
        "rules.yaml:13: error: rule 'lampu' has no condition: give any, all, none, regex, "
        "channels or areas",
    ]


def test_empty_conditions_and_unknown_references_are_errors() -> None:
    text = rules(
        """\
        rules:
          - id: a
            agency: DLH
            any: []
          - id: b
            agency: DLH
            any: asap
            channels: [fax]
            areas: [Atlantis]
          - id: c
            agency: DLH
            none: [rokok]
        """
    )
    found = problems(text)
    assert (
        "rules.yaml:5: error: rule 'a': any is an empty condition: remove it or add terms" in found
    )
    assert "rules.yaml:8: error: rule 'b': any must be a list, e.g. [asap, limbah]" in found
    assert any(
        line.startswith("rules.yaml:9: error: rule 'b': unknown channel 'fax'") for line in found
    )
    assert "rules.yaml:10: error: rule 'b': area 'Atlantis' is not defined under 'areas:'" in found
    assert "rules.yaml:13: error: rule 'c': 'none' alone would match almost everything" in found


def test_broken_yaml_names_its_line() -> None:
    assert problems("fallback: DLH\nrules:\n  - id: [unclosed\n") == [
        "rules.yaml:4: error: not valid YAML: did not find expected ',' or ']'"
    ]


def test_a_rule_always_beaten_by_another_is_a_warning() -> None:
    loaded = load_rules(
        rules(
            """\
            rules:
              - id: polusi
                agency: DLH
                priority: 5
                any: [asap, limbah]
              - id: limbah-sungai
                agency: PUPR
                any: [limbah]
                all: [sungai]
              - id: limbah-kecuali-rumah
                agency: PUPR
                any: [limbah]
                none: [rumah]
                priority: 9
            """
        ),
        agencies=AGENCIES,
    )
    [warning] = loaded.warnings
    assert warning.severity is Severity.WARNING and warning.line == 7
    assert warning.message == (
        "rule 'limbah-sungai' never applies: rule 'polusi' (line 3) matches whenever it does "
        "and takes precedence"
    )


MATCHER_RULES = """\
areas:
  - name: Gondokusuman
    aliases: [Demangan, Terban]
    bbox: [-7.79, 110.37, -7.77, 110.39]
rules:
  - id: jalan-rusak
    agency: PUPR
    any: [lubang, jalan rusak, aspal, pothole]
  - id: polusi
    agency: DLH
    priority: 5
    any: [asap, limbah, bau]
    none: [rokok]
  - id: asap-kebakaran
    agency: BPBD
    priority: 5
    all: [asap, kebakaran]
  - id: polusi-demangan
    agency: BPBD
    priority: 6
    any: [limbah]
    areas: [Gondokusuman]
  - id: nomor-kendaraan
    agency: DISHUB
    regex: ['\\b[a-z]{1,2}\\s?\\d{1,4}\\s?[a-z]{1,3}\\b']
    channels: [sms]
"""


@pytest.mark.parametrize(
    ("text", "agency", "rule"),
    [
        ("Jln berlubang-lubang dkt rmh", "PUPR", "jalan-rusak"),
        ("potholes everywhere on my street", "PUPR", "jalan-rusak"),
        ("asap pabrik menyengat", "DLH", "polusi"),
        ("asap kebakaran gudang", "BPBD", "asap-kebakaran"),  # more terms matched wins the tie
        ("bau asap rokok tetangga", "DISKOMINFO", "fallback"),  # 'none' excludes
        ("limbah di Demangan", "BPBD", "polusi-demangan"),  # area named in the text
        ("mobil AB 1234 XY parkir sembarangan", "DISHUB", "nomor-kendaraan"),
        ("halo selamat pagi", "DISKOMINFO", "fallback"),
    ],
)
def test_matcher_decisions(text: str, agency: str, rule: str) -> None:
    decision = compiled(MATCHER_RULES).decide(text, "sms")
    assert (decision.agency_code, decision.rule_id, decision.version) == (agency, rule, "v7")


def test_areas_from_coordinates_and_channels() -> None:
    matcher = compiled(MATCHER_RULES)
    assert matcher.decide("limbah", "sms", -7.78, 110.38).rule_id == "polusi-demangan"
    assert matcher.decide("limbah", "sms", -7.70, 110.38).rule_id == "polusi"
    assert matcher.decide("mobil AB 1234 XY parkir", "email").rule_id == "fallback"


def test_decisions_explain_themselves() -> None:
    decision = compiled(MATCHER_RULES).decide("Limbah di kali Terban", "sms")
    assert decision.matched_terms == ("limbah",)
    assert (
        decision.explanation_id
        == "Aturan 'polusi-demangan' cocok: kata 'limbah'; wilayah Gondokusuman."
    )
    assert (
        decision.explanation_en
        == "Rule 'polusi-demangan' matched: words 'limbah'; area Gondokusuman."
    )


def test_diff_lists_what_changed() -> None:
    old = load_rules(rules(MATCHER_RULES), agencies=AGENCIES).rules
    new_text = (
        rules(MATCHER_RULES)
        .replace("any: [lubang, jalan rusak, aspal, pothole]", "any: [lubang, aspal, trotoar]")
        .replace("agency: DLH\n    priority: 5", "agency: DLH\n    priority: 7")
        .replace(
            "  - id: nomor-kendaraan",
            "  - id: parkir\n    agency: DISHUB\n    any: [parkir]\n  - id: x",
        )
    )
    diff = diff_rule_sets(old, load_rules(new_text, agencies=AGENCIES).rules)
    assert diff.lines() == [
        "+ parkir → DISHUB: any [parkir]",
        "+ x → DISHUB: regex [\\b[a-z]{1,2}\\s?\\d{1,4}\\s?[a-z]{1,3}\\b]; channels [sms]",
        "- nomor-kendaraan → DISHUB",
        "~ jalan-rusak: any: +trotoar −jalan rusak −pothole",
        "~ polusi: priority: 5 → 7",
    ]
    assert diff_rule_sets(old, old).empty
