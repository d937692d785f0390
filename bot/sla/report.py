"""One complaint's SLA timeline, for people (the figures per agency are bot.sla.figures)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.messaging.reminders import REMINDER
from bot.records.queries import find_by_reference
from storage.models import AuditEntry, Complaint, OutboxMessage
from storage.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class Timeline:
    complaint: Complaint
    agency: str
    events: list[tuple[datetime, str]]


_DESCRIBED = {
    "create": "received",
    "assign": "assigned",
    "take": "taken by an officer",
    "ask_resident": "asked the resident; clock paused",
    "resident_replied": "resident answered; clock resumed",
    "answer": "answered; clock stopped",
    "transfer": "transferred",
    "overdue": "answer time passed: marked overdue",
    "close": "closed",
    "reject": "rejected",
    "reopen": "reopened; clock restarted",
}


async def timeline(uow_factory: UnitOfWorkFactory, typed_reference: str) -> Timeline | None:
    async with uow_factory() as uow:
        complaint = await find_by_reference(uow, typed_reference)
        if complaint is None or complaint.id is None:
            return None
        agency = await uow.agencies.get(complaint.agency_id)
        entries = await uow.audit.for_complaint(complaint.id)
        sent = [row for row in await uow.outbox.for_complaint(complaint.id) if row.kind == REMINDER]
    events = [
        _audit_event(entry)
        for entry in entries
        if entry.action in _DESCRIBED or entry.action == "chase"
    ]
    events += [_reminder_event(row) for row in sent]
    if complaint.first_response_at:
        events.append((complaint.first_response_at, "first answer delivered to the resident"))
    events.sort(key=lambda event: event[0])
    return Timeline(complaint, agency.code if agency else "?", events)


def _audit_event(entry: AuditEntry) -> tuple[datetime, str]:
    if entry.action == "chase":
        return entry.created_at, f"reminder {entry.detail}"
    detail = (
        f" ({entry.detail})"
        if entry.detail and entry.action in {"transfer", "ask_resident"}
        else ""
    )
    return entry.created_at, _DESCRIBED[entry.action] + detail


def _reminder_event(row: OutboxMessage) -> tuple[datetime, str]:
    when = row.sent_at or row.next_attempt_at
    state = "sent" if row.sent_at else str(row.status)
    return when, f"  reminder to {row.channel}:{row.recipient} {state}"
