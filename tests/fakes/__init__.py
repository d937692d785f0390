"""Fakes we own, shared by tests and benchmarks: a clock that moves only when told,
channels that record what they send, and loopback fakes of the Telegram Bot API and the
Twilio REST API."""

from tests.fakes.channels import (
    FakeChannel,
    FakeClock,
    FakeEmailChannel,
    FakeShortSmsChannel,
    FakeSmsChannel,
    FakeTelegramChannel,
    InboundFields,
    inbound,
)

__all__ = [
    "FakeChannel",
    "FakeClock",
    "FakeEmailChannel",
    "FakeShortSmsChannel",
    "FakeSmsChannel",
    "FakeTelegramChannel",
    "InboundFields",
    "inbound",
]
