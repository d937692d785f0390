"""How an SMS text is encoded and billed: GSM-7 or UCS-2, and how many segments it takes.

A text made only of GSM 03.38 characters goes as GSM-7: 160 characters in one segment, 153
per segment when concatenated, with the extension characters (`{ } [ ] ~ \\ | ^ €`)
counting twice. One character outside the alphabet (an emoji, a curly quote, a Javanese
letter) turns the whole text into UCS-2: 70 UTF-16 units in one segment, 67 when
concatenated, and an emoji costs two units. Residents and agencies pay per segment, so
texts meant for SMS are measured with this before they are sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")
_GSM = _GSM_BASIC | _GSM_EXTENSION


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True)
class SmsSize:
    encoding: Encoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


_LIMITS = {Encoding.GSM7: (160, 153), Encoding.UCS2: (70, 67)}


def encoding_of(text: str) -> Encoding:
    return Encoding.GSM7 if _GSM.issuperset(text) else Encoding.UCS2


def _units(ch: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return 2 if ch in _GSM_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def _units_of(text: str, encoding: Encoding) -> int:
    # Counted by the str methods, not a character at a time: every SMS reply is measured.
    if encoding is Encoding.GSM7:
        return len(text) + sum(text.count(ch) for ch in _GSM_EXTENSION)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def measure(text: str) -> SmsSize:
    """The encoding, the units and the number of segments `text` takes."""
    encoding = encoding_of(text)
    units = _units_of(text, encoding)
    single, part = _LIMITS[encoding]
    segments = 1 if units <= single else -(-units // part)
    return SmsSize(encoding, units, segments)


def fit(text: str, max_segments: int, tail: str = "") -> str:
    """`text` if it fits in `max_segments`, else cut at a word and ended with `tail`.

    `tail` (e.g. "… selengkapnya: https://…/K7QD-4XMP") is kept whole; the cut never
    splits a character that needs two units, nor an escape of the GSM extension table.
    """
    if measure(text).segments <= max_segments:
        return text
    encoding = encoding_of(text + tail)
    single, part = _LIMITS[encoding]
    budget = (single if max_segments == 1 else part * max_segments) - _units_of(tail, encoding)
    if budget <= 0:
        raise ValueError("the tail alone does not fit in the allowed segments")
    kept, used = [], 0
    for ch in text:
        cost = _units(ch, encoding)
        if used + cost > budget:
            break
        kept.append(ch)
        used += cost
    head = "".join(kept)
    if len(head) < len(text) and not text[len(head)].isspace():
        # Mid-word: back to the last space, unless one long word (a URL) fills the budget.
        cut = max(head.rfind(" "), head.rfind("\n"))
        if cut > len(head) // 2:
            head = head[:cut]
    return head.rstrip() + tail


def ellipsis_for(text: str) -> str:
    """The mark that ends a cut text without changing its encoding.

    "…" is one unit in UCS-2 but is not in the GSM alphabet: after a GSM-7 text it would
    turn the whole message into UCS-2 and cost it more than half of its budget.
    """
    return "…" if encoding_of(text) is Encoding.UCS2 else "..."
