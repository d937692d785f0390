"""The inbox: providers' deliveries kept before they are processed, so that an error or a
crash never loses one, retried until they succeed, and the dead letters among them.

A webhook's provider does not send again (Twilio) or holds everything behind a delivery
it keeps failing (Telegram): `receive` keeps the delivery, commits, and only then hands it
back to its adapter to process, here and now. A polled provider keeps what we did not
confirm, so the adapter processes first and keeps only a failure (`failed`), before it
confirms and moves past it. Either way a delivery whose processing fails is tried again
with growing pauses, by whichever instance gets to it first; after
`ADUAN_DEADLETTER_AFTER_ATTEMPTS` it becomes a dead letter, which an admin lists, replays
or drops (`aduan deadletters`). A process that dies while processing leaves the delivery
pending, and it is tried again: every adapter's processing is safe to repeat (intake
deduplicates by provider id, officers' actions by update id).

Processed deliveries are settled in batches, a second or so later, rather than in a
transaction each: a crash in between only means processing one again, which is harmless.
Settled ones keep their key (not their payload, which holds a resident's words) for a week,
so that a provider's redelivery is recognised without being processed again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.intake.group_commit import GroupCommit
from channels.base import (
    Channel,
    ChannelName,
    DeliveryNotKept,
    NotYetProcessable,
    RawDelivery,
    UnknownDelivery,
)
from config.settings import Settings
from storage.errors import connection_dropped
from storage.models import DeliveryState, KeptDelivery, NewKeptDelivery, stored_id
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

# Pauses before the second, third … attempt; the last one repeats.
RETRY_PAUSES = (
    timedelta(seconds=2),
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=10),
    timedelta(hours=1),
)
# How long settled deliveries (and dropped dead letters) are remembered by their key.
REMEMBERED = timedelta(days=7)
_RETRY_BATCH = 50
_MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class InboxPolicy:
    dead_after_attempts: int = 5
    # A delivery kept by `receive` is being processed by the instance that kept it, and a
    # retry by the instance that claimed it: the others leave it alone this long, in case
    # that instance died.
    claim: timedelta = timedelta(minutes=2)

    @classmethod
    def from_settings(cls, settings: Settings) -> InboxPolicy:
        return cls(
            dead_after_attempts=settings.deadletter_after_attempts,
            claim=timedelta(seconds=settings.inbox_claim_seconds),
        )


@dataclass(frozen=True, slots=True)
class KeptView:
    """A kept delivery as an admin sees it (never its payload)."""

    id: int
    channel: str
    kind: str
    key: str
    state: DeliveryState
    attempts: int
    received_at: datetime
    last_error: str | None


class InboxError(Exception):
    """An admin's request on the inbox that cannot be done; the message says why."""


