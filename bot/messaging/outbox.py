"""The outbox dispatcher: sends each queued message once, retrying with backoff.

Rows are claimed in one transaction for one batch (SKIP LOCKED on PostgreSQL, so instances
never take the same row), each under the batch's claim token. Each channel sends its rows
in waves, channels side by side: a wave is up to `wave_size` rows (fewer where the channel
sends fewer at once: `SendRate.at_once`), sent side by side; what one recipient is sent
about one complaint goes in successive waves, in the order queued (see `_waves`).
Just before a wave is sent, one short transaction prepares its messages, checks the claim
still holds each row and records that its send began, renewing its lease: for each
channel's first wave, the claiming transaction; for each later one, the transaction that
settles the wave before it. The wave is sent outside any transaction. The channels' last
waves are settled together once the batch is done: in the transaction that claims the
next batch where rows were queued meanwhile, else in one of their own (no claim looks
for rows nobody queued). A channel whose last wave is done waits up to
`policy.settle_together` for the batch's others, then settles alone, so that a slow
channel holds no other's results back. So a batch whose channels send one wave each and
finish together costs two transactions, or one under steady load: not three a row.

A claim that expires was abandoned (its process died, or a batch outlived its lease). A row
whose send never began goes back to the queue as if never claimed. One whose send began
has an unknown fate, and a resident must never get the same message twice: it is sent
again where the channel says a resend is harmless; where the channel can ask its provider
what it took (`SentLookup`: SMS), it is looked up first, once the provider has had
`policy.confirm_after` to finish with it, and recorded as sent if the provider took it,
sent now if not; elsewhere it is marked failed with the reason. A send the provider may
have received but never answered (the adapter says `DeliveryUnknown`) is settled the same
way. A send that succeeds is recorded even if its claim lapsed meanwhile: the resident got
it, and the complaint and its SLA must say so.

Each channel's rows go out at the pace its provider allows (`bot.messaging.pacing`): a
channel claims only as many rows as its bucket lets go now, so a row that must wait is
left pending, not claimed and held. A row to a group chat over its own limit is put back
in the claiming transaction, due when it may go, as if it had never been claimed.

On channels that cut long texts (SMS), the agency's messages to a resident carry the link
to the complaint's tracking page, where the whole text can be read: the adapter ends its
cut with it, and the secret behind the link never leaves the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeGuard

from bot.domain.clock import Clock
from bot.messaging.buttons import from_json
from bot.messaging.email_threading import email_thread
from bot.messaging.pacing import Pacer
from bot.messaging.reminders import drop_stale_reminders
from bot.messaging.subscriptions import hold_back, refused_by_provider
from bot.messaging.tracking import TrackingLinks
from bot.records.responses import TO_RESIDENT_KINDS, count_as_response
from channels.base import (
    Attachment,
    Channel,
    ChannelName,
    DeliveryUnknown,
    OutboundMessage,
    PartlySent,
    RecipientOptedOut,
    SendError,
    SendProgress,
    SendRate,
    sent_lookup,
)
from config.settings import Settings
from storage.models import (
    Complaint,
    Direction,
    NewMessage,
    OutboxMessage,
    OutboxStatus,
    stored_id,
)
from storage.repositories import ConversationEntry
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutboxPolicy:
    max_attempts: int = 8
    backoff: timedelta = timedelta(seconds=5)
    max_backoff: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=2)
    # A send of unknown fate is looked up no sooner than this after it began: the provider
    # may still be working on a request it received just before we lost it.
    confirm_after: timedelta = timedelta(minutes=1)
    batch_size: int = 50
    # Rows of one channel sent side by side, to different recipients.
    wave_size: int = 16
    # The longest a wave waits for intake to catch up (see OutboxDispatcher._give_way).
    give_way: timedelta = timedelta(seconds=1)
    # The longest a channel's last wave waits for the batch's other channels, to be
    # recorded with theirs rather than in a transaction of its own.
    settle_together: timedelta = timedelta(milliseconds=500)
    poll_interval: float = 1.0
    # Rates set in the settings, by channel name, replacing what the channel declares.
    messages_per_second: Mapping[str, float] = field(default_factory=dict)
    group_messages_per_minute: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboxPolicy:
        """The policy the `ADUAN_OUTBOX_*` and `ADUAN_*_MESSAGES_PER_*` settings describe."""
        per_second = {
            ChannelName.SMS: settings.sms_messages_per_second,
            ChannelName.TELEGRAM: settings.telegram_messages_per_second,
        }
        per_group = {ChannelName.TELEGRAM: settings.telegram_group_messages_per_minute}
        return cls(
            max_attempts=settings.outbox_max_attempts,
            backoff=timedelta(seconds=settings.outbox_backoff_seconds),
            lease=timedelta(seconds=settings.outbox_claim_seconds),
            poll_interval=settings.outbox_poll_seconds,
            messages_per_second={name: r for name, r in per_second.items() if r is not None},
            group_messages_per_minute={name: r for name, r in per_group.items() if r is not None},
        )

    def send_rate(self, channel: str, declared: SendRate) -> SendRate:
        """The rate a channel declares, with what the settings change."""
        return replace(
            declared,
            per_second=self.messages_per_second.get(channel, declared.per_second),
            group_per_minute=self.group_messages_per_minute.get(channel, declared.group_per_minute),
        )


class OutboxDispatcher:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        channels: Mapping[str, Channel],
        clock: Clock,
        policy: OutboxPolicy,
        unconfigured: Mapping[str, str] | None = None,
        *,
        links: TrackingLinks,
        intake_caught_up: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._uow = uow
        self._intake_caught_up = intake_caught_up
        self._channels = channels
        self._clock = clock
        self._policy = policy
        self._links = links
        # Why a channel with queued rows is not sending, per channel name.
        self._unconfigured = dict(unconfigured or {})
        self._pacer = Pacer(
            {name: policy.send_rate(name, ch.send_rate) for name, ch in channels.items()}
        )
        self._wakeup = asyncio.Event()
        # The last batch's last waves' outcomes, by claim token, still to be recorded.
        self._unsettled: _Unsettled = {}

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll (called after intake commits)."""
        self._wakeup.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Dispatch until `stopping` is set; a batch in flight is finished, not abandoned."""
        try:
            await self._run(stopping)
        finally:
            await self._settle_unsettled()

    async def _run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            # Cleared before the claim: a row queued after it has begun wakes the next one.
            self._wakeup.clear()
            try:
                full = (await self._dispatch()).full
            except Exception:
                log.exception("outbox dispatch failed; retrying after the poll interval")
                # Whatever failed, the last batch's outcomes are not retried with it.
                await self._settle_unsettled()
                full = False
            if not full:
                await self._idle(stopping)

    async def _idle(self, stopping: asyncio.Event) -> None:
        """Record the last batch's outcomes, unless rows queued meanwhile call for a claim
        now (which records them); then wait for a wake-up, the next poll or a paced
        channel's refill. A send is recorded as soon as its batch is done, never held
        for a claim to come: a reply to it is threaded by what the record holds."""
        if self._wakeup.is_set() or stopping.is_set():
            return
        await self._settle_unsettled()
        await _woken(self._wakeup, stopping, within=self._idle_wait())

    def _wave_size(self, channel: str) -> int:
        """Rows begun side by side: no more than the channel sends at once, since a row
        begun and waiting its turn would be 'delivery unknown' after a crash."""
        at_once = self._channels[channel].send_rate.at_once
        return min(self._policy.wave_size, at_once or self._policy.wave_size)

    def _idle_wait(self) -> float:
        """Seconds until the next poll, or sooner if a channel that ran out of tokens refills."""
        now = self._clock.now()
        refilled = self._pacer.refilled_at(now)
        if refilled is None:
            return self._policy.poll_interval
        return min(self._policy.poll_interval, max((refilled - now).total_seconds(), 0.0))

    async def dispatch_once(self) -> int:
        """Claim and send (or hold back) one batch of due rows, each channel's at its pace,
        every outcome recorded before it returns; returns how many it took."""
        claim = await self._dispatch()
        await self._settle_unsettled()
        return claim.sending

    async def _dispatch(self) -> _Claim:
        """Settle the last batch's last waves, claim and send the next batch; its last
        waves may be left unsettled, for the next call (or `_settle_unsettled`)."""
        await self._give_way()
        now = self._clock.now()
        token = uuid.uuid4().hex
        # Taken, so that no other call settles them too; given back should this one fail.
        unsettled, self._unsettled = self._unsettled, {}
        try:
            claim = await self._claim(now, token, unsettled)
        except BaseException:
            for earlier, results in unsettled.items():
                self._unsettled[earlier] = [*results, *self._unsettled.get(earlier, [])]
            raise
        _emit(claim.notes)
        batch = _Batch(running=len(claim.channels))
        await asyncio.gather(
            *(self._send_each(waves, begun, token, batch) for waves, begun in claim.channels)
        )
        return claim

    async def _claim(self, now: datetime, token: str, unsettled: _Unsettled) -> _Claim:
        """In one transaction: settle `unsettled`, claim a batch under `token` and begin
        each channel's first wave."""
        async with self._uow() as uow:
            notes = await self._settle_all(uow, unsettled)
            # What they recorded (by email, the thread's Message-IDs) is read by the
            # messages this batch begins: written first.
            await uow.flush()
            claimed: list[OutboxMessage] = []
            full = False
            for channels, limit in self._claims(now):
                rows = await uow.outbox.claim_due(now, channels, limit, self._policy.lease, token)
                claimed += rows
                full = full or len(rows) == limit
            to_send = await drop_stale_reminders(uow, await hold_back(uow, claimed, now))
            sending, put_back = self._paced(to_send, now)
            # Each channel sends its rows in waves; a slow channel holds back no other. The
            # first wave of each is begun in this transaction: one fewer for a small batch.
            by_channel: dict[str, list[OutboxMessage]] = {}
            for row in sending:
                by_channel.setdefault(row.channel, []).append(row)
            plans = [_waves(queue, self._wave_size(name)) for name, queue in by_channel.items()]
            begun = [(waves, await self._begin(uow, waves[0], token)) for waves in plans]
            await uow.commit()
        return _Claim(len(claimed) - put_back, full, channels=begun, notes=notes)

    async def _settle_unsettled(self) -> None:
        """Settle what the last batch left unsettled, in a transaction of its own. Should
        that fail too, its rows are left to `recover_abandoned`, as if this process had
        died before settling them: never tried again and again, holding the outbox up."""
        unsettled, self._unsettled = self._unsettled, {}
        if not unsettled:
            return
        try:
            async with self._uow() as uow:
                notes = await self._settle_all(uow, unsettled)
                await uow.commit()
        except Exception:
            rows = sum(len(results) for results in unsettled.values())
            log.exception("recording %d outbox outcomes failed; left to claim recovery", rows)
            return
        _emit(notes)

    async def _settle_all(self, uow: UnitOfWork, unsettled: _Unsettled) -> list[Callable[[], None]]:
        notes: list[Callable[[], None]] = []
        for token, results in unsettled.items():
            notes += await self._settle(uow, results, token)
        return notes

    async def _send_each(
        self, waves: Sequence[Sequence[OutboxMessage]], first: _Begun, token: str, batch: _Batch
    ) -> None:
        """Send one channel's waves in turn; each wave is settled in the transaction that
        begins the next, the last with the batch's other channels' or in one of its own."""
        begun = first
        for following in waves[1:]:
            results = await self._send_wave(begun)
            await self._give_way()
            async with self._uow() as uow:
                notes = await self._settle(uow, results, token)
                # The next wave's messages are built from what this one recorded (by
                # email, the thread's Message-IDs): written first, so they are read.
                await uow.flush()
                begun = await self._begin(uow, following, token)
                await uow.commit()
            _emit(notes)
        results = await self._send_wave(begun)
        if await batch.finished(within=self._policy.settle_together.total_seconds()):
            self._unsettled.setdefault(token, []).extend(results)
            return
        async with self._uow() as uow:
            notes = await self._settle(uow, results, token)
            await uow.commit()
        _emit(notes)

    async def _give_way(self) -> None:
        """Wait while intake has messages waiting, up to `policy.give_way`. Intake and the
        outbox share one process: at a surge, a webhook left unanswered risks its
        provider's timeout, an acknowledgement a few seconds late does not."""
        if self._intake_caught_up is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._policy.give_way.total_seconds()):
                await self._intake_caught_up()

    def _claims(self, now: datetime) -> list[tuple[list[str], int]]:
        """The channels to claim rows of, and how many at most: a paced channel as many as
        its bucket lets go now; the unpaced ones a batch between them."""
        unpaced: list[str] = []
        claims: list[tuple[list[str], int]] = []
        for name in self._channels:
            room = self._pacer.room(name, now)
            if room is None:
                unpaced.append(name)
            elif room:
                claims.append(([name], min(room, self._policy.batch_size)))
        return [(unpaced, self._policy.batch_size), *claims] if unpaced else claims

    def _paced(
        self, rows: Sequence[OutboxMessage], now: datetime
    ) -> tuple[list[OutboxMessage], int]:
        """The rows to send now, and how many were put back to wait for a group's pace."""
        waits = self._pacer.admit([(row.channel, row.recipient) for row in rows], now)
        sending = []
        for row, wait in zip(rows, waits, strict=True):
            if wait is None:
                sending.append(row)
                continue
            # Unclaimed in the transaction that claimed it: waiting costs no attempt.
            _unclaim(row, due=wait)
        return sending, len(rows) - len(sending)

    async def _send_wave(self, begun: _Begun) -> list[tuple[OutboxMessage, _Outcome]]:
        """Send a begun wave of one channel's rows side by side: each row's outcome, the
        rows that could not be prepared included."""
        for row_id in begun.left:
            # Its claim lapsed before its turn and it was taken back: it goes out later,
            # from a new claim, once.
            log.info("outbox row %s left to a later claim", row_id)
        outcomes = await asyncio.gather(
            *(
                self._attempt(begun.channel, outbound, row.unconfirmed_since)
                for row, outbound in begun.prepared
            )
        )
        return [*zip((row for row, _ in begun.prepared), outcomes, strict=True), *begun.unprepared]

    async def _begin(self, uow: UnitOfWork, wave: Sequence[OutboxMessage], token: str) -> _Begun:
        """Prepare each row's message, then mark the sends of the prepared ones as begun
        where this claim still holds them: from here on, a process that dies leaves rows
        whose delivery is unknown, not rows never tried. A row that cannot be prepared is
        not begun: it is retried, since nothing of it went out."""
        channel = self._channels[wave[0].channel]
        prepared: list[tuple[OutboxMessage, OutboundMessage]] = []
        unprepared: list[tuple[OutboxMessage, _Outcome]] = []
        context = await _WaveContext.load(uow, wave, channel)
        for row in wave:
            try:
                prepared.append((row, await self._outbound(uow, row, channel, context)))
            except Exception as exc:
                log.exception("preparing outbox row %s on %s raised", row.id, row.channel)
                # Nothing went now; an earlier send of unknown fate stays to be looked up.
                failure = _NotSent(exc, permanent=False, unconfirmed=bool(row.unconfirmed_since))
                unprepared.append((row, failure))
        await uow.flush_changes()  # the claim, or the wave before settled
        held = await uow.outbox.start_sends(
            [stored_id(row) for row, _ in prepared], token, self._clock.now(), self._policy.lease
        )
        return _Begun(
            channel,
            prepared=[(row, out) for row, out in prepared if row.id in held],
            unprepared=unprepared,
            left=[stored_id(row) for row, _ in prepared if row.id not in held],
        )

    async def _attempt(
        self, channel: Channel, outbound: OutboundMessage, unconfirmed_since: datetime | None
    ) -> _Outcome:
        """Send `outbound`; first, if an earlier send of it had an unknown fate, ask the
        provider whether it took that one."""
        if unconfirmed_since is not None:
            known = await self._look_up(channel, outbound, unconfirmed_since)
            if known is not None:
                return known
        try:
            receipt = await channel.send(outbound)
        except RecipientOptedOut as exc:
            return _OptedOut(exc)
        except DeliveryUnknown as exc:
            # The provider may have it: like a send its process died in (recover_abandoned).
            if channel.resend_is_safe:
                return _NotSent(exc, permanent=False)
            if sent_lookup(channel) is not None:
                return _NotSent(exc, permanent=False, unconfirmed=True, reason=_to_look_up(exc))
            return _NotSent(exc, permanent=True, reason=_delivery_unknown(channel.name, str(exc)))
        except SendError as exc:
            return _NotSent(exc, permanent=exc.permanent)
        except Exception as exc:
            log.exception("sending to %s on %s raised", outbound.recipient, channel.name)
            return _NotSent(exc, permanent=False)
        return _Sent(receipt.provider_message_id, receipt.thread_key, at=self._clock.now())

    async def _look_up(
        self, channel: Channel, outbound: OutboundMessage, since: datetime
    ) -> _Outcome | None:
        """What the provider says of a send of `outbound` since `since` whose fate was
        unknown: sent, if it took one we have not recorded on another row; None if it took
        none, and the message is to be sent now; not sent (to be asked again later) if it
        could not be asked."""
        lookup = sent_lookup(channel)
        if lookup is None:
            cause = DeliveryUnknown("an earlier send's result was never recorded")
            return _NotSent(
                cause, permanent=True, reason=_delivery_unknown(channel.name, str(cause))
            )
        try:
            found = await lookup.find_sent(outbound, since)
        except Exception as exc:
            if not isinstance(exc, SendError):
                log.exception(
                    "looking up a send to %s on %s raised", outbound.recipient, channel.name
                )
            return _NotSent(exc, permanent=False, unconfirmed=True, reason=_to_look_up(exc))
        if found:
            async with self._uow() as uow:
                recorded = await uow.outbox.recorded_provider_ids(channel.name, found)
            for provider_id in found:
                if provider_id not in recorded:
                    return _Sent(provider_id, None, at=self._clock.now(), found=True)
        return None

    async def _outbound(
        self, uow: UnitOfWork, row: OutboxMessage, channel: Channel, context: _WaveContext
    ) -> OutboundMessage:
        attachments: tuple[Attachment, ...] = ()
        if row.attachment_ids and channel.supports_attachments:
            stored = await uow.messages.attachments(json.loads(row.attachment_ids))
            attachments = tuple(Attachment(a.filename, a.content_type, a.content) for a in stored)
        email = channel.name is ChannelName.EMAIL
        read_more = None
        complaint = context.complaints.get(row.complaint_id) if row.complaint_id else None
        conversation = context.conversations.get(row.complaint_id, []) if row.complaint_id else []
        if complaint is not None and _wants_link(channel, row):
            read_more = await self._links.url(complaint.reference)
        subject, in_reply_to = row.subject, row.in_reply_to
        references: tuple[str, ...] = ()
        if email:
            thread = email_thread(
                kind=row.kind,
                subject=row.subject,
                in_reply_to=row.in_reply_to,
                reference=complaint.reference if complaint else None,
                conversation=conversation,
            )
            subject, in_reply_to, references = thread.subject, thread.in_reply_to, thread.references
        return OutboundMessage(
            recipient=row.recipient,
            text=row.text,
            key=row.key,
            subject=subject,
            language=row.language,
            in_reply_to=in_reply_to,
            buttons=from_json(row.buttons),
            attachments=attachments,
            read_more_url=read_more,
            references=references,
            # What the agency tells a resident is an officer's doing (an answer, a question,
            # a closing note); everything else the service sends on its own.
            automatic=row.kind not in TO_RESIDENT_KINDS,
            progress=SendProgress(row.parts_sent, row.part_anchor) if row.parts_sent else None,
        )

    async def _settle(
        self, uow: UnitOfWork, results: Sequence[tuple[OutboxMessage, _Outcome]], token: str
    ) -> list[Callable[[], None]]:
        """Record every outcome of a wave in `uow`; the log lines to emit once it commits."""
        now = self._clock.now()
        notes: list[Callable[[], None]] = []
        rows = await uow.outbox.many([stored_id(claimed) for claimed, _ in results])
        for claimed, outcome in results:
            row = rows.get(stored_id(claimed))
            if isinstance(outcome, _Sent):
                note = await self._record_sent(uow, row, outcome)
            elif not _held(row, token):
                note = None
            elif isinstance(outcome, _OptedOut):
                await refused_by_provider(uow, row, str(outcome.error), now)
                note = _note(log.warning, "recipient opted out with the provider", row)
            else:
                note = self._record_failure(row, outcome, now)
            if note is not None:
                notes.append(note)
        return notes

    async def _record_sent(
        self, uow: UnitOfWork, row: OutboxMessage | None, sent: _Sent
    ) -> Callable[[], None] | None:
        if row is None:
            return None
        if row.status is OutboxStatus.SENT:
            log.warning("outbox row %s was sent twice: its claim lapsed mid-send", row.id)
            return None
        if row.status is not OutboxStatus.SENDING:
            # Its claim lapsed during a long send and recovery gave up on it: it did go,
            # and the complaint must show it.
            log.warning("outbox row %s sent after its claim lapsed; recorded", row.id)
        # A send the provider turned out to have taken went when it began, give or take
        # the provider's answer.
        sent_at = (row.unconfirmed_since if sent.found else None) or sent.at
        row.status = OutboxStatus.SENT
        row.sent_at = sent_at
        row.unconfirmed_since = None
        # The SLA measures the first officer message the resident received.
        await count_as_response(uow, row, sent_at)
        row.claimed_until = None
        row.provider_message_id = sent.provider_id
        row.last_error = None
        uow.messages.add(
            NewMessage(
                complaint_id=row.complaint_id,
                direction=Direction.OUTBOUND,
                channel=row.channel,
                provider_message_id=sent.provider_id,
                thread_key=sent.thread_key,
                kind=row.kind,
                text=row.text,
                created_at=sent_at,
            )
        )
        if sent.found:
            return _note(log.warning, "found sent at the provider; recorded, not resent", row)
        return _note(log.info, "sent", row)

    def _record_failure(
        self, row: OutboxMessage, failure: _NotSent, now: datetime
    ) -> Callable[[], None]:
        error = failure.error
        if isinstance(error, PartlySent):
            row.parts_sent, row.part_anchor = error.progress.parts_sent, error.progress.anchor
        row.claimed_until = None
        row.last_error = (failure.reason or f"{type(error).__name__}: {error}")[:2000]
        # The earliest send that may be at the provider is where a lookup starts.
        row.unconfirmed_since = (
            (row.unconfirmed_since or row.send_started_at or now) if failure.unconfirmed else None
        )
        if failure.permanent or row.attempts >= self._policy.max_attempts:
            row.status = OutboxStatus.FAILED
            if failure.unconfirmed:
                row.last_error = _delivery_unknown(
                    row.channel, f"{error}; after {row.attempts} attempts", asked=True
                )
            return _note(log.error, "gave up sending", row, error=row.last_error)
        row.status = OutboxStatus.PENDING
        delay = self._backoff(row.attempts)
        if failure.unconfirmed:
            delay = max(delay, self._policy.confirm_after)
        row.next_attempt_at = now + delay
        return _note(
            log.warning,
            "send failed, will retry",
            row,
            attempt=row.attempts,
            error=row.last_error,
        )

    def _backoff(self, attempts: int) -> timedelta:
        delay: timedelta = self._policy.backoff * (2 ** max(attempts - 1, 0))
        return min(delay, self._policy.max_backoff)

    async def recover_abandoned(self) -> int:
        """Settle claims whose process died mid-send; see the module docstring for why."""
        now = self._clock.now()
        async with self._uow() as uow:
            rows = await uow.outbox.abandoned_claims(now)
            for row in rows:
                channel = self._channels.get(row.channel)
                if row.send_started_at is None:
                    _unclaim(row, due=now)  # never tried: as if it had never been claimed
                    continue
                row.claimed_until = None
                row.claim_token = None
                if channel is not None and channel.resend_is_safe:
                    row.status = OutboxStatus.PENDING
                    row.next_attempt_at = now
                elif channel is not None and sent_lookup(channel) is not None:
                    row.status = OutboxStatus.PENDING
                    row.unconfirmed_since = row.unconfirmed_since or row.send_started_at
                    row.next_attempt_at = max(now, row.send_started_at + self._policy.confirm_after)
                    row.last_error = _to_look_up(
                        "the sending process stopped before recording the result"
                    )
                else:
                    row.status = OutboxStatus.FAILED
                    row.last_error = _delivery_unknown(
                        row.channel, "the sending process stopped before recording the result"
                    )
            await uow.commit()
        if rows:
            log.warning("recovered abandoned outbox claims", extra={"count": len(rows)})
        return len(rows)

    async def explain_waiting(self) -> None:
        """Give queued rows of channels this instance cannot send on a visible reason."""
        async with self._uow() as uow:
            for channel in await uow.outbox.pending_channels():
                if channel not in self._channels:
                    reason = self._unconfigured.get(
                        channel, f"channel '{channel}' is not configured on this instance"
                    )
                    await uow.outbox.mark_waiting(
                        channel, reason + "; the message waits and goes out once it is"
                    )
            await uow.commit()


