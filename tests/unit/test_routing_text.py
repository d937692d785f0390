"""Normalisation of everyday Indonesian: rules and residents meet on the same words (pure)."""

from __future__ import annotations

import pytest

from routing.text import normalise, tokens, words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jln. RUSAK bgt, sdh 3 hr!!", "jalan rusak banget sudah 3 hari"),
        ("banjiiiir", "banjir"),
        ("lubang-lubang", "lubang"),
        ("lubang2 di jln", "lubang di jalan"),
        ("berlubang", "lubang"),
        ("lobang", "lubang"),
        ("kebocoran pipa", "bocor pipa"),
        ("e-KTP saya", "ektp saya"),
        ("tdk ada air yg mengalir", "tidak ada air yang alir"),
        ("ＡＳＡＰ pabrik", "asap pabrik"),  # full-width letters
        ("RT-RW 05", "rt rw 05"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_english_endings_resolve_to_words_the_rules_use() -> None:
    vocabulary = {"pothole", "flood", "streetlight"}
    assert tokens("Potholes and flooding near the streetlights", vocabulary) == [
        "pothole",
        "and",
        "flood",
        "near",
        "the",
        "streetlight",
    ]
    # Indonesian words ending in -s are left alone when no rule word is hiding inside.
    assert tokens("kelas bis", vocabulary) == ["kelas", "bis"]


def test_words_keep_digits_and_drop_punctuation() -> None:
    assert words("No. 12/B, RT 03!") == ["no", "12", "b", "rt", "03"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ktp blm jadi smp2 6 bulan", ["ktp", "belum", "jadi", "sampai", "6", "bulan"]),
        ("lampu2nya mati", ["lampu", "mati"]),
        ("sungai dicemari pabrik", ["sungai", "cemar", "pabrik"]),
        ("jembatan penyebrangan", ["jembatan", "seberang"]),
    ],
)
def test_shorthand_reduplication_and_stem_repairs(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def test_repairs_that_need_to_know_the_rule_words() -> None:
    vocabulary = {"ktp", "macet", "bansos", "longsor"}
    assert tokens("ktpnya hilang, macett, bansosnya, longsorr", vocabulary) == [
        "ktp",
        "hilang",
        "macet",
        "bansos",
        "longsor",
    ]
