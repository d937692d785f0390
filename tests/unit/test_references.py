"""Complaint references: short, unambiguous, found in free text."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from bot.domain.references import ALPHABET, find_reference, new_reference, parse_reference


def test_new_references_are_short_unambiguous_and_mixed() -> None:
    references = {new_reference() for _ in range(5000)}
    assert len(references) == 5000
    for reference in references:
        assert len(reference) == 9 and reference[4] == "-"
        raw = reference.replace("-", "")
        assert set(raw) <= set(ALPHABET)
        assert any(c.isdigit() for c in raw) and any(c.isalpha() for c in raw)
    assert not set("0O1IL5S2Z8B") & set(ALPHABET)


def test_every_character_is_as_likely() -> None:
    counts = Counter("".join(new_reference().replace("-", "") for _ in range(25_000)))
    # Digits are a little likelier: references of letters alone are drawn again.
    letters = [count for char, count in counts.items() if char.isalpha()]
    mean = sum(letters) / len(letters)
    assert len(counts) == len(ALPHABET)
    assert all(abs(count - mean) < 5 * mean**0.5 for count in letters)


def test_a_forked_process_draws_its_own_references() -> None:
    new_reference()  # the parent has random bytes at hand
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.write(write, " ".join(new_reference() for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        drawn_by_child = set(pipe.read().split())
    assert status == 0 and len(drawn_by_child) == 5
    assert drawn_by_child.isdisjoint(new_reference() for _ in range(5))


@pytest.mark.parametrize("typed", ["K7QD-4XMP", "k7qd4xmp", " K7QD 4XMP ", "k7qd-4xmp"])
def test_parse_accepts_what_people_type(typed: str) -> None:
    assert parse_reference(typed) == "K7QD-4XMP"


@pytest.mark.parametrize("typed", ["", "K7QD-4XM", "KQDX-MPAC", "K0QD-4XMP", "K7QD-4XMP9"])
def test_parse_refuses_what_is_not_a_reference(typed: str) -> None:
    assert parse_reference(typed) is None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Tambahan utk pengaduan k7qd-4xmp: sdh 3 hari", "K7QD-4XMP"),
        ("Re: Pengaduan K7QD4XMP", "K7QD-4XMP"),
        ("MENGHADAPI kesulitan", None),  # eight letters, no digit: an ordinary word
        ("rumah no 3467 RT 79", None),
        ("kode AK7QD-4XMP", None),
    ],
)
def test_find_in_free_text(text: str, found: str | None) -> None:
    assert find_reference(text) == found
