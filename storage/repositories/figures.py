"""The public figures' storage: per agency and day counts kept exact, and the period reads.

Every figure is defined on whole seconds, as the open data publishes times: a first
response at 10:00:00.4 is on time for a complaint due at 10:00:00.9 here as in the CSV
(`epoch_seconds`, `iso_utc`), so that anyone recomputes the page from the export exactly.

`AgencyDay` rows are counted again from the complaints of their day whenever a complaint
of that day changes: the transaction that files a complaint or changes what the figures
read of it (agency, receipt, due time, first response, status) marks it
`ChangedComplaint`, and `FiguresRepository.refresh` recounts the marked days before
figures are read.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, UOWTransaction, attributes
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Agency, AgencyDay, ChangedComplaint, Complaint, UTCDateTime
from storage.repositories.core import session_connection


class epoch_seconds(sa.sql.functions.FunctionElement[int]):  # noqa: N801 (an SQL function)
    """Whole seconds since 1970 of a stored time (truncated, as `iso_utc` shows it)."""

    type = sa.BigInteger()
    inherit_cache = True


class iso_utc(sa.sql.functions.FunctionElement[str]):  # noqa: N801 (an SQL function)
    """A stored time as ISO 8601 UTC to the second (`2026-12-07T02:56:00Z`), NULL for none."""

    type = sa.String()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_seconds_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_seconds_postgresql(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(floor(extract(epoch FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


@compiles(iso_utc, "sqlite")
def _iso_utc_sqlite(element: iso_utc, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', {compiler.process(element.clauses, **kw)})"


@compiles(iso_utc, "postgresql")
def _iso_utc_postgresql(element: iso_utc, compiler: SQLCompiler, **kw: Any) -> str:
    stored = compiler.process(element.clauses, **kw)
    return f"""to_char({stored} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


# What the figures read of a complaint: a change to any of these recounts its day.
_COUNTED = ("agency_id", "received_at", "due_at", "first_response_at", "status")
_MARKS = sa.table("changed_complaints", sa.column("complaint_id"))


@event.listens_for(Session, "after_flush")
def _mark_changed(session: Session, _context: UOWTransaction) -> None:
    """Mark, in the flush's own transaction, every complaint the ORM added or changed in a
    way the figures count (filing goes through `ComplaintRepository.insert`, which marks)."""
    changed = {
        obj.id for obj in session.new if isinstance(obj, Complaint) and obj.id is not None
    } | {
        obj.id
        for obj in session.dirty
        if isinstance(obj, Complaint)
        and obj.id is not None
        and any(attributes.get_history(obj, name).has_changes() for name in _COUNTED)
    }
    if changed:
        session.connection().execute(
            _MARKS.insert(), [{"complaint_id": complaint_id} for complaint_id in sorted(changed)]
        )


_received = col(Complaint.received_at)
_answered_at = col(Complaint.first_response_at)
_in_period = sa.and_(
    _received >= sa.bindparam("start", type_=UTCDateTime),
    _received < sa.bindparam("end", type_=UTCDateTime),
)
_IN_TIME = sa.case(
    (epoch_seconds(_answered_at) <= epoch_seconds(col(Complaint.due_at)), 1), else_=0
)
_COUNT_DAY = sa.insert(AgencyDay).from_select(
    ["day", "agency_id", "received", "answered", "answered_in_time", "open"],
    sa.select(
        sa.bindparam("day", type_=sa.Date),
        col(Complaint.agency_id),
        sa.func.count(),
        sa.func.count(_answered_at),
        sa.func.sum(_IN_TIME),
        sa.func.sum(
            sa.case(
                (col(Complaint.status).in_(sa.bindparam("settled", expanding=True)), 0), else_=1
            )
        ),
    )
    .where(_in_period)
    .group_by(col(Complaint.agency_id)),
)
_MARKED = (
    sa.select(col(ChangedComplaint.id), _received)
    .join(Complaint, col(Complaint.id) == col(ChangedComplaint.complaint_id))
    .where(col(ChangedComplaint.id) > sa.bindparam("after"))
    .order_by(col(ChangedComplaint.id))
    .limit(sa.bindparam("limit"))
)
_MARK_ALL = sa.insert(ChangedComplaint).from_select(["complaint_id"], sa.select(col(Complaint.id)))
_ANY_MARK = sa.select(col(ChangedComplaint.id)).limit(1)
_MARK_BATCH = 20_000
# Refreshes on PostgreSQL take turns: two recounting one day at once would both insert it.
_REFRESH_LOCK = 0x616475616E  # "aduan"

_day = col(AgencyDay.day)
_in_days = _day.between(sa.bindparam("first"), sa.bindparam("last"))
_AGENCY_TOTALS = (
    sa.select(
        col(AgencyDay.agency_id),
        sa.func.sum(col(AgencyDay.received)),
        sa.func.sum(col(AgencyDay.answered)),
        sa.func.sum(col(AgencyDay.answered_in_time)),
        sa.func.sum(col(AgencyDay.open)),
    )
    .where(_in_days)
    .group_by(col(AgencyDay.agency_id))
)
_DAYS = sa.select(
    _day,
    col(AgencyDay.agency_id),
    col(AgencyDay.received),
    col(AgencyDay.answered),
    col(AgencyDay.answered_in_time),
).where(_in_days)
# Unanswered and not yet due: few (the last days' complaints), found by the due_at index
# (the periods of receipt are counted apart, so that no index of receipt is chosen instead).
_STILL_DUE = sa.and_(
    col(Complaint.due_at) >= sa.bindparam("as_of", type_=UTCDateTime), _answered_at.is_(None)
)


def _medians(answered: Mapping[int, int]) -> sa.Select[Any]:
    """Per agency, the median of the answered complaints' waits in whole seconds; `answered`
    says how many each agency has (from `AgencyDay`), so the rows are sorted only once."""
    waits = (
        sa.select(
            col(Complaint.agency_id).label("agency_id"),
            (epoch_seconds(_answered_at) - epoch_seconds(_received)).label("seconds"),
        )
        .where(_in_period, _answered_at.is_not(None))
        .subquery()
    )
    ranked = sa.select(
        waits.c.agency_id,
        waits.c.seconds,
        sa.func.row_number()
        .over(partition_by=waits.c.agency_id, order_by=waits.c.seconds)
        .label("rank"),
    ).subquery()
    n = sa.case(
        {agency_id: count for agency_id, count in answered.items() if count},
        value=ranked.c.agency_id,
        else_=0,
    )
    # The middle one (n odd: 2 × rank = n + 1), or the mean of the middle two (n even:
    # 2 × rank = n or n + 2).
    middle = (2 * ranked.c.rank).between(n, n + 2)
    return (
        sa.select(ranked.c.agency_id, sa.func.avg(ranked.c.seconds))
        .where(middle)
        .group_by(ranked.c.agency_id)
    )


# Read raw: the cursor goes back into the next query as the driver gave it.
_raw_received = sa.type_coerce(_received, sa.types.NullType())
_PUBLIC_RECORDS = (
    sa.select(
        col(Complaint.reference),
        col(Agency.code),
        col(Complaint.routing_rule),
        col(Complaint.channel),
        col(Complaint.status),
        iso_utc(_received),
        iso_utc(col(Complaint.due_at)),
        iso_utc(_answered_at),
        iso_utc(col(Complaint.closed_at)),
        _raw_received,
        col(Complaint.id),
    )
    .join(Agency, col(Agency.id) == col(Complaint.agency_id))
    .where(_in_period)
    .order_by(_received, col(Complaint.id))
    .limit(sa.bindparam("limit"))
)
_PUBLIC_RECORDS_AFTER = _PUBLIC_RECORDS.where(
    sa.tuple_(_received, col(Complaint.id))
    > sa.tuple_(sa.bindparam("after_received", type_=sa.types.NullType()), sa.bindparam("after_id"))
)

# A published complaint: reference, agency code, routing rule, channel, status, then
# received, due, first response and closed as ISO 8601 UTC text (None where none).
PublicRecord = tuple[str, str, str, str, str, str, str, str | None, str | None]
# Where a page of records ended: the next page starts after it.
RecordCursor = tuple[Any, int]


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants from the start of `first` to the end of `last`, in `zone`."""
    start = datetime.combine(first, time(), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC)
    return start, end


class FiguresRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def refresh(self, zone: ZoneInfo, settled: Collection[str]) -> int:
        """Count again every day (in `zone`) holding a complaint marked changed, and drop
        the marks read; `settled` are the statuses that are not open. Returns the days."""
        connection = await session_connection(self._session)
        if (await connection.execute(_ANY_MARK)).first() is None:
            return 0
        if connection.dialect.name == "postgresql":
            await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_REFRESH_LOCK)))
        days: set[date] = set()
        after = 0
        while True:
            # Marks by id, removed by id: one written meanwhile waits for the next refresh.
            marks = (
                await connection.execute(_MARKED, {"after": after, "limit": _MARK_BATCH})
            ).all()
            if not marks:
                break
            days.update(received.astimezone(zone).date() for _, received in marks)
            ids = [mark_id for mark_id, _ in marks if mark_id is not None]
            await connection.execute(
                sa.delete(ChangedComplaint).where(col(ChangedComplaint.id).in_(ids))
            )
            after = ids[-1]
        for day in sorted(days):
            start, end = day_bounds(day, day, zone)
            await connection.execute(sa.delete(AgencyDay).where(_day == day))
            await connection.execute(
                _COUNT_DAY, {"day": day, "start": start, "end": end, "settled": list(settled)}
            )
        return len(days)

    async def mark_all(self) -> None:
        """Mark every complaint changed: the next refresh counts every day holding one again."""
        connection = await session_connection(self._session)
        await connection.execute(_MARK_ALL)

    async def recount(self, zone: ZoneInfo, settled: Collection[str]) -> int:
        """Count every day again from nothing but the complaints, in `zone`; returns the
        days. Unlike marking all, it leaves no count behind for a day that holds none of
        the complaints counted on it (in another time zone it did)."""
        connection = await session_connection(self._session)
        if connection.dialect.name == "postgresql":
            # Taken before the delete, so that no refresh writes a day in between.
            await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_REFRESH_LOCK)))
        await connection.execute(sa.delete(AgencyDay))
        await connection.execute(_MARK_ALL)
        return await self.refresh(zone, settled)

    async def agency_totals(
        self, first: date, last: date
    ) -> Sequence[tuple[int, int, int, int, int]]:
        """Per agency id: received, answered, answered in time, open, from `first` to `last`."""
        connection = await session_connection(self._session)
        rows = await connection.execute(_AGENCY_TOTALS, {"first": first, "last": last})
        return [(a, int(r), int(n), int(i), int(o)) for a, r, n, i, o in rows]

    async def days(self, first: date, last: date) -> Sequence[tuple[date, int, int, int, int]]:
        """Each day's (day, agency id, received, answered, answered in time) in the range."""
        connection = await session_connection(self._session)
        rows = await connection.execute(_DAYS, {"first": first, "last": last})
        return [(d, a, r, n, i) for d, a, r, n, i in rows]

    async def still_due(self, bounds: Sequence[datetime], as_of: datetime) -> dict[int, list[int]]:
        """Per agency id, how many complaints received between each two of `bounds` (from
        the first, to before the next) have no first response and are due at or after
        `as_of`: one count per span."""
        spans = list(itertools.pairwise(bounds))
        counts = [
            sa.func.count().filter(sa.and_(_received >= start, _received < end))
            for start, end in spans
        ]
        # Grouped by an expression: by the column, SQLite would rather read the agency index
        # in order (the whole table) than the due_at index and sort the few rows it finds.
        agency = (col(Complaint.agency_id) + 0).label("agency_id")
        statement = sa.select(agency, *counts).where(_STILL_DUE).group_by(agency)
        connection = await session_connection(self._session)
        rows = await connection.execute(statement, {"as_of": as_of})
        return {agency_id: [int(n) for n in found] for agency_id, *found in rows}

    async def median_response_seconds(
        self, start: datetime, end: datetime, answered: Mapping[int, int]
    ) -> dict[int, float]:
        """Per agency id, the median whole seconds from receipt to first response of the
        complaints received from `start` to before `end` that have one, `answered[agency]`
        of them (as `agency_totals` counts them for the same days)."""
        if not any(answered.values()):
            return {}
        connection = await session_connection(self._session)
        rows = await connection.execute(_medians(answered), {"start": start, "end": end})
        return {agency_id: float(seconds) for agency_id, seconds in rows}

    async def public_records(
        self, start: datetime, end: datetime, after: RecordCursor | None, limit: int
    ) -> tuple[list[PublicRecord], RecordCursor | None]:
        """Up to `limit` complaints received from `start` to before `end`, in order of
        receipt, after `after`; and where the next page starts (None after the last)."""
        connection = await session_connection(self._session)
        params: dict[str, Any] = {"start": start, "end": end, "limit": limit}
        statement = _PUBLIC_RECORDS
        if after is not None:
            statement = _PUBLIC_RECORDS_AFTER
            params["after_received"], params["after_id"] = after
        rows = (await connection.execute(statement, params)).all()
        records: list[PublicRecord] = [row[:9] for row in rows]
        cursor = (rows[-1][9], rows[-1][10]) if len(rows) == limit else None
        return records, cursor
