"""A complaint record as plain text for the terminal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from bot.records.queries import ComplaintRecord


def render_record(record: ComplaintRecord, zone: ZoneInfo) -> str:
    c, agency, resident = record.complaint, record.agency, record.resident

    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if moment else "-"

    lines = [
        f"{c.reference}  {c.status}  {agency.code} ({agency.name})",
        f"  from      {resident.channel}:{resident.address}"
        + (f" ({resident.display_name})" if resident.display_name else "")
        + f", language {resident.language}"
        + (f", opted out (STOP) since {when(resident.opted_out_at)}" if resident.opted_out else "")
        + (f", blocked since {when(resident.blocked_at)}" if resident.blocked else ""),
        f"  received  {when(c.received_at)} via {c.channel}",
        *_optional_lines(record, when),
        f"  due       {when(c.due_at)}",
        f"  answered  {when(c.first_response_at)}, closed {when(c.closed_at)}"
        + (f", rated {c.rating}/5" if c.rating is not None else ""),
        f"  routed    {c.routing_rule}: {c.routing_explanation}",
        "",
        "messages:",
        *(
            f"  {when(m.created_at)}  {m.direction:>3} {m.channel:<8} {m.kind:<13} "
            + _one_line(m.text)
            for m in record.messages
        ),
        "outbox:",
        *(
            f"  #{o.id} {o.kind:<13} {o.channel}:{o.recipient}  {o.status} (attempts {o.attempts})"
            + (f"  waiting: {o.waiting_reason}" if o.waiting_reason else "")
            + (f"  error: {o.last_error}" if o.last_error else "")
            for o in record.outbox
        ),
        "audit:",
        *(
            f"  {when(a.created_at)}  {a.actor:<12} {a.action:<10} "
            f"{a.from_status or '':>11} → {a.to_status or '':<11} {a.detail}"
            for a in record.audit
        ),
    ]
    return "\n".join(lines)


def _optional_lines(record: ComplaintRecord, when: Callable[[datetime | None], str]) -> list[str]:
    """The place and the web form's contact claim, where the complaint has them."""
    c, claim, lines = record.complaint, record.claim, []
    if c.location_text or c.latitude is not None:
        at = f" ({c.latitude}, {c.longitude})" if c.latitude is not None else ""
        lines.append(f"  place     {c.location_text or '-'}{at}")
    if claim is not None and claim.erased_at is None:
        state = f"confirmed {when(claim.verified_at)}" if claim.verified_at else "unconfirmed"
        lines.append(f"  contact   {claim.channel}:{claim.address} (typed into the form, {state})")
    return lines


def _one_line(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
