"""`aduan sla` as operators run it, and a sweep killed halfway then run again."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import Service
from bot.domain.lifecycle import ComplaintStatus
from bot.officers.actions import Actor, Role
from storage.models import (
    AuditEntry,
    Complaint,
    NewComplaint,
    OutboxMessage,
    Resident,
)
from tests.fakes import FakeClock, inbound
from tests.integration.db import count, rows
from tests.integration.service_process import aduan_executable, clean_env, run_cli


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_recount_after_the_time_zone_changed(service: Service, tmp_path: Path) -> None:
    await service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    env = clean_env(service.settings.database_url, log_level="WARNING")
    env["ADUAN_TIMEZONE"] = "Asia/Makassar"

    done = run_cli("sla", "recount", env=env, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout == "counted 1 day of complaints again, by the Asia/Makassar calendar\n"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_report_and_explain(service: Service, clock: FakeClock, tmp_path: Path) -> None:
    filed = await service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    reference = filed.reference or ""
    await service.deliver(inbound("Sampah menumpuk di pasar", sender="+6281200000002"))
    clock.advance(hours=25)
    await service.chaser.sweep()
    admin = Actor(Role.ADMIN, 1, "Admin")
    await service.actions.ask_resident(reference, "Di depan nomor berapa?", admin)
    # The CLI reads the real clock; these complaints were filed in early November.
    env = clean_env(service.settings.database_url, log_level="WARNING")

    report = run_cli(
        "sla", "report", "--from", "2026-11-01", "--to", "2026-11-30", env=env, cwd=tmp_path
    )
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    assert lines[0].startswith("complaints received 2026-11-01 to 2026-11-30, as of ")
    dishub = next(line for line in lines if line.startswith("DISHUB"))
    # The question to the resident is queued, never delivered: no response, and overdue by
    # the real clock (December), so none of the one that counts is in time.
    assert dishub.split() == ["DISHUB", "1", "0.0%", "-", "1", "1"]

    explained = run_cli("sla", "explain", reference.lower(), env=env, cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    text = explained.stdout
    assert text.startswith(f"{reference}  waiting_for_resident  DISHUB  due ")
    assert "(stopped)" in text.splitlines()[0]
    assert "received" in text and "reminder stage 1, 1 reminders" in text
    assert "reminder to email:dishub@kota.example.go.id pending" in text
    assert "asked the resident; clock paused (Di depan nomor berapa?)" in text

    missing = run_cli("sla", "explain", "KKKK-7777", env=env, cwd=tmp_path)
    assert missing.returncode == 1 and "no complaint has reference 'KKKK-7777'" in missing.stderr
    unknown = run_cli("sla", "report", "--agency", "NOPE", env=env, cwd=tmp_path)
    assert unknown.returncode == 1 and unknown.stderr == "error: no agency has code 'NOPE'\n"
    reversed_ = run_cli(
        "sla", "report", "--from", "2026-11-30", "--to", "2026-11-01", env=env, cwd=tmp_path
    )
    assert reversed_.returncode == 1 and "Traceback" not in reversed_.stderr
    assert reversed_.stderr.startswith("error: The start date 2026-11-30 is after the end date")


async def _due_complaints(service: Service, n: int) -> None:
    """`n` complaints past half time by the real clock, written in one go."""
    now = datetime.now(UTC)
    received = now - timedelta(hours=30)
    async with service.uow() as uow:
        agency = await uow.agencies.by_code("DLH")
        assert agency is not None and agency.id is not None
        resident = Resident(channel="sms", address="+6281234567890", created_at=received)
        uow.residents.add(resident)
        await uow.flush()
        assert resident.id is not None
        for i in range(n):
            await uow.complaints.insert(
                NewComplaint(
                    reference=f"C{i:07d}"[:4] + "-" + f"C{i:07d}"[4:],
                    resident_id=resident.id,
                    channel="sms",
                    status=ComplaintStatus.ASSIGNED,
                    agency_id=agency.id,
                    text=f"Sampah menumpuk di RT {i}",
                    routing_rule="test",
                    routing_explanation="test",
                    received_at=received,
                    due_at=received + timedelta(days=2),
                    sla_budget_seconds=2 * 86400,
                    sla_running_since=received,
                    next_chase_at=received + timedelta(days=1),
                    last_message_at=received,
                    updated_at=received,
                )
            )
        await uow.commit()


async def _queued_so_far(service: Service) -> int:
    """Outbox rows committed by another process, read without waiting for its write lock."""
    url = service.settings.database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        with sqlite3.connect(path) as connection:
            return int(connection.execute("SELECT count(*) FROM outbox").fetchone()[0])
    return await count(service, OutboxMessage)


async def test_a_sweep_killed_halfway_sends_each_reminder_once_after_restart(
    service: Service, engine: AsyncEngine, tmp_path: Path
) -> None:
    total = 3000
    await _due_complaints(service, total)
    url, schema = service.settings.database_url, service.settings.database_schema
    env = clean_env(url, schema, log_level="WARNING", chase_batch=50)

    sweep = await asyncio.create_subprocess_exec(
        str(aduan_executable()), "sla", "sweep", env=env, cwd=tmp_path
    )
    try:
        for _ in range(1500):
            if await _queued_so_far(service) >= 100 or sweep.returncode is not None:
                break
            await asyncio.sleep(0.01)
        os.kill(sweep.pid, signal.SIGKILL)
    finally:
        await asyncio.wait_for(sweep.wait(), 30)
    halfway = await count(service, OutboxMessage)

    again = await asyncio.to_thread(run_cli, "sla", "sweep", env=env, cwd=tmp_path, seconds=300)
    assert again.returncode == 0, again.stderr
    assert 0 < halfway < total, "the sweep was not interrupted halfway: make the batch smaller"
    assert again.stdout.strip() == f"{total - halfway} reminders queued"
    reminders = await rows(service, OutboxMessage)
    assert len(reminders) == total
    assert len({row.complaint_id for row in reminders}) == total
    assert await count(service, AuditEntry, AuditEntry.action == "chase") == total
    assert {c.chase_stage for c in await rows(service, Complaint)} == {1}
