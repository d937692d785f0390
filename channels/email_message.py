"""Reading one email as the service receives it: a resident's (or officer's) message, a
delivery report about one of ours, or a message refused with its reason.

`parse_email` is the one way raw mail becomes our types; the IMAP poller, the SMTP intake
listener and `aduan email parse` all call it. It never raises: mail is written by every
program there is, and what cannot be read is refused with its reason and kept whole.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.header import decode_header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import EmailPolicy
from email.utils import getaddresses, parseaddr
from pathlib import PurePosixPath
from typing import Any

from channels.base import (
    MAX_ATTACHMENTS,
    Attachment,
    ChannelName,
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    RefusedMessage,
    clean_text,
    safe_filename,
)
from channels.email_text import (
    decode_text,
    html_to_text,
    readable,
    sanitise_html,
    strip_reply,
    unflow,
)
from channels.photos import without_camera_data

log = logging.getLogger(__name__)

Parsed = InboundMessage | DeliveryReport | RefusedMessage

# The files a resident's mail may bring: photos, PDFs, office documents and plain text.
# Anything else (executables, archives, TNEF's winmail.dat, SVG with its scripts) is dropped.
ALLOWED_TYPES = frozenset(
    {
        "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif",
        "image/bmp", "image/tiff",
        "application/pdf",
        "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/rtf",
        "text/plain", "text/csv", "text/html",
    }
)  # fmt: skip
# Clients send many files as application/octet-stream: their name's ending says the type.
_TYPE_OF_EXTENSION = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
    ".webp": "image/webp", ".heic": "image/heic", ".heif": "image/heif", ".bmp": "image/bmp",
    ".tif": "image/tiff", ".tiff": "image/tiff", ".pdf": "application/pdf",
    ".doc": "application/msword", ".xls": "application/vnd.ms-excel",
    ".ppt": "application/vnd.ms-powerpoint",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    ".rtf": "application/rtf", ".txt": "text/plain", ".csv": "text/csv",
}  # fmt: skip
_GENERIC_TYPES = frozenset({"application/octet-stream", "application/x-download"})
# Names some clients use for an allowed type.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-pdf": "application/pdf",
    "text/rtf": "application/rtf",
}

# A reference in a subject, in brackets after any prefix ("Re: [K7QD-4XMP] …"): the
# alphabet of bot.domain.references, which the service uses to check the candidate.
_SUBJECT_REFERENCE = re.compile(
    r"\[\s*([34679ACDEFGHJKMNPQRTUVWXY]{4})[- ]?([34679ACDEFGHJKMNPQRTUVWXY]{4})\s*\]",
    re.IGNORECASE,
)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# RFC 3464 actions, as what became of our message; `failed` is UNDELIVERED because the
# receiving system took and then refused it (FAILED is for our own server refusing to send).
_DSN_ACTIONS = {
    "failed": DeliveryStatus.UNDELIVERED,
    "delayed": DeliveryStatus.SENDING,
    "delivered": DeliveryStatus.DELIVERED,
    "relayed": DeliveryStatus.SENT,
    "expanded": DeliveryStatus.SENT,
}
# When one report names several recipients, the worst outcome stands.
_WORST_FIRST = ("failed", "delayed", "delivered", "relayed", "expanded")
_NO_REPLY_SENDERS = frozenset({"mailer-daemon", "postmaster"})
_MAX_ERROR_CHARS = 300
_LINE_BREAKS = re.compile(r"[\r\n]")


class _ReadingPolicy(EmailPolicy):
    """`policy.default`, except that a header value is parsed into its header object once
    per process. The standard library parses Content-Type again on every
    `get_content_type()`, ten times a message here, and most mail shares a few values
    (`text/plain; charset="UTF-8"`): the header objects are immutable, so they are shared.
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):
            return value
        return _parsed_header(self.header_factory, name, _LINE_BREAKS.sub("", value))


