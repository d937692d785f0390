"""Officers' actions on complaints, against real storage."""

from __future__ import annotations

import pytest

from bot.bootstrap import Service
from bot.domain.lifecycle import ComplaintStatus, IllegalTransition
from bot.officers.actions import ActionError, Actor, Role
from bot.records.queries import routing_outcomes
from storage.models import AuditEntry, OutboxMessage
from tests.fakes import inbound
from tests.integration.db import rows

ADMIN = Actor(Role.ADMIN, 7, "Rina (admin)")


async def test_transfer_reroutes_keeps_history_and_tells_the_new_agency(service: Service) -> None:
    filed = await service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    assert filed.agency_code == "DISHUB" and filed.reference

    moved = await service.actions.transfer(filed.reference, "PUPR", ADMIN, reason="tiang roboh")

    assert moved.status == ComplaintStatus.TRANSFERRED
    [entry] = await rows(service, AuditEntry, AuditEntry.action == "transfer")
    assert (entry.actor, entry.detail) == ("admin:7", "DISHUB → PUPR: tiang roboh")
    notices = await rows(service, OutboxMessage, OutboxMessage.kind == "agency_notice")
    assert [n.recipient for n in notices] == [
        "dishub@kota.example.go.id",
        "pupr@kota.example.go.id",
    ]
    assert "dialihkan kepada Anda dari Dinas Perhubungan. Alasan: tiang roboh" in notices[1].text


async def test_transfers_are_counted_per_routing_rule(service: Service) -> None:
    lamp = await service.deliver(inbound("Lampu jalan mati", sender="+6281200000001"))
    await service.deliver(inbound("Lampu PJU padam", sender="+6281200000002"))
    await service.deliver(inbound("Sampah menumpuk", sender="+6281200000003"))
    await service.actions.transfer(lamp.reference or "", "PUPR", ADMIN, reason="salah")

    outcomes = {
        rule: (routed, moved) for rule, routed, moved in await routing_outcomes(service.uow)
    }
    lamp_rule = next(rule for rule, (routed, _) in outcomes.items() if routed == 2)
    assert outcomes[lamp_rule] == (2, 1)
    assert sum(moved for _, moved in outcomes.values()) == 1


async def test_transfer_refusals_say_why(service: Service) -> None:
    filed = await service.deliver(inbound("Lampu jalan di Jl. Mawar mati"))
    reference = filed.reference or ""
    with pytest.raises(ActionError, match="Tidak ada pengaduan dengan nomor 'KKKK-7777'"):
        await service.actions.transfer("KKKK-7777", "PUPR", ADMIN, reason="x")
    with pytest.raises(ActionError, match="Tidak ada instansi aktif dengan kode 'NOPE'"):
        await service.actions.transfer(reference, "NOPE", ADMIN, reason="x")
    with pytest.raises(ActionError, match="sudah ditangani DISHUB"):
        await service.actions.transfer(reference, "DISHUB", ADMIN, reason="x")
    async with service.uow() as uow:
        complaint = await uow.complaints.by_reference(reference)
        assert complaint is not None
        complaint.status = ComplaintStatus.CLOSED
        await uow.commit()
    with pytest.raises(IllegalTransition, match="cannot transfer a complaint that is closed"):
        await service.actions.transfer(reference, "PUPR", ADMIN, reason="x")
