"""What a candidate rule set would change: past complaints replayed through both rule sets."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from routing import CompiledRules
from storage.models import Complaint
from storage.unit_of_work import UnitOfWorkFactory

Progress = Callable[[int, int], None]  # (done, total)
_PAGE = 500
_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class Example:
    reference: str
    text: str


@dataclass
class Impact:
    """How many complaints would go elsewhere, from which agency to which, with examples."""

    replayed: int = 0
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[Example]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # Moved complaints that officers had already transferred to the agency the candidate picks:
    # evidence the candidate fixes a misroute.
    confirmed_by_transfers: int = 0

    @property
    def moved(self) -> int:
        return sum(self.moves.values())


async def replay(
    uow_factory: UnitOfWorkFactory,
    current: CompiledRules,
    candidate: CompiledRules,
    since: datetime,
    progress: Progress | None = None,
) -> Impact:
    """Decide every complaint received since `since` with both rule sets and compare."""
    impact = Impact()
    async with uow_factory() as uow:
        total = await uow.complaints.count_received_since(since)
        agencies = {agency.id: agency.code for agency in await uow.agencies.all()}
    after = 0
    while True:
        async with uow_factory() as uow:
            page = await uow.complaints.received_since(since, after, _PAGE)
        if not page:
            break
        for complaint in page:
            _compare(complaint, current, candidate, agencies.get(complaint.agency_id), impact)
        after = page[-1].id or after
        if progress:
            progress(impact.replayed, total)
    return impact


def _compare(
    complaint: Complaint,
    current: CompiledRules,
    candidate: CompiledRules,
    agency_now: str | None,
    impact: Impact,
) -> None:
    text = "\n".join(
        part for part in (complaint.subject, complaint.text, complaint.location_text) if part
    )
    args = (text, complaint.channel, complaint.latitude, complaint.longitude)
    before = current.decide(*args).agency_code
    after = candidate.decide(*args).agency_code
    impact.replayed += 1
    if before == after:
        return
    impact.moves[(before, after)] += 1
    if agency_now == after:
        impact.confirmed_by_transfers += 1
    examples = impact.examples[(before, after)]
    if len(examples) < _EXAMPLES:
        examples.append(Example(complaint.reference, " ".join(complaint.text.split())[:80]))