@functools.lru_cache(maxsize=4096)
def _parsed_header(factory: HeaderRegistry, name: str, value: str) -> BaseHeader:
    header: BaseHeader = factory(name, value)
    return header


_POLICY = _ReadingPolicy()


def largest_raw(max_bytes: int) -> int:
    """The most bytes a message may have whose files add up to `max_bytes`: base64 takes
    four characters for three bytes plus line ends, and headers and text come on top."""
    return max_bytes * 3 // 2


async def read_email(
    raw: bytes,
    *,
    received_at: datetime,
    max_bytes: int,
    dropped_note: Callable[[Sequence[str]], str] | None = None,
) -> Parsed:
    """What the service takes in for `raw`: `parse_email`, its pictures then cleaned of
    their camera data (`channels.photos.without_camera_data`)."""
    parse = functools.partial(
        parse_email, raw, received_at=received_at, max_bytes=max_bytes, dropped_note=dropped_note
    )
    parsed = await asyncio.to_thread(parse) if len(raw) > _PARSED_ASIDE_BYTES else parse()
    if isinstance(parsed, InboundMessage) and parsed.attachments:
        cleaned = [await without_camera_data(file) for file in parsed.attachments]
        parsed = replace(parsed, attachments=tuple(cleaned))
    return parsed


# Mail this large is parsed in a worker thread, so that the event loop (web requests,
# other channels) does not wait for it; smaller mail parses in well under a millisecond.
_PARSED_ASIDE_BYTES = 256 * 1024


def parse_email(
    raw: bytes,
    *,
    received_at: datetime,
    max_bytes: int,
    dropped_note: Callable[[Sequence[str]], str] | None = None,
) -> Parsed:
    """What `raw` is to the service; never raises for any bytes.

    Files beyond `max_bytes` (decoded, all together) or MAX_ATTACHMENTS, or of a type not
    allowed, are dropped; `dropped_note`, given their descriptions, writes the line that
    says so under the text.
    """
    if len(raw) > largest_raw(max_bytes):
        message_id = _message_id_of(raw)
        return _refused(raw, message_id, received_at, f"larger than {largest_raw(max_bytes)} bytes")
    message_id = ""
    try:
        message = BytesParser(policy=_POLICY).parsebytes(raw)
        message_id = _message_id(message, raw)
        return _Reader(message, raw, message_id, received_at, max_bytes, dropped_note).read()
    except Exception as exc:
        message_id = message_id or _message_id_of(raw)
        # The standard library's parser keeps defects rather than raising, but header
        # classes and decoders still fail on some broken input: such mail is kept, refused.
        log.warning(
            "email could not be parsed", extra={"message_id": message_id, "error": repr(exc)}
        )
        return _refused(raw, message_id, received_at, f"cannot be parsed: {exc!r}"[:300])


@dataclass(slots=True)
class _Files:
    """The files found so far, and those dropped, with the room left for more."""

    room: int
    kept: list[Attachment] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


