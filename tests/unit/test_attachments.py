"""Files as every adapter hands them over: a bare, short name and a real media type, however
the sender named and labelled them (Telegram documents, MMS, mail)."""

from __future__ import annotations

import pytest

from channels.base import LONGEST_FILENAME, Attachment


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("C:\\Windows\\system32\\cmd.exe", "cmd.exe"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("laporan\x00.pdf", "laporan.pdf"),
        ("foto\u202egpj.exe", "fotogpj.exe"),
        ("  .hidden  ", "hidden"),
        ("..", "attachment"),
        ("", "attachment"),
        ("\x1b[31m", "[31m"),
    ],
)
def test_file_names_are_bare(given: str, kept: str) -> None:
    assert Attachment(given, "image/png", b"x").filename == kept


def test_a_long_name_is_cut_keeping_its_extension() -> None:
    name = Attachment("a" * 10_000 + ".pdf", "application/pdf", b"x").filename
    assert len(name) <= LONGEST_FILENAME and name.endswith("a.pdf")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("IMAGE/JPEG", "image/jpeg"),
        ("image/jpeg; name=x", "application/octet-stream"),
        ("../../etc", "application/octet-stream"),
        ("text/" + "x" * 200, "application/octet-stream"),
        ("", "application/octet-stream"),
    ],
)
def test_a_made_up_media_type_becomes_the_generic_one(given: str, kept: str) -> None:
    assert Attachment("f", given, b"x").content_type == kept
