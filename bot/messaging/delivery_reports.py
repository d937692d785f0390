"""Delivery reports: what a provider later says became of a message we sent.

A report is recorded on the outbox row the provider knows by its message id. Statuses only
move forward (queued → sending → sent → delivered/undelivered/failed → read), because
providers repeat callbacks and deliver them out of order: a late "sent" never overwrites
"delivered". A message that never reached its recipient is audited on its complaint, so
officers see that the resident did not get it, and an officer's message that did not
arrive no longer counts as the complaint's first response.
"""

from __future__ import annotations

import logging

from bot.domain.clock import Clock
from bot.records.history import audit
from bot.records.responses import TO_RESIDENT_KINDS
from channels.base import DeliveryReport, DeliveryStatus, NotYetProcessable
from storage.models import OutboxMessage, OutboxStatus
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

S = DeliveryStatus
_PROGRESS = {
    S.QUEUED: 0,
    S.SENDING: 1,
    S.SENT: 2,
    S.DELIVERED: 3,
    S.UNDELIVERED: 3,
    S.FAILED: 3,
    S.CANCELED: 3,
    S.READ: 4,
}
# Outcomes in which the recipient never got the message.
NOT_DELIVERED = frozenset({S.UNDELIVERED, S.FAILED, S.CANCELED})


def replaceable_by(status: DeliveryStatus) -> frozenset[str]:
    """The recorded statuses a report of `status` may overwrite: the earlier ones only.

    Final statuses of the same rank do not replace each other: the first one stands.
    """
    rank = _PROGRESS[status]
    return frozenset(other.value for other, earlier in _PROGRESS.items() if earlier < rank)


class DeliveryReports:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def record(self, report: DeliveryReport) -> None:
        """Record one report. NotYetProcessable for a message not in the outbox: a provider
        can report on a message in the moment between accepting it and our recording its
        id, so the report is tried again later (see `bot.intake.inbox`); if it never
        matches, it is not ours (another application on the same account) and is let go."""
        if not await self._record(report):
            raise NotYetProcessable(
                f"no message sent by {report.channel} has the id {report.provider_message_id}"
            )

    async def _record(self, report: DeliveryReport) -> bool:
        """Record the report on its row; False when no row has its provider id (yet)."""
        async with self._uow() as uow:
            row = await uow.outbox.by_provider_id(report.channel, report.provider_message_id)
            if row is None or row.id is None:
                return False
            recorded = await uow.outbox.advance_delivery(
                row.id,
                report.status.value,
                replaceable_by(report.status),
                at=self._clock.now(),
                error=report.error_code,
            )
            if not recorded:
                log.info(
                    "delivery report older than the recorded status, ignored",
                    extra={"outbox_id": row.id, "status": report.status},
                )
                return True
            if report.status in NOT_DELIVERED and row.complaint_id is not None:
                await self._not_delivered(uow, row, row.complaint_id, report)
            await uow.commit()
        log.info(
            "delivery status recorded",
            extra={"outbox_id": row.id, "status": report.status, "error": report.error_code},
        )
        return True

    async def _not_delivered(
        self, uow: UnitOfWork, row: OutboxMessage, complaint_id: int, report: DeliveryReport
    ) -> None:
        complaint = await uow.complaints.get(complaint_id)
        if complaint is None:
            return
        detail = f"{row.kind} (outbox #{row.id}) by {row.channel}: {report.status}"
        if report.error_code:
            detail += f", provider error {report.error_code}"
        if row.kind in TO_RESIDENT_KINDS:
            # The SLA counts the agency's first message that reached the resident.
            first = min(
                (
                    other.sent_at
                    for other in await uow.outbox.for_complaint(complaint_id)
                    if other.id != row.id
                    and other.kind in TO_RESIDENT_KINDS
                    and other.status is OutboxStatus.SENT
                    and other.sent_at is not None
                    and other.delivery_status not in NOT_DELIVERED
                ),
                default=None,
            )
            if first != complaint.first_response_at:
                complaint.first_response_at = first
                complaint.updated_at = self._clock.now()
                detail += "; it no longer counts as the first response"
        audit(uow, complaint, "undelivered", actor="system", at=self._clock.now(), detail=detail)
