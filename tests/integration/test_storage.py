"""Storage on SQLite and PostgreSQL: migrations match the models, units of work are atomic."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import PIPE
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from bot.bootstrap import Service
from bot.database import Prepared
from storage import migrate
from storage.errors import ConflictError
from storage.models import (
    Agency,
    ChangedComplaint,
    Complaint,
    Direction,
    KeptDelivery,
    NewKeptDelivery,
    NewMessage,
    OutboxMessage,
    RuleSetVersion,
    stored_id,
)
from tests.fakes.channels import inbound
from tests.integration.db import count, rows


async def test_migrations_create_exactly_the_models(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine)
    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert await differences_from_the_models(engine) == []


async def test_a_database_checked_before_it_is_created_is_then_created(
    engine: AsyncEngine,
) -> None:
    # `aduan run` asks what the schema lacks before migrating: on PostgreSQL that first
    # read ends in a rollback, which once took the newly created schema with it.
    assert await migrate.current_revision(engine) is None
    await migrate.upgrade(engine)
    assert await migrate.current_revision(engine) == migrate.head_revision()


async def differences_from_the_models(engine: AsyncEngine) -> list[Any]:
    """What alembic's autogenerate would change to make the database match the models."""

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    async with engine.connect() as connection:
        return await connection.run_sync(differences)


async def test_every_migration_downgrades_and_upgrades_again(engine: AsyncEngine) -> None:
    """An operator can step back from a release: each migration's downgrade undoes it, down
    to an empty database, and the upgrade then rebuilds exactly the models."""
    await migrate.upgrade(engine)
    config = migrate.alembic_config()

    def downgrade_to_base(connection: Any) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    async with engine.begin() as connection:
        await connection.run_sync(downgrade_to_base)
    async with engine.connect() as connection:
        left = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    assert set(left) <= {"alembic_version"}
    await migrate.upgrade(engine)
    assert await differences_from_the_models(engine) == []


async def test_migration_0023_counts_delivered_closing_notices_as_first_responses(
    service: Service,
) -> None:
    """Complaints closed or rejected before notices counted as responses get theirs from
    the notice that reached the resident, and their days are counted again."""
    from bot.officers.actions import Actor, Role

    admin = Actor(Role.ADMIN, 1, "Admin")
    filed = [
        (await service.deliver(inbound(text, sender=f"+6281255500{n}"))).reference or ""
        for n, text in enumerate(
            ["Asap pabrik tiap malam", "Sampah di pasar", "Lampu jalan mati", "Got mampet"]
        )
    ]
    await service.actions.reject(filed[0], admin, reason="ditangani provinsi")
    await service.actions.close(filed[1], admin)
    await service.actions.answer(filed[2], "Sudah diganti.", admin)
    await service.actions.reject(filed[3], admin, reason="bukan wewenang kota")
    while await service.dispatcher.dispatch_once():
        pass
    [closure] = await rows(service, OutboxMessage, OutboxMessage.kind == "closure")
    async with service.engine.begin() as connection:
        # As stored before 0023: only the answer counted; one rejection never arrived.
        await connection.execute(
            sa.text(
                "UPDATE complaints SET first_response_at = NULL WHERE reference IN (:a, :b, :d)"
            ),
            {"a": filed[0], "b": filed[1], "d": filed[3]},
        )
        await connection.execute(
            sa.text(
                "UPDATE outbox SET delivery_status = 'undelivered' WHERE complaint_id = "
                "(SELECT id FROM complaints WHERE reference = :d)"
            ),
            {"d": filed[3]},
        )
        await connection.execute(sa.text("DELETE FROM changed_complaints"))
    config = migrate.alembic_config()

    def back_to_0022(connection: Any) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, "0022")

    async with service.engine.begin() as connection:
        await connection.run_sync(back_to_0022)
    await migrate.upgrade(service.engine)

    responded = {c.reference: c.first_response_at for c in await rows(service, Complaint)}
    assert responded[filed[0]] is not None and responded[filed[1]] == closure.sent_at
    assert responded[filed[2]] is not None and responded[filed[3]] is None
    assert await count(service, ChangedComplaint) == 2


