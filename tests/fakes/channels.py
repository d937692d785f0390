"""Fakes we own: a clock that moves only when told, and channels that record what they send."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import ClassVar, TypedDict, Unpack

from channels.base import (
    Address,
    Attachment,
    ChannelName,
    InboundHandler,
    InboundMessage,
    Location,
    OutboundMessage,
    RawDelivery,
    SendError,
    SendRate,
    SendReceipt,
    ServiceHandlers,
    UnknownDelivery,
)


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 09:00 WIB

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def move_to(self, moment: datetime) -> None:
        """Set the time outright: to a message's arrival, as a benchmark replays a stream."""
        self._now = moment


class FakeChannel:
    """Records sends; `fail_next` queues errors to raise on the next sends."""

    name: ClassVar[ChannelName] = ChannelName.SMS
    supports_attachments: ClassVar[bool] = False
    # Unpaced, so tests on a clock that stands still send everything they queue; pacing is
    # tested with a declared rate or the settings.
    send_rate: ClassVar[SendRate] = SendRate()
    resend_is_safe: ClassVar[bool] = False
    merges_bursts: ClassVar[bool] = True
    # Full-length replies, so intake tests read the ordinary templates.
    prefers_short_text: ClassVar[bool] = False
    router = None

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        self.fail_next: list[SendError | Exception] = []
        self.deliver: InboundHandler | None = None
        self._ids = itertools.count(1)

    async def start(self, handlers: ServiceHandlers) -> None:
        self.deliver = handlers.deliver

    async def stop(self) -> None:
        self.deliver = None

    async def send(self, message: OutboundMessage) -> SendReceipt:
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.sent.append(message)
        number = next(self._ids)
        return SendReceipt(
            provider_message_id=f"{self.name}-out-{number}",
            thread_key=f"{self.name}-thread-{number}",
        )

    async def process(self, delivery: RawDelivery) -> None:
        raise UnknownDelivery(f"the fake {self.name} channel keeps no deliveries")


class FakeSmsChannel(FakeChannel):
    pass


class FakeShortSmsChannel(FakeSmsChannel):
    """SMS as the Twilio adapter declares it (channels/sms.py): residents get the short
    replies, so intake writes the rows it writes in production (the benchmarks use it)."""

    prefers_short_text: ClassVar[bool] = True


class FakeEmailChannel(FakeChannel):
    name: ClassVar[ChannelName] = ChannelName.EMAIL
    resend_is_safe: ClassVar[bool] = True
    merges_bursts: ClassVar[bool] = False


class FakeTelegramChannel(FakeChannel):
    name: ClassVar[ChannelName] = ChannelName.TELEGRAM
    merges_bursts: ClassVar[bool] = True


_ids = itertools.count(1)


class InboundFields(TypedDict, total=False):
    """The fields of `InboundMessage` a test may set beyond what `inbound` fills in."""

    display_name: str | None
    subject: str | None
    subject_reference: str | None
    attachments: tuple[Attachment, ...]
    location: Location | None
    thread_keys: tuple[str, ...]
    reference: str | None
    reply_to: Address | None
    claimed_contact: Address | None
    language: str | None
    language_hint: str | None
    transcript_of: str | None


def inbound(
    text: str,
    *,
    sender: str | None = "+6281234567890",
    channel: ChannelName = ChannelName.SMS,
    at: datetime | None = None,
    provider_id: str | None = None,
    **fields: Unpack[InboundFields],
) -> InboundMessage:
    """A resident's message as a channel adapter would hand it over."""
    return InboundMessage(
        channel=channel,
        sender=sender,
        text=text,
        received_at=at or datetime(2026, 11, 2, 2, 0, tzinfo=UTC),
        provider_message_id=provider_id or f"msg-{next(_ids)}",
        **fields,
    )
