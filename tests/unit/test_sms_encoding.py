"""SMS encoding and segments (pure): GSM-7 against UCS-2, and cutting to a budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.sms_encoding import Encoding, ellipsis_for, fit, measure

_EXTENSION = "\f^{}\\[~]|€"
# GSM text, with its extension characters, and now and then what turns a text into UCS-2.
_texts = st.text(
    st.sampled_from("Lampu jalan mati 0812 @£$_!?\n" + _EXTENSION) | st.characters(), max_size=400
)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("Lampu jalan mati", Encoding.GSM7, 16, 1),
        ("a" * 160, Encoding.GSM7, 160, 1),
        ("a" * 161, Encoding.GSM7, 161, 2),
        ("a" * 306, Encoding.GSM7, 306, 2),
        ("a" * 307, Encoding.GSM7, 307, 3),
        ("{" * 80, Encoding.GSM7, 160, 1),  # extension characters count twice
        ("Jalan rusak 😡", Encoding.UCS2, 14, 1),  # the emoji is two UTF-16 units
        ("😡" * 35, Encoding.UCS2, 70, 1),
        ("😡" * 36, Encoding.UCS2, 72, 2),
        ("“Sampah” menumpuk", Encoding.UCS2, 17, 1),  # curly quotes are not GSM
        ("ꦱꦩ꧀ꦥꦃ", Encoding.UCS2, 5, 1),  # Javanese script
    ],
)
def test_measure(text: str, encoding: Encoding, units: int, segments: int) -> None:
    size = measure(text)
    assert (size.encoding, size.units, size.segments) == (encoding, units, segments)


@given(_texts)
def test_units_are_counted_a_character_at_a_time(text: str) -> None:
    size = measure(text)
    if size.encoding is Encoding.GSM7:
        expected = sum(2 if ch in _EXTENSION else 1 for ch in text)
    else:
        expected = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
    assert size.units == expected


def test_fit_cuts_at_a_word_and_keeps_the_tail() -> None:
    answer = "Petugas sudah memeriksa lokasi dan akan memperbaiki saluran " * 10
    tail = " … selengkapnya: https://aduan.kota.id/K7QD-4XMP"
    cut = fit(answer, 2, tail)
    assert measure(cut).segments == 2
    assert cut.endswith(tail) and not cut[: -len(tail)].endswith(" ")
    assert fit("Sudah diperbaiki.", 1, tail) == "Sudah diperbaiki."


def test_fit_never_splits_an_emoji() -> None:
    cut = fit("😡" * 100, 1, "…")
    assert measure(cut).segments == 1
    assert cut == "😡" * 34 + "…"


def test_fit_refuses_an_impossible_tail() -> None:
    with pytest.raises(ValueError, match="tail alone does not fit"):
        fit("x" * 500, 1, "y" * 200)


def test_fit_keeps_a_word_that_ends_right_at_the_budget() -> None:
    assert fit("abcd " * 40, 1, "!") == ("abcd " * 32).rstrip() + "!"


def test_fit_cuts_at_a_line_break_too() -> None:
    assert fit("x" * 100 + "\n" + "y" * 100, 1) == "x" * 100


def test_the_ellipsis_keeps_the_encoding() -> None:
    assert ellipsis_for("Jalan sudah diperbaiki") == "..."
    assert ellipsis_for("Jalan sudah diperbaiki 👍") == "…"
    cut = fit("Jalan sudah diperbaiki. " * 20, 2, " " + ellipsis_for("Jalan"))
    assert measure(cut).encoding is Encoding.GSM7 and measure(cut).segments == 2
