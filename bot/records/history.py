"""A complaint's history: status changes and the audit rows that record them. Shared by
intake, officers' actions, the SLA and messaging."""

from __future__ import annotations

from datetime import datetime

from bot.domain.lifecycle import ComplaintStatus, Event, next_status
from storage.models import Complaint, NamedComplaint, NewAuditEntry
from storage.unit_of_work import UnitOfWork


def audit(
    uow: UnitOfWork,
    complaint: NamedComplaint,
    action: str,
    *,
    actor: str,
    at: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    detail: str = "",
) -> None:
    uow.audit.add(
        NewAuditEntry(
            complaint_id=complaint.id,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=to_status,
            detail=detail,
            created_at=at,
        )
    )


def transition(
    uow: UnitOfWork,
    complaint: Complaint,
    event: Event,
    *,
    actor: str,
    at: datetime,
    detail: str = "",
) -> None:
    """Move the complaint by `event` (IllegalTransition if it may not) and audit the move."""
    before = ComplaintStatus(complaint.status)
    complaint.status = next_status(before, event)
    complaint.updated_at = at
    audit(
        uow,
        complaint,
        event.value,
        actor=actor,
        at=at,
        from_status=before,
        to_status=complaint.status,
        detail=detail,
    )


_TRANSFER_ARROW = " → "


def transfer_detail(source_code: str, target_code: str, reason: str) -> str:
    """What a transfer's audit row says: "DLH → PUPR: reason" (read by `transferred_from`)."""
    return f"{source_code}{_TRANSFER_ARROW}{target_code}: {reason}"


def transferred_from(detail: str) -> str | None:
    """The agency code a transfer's audit row names as the one the complaint left."""
    source, arrow, _ = detail.partition(_TRANSFER_ARROW)
    return source.strip() or None if arrow else None
