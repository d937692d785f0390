"""A mail's files that are not kept are named under its stored text, worded by the templates."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.messaging.templates import OFFICER_LANGUAGE, render
from channels.email import EmailChannel
from config.settings import Settings
from storage.models import Direction, Message
from tests.fakes import FakeClock
from tests.integration.db import prepared_service, rows
from tests.integration.test_email_transport import smtp_deliver


def mail_with_an_executable() -> bytes:
    mail = EmailMessage()
    mail["From"] = "Warga <warga@mail.example.com>"
    mail["To"] = "aduan@kota.example.go.id"
    mail["Subject"] = "Pengaduan"
    mail["Message-ID"] = "<exe.1@mail.example.com>"
    mail.set_content("Lampu jalan di Jl. Mawar mati sejak Senin")
    mail.add_attachment(
        b"MZ\x90\x00", maintype="application", subtype="x-msdownload", filename="setup.exe"
    )
    mail.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="surat.pdf")
    return mail.as_bytes()


async def test_a_dropped_attachment_is_named_under_the_stored_text(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, tmp_path: Path
) -> None:
    # The channel as the registry builds it: SMTP intake, outbound mail as files.
    service = await prepared_service(
        settings, engine, clock, smtp_intake="127.0.0.1:0", email_file_dir=tmp_path
    )
    channel = service.channels["email"]
    assert isinstance(channel, EmailChannel)
    await channel.start(service.handlers())
    try:
        assert channel.intake_port is not None
        assert (await smtp_deliver(channel.intake_port, mail_with_an_executable())).startswith(
            "250"
        )
    finally:
        await channel.stop()

    [stored] = await rows(service, Message, Message.direction == Direction.INBOUND)
    note = render(
        "email_files_dropped", OFFICER_LANGUAGE, files="setup.exe (application/x-msdownload)"
    )
    assert stored.text == f"Lampu jalan di Jl. Mawar mati sejak Senin\n\n{note}"
    assert "surat.pdf" not in stored.text  # kept, so not named
