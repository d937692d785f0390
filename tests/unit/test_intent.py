"""Commands recognised in what residents type (pure)."""

from __future__ import annotations

import pytest

from bot.domain.commands import (
    HelpRequest,
    LanguageChoice,
    OptIn,
    OptOut,
    RatingGiven,
    StatusQuery,
    Thanks,
    guess_language,
    parse_command,
)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("STATUS K7QD-4XMP", StatusQuery("K7QD-4XMP", "K7QD-4XMP")),
        ("status k7qd4xmp", StatusQuery("K7QD-4XMP", "k7qd4xmp")),
        ("/status K7QD-4XMP", StatusQuery("K7QD-4XMP", "K7QD-4XMP")),
        ("cek: K7QD-4XMP", StatusQuery("K7QD-4XMP", "K7QD-4XMP")),
        ("STATUS", StatusQuery(None, "")),
        ("status abc", StatusQuery(None, "abc")),
        ("status K7QD 4XMP", StatusQuery("K7QD-4XMP", "K7QD 4XMP")),
        ("Cek dong", StatusQuery(None, "dong")),
        ("BAHASA en", LanguageChoice("en")),
        ("bahasa Indonesia", LanguageChoice("id")),
        ("language english", LanguageChoice("en")),
        ("BAHASA jawa", LanguageChoice(None)),
        ("5", RatingGiven(5)),
        ("nilai 4", RatingGiven(4)),
        ("3/5", RatingGiven(3)),
        ("⭐⭐", RatingGiven(2)),
        ("BANTUAN", HelpRequest()),
        ("  help! ", HelpRequest()),
        ("Info?", HelpRequest()),
        ("/help", HelpRequest()),
        ("STOP", OptOut("STOP")),
        ("stop.", OptOut("STOP")),
        ("Stop 🙏", OptOut("STOP")),
        ("berhenti", OptOut("BERHENTI")),
        ("UNREG", OptOut("UNREG")),
        ("STOPALL", OptOut("STOPALL")),
        ("unsubscribe", OptOut("UNSUBSCRIBE")),
        ("Cancel", OptOut("CANCEL")),
        ("END", OptOut("END")),
        ("quit", OptOut("QUIT")),
        ("MULAI", OptIn("MULAI")),
        ("start", OptIn("START")),
        ("UNSTOP", OptIn("UNSTOP")),
        ("Yes", OptIn("YES", only_after_opt_out=True)),
        ("Terima kasih banyak pak", Thanks()),
        ("terimakasih 🙏", Thanks()),
        ("Makasih ya bu!", Thanks()),
        ("Alhamdulillah, terima kasih atas bantuannya", Thanks()),
        ("Thank you very much", Thanks()),
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
        # A keyword is a command only when it is the whole message.
        "stop banjir di jalan",
        "tolong bantuan air mati",
        "Mohon bantuan, lampu jalan mati",
        "help me the road is flooded",
        "info jadwal pengangkutan sampah",
        "berhenti di halte tapi bus tidak datang",
        "mulai kapan diperbaiki?",
        "yes the hole is still there",
        "end of the street is dark",
        "STOP2",
        "startup",
        "stop stop",
        # STATUS and BAHASA take one word: more is a sentence that starts with the word.
        "Cek dong, lampu jalan di Jl. Mawar mati sejak kemarin malam",
        "Status jalan di Kel. Sukamaju rusak parah",
        "Lacak truk sampah yang buang sampah sembarangan",
        "Track: saluran air tersumbat",
        "Bahasa kasar petugas parkir di pasar",
        "Language used by the officer was rude",
        # Thanks with anything more is a message: a complaint, or a follow-up.
        "Terima kasih, tapi lampunya mati lagi",
        "Terima kasih. Sampah di Jl. Mawar belum diangkut",
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
