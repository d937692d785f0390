"""Our outbound mail, read back as a mail client reads it (`policy.default`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.base import Attachment, OutboundMessage
from channels.email_compose import ComposedMail, MailComposer

AT = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
OURS = "Aduan Kota <aduan@kota.example.go.id>"
composer = MailComposer(OURS, language="id")


def compose(**fields: object) -> ComposedMail:
    values: dict[str, object] = {"recipient": "warga@mail.example.com", "text": "Halo", "key": "k"}
    values.update(fields)
    return composer.compose(OutboundMessage(**values), AT)  # type: ignore[arg-type]


def read(mail: ComposedMail) -> EmailMessage:
    parsed = message_from_bytes(mail.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert [part.defects for part in parsed.walk()] == [[]] * len(list(parsed.walk()))
    return parsed


def text_of(parsed: EmailMessage, subtype: str) -> str:
    body = parsed.get_body((subtype,))
    assert isinstance(body, EmailMessage)
    content = body.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def squeezed(value: str) -> str:
    """A header's words: folding and unfolding may change the spaces between them."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", value).split())


def test_an_acknowledgement_reads_back_whole() -> None:
    mail = compose(
        recipient="Warga Dua Belas <warga12@mail.example.com>",
        text="Pengaduan Anda diterima: ADU-2026-000123.\n\nYour complaint was received.",
        subject="[ADU-2026-000123] Pengaduan diterima / Complaint received",
        in_reply_to="<warga-12@mail.example.com>",
        references=("<first@mail.example.com>",),
        automatic=True,
    )
    parsed = read(mail)
    assert parsed["From"] == OURS
    assert parsed["To"].addresses[0].display_name == "Warga Dua Belas"
    assert parsed["Subject"] == "[ADU-2026-000123] Pengaduan diterima / Complaint received"
    assert parsed["Message-ID"] == mail.message_id
    assert mail.message_id.endswith("@kota.example.go.id>")
    assert parsed["In-Reply-To"] == "<warga-12@mail.example.com>"
    assert parsed["References"] == "<first@mail.example.com> <warga-12@mail.example.com>"
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed.get_content_type() == "multipart/alternative"
    assert text_of(parsed, "plain") == (
        "Pengaduan Anda diterima: ADU-2026-000123.\n\nYour complaint was received.\n"
    )
    html = text_of(parsed, "html")
    assert '<html lang="id">' in html
    assert "<p>Your complaint was received.</p>" in html
    assert (mail.sender, mail.recipients, mail.needs_utf8) == (
        "aduan@kota.example.go.id",
        ("warga12@mail.example.com",),
        False,
    )
    # Every line within SMTP's limit, every line ending CRLF, nothing outside ASCII.
    assert mail.data.isascii()
    assert all(len(line) <= 78 for line in mail.data.split(b"\r\n"))
    assert b"\n" not in mail.data.replace(b"\r\n", b"")


def test_the_mail_declares_the_language_it_is_written_in() -> None:
    english = read(compose(text="Your complaint was received.", language="en"))
    assert english["Content-Language"] == "en"
    assert '<html lang="en">' in text_of(english, "html")
    # A message that names none is in the service's own language.
    assert read(compose())["Content-Language"] == "id"


def test_an_officers_answer_is_not_marked_automatic() -> None:
    assert "Auto-Submitted" not in read(compose(subject="[ADU-1] Jawaban"))


def test_a_line_break_in_a_header_value_cannot_add_a_header() -> None:
    parsed = read(compose(subject="Halo\r\nBcc: victim@example.com\nX-Evil: 1"))
    assert parsed["Bcc"] is None
    assert parsed["X-Evil"] is None
    assert parsed["Subject"] == "Halo Bcc: victim@example.com X-Evil: 1"


def test_a_subject_that_looks_encoded_is_read_as_written() -> None:
    assert read(compose(subject="=?utf-8?q?hai?= [ADU-1]"))["Subject"] == "=?utf-8?q?hai?= [ADU-1]"


def test_attachments_go_in_a_mixed_part_after_the_text() -> None:
    mail = compose(
        attachments=(
            Attachment(content=b"\xff\xd8" * 300, content_type="image/jpeg", filename="foto.jpg"),
            Attachment(content=b"%PDF", content_type="no type", filename='surat "1" ö.pdf'),
        )
    )
    parsed = read(mail)
    assert parsed.get_content_type() == "multipart/mixed"
    assert text_of(parsed, "plain") == "Halo\n"
    files = [
        (a.get_filename(), a.get_content_type(), a.get_content()) for a in parsed.iter_attachments()
    ]
    assert files == [
        ("foto.jpg", "image/jpeg", b"\xff\xd8" * 300),
        ('surat "1" ö.pdf', "application/octet-stream", b"%PDF"),
    ]


def test_an_address_outside_ascii_asks_for_smtputf8() -> None:
    mail = compose(recipient="Warga <wárga@contoh.id>")
    assert mail.needs_utf8
    assert mail.recipients == ("wárga@contoh.id",)


names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=names.map(lambda s: s * 3), subject=names, display=names, filename=names)
def test_any_text_subject_and_names_read_back_as_sent(
    text: str, subject: str, display: str, filename: str
) -> None:
    sent_file = Attachment(content=b"x", content_type="text/plain", filename=filename)
    mail = compose(
        recipient=f'"{quote(display)}" <warga@mail.example.com>',
        text=text,
        subject=subject,
        attachments=(sent_file,),
    )
    parsed = read(mail)
    sent = re.sub(r"\r\n?", "\n", text)
    assert text_of(parsed, "plain") == (sent if sent.endswith("\n") else sent + "\n")
    if squeezed(subject):
        assert squeezed(str(parsed["Subject"])) == squeezed(subject)
    [to] = parsed["To"].addresses
    assert to.addr_spec == "warga@mail.example.com"
    assert squeezed(to.display_name) == squeezed(display)
    [attachment] = parsed.iter_attachments()
    assert attachment.get_filename() == sent_file.filename
