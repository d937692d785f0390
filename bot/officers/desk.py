"""The officer desk: officers' and admins' actions from chat, checked and carried out.

A chat adapter turns a button press, a reply or a command into an `ActionRequest` that
says who acted; the desk finds the linked officer, the complaint (by reference, or by the
bot message they answered), checks authority through `ComplaintActions`, and answers in
words the officer can act on. People link their chat account, and agencies their group,
with one-time codes an admin issues (`aduan officers add`, `aduan officers link-group`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.clock import Clock
from bot.domain.lifecycle import OPEN_STATES, ComplaintStatus, IllegalTransition
from bot.domain.references import new_reference, parse_reference
from bot.messaging.templates import format_when, render
from bot.officers.actions import ActionError, Actor, ComplaintActions, Role
from bot.rules.desk import ADMIN_ACTIONS, RuleDesk
from channels.base import ActionKind, ActionRequest, ActionResult, Button, Identity
from storage.models import (
    Complaint,
    LinkCode,
    NewAuditEntry,
    Officer,
    OfficerRole,
    stored_id,
)
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

CODE_LIFETIME = timedelta(days=7)
# Actions that message the resident.
_TO_RESIDENT = frozenset({ActionKind.ASK, ActionKind.ANSWER, ActionKind.CLOSE, ActionKind.REJECT})
_LISTED = 15


class OfficerDesk:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        actions: ComplaintActions,
        zone: ZoneInfo,
        rules: RuleDesk,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._actions = actions
        self._zone = zone
        self._rules = rules

    # --- codes an admin issues ---------------------------------------------------------

    async def add_officer(
        self, agency_code: str, name: str, role: OfficerRole, *, created_by: str
    ) -> tuple[Officer, str]:
        """A new officer of the agency, and the code they send to the bot to link."""
        async with self._uow() as uow:
            agency = await uow.agencies.by_code(agency_code)
            if agency is None or agency.id is None:
                raise ActionError(f"Tidak ada instansi dengan kode {agency_code!r}.")
            officer = Officer(
                agency_id=agency.id, name=name, role=role, created_at=self._clock.now()
            )
            uow.officers.add(officer)
            await uow.flush()
            code = self._code(uow, agency.id, officer.id, created_by)
            await uow.commit()
            return officer, code

    async def group_code(self, agency_code: str, *, created_by: str) -> str:
        """A code that, sent in a group chat, makes it the agency's group."""
        async with self._uow() as uow:
            agency = await uow.agencies.by_code(agency_code)
            if agency is None or agency.id is None:
                raise ActionError(f"Tidak ada instansi dengan kode {agency_code!r}.")
            code = self._code(uow, agency.id, None, created_by)
            await uow.commit()
            return code

    def _code(
        self, uow: UnitOfWork, agency_id: int, officer_id: int | None, created_by: str
    ) -> str:
        now = self._clock.now()
        code = new_reference()
        uow.officers.add_link_code(
            LinkCode(
                code=code,
                agency_id=agency_id,
                officer_id=officer_id,
                created_by=created_by,
                created_at=now,
                expires_at=now + CODE_LIFETIME,
            )
        )
        return code

    # --- actions from chat -------------------------------------------------------------

    async def handle(self, request: ActionRequest) -> ActionResult:
        try:
            if request.kind is ActionKind.LINK:
                return await self._link(request)
            officer = await self._officer(request.identity)
            if officer is None:
                return ActionResult(
                    False,
                    "Akun Anda belum terhubung dengan instansi mana pun. Minta kode ke admin, "
                    "lalu kirim /link KODE.",
                )
            return await self._act(request, officer)
        except (ActionError, IllegalTransition) as exc:
            return ActionResult(False, str(exc))

    async def _officer(self, identity: Identity) -> Officer | None:
        async with self._uow() as uow:
            return await uow.officers.by_telegram(identity.user_id)

    async def _act(self, request: ActionRequest, officer: Officer) -> ActionResult:
        role = Role.ADMIN if officer.role is OfficerRole.ADMIN else Role.OFFICER
        actor = Actor(role, stored_id(officer), officer.name, officer.agency_id)
        if request.kind in (ActionKind.LIST, ActionKind.MINE, ActionKind.OVERDUE):
            return ActionResult(True, await self._listing(request.kind, officer))
        if request.kind in ADMIN_ACTIONS:
            if officer.role is not OfficerRole.ADMIN:
                return ActionResult(False, "Hanya admin yang dapat melakukan ini.")
            return await self._rules.handle(request, officer.name)
        reference = await self._reference(request)
        text = request.text.strip()
        request_id = f"{request.identity.channel}:{request.request_id}"
        match request.kind:
            case ActionKind.TAKE:
                done = await self._actions.take(reference, actor)
                said = f"{done.reference} Anda ambil. Balas pesan pengaduan untuk menjawab warga."
            case ActionKind.ASK:
                _need(text, "tulis pertanyaan untuk warga")
                done = await self._actions.ask_resident(
                    reference, text, actor, request_id=request_id
                )
                said = (
                    f"Pertanyaan dikirim ke pelapor {done.reference}; "
                    "waktu jawab dihentikan sementara."
                )
            case ActionKind.ANSWER:
                _need(text, "tulis jawaban untuk warga")
                done = await self._actions.answer(reference, text, actor, request_id=request_id)
                said = f"Jawaban dikirim ke pelapor {done.reference}."
            case ActionKind.TRANSFER:
                if not request.agency_code:
                    return await self._transfer_choices(reference, officer)
                done = await self._actions.transfer(
                    reference, request.agency_code, actor, reason=text or "-"
                )
                said = f"{done.reference} dialihkan ke {request.agency_code}."
            case ActionKind.CLOSE:
                done = await self._actions.close(reference, actor, note=text)
                said = f"{done.reference} ditutup."
            case ActionKind.REJECT:
                done = await self._actions.reject(reference, actor, reason=text)
                said = f"{done.reference} ditolak; alasannya dikirim ke pelapor."
            case ActionKind.NOTE:
                _need(text, "tulis catatannya")
                done = await self._actions.note(reference, text, actor)
                said = f"Catatan internal disimpan pada {done.reference}."
            case _:
                raise ActionError(f"tindakan {request.kind} tidak dikenal")
        if request.kind in _TO_RESIDENT and await self._opted_out(done):
            said += " " + render("agency_opted_out", "id").strip()
        return ActionResult(True, said, done.reference)

    async def _opted_out(self, complaint: Complaint) -> bool:
        """Whether the resident asked for no more messages, so what was sent will not reach them."""
        async with self._uow() as uow:
            resident = await uow.residents.get(complaint.resident_id)
            return resident is not None and resident.opted_out

    async def _transfer_choices(self, reference: str, officer: Officer) -> ActionResult:
        """The agencies a complaint can be transferred to, as buttons."""
        async with self._uow() as uow:
            agencies = [
                a for a in await uow.agencies.all() if a.active and a.id != officer.agency_id
            ]
        buttons = tuple(Button(a.code, ActionKind.TRANSFER, reference, a.code) for a in agencies)
        return ActionResult(True, f"Alihkan {reference} ke instansi mana?", reference, buttons)

    async def _reference(self, request: ActionRequest) -> str:
        if request.reference:
            if parse_reference(request.reference) is None:
                raise ActionError(
                    f"{request.reference!r} bukan nomor pengaduan (contoh: K7QD-4XMP)"
                )
            return request.reference
        if request.thread_key:
            async with self._uow() as uow:
                complaint = await uow.complaints.by_thread_keys([request.thread_key])
            if complaint is not None:
                return complaint.reference
        raise ActionError("sebutkan nomor pengaduan, atau balas pesan pengaduannya")

    async def _link(self, request: ActionRequest) -> ActionResult:
        identity = request.identity
        typed = (request.text or request.reference or "").strip()
        code = parse_reference(typed)
        now = self._clock.now()
        async with self._uow() as uow:
            found = await uow.officers.link_code(code) if code else None
            if found is None or found.used_at is not None or found.expires_at < now:
                return ActionResult(
                    False, "Kode tidak berlaku (salah, sudah dipakai, atau kedaluwarsa)."
                )
            agency = await uow.agencies.referenced(found.agency_id)
            if found.officer_id is None:
                if not identity.group:
                    return ActionResult(False, "Kode ini untuk grup instansi: kirimkan di grupnya.")
                agency.telegram_chat_id = identity.chat_id
                said = f"Grup ini sekarang grup {agency.name}. Pengaduan baru akan tampil di sini."
            else:
                officer = await uow.officers.referenced(found.officer_id)
                taken = await uow.officers.by_telegram(identity.user_id)
                if taken is not None and taken.id != officer.id:
                    return ActionResult(False, f"Akun ini sudah terhubung sebagai {taken.name}.")
                officer.telegram_user_id = identity.user_id
                said = f"Terhubung sebagai {officer.name} ({officer.role}) di {agency.name}."
            found.used_at, found.used_by = now, f"{identity.channel}:{identity.user_id}"
            what = "group" if found.officer_id is None else f"officer {found.officer_id}"
            uow.audit.add(
                NewAuditEntry(
                    actor=found.used_by,
                    action="link",
                    detail=f"{what} of {agency.code} linked to "
                    f"{identity.channel} chat {identity.chat_id}",
                    created_at=now,
                )
            )
            await uow.commit()
        log.info("linked", extra={"agency": agency.code, "group": found.officer_id is None})
        return ActionResult(True, said)

    async def _listing(self, kind: ActionKind, officer: Officer) -> str:
        now = self._clock.now()
        async with self._uow() as uow:
            complaints = await uow.complaints.for_agency(officer.agency_id, OPEN_STATES)
        if kind is ActionKind.MINE:
            complaints = [c for c in complaints if c.assigned_officer_id == officer.id]
        elif kind is ActionKind.OVERDUE:
            complaints = [c for c in complaints if c.sla_running_since and c.due_at < now]
        titles = {
            ActionKind.LIST: "Pengaduan terbuka",
            ActionKind.MINE: "Pengaduan yang Anda tangani",
            ActionKind.OVERDUE: "Pengaduan terlambat",
        }
        if not complaints:
            return f"{titles[kind]}: tidak ada."
        lines = [f"{titles[kind]} ({len(complaints)}):"]
        lines += [self._line(c, now) for c in complaints[:_LISTED]]
        if len(complaints) > _LISTED:
            lines.append(f"… dan {len(complaints) - _LISTED} lagi")
        return "\n".join(lines)

    def _line(self, complaint: Complaint, now: datetime) -> str:
        late = " TERLAMBAT" if complaint.sla_running_since and complaint.due_at < now else ""
        waiting = (
            " (menunggu warga)" if complaint.status == ComplaintStatus.WAITING_FOR_RESIDENT else ""
        )
        snippet = " ".join(complaint.text.split())[:60]
        due = format_when(complaint.due_at, "id", self._zone)
        return f"{complaint.reference} · batas {due}{late}{waiting} · {snippet}"


def _need(text: str, what: str) -> None:
    if not text:
        raise ActionError(f"Teks kosong: {what}.")