@dataclass(frozen=True, slots=True)
class _WaveContext:
    """What a wave's messages need of their complaints, read for the whole wave at once:
    the complaint (its reference, for a link) and, by email, its conversation (for the
    thread headers)."""

    complaints: dict[int, Complaint]
    conversations: dict[int, list[ConversationEntry]]

    @classmethod
    async def load(
        cls, uow: UnitOfWork, wave: Sequence[OutboxMessage], channel: Channel
    ) -> _WaveContext:
        email = channel.name is ChannelName.EMAIL
        ids = {
            row.complaint_id
            for row in wave
            if row.complaint_id and (email or _wants_link(channel, row))
        }
        complaints = await uow.complaints.many(ids)
        conversations = await uow.messages.conversations(ids, channel.name) if email else {}
        return cls(complaints, conversations)


def _wants_link(channel: Channel, row: OutboxMessage) -> bool:
    """A resident's message on a channel that cuts long text ends with a link to the rest."""
    return channel.prefers_short_text and row.kind in TO_RESIDENT_KINDS


@dataclass(frozen=True, slots=True)
class _Begun:
    """A wave whose sends were recorded as begun: each row with its message, the rows that
    could not be prepared (with why), and those the claim no longer held (by id)."""

    channel: Channel
    prepared: list[tuple[OutboxMessage, OutboundMessage]]
    unprepared: list[tuple[OutboxMessage, _Outcome]]
    left: list[int]


