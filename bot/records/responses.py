"""What counts as the agency's response to a resident: the outbox kinds an officer's message
takes, and the rule that the first one settled is the complaint's response (which the SLA
measures). Shared by officers' actions, the dispatcher, delivery reports and opt-outs."""

from __future__ import annotations

from datetime import datetime

from storage.models import OutboxMessage
from storage.unit_of_work import UnitOfWork

# Outbox kinds of everything the agency tells a resident about their complaint: an answer,
# a question, the closing notice, a rejection with its reason. The first one delivered is
# the complaint's response, which the SLA measures: a closing notice or a reasoned refusal
# (which the public-information law counts as a response) answers the resident too.
TO_RESIDENT_KINDS = frozenset({"officer_reply", "officer_question", "closure", "rejection"})


async def count_as_response(uow: UnitOfWork, row: OutboxMessage, at: datetime) -> None:
    """Record `row`, settled at `at`, as its complaint's response if it is the agency's
    first message to the resident (sent, or held back because the resident opted out)."""
    if row.kind not in TO_RESIDENT_KINDS or row.complaint_id is None:
        return
    complaint = await uow.complaints.get(row.complaint_id)
    if complaint is not None and complaint.first_response_at is None:
        complaint.first_response_at = at
