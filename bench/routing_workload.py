"""Synthetic rule files and complaint texts for `bench.routing`, the same for the same seed.

**Rules.** Each generated rule is a variant of one of the default rules (config/rules.yaml):
its agency, a priority near the default rule's, and 3–15 `any` terms of which about 40% are
the default rule's own terms (real complaint words and phrases) and the rest are specifics
of a big city: generated place names (`Sukabamulya`), objects at a place (`pos ronda
Cigarasari`, 2–3 words) and topic words at a place (`sampah Kebonwangi`). Some rules also
have `all` (15%), `none` (10%), `regex` (3%), `channels` (4%) or `areas` (0.5%) conditions.
A file of N rules is the first N rules of the longest file, so the sets are nested.

**Texts.** Residents' complaints of three lengths: short SMS (5–15 words, shorthand, typos,
reduplication), medium web or Telegram messages (30–60 words) and a few long emails (300+
words). They name problems with the default rules' terms (reshaped the way residents write
them: `lubang2`, `sampahnya`, `banjiiir`) or with words no rule knows, and places that
the rules use, places no rule uses, and the default areas.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bench.report import ROOT
from routing import Area, Rule, load_rules

DEFAULT_RULES = ROOT / "config" / "rules.yaml"
SEED = 20261129
FALLBACK = "DISKOMINFO"

# Place names: a Sundanese or Javanese head, one or two syllables, and a tail.
_HEADS = (
    "ci", "suka", "karang", "tegal", "rawa", "pasir", "kebon", "gunung", "lebak", "sindang",
    "mekar", "sumber", "tanjung", "pondok", "bojong", "jati", "cempaka", "banjar", "sira",
    "pan", "wana", "giri", "cipta", "mulya",
)  # fmt: skip
_SYLLABLES = (
    "ba", "be", "bu", "da", "di", "ga", "gu", "ja", "ka", "ki", "la", "li", "ma", "mu", "na",
    "ni", "ra", "ri", "sa", "si", "ta", "tu", "wa", "ya", "ngo", "ca",
)  # fmt: skip
_TAILS = (
    "jaya", "sari", "maju", "asih", "wangi", "mulya", "indah", "makmur", "rahayu", "endah",
    "mukti", "laksana", "permai", "agung", "rasa", "galih", "nagara", "luhur", "kencana",
    "manik", "ng", "n", "r", "k", "t", "h",
)  # fmt: skip
# Things at a place that rules name next to it ('pos ronda Cigarasari').
OBJECTS = (
    "gardu", "menara", "pos ronda", "balai warga", "masjid", "musala", "gereja", "stasiun",
    "gudang", "lapangan", "makam", "waduk", "situ", "rusun", "ruko", "swalayan", "pasar",
    "kantor kelurahan", "kantor desa", "perumahan", "komplek", "griya", "gang", "blok",
    "lingkungan", "dusun", "kampung", "bantaran", "simpang", "tikungan", "pertigaan",
    "perempatan", "tanjakan", "turunan", "jalur", "gapura", "tugu", "alun-alun", "pelabuhan",
    "dermaga", "pangkalan", "pool", "bengkel", "gedung serbaguna", "pondok pesantren",
)  # fmt: skip
REGEXES = (
    r"\bkm\.?\s?\d+",
    r"\brt\.?\s?0?\d+",
    r"\b\d+\s?(?:hari|minggu|bulan)\b",
    r"\bno\.?\s?\d+",
    r"\bblok\s[a-z]\b",
    r"sejak\s(?:kemarin|kemaren|kmrn)",
)
CHANNELS = ("web", "sms", "email", "telegram")

# Problems residents write about that no rule (default or generated) knows: the fallback's.
UNKNOWN_TOPICS = (
    "listrik padam", "tagihan listrik", "pajak bumi bangunan", "sertifikat tanah", "sinyal hp",
    "harga cabai", "antrean bank", "anjing liar", "kucing mati", "pinjol", "arisan bodong",
    "tetangga berisik", "token listrik", "harga minyak goreng", "kursi patah di balai",
)  # fmt: skip
NAMES = (
    "Budi", "Siti", "Agus", "Dewi", "Rina", "Joko", "Sri", "Wahyu", "Yanti", "Hendra", "Nur",
    "Eko", "Asep", "Ujang", "Euis", "Dadang", "Iwan", "Lilis", "Komar", "Neneng",
)  # fmt: skip
TIMES = ("pagi", "sore", "malam", "malam minggu", "hari Senin", "subuh", "siang", "tengah malam")

SMS_OPENERS = ("", "", "", "tlg", "pak", "min", "lapor", "bu", "mohon", "pagi pak", "asw")
SMS_WHERE = ("di", "di", "dkt", "dpn", "blkg", "sekitar", "dket")
SMS_TAILS = (
    "sdh 3 hr", "sdh seminggu", "blm ada petugas", "tlg dicek", "parah bgt", "skrg makin parah",
    "dr kmrn", "yg dpn rmh sy", "mks", "tdk ada tindakan", "warga resah", "mohon cepat",
    "udh lapor rt", "gmn ini", "bahaya bgt", "tiap hr", "krn hujan", "dgn segera", "thx",
    "msh blm beres", "byk yg ngeluh", "gk ada yg urus", "sy tunggu", "lg2 begini",
)  # fmt: skip
OPENERS = (
    "Selamat pagi, saya warga {place}.", "Assalamualaikum, izin melapor.", "Yth. petugas,",
    "Selamat siang Bapak/Ibu.", "Mohon maaf mengganggu waktunya.", "Lapor min,",
    "Selamat malam admin.", "Saya ingin menyampaikan keluhan.",
)  # fmt: skip
PROBLEMS = (
    "Di {place} ada {topic} sejak {n} hari yang lalu.",
    "{topic} di {place} sudah sangat mengganggu warga.",
    "Kami mengeluhkan {topic} di sekitar {object} {place}.",
    "Sudah {n} minggu {topic} tidak ditangani sama sekali.",
    "Tolong cek {topic} dekat {object} {place}.",
    "Setiap {time} ada {topic} di {place}, dan {topic} juga.",
    "Masalah {topic} di RT 0{n} {place} belum selesai.",
    "Mohon bantuan untuk {topic} di depan {object} {place}.",
)
CONTEXT = (
    "Anak-anak kami setiap hari lewat sini.",
    "Warga sudah lapor ke RT dan kelurahan tapi belum ada tindakan.",
    "Kondisinya makin parah kalau hujan deras.",
    "Banyak pengendara motor yang hampir celaka.",
    "Lokasinya persis di sebelah warung Bu {name}.",
    "Saya sudah kirim foto lewat WA tapi tidak ada tanggapan.",
    "Mohon petugas segera datang untuk memeriksa.",
    "Kejadian ini sudah berulang kali terjadi.",
    "Kami sangat berharap ada solusi secepatnya.",
    "Tetangga saya juga mengeluhkan hal yang sama.",
    "Padahal dulu tidak pernah seperti ini.",
)
CLOSERS = (
    "Terima kasih.",
    "Mohon segera ditindaklanjuti.",
    "Atas perhatiannya saya ucapkan terima kasih.",
    "Tlg dicek ya.",
    "Ditunggu responnya.",
)
FORMAL = (
    "Berdasarkan pengamatan kami selama {n} bulan terakhir, keadaan ini tidak membaik.",
    "Hal ini tentu sangat merugikan masyarakat sekitar, terutama para lansia dan anak-anak.",
    "Kami berharap pemerintah kota dapat memberikan perhatian yang serius terhadap "
    "permasalahan ini.",
    "Sebelumnya kami telah menyampaikan keluhan yang sama melalui kelurahan pada bulan lalu, "
    "namun hingga saat ini belum ada tindak lanjut yang berarti.",
    "Sebagai warga yang taat membayar pajak, kami merasa berhak mendapatkan pelayanan yang "
    "layak dari pemerintah.",
    "Perlu kami sampaikan pula bahwa sebagian warga sudah mulai kehilangan kepercayaan.",
    "Kami siap membantu petugas di lapangan apabila diperlukan keterangan tambahan.",
    "Bersama surat elektronik ini kami lampirkan beberapa foto sebagai bukti.",
    "Menurut keterangan ketua RW, masalah ini sudah dilaporkan sejak tahun lalu.",
    "Kami mohon agar laporan ini tidak diabaikan seperti laporan-laporan sebelumnya.",
)


class Length(StrEnum):
    """The three kinds of complaint text, by length."""

    SHORT = "short"
    MEDIUM = "medium"
    LONG = "long"


# Shares of the texts, and the channel each kind arrives on.
MIX: tuple[tuple[Length, float], ...] = (
    (Length.SHORT, 0.55),
    (Length.MEDIUM, 0.43),
    (Length.LONG, 0.02),
)


@dataclass(frozen=True, slots=True)
class Complaint:
    """One text to route and the channel it came on."""

    text: str
    channel: str
    length: Length

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True, slots=True)
class Lexicon:
    """What rules and texts are made of: the default rules as topics, and places."""

    topics: tuple[Rule, ...]
    areas: tuple[Area, ...]
    # Place names the rules use (texts name them too) and names no rule uses.
    places: tuple[str, ...]
    strangers: tuple[str, ...]


def lexicon(seed: int = SEED, places: int = 8_000, strangers: int = 2_000) -> Lexicon:
    """The default rules and `places` + `strangers` distinct generated place names."""
    default = load_rules(DEFAULT_RULES.read_text(encoding="utf-8"), agencies=None, lint=False)
    names = list(_place_names(random.Random(seed), places + strangers))
    return Lexicon(
        topics=tuple(rule for rule in default.rules.rules if rule.any),
        areas=default.rules.areas,
        places=tuple(names[:places]),
        strangers=tuple(names[places:]),
    )


def _place_names(rng: random.Random, count: int) -> Iterator[str]:
    """`count` distinct capitalised place names."""
    seen: set[str] = set()
    while len(seen) < count:
        middle = "".join(rng.choices(_SYLLABLES, k=rng.choice((1, 1, 2))))
        name = (rng.choice(_HEADS) + middle + rng.choice(_TAILS)).capitalize()
        if name not in seen:
            seen.add(name)
            yield name


# --- rule files ----------------------------------------------------------------------------


def rule_file(count: int, words: Lexicon, seed: int = SEED) -> str:
    """A rule file (YAML) of `count` generated rules, the default areas and the fallback."""
    rng = random.Random(seed)
    lines = [f"fallback: {FALLBACK}", "", "areas:", *_area_lines(words.areas), "", "rules:"]
    for index in range(count):
        lines.extend(_rule_lines(_rule(index, words, rng)))
    return "\n".join(lines) + "\n"


def _area_lines(areas: Sequence[Area]) -> list[str]:
    lines = []
    for area in areas:
        lines.append(f"  - name: {_quote(area.name)}")
        if area.aliases:
            lines.append(f"    aliases: {_flow(area.aliases)}")
        if area.bbox:
            lines.append(f"    bbox: {list(area.bbox)}")
    return lines


def _rule(index: int, words: Lexicon, rng: random.Random) -> dict[str, object]:
    """One generated rule as the mapping a rule file holds."""
    topic = rng.choice(words.topics)
    own = (*topic.any, *topic.all)
    fields: dict[str, object] = {
        "id": f"{topic.id}-{index:05d}",
        "agency": topic.agency,
        "priority": max(1, topic.priority + rng.choice((-3, -1, 0, 0, 0, 0, 1, 2, 5))),
        "description": f"Generated variant {index} of {topic.id}.",
        "any": _any_terms(own, words, rng),
    }
    if rng.random() < 0.15:
        fields["all"] = [rng.choice(own) if rng.random() < 0.6 else rng.choice(words.places)]
    if rng.random() < 0.10:
        other = rng.choice(words.topics)
        fields["none"] = rng.sample(other.any, k=min(len(other.any), rng.randint(1, 3)))
    if rng.random() < 0.03:
        fields["regex"] = rng.sample(REGEXES, k=rng.randint(1, 2))
    if rng.random() < 0.04:
        fields["channels"] = rng.sample(CHANNELS, k=rng.randint(1, 2))
    if rng.random() < 0.005:
        fields["areas"] = [area.name for area in rng.sample(words.areas, k=rng.randint(1, 2))]
    return fields


def _any_terms(own: Sequence[str], words: Lexicon, rng: random.Random) -> list[str]:
    """3–15 distinct terms: about 40% the topic's own, the rest places and objects."""
    terms: dict[str, None] = {}
    for _ in range(rng.randint(3, 15)):
        roll = rng.random()
        place = rng.choice(words.places)
        if roll < 0.40:
            term = rng.choice(own)
        elif roll < 0.65:
            term = place
        elif roll < 0.85:
            term = f"{rng.choice(OBJECTS)} {place}"
        else:
            term = f"{rng.choice([t for t in own if ' ' not in t] or own)} {place}"
        terms[term] = None
    return list(terms)


