"""Actions officers and admins take on a complaint, checked and audited in one transaction."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.complaint_log import notify_agency, transition
from bot.lifecycle import Event
from bot.references import parse_reference
from bot.templates import format_when, render
from storage.models import Complaint
from storage.unit_of_work import UnitOfWorkFactory


class ActionError(Exception):
    """An action that cannot be taken; the message says why, for the person who asked."""


class ComplaintActions:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, zone: ZoneInfo) -> None:
        self._uow = uow
        self._clock = clock
        self._zone = zone

    async def transfer(
        self, reference: str, to_agency: str, *, actor: str, reason: str
    ) -> Complaint:
        """Re-route to another agency, keeping the history, and tell the new agency.

        Transfers are how routing mistakes show: `aduan rules stats` counts them per rule.
        """
        canonical = parse_reference(reference)
        async with self._uow() as uow:
            complaint = await uow.complaints.by_reference(canonical) if canonical else None
            if complaint is None:
                raise ActionError(f"no complaint has reference {reference!r}")
            target = await uow.agencies.by_code(to_agency)
            if target is None or not target.active or target.id is None:
                raise ActionError(f"no active agency has code {to_agency!r}")
            source = await uow.agencies.get(complaint.agency_id)
            assert source is not None
            if target.id == source.id:
                raise ActionError(f"{reference} is already with {target.code}")
            now = self._clock.now()
            transition(
                uow,
                complaint,
                Event.TRANSFER,
                actor=actor,
                at=now,
                detail=f"{source.code} → {target.code}: {reason}",
            )
            complaint.agency_id = target.id
            text = render(
                "agency_transferred",
                "id",
                reference=complaint.reference,
                source=source.name,
                reason=reason,
                text=complaint.text,
                due=format_when(complaint.due_at, "id", self._zone),
            )
            key = f"transfer:{complaint.reference}:{now.isoformat()}"
            notify_agency(uow, target, complaint, text, key=key, actor=actor, at=now)
            await uow.commit()
            return complaint
