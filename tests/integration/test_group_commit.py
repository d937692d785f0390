"""Group commit against real storage (SQLite and PostgreSQL): messages handed to intake
concurrently share transactions, and each still ends exactly as it would alone."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import SQLModel

from bot.bootstrap import Service, bootstrap
from bot.domain.lifecycle import ComplaintStatus
from bot.intake.group_commit import GroupCommit, NeedsOwnTransaction
from bot.officers.actions import Actor, Role
from channels.base import ChannelName, Outcome
from storage.engine import make_engine, make_session_factory
from storage.models import (
    AuditEntry,
    Complaint,
    Message,
    NewAuditEntry,
    Officer,
    OutboxMessage,
    Resident,
)
from storage.unit_of_work import UnitOfWork
from tests.fakes import FakeClock, FakeSmsChannel, inbound
from tests.integration.db import count, rows

PROBLEMS = (
    "Jalan berlubang besar di Jl. Mawar depan SD 3",
    "Sampah menumpuk di TPS Jl. Melati sudah seminggu",
    "Lampu jalan di Jl. Kenanga mati semua",
    "Air PDAM mati sejak pagi di Perum Griya Asri",
    "Pohon tumbang menutup jalan di Jl. Merpati",
)


MAILER = "warga@example.com"


def _senders(n: int) -> list[str]:
    return [f"+62812000{i:05d}" for i in range(n)]


async def test_concurrent_messages_share_one_transaction_and_each_gets_its_answer(
    service: Service,
) -> None:
    before = service.intake.stats.transactions
    messages = [
        inbound(PROBLEMS[i % len(PROBLEMS)], sender=sender) for i, sender in enumerate(_senders(20))
    ]
    receipts = await asyncio.gather(*(service.deliver(message) for message in messages))

    assert service.intake.stats.transactions - before == 1
    assert [r.outcome for r in receipts] == [Outcome.COMPLAINT] * 20
    assert len({r.reference for r in receipts}) == 20
    complaints = {c.reference: c for c in await rows(service, Complaint)}
    residents = {r.id: r.address for r in await rows(service, Resident)}
    for message, receipt in zip(messages, receipts, strict=True):
        # Each answer belongs to its own message, not to a neighbour in the transaction.
        assert receipt.reference is not None
        assert residents[complaints[receipt.reference].resident_id] == message.sender
        assert message.text in complaints[receipt.reference].text
    assert await count(service, Message) == 20
    assert await count(service, OutboxMessage) == 40


async def test_a_burst_in_one_transaction_merges_as_it_would_one_by_one(
    service: Service, clock: FakeClock
) -> None:
    start = clock.now()
    burst = [
        inbound("Ada pohon tumbang menutup jalan", at=start),
        inbound("di Jl. Merpati dekat masjid", at=start + timedelta(minutes=2)),
        inbound("tolong cepat", at=start + timedelta(minutes=3)),
    ]
    first, second, third = await asyncio.gather(*(service.deliver(m) for m in burst))

    assert first.outcome is Outcome.COMPLAINT
    assert (second.outcome, third.outcome) == (Outcome.FOLLOW_UP, Outcome.FOLLOW_UP)
    assert second.reference == third.reference == first.reference
    assert await count(service, Complaint) == 1
    assert await count(service, Resident) == 1
    [complaint] = await rows(service, Complaint)
    assert complaint.last_message_at == burst[2].received_at


async def test_a_refused_message_leaves_no_trace_and_its_neighbours_are_kept(
    service: Service,
) -> None:
    stranger = "+6281399990000"
    messages = [
        inbound(PROBLEMS[0], sender="+6281200000001"),
        inbound("tambahan info", sender=stranger, reference="KKKK-7777"),
        inbound(PROBLEMS[1], sender="+6281200000002"),
    ]
    before = service.intake.stats.shared_rolled_back
    receipts = await asyncio.gather(*(service.deliver(m) for m in messages))

    assert [r.outcome for r in receipts] == [
        Outcome.COMPLAINT,
        Outcome.UNKNOWN_REFERENCE,
        Outcome.COMPLAINT,
    ]
    # The shared transaction rolled back and each message ran again on its own.
    assert service.intake.stats.shared_rolled_back - before == 1
    assert await count(service, Complaint) == 2
    assert await count(service, Message) == 2
    assert stranger not in {r.address for r in await rows(service, Resident)}


async def test_a_message_delivered_twice_in_one_transaction_is_one_complaint(
    service: Service,
) -> None:
    message = inbound(PROBLEMS[2], provider_id="SMdup")
    other = inbound(PROBLEMS[3], sender="+6281200000009")
    receipts = await asyncio.gather(*(service.deliver(m) for m in (message, other, message)))

    assert [r.duplicate for r in receipts] == [False, False, True]
    assert receipts[2].reference == receipts[0].reference
    assert receipts[2].reply_text == receipts[0].reply_text
    assert await count(service, Complaint) == 2
    assert await count(service, OutboxMessage) == 4


async def test_what_a_message_changes_about_its_sender_holds_for_the_next_in_its_transaction(
    service: Service, clock: FakeClock
) -> None:
    # The sender's row is read once for the whole transaction; each change to it (a new
    # resident, a language, an opt-out and back) must reach the messages after it.
    sender = "+6281377770000"
    messages = [
        inbound("BAHASA en", sender=sender),
        inbound("BERHENTI", sender=sender, at=clock.advance(minutes=1)),
        inbound("MULAI", sender=sender, at=clock.advance(minutes=1)),
        inbound(PROBLEMS[0], sender=sender, at=clock.advance(minutes=1)),
    ]
    before = service.intake.stats.transactions
    language, stop, start, complaint = await asyncio.gather(*(service.deliver(m) for m in messages))

    assert service.intake.stats.transactions - before == 1
    assert "English" in language.reply_text
    assert stop.reply_text and start.reply_text  # MULAI counts only after an opt-out
    assert complaint.outcome is Outcome.COMPLAINT
    assert complaint.reply_text.startswith("Thank you, your complaint")
    [resident] = await rows(service, Resident, Resident.address == sender)
    assert (resident.language, resident.opted_out_at) == ("en", None)


async def test_a_flood_in_shared_transactions_is_counted_as_it_would_be_one_by_one(
    service: Service, clock: FakeClock
) -> None:
    # A returning sender's row is read and held for each transaction, and their messages
    # are counted against the rate limit (20 an hour) without a statement each.
    opening = inbound(PROBLEMS[0], channel=ChannelName.EMAIL, sender=MAILER, at=clock.now())
    first = await service.deliver(opening)
    flood = [
        inbound(
            f"{PROBLEMS[n % len(PROBLEMS)]}, laporan {n}",
            channel=ChannelName.EMAIL,
            sender=MAILER,
            at=clock.advance(seconds=1),
        )
        for n in range(1, 30)
    ]
    before = service.intake.stats.transactions
    receipts = await asyncio.gather(*(service.deliver(message) for message in flood))

    assert service.intake.stats.transactions - before < len(flood) // 4
    assert [first.outcome] + [r.outcome for r in receipts] == (
        [Outcome.COMPLAINT] * 20 + [Outcome.THROTTLED] * 10
    )
    assert sum(bool(r.reply_text) for r in receipts if r.outcome is Outcome.THROTTLED) == 1
    [sender] = await rows(service, Resident, Resident.address == MAILER)
    assert (sender.window_started_at, sender.window_messages) == (opening.received_at, 30)


async def test_answers_to_an_agencys_question_in_one_transaction_continue_one_complaint(
    service: Service, clock: FakeClock
) -> None:
    # The first answer loads the waiting complaint to resume its clock; the second names
    # it and the third does not: all three must change that one loaded copy.
    sender = "+6281344440000"
    filed = await service.deliver(inbound(PROBLEMS[2], sender=sender, at=clock.now()))
    [open_complaint] = await rows(service, Complaint)
    async with service.uow() as uow:
        officer = Officer(agency_id=open_complaint.agency_id, name="Sari", created_at=clock.now())
        uow.officers.add(officer)
        await uow.commit()
    clock.advance(hours=2)
    asker = Actor(Role.OFFICER, officer.id or 0, officer.name, officer.agency_id)
    await service.actions.ask_resident(filed.reference or "", "Di nomor berapa?", asker)
    answers = [
        inbound("Di depan rumah nomor 12", sender=sender, at=clock.advance(hours=1)),
        inbound(
            f"{filed.reference} ini fotonya menyusul", sender=sender, at=clock.advance(minutes=1)
        ),
        inbound("tolong segera ya", sender=sender, at=clock.advance(minutes=1)),
    ]
    before = service.intake.stats.transactions
    receipts = await asyncio.gather(*(service.deliver(answer) for answer in answers))

    assert service.intake.stats.transactions - before == 1
    assert [(r.outcome, r.reference) for r in receipts] == [
        (Outcome.FOLLOW_UP, filed.reference)
    ] * 3
    [complaint] = await rows(service, Complaint)
    assert complaint.status == ComplaintStatus.IN_PROGRESS
    assert complaint.sla_running_since == answers[0].received_at
    assert complaint.last_message_at == answers[2].received_at
    notices = await rows(service, OutboxMessage, OutboxMessage.kind == "agency_notice")
    assert len(notices) == 4  # the new complaint and each answer


async def test_a_redelivered_message_is_answered_again_without_rolling_back_its_neighbours(
    service: Service,
) -> None:
    first = await service.deliver(inbound(PROBLEMS[0], provider_id="SMretry"))
    before = service.intake.stats.shared_rolled_back
    batch = [
        inbound(PROBLEMS[1], sender="+6281200000011"),
        inbound(PROBLEMS[0], provider_id="SMretry"),  # the provider's retry
        inbound(PROBLEMS[2], sender="+6281200000012"),
    ]
    receipts = await asyncio.gather(*(service.deliver(m) for m in batch))

    assert service.intake.stats.shared_rolled_back == before
    assert [r.duplicate for r in receipts] == [False, True, False]
    assert (receipts[1].reference, receipts[1].reply_text) == (first.reference, first.reply_text)
    assert await count(service, Complaint) == 3
    assert await count(service, Message) == 3


# --- GroupCommit itself, with work of our own on real storage ---------------------------


class Boom(Exception):
    pass


async def _write_marker(uow: UnitOfWork, item: str, service: Service) -> str:
    if item == "boom":
        raise Boom(item)
    if item == "alone":
        raise NeedsOwnTransaction(item)
    uow.audit.add(_marker(item, service))
    return item.upper()


def _marker(item: str, service: Service) -> NewAuditEntry:
    return NewAuditEntry(actor="test", action=f"marker:{item}", created_at=service.clock.now())


def _group(service: Service, *, max_items: int = 32) -> GroupCommit[str, str]:
    async def shared(uow: UnitOfWork, item: str) -> str:
        return await _write_marker(uow, item, service)

    async def alone(item: str) -> str:
        async with service.uow() as uow:
            if item == "boom":
                raise Boom(item)
            uow.audit.add(_marker(item, service))
            await uow.commit()
        return item.upper()

    return GroupCommit(service.uow, shared=shared, alone=alone, max_items=max_items)


async def _markers(service: Service) -> list[str]:
    entries = await rows(service, AuditEntry, AuditEntry.actor == "test")
    return [entry.action.removeprefix("marker:") for entry in entries]


async def test_an_error_reaches_only_its_own_caller_and_nothing_is_written_twice(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    group = _group(service)
    items = ["a", "b", "boom", "c", "alone"]
    with caplog.at_level(logging.DEBUG, logger="bot.intake.group_commit"):
        results = await asyncio.gather(*(group.submit(i) for i in items), return_exceptions=True)

    assert results[:2] == ["A", "B"] and results[3:] == ["C", "ALONE"]
    assert isinstance(results[2], Boom)
    assert await _markers(service) == ["a", "b", "c", "alone"]
    assert group.stats.shared_rolled_back == 1
    assert group.stats.items == 4
    # An error the sharing did not expect is said: it could fail every shared transaction.
    [said] = [r for r in caplog.records if "rolled back" in r.getMessage()]
    assert said.levelno == logging.WARNING and "Boom" in said.getMessage()


async def test_transactions_hold_at_most_max_items_in_arrival_order(service: Service) -> None:
    group = _group(service, max_items=4)
    items = [f"m{i}" for i in range(10)]
    await asyncio.gather(*(group.submit(i) for i in items))

    assert group.stats.transactions == 3  # 4 + 4 + 2
    assert await _markers(service) == items


async def test_a_caller_that_gives_up_before_its_transaction_has_nothing_done(
    service: Service,
) -> None:
    group = _group(service)
    waiting = [asyncio.ensure_future(group.submit(i)) for i in ("x", "y", "z")]
    await asyncio.sleep(0)  # all three are queued; their transaction has not begun
    waiting[1].cancel()
    done = await asyncio.gather(*waiting, return_exceptions=True)

    assert done[0] == "X" and done[2] == "Z"
    assert isinstance(done[1], asyncio.CancelledError)
    assert await _markers(service) == ["x", "z"]


async def test_caught_up_waits_until_no_item_waits_for_its_transaction(
    service: Service,
) -> None:
    group = _group(service, max_items=2)
    await asyncio.wait_for(group.caught_up(), 1)  # nothing handed in: at once
    submitted = [asyncio.ensure_future(group.submit(f"q{i}")) for i in range(5)]
    await asyncio.sleep(0)
    caught_up = asyncio.ensure_future(group.caught_up())
    await asyncio.sleep(0)
    assert not caught_up.done()  # five queued, two to a transaction
    await caught_up
    # The last transaction has begun: nothing waits any more, though it may still run.
    assert sum(item.done() for item in submitted) >= 2
    assert await asyncio.gather(*submitted) == [f"Q{i}" for i in range(5)]
    await asyncio.wait_for(group.caught_up(), 1)


def test_max_items_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        GroupCommit(None, shared=None, alone=None, max_items=0)  # type: ignore[arg-type]


async def test_two_instances_taking_the_same_senders_in_opposite_orders_lose_nothing(
    service: Service, clock: FakeClock
) -> None:
    # Each instance's shared transaction locks its senders' rows before it takes their
    # messages, in one order whatever order they came in; what still makes one roll back
    # (both inserting the same fresh sender, a deadlock elsewhere) sends that instance's
    # messages through again one by one, and nothing may be lost or repeated.
    other = bootstrap(
        service.settings, clock=clock, channels=[FakeSmsChannel()], engine=service.engine
    )
    senders = _senders(8)
    for sender in senders:  # known residents, so every message updates their row
        await service.deliver(inbound(PROBLEMS[0], sender=sender))
    later = clock.advance(hours=1)
    ours = [inbound(PROBLEMS[1], sender=s, at=later) for s in senders]
    theirs = [inbound(PROBLEMS[2], sender=s, at=later) for s in reversed(senders)]
    fresh = [inbound(PROBLEMS[3], sender=s, at=later) for s in _senders(12)[8:]]

    receipts = await asyncio.gather(
        *(service.deliver(m) for m in [*ours, *fresh]),
        *(other.deliver(m) for m in [*theirs, *fresh]),
    )

    # Each message is exactly one thing; each fresh sender's message, delivered to both
    # instances, is one complaint and one duplicate.
    assert sum(r.duplicate for r in receipts) == len(fresh)
    assert await count(service, Message) == 3 * len(senders) + len(fresh)
    assert await count(service, Resident) == 12
    # Each sender's two later messages came within the merge window: whichever instance
    # took one first made a complaint, and the other's merged into it.
    assert await count(service, Complaint) == 2 * len(senders) + len(fresh)
    follow_ups = [r for r in receipts if r.outcome is Outcome.FOLLOW_UP]
    assert len(follow_ups) == len(senders)
    replies = await rows(service, OutboxMessage, OutboxMessage.kind == "reply")
    assert len({r.key for r in replies}) == len(replies)


async def test_a_shared_transactions_look_ups_search_indexes_not_whole_tables(
    tmp_path: Path,
) -> None:
    # SQLite reads a whole table for `(a, b) IN ((?, ?), …)`: at a million messages, every
    # shared transaction would. What prefetch and opted_out_among run must search an index.
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'plans.db'}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        statements: list[tuple[str, Any]] = []

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append((statement, parameters))

        addresses = [("sms", "+6281200000001"), ("sms", "+6281200000002"), ("email", "a@b.id")]
        async with UnitOfWork(make_session_factory(engine)) as uow:
            await uow.residents.prefetch(addresses)
            await uow.messages.prefetch_inbound([("sms", "SM1"), ("email", "<m@b.id>")])
            await uow.residents.opted_out_among(addresses)
        # One query a channel and table; opted_out_among answers from what prefetch read.
        assert len(statements) == 4
        async with engine.connect() as connection:
            for statement, parameters in statements:
                plan = await connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {statement}", parameters
                )
                steps = [row[-1] for row in plan]
                assert not [s for s in steps if s.startswith("SCAN")], (statement, steps)
    finally:
        await engine.dispose()
