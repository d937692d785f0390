"""The outbox dispatcher against real storage: once, retried, explained, recovered."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, ClassVar, cast

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from bot.bootstrap import Service, bootstrap
from bot.messaging.outbox import OutboxDispatcher, OutboxPolicy
from channels.base import (
    ChannelName,
    DeliveryUnknown,
    OutboundMessage,
    PermanentSendError,
    SendRate,
    SendReceipt,
    TransientSendError,
)
from channels.sms import TwilioSmsChannel
from channels.telegram import TelegramChannel
from config.settings import Settings
from storage.models import Direction, Message, OutboxMessage, OutboxStatus, stored_id
from tests.fakes import (
    FakeClock,
    FakeEmailChannel,
    FakeSmsChannel,
    FakeTelegramChannel,
    inbound,
)
from tests.integration.db import count, prepared_service, queue, rows

EMAIL = ChannelName.EMAIL

NUMBER = "+6281234567890"
GROUP, OTHER_GROUP, PRIVATE = "-1001234567890", "-1009876543210", "421337"


class PacedSmsChannel(FakeSmsChannel):
    """Records sends, at the pace the real SMS adapter declares."""

    send_rate: ClassVar[SendRate] = TwilioSmsChannel.send_rate


class PacedTelegramChannel(FakeTelegramChannel):
    """Records sends, at the pace the real Telegram adapter declares."""

    send_rate: ClassVar[SendRate] = TelegramChannel.send_rate


async def outbox(service: Service) -> dict[str, OutboxMessage]:
    return {row.kind: row for row in await rows(service, OutboxMessage)}


async def test_each_row_is_sent_once_and_logged_as_a_message(
    service: Service, sms: FakeSmsChannel, email: FakeEmailChannel
) -> None:
    receipt = await service.deliver(inbound("Jalan berlubang di Jl. Anggrek"))
    assert await service.dispatcher.dispatch_once() == 2
    assert await service.dispatcher.dispatch_once() == 0

    assert [m.text for m in sms.sent] == [receipt.reply_text]
    assert receipt.reference is not None
    assert len(email.sent) == 1 and receipt.reference in email.sent[0].text
    rows_ = await outbox(service)
    assert {r.status for r in rows_.values()} == {OutboxStatus.SENT}
    assert rows_["reply"].provider_message_id == "sms-out-1"
    sent = await rows(service, Message, Message.direction == Direction.OUTBOUND)
    assert {m.thread_key for m in sent} == {"sms-thread-1", "email-thread-1"}


async def test_transient_failures_back_off_then_succeed(
    service: Service, sms: FakeSmsChannel, clock: FakeClock
) -> None:
    sms.fail_next = [TransientSendError("HTTP 503 from provider"), TransientSendError("timeout")]
    await service.deliver(inbound("Jalan berlubang di Jl. Anggrek"))
    await service.dispatcher.dispatch_once()

    reply = (await outbox(service))["reply"]
    assert reply.status is OutboxStatus.PENDING
    assert reply.last_error == "TransientSendError: HTTP 503 from provider"
    assert reply.next_attempt_at == clock.now() + timedelta(seconds=5)
    assert await service.dispatcher.dispatch_once() == 0  # not due yet

    clock.advance(seconds=5)
    await service.dispatcher.dispatch_once()
    reply = (await outbox(service))["reply"]
    assert reply.next_attempt_at == clock.now() + timedelta(seconds=10)  # doubled

    clock.advance(seconds=10)
    await service.dispatcher.dispatch_once()
    reply = (await outbox(service))["reply"]
    assert (reply.status, reply.attempts, reply.last_error) == (OutboxStatus.SENT, 3, None)
    assert len(sms.sent) == 1


async def test_permanent_failure_gives_up_at_once_with_the_reason(
    service: Service, sms: FakeSmsChannel
) -> None:
    sms.fail_next = [PermanentSendError("21211: invalid 'To' phone number")]
    await service.deliver(inbound("Jalan berlubang di Jl. Anggrek"))
    await service.dispatcher.dispatch_once()

    reply = (await outbox(service))["reply"]
    assert reply.status is OutboxStatus.FAILED
    assert reply.last_error == "PermanentSendError: 21211: invalid 'To' phone number"


async def test_a_send_the_provider_left_unanswered_goes_again_only_where_resends_are_safe(
    service: Service, sms: FakeSmsChannel, email: FakeEmailChannel, clock: FakeClock
) -> None:
    unanswered = "Provider took the request and did not answer (ReadTimeout)"
    sms.fail_next = [DeliveryUnknown(unanswered)]
    email.fail_next = [DeliveryUnknown(unanswered)]
    await service.deliver(inbound("Jalan berlubang di Jl. Anggrek"))
    await service.dispatcher.dispatch_once()
    clock.advance(seconds=5)
    await service.dispatcher.dispatch_once()

    rows_ = await outbox(service)
    # The same verdict, in the same words, as for a send its process died in.
    assert rows_["reply"].status is OutboxStatus.FAILED
    assert rows_["reply"].last_error == (
        f"delivery unknown: {unanswered}; not resent because sms cannot detect duplicates"
    )
    assert (rows_["agency_notice"].status, rows_["agency_notice"].attempts) == (
        OutboxStatus.SENT,
        2,
    )
    assert sms.sent == [] and len(email.sent) == 1


async def test_gives_up_after_the_attempt_limit(
    service: Service, sms: FakeSmsChannel, clock: FakeClock
) -> None:
    sms.fail_next = [RuntimeError(f"boom {i}") for i in range(8)]
    await service.deliver(inbound("Jalan berlubang di Jl. Anggrek"))
    for _ in range(8):
        await service.dispatcher.dispatch_once()
        clock.advance(hours=2)

    reply = (await outbox(service))["reply"]
    assert (reply.status, reply.attempts, reply.last_error) == (
        OutboxStatus.FAILED,
        8,
        "RuntimeError: boom 7",
    )
    assert sms.sent == []


async def test_unconfigured_channel_waits_with_a_reason_then_goes_out(
    settings: Settings,
    engine: AsyncEngine,
    clock: FakeClock,
) -> None:
    without_email = await prepared_service(settings, engine, clock, channels=[FakeSmsChannel()])
    await without_email.deliver(inbound("Jalan berlubang di Jl. Anggrek"))
    await without_email.dispatcher.dispatch_once()
    await without_email.dispatcher.explain_waiting()

    notice = (await outbox(without_email))["agency_notice"]
    assert notice.status is OutboxStatus.PENDING
    assert notice.waiting_reason == (
        "the email channel is not configured; the message waits and goes out once it is"
    )
    assert notice.attempts == 0

    # The same database, now served by an instance that has email configured.
    email = FakeEmailChannel()
    with_email = bootstrap(settings, clock=clock, channels=[email], engine=engine)
    await with_email.dispatcher.dispatch_once()
    notice = (await outbox(with_email))["agency_notice"]
    assert (notice.status, notice.waiting_reason) == (OutboxStatus.SENT, None)
    assert len(email.sent) == 1


async def test_a_claim_abandoned_before_any_send_goes_back_to_the_queue_and_is_sent_once(
    service: Service, sms: FakeSmsChannel, email: FakeEmailChannel, clock: FakeClock
) -> None:
    await service.deliver(inbound("Jalan berlubang di Jl. Anggrek"))
    # A process claims the rows, then dies before it starts sending any of them.
    async with service.uow() as uow:
        claimed = await uow.outbox.claim_due(
            clock.now(), ["sms", "email"], 10, timedelta(minutes=2), "dead-process"
        )
        await uow.commit()
    assert len(claimed) == 2
    assert await service.dispatcher.dispatch_once() == 0
    assert await service.dispatcher.recover_abandoned() == 0  # lease still running

    clock.advance(minutes=3)
    assert await service.dispatcher.recover_abandoned() == 2
    assert await service.dispatcher.dispatch_once() == 2

    rows_ = await outbox(service)
    assert {row.status for row in rows_.values()} == {OutboxStatus.SENT}
    assert [row.attempts for row in rows_.values()] == [1, 1]
    assert len(sms.sent) == 1 and len(email.sent) == 1


async def test_a_row_whose_send_began_before_its_process_died_is_not_resent_where_duplicates_show(
    service: Service, sms: FakeSmsChannel, email: FakeEmailChannel, clock: FakeClock
) -> None:
    await service.deliver(inbound("Jalan berlubang di Jl. Anggrek"))
    # A process claims the rows, begins sending both, then dies before settling them.
    lease = timedelta(minutes=2)
    async with service.uow() as uow:
        claimed = await uow.outbox.claim_due(clock.now(), ["sms", "email"], 10, lease, "dead")
        await uow.commit()
    async with service.uow() as uow:
        ids = {stored_id(row) for row in claimed}
        assert await uow.outbox.start_sends(ids, "dead", clock.now(), lease) == ids
        await uow.commit()

    clock.advance(minutes=3)
    assert await service.dispatcher.recover_abandoned() == 2
    await service.dispatcher.dispatch_once()

    rows_ = await outbox(service)
    assert rows_["reply"].status is OutboxStatus.FAILED  # SMS cannot detect a duplicate
    assert "delivery unknown" in (rows_["reply"].last_error or "")
    assert rows_["agency_notice"].status is OutboxStatus.SENT  # email dedupes by Message-ID
    assert sms.sent == [] and len(email.sent) == 1


class StalledSmsChannel(FakeSmsChannel):
    """An SMS provider that answers only when the test lets it (`go`)."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()
        self.waiting = asyncio.Event()

    async def send(self, message: OutboundMessage) -> SendReceipt:
        self.waiting.set()
        await self.go.wait()
        return await super().send(message)


