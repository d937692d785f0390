"""The line under a mail's text naming the files not kept, as the service words it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage

from bot.messaging.templates import OFFICER_LANGUAGE, render
from channels.base import InboundMessage
from channels.email_message import parse_email


def note(files: Sequence[str]) -> str:
    """What bot.channel_registry gives the email channel."""
    return render("email_files_dropped", OFFICER_LANGUAGE, files=", ".join(files))


def test_a_disallowed_attachment_is_named_under_the_text_in_both_languages() -> None:
    mail = EmailMessage()
    mail["From"] = "Warga <warga@mail.example.com>"
    mail["Subject"] = "Pengaduan"
    mail.set_content("Jalan berlubang di depan SD Negeri 3")
    mail.add_attachment(b"MZ", maintype="application", subtype="x-msdownload", filename="a.exe")

    parsed = parse_email(
        mail.as_bytes(),
        received_at=datetime(2026, 11, 2, 2, 0, tzinfo=UTC),
        max_bytes=1024 * 1024,
        dropped_note=note,
    )

    assert isinstance(parsed, InboundMessage)
    assert parsed.attachments == ()
    text, _, line = parsed.text.rpartition("\n\n")
    assert text == "Jalan berlubang di depan SD Negeri 3"
    assert line == note(["a.exe (application/x-msdownload)"])
    assert render("email_files_dropped", "id", files="a.exe") == (
        "[lampiran email tidak disimpan: a.exe]"
    )
    assert (
        render("email_files_dropped", "en", files="a.exe") == "[email attachments not kept: a.exe]"
    )
