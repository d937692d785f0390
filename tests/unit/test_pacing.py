"""Pacing sends: token buckets and the pacer over them, on a clock that moves only when told."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.messaging.outbox import OutboxPolicy
from bot.messaging.pacing import Pacer, TokenBucket
from channels.base import SendRate
from channels.sms import TwilioSmsChannel
from channels.telegram import TelegramChannel
from config.settings import load_settings
from tests.fakes import FakeClock, FakeEmailChannel

GROUP, OTHER_GROUP, PRIVATE = "-1001234567890", "-1009876543210", "421337"
RATE_SETTINGS = (
    "ADUAN_SMS_MESSAGES_PER_SECOND",
    "ADUAN_TELEGRAM_MESSAGES_PER_SECOND",
    "ADUAN_TELEGRAM_GROUP_MESSAGES_PER_MINUTE",
)
TELEGRAM = SendRate(per_second=30, group_per_minute=20, is_group=lambda r: r.startswith("-"))


def test_a_bucket_of_one_a_second_lets_one_send_go_each_second() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1)
    assert bucket.tokens(clock.now()) == 1
    bucket.take(clock.now())
    assert bucket.tokens(clock.now()) == 0
    assert bucket.free_at(clock.now()) == clock.now() + timedelta(seconds=1)
    clock.advance(microseconds=999_999)
    assert bucket.tokens(clock.now()) == 0
    clock.advance(microseconds=1)
    assert bucket.tokens(clock.now()) == 1


def test_a_bucket_holds_a_seconds_worth_and_refills_at_its_rate() -> None:
    clock = FakeClock()
    start = clock.now()
    bucket = TokenBucket(30)
    assert bucket.tokens(start) == 30
    for _ in range(30):
        bucket.take(start)
    assert bucket.tokens(start) == 0
    # The interval is rounded up to whole microseconds: never faster than 30 a second.
    interval = timedelta(microseconds=33_334)
    assert bucket.free_at(start) == start + interval
    assert bucket.free_at(start, ahead=2) == start + 3 * interval
    assert bucket.tokens(start + interval - timedelta(microseconds=1)) == 0
    assert bucket.tokens(start + interval) == 1
    assert bucket.tokens(start + 30 * interval) == 30
    assert bucket.full(start + 30 * interval)
    # Idle for long, it still holds a second's worth, no more.
    assert bucket.tokens(start + timedelta(hours=1)) == 30


def test_a_rate_below_one_a_second_spaces_single_sends() -> None:
    clock = FakeClock()
    bucket = TokenBucket(20 / 60)
    bucket.take(clock.now())
    assert bucket.free_at(clock.now()) == clock.now() + timedelta(seconds=3)
    assert bucket.free_at(clock.now(), ahead=1) == clock.now() + timedelta(seconds=6)


def test_a_rate_must_be_above_zero() -> None:
    with pytest.raises(ValueError, match="above 0 messages a second, not 0"):
        TokenBucket(0)


def test_a_burst_to_one_channel_is_spread_at_its_pace() -> None:
    clock = FakeClock()
    start = clock.now()
    pacer = Pacer({"sms": SendRate(per_second=1), "email": SendRate()})
    assert pacer.room("email", start) is None
    assert pacer.room("sms", start) == 1

    waits = pacer.admit([("sms", "+6281234567890")] * 10 + [("email", "a@b.id")], start)

    assert waits == [None, *(start + timedelta(seconds=s) for s in range(1, 10)), None]
    assert pacer.room("sms", start) == 0
    assert pacer.refilled_at(start) == start + timedelta(seconds=1)
    clock.advance(seconds=1)
    assert pacer.room("sms", clock.now()) == 1
    assert pacer.refilled_at(clock.now()) is None


def test_group_chats_are_paced_apart_and_private_chats_only_overall() -> None:
    clock = FakeClock()
    start = clock.now()
    pacer = Pacer({"telegram": TELEGRAM})
    sends = [("telegram", GROUP)] * 3 + [("telegram", PRIVATE)] * 5 + [("telegram", OTHER_GROUP)]

    waits = pacer.admit(sends, start)

    later = [start + timedelta(seconds=3), start + timedelta(seconds=6)]
    assert waits == [None, *later, *[None] * 5, None]
    # What went counts against the overall 30 a second, what waits does not.
    assert pacer.room("telegram", start) == 30 - 7
    clock.advance(seconds=3)
    assert pacer.admit([("telegram", GROUP), ("telegram", GROUP)], clock.now()) == [
        None,
        clock.now() + timedelta(seconds=3),
    ]


def test_a_group_waits_behind_the_channel_when_both_are_spent() -> None:
    clock = FakeClock()
    start = clock.now()
    pacer = Pacer(
        {"telegram": SendRate(per_second=1, group_per_minute=20, is_group=lambda _: True)}
    )
    assert pacer.admit([("telegram", GROUP), ("telegram", OTHER_GROUP)], start) == [
        None,
        start + timedelta(seconds=1),
    ]


def test_the_adapters_declare_their_providers_limits() -> None:
    assert TwilioSmsChannel.send_rate == SendRate(per_second=1)
    telegram = TelegramChannel.send_rate
    assert (telegram.per_second, telegram.group_per_minute) == (30, 20)
    assert telegram.is_group(GROUP) and not telegram.is_group(PRIVATE)


def test_settings_replace_the_declared_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in RATE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    declared = OutboxPolicy.from_settings(load_settings(_env_file=None))
    assert declared.send_rate("sms", TwilioSmsChannel.send_rate) == TwilioSmsChannel.send_rate

    for name, value in zip(RATE_SETTINGS, ("2.5", "10", "6"), strict=True):
        monkeypatch.setenv(name, value)
    policy = OutboxPolicy.from_settings(load_settings(_env_file=None))

    assert policy.send_rate("sms", TwilioSmsChannel.send_rate).per_second == 2.5
    telegram = policy.send_rate("telegram", TelegramChannel.send_rate)
    assert (telegram.per_second, telegram.group_per_minute) == (10, 6)
    assert telegram.is_group(GROUP) and not telegram.is_group(PRIVATE)
    assert policy.send_rate("email", FakeEmailChannel.send_rate) == SendRate()
