"""What a resident's message asks for, read from its text alone (pure).

Whether a free-text message is a follow-up or a new complaint depends on stored state,
so intake decides that; this module only recognises commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.references import parse_reference

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


@dataclass(frozen=True, slots=True)
class HelpRequest:
    """`BANTUAN`, `HELP`, `INFO`: what can be sent here."""


@dataclass(frozen=True, slots=True)
class OptOut:
    """`BERHENTI`, `STOP` and the carriers' synonyms: no more messages to this address."""

    keyword: str


@dataclass(frozen=True, slots=True)
class OptIn:
    """`MULAI`, `START`, `UNSTOP`, `YES`: messages again.

    `only_after_opt_out` marks a word that is an ordinary answer ("yes") unless the
    resident has opted out, as Twilio also reads it.
    """

    keyword: str
    only_after_opt_out: bool = False


@dataclass(frozen=True, slots=True)
class Thanks:
    """Thanks alone ("Terima kasih banyak pak" and the like): a courtesy, not a complaint."""


Command = StatusQuery | RatingGiven | LanguageChoice | HelpRequest | OptOut | OptIn | Thanks

# A keyword counts only when it is the whole message, give or take spaces, punctuation,
# emoji and a chat client's leading slash: "stop banjir di jalan" is a complaint.
_KEYWORD = re.compile(r"^[\W_]*([a-z]+)[\W_]*$", re.IGNORECASE)
_HELP_WORDS = frozenset({"bantuan", "help", "info"})
# Twilio's default opt-out words, and Indonesian ones (UNREG is the carriers' own).
_OPT_OUT_WORDS = frozenset(
    {"berhenti", "unreg", "stop", "stopall", "unsubscribe", "cancel", "end", "quit"}
)
_OPT_IN_WORDS = frozenset({"mulai", "start", "unstop"})
_OPT_IN_AFTER_OPT_OUT = frozenset({"yes"})

_STATUS = re.compile(r"^/?(?:status|cek|lacak|track)\b[\s:#]*(.*)$", re.IGNORECASE | re.DOTALL)
_LANGUAGE = re.compile(r"^/?(?:bahasa|language|lang)\b[\s:]*(.*)$", re.IGNORECASE | re.DOTALL)
_RATING = re.compile(
    r"^(?:/?(?:nilai|rating|rate)\b[\s:]*)?([1-5])(?:\s*/\s*5)?[.!]*$", re.IGNORECASE
)
_STARS = re.compile(r"^[⭐★]{1,5}$")
# Thanks, alone: the words people write, then whom and how much, emoji and punctuation.
_THANKS = re.compile(
    r"^(?:[\W_]*(?:terima\s*kasih|makasih?|trims|tengkyu|thanks?|thank\s+you|thx|tq|ty|"
    r"matur\s+nuwun|hatur\s+nuhun|alhamdulillah)"
    r"(?:\s+(?:banyak|ya+|pak|bu|bapak|ibu|kak|mas|mbak|min|admin|petugas|sekali|semua|"
    r"atas\s+bantuannya|very\s+much|so\s+much|a\s+lot))*)+[\W_]*$",
    re.IGNORECASE,
)
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
    if keyword := _keyword(stripped):
        return keyword
    if (match := _STATUS.match(stripped)) and _one_word(typed := match.group(1).strip()):
        return StatusQuery(parse_reference(typed) if typed else None, typed)
    if (match := _LANGUAGE.match(stripped)) and _one_word(chosen := match.group(1).strip()):
        return LanguageChoice(_LANGUAGE_NAMES.get(chosen.lower()))
    if match := _RATING.match(stripped):
        return RatingGiven(int(match.group(1)))
    if _STARS.match(stripped):
        return RatingGiven(len(stripped))
    if _THANKS.match(stripped):
        return Thanks()
    return None


def _one_word(typed: str) -> bool:
    """Whether what follows STATUS or BAHASA can be its argument: nothing, one word, or a
    reference typed with a space. More is a sentence that starts with the word ("Cek dong,
    lampu jalan mati", "Bahasa kasar petugas parkir"): a complaint, not a command."""
    return len(typed.split()) <= 1 or parse_reference(typed) is not None


def _keyword(text: str) -> HelpRequest | OptOut | OptIn | None:
    match = _KEYWORD.match(text)
    if match is None:
        return None
    word = match.group(1).lower()
    if word in _HELP_WORDS:
        return HelpRequest()
    if word in _OPT_OUT_WORDS:
        return OptOut(word.upper())
    if word in _OPT_IN_WORDS or word in _OPT_IN_AFTER_OPT_OUT:
        return OptIn(word.upper(), only_after_opt_out=word in _OPT_IN_AFTER_OPT_OUT)
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
