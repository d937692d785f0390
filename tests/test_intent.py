"""Commands recognised in what residents type (pure)."""

from __future__ import annotations

import pytest

from bot.intent import LanguageChoice, RatingGiven, StatusQuery, guess_language, parse_command


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("STATUS K7QD-4XMP", StatusQuery("K7QD-4XMP", "K7QD-4XMP")),
        ("status k7qd4xmp", StatusQuery("K7QD-4XMP", "k7qd4xmp")),
        ("/status K7QD-4XMP", StatusQuery("K7QD-4XMP", "K7QD-4XMP")),
        ("cek: K7QD-4XMP", StatusQuery("K7QD-4XMP", "K7QD-4XMP")),
        ("STATUS", StatusQuery(None, "")),
        ("status abc", StatusQuery(None, "abc")),
        ("BAHASA en", LanguageChoice("en")),
        ("bahasa Indonesia", LanguageChoice("id")),
        ("language english", LanguageChoice("en")),
        ("BAHASA jawa", LanguageChoice(None)),
        ("5", RatingGiven(5)),
        ("nilai 4", RatingGiven(4)),
        ("3/5", RatingGiven(3)),
        ("⭐⭐", RatingGiven(2)),
    ],
)
def test_commands(text: str, command: object) -> None:
    assert parse_command(text) == command


@pytest.mark.parametrize(
    "text",
    [
        "Jalan rusak di Jl. Status Quo",
        "6",
        "0",
        "statusnya bagaimana ya pengaduan saya",
        "12 lampu mati",
    ],
)
def test_free_text_is_not_a_command(text: str) -> None:
    assert parse_command(text) is None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The street light near my house is broken since last week", "en"),
        ("Lampu jalan depan rumah saya mati sejak minggu lalu", "id"),
        ("lampu jln dpn rmh mati, tlg diperbaiki", "id"),
        ("", "id"),
    ],
)
def test_guess_language(text: str, language: str) -> None:
    assert guess_language(text) == language
