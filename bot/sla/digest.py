"""The morning digest: each agency's open, due-today and overdue complaints, once a day."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.clock import Clock
from bot.domain.lifecycle import OPEN_STATES
from bot.messaging.notices import agency_contact
from bot.messaging.templates import OFFICER_LANGUAGE, render
from storage.models import Complaint, NewOutboxMessage
from storage.unit_of_work import UnitOfWorkFactory

_LISTED = 20


class DailyDigest:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, zone: ZoneInfo) -> None:
        self._uow = uow
        self._clock = clock
        self._zone = zone

    async def send(self) -> int:
        """Queue today's digest for every agency with open complaints (once per day each)."""
        now = self._clock.now()
        today = now.astimezone(self._zone).date()
        queued = 0
        async with self._uow() as uow:
            for agency in await uow.agencies.all():
                contact = agency_contact(agency)
                key = f"digest:{agency.code}:{today.isoformat()}"
                if not agency.active or contact is None or agency.id is None:
                    continue
                if await uow.outbox.by_key(key) is not None:
                    continue  # another instance, or an earlier run today, sent it
                open_ = await uow.complaints.for_agency(agency.id, OPEN_STATES)
                if not open_:
                    continue
                overdue = [c for c in open_ if _overdue(c, now)]
                due_today = [
                    c
                    for c in open_
                    if c.sla_running_since and c.due_at.astimezone(self._zone).date() == today
                ]
                uow.outbox.add(
                    NewOutboxMessage(
                        key=key,
                        kind="digest",
                        channel=contact.channel,
                        recipient=contact.address,
                        subject=render(
                            "digest_subject",
                            OFFICER_LANGUAGE,
                            agency_code=agency.code,
                            date=f"{today:%d-%m-%Y}",
                        ),
                        language=OFFICER_LANGUAGE,
                        text=render(
                            "digest",
                            OFFICER_LANGUAGE,
                            agency=agency.name,
                            date=f"{today:%d-%m-%Y}",
                            open=len(open_),
                            due_today=len(due_today),
                            overdue=len(overdue),
                            overdue_refs=_refs(overdue),
                            due_refs=_refs(due_today),
                        ),
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
                queued += 1
            await uow.commit()
        return queued


def _overdue(complaint: Complaint, now: datetime) -> bool:
    """Past due with the clock running (a complaint waiting for its resident is not late)."""
    return complaint.sla_running_since is not None and complaint.due_at < now


def _refs(complaints: list[Complaint]) -> str:
    listed = ", ".join(c.reference for c in complaints[:_LISTED])
    more = len(complaints) - _LISTED
    return (listed + (f" (+{more})" if more > 0 else "")) or "-"