class DeliveryInbox:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        channels: Mapping[str, Channel],
        policy: InboxPolicy,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._channels = channels
        self._policy = policy
        # Many webhooks at once share the transaction that keeps them.
        self._keeping = GroupCommit(
            uow, shared=self._keep_shared, alone=self._keep_alone, max_items=64
        )
        self._processed: list[int] = []
        self._retrying = asyncio.Lock()

    async def caught_up(self) -> None:
        """Returns once no delivery waits for the transaction that keeps it."""
        await self._keeping.caught_up()

    # --- what adapters hand in ---------------------------------------------------------

    async def receive(self, delivery: RawDelivery) -> None:
        """Keep `delivery`, then process it; a redelivery of a kept one is not processed
        again. Raises DeliveryNotKept only when it could not be kept."""
        try:
            kept = await self._keeping.submit(delivery)
        except Exception as exc:
            log.exception("delivery not kept", extra={"channel": delivery.channel})
            raise DeliveryNotKept(f"could not keep the {delivery.kind} delivery: {exc}") from exc
        if kept is not None:
            await self._attempt(kept, delivery)

    async def failed(self, delivery: RawDelivery, error: BaseException) -> None:
        """Keep a delivery its adapter failed to process, to be tried again."""
        log.warning(
            "delivery failed; kept to be tried again",
            extra={"channel": delivery.channel, "key": delivery.key, "error": _said(error)},
        )
        now = self._clock.now()
        try:
            async with self._uow() as uow:
                row = _row(delivery, next_attempt_at=now + self._pause(1), error=_said(error))
                await uow.deliveries.keep(row)
                await uow.commit()
        except Exception as exc:
            raise DeliveryNotKept(f"could not keep the failed {delivery.kind}: {exc}") from exc

    # --- the scheduler's jobs ------------------------------------------------------------

    async def tend(self) -> None:
        """The scheduler's round: settle what was processed, retry what is due."""
        await self.settle()
        await self.retry_due()

    async def settle(self) -> None:
        """Record the deliveries processed since the last call as done."""
        ids, self._processed = self._processed, []
        if not ids:
            return
        try:
            async with self._uow() as uow:
                await uow.deliveries.settle(ids, self._clock.now())
                await uow.commit()
        except Exception:
            self._processed.extend(ids)  # next time; until then they may be tried again
            raise

    async def retry_due(self) -> int:
        """Try again the deliveries whose pause is over; how many were tried. One round at
        a time: a caller returns once any round already under way has ended too."""
        async with self._retrying:
            now = self._clock.now()
            async with self._uow() as uow:
                rows = await uow.deliveries.claim_due(
                    now, self._channels, _RETRY_BATCH, self._policy.claim
                )
                await uow.commit()
            for row in rows:
                await self._attempt(stored_id(row), _raw(row))
            return len(rows)

    async def purge(self) -> int:
        """Forget what was settled long ago; how many went."""
        async with self._uow() as uow:
            gone = await uow.deliveries.purge_settled(self._clock.now() - REMEMBERED)
            await uow.commit()
        return gone

    # --- what admins do ------------------------------------------------------------------

    async def listed(self, *, every: bool = False, limit: int = 100) -> list[KeptView]:
        """The dead letters, newest first; with `every`, also what is pending or dropped."""
        states = [DeliveryState.DEAD]
        if every:
            states += [DeliveryState.PENDING, DeliveryState.DROPPED]
        async with self._uow() as uow:
            rows = await uow.deliveries.listed(states, limit)
        return [_view(row) for row in rows]

    async def replay(self, delivery_id: int) -> KeptView:
        """Put a dead letter back in line, its attempts counted afresh; a running instance
        of the service processes it within seconds."""
        async with self._uow() as uow:
            row = await self._dead(uow, delivery_id)
            row.state = DeliveryState.PENDING
            row.attempts = 0
            row.next_attempt_at = self._clock.now()
            await uow.commit()
        log.info("dead letter replayed", extra={"delivery": delivery_id})
        return _view(row)

    async def drop(self, delivery_id: int) -> KeptView:
        """Give a dead letter up for good: its payload is erased, its key remembered."""
        async with self._uow() as uow:
            row = await self._dead(uow, delivery_id)
            row.state = DeliveryState.DROPPED
            row.payload = b""
            row.settled_at = self._clock.now()
            await uow.commit()
        log.info("dead letter dropped", extra={"delivery": delivery_id})
        return _view(row)

    # --- inside ---------------------------------------------------------------------------

    async def _keep_shared(self, uow: UnitOfWork, delivery: RawDelivery) -> int | None:
        """The kept delivery's id; None for a redelivery of one kept before."""
        row = _row(delivery, next_attempt_at=self._clock.now() + self._policy.claim)
        return await uow.deliveries.keep(row)

    async def _keep_alone(self, delivery: RawDelivery) -> int | None:
        try:
            return await self._keep_in_own_transaction(delivery)
        except Exception as exc:
            # A provider that is refused may never send it again: a connection the database
            # dropped while pooled is no reason to refuse, since the pool now has new ones.
            if not connection_dropped(exc):
                raise
            log.warning("connection found dropped; keeping the delivery on a new one")
            return await self._keep_in_own_transaction(delivery)

    async def _keep_in_own_transaction(self, delivery: RawDelivery) -> int | None:
        async with self._uow() as uow:
            kept = await self._keep_shared(uow, delivery)
            await uow.commit()
            return kept

    async def _attempt(self, delivery_id: int, delivery: RawDelivery) -> None:
        channel = self._channels.get(delivery.channel)
        try:
            if channel is None:
                raise UnknownDelivery(f"the {delivery.channel} channel is not configured here")
            await channel.process(delivery)
        except Exception as exc:
            await self._record_failure(delivery_id, delivery, exc)
        else:
            self._processed.append(delivery_id)

    async def _record_failure(
        self, delivery_id: int, delivery: RawDelivery, error: Exception
    ) -> None:
        said = _said(error)
        extra = {"channel": delivery.channel, "key": delivery.key, "error": said}
        try:
            async with self._uow() as uow:
                row = await uow.deliveries.get(delivery_id)
                if row is None or row.state is not DeliveryState.PENDING:
                    return
                row.last_error = said
                now = self._clock.now()
                if row.attempts < self._policy.dead_after_attempts:
                    row.next_attempt_at = now + self._pause(row.attempts)
                    log.warning("delivery not processed; tried again later", extra=extra)
                elif isinstance(error, NotYetProcessable):
                    row.state, row.payload, row.settled_at = DeliveryState.DONE, b"", now
                    log.warning("delivery given up after every attempt", extra=extra)
                else:
                    row.state = DeliveryState.DEAD
                    log.error(
                        "delivery failed every attempt: now a dead letter (aduan deadletters)",
                        extra=extra,
                    )
                await uow.commit()
        except Exception:
            # It stays pending, claimed: it is tried again once the claim lapses.
            log.exception("failure of a delivery not recorded", extra=extra)

    def _pause(self, attempts: int) -> timedelta:
        return RETRY_PAUSES[min(attempts, len(RETRY_PAUSES)) - 1]

    async def _dead(self, uow: UnitOfWork, delivery_id: int) -> KeptDelivery:
        row = await uow.deliveries.get(delivery_id)
        if row is None:
            raise InboxError(f"no kept delivery has the id {delivery_id}")
        if row.state is not DeliveryState.DEAD:
            raise InboxError(
                f"delivery {delivery_id} is {row.state.value}, not a dead letter; "
                "`aduan deadletters list` shows the dead letters"
            )
        return row


def _row(
    delivery: RawDelivery, *, next_attempt_at: datetime, error: str | None = None
) -> NewKeptDelivery:
    return NewKeptDelivery(
        channel=delivery.channel.value,
        kind=delivery.kind,
        key=delivery.key,
        payload=delivery.payload,
        received_at=delivery.received_at,
        next_attempt_at=next_attempt_at,
        last_error=error,
    )


def _raw(row: KeptDelivery) -> RawDelivery:
    return RawDelivery(
        channel=ChannelName(row.channel),
        kind=row.kind,
        key=row.key,
        payload=row.payload,
        received_at=row.received_at,
    )


def _view(row: KeptDelivery) -> KeptView:
    return KeptView(
        id=stored_id(row),
        channel=row.channel,
        kind=row.kind,
        key=row.key,
        state=row.state,
        attempts=row.attempts,
        received_at=row.received_at,
        last_error=row.last_error,
    )


def _said(error: BaseException) -> str:
    text = str(error)
    said = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return said[:_MAX_ERROR_CHARS]
