"""The core keyword router (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bootstrap import DEFAULT_KEYWORDS
from routing import KeywordTable, RoutingConfigError
from routing.text import normalise


@pytest.fixture(scope="module")
def table() -> KeywordTable:
    return KeywordTable.from_yaml(DEFAULT_KEYWORDS)


@pytest.mark.parametrize(
    ("text", "agency"),
    [
        ("Jln depan SD berlubang, tlg diperbaiki", "PUPR"),
        ("Asap pabrik bau sekali tiap malam", "DLH"),
        ("banjiiir di perumahan kami", "BPBD"),
        ("Air PDAM keruh dan bau", "PDAM"),
        ("Lampu jalan mati di gang 3", "DISHUB"),
        ("KTP elektronik saya belum jadi", "DISDUKCAPIL"),
        ("PKL berjualan di trotoar", "SATPOLPP"),
        ("Banyak nyamuk, takut DBD", "DINKES"),
        ("Pungli sekolah saat PPDB", "DISDIK"),
        ("Bansos belum cair", "DINSOS"),
    ],
)
def test_default_table_routes_common_complaints(
    table: KeywordTable, text: str, agency: str
) -> None:
    decision = table.decide(text, "sms")
    assert decision.agency_code == agency
    assert decision.matched_terms
    assert decision.explanation_id.startswith("Kata kunci cocok: ")


def test_no_match_goes_to_the_fallback(table: KeywordTable) -> None:
    decision = table.decide("Mohon informasi jam buka kantor walikota", "web")
    assert (decision.agency_code, decision.rule_id, decision.matched_terms) == (
        None,
        "fallback",
        (),
    )


def test_most_hits_win_and_ties_go_to_the_first_listed() -> None:
    table = KeywordTable({"A": ["lampu"], "B": ["lampu", "jalan"]})
    assert table.decide("lampu jalan", "sms").agency_code == "B"
    assert KeywordTable({"A": ["lampu"], "B": ["lampu"]}).decide("lampu", "sms").agency_code == "A"


def test_phrases_match_only_as_a_whole() -> None:
    table = KeywordTable({"PDAM": ["air mati"]})
    assert table.decide("air di rumah mati", "sms").agency_code is None
    assert table.decide("AIR MATI!!", "sms").agency_code == "PDAM"


def test_normalise() -> None:
    assert normalise("Jln. RUSAK bgt, sdh 3 hr!!") == "jalan rusak banget sudah 3 hari"
    assert normalise("banjiiiir") == "banjir"


def test_bad_files_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "keywords.yaml"
    bad.write_text("keywords:\n  PUPR: jalan\n", encoding="utf-8")
    with pytest.raises(RoutingConfigError, match="expected 'keywords:' mapping"):
        KeywordTable.from_yaml(bad)
    bad.write_text("keywords: [", encoding="utf-8")
    with pytest.raises(RoutingConfigError, match="not valid YAML"):
        KeywordTable.from_yaml(bad)