class _Reader:
    def __init__(
        self,
        message: Message,
        raw: bytes,
        message_id: str,
        received_at: datetime,
        max_bytes: int,
        dropped_note: Callable[[Sequence[str]], str] | None,
    ) -> None:
        self._raw = raw
        self._id = message_id
        self._at = received_at
        self._dropped_note = dropped_note
        self._files = _Files(room=max_bytes)
        self._message = message

    def read(self) -> Parsed:
        message = self._message
        sender, display_name = _sender(message)
        if message.get_content_type() == "multipart/report":
            return self._report(sender)
        refusal = _automatic(message, sender)
        if refusal is not None:
            return self._refuse(refusal, sender)
        if sender is None:
            return self._refuse("no sender address (From)", None)
        whole = clean_text(self._text_of(message))
        text = clean_text(strip_reply(whole))
        files = self._files
        if files.dropped and self._dropped_note is not None:
            text = "\n\n".join(part for part in (text, self._dropped_note(files.dropped)) if part)
        subject = clean_text(_header(message, "Subject")) or None
        return InboundMessage(
            channel=ChannelName.EMAIL,
            sender=sender,
            text=text,
            received_at=self._at,
            provider_message_id=self._id,
            display_name=display_name,
            subject=subject,
            attachments=tuple(files.kept),
            thread_keys=_thread_keys(message),
            original_text=whole if whole != text else None,
            subject_reference=_subject_reference(subject),
        )

    # --- the text and the files -------------------------------------------------------

    def _text_of(self, part: Message) -> str:
        """The text a reader sees of `part`, collecting its files on the way."""
        kind = part.get_content_type()
        if part.is_multipart():
            children = _children(part)
            if kind == "multipart/alternative":
                return self._alternative(children)
            if kind == "multipart/related" and children:
                # The root carries the text; the rest are the images it shows.
                text = self._text_of(children[0])
                for child in children[1:]:
                    self._file(child)
                return text
            texts = (self._text_of(child) for child in children)
            return "\n\n".join(text for text in texts if text.strip())
        if kind == "message/rfc822" or _is_attachment(part) or not kind.startswith("text/"):
            self._file(part)
            return ""
        if kind == "text/html":
            return html_to_text(_decoded(part))
        if kind == "text/plain":
            text = _decoded(part)
            if str(part.get_param("format", "")).lower() == "flowed":
                text = unflow(text, delsp=str(part.get_param("delsp", "")).lower() == "yes")
            return text
        self._file(part)
        return ""

    def _alternative(self, children: list[Message]) -> str:
        """Plain text where a version has it, HTML turned into text otherwise; the files of
        every version are kept (an iPhone's photo may be only in the HTML one)."""
        chosen = next((c for c in children if _has_type(c, "text/plain")), None)
        if chosen is None:
            chosen = next((c for c in children if _has_type(c, "text/html")), None)
        if chosen is None and children:
            chosen = children[-1]
        text = self._text_of(chosen) if chosen is not None else ""
        for child in children:
            if child is not chosen:
                for leaf in _leaves(child):
                    if leaf.get_content_maintype() != "text" or _is_attachment(leaf):
                        self._file(leaf)
        return text

    def _file(self, part: Message) -> None:
        files = self._files
        kind = part.get_content_type()
        name = _filename(part)
        kind = _ALIASES.get(kind, kind)
        if kind in _GENERIC_TYPES and name:
            kind = _TYPE_OF_EXTENSION.get(PurePosixPath(name).suffix.lower(), kind)
        label = f"{name} ({kind})" if name else kind
        if kind not in ALLOWED_TYPES:
            files.dropped.append(label)
            return
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        if kind == "text/html":
            # Only ever shown sanitised.
            html = sanitise_html(decode_text(content, part.get_content_charset()))
            content = html.encode("utf-8")
        digest = hashlib.sha256(content).hexdigest()
        if digest in files.seen:
            return  # the same image in two versions of the message
        if len(content) > files.room:
            files.dropped.append(f"{label}, {len(content)} bytes")
            return
        if len(files.kept) >= MAX_ATTACHMENTS:
            files.dropped.append(f"{label}, over {MAX_ATTACHMENTS} files")
            return
        files.seen.add(digest)
        files.room -= len(content)
        extension = next((e for e, t in _TYPE_OF_EXTENSION.items() if t == kind), "")
        files.kept.append(
            Attachment(name or f"attachment-{len(files.kept) + 1}{extension}", kind, content)
        )

    # --- automatic mail ---------------------------------------------------------------

    def _report(self, sender: str | None) -> Parsed:
        message = self._message
        report_type = str(message.get_param("report-type", "")).lower()
        if report_type != "delivery-status":
            return self._refuse(f"a report (multipart/report; report-type={report_type})", sender)
        fields = list(_delivery_status_fields(message))
        original = _original_message_id(message, fields)
        if original is None:
            return self._refuse(
                "a delivery report about a message it does not identify (no Message-ID in "
                "its message/rfc822 or text/rfc822-headers part, no Original-Message-ID)",
                sender,
            )
        actions = {str(f.get("Action", "")).strip().lower() for f in fields} & set(_DSN_ACTIONS)
        action = next((a for a in _WORST_FIRST if a in actions), "failed")
        return DeliveryReport(
            channel=ChannelName.EMAIL,
            provider_message_id=original,
            status=_DSN_ACTIONS[action],
            reported_at=self._at,
            error_code=_dsn_error(fields, action),
        )

    def _refuse(self, reason: str, sender: str | None) -> RefusedMessage:
        return RefusedMessage(ChannelName.EMAIL, self._id, reason, self._raw, self._at, sender)