async def test_upgrade_twice_is_harmless(service: Service) -> None:
    # Defaults are loaded once, into an empty database; later upgrades leave admins' edits.
    assert await service.prepare_database() == Prepared(agencies_added=0, rules_version=None)
    assert await count(service, Agency) == 11
    assert await count(service, RuleSetVersion) == 1


async def test_unit_of_work_rolls_back_unless_committed(service: Service) -> None:
    now = datetime.now(UTC)
    async with service.uow() as uow:
        uow.agencies.add(Agency(code="TEST", name="Dinas Uji", created_at=now))
        await uow.flush()
    async with service.uow() as uow:
        assert await uow.agencies.by_code("TEST") is None

    async def fail_mid_transaction() -> None:
        async with service.uow() as uow:
            uow.agencies.add(Agency(code="TEST", name="Dinas Uji", created_at=now))
            await uow.flush()
            raise RuntimeError("something went wrong mid-transaction")

    with pytest.raises(RuntimeError):
        await fail_mid_transaction()
    assert await count(service, Agency, Agency.code == "TEST") == 0


async def test_unique_violations_become_conflicts(service: Service) -> None:
    async with service.uow() as uow:
        uow.agencies.add(Agency(code="DLH", name="Duplicate", created_at=datetime.now(UTC)))
        with pytest.raises(ConflictError):
            await uow.commit()


async def test_times_come_back_aware_utc(service: Service) -> None:
    west_indonesia = timezone(timedelta(hours=7))
    created = datetime(2026, 1, 1, 7, 0, tzinfo=west_indonesia)
    async with service.uow() as uow:
        uow.agencies.add(Agency(code="TZ", name="Dinas Waktu", created_at=created))
        await uow.commit()
    [agency] = await rows(service, Agency, Agency.code == "TZ")
    assert agency.created_at == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert agency.created_at.tzinfo is UTC


