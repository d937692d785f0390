"""A deterministic stream of residents' SMS messages, shaped like a city's complaint inbox.

Most messages come from a new sender and become a new complaint; some come from a resident
who wrote before, long enough ago to start a new complaint; some arrive a few minutes after
the sender's last message and continue it (the SMS channel merges such bursts).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from channels.base import ChannelName, InboundMessage, Outcome

START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # Monday 08:00 WIB

# Whose job the problem is does not matter to the benchmark, only that routing has real
# text to read: every agency of config/keywords.yaml and the fallback get their share.
PROBLEMS = (
    "jalan di {place} berlubang besar, sdh bbrp motor jatuh",
    "aspal di {place} rusak parah & tergenang kalau hujan",
    "selokan di {place} mampet, air meluap ke rumah warga",
    "trotoar {place} ambles, bahaya utk pejalan kaki",
    "sampah di TPS {place} menumpuk sdh seminggu dan bau sekali",
    "asap hitam dari cerobong pabrik dekat {place} tiap malam, warga batuk2",
    "limbah cair pabrik tekstil dibuang ke sungai di {place}, airnya hitam & bau",
    "debu dari truk proyek di {place} masuk ke rumah, anak2 sesak napas",
    "bising mesin pabrik di {place} sampai tengah malam, tdk bisa tidur",
    "ada pembakaran sampah tiap sore di {place}, asapnya kemana2",
    "lampu jalan di {place} mati sdh 2 minggu, gelap & rawan begal",
    "lampu merah di {place} mati, lalu lintas kacau",
    "jukir liar di {place} minta 5rb, tdk pakai karcis",
    "angkot ngetem sembarangan di {place} bikin macet",
    "air PDAM di {place} tidak mengalir sejak kemarin pagi",
    "air PDAM keruh & bau kaporit di {place}",
    "pipa bocor di {place}, air terbuang percuma",
    "banjir setinggi lutut di {place} stiap hujan deras",
    "pohon tumbang menutup jalan di {place}",
    "PKL menutup trotoar di {place}, pejalan kaki turun ke jalan",
    "balap liar tiap malam minggu di {place}",
    "puskesmas {place} tutup pdhl msh jam buka",
    "banyak nyamuk & sdh 3 warga kena DBD di {place}, mohon fogging",
    "ada pungli seragam di sekolah dekat {place}",
    "anak sy tdk diterima PPDB zonasi pdhl rumah dekat {place}",
    "bansos tdk sampai ke lansia di {place}",
    "ada odgj berkeliaran di {place}, warga takut",
    "KTP elektronik sy blm jadi sdh 3 bulan, dr kelurahan {place}",
    "akta kelahiran anak sy blm terbit, sdh urus di {place}",
    "sinyal internet di kantor kelurahan {place} sering putus",
    "pelayanan di kantor kecamatan {place} lambat sekali",
)
PLACES = (
    "Jl. Melati",
    "Jl. Kenanga no 12",
    "Perum Griya Asri blok C",
    "Gg. Mawar RT 04/RW 07",
    "Kel. Sukamaju",
    "depan SDN 3",
    "pasar Kranggan",
    "Jl. Magelang km 6",
    "simpang empat Tugu",
    "Kp. Cibereum RT 02",
    "belakang terminal Giwangan",
    "Jl. Kaliurang atas",
    "kawasan industri Cikarang",
    "Jl. Parangtritis",
    "komplek Polri Gowok",
)
OPENERS = ("", "", "Selamat pagi, ", "Pak/Bu, ", "Mohon bantuan, ", "Lapor: ", "Min, ")
CLOSERS = (
    "",
    " Mohon segera ditindaklanjuti.",
    " Tlg dicek.",
    " Terima kasih.",
    " Sdh lapor RT tp blm ada tindakan.",
    " Kapan diperbaiki?",
)
ENGLISH = (
    "The streetlight on {place} has been broken for a week, please fix it.",
    "Garbage near {place} has not been collected since last Monday.",
    "There is a big hole in the road at {place}, two motorbikes fell yesterday.",
)
FOLLOW_UPS = (
    "tambahan: sdh 3 hari blm ada petugas datang",
    "foto menyusul ya pak",
    "mohon segera, tadi ada yg jatuh lagi",
    "lokasinya pas di sebelah warung bu Sri",
    "maaf lupa, nama sy Budi, warga RT 04",
    "skrg makin parah",
    "tlg dibantu, sdh dilaporkan ke kelurahan jg",
)
PREFIXES = ("811", "812", "813", "821", "822", "852", "853", "857", "858", "878", "895", "896")


class Kind(StrEnum):
    """What a message is meant to be; intake must agree (checked against its receipts)."""

    NEW = "new complaint, new sender"
    RETURNING = "new complaint, returning sender"
    FOLLOW_UP = "follow-up within the merge window"

    @property
    def outcome(self) -> Outcome:
        return Outcome.FOLLOW_UP if self is Kind.FOLLOW_UP else Outcome.COMPLAINT


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of returning senders and follow-ups; the rest are new senders."""

    returning: float = 0.08
    follow_up: float = 0.12
    mean_gap_seconds: float = 3.0
    merge_window: timedelta = timedelta(minutes=10)
    # A returning resident writes again this long after their last message at the earliest,
    # so the message cannot be merged into their earlier complaint.
    return_after: timedelta = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Workload:
    """The messages, in arrival order, and what each is meant to be."""

    messages: tuple[InboundMessage, ...]
    kinds: tuple[Kind, ...]

    def mix(self, start: int = 0) -> dict[str, int]:
        """How many messages of each kind, from message `start` on."""
        return {str(kind): count for kind, count in Counter(self.kinds[start:]).items()}

    def expected_outcomes(self, start: int = 0) -> dict[str, int]:
        """What intake should make of the messages from `start` on, by outcome."""
        return dict(Counter(str(kind.outcome) for kind in self.kinds[start:]))


