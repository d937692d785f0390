"""Reminders to agencies (the SLA chaser's outbox rows) never go out late: one held for an
officer's quiet hours goes only if its complaint still waits for the agency when the hours
end. Answered, closed or waiting for the resident by then, it is suppressed with the
reason, not sent."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.lifecycle import OPEN_STATES
from bot.messaging.subscriptions import mark_suppressed
from storage.models import OutboxMessage
from storage.unit_of_work import UnitOfWork

# The outbox kind of the chaser's reminders.
REMINDER = "chase"

_STALE = (
    "suppressed: the complaint was answered, closed or put on hold before this reminder "
    "went; not sent"
)


async def drop_stale_reminders(
    uow: UnitOfWork, rows: Sequence[OutboxMessage]
) -> list[OutboxMessage]:
    """The claimed rows still to send; reminders whose complaint's clock stopped are
    suppressed."""
    sending = []
    for row in rows:
        if row.kind == REMINDER and not await _still_waits(uow, row.complaint_id):
            mark_suppressed(row, _STALE)
        else:
            sending.append(row)
    return sending


async def _still_waits(uow: UnitOfWork, complaint_id: int | None) -> bool:
    complaint = await uow.complaints.get(complaint_id) if complaint_id is not None else None
    return (
        complaint is not None
        and complaint.status in OPEN_STATES
        and complaint.sla_running_since is not None
    )