async def test_a_send_that_outlives_its_claim_is_recorded_and_holds_back_no_other_channel(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    sms, email = StalledSmsChannel(), FakeEmailChannel()
    service = await prepared_service(settings, engine, clock, channels=[sms, email])
    await service.deliver(inbound("Jalan berlubang di Jl. Anggrek", sender=NUMBER))
    dispatching = asyncio.create_task(service.dispatcher.dispatch_once())
    await sms.waiting.wait()
    # Meanwhile the agency's mail went out: the stalled SMS holds back no other channel.
    for _ in range(200):
        if (await outbox(service))["agency_notice"].status is OutboxStatus.SENT:
            break
        await asyncio.sleep(0.01)
    assert len(email.sent) == 1
    # The SMS provider takes longer than the claim's lease; recovery gives up on the row.
    clock.advance(minutes=3)
    assert await service.dispatcher.recover_abandoned() == 1
    assert (await outbox(service))["reply"].status is OutboxStatus.FAILED
    # Then the provider answers: the resident got it, and the complaint says so.
    sms.go.set()
    assert await dispatching == 2
    reply = (await outbox(service))["reply"]
    assert reply.status is OutboxStatus.SENT and reply.provider_message_id == "sms-out-1"
    sent = await rows(service, Message, Message.direction == Direction.OUTBOUND)
    assert sorted(m.kind for m in sent) == ["agency_notice", "reply"]


def _claims(statements: list[str]) -> bool:
    return any("FROM outbox" in s and "next_attempt_at <=" in s for s in statements)


def _records_sent(statements: list[str]) -> bool:
    return any(s.startswith("UPDATE outbox SET status") and "sent_at" in s for s in statements)


class Transactions:
    """The statements of each transaction the engine begins, in order."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[list[str]] = []
        event.listen(engine.sync_engine, "begin", self._began)
        event.listen(engine.sync_engine, "before_cursor_execute", self._executed)

    def _began(self, _connection: Any) -> None:
        self.statements.append([])

    def _executed(self, _connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.statements:
            self.statements[-1].append(statement)

    def shapes(self) -> list[tuple[bool, bool]]:
        """Per transaction that claimed rows or recorded sends (not intake's): which."""
        shapes = [(_claims(t), _records_sent(t)) for t in self.statements]
        return [shape for shape in shapes if any(shape)]

    async def until_recorded(self, sends: int) -> None:
        for _ in range(500):
            if sum(_records_sent(t) for t in self.statements) >= sends:
                return
            await asyncio.sleep(0.01)


async def test_a_batchs_sends_are_recorded_by_the_claim_of_rows_queued_meanwhile(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    # SMS alone (the agencies' mail waits), so that no channel waits for another.
    sms = StalledSmsChannel()
    service = await prepared_service(settings, engine, clock, channels=[sms])
    await service.deliver(inbound("Jalan berlubang di Jl. Anggrek"))
    transactions = Transactions(engine)
    stopping = asyncio.Event()
    running = asyncio.create_task(service.dispatcher.run(stopping))
    await sms.waiting.wait()
    # The next message is queued while the first batch is being sent.
    await service.deliver(inbound("Lampu jalan mati di Jl. Mawar", sender="+6281299990000"))
    sms.go.set()
    await transactions.until_recorded(2)
    stopping.set()
    await running

    # The claim of the second batch records the first's sends; the second's, nothing
    # else being queued, are recorded on their own at once.
    assert transactions.shapes() == [(True, False), (True, True), (False, True)]
    assert len(sms.sent) == 2
    replies = await rows(service, OutboxMessage, OutboxMessage.channel == ChannelName.SMS)
    assert {r.status for r in replies} == {OutboxStatus.SENT}


async def test_a_lone_batchs_sends_are_recorded_at_once_without_looking_for_more(
    service: Service, engine: AsyncEngine, sms: FakeSmsChannel, email: FakeEmailChannel
) -> None:
    await service.deliver(inbound("Jalan berlubang di Jl. Anggrek"))
    transactions = Transactions(engine)
    stopping = asyncio.Event()
    running = asyncio.create_task(service.dispatcher.run(stopping))
    await transactions.until_recorded(1)
    await asyncio.sleep(0.05)
    stopping.set()
    await running

    # Both channels' sends in one transaction of their own: nothing else was due.
    assert transactions.shapes() == [(True, False), (False, True)]
    assert {r.status for r in (await outbox(service)).values()} == {OutboxStatus.SENT}


async def test_a_running_service_and_a_direct_dispatch_record_each_send_once(
    service: Service, sms: FakeSmsChannel, email: FakeEmailChannel
) -> None:
    async with service.running():
        for i in range(30):
            await service.deliver(
                inbound(f"Sampah menumpuk di RT {i:02d}", sender=f"+62812555{i:05d}")
            )
            await service.dispatcher.dispatch_once()
        for _ in range(500):
            if await count(service, OutboxMessage, OutboxMessage.status == OutboxStatus.SENT) == 60:
                break
            await asyncio.sleep(0.01)

    assert len(sms.sent) == len(email.sent) == 30
    assert await count(service, OutboxMessage, OutboxMessage.status == OutboxStatus.SENT) == 60
    assert await count(service, Message, Message.direction == Direction.OUTBOUND) == 60


class StoppingEmailChannel(FakeEmailChannel):
    """A mail server whose answer comes as the service is told to stop."""

    def __init__(self, stopping: asyncio.Event) -> None:
        super().__init__()
        self.stopping = stopping

    async def send(self, message: OutboundMessage) -> SendReceipt:
        receipt = await super().send(message)
        self.stopping.set()
        return receipt


async def test_a_dispatcher_told_to_stop_records_its_last_batchs_sends_first(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, sms: FakeSmsChannel
) -> None:
    stopping = asyncio.Event()
    email = StoppingEmailChannel(stopping)
    service = await prepared_service(settings, engine, clock, channels=[sms, email])
    await service.deliver(inbound("Jalan berlubang di Jl. Anggrek"))

    async with asyncio.timeout(10):
        await service.dispatcher.run(stopping)

    rows_ = await outbox(service)
    assert {r.status for r in rows_.values()} == {OutboxStatus.SENT}
    assert len(await rows(service, Message, Message.direction == Direction.OUTBOUND)) == 2


class PoisonedSmsChannel(FakeSmsChannel):
    """An SMS provider whose first answer carries an id no database can store."""

    async def send(self, message: OutboundMessage) -> SendReceipt:
        receipt = await super().send(message)
        if len(self.sent) == 1:
            return SendReceipt(provider_message_id=cast(str, object()))
        return receipt


async def test_outcomes_that_cannot_be_recorded_hold_up_no_later_send(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, email: FakeEmailChannel
) -> None:
    sms = PoisonedSmsChannel()
    service = await prepared_service(settings, engine, clock, channels=[sms, email])
    await service.deliver(inbound("Jalan berlubang di Jl. Anggrek", sender=NUMBER))
    stopping = asyncio.Event()
    running = asyncio.create_task(service.dispatcher.run(stopping))
    try:
        for _ in range(200):
            if sms.sent:
                break
            await asyncio.sleep(0.01)
        await service.deliver(inbound("Lampu jalan mati di Jl. Mawar", sender="+6281299990000"))
        for _ in range(500):
            if len(sms.sent) == 2 and await count(
                service,
                OutboxMessage,
                OutboxMessage.recipient == "+6281299990000",
                OutboxMessage.status == OutboxStatus.SENT,
            ):
                break
            await asyncio.sleep(0.01)
    finally:
        stopping.set()
        await running

    assert (await outbox_rows(service, ChannelName.SMS))[-1].status is OutboxStatus.SENT
    # The first batch's rows are left to recovery, as after a crash: unknown, not resent.
    clock.advance(minutes=3)
    assert await service.dispatcher.recover_abandoned() == 2
    first = (await outbox_rows(service, ChannelName.SMS))[0]
    assert first.status is OutboxStatus.FAILED and "delivery unknown" in (first.last_error or "")


class LateEmailChannel(FakeEmailChannel):
    """A mail server that answers a minute after the SMS provider did."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    async def send(self, message: OutboundMessage) -> SendReceipt:
        await asyncio.sleep(0.01)
        self.clock.advance(minutes=1)
        return await super().send(message)


async def test_a_send_is_recorded_as_sent_when_its_provider_took_it(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, sms: FakeSmsChannel
) -> None:
    service = await prepared_service(
        settings, engine, clock, channels=[sms, LateEmailChannel(clock)]
    )
    await service.deliver(inbound("Jalan berlubang di Jl. Anggrek"))
    taken = clock.now()

    assert await service.dispatcher.dispatch_once() == 2

    # Both are recorded once the mail server has answered, each at its own provider's time.
    rows_ = await outbox(service)
    assert rows_["reply"].sent_at == taken
    assert rows_["agency_notice"].sent_at == taken + timedelta(minutes=1)


async def test_concurrent_dispatchers_send_every_row_exactly_once(
    settings: Settings,
    engine: AsyncEngine,
    clock: FakeClock,
) -> None:
    sms, email = FakeSmsChannel(), FakeEmailChannel()
    first = await prepared_service(settings, engine, clock, channels=[sms, email])
    for i in range(40):
        await first.deliver(inbound(f"Sampah menumpuk di RT {i:02d}", sender=f"+62812555{i:05d}"))
    others = [
        bootstrap(settings, clock=clock, channels=[sms, email], engine=engine) for _ in range(3)
    ]

    async def drain(service: Service) -> None:
        sent = 1
        while sent:
            sent = await service.dispatcher.dispatch_once()

    await asyncio.gather(*(drain(s) for s in [first, *others]))

    assert len(sms.sent) == 40 and len(email.sent) == 40
    assert len({m.key for m in sms.sent + email.sent}) == 80
    assert await count(first, OutboxMessage, OutboxMessage.status == OutboxStatus.SENT) == 80


class SlowEmailChannel(FakeEmailChannel):
    """A mail server that takes a while to answer, counting the sends in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0

    async def send(self, message: OutboundMessage) -> SendReceipt:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.02)
            return await super().send(message)
        finally:
            self.in_flight -= 1


async def test_rows_to_different_recipients_go_side_by_side_and_each_recipients_in_order(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    email = SlowEmailChannel()
    service = await prepared_service(settings, engine, clock, channels=[FakeSmsChannel(), email])
    first, second = "dinas@kota.go.id", "camat@kota.go.id"
    await queue(service, "email", first, ["a-0", "a-1", "a-2"])
    await queue(service, "email", second, ["b-0", "b-1"])

    assert await service.dispatcher.dispatch_once() == 5

    # Two recipients: two at a time, never two to the same recipient at once.
    assert email.most_in_flight == 2
    assert [m.key for m in email.sent if m.recipient == first] == ["a-0", "a-1", "a-2"]
    assert [m.key for m in email.sent if m.recipient == second] == ["b-0", "b-1"]
    assert await count(service, OutboxMessage, OutboxMessage.status == OutboxStatus.SENT) == 5


async def test_an_agencys_notices_of_different_complaints_go_side_by_side(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    email = SlowEmailChannel()
    service = await prepared_service(settings, engine, clock, channels=[FakeSmsChannel(), email])
    for n in range(3):
        sender = f"+62812345678{n}"
        await service.deliver(inbound("Asap hitam tebal dari cerobong pabrik", sender=sender))
    notices = await rows(service, OutboxMessage, OutboxMessage.kind == "agency_notice")
    assert len({row.recipient for row in notices}) == 1  # one agency, three complaints
    clock.advance(minutes=1)  # past the merge window

    await service.dispatcher.dispatch_once()

    assert email.most_in_flight == 3
    assert await count(service, OutboxMessage, OutboxMessage.status == OutboxStatus.SENT) == 6


async def test_what_is_about_no_complaint_keeps_its_place_among_a_recipients_messages(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    email = SlowEmailChannel()
    service = await prepared_service(settings, engine, clock, channels=[FakeSmsChannel(), email])
    resident = "warga@example.net"
    await service.deliver(inbound("Sampah menumpuk di pasar", sender=resident, channel=EMAIL))
    await queue(service, "email", resident, ["notice"])  # about no complaint, queued after
    await service.deliver(inbound("Lampu jalan mati", sender=resident, channel=EMAIL))
    clock.advance(minutes=1)

    await service.dispatcher.dispatch_once()

    to_resident = [m.key for m in email.sent if m.recipient == resident]
    assert len(to_resident) == 3 and to_resident[1] == "notice"


class TwoSessionEmailChannel(SlowEmailChannel):
    """A mail server taking two sessions at once; each send looks at what the outbox
    records as begun meanwhile."""

    send_rate: ClassVar[SendRate] = SendRate(at_once=2)

    def __init__(self) -> None:
        super().__init__()
        self.service: Service | None = None
        self.most_begun = 0

    async def send(self, message: OutboundMessage) -> SendReceipt:
        if self.service is not None:
            sending = OutboxMessage.status == OutboxStatus.SENDING
            started = col(OutboxMessage.send_started_at).is_not(None)
            begun = await count(self.service, OutboxMessage, sending, started)
            self.most_begun = max(self.most_begun, begun)
        return await super().send(message)


async def test_no_more_rows_are_begun_than_the_channel_sends_at_once(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    email = TwoSessionEmailChannel()
    service = await prepared_service(settings, engine, clock, channels=[FakeSmsChannel(), email])
    email.service = service
    for n in range(7):
        await queue(service, "email", f"dinas{n}@kota.go.id", [f"m-{n}"])

    assert await service.dispatcher.dispatch_once() == 7

    # A crash now would leave at most the two in flight "delivery unknown", not seven.
    assert email.most_in_flight == email.most_begun == 2
    assert await count(service, OutboxMessage, OutboxMessage.status == OutboxStatus.SENT) == 7


def giving_way(
    service: Service, clock: FakeClock, intake_idle: asyncio.Event, *, seconds: float
) -> OutboxDispatcher:
    """A dispatcher whose intake has caught up once `intake_idle` is set."""
    return OutboxDispatcher(
        service.uow,
        service.channels,
        clock,
        OutboxPolicy(give_way=timedelta(seconds=seconds)),
        links=service.links,
        intake_caught_up=intake_idle.wait,
    )


async def test_a_wave_gives_way_while_intake_is_behind_and_goes_when_it_catches_up(
    service: Service, sms: FakeSmsChannel, clock: FakeClock
) -> None:
    intake_idle = asyncio.Event()
    dispatcher = giving_way(service, clock, intake_idle, seconds=30)
    await queue(service, "sms", NUMBER, ["first"])
    dispatching = asyncio.create_task(dispatcher.dispatch_once())
    await asyncio.sleep(0.2)
    assert sms.sent == []  # intake has messages waiting: the wave waits
    intake_idle.set()
    assert await dispatching == 1
    assert [m.key for m in sms.sent] == ["first"]


async def test_a_wave_gives_way_to_intake_for_a_while_not_for_ever(
    service: Service, sms: FakeSmsChannel, clock: FakeClock
) -> None:
    dispatcher = giving_way(service, clock, asyncio.Event(), seconds=0.1)
    await queue(service, "sms", NUMBER, ["first", "second"])
    assert await asyncio.wait_for(dispatcher.dispatch_once(), 5) == 2
    assert [m.key for m in sms.sent] == ["first", "second"]


async def test_running_service_sends_soon_after_intake(
    service: Service, sms: FakeSmsChannel
) -> None:
    async with service.running():
        await service.deliver(inbound("Jalan berlubang di Jl. Anggrek"))
        for _ in range(100):
            if sms.sent:
                break
            await asyncio.sleep(0.02)
    assert len(sms.sent) == 1


async def outbox_rows(service: Service, channel: str) -> list[OutboxMessage]:
    return await rows(service, OutboxMessage, col(OutboxMessage.channel) == channel)


async def test_a_burst_of_sms_to_one_number_goes_at_the_declared_pace(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, email: FakeEmailChannel
) -> None:
    sms = PacedSmsChannel()
    service = await prepared_service(settings, engine, clock, channels=[sms, email])
    start = clock.now()
    burst = [f"sms-{i}" for i in range(10)]
    await queue(service, "sms", NUMBER, burst)
    await queue(service, "email", "dinas@kota.go.id", ["email-0", "email-1", "email-2"])

    # One SMS now; the email goes out all the same.
    assert await service.dispatcher.dispatch_once() == 4
    assert len(sms.sent) == 1 and len(email.sent) == 3
    waiting = [row for row in await outbox_rows(service, "sms") if row.key != "sms-0"]
    # The rest wait in the outbox, never claimed: untouched.
    assert {(r.status, r.attempts, r.claimed_until, r.next_attempt_at) for r in waiting} == {
        (OutboxStatus.PENDING, 0, None, start)
    }
    assert await service.dispatcher.dispatch_once() == 0

    for _ in range(9):
        clock.advance(microseconds=999_999)
        assert await service.dispatcher.dispatch_once() == 0
        clock.advance(microseconds=1)
        assert await service.dispatcher.dispatch_once() == 1

    assert [m.key for m in sms.sent] == burst
    sent = await outbox_rows(service, "sms")
    assert [(r.key, r.status, r.attempts) for r in sent] == [
        (key, OutboxStatus.SENT, 1) for key in burst
    ]
    assert [r.sent_at for r in sent] == [start + timedelta(seconds=i) for i in range(10)]


async def test_a_changed_setting_changes_the_pace(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, email: FakeEmailChannel
) -> None:
    sms = PacedSmsChannel()
    service = await prepared_service(
        settings, engine, clock, channels=[sms, email], sms_messages_per_second=4.0
    )
    start = clock.now()
    burst = [f"sms-{i}" for i in range(10)]
    await queue(service, "sms", NUMBER, burst)

    # A second's worth at once, then one every quarter of a second.
    assert await service.dispatcher.dispatch_once() == 4
    for _ in range(6):
        clock.advance(seconds=0.25)
        assert await service.dispatcher.dispatch_once() == 1
    assert await service.dispatcher.dispatch_once() == 0

    assert [m.key for m in sms.sent] == burst
    sent = await outbox_rows(service, "sms")
    assert [r.sent_at for r in sent] == [start] * 4 + [
        start + timedelta(seconds=0.25 * i) for i in range(1, 7)
    ]


async def test_a_group_chat_gets_twenty_a_minute_and_private_chats_are_not_held(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    telegram = PacedTelegramChannel()
    service = await prepared_service(settings, engine, clock, channels=[telegram])
    start = clock.now()
    to_group = [f"group-{i}" for i in range(4)]
    await queue(service, "telegram", GROUP, to_group)
    await queue(service, "telegram", PRIVATE, ["private-0", "private-1"])
    await queue(service, "telegram", OTHER_GROUP, ["other-0"])

    assert await service.dispatcher.dispatch_once() == 4
    sent = [m.key for m in telegram.sent]
    assert sorted(sent) == ["group-0", "other-0", "private-0", "private-1"]
    assert sent.index("private-0") < sent.index("private-1")
    # Over the group's pace: put back in the claiming transaction, each due at its turn.
    waiting = {r.key: r for r in await outbox_rows(service, "telegram") if r.key in to_group[1:]}
    assert {(r.status, r.attempts, r.claimed_until) for r in waiting.values()} == {
        (OutboxStatus.PENDING, 0, None)
    }
    assert [waiting[key].next_attempt_at for key in to_group[1:]] == [
        start + timedelta(seconds=s) for s in (3, 6, 9)
    ]
    assert await service.dispatcher.dispatch_once() == 0

    for _ in range(3):
        clock.advance(seconds=3)
        assert await service.dispatcher.dispatch_once() == 1

    assert [m.key for m in telegram.sent if m.recipient == GROUP] == to_group
    assert {(r.status, r.attempts) for r in await outbox_rows(service, "telegram")} == {
        (OutboxStatus.SENT, 1)
    }


async def test_a_changed_group_setting_changes_the_groups_pace(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    telegram = PacedTelegramChannel()
    service = await prepared_service(
        settings, engine, clock, channels=[telegram], telegram_group_messages_per_minute=60.0
    )
    await queue(service, "telegram", GROUP, ["group-0", "group-1"])

    assert await service.dispatcher.dispatch_once() == 1
    clock.advance(seconds=1)
    assert await service.dispatcher.dispatch_once() == 1
    assert [m.key for m in telegram.sent] == ["group-0", "group-1"]


async def test_paced_rows_are_sent_exactly_once_by_concurrent_dispatchers(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    telegram, sms = PacedTelegramChannel(), PacedSmsChannel()
    first = await prepared_service(settings, engine, clock, channels=[telegram, sms])
    keys = {
        ("telegram", GROUP): [f"group-{i}" for i in range(12)],
        ("telegram", PRIVATE): [f"private-{i}" for i in range(12)],
        ("sms", NUMBER): [f"sms-{i}" for i in range(12)],
    }
    for (channel, recipient), queued in keys.items():
        await queue(first, channel, recipient, queued)
    # Instances pace alone: each keeps its own buckets.
    services = [
        first,
        *(
            bootstrap(settings, clock=clock, channels=[telegram, sms], engine=engine)
            for _ in range(3)
        ),
    ]

    for _ in range(20):
        await asyncio.gather(*(s.dispatcher.dispatch_once() for s in services))
        clock.advance(seconds=3)

    sent = [m.key for m in telegram.sent + sms.sent]
    assert sorted(sent) == sorted(key for queued in keys.values() for key in queued)
    settled = await rows(first, OutboxMessage)
    assert {(r.status, r.attempts) for r in settled} == {(OutboxStatus.SENT, 1)}
