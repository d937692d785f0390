"""Pacing sends to the rates providers allow: token buckets the outbox dispatcher draws on.

Each channel that declares a rate (`channels.base.SendRate`) has a bucket for all it
sends, and where it limits group chats apart (Telegram), a bucket per group chat. The
buckets live in one process: each instance paces its own sends, so instances sending from
one number (scale-out) together send up to their number times the rate.

A bucket counts outbox rows. A row an adapter sends as several provider messages (a long
Telegram answer split in pieces, photos under a post) counts once; the adapter waits out
what the provider then says (Telegram's flood control) or the outbox retries the row.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from channels.base import SendRate


class TokenBucket:
    """Sends at `per_second`, in bursts of up to a second's worth (at least one send).

    Kept as the moment the bucket is full again, counted in whole microseconds with the
    interval rounded up, so that no rounding lets a send through early.
    """

    def __init__(self, per_second: float) -> None:
        if not per_second > 0:
            raise ValueError(f"a send rate must be above 0 messages a second, not {per_second}")
        self._interval = timedelta(microseconds=math.ceil(1_000_000 / per_second))
        self._capacity = max(1, math.floor(per_second))
        self._full_at: datetime | None = None

    def tokens(self, now: datetime) -> int:
        """How many sends may go at `now`."""
        if self._full_at is None or self._full_at <= now:
            return self._capacity
        missing = -((now - self._full_at) // self._interval)  # a part-refilled token is none
        return max(self._capacity - missing, 0)

    def take(self, now: datetime) -> None:
        """Spend a token on a send at `now`."""
        self._full_at = max(self._full_at or now, now) + self._interval

    def free_at(self, now: datetime, ahead: int = 0) -> datetime:
        """When a send may go that waits behind `ahead` others already waiting for this
        bucket, each to go as soon as it may."""
        full_at = max(self._full_at or now, now)
        return max(now, full_at + (ahead + 1 - self._capacity) * self._interval)

    def full(self, now: datetime) -> bool:
        return self._full_at is None or self._full_at <= now


class Pacer:
    """The buckets of every channel with a rate, and of the group chats sent to lately."""

    def __init__(self, rates: Mapping[str, SendRate]) -> None:
        self._rates = dict(rates)
        self._channels = {
            name: TokenBucket(rate.per_second)
            for name, rate in rates.items()
            if rate.per_second is not None
        }
        self._groups: dict[tuple[str, str], TokenBucket] = {}

    def room(self, channel: str, now: datetime) -> int | None:
        """How many sends the channel may start at `now`; None when it has no rate to keep."""
        bucket = self._channels.get(channel)
        return None if bucket is None else bucket.tokens(now)

    def admit(self, sends: Sequence[tuple[str, str]], now: datetime) -> list[datetime | None]:
        """For each (channel, recipient) in order: None where it may go now (its tokens are
        taken), or when to try it again, later the further back it waits in line."""
        # A full bucket is as good as a new one: forgetting it keeps one per active group.
        self._groups = {key: b for key, b in self._groups.items() if not b.full(now)}
        ahead: Counter[TokenBucket] = Counter()
        answers: list[datetime | None] = []
        for channel, recipient in sends:
            buckets = self._buckets(channel, recipient)
            empty = [bucket for bucket in buckets if bucket.tokens(now) == 0]
            if not empty:
                for bucket in buckets:
                    bucket.take(now)
                answers.append(None)
                continue
            answers.append(max(bucket.free_at(now, ahead[bucket]) for bucket in empty))
            ahead.update(empty)
        return answers

    def refilled_at(self, now: datetime) -> datetime | None:
        """The soonest moment a channel whose bucket is empty may send again, if one is."""
        waits = [b.free_at(now) for b in self._channels.values() if b.tokens(now) == 0]
        return min(waits, default=None)

    def _buckets(self, channel: str, recipient: str) -> list[TokenBucket]:
        buckets = [self._channels[channel]] if channel in self._channels else []
        rate = self._rates.get(channel)
        if rate is not None and rate.group_per_minute is not None and rate.is_group(recipient):
            key = (channel, recipient)
            if key not in self._groups:
                self._groups[key] = TokenBucket(rate.group_per_minute / 60)
            buckets.append(self._groups[key])
        return buckets
