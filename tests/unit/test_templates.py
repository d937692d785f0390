"""Resident- and officer-facing text: every sentence in both languages and in templates, dates
in the city's time, in the resident's language, contacts masked."""

from __future__ import annotations

import ast
import calendar
import re
import string
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.lifecycle import ComplaintStatus as S
from bot.domain.lifecycle import Event, IllegalTransition, next_status
from bot.domain.privacy import mask_contact
from bot.messaging.templates import _TEXTS, format_when, render, status_label, transition_refused

JAKARTA = ZoneInfo("Asia/Jakarta")


def test_dates_are_local_and_localised() -> None:
    moment = datetime(2026, 3, 20, 17, 30, tzinfo=UTC)  # Saturday 00:30 in Jakarta
    assert format_when(moment, "id", JAKARTA) == "Sabtu, 21 Maret 2026 00.30 WIB"
    assert format_when(moment, "en", JAKARTA) == "Saturday 21 March 2026 00:30 WIB"


def test_every_day_and_month_is_named() -> None:
    for month in range(1, 13):
        moment = datetime(2026, month, 1, 5, 7, tzinfo=UTC)  # 12:07 in Jakarta
        weekday, name = calendar.day_name[moment.weekday()], calendar.month_name[month]
        english = format_when(moment, "en", JAKARTA, short=True)
        assert english == f"{weekday} 1 {name} 12:07 WIB"
        assert format_when(moment, "id", JAKARTA).endswith(" 2026 12.07 WIB")


def test_unknown_language_falls_back_to_indonesian() -> None:
    assert render("language_set", "jv") == render("language_set", "id")


def test_contacts_are_masked() -> None:
    assert mask_contact("+6281234567890") == "+62812•••••890"
    assert mask_contact("budi.santoso@mail.id") == "b•••@mail.id"
    assert mask_contact("anon:abc") == "anonim"
    assert mask_contact("12345") == "•••••"


def test_every_text_has_both_languages_with_the_same_placeholders() -> None:
    for key, texts in _TEXTS.items():
        assert set(texts) == {"id", "en"}, key
        assert _placeholders(texts["id"]) == _placeholders(texts["en"]), key


def test_every_status_and_event_has_words_in_both_languages() -> None:
    for status in S:
        assert status_label(status, "id") != status_label(status, "en")
    for event in Event:
        with pytest.raises(IllegalTransition) as caught:
            next_status(S.CLOSED if event is not Event.REOPEN else S.NEW, event)
        refused = caught.value
        assert refused.allowed, event
        indonesian = transition_refused(refused.status, refused.event, refused.allowed, "id")
        english = transition_refused(refused.status, refused.event, refused.allowed, "en")
        assert indonesian.startswith("Tidak dapat ") and english.startswith("Cannot "), event


def test_an_officer_reads_why_a_status_refuses_an_action() -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_status(S.CLOSED, Event.TRANSFER)
    refused = caught.value
    assert transition_refused(refused.status, refused.event, refused.allowed, "id") == (
        'Tidak dapat mengalihkan: status pengaduan ini "selesai". Tindakan ini hanya untuk '
        "status: baru, diteruskan ke instansi, sedang ditangani, menunggu informasi dari "
        "pelapor, sudah dijawab, dialihkan ke instansi lain, dibuka kembali."
    )
    assert transition_refused(refused.status, refused.event, refused.allowed, "en").startswith(
        'Cannot transfer it: this complaint is "closed". This is possible only when it is: new,'
    )


# Words of Indonesian sentences that English text and code do not use. The adapters'
# sample inputs (the API's example complaint) and file names are not sentences to a person.
_INDONESIAN = frozenset(
    re.findall(
        r"[a-z]+",
        """anda kami kita yang dengan untuk tidak dari sudah belum bisa dapat silakan mohon terima
    kasih maaf selamat datang pilih bahasa pengaduan aduan pesan balas kirim kirimkan tombol
    nomor lampiran rekaman masalah masalahnya lokasi lokasinya instansi pelapor warga alasan
    pertanyaan tuliskan ini itu dan atau akan telah diterima ditemukan diambil dikenal""",
    )
)
_CHANNELS = Path(__file__).parents[2] / "channels"


def test_no_channel_adapter_holds_a_sentence_of_its_own() -> None:
    """Adapters and pages get their words from the templates (adapters through
    bot.channel_registry): a sentence of their own would be one the templates do not have."""
    found: dict[str, set[str]] = {}
    for module in sorted(_CHANNELS.glob("*.py")):
        for text in _string_literals(module.read_text(encoding="utf-8")):
            if words := _INDONESIAN & set(re.findall(r"[a-z]+", text.lower())):
                found.setdefault(f"{module.name}: {text!r}", set()).update(words)
    pages = (_CHANNELS / "templates", _CHANNELS.parent / "bot" / "web" / "pages")
    for page in sorted(path for folder in pages for path in folder.glob("*.html")):
        if words := _INDONESIAN & set(re.findall(r"[a-z]+", page.read_text().lower())):
            found[page.name] = set(words)
    assert not found


def _string_literals(source: str) -> list[str]:
    """The module's string constants, f-strings' parts included, docstrings left out."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def test_an_empty_value_leaves_no_space_before_a_line_break() -> None:
    closed = render("closure", "en", reference="MH4Q-3P9V", agency="DLH", text="")
    assert "MH4Q-3P9V.\nHow satisfied" in closed
