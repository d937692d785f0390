"""Reading one email as the service receives it: a resident's (or officer's) message, a
delivery report about one of ours, or a message refused with its reason.

`parse_email` is the one way raw mail becomes our types; the IMAP poller, the SMTP intake
listener and `aduan email parse` all call it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr

from channels.base import (
    ChannelName,
    DeliveryReport,
    InboundMessage,
    RefusedMessage,
)

Parsed = InboundMessage | DeliveryReport | RefusedMessage


def parse_email(raw: bytes, *, received_at: datetime, max_bytes: int) -> Parsed:
    """What `raw` is to the service; never raises for any bytes."""
    message_id = _message_id_of(raw)
    if len(raw) > max_bytes:
        return _refused(raw, message_id, received_at, f"larger than {max_bytes} bytes")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if not isinstance(message, EmailMessage):
        return _refused(raw, message_id, received_at, "not an email message")
    sender = parseaddr(str(message.get("From", "")))[1].strip().lower() or None
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    return InboundMessage(
        channel=ChannelName.EMAIL,
        sender=sender,
        text=str(text).strip(),
        received_at=received_at,
        provider_message_id=message_id,
        subject=str(message.get("Subject", "")) or None,
        thread_keys=_thread_keys(message),
    )


def _thread_keys(message: EmailMessage) -> tuple[str, ...]:
    """The Message-IDs this one answers: In-Reply-To first, then References, newest first."""
    keys: list[str] = []
    for header in ("In-Reply-To", "References"):
        for key in reversed(str(message.get(header, "")).split()):
            if key.startswith("<") and key.endswith(">") and key not in keys:
                keys.append(key)
    return tuple(keys)


def _message_id_of(raw: bytes) -> str:
    """The message's Message-ID, or a digest of its bytes when it has none we can read."""
    try:
        found = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        message_id = str(found.get("Message-ID", "")).strip()
    except Exception:
        message_id = ""
    return message_id or "<sha256:" + hashlib.sha256(raw).hexdigest() + ">"


def _refused(raw: bytes, message_id: str, at: datetime, reason: str) -> RefusedMessage:
    return RefusedMessage(ChannelName.EMAIL, message_id, reason, raw, at)