def _rule_lines(fields: dict[str, object]) -> list[str]:
    lines = [f"  - id: {fields['id']}"]
    for key, value in fields.items():
        if key == "id":
            continue
        shown = _flow(value) if isinstance(value, list) else _quote(value)
        lines.append(f"    {key}: {shown}")
    return lines


def _flow(values: Sequence[object]) -> str:
    return "[" + ", ".join(_quote(value) for value in values) + "]"


def _quote(value: object) -> str:
    """A YAML scalar: numbers as they are, text double-quoted (JSON strings are valid YAML)."""
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=False)


# --- complaint texts -----------------------------------------------------------------------


def complaints(count: int, words: Lexicon, seed: int = SEED) -> tuple[Complaint, ...]:
    """`count` complaint texts in the shares of MIX, shuffled."""
    rng = random.Random(seed + 1)
    writer = _Writer(rng, words)
    kinds = [length for length, share in MIX for _ in range(round(count * share))]
    kinds = (kinds + [Length.SHORT] * count)[:count]
    rng.shuffle(kinds)
    return tuple(writer.write(kind) for kind in kinds)


class _Writer:
    """Writes complaint texts the way residents do, from a lexicon and a random source."""

    def __init__(self, rng: random.Random, words: Lexicon) -> None:
        self._rng = rng
        self._words = words
        self._aliases = [name for area in words.areas for name in (area.name, *area.aliases)]

    def write(self, length: Length) -> Complaint:
        if length is Length.SHORT:
            return Complaint(self._short(), "sms", length)
        if length is Length.MEDIUM:
            return Complaint(self._medium(), self._rng.choice(("web", "telegram")), length)
        return Complaint(self._long(), "email", length)

    def _short(self) -> str:
        """An SMS of 5–15 words: problem, place, a shorthand tail."""
        rng = self._rng
        parts = [
            rng.choice(SMS_OPENERS),
            self._topic(),
            rng.choice(SMS_WHERE),
            self._place(street=True),
        ]
        while len(" ".join(parts).split()) < 15:
            parts.append(rng.choice(SMS_TAILS))
        words = " ".join(parts).split()[: rng.randint(5, 15)]
        return " ".join(words).lower() if rng.random() < 0.5 else " ".join(words)

    def _medium(self) -> str:
        """A web or Telegram message of 30–60 words."""
        target = self._rng.randint(30, 60)
        sentences = [self._fill(self._rng.choice(OPENERS))]
        while len(" ".join(sentences).split()) < target:
            pool = PROBLEMS if self._rng.random() < 0.5 else CONTEXT
            sentences.append(self._fill(self._rng.choice(pool)))
        return " ".join(" ".join(sentences).split()[:target])

    def _long(self) -> str:
        """A formal email of 300 words or more, in paragraphs."""
        rng = self._rng
        target = rng.randint(300, 600)
        name = rng.choice(NAMES)
        head = (
            "Kepada Yth. Bapak/Ibu Kepala Dinas,\n\nDengan hormat,\n\nSaya yang bertanda tangan "
            f"di bawah ini, {name}, warga RT 0{rng.randint(1, 9)}/RW 0{rng.randint(1, 9)} "
            f"Kelurahan {self._place()}, ingin menyampaikan pengaduan sebagai berikut."
        )
        paragraphs = [head]
        while len(" ".join(paragraphs).split()) < target:
            pools = (PROBLEMS, CONTEXT, FORMAL, FORMAL)
            sentences = [
                self._fill(rng.choice(rng.choice(pools))) for _ in range(rng.randint(4, 8))
            ]
            paragraphs.append(" ".join(sentences))
        paragraphs.append(
            "Demikian pengaduan ini saya sampaikan. Atas perhatian dan kerja sama Bapak/Ibu, "
            f"saya ucapkan terima kasih.\n\nHormat saya,\n{name}\n0812{rng.randint(10**7, 10**8)}"
        )
        return "\n\n".join(paragraphs)

    def _fill(self, template: str) -> str:
        rng = self._rng
        return template.format(
            topic=self._topic(),
            place=self._place(),
            object=rng.choice(OBJECTS),
            n=rng.randint(2, 9),
            time=rng.choice(TIMES),
            name=rng.choice(NAMES),
        )

    def _topic(self) -> str:
        """A problem in a resident's words: mostly a rule's term, reshaped; or an unknown one."""
        rng = self._rng
        if rng.random() < 0.12:
            return rng.choice(UNKNOWN_TOPICS)
        *head, last = rng.choice(rng.choice(self._words.topics).any).split()
        return " ".join([*head, _reshape(last, rng, alone=not head)])

    def _place(self, *, street: bool = False) -> str:
        """A place: one the rules use, one they do not, or a default area's name."""
        rng = self._rng
        roll = rng.random()
        if roll < 0.15:
            return rng.choice(self._aliases)
        name = rng.choice(self._words.places if roll < 0.70 else self._words.strangers)
        if street and rng.random() < 0.5:
            return f"{rng.choice(('jl', 'jln', 'gg', 'Jl.', 'Gg.', 'perum'))} {name}"
        return name


def _reshape(word: str, rng: random.Random, *, alone: bool) -> str:
    """A word as residents type it: reduplicated, with a clitic, letters repeated or doubled,
    and (`alone`, a one-word term) sometimes with a prefix (`berlubang`, `dibakar`)."""
    if not word.isalpha() or len(word) < 4:
        return word
    roll = rng.random()
    if roll < 0.06:
        return f"{word}-{word}" if rng.random() < 0.5 else f"{word}2"
    if roll < 0.14:
        return word + "nya"
    if roll < 0.18:
        return word[:-1] + word[-1] * 3 if word[-1] in "aiueo" else word + word[-1]
    if roll < 0.22 and alone:
        return "ber" + word if word[0] not in "aiueo" else "di" + word
    if roll < 0.30:
        return word.capitalize()
    return word
