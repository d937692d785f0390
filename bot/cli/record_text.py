"""A complaint record as plain text for the terminal."""

from __future__ import annotations

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
        f"  due       {when(c.due_at)}",
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


def _one_line(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
