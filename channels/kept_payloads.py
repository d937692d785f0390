"""Kept deliveries as the adapters encode them, and the addresses one names.

Erasing a resident must find the deliveries that hold their address without running an
adapter (the command line has none): so the encodings that name senders are read here,
with the standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

from channels.base import ChannelName, UnknownDelivery
from channels.email_message import named_addresses as mail_addresses
from channels.phone import PhoneNumberError, e164

# The Twilio fields that hold a phone number: the sender, the recipient (a status report
# is about a message to the resident), and the caller the voice channel adds.
_TWILIO_NUMBERS = ("From", "To", "Caller", "caller")
# The Telegram objects that are a user or a chat: their ids are residents' addresses.
_TELEGRAM_PARTIES = ("chat", "from", "user", "sender_chat")


def fields(params: Mapping[str, str]) -> bytes:
    """A webhook's checked fields as a kept delivery's payload."""
    return json.dumps(dict(params), ensure_ascii=False, sort_keys=True).encode()


def read_fields(payload: bytes) -> dict[str, str]:
    read = json.loads(payload)
    if not isinstance(read, dict):
        raise UnknownDelivery("a kept Twilio delivery is not a JSON object of fields")
    return {str(key): str(value) for key, value in read.items()}


def named_addresses(channel: str, payload: bytes) -> frozenset[str] | None:
    """The addresses (as residents are stored) a kept delivery on `channel` names: a Twilio
    webhook's numbers, a Telegram update's user and chat ids, a mail's From, Sender,
    Reply-To, To and Cc; None when the payload cannot be read as its channel keeps it."""
    try:
        if channel in (ChannelName.SMS, ChannelName.VOICE):
            params = read_fields(payload)
            return frozenset(_phone(params[key]) for key in _TWILIO_NUMBERS if params.get(key))
        if channel == ChannelName.TELEGRAM:
            return frozenset(_telegram_ids(json.loads(payload)))
        if channel == ChannelName.EMAIL:
            return mail_addresses(payload)
    except (ValueError, UnknownDelivery):  # not JSON, or not the shape its adapter writes
        return None
    return None


def _phone(number: str) -> str:
    try:
        return e164(number)
    except PhoneNumberError:
        return number


def _telegram_ids(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in _TELEGRAM_PARTIES and isinstance(inner, dict) and "id" in inner:
                yield str(inner["id"])
            yield from _telegram_ids(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _telegram_ids(inner)
