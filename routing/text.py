"""Text normalisation for matching residents' everyday Indonesian (and English).

Rules and complaints go through the same steps, so `berlubang`, `lubang-lubang`,
`lubang2` and `lobang` all reach a rule written as `lubang`:

1. Unicode NFKC, case folding; words are runs of letters and digits (`e-ktp` stays one).
2. Letters repeated three or more times collapse (`banjiiir` → `banjir`).
3. Reduplication collapses (`lubang-lubang`, `lubang2` → `lubang`).
4. SMS shorthand expands (`yg` → `yang`, `jln` → `jalan`) and spelling variants unify
   (`lobang` → `lubang`).
5. Sastrawi stems Indonesian affixes (`perbaikan` → `baik`, `kebocoran` → `bocor`), cached,
   with overrides where it is wrong (`mencemari` → `cemar`, not `cari`).
6. Where a word is still not one the rules use, three repairs are tried, each only when it
   yields a rule word: clitics (`ktpnya` → `ktp`), doubled-letter typos (`macett` →
   `macet`), English endings (`potholes` → `pothole`); so `kelas` and `bis` survive.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from functools import lru_cache

from Sastrawi.Dictionary.ArrayDictionary import ArrayDictionary
from Sastrawi.Stemmer.Stemmer import Stemmer
from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

SMS_SHORTHAND: dict[str, str] = {
    "yg": "yang",
    "gk": "tidak",
    "ga": "tidak",
    "gak": "tidak",
    "nggak": "tidak",
    "ngga": "tidak",
    "tdk": "tidak",
    "tak": "tidak",
    "jln": "jalan",
    "jl": "jalan",
    "jalan2": "jalan",
    "dgn": "dengan",
    "sdh": "sudah",
    "udh": "sudah",
    "udah": "sudah",
    "blm": "belum",
    "blom": "belum",
    "krn": "karena",
    "krna": "karena",
    "tlg": "tolong",
    "tolongin": "tolong",
    "bgt": "banget",
    "kmrn": "kemarin",
    "kemaren": "kemarin",
    "utk": "untuk",
    "untk": "untuk",
    "dr": "dari",
    "sm": "sama",
    "lg": "lagi",
    "skrg": "sekarang",
    "skrng": "sekarang",
    "sy": "saya",
    "aq": "aku",
    "km": "kamu",
    "dpn": "depan",
    "blkg": "belakang",
    "smp2": "sampai",
    "sampe": "sampai",
    "hr": "hari",
    "mgg": "minggu",
    "bln": "bulan",
    "thn": "tahun",
    "rmh": "rumah",
    "kel": "kelurahan",
    "kec": "kecamatan",
    "gg": "gang",
    "kpd": "kepada",
    "pd": "pada",
    "bs": "bisa",
    "gmn": "gimana",
    "knp": "kenapa",
    "bnyk": "banyak",
    "byk": "banyak",
    "msh": "masih",
    "trs": "terus",
    "ttg": "tentang",
    "tsb": "tersebut",
    "sgt": "sangat",
    "sllu": "selalu",
    "slalu": "selalu",
    "mks": "makasih",
    "trims": "terima kasih",
    "thx": "thanks",
}

# Spellings residents use for the same word; the right-hand side is what rules use.
SPELLING_VARIANTS: dict[str, str] = {
    "lobang": "lubang",
    "lobangnya": "lubang",
    "sampa": "sampah",
    "samph": "sampah",
    "got2": "got",
    "mampet": "mampat",
    "macetnya": "macet",
    "ledeng": "pdam",
    "e-ktp": "ektp",
    "ktp-el": "ektp",
    "traffic-light": "lampu merah",
    "trafficlight": "lampu merah",
    "bpjs-kes": "bpjs",
    "demam-berdarah": "dbd",
    "aer": "air",
    "banjir2": "banjir",
    "lampu2": "lampu",
    "sklh": "sekolah",
    "skolah": "sekolah",
    "sekola": "sekolah",
    "bnjr": "banjir",
    "lmpu": "lampu",
    "smph": "sampah",
    "trafic": "traffic",
    "mabok": "mabuk",
    "berlobang": "berlubang",
    "brlubang": "berlubang",
    "penyebrangan": "penyeberangan",
    "antrian": "antrean",
    "ngalir": "mengalir",
    "nyumbat": "menyumbat",
    "ngelupas": "mengelupas",
    "ngamen": "mengamen",
    "trotoir": "trotoar",
    "akte": "akta",
    "blangko": "blanko",
}

# Stems Sastrawi gets wrong for words residents use in complaints (its dictionary lacks
# the root, or the root hides a shorter word: `mencemari` → `cari`).
STEM_OVERRIDES: dict[str, str] = {
    "mencemari": "cemar",
    "dicemari": "cemar",
    "tercemari": "cemar",
    "pemangkasan": "pangkas",
    "memangkas": "pangkas",
    "pengerukan": "keruk",
    "pergerakan": "gerak",
    "penumpukan": "tumpuk",
    "pemungutan": "pungut",
    "terlantar": "telantar",
    "perawat": "rawat",
    "pemadam": "padam",
    "sewage": "sewage",
}

_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
_DOUBLES = re.compile(r"([^\W\d_])\1")
# `lubang2`, `lampu2nya`, `kebut2an`: the 2 doubles the word, a suffix may follow.
_TRAILING_TWO = re.compile(r"^([^\W\d_]{3,})2(nya|an|lah)?$")
# Clitics Sastrawi does not remove from words outside its dictionary (`ktpnya`, `bansosnya`).
_CLITICS = ("nya", "lah", "kah", "pun", "ku", "mu")
_ENGLISH_SUFFIXES = (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""))


class _WordSet(ArrayDictionary):  # type: ignore[misc]
    """Sastrawi's dictionary looks words up in a list of 30,000 (a linear scan per lookup,
    about 1 ms); the same words in a set make stemming a thousand times faster."""

    def __init__(self, words: list[str]) -> None:
        super().__init__()
        self.words = frozenset(word for word in words if word.strip())

    def contains(self, word: str) -> bool:
        return word in self.words


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer:
    return Stemmer(_WordSet(StemmerFactory().get_words()))


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Sastrawi's stem of one lower-case word (cached: stemming is the costly step)."""
    if word in STEM_OVERRIDES:
        return STEM_OVERRIDES[word]
    if len(word) <= 3 or not word.isalpha():
        return word
    return str(_stemmer().stem(word))


