"""Actions officers and admins take on a complaint, each checked, audited and committed in
one transaction: take, ask the resident, answer, transfer, close, reject."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.domain.clock import Clock
from bot.domain.lifecycle import Event
from bot.messaging.buttons import rating_buttons, to_json
from bot.messaging.notices import notify_agency
from bot.messaging.templates import OFFICER_LANGUAGE, format_when, render
from bot.records.history import audit, transfer_detail, transition
from bot.records.queries import find_by_reference
from bot.sla.clock import SlaClock
from channels.base import Button
from storage.models import Complaint, NewOutboxMessage
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory


class ActionError(Exception):
    """An action that cannot be taken; the message says why, in `OFFICER_LANGUAGE`, for the
    officer or admin who asked."""


class Role(StrEnum):
    OFFICER = "officer"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an officer acts only on their agency's complaints, an admin on any."""

    role: Role
    id: int
    name: str
    agency_id: int | None = None

    @property
    def label(self) -> str:
        return f"{self.role}:{self.id}"


class ComplaintActions:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        sla: SlaClock,
        zone: ZoneInfo,
        *,
        transfer_restarts_clock: bool = False,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._sla = sla
        self._zone = zone
        self._transfer_restarts_clock = transfer_restarts_clock

    async def take(self, reference: str, actor: Actor) -> Complaint:
        """The officer takes the complaint: it is theirs, and in progress."""
        async with self._uow() as uow:
            complaint = await self._load(uow, reference, actor)
            now = self._clock.now()
            transition(uow, complaint, Event.TAKE, actor=actor.label, at=now, detail=actor.name)
            complaint.assigned_officer_id = actor.id if actor.role is Role.OFFICER else None
            await uow.commit()
            return complaint

    async def ask_resident(
        self, reference: str, question: str, actor: Actor, *, request_id: str | None = None
    ) -> Complaint:
        """Ask the resident for more information; the SLA clock pauses until they answer."""
        async with self._uow() as uow:
            complaint = await self._load(uow, reference, actor)
            now = self._clock.now()
            transition(
                uow, complaint, Event.ASK_RESIDENT, actor=actor.label, at=now, detail=question
            )
            self._sla.pause(complaint, now)
            await self._message_resident(
                uow, complaint, "officer_question", question, request_id=request_id
            )
            await uow.commit()
            return complaint

    async def answer(
        self, reference: str, text: str, actor: Actor, *, request_id: str | None = None
    ) -> Complaint:
        """Send the agency's answer to the resident, on the channel they used."""
        async with self._uow() as uow:
            complaint = await self._load(uow, reference, actor)
            now = self._clock.now()
            transition(uow, complaint, Event.ANSWER, actor=actor.label, at=now)
            self._sla.stop(complaint, now)
            await self._message_resident(
                uow, complaint, "officer_reply", text, request_id=request_id
            )
            await uow.commit()
            return complaint

    async def note(self, reference: str, text: str, actor: Actor) -> Complaint:
        """An internal note for the agency's officers; the resident never sees it."""
        async with self._uow() as uow:
            complaint = await self._load(uow, reference, actor)
            audit(uow, complaint, "note", actor=actor.label, at=self._clock.now(), detail=text)
            await uow.commit()
            return complaint

    async def close(self, reference: str, actor: Actor, *, note: str = "") -> Complaint:
        return await self._finish(reference, actor, Event.CLOSE, note)

    async def reject(self, reference: str, actor: Actor, *, reason: str) -> Complaint:
        if not reason.strip():
            raise ActionError(render("reason_needed", OFFICER_LANGUAGE))
        return await self._finish(reference, actor, Event.REJECT, reason)

    async def transfer(
        self, reference: str, to_agency: str, actor: Actor, *, reason: str
    ) -> Complaint:
        """Re-route to another agency, keeping the history, and tell the new agency.

        Transfers are how routing mistakes show: `aduan rules stats` counts them per rule.
        """
        async with self._uow() as uow:
            complaint = await self._load(uow, reference, actor)
            target = await uow.agencies.by_code(to_agency)
            if target is None or not target.active or target.id is None:
                raise ActionError(render("no_such_active_agency", OFFICER_LANGUAGE, code=to_agency))
            source = await uow.agencies.referenced(complaint.agency_id)
            if target.id == source.id:
                raise ActionError(
                    render(
                        "already_with_agency",
                        OFFICER_LANGUAGE,
                        reference=complaint.reference,
                        agency_code=target.code,
                    )
                )
            now = self._clock.now()
            transition(
                uow,
                complaint,
                Event.TRANSFER,
                actor=actor.label,
                at=now,
                detail=transfer_detail(source.code, target.code, reason),
            )
            complaint.agency_id = target.id
            complaint.assigned_officer_id = None
            if self._transfer_restarts_clock and complaint.sla_running_since is not None:
                self._sla.start(complaint, target, now)
            text = render(
                "agency_transferred",
                OFFICER_LANGUAGE,
                reference=complaint.reference,
                source=source.name,
                reason=reason,
                text=complaint.text,
                due=format_when(complaint.due_at, OFFICER_LANGUAGE, self._zone),
            )
            key = f"transfer:{complaint.reference}:{now.isoformat()}"
            notify_agency(
                uow,
                target,
                complaint,
                text,
                key=key,
                actor=actor.label,
                at=now,
                actions=True,
            )
            await uow.commit()
            return complaint

    async def _finish(self, reference: str, actor: Actor, event: Event, note: str) -> Complaint:
        async with self._uow() as uow:
            complaint = await self._load(uow, reference, actor)
            now = self._clock.now()
            transition(uow, complaint, event, actor=actor.label, at=now, detail=note)
            self._sla.stop(complaint, now)
            complaint.closed_at = now
            if event is Event.REJECT:
                await self._message_resident(uow, complaint, "rejection", note, request_id=None)
            else:
                await self._message_resident(
                    uow, complaint, "closure", note, request_id=None, buttons=rating_buttons()
                )
            await uow.commit()
            return complaint

    async def _load(self, uow: UnitOfWork, reference: str, actor: Actor) -> Complaint:
        complaint = await find_by_reference(uow, reference)
        if complaint is None:
            raise ActionError(render("no_such_complaint", OFFICER_LANGUAGE, typed=reference))
        if actor.role is Role.OFFICER and complaint.agency_id != actor.agency_id:
            agency = await uow.agencies.get(complaint.agency_id)
            owner = agency.code if agency else render("another_agency", OFFICER_LANGUAGE)
            raise ActionError(
                render(
                    "other_agency", OFFICER_LANGUAGE, reference=complaint.reference, agency=owner
                )
            )
        return complaint

    async def _message_resident(
        self,
        uow: UnitOfWork,
        complaint: Complaint,
        kind: str,
        text: str,
        *,
        request_id: str | None,
        buttons: tuple[Button, ...] = (),
    ) -> None:
        resident = await uow.residents.referenced(complaint.resident_id)
        agency = await uow.agencies.referenced(complaint.agency_id)
        now = self._clock.now()
        uow.outbox.add(
            NewOutboxMessage(
                key=f"{kind}:{complaint.reference}:{request_id or uuid.uuid4().hex}",
                kind=kind,
                channel=resident.channel,
                recipient=resident.address,
                complaint_id=complaint.id,
                subject=render(
                    "resident_subject", resident.language, reference=complaint.reference
                ),
                language=resident.language,
                text=render(
                    kind,
                    resident.language,
                    reference=complaint.reference,
                    agency=agency.name,
                    text=text,
                ),
                buttons=to_json(buttons),
                next_attempt_at=now,
                created_at=now,
            )
        )