async def test_naive_times_are_refused(service: Service) -> None:
    async with service.uow() as uow:
        uow.agencies.add(Agency(code="NAIVE", name="Dinas Naif", created_at=datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            await uow.commit()


async def test_message_lookups_keep_to_their_direction_and_channel(service: Service) -> None:
    """Providers number what they deliver and what they take from us alike: an id we sent
    under is not a message intake took, nor a reply's own id; and a complaint's
    conversation on one channel leaves out its messages on another."""
    at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def message(direction: Direction, channel: str, provider_id: str) -> NewMessage:
        return NewMessage(direction, channel, "reply", "teks", at, provider_message_id=provider_id)

    async with service.uow() as uow:
        complaint = await uow.messages.insert(message(Direction.INBOUND, "sms", "SM-in"))
        await uow.messages.insert(message(Direction.OUTBOUND, "sms", "SM-out"))
        await uow.messages.insert(message(Direction.OUTBOUND, "email", "<ours@aduan>"))
        await uow.messages.insert(message(Direction.INBOUND, "email", "<theirs@mail>"))
        await uow.commit()
    async with service.uow() as uow:
        await uow.messages.prefetch_inbound([("sms", "SM-in"), ("sms", "SM-out"), ("sms", "x")])
        taken = await uow.messages.find_inbound("sms", "SM-in")
        assert taken is not None and taken.id == complaint
        assert await uow.messages.find_inbound("sms", "SM-out") is None
        assert await uow.messages.find_inbound("sms", "x") is None
    async with service.uow() as uow:
        assert await uow.messages.find_inbound("sms", "SM-out") is None
        assert await uow.messages.thread_hit(["<ours@aduan>"], "email") is None
        hit = await uow.messages.thread_hit(["<ours@aduan>", "<theirs@mail>"], "email")
        assert hit is not None and hit.key == "<theirs@mail>"
    filed = await service.deliver(inbound("Sampah menumpuk di pasar", provider_id="SM-first"))
    [filed_complaint] = await rows(service, Complaint, Complaint.reference == filed.reference)
    async with service.uow() as uow:
        uow.messages.add(
            NewMessage(
                Direction.OUTBOUND,
                "email",
                "notice",
                "teks",
                at,
                complaint_id=filed_complaint.id,
                provider_message_id="<notice@aduan>",
            )
        )
        await uow.commit()
    async with service.uow() as uow:
        conversations = await uow.messages.conversations([stored_id(filed_complaint)], "email")
    assert [entry.provider_message_id for entry in conversations[stored_id(filed_complaint)]] == [
        "<notice@aduan>"
    ]


async def test_a_delivery_is_kept_once_however_often_it_comes(service: Service) -> None:
    def delivery(payload: bytes) -> NewKeptDelivery:
        at = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
        return NewKeptDelivery(
            channel="sms",
            kind="sms",
            key="SM1",
            payload=payload,
            received_at=at,
            next_attempt_at=at,
        )

    async with service.uow() as uow:
        first = await uow.deliveries.keep(delivery(b"first"))
        # Twice in one transaction (a provider's retry racing its first delivery).
        assert first is not None and await uow.deliveries.keep(delivery(b"again")) is None
        await uow.commit()
    async with service.uow() as uow:
        assert await uow.deliveries.keep(delivery(b"later")) is None
        kept = await uow.deliveries.get(first)
    assert kept is not None and kept.payload == b"first"
    assert await count(service, KeptDelivery) == 1


async def test_agency_file_sets_sla_overrides(service: Service, tmp_path: Path) -> None:
    from bot.records.agencies import AgencyFileError, load_agency_file

    good = tmp_path / "agencies.yaml"
    good.write_text(
        "agencies:\n  - {code: BPBD, name: Badan Bencana, sla_days: 1}\n"
        "  - {code: KOMINFO, name: Kominfo, fallback: true}\n",
        encoding="utf-8",
    )
    assert [spec.sla_days for spec in load_agency_file(good)] == [1, None]
    good.write_text(
        "agencies:\n  - {code: BPBD, name: Badan Bencana, sla_days: 0}\n", encoding="utf-8"
    )
    with pytest.raises(
        AgencyFileError, match="agency #1: sla_days: Input should be greater than 0"
    ):
        load_agency_file(good)


async def test_a_transaction_waiting_its_turn_leaves_the_event_loop_running(
    service: Service,
) -> None:
    # On SQLite the engine runs SQLite on the loop's own thread: a second transaction must
    # queue for the connection without blocking the loop (and so the first one) meanwhile.
    # On PostgreSQL it does not wait at all: it reads what was committed before.
    sqlite = service.settings.database_url.startswith("sqlite")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    running = asyncio.create_task(ticker())
    async with service.uow() as first:
        first.agencies.add(Agency(code="WAIT", name="Dinas Antre", created_at=datetime.now(UTC)))
        await first.flush()

        async def second_reads() -> int:
            async with service.uow() as second:
                return await second.agencies.count()

        waiting = asyncio.create_task(second_reads())
        before = ticks
        await asyncio.sleep(0.2)
        assert waiting.done() is not sqlite
        assert ticks - before >= 5  # the loop kept running all along
        await first.commit()
    assert await waiting == (12 if sqlite else 11)
    running.cancel()


# Takes the database's write lock in a process of its own and holds it until told to let
# go, as `aduan rules apply` or `aduan db upgrade` does while it writes.
HOLD_THE_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("COMMIT")
"""


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_another_process_holding_the_lock_does_not_freeze_the_service(
    service: Service,
) -> None:
    path = make_url(service.settings.database_url).database or ""
    transport = httpx.ASGITransport(app=service.app)
    async with (
        service.running(),
        httpx.AsyncClient(transport=transport, base_url="http://aduan.test") as client,
    ):
        holder = await asyncio.create_subprocess_exec(
            sys.executable, "-c", HOLD_THE_LOCK, path, stdin=PIPE, stdout=PIPE
        )
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert await holder.stdout.readline() == b"locked\n"
            complaint = {"text": "Asap hitam dari cerobong pabrik di Jl. Industri"}
            filing = asyncio.create_task(client.post("/api/complaints", json=complaint))
            # The complaint waits for the lock; meanwhile the service answers what needs no
            # database. (Waiting inside SQLite would hold the whole event loop.)
            page = await asyncio.wait_for(client.get("/"), timeout=20)
            assert page.status_code == 200
            assert not filing.done()
            holder.stdin.write(b"go\n")
            await holder.stdin.drain()
            filed = await asyncio.wait_for(filing, timeout=20)
            assert filed.status_code == 201, filed.text
        finally:
            if holder.returncode is None:
                holder.kill()
            await holder.wait()