def raw_words(text: str) -> list[str]:
    """Step 1: the lower-case runs of letters and digits, as typed."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def expand(raw: str) -> list[str]:
    """Steps 2–4 for one raw word: repeats, shorthand, variants, reduplication."""
    word = _REPEATS.sub(r"\1", raw)
    word = SMS_SHORTHAND.get(word, word)
    word = SPELLING_VARIANTS.get(word, word)
    if "-" in word:
        return _hyphenated(word)
    if match := _TRAILING_TWO.match(word):
        word = match.group(1)
        word = SPELLING_VARIANTS.get(SMS_SHORTHAND.get(word, word), word)
    return word.split()


def words(text: str) -> list[str]:
    """Steps 1–4: lower-case words with repeats, reduplication and shorthand resolved."""
    return [word for raw in raw_words(text) for word in expand(raw)]


def _hyphenated(word: str) -> list[str]:
    parts = word.split("-")
    if all(part == parts[0] for part in parts):
        return [parts[0]]  # lubang-lubang
    if len(parts[0]) == 1:
        return ["".join(parts)]  # e-ktp
    return [SMS_SHORTHAND.get(part, part) for part in parts]  # sayur-mayur, rt-rw


def canonical(word: str, vocabulary: Collection[str] = ()) -> str:
    """Steps 5–6 for one word: the form rules and texts meet on."""
    if word in vocabulary:
        return word
    stemmed = stem(word)
    if stemmed in vocabulary or not vocabulary:
        return stemmed
    for clitic in _CLITICS:
        if word.endswith(clitic) and word[: -len(clitic)] in vocabulary:
            return word[: -len(clitic)]
    # A doubled letter is often a typo (`macett`, `longsorr`) when the single one is a rule word.
    single = _DOUBLES.sub(r"\1", word)
    if single != word and (single in vocabulary or stem(single) in vocabulary):
        return single if single in vocabulary else stem(single)
    for suffix, replacement in _ENGLISH_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            candidate = word[: -len(suffix)] + replacement
            if candidate in vocabulary:
                return candidate
    return stemmed


def tokens(text: str, vocabulary: Collection[str] = ()) -> list[str]:
    """The canonical words of `text`; `vocabulary` lets English endings resolve."""
    return [canonical(word, vocabulary) for word in words(text)]


def normalise(text: str) -> str:
    """Canonical words joined by single spaces (how rule terms are stored)."""
    return " ".join(tokens(text))