_COMMENT = re.compile(r"\([^()]*\)")


def _automatic(message: Message, sender: str | None) -> str | None:
    """Why `message` was sent by a program, not a person, naming the header that says so."""
    auto = _header(message, "Auto-Submitted").strip().lower()
    # RFC 3834: the keyword, then optional parameters after ";", with comments anywhere.
    if auto and _COMMENT.sub(" ", auto).split(";")[0].strip() != "no":
        return f"an automatic message (Auto-Submitted: {auto})"
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return f"bulk mail (Precedence: {precedence})"
    for name in ("X-Autoreply", "X-Autorespond"):
        if name in message:
            return f"an automatic reply ({name}: {_header(message, name).strip()})"
    if "List-Id" in message:
        return f"mailing list mail (List-Id: {_header(message, 'List-Id').strip()})"
    if sender is not None and sender.partition("@")[0] in _NO_REPLY_SENDERS:
        return f"mail from a mail system (From: {sender})"
    if _header(message, "Return-Path").strip() == "<>":
        # RFC 3834: a null return path marks mail that must not be answered.
        return "an automatic message (Return-Path: <>)"
    return None


def _delivery_status_fields(message: Message) -> Iterator[Message]:
    """The per-message and per-recipient field groups of the message/delivery-status part."""
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                yield from (group for group in payload if isinstance(group, Message))


def _original_message_id(message: Message, fields: list[Message]) -> str | None:
    for part in message.walk():
        kind = part.get_content_type()
        headers: Message | None = None
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                headers = payload[0]
        elif kind == "text/rfc822-headers":
            content = part.get_payload(decode=True)
            if isinstance(content, bytes):
                headers = BytesHeaderParser(policy=_POLICY).parsebytes(content)
        if headers is not None:
            found = _one_message_id(_header(headers, "Message-ID"))
            if found:
                return found
    for group in (*fields, message):
        found = _one_message_id(_header(group, "Original-Message-ID"))
        if found:
            return found
    return None


def _dsn_error(fields: list[Message], action: str) -> str | None:
    for group in fields:
        if str(group.get("Action", "")).strip().lower() == action:
            status = _header(group, "Status").strip()
            diagnostic = " ".join(_header(group, "Diagnostic-Code").split())
            error = " ".join(part for part in (status, diagnostic and f"({diagnostic})") if part)
            return error[:_MAX_ERROR_CHARS] or None
    return None


# --- headers ---------------------------------------------------------------------------


def _raw_header(message: Message, name: str) -> str:
    """A header's first value as it came, unfolded, encoded words and all ("" if absent)."""
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() == wanted:
            return re.sub(r"\r?\n(?=[ \t])", "", str(value)).strip()
    return ""


def _header(message: Message, name: str) -> str:
    """A header's value decoded: its RFC 2047 encoded words, and raw 8-bit text, each read
    by `decode_text` (the standard library's header classes turn a mislabelled word into
    replacement characters)."""
    return _decode_words(_raw_header(message, name))


def _decode_words(value: str) -> str:
    if "=?" not in value:
        return readable(value)
    try:
        chunks = decode_header(value)
    except Exception:
        return readable(value)
    return "".join(
        decode_text(chunk, charset) if isinstance(chunk, bytes) else readable(chunk)
        for chunk, charset in chunks
    )


