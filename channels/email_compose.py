"""Outbound mail, written straight to the bytes an SMTP server is given.

Every mail the service sends has the same shape: a few headers, a plain text part and an
HTML part with the same words (multipart/alternative), then any attachments
(multipart/mixed around it). Built through `email.message.EmailMessage`, each header
value is parsed into a token tree on the way in and folded again on the way out, and a
boundary costs a compiled regex: about 1 ms a mail, as much as taking in a complaint. Here
the standard library does the parts that need care (RFC 2047 encoded words and folding,
through `email.header.Header`; RFC 2231 file names; quoted-printable and base64 by
`binascii`) and the rest is written out: about a tenth of that.

What is written is checked by parsing it back with `policy.default`
(tests/unit/test_email_compose.py): any text, subject and names come back as they went.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import encode_rfc2231, format_datetime, formataddr, make_msgid, parseaddr
from html import escape

from channels.base import Attachment, OutboundMessage

# RFC 5322 2.1.1: lines should stay within 78 characters (folded beyond).
_LINE = 78
_CRLF = b"\r\n"
# Quoted-printable escapes every "=", so no "=_" occurs in an encoded part, nor in base64:
# a boundary starting with it cannot appear inside any part.
_BOUNDARY_PREFIX = "=_part_"
_LINE_BREAKS = re.compile(r"\r\n?|\n")
# A header is one line of printable characters (RFC 5322 2.2): breaks and controls go.
_NOT_IN_HEADER = re.compile(r"\r\n|[\x00-\x08\x0a-\x1f\x7f]")
_FILENAME_SAFE = re.compile(r"[^\x20-\x7e]|[\"\\]")
_TOKEN = re.compile(r"[A-Za-z0-9!#$&^_.+-]+")


@dataclass(frozen=True, slots=True)
class ComposedMail:
    """A mail ready for the envelope: who from and to (bare addresses), and its bytes."""

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    data: bytes
    # An address outside ASCII: the server must offer SMTPUTF8 (RFC 6531) to take it.
    needs_utf8: bool


class MailComposer:
    """Writes our mails: our Message-ID, threading headers, text and accessible HTML."""

    def __init__(self, sender: str, *, language: str) -> None:
        name, address = parseaddr(sender)
        self._sender = address
        self._from = _address_header("From", name, address)
        self._domain = address.rpartition("@")[2] or "localhost"
        # The language of a message that names none (`Content-Language`, the HTML's `lang`).
        self._language = language

    @property
    def domain(self) -> str:
        """Our address's domain: the right-hand side of our Message-IDs."""
        return self._domain

    def compose(self, message: OutboundMessage, now: datetime) -> ComposedMail:
        name, recipient = parseaddr(_one_line(message.recipient))
        recipient = recipient or _one_line(message.recipient).strip()
        message_id = make_msgid(domain=self._domain)
        head = [self._from, _address_header("To", name, recipient)]
        if message.subject:
            head.append(_header("Subject", message.subject))
        head.append(_header("Date", format_datetime(now)))
        head.append(_header("Message-ID", message_id))
        if message.in_reply_to:
            head.append(_header("In-Reply-To", message.in_reply_to))
        references = list(dict.fromkeys(message.references))
        if message.in_reply_to and message.in_reply_to not in references:
            references.append(message.in_reply_to)
        if references:
            head.append(_header("References", " ".join(references)))
        if message.automatic:
            # RFC 3834: mailers and vacation responders must not answer it.
            head.append(_header("Auto-Submitted", "auto-replied"))
        language = message.language or self._language
        # RFC 3282: what a reader's screen reader or translator should take the text for.
        head.append(_header("Content-Language", language))
        head.append(b"MIME-Version: 1.0\r\n")
        body = _multipart(
            "alternative",
            [
                _text_part("plain", message.text),
                _text_part("html", _html(message.text, message.subject, language)),
            ],
        )
        if message.attachments:
            body = _multipart("mixed", [body, *map(_attachment_part, message.attachments)])
        return ComposedMail(
            message_id=message_id,
            sender=self._sender,
            recipients=(recipient,),
            data=b"".join(head) + body,
            needs_utf8=not (self._sender.isascii() and recipient.isascii()),
        )