@dataclass(frozen=True, slots=True)
class _Claim:
    """A batch claimed: how many of its rows go now (the others were put back to wait
    their pace), whether it took all it could (more may be due), each channel's waves
    with the first begun, and the log lines of the outcomes its transaction settled."""

    sending: int
    full: bool
    channels: list[tuple[list[list[OutboxMessage]], _Begun]]
    notes: list[Callable[[], None]]


@dataclass(slots=True)
class _Batch:
    """The channels of a batch still sending their waves."""

    running: int
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def finished(self, *, within: float) -> bool:
        """One channel has sent its last wave: whether the batch's every channel has, or
        does within `within` seconds."""
        self.running -= 1
        if self.running == 0:
            self.done.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self.done.wait()
        return self.done.is_set()


@dataclass(frozen=True, slots=True)
class _Sent:
    provider_id: str | None
    thread_key: str | None
    # When the provider took it.
    at: datetime
    # Not sent now: the provider said it took an earlier send whose result was lost.
    found: bool = False


@dataclass(frozen=True, slots=True)
class _NotSent:
    error: Exception
    permanent: bool
    # Recorded instead of the error, where the error alone would mislead.
    reason: str | None = None
    # A send of it may be at the provider (this one, or an earlier one this outcome did
    # not settle): it is looked up there before it is sent again.
    unconfirmed: bool = False


