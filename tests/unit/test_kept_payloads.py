"""The addresses a kept delivery names, read as each adapter keeps it."""

from __future__ import annotations

import json

from channels.base import ChannelName
from channels.kept_payloads import fields, named_addresses


def test_a_twilio_webhook_names_its_numbers_not_the_text() -> None:
    payload = fields({"From": "0812 3456 7890", "To": "+15005550006", "Body": "+6289999999999"})
    assert named_addresses(ChannelName.SMS, payload) == frozenset(
        {"+6281234567890", "+15005550006"}
    )


def test_a_telegram_update_names_its_users_and_chats_not_numbers_in_the_text() -> None:
    update = {
        "update_id": 7,
        "callback_query": {
            "id": "1",
            "from": {"id": 42, "first_name": "Siti"},
            "message": {"message_id": 3, "chat": {"id": -100123}, "text": "hubungi 777"},
        },
    }
    payload = json.dumps(update).encode()
    assert named_addresses(ChannelName.TELEGRAM, payload) == frozenset({"42", "-100123"})


def test_a_mail_names_its_sender_and_recipients() -> None:
    raw = (
        b"From: Budi <Budi@Mail.Example.com>\r\nTo: aduan@kota.example.go.id\r\n"
        b"Cc: siti@mail.example.com\r\nSubject: x\r\n\r\nkata rina@mail.example.com\r\n"
    )
    assert named_addresses(ChannelName.EMAIL, raw) == frozenset(
        {"budi@mail.example.com", "aduan@kota.example.go.id", "siti@mail.example.com"}
    )


def test_a_payload_its_channel_cannot_read_says_so() -> None:
    assert named_addresses(ChannelName.SMS, b"From=+6281234567890") is None
    assert named_addresses(ChannelName.WEB, b"{}") is None