def _one_line(value: str) -> str:
    """A header value on one line: a line break in it would start a header of its own."""
    return _NOT_IN_HEADER.sub(" ", value)


def _header(name: str, value: str) -> bytes:
    """`Name: value`, in RFC 2047 encoded words where the value is not plain ASCII."""
    value = _one_line(value)
    if _plain(value):
        return _folded(name, value)
    encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}\r\n".encode("ascii")


def _plain(value: str) -> bool:
    # Text that looks like an encoded word is encoded too, or a reader would decode it.
    return value.isascii() and "=?" not in value


def _folded(name: str, value: str) -> bytes:
    """`Name: value` for an ASCII value, folded at its spaces where it is long."""
    if len(name) + 2 + len(value) > _LINE:
        value = Header(value, "us-ascii", header_name=name).encode(linesep="\r\n")
    return f"{name}: {value}\r\n".encode("ascii")


def _address_header(name: str, display: str, address: str) -> bytes:
    """`To: Name <address>`, the name in encoded words if need be. An address outside
    ASCII goes alone, as it is (UTF-8, for a server that takes SMTPUTF8)."""
    if not address.isascii():
        return f"{name}: {address}\r\n".encode()
    display = _one_line(display)
    if _plain(display):
        return _folded(name, formataddr((display, address)))
    encoded = Header(display, "utf-8").encode(maxlinelen=0)
    return _folded(name, f"{encoded} <{address}>")


def _multipart(subtype: str, parts: Iterable[bytes]) -> bytes:
    boundary = _BOUNDARY_PREFIX + secrets.token_hex(16)
    delimiter = f"--{boundary}\r\n".encode("ascii")
    head = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n\r\n'
    body = b"".join(delimiter + part + _CRLF for part in parts)
    return head.encode("ascii") + body + f"--{boundary}--\r\n".encode("ascii")


def _text_part(subtype: str, text: str) -> bytes:
    """A UTF-8 text part, quoted-printable: readable where it is plain ASCII."""
    lines = _LINE_BREAKS.sub("\n", text)
    if not lines.endswith("\n"):
        lines += "\n"
    encoded = binascii.b2a_qp(lines.encode("utf-8"), istext=True).replace(b"\n", _CRLF)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii") + encoded


def _attachment_part(attachment: Attachment) -> bytes:
    maintype, _, subtype = attachment.content_type.partition("/")
    if not (_is_token(maintype) and _is_token(subtype)):
        maintype, subtype = "application", "octet-stream"
    filename = _filename_parameter(attachment.filename)
    head = (
        f"Content-Type: {maintype}/{subtype}\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment;{filename}\r\n\r\n"
    )
    encoded = base64.encodebytes(attachment.content).replace(b"\n", _CRLF)
    return head.encode("ascii") + encoded


def _is_token(value: str) -> bool:
    return _TOKEN.fullmatch(value) is not None


def _filename_parameter(filename: str | None) -> str:
    """The file name parameter on a line of its own: quoted where it is printable ASCII,
    RFC 2231 (`filename*=utf-8''…`) otherwise."""
    if not filename:
        return ""
    name = _one_line(filename)
    if _FILENAME_SAFE.search(name) is None:
        return f'\r\n filename="{name}"'
    return f"\r\n filename*={encode_rfc2231(name, 'utf-8')}"


def _html(text: str, subject: str | None, language: str) -> str:
    """A plain, accessible HTML part: the same text, escaped, in paragraphs."""
    paragraphs = [part for part in re.split(r"\n\s*\n", text.strip()) if part.strip()]
    body = "\n".join(
        "<p>" + "<br>\n".join(escape(line) for line in part.splitlines()) + "</p>"
        for part in paragraphs
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(language)}">\n<head>\n'
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(subject or '')}</title>\n</head>\n"
        '<body style="font-family: sans-serif; font-size: 16px; line-height: 1.5; '
        'max-width: 40em;">\n'
        f"{body}\n</body>\n</html>\n"
    )
