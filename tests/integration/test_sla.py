"""The SLA on real storage, with a clock we move: the chaser's ladder, pauses, answers,
transfers, Lebaran, concurrent sweepers and the morning digest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from bot.bootstrap import Service, bootstrap
from bot.domain.lifecycle import ComplaintStatus
from bot.officers.actions import Actor, Role
from bot.sla.figures import Period
from config.settings import Settings
from storage.models import (
    AuditEntry,
    Complaint,
    Officer,
    OutboxMessage,
    OutboxStatus,
)
from storage.roles import OfficerRole
from tests.fakes import FakeClock, inbound
from tests.integration.db import count, prepared_service, rows

WIB = ZoneInfo("Asia/Jakarta")
START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 09:00 WIB


async def officers(service: Service, agency_code: str) -> dict[str, Officer]:
    """An officer, a supervisor and an admin, each reachable a different way."""
    async with service.uow() as uow:
        agency = await uow.agencies.by_code(agency_code)
        assert agency is not None and agency.id is not None
        made = {
            "officer": Officer(
                agency_id=agency.id, name="Sari", telegram_user_id="1001", created_at=START
            ),
            "supervisor": Officer(
                agency_id=agency.id,
                name="Kabid",
                role=OfficerRole.SUPERVISOR,
                email="kabid@kota.id",
                created_at=START,
            ),
            "admin": Officer(
                agency_id=agency.id,
                name="Admin",
                role=OfficerRole.ADMIN,
                telegram_user_id="9001",
                created_at=START,
            ),
        }
        for officer in made.values():
            uow.officers.add(officer)
        await uow.commit()
    return made


def actor(officer: Officer) -> Actor:
    assert officer.id is not None
    return Actor(Role.OFFICER, officer.id, officer.name, officer.agency_id)


async def chases(service: Service) -> list[tuple[str, str, datetime]]:
    found = await rows(service, OutboxMessage, OutboxMessage.kind == "chase")
    return [
        (row.key.split(":")[3], f"{row.channel}:{row.recipient}", row.next_attempt_at)
        for row in found
    ]


async def test_the_ladder_from_half_time_to_daily_reminders(
    service: Service, clock: FakeClock
) -> None:
    staff = await officers(service, "DISHUB")
    filed = await service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    assert filed.agency_code == "DISHUB" and filed.reference
    assert await service.chaser.sweep() == 0

    clock.advance(hours=24)  # 50 %: the agency's group
    assert await service.chaser.sweep() == 1
    await service.actions.take(filed.reference, actor(staff["officer"]))
    clock.advance(hours=12)  # 75 % at 21:00 WIB: the officer, after the night
    assert await service.chaser.sweep() == 1
    clock.advance(hours=7, minutes=12)  # 90 % at 04:12 WIB: the supervisor, after the night
    assert await service.chaser.sweep() == 1
    clock.advance(hours=4, minutes=48)  # 100 %: admins, at once, night or not
    assert await service.chaser.sweep() == 1
    assert await service.chaser.sweep() == 0  # nothing twice
    clock.advance(days=1)  # a day late: supervisors and the group again
    assert await service.chaser.sweep() == 2

    morning = datetime(2026, 11, 4, 6, 0, tzinfo=WIB)
    assert await chases(service) == [
        ("1", "email:dishub@kota.example.go.id", START + timedelta(hours=24)),
        ("2", "telegram:1001", morning),
        ("3", "email:kabid@kota.id", morning),
        ("4", "telegram:9001", START + timedelta(hours=48)),
        ("5", "email:kabid@kota.id", START + timedelta(hours=72)),
        ("5", "email:dishub@kota.example.go.id", START + timedelta(hours=72)),
    ]
    overdue = await rows(service, AuditEntry, AuditEntry.action == "overdue")
    assert len(overdue) == 1


async def test_downtime_sends_only_the_latest_stage(service: Service, clock: FakeClock) -> None:
    await service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    clock.advance(hours=47)  # the service was down from 50 % to 97 %
    assert await service.chaser.sweep() == 1
    assert [stage for stage, _, _ in await chases(service)] == ["3"]


async def test_waiting_for_the_resident_pauses_the_clock(
    service: Service, clock: FakeClock
) -> None:
    staff = await officers(service, "DISHUB")
    filed = await service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    reference = filed.reference or ""
    clock.advance(hours=6)
    await service.actions.ask_resident(reference, "Nomor tiangnya berapa?", actor(staff["officer"]))
    clock.advance(days=3)
    assert await service.chaser.sweep() == 0  # paused: nothing is late

    answer = await service.deliver(inbound("Tiang nomor 27", at=clock.now()))
    [complaint] = await rows(service, Complaint)
    assert answer.reference == reference and complaint.status == ComplaintStatus.IN_PROGRESS
    assert complaint.sla_elapsed_seconds == 6 * 3600
    assert complaint.due_at == clock.now() + timedelta(hours=42)


async def test_a_reopened_complaint_is_reminded_again_on_its_new_clock(
    service: Service, clock: FakeClock
) -> None:
    filed = await service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    reference = filed.reference or ""
    clock.advance(hours=49)  # past due: admins are told
    assert await service.chaser.sweep() == 1
    await service.actions.close(reference, Actor(Role.ADMIN, 1, "Admin"), note="Sudah diperbaiki")
    reopened = await service.deliver(inbound(f"{reference} mati lagi", at=clock.advance(hours=1)))
    assert reopened.status == ComplaintStatus.REOPENED

    clock.advance(hours=49)
    assert await service.chaser.sweep() == 1
    assert [stage for stage, _, _ in await chases(service)] == ["4", "4"]


async def test_a_reminder_held_for_the_night_is_not_sent_once_the_complaint_is_answered(
    service: Service, clock: FakeClock
) -> None:
    staff = await officers(service, "DISHUB")
    filed = await service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    reference = filed.reference or ""
    await service.actions.take(reference, actor(staff["officer"]))
    clock.advance(hours=43, minutes=12)  # 90 % at 04:12 WIB: the supervisor's waits for 06:00
    assert await service.chaser.sweep() == 1
    await service.actions.close(reference, actor(staff["officer"]), note="Sudah diperbaiki")

    clock.move_to(datetime(2026, 11, 4, 6, 0, tzinfo=WIB))
    while await service.dispatcher.dispatch_once():
        pass

    [reminder] = await rows(service, OutboxMessage, OutboxMessage.kind == "chase")
    assert reminder.recipient == "kabid@kota.id"
    assert reminder.status == OutboxStatus.SUPPRESSED, reminder
    assert "answered, closed or put on hold" in (reminder.last_error or "")


async def test_first_answer_delivered_stops_the_clock_and_counts_in_time(
    service: Service, clock: FakeClock
) -> None:
    staff = await officers(service, "DISHUB")
    filed = await service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    clock.advance(hours=30)
    await service.actions.answer(
        filed.reference or "", "Sudah diperbaiki tadi pagi.", actor(staff["officer"])
    )
    clock.advance(minutes=1)
    while await service.dispatcher.dispatch_once():
        pass

    [complaint] = await rows(service, Complaint)
    assert complaint.status == ComplaintStatus.ANSWERED
    assert complaint.first_response_at == clock.now()
    assert (complaint.next_chase_at, complaint.sla_running_since) == (None, None)
    clock.advance(days=5)
    assert await service.chaser.sweep() == 0
    found = await service.figures.figures(Period.ending(service.figures.today()))
    dishub = next(row for row in found.agencies if row.agency_code == "DISHUB")
    assert (dishub.received, dishub.answered_in_time, dishub.overdue) == (1, 1, 0)
    assert dishub.answered_in_time_pct == 100.0
    assert dishub.median_first_response_hours == 30.0  # 30 h 1 min


async def test_officers_act_only_on_their_agency(service: Service) -> None:
    staff = await officers(service, "PUPR")
    filed = await service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    from bot.officers.actions import ActionError

    with pytest.raises(ActionError, match="milik DISHUB; petugas hanya dapat menangani"):
        await service.actions.take(filed.reference or "", actor(staff["officer"]))


@pytest.mark.parametrize("restarts", [False, True])
async def test_transfer_keeps_or_restarts_the_clock(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, restarts: bool
) -> None:
    service = await prepared_service(settings, engine, clock, sla_transfer_restarts_clock=restarts)
    filed = await service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    clock.advance(hours=20)
    await service.actions.transfer(
        filed.reference or "", "PUPR", Actor(Role.ADMIN, 1, "Admin"), reason="tiang"
    )
    [complaint] = await rows(service, Complaint)
    expected = clock.now() + timedelta(hours=48) if restarts else START + timedelta(hours=48)
    assert complaint.due_at == expected


async def test_complaint_on_the_friday_before_idul_fitri(
    settings: Settings, engine: AsyncEngine
) -> None:
    lebaran = FakeClock(datetime(2026, 3, 20, 10, 0, tzinfo=WIB))
    service = await prepared_service(settings, engine, lebaran, sla_working_days=True)
    filed = await service.deliver(inbound("Banjir di perumahan kami", at=lebaran.now()))
    # Joint leave runs to Tuesday 24 March: two working days are Wednesday and Thursday.
    assert filed.due_at == datetime(2026, 3, 27, 0, 0, tzinfo=WIB)
    assert "Jumat, 27 Maret 2026 00.00 WIB" in filed.reply_text
    lebaran.advance(days=4)  # Tuesday 24 March, still leave: not even half time has passed
    assert await service.chaser.sweep() == 0


async def test_three_concurrent_sweepers_send_each_stage_once(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, service: Service
) -> None:
    for i in range(30):
        await service.deliver(inbound(f"Lampu jalan mati di gang {i}", sender=f"+62812700{i:05d}"))
    sweepers = [bootstrap(settings, clock=clock, engine=engine) for _ in range(3)]
    clock.advance(hours=25)
    queued = await asyncio.gather(*(s.chaser.sweep() for s in sweepers))
    clock.advance(hours=12)
    queued += await asyncio.gather(*(s.chaser.sweep() for s in sweepers))

    assert sum(queued) == 60
    reminders = await rows(service, OutboxMessage, OutboxMessage.kind == "chase")
    assert len({row.key for row in reminders}) == 60
    assert await count(service, AuditEntry, AuditEntry.action == "chase") == 60


async def test_morning_digest_once_per_agency_and_day(service: Service, clock: FakeClock) -> None:
    await service.deliver(inbound("Lampu jalan mati", sender="+6281200000001"))
    await service.deliver(inbound("Sampah menumpuk di pasar", sender="+6281200000002"))
    clock.advance(hours=49)
    assert await service.digest.send() == 2
    assert await service.digest.send() == 0
    [dishub] = await rows(
        service, OutboxMessage, col(OutboxMessage.key).startswith("digest:DISHUB")
    )
    assert "Terbuka: 1" in dishub.text and "Terlambat: 1" in dishub.text
