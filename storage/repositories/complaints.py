"""Complaints: read as headers for intake's decisions, loaded to change, paged for reports."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.appends import StagedAppends
from storage.models import (
    AuditEntry,
    Complaint,
    ComplaintHeader,
    NewChangedComplaint,
    NewComplaint,
    UTCDateTime,
)
from storage.repositories.core import by_ids, referenced, session_connection, write
from storage.repositories.messages import thread_hit

_AWAITING_RESIDENT = col(Complaint.status) == sa.bindparam("waiting")
_COMPLAINT_HEADER = sa.select(
    *(col(getattr(Complaint, name)) for name in ComplaintHeader.__dataclass_fields__)
)
_HEADERS_AWAITING_RESIDENT = _COMPLAINT_HEADER.where(
    col(Complaint.resident_id) == sa.bindparam("resident_id"), _AWAITING_RESIDENT
)
_HEADERS_AWAITING_OR_ACTIVE = _COMPLAINT_HEADER.where(
    col(Complaint.resident_id) == sa.bindparam("resident_id"),
    sa.or_(
        _AWAITING_RESIDENT,
        col(Complaint.last_message_at) >= sa.bindparam("since", type_=UTCDateTime),
    ),
)
_COMPLAINT_LATEST_FOR_RESIDENT = (
    select(Complaint)
    .where(
        Complaint.resident_id == sa.bindparam("resident_id"),
        Complaint.last_message_at >= sa.bindparam("since"),
    )
    .order_by(col(Complaint.last_message_at).desc(), col(Complaint.id).desc())
    .limit(1)
)
_INSERT_COMPLAINT = sa.insert(Complaint).returning(col(Complaint.id))
_TOUCH_COMPLAINT = (
    sa.update(Complaint)
    .where(col(Complaint.id) == sa.bindparam("complaint_id"))
    .values(
        last_message_at=sa.bindparam("last_message_at", type_=UTCDateTime),
        updated_at=sa.bindparam("updated_at", type_=UTCDateTime),
    )
)


class ComplaintRepository:
    def __init__(self, session: AsyncSession, appends: StagedAppends) -> None:
        self._session = session
        self._appends = appends

    async def get(self, complaint_id: int) -> Complaint | None:
        return await self._session.get(Complaint, complaint_id)

    async def many(self, complaint_ids: Collection[int]) -> dict[int, Complaint]:
        """The complaints of these ids that exist, by id, in one query."""
        return await by_ids(self._session, Complaint, complaint_ids)

    async def referenced(self, complaint_id: int) -> Complaint:
        """The complaint another row refers to by `complaint_id`; MissingRow if it is gone."""
        return await referenced(self._session, Complaint, complaint_id)

    async def by_reference(self, reference: str) -> Complaint | None:
        result = await self._session.exec(select(Complaint).where(Complaint.reference == reference))
        return result.first()

    async def by_thread_keys(
        self, keys: Iterable[str], *, own_ids_of: str | None = None
    ) -> Complaint | None:
        """The complaint a message threads onto: that of the message the first of `keys`
        names (see `storage.repositories.messages.thread_hit`)."""
        hit = await thread_hit(self._session, list(keys), own_ids_of)
        if hit is None or hit.complaint_id is None:
            return None
        return await self.get(hit.complaint_id)

    async def latest_for_resident(
        self, resident_id: int, active_since: datetime
    ) -> Complaint | None:
        """The resident's most recently active complaint, if active since `active_since`."""
        result = await self._session.exec(
            _COMPLAINT_LATEST_FOR_RESIDENT,
            params={"resident_id": resident_id, "since": active_since},
        )
        return result.first()

    async def awaiting_or_active(
        self, resident_id: int, active_since: datetime | None, *, waiting: str
    ) -> tuple[Complaint | ComplaintHeader | None, Complaint | ComplaintHeader | None]:
        """In one query: the resident's newest complaint in status `waiting` (the agency
        waits for their answer), and (given `active_since`) their most recently active complaint if
        it was active since then.

        Read as headers, a fraction of loading them: adding a message to an open complaint
        needs no more (`touch`), and `load` gives the complaint to change. One this
        transaction loaded already comes as it is, so that there is one copy to change.
        Like every Core read, this sees the ORM's changes once they are flushed.
        """
        params: dict[str, Any] = {"resident_id": resident_id, "waiting": waiting}
        if active_since is None:
            statement = _HEADERS_AWAITING_RESIDENT
        else:
            statement = _HEADERS_AWAITING_OR_ACTIVE
            params["since"] = active_since
        connection = await session_connection(self._session)
        found = [ComplaintHeader(*row) for row in await connection.execute(statement, params)]
        awaiting = [c for c in found if c.status == waiting]
        active = [c for c in found if active_since and c.last_message_at >= active_since]
        return (
            self._as_loaded(max(awaiting, key=lambda c: c.updated_at, default=None)),
            self._as_loaded(max(active, key=lambda c: (c.last_message_at, c.id), default=None)),
        )

    def _as_loaded(self, header: ComplaintHeader | None) -> Complaint | ComplaintHeader | None:
        if header is None:
            return None
        loaded: Complaint | None = self._session.identity_map.get(
            identity_key(Complaint, header.id)
        )
        return header if loaded is None else loaded

    async def load(self, complaint: Complaint | ComplaintHeader) -> Complaint:
        """The complaint a header names, loaded to change."""
        if isinstance(complaint, Complaint):
            return complaint
        loaded = await self.get(complaint.id)
        if loaded is None:
            raise LookupError(f"complaint {complaint.reference} is gone")
        return loaded

    async def latest_changed(self, resident_id: int, since: datetime) -> Complaint | None:
        """The resident's complaint changed most recently, if changed since `since` (found
        by the resident's index: a resident has few complaints)."""
        result = await self._session.exec(
            select(Complaint)
            .where(Complaint.resident_id == resident_id, col(Complaint.updated_at) >= since)
            .order_by(col(Complaint.updated_at).desc(), col(Complaint.id).desc())
            .limit(1)
        )
        return result.first()

    async def awaiting_rating(
        self, resident_id: int, closed_since: datetime, *, closed: str
    ) -> Complaint | None:
        """The resident's newest complaint in status `closed` since `closed_since`, unrated."""
        result = await self._session.exec(
            select(Complaint)
            .where(
                Complaint.resident_id == resident_id,
                Complaint.status == closed,
                col(Complaint.rating).is_(None),
                col(Complaint.closed_at) >= closed_since,
            )
            .order_by(col(Complaint.closed_at).desc())
            .limit(1)
        )
        return result.first()

    async def chase_due(self, now: datetime, limit: int) -> Sequence[Complaint]:
        """Complaints whose next reminder is due; other sweepers skip the ones taken here."""
        result = await self._session.exec(
            select(Complaint)
            .where(col(Complaint.next_chase_at) <= now)
            .order_by(col(Complaint.next_chase_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return result.all()

    async def for_resident(self, resident_id: int, statuses: Iterable[str]) -> Sequence[Complaint]:
        result = await self._session.exec(
            select(Complaint)
            .where(Complaint.resident_id == resident_id, col(Complaint.status).in_(list(statuses)))
            .order_by(col(Complaint.id))
        )
        return result.all()

    async def for_agency(self, agency_id: int, statuses: Iterable[str]) -> Sequence[Complaint]:
        result = await self._session.exec(
            select(Complaint)
            .where(Complaint.agency_id == agency_id, col(Complaint.status).in_(list(statuses)))
            .order_by(col(Complaint.due_at))
        )
        return result.all()

    async def open_by_agency(
        self, statuses: Iterable[str], now: datetime
    ) -> dict[int, tuple[int, int]]:
        """Per agency id, its complaints in `statuses` and how many of those are overdue (past
        due with the SLA clock running; a complaint waiting for its resident is not late).
        Agencies with none are left out."""
        overdue = sa.and_(
            col(Complaint.sla_running_since).is_not(None), col(Complaint.due_at) < now
        )
        result = await self._session.exec(
            select(
                Complaint.agency_id,
                sa.func.count(),
                sa.func.sum(sa.case((overdue, 1), else_=0)),
            )
            .where(col(Complaint.status).in_(list(statuses)))
            .group_by(col(Complaint.agency_id))
        )
        return {agency: (count, int(late)) for agency, count, late in result.all()}

    async def received_since(
        self, since: datetime, after_id: int, limit: int
    ) -> Sequence[Complaint]:
        """A page of complaints received since `since`, in id order after `after_id`."""
        result = await self._session.exec(
            select(Complaint)
            .where(Complaint.received_at >= since, col(Complaint.id) > after_id)
            .order_by(col(Complaint.id))
            .limit(limit)
        )
        return result.all()

    async def count_received_since(self, since: datetime) -> int:
        result = await self._session.exec(
            select(sa.func.count()).select_from(Complaint).where(Complaint.received_at >= since)
        )
        return result.one()

    async def routing_outcomes(self) -> Sequence[tuple[str, int, int]]:
        """Per routing rule: complaints it routed, and how many officers transferred away."""
        transferred = (
            select(AuditEntry.complaint_id)
            .where(AuditEntry.action == "transfer")
            .distinct()
            .subquery()
        )
        result = await self._session.exec(
            select(
                Complaint.routing_rule,
                sa.func.count(),
                sa.func.count(transferred.c.complaint_id),
            )
            .outerjoin(transferred, transferred.c.complaint_id == Complaint.id)
            .group_by(col(Complaint.routing_rule))
            .order_by(col(Complaint.routing_rule))
        )
        return result.all()

    async def touch(
        self, complaint: Complaint | ComplaintHeader, *, message_at: datetime, at: datetime
    ) -> None:
        """Record a message on the complaint (received at `message_at`, taken `at`) now, in
        one statement: the ORM's flush of the same change costs several times as much, and
        a follow-up must be written before the next message of its transaction looks for it.
        """
        last_message_at = max(complaint.last_message_at, message_at)
        await write(
            self._session,
            _TOUCH_COMPLAINT,
            {"complaint_id": complaint.id, "last_message_at": last_message_at, "updated_at": at},
        )
        if isinstance(complaint, Complaint):
            # Written: the object takes the values without becoming dirty again.
            set_committed_value(complaint, "last_message_at", last_message_at)
            set_committed_value(complaint, "updated_at", at)

    async def insert(self, complaint: NewComplaint) -> None:
        """Write a new complaint now and set its id; its day of the public figures is
        counted again (the marks of a transaction's complaints go in one statement)."""
        values = {name: value for name, value in vars(complaint).items() if name != "id"}
        result = await write(self._session, _INSERT_COMPLAINT, values)
        complaint.id = result.scalar_one()
        self._appends.add(NewChangedComplaint(complaint.id))
