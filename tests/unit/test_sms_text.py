"""Replies SMS residents get often fit one GSM-7 segment, in Indonesian and English, with
every default agency and every due date of a year (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.lifecycle import ComplaintStatus
from bot.messaging.templates import format_when, render, status_label
from bot.records.agencies import DEFAULT_AGENCIES, load_agency_file
from channels.sms_encoding import Encoding, measure

JAKARTA = ZoneInfo("Asia/Jakarta")
AGENCIES = load_agency_file(DEFAULT_AGENCIES)
REFERENCE = "K7QD-4XMP"
# Every day of a year at 23:59 local time: every weekday and month name, the longest included.
DUE_DATES = [datetime(2026, 1, 1, 16, 59, tzinfo=UTC) + timedelta(days=day) for day in range(365)]
LANGUAGES = ("id", "en")


def one_gsm_segment(text: str) -> bool:
    size = measure(text)
    return size.encoding is Encoding.GSM7 and size.segments == 1


def values(language: str, code: str, name: str, due: datetime) -> dict[str, str]:
    return {
        "reference": REFERENCE,
        "agency": name,
        "agency_code": code,
        "due": format_when(due, language, JAKARTA),
        "due_short": format_when(due, language, JAKARTA, short=True),
        "typed": REFERENCE,
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_acknowledgement_of_a_new_complaint_fits_one_segment(language: str) -> None:
    longest = ""
    for agency in AGENCIES:
        for due in DUE_DATES:
            text = render(
                "ack_new", language, short=True, **values(language, agency.code, agency.name, due)
            )
            text += render("long_text_kept", language, short=True)
            assert one_gsm_segment(text), (measure(text), text)
            longest = max(longest, text, key=len)
    # The longest agency code and month name are in it, and it still reads as a sentence.
    assert "DISDUKCAPIL" in longest and "September" in longest
    assert longest.count(REFERENCE) == 2


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("status", list(ComplaintStatus))
def test_the_status_reply_fits_one_segment(language: str, status: ComplaintStatus) -> None:
    for agency in AGENCIES:
        for due in DUE_DATES:
            text = render(
                "status",
                language,
                short=True,
                status=status_label(status, language),
                **values(language, agency.code, agency.name, due),
            )
            assert one_gsm_segment(text), (measure(text), text)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    "key",
    ["ack_follow_up", "ack_reopened", "too_short", "status_unknown", "status_missing"],
)
def test_other_frequent_replies_fit_one_segment(language: str, key: str) -> None:
    for agency in AGENCIES:
        text = render(
            key, language, short=True, **values(language, agency.code, agency.name, DUE_DATES[0])
        )
        assert one_gsm_segment(text), (measure(text), text)


def test_the_short_acknowledgement_reads_naturally() -> None:
    due = datetime(2026, 9, 30, 16, 59, tzinfo=UTC)  # Wednesday 23:59 WIB
    assert render("ack_new", "id", short=True, **values("id", "DLH", "-", due)) == (
        "Aduan diterima, no. K7QD-4XMP. Ditangani DLH, dijawab paling lambat "
        "Rabu, 30 September 23.59 WIB. Cek: STATUS K7QD-4XMP."
    )
    assert render("ack_new", "en", short=True, **values("en", "DLH", "-", due)) == (
        "Complaint K7QD-4XMP received. DLH will answer by Wednesday 30 September 23:59 WIB. "
        "Check: STATUS K7QD-4XMP."
    )


def test_a_key_without_a_short_variant_renders_the_ordinary_text() -> None:
    assert render("too_short", "id", short=True) == render("too_short", "id")