# The headers that name people, for finding a mail that names an address.
_NAMING_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc")


def _sender(message: Message) -> tuple[str | None, str | None]:
    """The From address (lower-cased) and display name, decoded. The address is read
    before the name is decoded, so that a comma or bracket in an encoded name stays in it."""
    name, address = parseaddr(readable(_raw_header(message, "From")))
    address = clean_text(address).lower()
    if "@" not in address and address not in _NO_REPLY_SENDERS:
        return None, None
    return address, clean_text(_decode_words(name)) or None


def named_addresses(raw: bytes) -> frozenset[str]:
    """Every address a mail's From, Sender, Reply-To, To and Cc name, lower-cased as its
    sender's is stored."""
    message = BytesHeaderParser().parsebytes(raw)
    headers = [readable(_raw_header(message, name)) for name in _NAMING_HEADERS]
    return frozenset(
        clean_text(address).lower() for _, address in getaddresses(headers) if "@" in address
    )


def _thread_keys(message: Message) -> tuple[str, ...]:
    """The Message-IDs this one answers: In-Reply-To first, then References, newest first;
    at most `_MAX_THREAD_KEYS` of them (a crafted header holds tens of thousands)."""
    keys: dict[str, None] = {}
    for header in ("In-Reply-To", "References"):
        for key in reversed(_MESSAGE_ID.findall(_header(message, header))):
            keys.setdefault(key)
            if len(keys) == _MAX_THREAD_KEYS:
                return tuple(keys)
    return tuple(keys)


# Enough for any thread people write in: each of our mails names the resident's first
# message and the latest ones (bot.messaging.email_threading), and they come first.
_MAX_THREAD_KEYS = 100


def _subject_reference(subject: str | None) -> str | None:
    match = _SUBJECT_REFERENCE.search(subject or "")
    return f"{match.group(1)}-{match.group(2)}".upper() if match else None


def _one_message_id(value: str) -> str | None:
    found = _MESSAGE_ID.search(value)
    return found.group(0) if found else None


def _message_id(message: Message, raw: bytes) -> str:
    """The message's Message-ID, or a digest of its bytes when it has none we can read."""
    found = _one_message_id(_header(message, "Message-ID"))
    return found or "<sha256:" + hashlib.sha256(raw).hexdigest() + ">"


def _message_id_of(raw: bytes) -> str:
    """`_message_id` of mail that is not parsed whole (too large, or it broke the parser)."""
    try:
        return _message_id(BytesParser(policy=_POLICY).parsebytes(raw, headersonly=True), raw)
    except Exception:
        return "<sha256:" + hashlib.sha256(raw).hexdigest() + ">"


def _refused(raw: bytes, message_id: str, at: datetime, reason: str) -> RefusedMessage:
    return RefusedMessage(ChannelName.EMAIL, message_id, reason, raw, at)


# --- MIME parts ------------------------------------------------------------------------


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    return [child for child in payload if isinstance(child, Message)]


def _leaves(part: Message) -> Iterator[Message]:
    if part.is_multipart():
        for child in _children(part):
            yield from _leaves(child)
    else:
        yield part


def _has_type(part: Message, kind: str) -> bool:
    return any(
        leaf.get_content_type() == kind and not _is_attachment(leaf) for leaf in _leaves(part)
    )


def _is_attachment(part: Message) -> bool:
    disposition = _header(part, "Content-Disposition").split(";")[0].strip().lower()
    return disposition == "attachment"


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return decode_text(data, part.get_content_charset()).replace("\r\n", "\n")


def _filename(part: Message) -> str | None:
    """The file's own name (no folders, no control characters), as the sender's client gave
    it in Content-Disposition or Content-Type."""
    try:
        name = part.get_filename()
    except Exception:
        name = None
    return safe_filename(readable(str(name))) if name else None
