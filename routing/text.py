"""Text normalisation for matching: lower case, no punctuation, SMS shorthand expanded."""

from __future__ import annotations

import re
import unicodedata

SMS_SHORTHAND: dict[str, str] = {
    "yg": "yang",
    "gk": "tidak",
    "ga": "tidak",
    "gak": "tidak",
    "tdk": "tidak",
    "jln": "jalan",
    "jl": "jalan",
    "dgn": "dengan",
    "sdh": "sudah",
    "udh": "sudah",
    "blm": "belum",
    "krn": "karena",
    "tlg": "tolong",
    "bgt": "banget",
    "kmrn": "kemarin",
    "utk": "untuk",
    "dr": "dari",
    "sm": "sama",
    "lg": "lagi",
    "ada2": "ada",
    "skrg": "sekarang",
    "mks": "makasih",
    "trims": "terima kasih",
    "pju": "pju",
}

_NON_WORD = re.compile(r"[^\w\s-]+")
_SPACES = re.compile(r"\s+")
_REPEATS = re.compile(r"(\w)\1{2,}")


def normalise(text: str) -> str:
    """Lower-case words separated by single spaces, shorthand expanded, 'banjiiir' → 'banjir'."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _NON_WORD.sub(" ", text)
    text = _REPEATS.sub(r"\1", text)
    words = [SMS_SHORTHAND.get(word, word) for word in _SPACES.split(text) if word]
    return " ".join(word.strip("-") for word in words if word.strip("-"))
