"""Residents who asked for no more messages, and the messages held back from them.

A resident opts out by sending STOP (BERHENTI, UNREG and the carriers' synonyms) and back
in with START (MULAI, UNSTOP, or YES once opted out); a provider that refuses a send
because the recipient unsubscribed with it (Twilio 21610) opts them out too, so our record
follows the carrier's. Until they opt back in nothing is sent to the address, whatever
queued it (acknowledgements, officers' answers, closures): the dispatcher marks such rows
suppressed with the reason, never retries them, and does not count them as failures. The
one exception is the confirmation of the opt-out itself.

What they send while opted out still counts: a complaint is filed, routed and answered
like any other (the city must act on what it is told), and the agency's notice says that
answers will not reach the resident. Sending a complaint is not an opt-in: carriers lift
an opt-out only on the keyword, so anything else sent would be refused anyway. An
officer's answer held back this way still counts as the agency's response for the SLA:
the agency answered; the resident chose not to receive it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from bot.domain.lifecycle import OPEN_STATES
from bot.records.responses import count_as_response
from storage.models import NewAuditEntry, OutboxMessage, OutboxStatus, ResidentContact
from storage.unit_of_work import UnitOfWork

# The outbox kind of the opt-out's confirmation: the one message sent to someone opted out.
OPT_OUT_CONFIRMATION = "opt_out_confirmation"

_HELD_BACK = "suppressed: the recipient opted out (STOP); not sent and not retried"


async def opt_out(
    uow: UnitOfWork,
    resident: ResidentContact,
    *,
    at: datetime,
    via: str,
    actor: str | None = None,
) -> ResidentContact | None:
    """Record the opt-out: the resident opted out, or None (nothing recorded) when they
    already were."""
    if resident.opted_out:
        return None
    await uow.residents.set_opted_out(resident.id, at)
    await _audit(uow, resident, "opt_out", at, via, actor)
    return replace(resident, opted_out=True)


async def opt_in(
    uow: UnitOfWork, resident: ResidentContact, *, at: datetime, via: str
) -> ResidentContact | None:
    """Lift the opt-out: the resident opted in, or None (nothing recorded) when they
    were not opted out."""
    if not resident.opted_out:
        return None
    await uow.residents.set_opted_out(resident.id, None)
    await _audit(uow, resident, "opt_in", at, via, None)
    return replace(resident, opted_out=False)


async def hold_back(
    uow: UnitOfWork, rows: Sequence[OutboxMessage], at: datetime
) -> list[OutboxMessage]:
    """The claimed rows still to send; rows to recipients who opted out are suppressed."""
    opted_out = await uow.residents.opted_out_among(
        (row.channel, row.recipient) for row in rows if row.kind != OPT_OUT_CONFIRMATION
    )
    if not opted_out:
        return list(rows)
    sending = []
    for row in rows:
        if row.kind != OPT_OUT_CONFIRMATION and (row.channel, row.recipient) in opted_out:
            await _suppress(uow, row, _HELD_BACK, at)
        else:
            sending.append(row)
    return sending


async def refused_by_provider(
    uow: UnitOfWork, row: OutboxMessage, error: str, at: datetime
) -> None:
    """The provider refused the row because its recipient unsubscribed with the provider:
    suppress it, and opt the resident out so that nothing more is tried."""
    reason = f"suppressed: the recipient opted out with the provider ({error})"
    await _suppress(uow, row, reason, at)
    resident = await uow.residents.contact(row.channel, row.recipient)
    if resident is not None:
        await opt_out(uow, resident, at=at, via=f"provider refused a send: {error}", actor="system")


async def _suppress(uow: UnitOfWork, row: OutboxMessage, reason: str, at: datetime) -> None:
    mark_suppressed(row, reason)
    # The agency answered; the resident chose not to receive it.
    await count_as_response(uow, row, at)


def mark_suppressed(row: OutboxMessage, reason: str) -> None:
    """Not sent, on purpose, and never tried again: `reason` says why."""
    row.status = OutboxStatus.SUPPRESSED
    row.claimed_until = None
    row.last_error = reason


async def _audit(
    uow: UnitOfWork,
    resident: ResidentContact,
    action: str,
    at: datetime,
    via: str,
    actor: str | None,
) -> None:
    """Audited on each of the resident's open complaints, where officers look, since their
    answers will (or will again) not reach the resident; on none if none is open."""
    opened = await uow.complaints.for_resident(resident.id, OPEN_STATES)
    for complaint_id in [complaint.id for complaint in opened] or [None]:
        uow.audit.add(
            NewAuditEntry(
                complaint_id=complaint_id,
                actor=actor or f"resident:{resident.id}",
                action=action,
                detail=f"{resident.channel} resident {resident.id}: {via}",
                created_at=at,
            )
        )