@dataclass(frozen=True, slots=True)
class _OptedOut:
    error: RecipientOptedOut


_Outcome = _Sent | _NotSent | _OptedOut
# Sends' outcomes not yet recorded, by the claim token they were sent under.
_Unsettled = dict[str, list[tuple[OutboxMessage, _Outcome]]]


def _waves(rows: Sequence[OutboxMessage], size: int) -> list[list[OutboxMessage]]:
    """`rows` in waves of at most `size`, each row in the first wave with room after the
    waves of the rows queued before it that it must follow: what one recipient is sent
    about one complaint arrives in the order it was queued, and so does what is about no
    complaint (a prompt, a notice) with everything else to that recipient. Everything else
    goes alongside: an agency's notices of different complaints, or a resident's messages
    on two of theirs, are independent, and one wave sends them together."""
    waves: list[list[OutboxMessage]] = []
    # The last wave holding a row to each recipient: about each complaint, about none, any.
    last: dict[tuple[str, int | None], int] = {}
    last_any: dict[str, int] = {}
    for row in rows:
        recipient, about = row.recipient, row.complaint_id
        after = last_any.get(recipient, -1)
        if about is not None:
            after = max(last.get((recipient, about), -1), last.get((recipient, None), -1))
        index = after + 1
        while index < len(waves) and len(waves[index]) >= size:
            index += 1
        if index == len(waves):
            waves.append([])
        waves[index].append(row)
        last[recipient, about] = index
        last_any[recipient] = max(last_any.get(recipient, -1), index)
    return waves


