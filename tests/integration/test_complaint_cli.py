"""Acting on a complaint from the command line (`aduan complaint reply|ask|note|close|
reject|transfer … --as OFFICER`): the officer desk's authority and states, on real storage,
and the command itself run as a process."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from bot.bootstrap import Service
from bot.domain.lifecycle import ComplaintStatus
from channels.base import ActionKind
from storage.models import AuditEntry, Complaint, Officer, OutboxMessage
from storage.roles import OfficerRole
from tests.fakes import inbound
from tests.integration.db import rows
from tests.integration.service_process import clean_env, run_cli

RESIDENT = "+6281234567890"


async def _filed(service: Service) -> str:
    """A resident's complaint about a street lamp, which routing gives to DISHUB."""
    filed = await service.deliver(inbound("Lampu jalan di Jl. Mawar mati", sender=RESIDENT))
    assert filed.agency_code == "DISHUB" and filed.reference
    return filed.reference


async def _officer(
    service: Service, agency: str, email: str, role: OfficerRole = OfficerRole.OFFICER
) -> Officer:
    officer, _ = await service.desk.add_officer(
        agency, f"Petugas {agency}", role, created_by="test", email=email
    )
    return officer


async def _complaint(service: Service, reference: str) -> Complaint:
    [complaint] = await rows(service, Complaint, Complaint.reference == reference)
    return complaint


async def test_the_command_answers_the_resident_and_refuses_in_one_line(
    service: Service, tmp_path: Path
) -> None:
    reference = await _filed(service)
    sari = await _officer(service, "DISHUB", "sari@dishub.kota.go.id")
    await _officer(service, "DLH", "budi@dlh.kota.go.id")
    env = clean_env(service.settings.database_url, service.settings.database_schema)

    def aduan(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli("complaint", *args, env=env, cwd=tmp_path)

    foreign = await asyncio.to_thread(
        aduan, "reply", reference, "Bukan urusan kami", "--as", "budi@dlh.kota.go.id"
    )
    replied = await asyncio.to_thread(
        aduan, "reply", reference.lower(), "Lampu sudah diganti.", "--as", "Sari@Dishub.kota.go.id"
    )
    closed = await asyncio.to_thread(aduan, "close", reference, "--as", str(sari.id))
    again = await asyncio.to_thread(aduan, "close", reference, "--as", str(sari.id))
    nobody = await asyncio.to_thread(aduan, "note", reference, "x", "--as", "nobody@example.com")
    unknown = await asyncio.to_thread(aduan, "note", "KKKK-7777", "x", "--as", str(sari.id))

    assert (foreign.returncode, foreign.stderr) == (
        1,
        f"error: {reference} milik DISHUB; petugas hanya dapat menangani pengaduan instansinya "
        "sendiri.\n",
    )
    assert replied.returncode == 0, replied.stderr
    assert replied.stdout == f"Jawaban dikirim ke pelapor {reference}.\n"
    assert closed.returncode == 0, closed.stderr
    assert again.returncode == 1
    assert again.stderr.startswith('error: Tidak dapat menutup: status pengaduan ini "selesai"')
    assert (nobody.returncode, nobody.stderr) == (
        1,
        "error: Tidak ada petugas aktif 'nobody@example.com' (sebut email atau nomor "
        "petugasnya).\n",
    )
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "error: Tidak ada pengaduan dengan nomor 'KKKK-7777'.\n",
    )
    for refused in (foreign, again, nobody, unknown):
        assert refused.stdout == "" and "Traceback" not in refused.stderr

    to_resident = await rows(service, OutboxMessage, OutboxMessage.recipient == RESIDENT)
    assert [(m.kind, m.channel) for m in to_resident] == [
        ("reply", "sms"),  # the acknowledgement
        ("officer_reply", "sms"),
        ("closure", "sms"),
    ]
    assert "Lampu sudah diganti." in to_resident[1].text
    assert (await _complaint(service, reference)).status == ComplaintStatus.CLOSED
    done = await rows(service, AuditEntry, AuditEntry.actor == f"officer:{sari.id}")
    assert [entry.action for entry in done] == ["answer", "close"]


async def test_ask_and_note_as_an_officer_of_the_agency(service: Service) -> None:
    reference = await _filed(service)
    sari = await _officer(service, "DISHUB", "sari@dishub.kota.go.id")
    act = service.desk.act_as

    asked = await act(sari.email or "", ActionKind.ASK, reference, "Di depan nomor berapa?")
    noted = await act(str(sari.id), ActionKind.NOTE, reference, "Cek tiang PJU 12")
    empty = await act(str(sari.id), ActionKind.ANSWER, reference, "  ")

    assert asked.ok and noted.ok, (asked, noted)
    assert not empty.ok
    complaint = await _complaint(service, reference)
    assert complaint.status == ComplaintStatus.WAITING_FOR_RESIDENT
    assert complaint.sla_running_since is None  # the clock waits for the resident
    to_resident = await rows(service, OutboxMessage, OutboxMessage.recipient == RESIDENT)
    assert [m.kind for m in to_resident] == ["reply", "officer_question"]
    assert "Di depan nomor berapa?" in to_resident[1].text
    [note] = await rows(service, AuditEntry, AuditEntry.action == "note")
    assert (note.actor, note.detail) == (f"officer:{sari.id}", "Cek tiang PJU 12")


async def test_an_officer_acts_only_on_their_agency_an_admin_anywhere(service: Service) -> None:
    reference = await _filed(service)
    budi = await _officer(service, "DLH", "budi@dlh.kota.go.id")
    rina = await _officer(service, "DLH", "rina@kota.go.id", OfficerRole.ADMIN)
    act = service.desk.act_as

    refused = await act(str(budi.id), ActionKind.REJECT, reference, "spam")
    moved = await act(
        "rina@kota.go.id", ActionKind.TRANSFER, reference, "tiang roboh", agency_code="PUPR"
    )
    rejected = await act(str(rina.id), ActionKind.REJECT, reference, "sudah dilaporkan")

    assert not refused.ok and "milik DISHUB" in refused.message
    assert moved.ok and moved.message == f"{reference} dialihkan ke PUPR."
    assert rejected.ok, rejected.message
    complaint = await _complaint(service, reference)
    assert complaint.status == ComplaintStatus.REJECTED
    [transfer] = await rows(service, AuditEntry, AuditEntry.action == "transfer")
    assert (transfer.actor, transfer.detail) == (f"admin:{rina.id}", "DISHUB → PUPR: tiang roboh")
    to_resident = await rows(service, OutboxMessage, OutboxMessage.recipient == RESIDENT)
    assert [m.kind for m in to_resident] == ["reply", "rejection"]
