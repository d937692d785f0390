"""Resident-facing text: dates in the city's time, in the resident's language, contacts masked."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.domain.privacy import mask_contact
from bot.messaging.templates import format_when, render

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