async def _woken(wakeup: asyncio.Event, stopping: asyncio.Event, *, within: float) -> None:
    """Wait up to `within` seconds for `wakeup` or `stopping`."""
    waiters = {asyncio.ensure_future(wakeup.wait()), asyncio.ensure_future(stopping.wait())}
    _, pending = await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()


def _emit(notes: Sequence[Callable[[], None]]) -> None:
    """Emit the log lines of a transaction that committed."""
    for note in notes:
        note()


def _note(
    emit: Callable[..., None], message: str, row: OutboxMessage, **extra: object
) -> Callable[[], None]:
    """A log line about `row`, emitted once the transaction that settles it commits."""
    fields = {"outbox_id": row.id, "channel": row.channel, "kind": row.kind, **extra}
    return lambda: emit(message, extra=fields)


def _delivery_unknown(channel: str, cause: str, *, asked: bool = False) -> str:
    """Why a row whose send may have reached its provider failed rather than went again."""
    if asked:
        return (
            f"delivery unknown: {cause}; not resent because {channel} never said whether it took it"
        )
    return f"delivery unknown: {cause}; not resent because {channel} cannot detect duplicates"


def _to_look_up(cause: object) -> str:
    """Why a row whose send may have reached its provider waits to be looked up there."""
    return f"delivery unknown: {cause}; looked up at the provider before it is sent again"


def _held(row: OutboxMessage | None, token: str) -> TypeGuard[OutboxMessage]:
    """Whether the claim `token` still holds `row` (nobody recovered or settled it)."""
    return row is not None and row.status is OutboxStatus.SENDING and row.claim_token == token


def _unclaim(row: OutboxMessage, *, due: datetime) -> None:
    """Put a claimed row back in the queue, due at `due`, as if it had never been claimed:
    the claim cost no attempt."""
    row.status = OutboxStatus.PENDING
    row.claimed_until = None
    row.claim_token = None
    row.attempts = max(row.attempts - 1, 0)
    row.next_attempt_at = due