def build(count: int, *, seed: int = 20261102, mix: Mix | None = None) -> Workload:
    """`count` messages; the same `seed` gives the same messages."""
    return _Generator(random.Random(seed), mix or Mix()).run(count)


class _Generator:
    """Draws senders, texts and arrival times; remembers who wrote when."""

    def __init__(self, rng: random.Random, mix: Mix) -> None:
        self._rng = rng
        self._mix = mix
        self._now = START
        self._last_seen: dict[str, datetime] = {}
        self._senders: list[str] = []
        self._recent: list[str] = []

    def run(self, count: int) -> Workload:
        messages: list[InboundMessage] = []
        kinds: list[Kind] = []
        for _ in range(count):
            self._now += timedelta(seconds=self._rng.expovariate(1 / self._mix.mean_gap_seconds))
            # Keep arrival times distinct: the floor matches rows to messages by time.
            self._now += timedelta(microseconds=1)
            kind, sender = self._pick_sender()
            text = self._follow_up_text() if kind is Kind.FOLLOW_UP else self._complaint_text()
            messages.append(self._message(sender, text))
            kinds.append(kind)
            self._last_seen[sender] = self._now
            self._recent.append(sender)
        return Workload(tuple(messages), tuple(kinds))

    def _pick_sender(self) -> tuple[Kind, str]:
        roll = self._rng.random()
        if roll < self._mix.follow_up:
            sender = self._recent_sender()
            if sender is not None:
                return Kind.FOLLOW_UP, sender
        elif roll < self._mix.follow_up + self._mix.returning:
            sender = self._returning_sender()
            if sender is not None:
                return Kind.RETURNING, sender
        return Kind.NEW, self._new_sender()

    def _recent_sender(self) -> str | None:
        """One of the last senders, still well inside the merge window."""
        margin = self._mix.merge_window * 0.8
        for sender in reversed(self._recent[-20:]):
            if self._now - self._last_seen[sender] < margin and self._rng.random() < 0.3:
                return sender
        return None

    def _returning_sender(self) -> str | None:
        if not self._senders:
            return None
        sender = self._rng.choice(self._senders)
        if self._now - self._last_seen[sender] < self._mix.return_after:
            return None
        return sender

    def _new_sender(self) -> str:
        while True:
            number = f"+62{self._rng.choice(PREFIXES)}{self._rng.randrange(10**7, 10**8)}"
            if number not in self._last_seen:
                self._senders.append(number)
                return number

    def _complaint_text(self) -> str:
        rng = self._rng
        place = rng.choice(PLACES)
        if rng.random() < 0.05:
            return rng.choice(ENGLISH).format(place=place)
        problem = rng.choice(PROBLEMS).format(place=place)
        opener = rng.choice(OPENERS)
        first = problem[0].lower() if opener else problem[0].upper()
        return f"{opener}{first}{problem[1:]}.{rng.choice(CLOSERS)}"

    def _follow_up_text(self) -> str:
        return self._rng.choice(FOLLOW_UPS)

    def _message(self, sender: str, text: str) -> InboundMessage:
        return InboundMessage(
            channel=ChannelName.SMS,
            sender=sender,
            text=text,
            received_at=self._now,
            provider_message_id=f"SM{self._rng.getrandbits(128):032x}",
        )
