"""What a resident's message asks for, read from its text alone (pure).

Whether a free-text message is a follow-up or a new complaint depends on stored state,
so intake decides that; this module only recognises commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.references import parse_reference

LANGUAGES = ("id", "en")


@dataclass(frozen=True, slots=True)
class StatusQuery:
    """`STATUS <ref>`; `reference` is None when what followed is not a reference."""

    reference: str | None
    typed: str


@dataclass(frozen=True, slots=True)
class RatingGiven:
    score: int


@dataclass(frozen=True, slots=True)
class LanguageChoice:
    """`BAHASA id|en`; `language` is None for anything else after the keyword."""

    language: str | None


Command = StatusQuery | RatingGiven | LanguageChoice

_STATUS = re.compile(r"^/?(?:status|cek|lacak|track)\b[\s:#]*(.*)$", re.IGNORECASE | re.DOTALL)
_LANGUAGE = re.compile(r"^/?(?:bahasa|language|lang)\b[\s:]*(.*)$", re.IGNORECASE | re.DOTALL)
_RATING = re.compile(
    r"^(?:/?(?:nilai|rating|rate)\b[\s:]*)?([1-5])(?:\s*/\s*5)?[.!]*$", re.IGNORECASE
)
_STARS = re.compile(r"^[⭐★]{1,5}$")
_LANGUAGE_NAMES = {
    "id": "id",
    "ind": "id",
    "indonesia": "id",
    "indonesian": "id",
    "en": "en",
    "eng": "en",
    "english": "en",
    "inggris": "en",
}


def parse_command(text: str) -> Command | None:
    stripped = text.strip()
    if match := _STATUS.match(stripped):
        typed = match.group(1).strip()
        return StatusQuery(parse_reference(typed) if typed else None, typed)
    if match := _LANGUAGE.match(stripped):
        return LanguageChoice(_LANGUAGE_NAMES.get(match.group(1).strip().lower()))
    if match := _RATING.match(stripped):
        return RatingGiven(int(match.group(1)))
    if _STARS.match(stripped):
        return RatingGiven(len(stripped))
    return None


# Frequent words that tell the two languages apart in short complaints.
_ENGLISH_WORDS = """the is are was were and please my our there this that not with from have has
been street road water near since broken days week garbage light"""
_INDONESIAN_WORDS = """yang dan di ke dari tidak sudah belum ada ini itu dengan tolong mohon jalan
air sejak hari kami saya rumah depan sampah lampu rusak yg gk ga tdk sdh blm tlg"""
_ENGLISH = frozenset(_ENGLISH_WORDS.split())
_INDONESIAN = frozenset(_INDONESIAN_WORDS.split())


def guess_language(text: str) -> str:
    """'en' when the text reads as English, else 'id' (the city's default)."""
    words = re.findall(r"[a-z]+", text.lower())
    english = sum(word in _ENGLISH for word in words)
    indonesian = sum(word in _INDONESIAN for word in words)
    return "en" if english > indonesian else "id"
