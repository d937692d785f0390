"""SLA figures for people: per-agency compliance, and one complaint's timeline."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.lifecycle import OPEN_STATES
from bot.records.queries import find_by_reference
from storage.models import AuditEntry, Complaint, OutboxMessage
from storage.unit_of_work import UnitOfWorkFactory

_PAGE = 1000


@dataclass(frozen=True, slots=True)
class AgencyFigures:
    code: str
    received: int
    answered: int
    answered_in_time: int
    # Complaints whose answer time has passed or that were answered: the ones that count.
    decided: int
    median_first_response: timedelta | None
    open: int
    overdue: int

    @property
    def in_time_share(self) -> float | None:
        return self.answered_in_time / self.decided if self.decided else None


async def agency_figures(
    uow_factory: UnitOfWorkFactory, since: datetime, now: datetime, agency: str | None = None
) -> list[AgencyFigures]:
    async with uow_factory() as uow:
        agencies = {a.id: a.code for a in await uow.agencies.all()}
    if agency is not None and agency not in agencies.values():
        raise ValueError(f"no agency has code {agency!r}")
    by_agency: dict[str, list[Complaint]] = {
        code: [] for code in agencies.values() if agency in (None, code)
    }
    after = 0
    while True:
        async with uow_factory() as uow:
            page = await uow.complaints.received_since(since, after, _PAGE)
        for complaint in page:
            code = agencies[complaint.agency_id]
            if code in by_agency:
                by_agency[code].append(complaint)
        if len(page) < _PAGE:
            break
        after = page[-1].id or after
    return [_figures(code, complaints, now) for code, complaints in sorted(by_agency.items())]


def _figures(code: str, complaints: Sequence[Complaint], now: datetime) -> AgencyFigures:
    answered = [c for c in complaints if c.first_response_at is not None]
    in_time = [c for c in answered if c.first_response_at and c.first_response_at <= c.due_at]
    running = [c for c in complaints if c.sla_running_since is not None and c.status in OPEN_STATES]
    overdue = [c for c in running if c.due_at < now and c.first_response_at is None]
    waits = [
        (c.first_response_at - c.received_at).total_seconds()
        for c in answered
        if c.first_response_at
    ]
    return AgencyFigures(
        code=code,
        received=len(complaints),
        answered=len(answered),
        answered_in_time=len(in_time),
        decided=len(answered) + len(overdue),
        median_first_response=timedelta(seconds=statistics.median(waits)) if waits else None,
        open=sum(c.status in OPEN_STATES for c in complaints),
        overdue=len(overdue),
    )


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
        sent = [row for row in await uow.outbox.for_complaint(complaint.id) if row.kind == "chase"]
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
