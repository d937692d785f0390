"""Repositories: the queries the service layer needs, named for what they find.

The queries every inbound message makes are built once, at import, with bound parameters:
building a statement costs about as much as SQLite takes to run it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.appends import StagedAppends
from storage.errors import ConflictError
from storage.models import (
    Agency,
    Attachment,
    AuditEntry,
    Complaint,
    ComplaintHeader,
    ComplaintStatus,
    Direction,
    LinkCode,
    Message,
    NewAuditEntry,
    NewComplaint,
    NewMessage,
    NewOutboxMessage,
    Officer,
    OfficerRole,
    OutboxMessage,
    OutboxStatus,
    Resident,
    ResidentContact,
    RuleProposal,
    RuleSetVersion,
    UTCDateTime,
)

_AGENCY_BY_CODE = select(Agency).where(Agency.code == sa.bindparam("code"))
_ALL_AGENCIES = select(Agency).order_by(col(Agency.code))
_RESIDENT_CONTACT = sa.select(
    col(Resident.id),
    col(Resident.channel),
    col(Resident.address),
    col(Resident.language),
    col(Resident.opted_out_at),
    col(Resident.blocked_at),
    col(Resident.window_started_at),
    col(Resident.window_messages),
)
_RESIDENT_BY_ADDRESS = _RESIDENT_CONTACT.where(
    col(Resident.channel) == sa.bindparam("channel"),
    col(Resident.address) == sa.bindparam("address"),
)
_RESIDENTS_AT = _RESIDENT_CONTACT.where(
    col(Resident.channel) == sa.bindparam("channel"),
    col(Resident.address).in_(sa.bindparam("values", expanding=True)),
)
# Locks the rows on PostgreSQL until the transaction ends; SQLite's transaction holds the
# whole database already (BEGIN IMMEDIATE), and SQLAlchemy leaves the clause out there.
_RESIDENTS_AT_HELD = _RESIDENTS_AT.with_for_update()
_RESIDENT_ROW_BY_ADDRESS = select(Resident).where(
    Resident.channel == sa.bindparam("channel"), Resident.address == sa.bindparam("address")
)
_WINDOW_STARTED = col(Resident.window_started_at)
_WINDOW_OVER = sa.or_(
    _WINDOW_STARTED.is_(None),
    sa.bindparam("window_start", type_=UTCDateTime) >= _WINDOW_STARTED,
)
_COUNT_MESSAGE = (
    sa.update(Resident)
    .where(col(Resident.id) == sa.bindparam("resident_id"))
    .values(
        window_started_at=sa.case(
            (_WINDOW_OVER, sa.bindparam("at", type_=UTCDateTime)), else_=_WINDOW_STARTED
        ),
        window_messages=sa.case((_WINDOW_OVER, 1), else_=col(Resident.window_messages) + 1),
    )
    .returning(_WINDOW_STARTED, col(Resident.window_messages))
)
_SET_WINDOW = (
    sa.update(Resident)
    .where(col(Resident.id) == sa.bindparam("resident_id"))
    .values(
        window_started_at=sa.bindparam("started", type_=UTCDateTime),
        window_messages=sa.bindparam("counted"),
    )
)
_SET_OPTED_OUT = (
    sa.update(Resident)
    .where(col(Resident.id) == sa.bindparam("resident_id"))
    .values(opted_out_at=sa.bindparam("since", type_=UTCDateTime))
)
_INSERT_RESIDENT = sa.insert(Resident).returning(col(Resident.id))
_SET_LANGUAGE = (
    sa.update(Resident)
    .where(col(Resident.id) == sa.bindparam("resident_id"))
    .values(language=sa.bindparam("language"))
)
_INBOUND = sa.select(
    col(Message.id),
    col(Message.kind),
    col(Message.complaint_id),
    col(Message.channel),
    col(Message.provider_message_id),
).where(col(Message.direction) == Direction.INBOUND)
_INBOUND_SEEN = _INBOUND.where(
    col(Message.channel) == sa.bindparam("channel"),
    col(Message.provider_message_id) == sa.bindparam("provider_id"),
)
_INBOUND_AMONG = _INBOUND.where(
    col(Message.channel) == sa.bindparam("channel"),
    col(Message.provider_message_id).in_(sa.bindparam("values", expanding=True)),
)
_AWAITING_RESIDENT = col(Complaint.status) == ComplaintStatus.WAITING_FOR_RESIDENT
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
_INSERT_MESSAGE = sa.insert(Message)


async def session_connection(session: AsyncSession) -> AsyncConnection:
    """The connection of the session's transaction, for Core statements.

    Asking the session each time costs a trip through SQLAlchemy's greenlet bridge per
    statement; the connection stays the same until the transaction ends.
    """
    connection: AsyncConnection | None = session.info.get(_CONNECTION)
    if connection is None or connection.closed or not connection.in_transaction():
        connection = session.info[_CONNECTION] = await session.connection()
    return connection


_CONNECTION = "aduan.connection"


async def _write(
    session: AsyncSession, statement: sa.Executable, values: dict[str, Any]
) -> sa.CursorResult[Any]:
    """Run one Core write in the session's transaction; a unique index that refuses it is a
    ConflictError, as it is when the unit of work flushes."""
    connection = await session_connection(session)
    try:
        return await connection.execute(statement, values)
    except IntegrityError as exc:
        raise ConflictError(str(exc.orig)) from exc


V = TypeVar("V")


async def _read_among(
    session: AsyncSession,
    statement: sa.Executable,
    keys: Iterable[tuple[str, str]],
    known: dict[tuple[str, str], V | None],
    *,
    key: Callable[[Any], tuple[str, str]],
    build: Callable[[Any], V],
) -> None:
    """Add to `known` every one of `keys`, (channel, value) pairs, it lacks: what `build`
    makes of the row `statement` finds for it, or None where there is none.

    `statement` takes one channel ("channel") and its values ("values"), run once per
    channel: SQLite searches the unique index on (channel, value) for that form, but reads
    the whole table for a list of pairs.
    """
    by_channel: dict[str, list[str]] = {}
    for channel, value in set(keys):
        if (channel, value) not in known:
            by_channel.setdefault(channel, []).append(value)
    if not by_channel:
        return
    connection = await session_connection(session)
    # In one order on every instance: a statement that locks its rows (`FOR UPDATE`)
    # never waits for an instance that waits for it.
    for channel, values in sorted(by_channel.items()):
        params = {"channel": channel, "values": values}
        found = {key(row): build(row) for row in await connection.execute(statement, params)}
        for value in values:
            known[channel, value] = found.get((channel, value))


def _contact(row: Any) -> ResidentContact:
    """A row of _RESIDENT_CONTACT as the dataclass intake uses."""
    return ResidentContact(
        int(row.id),
        row.channel,
        row.address,
        row.language,
        opted_out=row.opted_out_at is not None,
        blocked=row.blocked_at is not None,
        window_started_at=row.window_started_at,
        window_messages=row.window_messages,
    )


def _window_count(
    resident: ResidentContact, at: datetime, window: timedelta
) -> tuple[datetime, int]:
    """_COUNT_MESSAGE's new window start and count, for a row no other transaction can
    change meanwhile: a new window when the last one is over, else one more in it."""
    started = resident.window_started_at
    if started is None or at - window >= started:
        return at, 1
    return started, resident.window_messages + 1


def _seen(row: Any) -> SeenInbound:
    """A row of _INBOUND as what intake needs of a message it took before."""
    return SeenInbound(int(row.id), row.kind, row.complaint_id)


@dataclass(frozen=True, slots=True)
class SeenInbound:
    """An inbound message already taken: its id, its kind and its complaint."""

    id: int
    kind: str
    complaint_id: int | None


class AgencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        # Agencies this transaction looked up, by code; all of them once it asked for a
        # second one, as a transaction of many messages asks for the same few dozen again
        # and again (a city has tens of agencies, not thousands).
        self._by_code: dict[str, Agency] = {}
        self._read_all = False

    async def prefetch(self) -> None:
        """Read every agency now, in one query, so that `by_code` and `get` need none: a
        transaction taking many messages."""
        if not self._read_all:
            self._by_code = {agency.code: agency for agency in await self.all()}
            self._read_all = True

    async def by_code(self, code: str) -> Agency | None:
        if code in self._by_code or self._read_all:
            return self._by_code.get(code)
        if self._by_code:
            await self.prefetch()
            return self._by_code.get(code)
        result = await self._session.exec(_AGENCY_BY_CODE, params={"code": code})
        agency: Agency | None = result.first()
        if agency is not None:
            self._by_code[code] = agency
        return agency

    async def get(self, agency_id: int) -> Agency | None:
        return await self._session.get(Agency, agency_id)

    async def fallback(self) -> Agency | None:
        result = await self._session.exec(
            select(Agency)
            .where(col(Agency.is_fallback), col(Agency.active))
            .order_by(col(Agency.id))
        )
        return result.first()

    async def all(self) -> Sequence[Agency]:
        result = await self._session.exec(_ALL_AGENCIES)
        return result.all()

    async def count(self) -> int:
        result = await self._session.exec(select(sa.func.count()).select_from(Agency))
        return result.one()

    def add(self, agency: Agency) -> None:
        self._session.add(agency)


class OfficerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, officer_id: int) -> Officer | None:
        return await self._session.get(Officer, officer_id)

    async def by_telegram(self, user_id: str) -> Officer | None:
        result = await self._session.exec(
            select(Officer).where(Officer.telegram_user_id == user_id, col(Officer.active))
        )
        return result.first()

    async def link_code(self, code: str) -> LinkCode | None:
        result = await self._session.exec(select(LinkCode).where(LinkCode.code == code))
        return result.first()

    def add_link_code(self, code: LinkCode) -> None:
        self._session.add(code)

    async def with_role(self, role: OfficerRole, agency_id: int | None = None) -> Sequence[Officer]:
        """Active officers of `role`, in one agency or (agency_id None) in all."""
        statement = select(Officer).where(Officer.role == role, col(Officer.active))
        if agency_id is not None:
            statement = statement.where(Officer.agency_id == agency_id)
        result = await self._session.exec(statement.order_by(col(Officer.id)))
        return result.all()

    def add(self, officer: Officer) -> None:
        self._session.add(officer)


class ResidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        # Who writes from each address, as this transaction read or wrote them (None: no
        # resident yet); the writes below keep it true.
        self._contacts: dict[tuple[str, str], ResidentContact | None] = {}
        # Residents whose rows this transaction holds (read with `hold`, or created by it),
        # and the rate counts `count_message` kept for them, written when it flushes.
        self._held: set[int] = set()
        self._counts: dict[int, tuple[datetime, int]] = {}

    async def prefetch(self, addresses: Iterable[tuple[str, str]], *, hold: bool = False) -> None:
        """Read the residents of these (channel, address) pairs in one query, so that
        `contact` answers for them without one: a transaction taking many messages.

        `hold` keeps the rows this reads locked until the transaction ends, as counting a
        message would: `count_message` then counts them without a statement each.
        """
        await _read_among(
            self._session,
            _RESIDENTS_AT_HELD if hold else _RESIDENTS_AT,
            addresses,
            self._contacts,
            key=lambda row: (row.channel, row.address),
            build=self._held_row if hold else _contact,
        )

    def _held_row(self, row: Any) -> ResidentContact:
        contact = _contact(row)
        self._held.add(contact.id)
        return contact

    async def contact(self, channel: str, address: str) -> ResidentContact | None:
        """Who writes from this address, as intake needs them (a cheap read, no ORM)."""
        key = (channel, address)
        if key in self._contacts:
            return self._contacts[key]
        connection = await session_connection(self._session)
        result = await connection.execute(
            _RESIDENT_BY_ADDRESS, {"channel": channel, "address": address}
        )
        row = result.first()
        contact = _contact(row) if row is not None else None
        if contact is not None and contact.id in self._counts:  # counted, not written yet
            started, counted = self._counts[contact.id]
            contact = replace(contact, window_started_at=started, window_messages=counted)
        self._contacts[key] = contact
        return contact

    async def find(self, channel: str, address: str) -> Resident | None:
        """The resident writing from this address, to change (block, unblock)."""
        self._contacts.pop((channel, address), None)  # the caller is about to change it
        result = await self._session.exec(
            _RESIDENT_ROW_BY_ADDRESS, params={"channel": channel, "address": address}
        )
        return result.first()

    async def insert(
        self,
        channel: str,
        address: str,
        *,
        language: str,
        display_name: str | None,
        created_at: datetime,
        window_started_at: datetime | None = None,
        window_messages: int = 0,
    ) -> ResidentContact:
        """Write a new resident now."""
        values = {
            "channel": channel,
            "address": address,
            "language": language,
            "display_name": display_name[:200] if display_name else None,
            "created_at": created_at,
            "window_started_at": window_started_at,
            "window_messages": window_messages,
        }
        result = await _write(self._session, _INSERT_RESIDENT, values)
        resident_id = result.scalar_one()
        assert resident_id is not None
        self._held.add(resident_id)  # nobody else sees the row before this commits
        contact = ResidentContact(
            resident_id,
            channel,
            address,
            language,
            window_started_at=window_started_at,
            window_messages=window_messages,
        )
        self._contacts[channel, address] = contact
        return contact

    async def set_language(self, resident_id: int, language: str) -> None:
        self._update(resident_id, language=language)
        connection = await session_connection(self._session)
        await connection.execute(_SET_LANGUAGE, {"resident_id": resident_id, "language": language})

    async def set_opted_out(self, resident_id: int, since: datetime | None) -> None:
        """Opt the resident out from `since`, or (None) back in."""
        self._update(resident_id, opted_out=since is not None)
        connection = await session_connection(self._session)
        await connection.execute(_SET_OPTED_OUT, {"resident_id": resident_id, "since": since})

    async def count_message(
        self, resident: ResidentContact, at: datetime, window: timedelta
    ) -> ResidentContact:
        """Count one more message from `resident` in their rate window, a new window when the
        last one is over; the resident with the stored count.

        Counted in one UPDATE, so instances sharing the database count every message
        between them (on PostgreSQL the row stays locked until this transaction ends); a
        row the transaction holds already is counted here, its count written at the flush.
        """
        started: datetime | None
        if resident.id in self._held:
            started, counted = self._counts[resident.id] = _window_count(resident, at, window)
        else:
            connection = await session_connection(self._session)
            result = await connection.execute(
                _COUNT_MESSAGE,
                {"resident_id": resident.id, "at": at, "window_start": at - window},
            )
            started, counted = result.one()
        counted_contact = replace(resident, window_started_at=started, window_messages=counted)
        self._contacts[resident.channel, resident.address] = counted_contact
        return counted_contact

    async def write_counts(self) -> None:
        """Write the rate counts kept for held rows, in one statement."""
        if self._counts:
            counts, self._counts = self._counts, {}
            connection = await session_connection(self._session)
            await connection.execute(
                _SET_WINDOW,
                [
                    {"resident_id": resident_id, "started": started, "counted": counted}
                    for resident_id, (started, counted) in counts.items()
                ],
            )

    def _update(self, resident_id: int, **changes: Any) -> None:
        """Keep what this transaction knows of a resident true as it changes."""
        for key, known in self._contacts.items():
            if known is not None and known.id == resident_id:
                self._contacts[key] = replace(known, **changes)

    async def get(self, resident_id: int) -> Resident | None:
        return await self._session.get(Resident, resident_id)

    async def opted_out_among(self, addresses: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (channel, address) pairs belong to residents who opted out."""
        pairs = set(addresses)
        await self.prefetch(pairs)
        return {pair for pair in pairs if (known := self._contacts[pair]) and known.opted_out}

    async def blocked(self) -> Sequence[Resident]:
        result = await self._session.exec(
            select(Resident)
            .where(col(Resident.blocked_at).is_not(None))
            .order_by(col(Resident.blocked_at), col(Resident.id))
        )
        return result.all()

    def add(self, resident: Resident) -> None:
        self._session.add(resident)


class ComplaintRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, complaint_id: int) -> Complaint | None:
        return await self._session.get(Complaint, complaint_id)

    async def by_reference(self, reference: str) -> Complaint | None:
        result = await self._session.exec(select(Complaint).where(Complaint.reference == reference))
        return result.first()

    async def by_thread_keys(self, keys: Iterable[str]) -> Complaint | None:
        """The complaint a message threads onto, newest first when several match."""
        keys = list(keys)
        if not keys:
            return None
        result = await self._session.exec(
            select(Complaint)
            .join(Message, col(Message.complaint_id) == col(Complaint.id))
            .where(col(Message.thread_key).in_(keys))
            .order_by(col(Message.id).desc())
            .limit(1)
        )
        return result.first()

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
        self, resident_id: int, active_since: datetime | None
    ) -> tuple[Complaint | ComplaintHeader | None, Complaint | ComplaintHeader | None]:
        """In one query: the resident's newest complaint on which the agency waits for
        their answer, and (given `active_since`) their most recently active complaint if
        it was active since then.

        Read as headers, a fraction of loading them: adding a message to an open complaint
        needs no more (`touch`), and `load` gives the complaint to change. One this
        transaction loaded already comes as it is, so that there is one copy to change.
        Like every Core read, this sees the ORM's changes once they are flushed.
        """
        params: dict[str, Any] = {"resident_id": resident_id}
        if active_since is None:
            statement = _HEADERS_AWAITING_RESIDENT
        else:
            statement = _HEADERS_AWAITING_OR_ACTIVE
            params["since"] = active_since
        connection = await session_connection(self._session)
        found = [ComplaintHeader(*row) for row in await connection.execute(statement, params)]
        awaiting = [c for c in found if c.status is ComplaintStatus.WAITING_FOR_RESIDENT]
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

    async def awaiting_rating(self, resident_id: int, closed_since: datetime) -> Complaint | None:
        result = await self._session.exec(
            select(Complaint)
            .where(
                Complaint.resident_id == resident_id,
                Complaint.status == ComplaintStatus.CLOSED,
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

    async def for_agency(
        self, agency_id: int, statuses: Iterable[ComplaintStatus]
    ) -> Sequence[Complaint]:
        result = await self._session.exec(
            select(Complaint)
            .where(Complaint.agency_id == agency_id, col(Complaint.status).in_(list(statuses)))
            .order_by(col(Complaint.due_at))
        )
        return result.all()

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
        await _write(
            self._session,
            _TOUCH_COMPLAINT,
            {"complaint_id": complaint.id, "last_message_at": last_message_at, "updated_at": at},
        )
        if isinstance(complaint, Complaint):
            # Written: the object takes the values without becoming dirty again.
            set_committed_value(complaint, "last_message_at", last_message_at)
            set_committed_value(complaint, "updated_at", at)

    async def insert(self, complaint: NewComplaint) -> None:
        """Write a new complaint now and set its id."""
        values = {name: value for name, value in vars(complaint).items() if name != "id"}
        result = await _write(self._session, _INSERT_COMPLAINT, values)
        complaint.id = result.scalar_one()


class MessageRepository:
    def __init__(self, session: AsyncSession, appends: StagedAppends) -> None:
        self._session = session
        self._appends = appends
        # Inbound messages looked up together by `prefetch_inbound` (None: not taken).
        self._inbound: dict[tuple[str, str], SeenInbound | None] = {}

    async def prefetch_inbound(self, keys: Iterable[tuple[str, str]]) -> None:
        """Look up in one query which of these (channel, provider id) messages intake
        took before, so that `find_inbound` answers for them without one."""
        await _read_among(
            self._session,
            _INBOUND_AMONG,
            keys,
            self._inbound,
            key=lambda row: (row.channel, row.provider_message_id),
            build=_seen,
        )

    async def find_inbound(self, channel: str, provider_message_id: str) -> SeenInbound | None:
        """The inbound message this provider id was, if intake already took it (in an
        earlier transaction: what this one appends is not looked at)."""
        if (channel, provider_message_id) in self._inbound:
            return self._inbound[channel, provider_message_id]
        connection = await session_connection(self._session)
        result = await connection.execute(
            _INBOUND_SEEN, {"channel": channel, "provider_id": provider_message_id}
        )
        row = result.first()
        return _seen(row) if row else None

    async def for_complaint(self, complaint_id: int) -> Sequence[Message]:
        result = await self._session.exec(
            select(Message).where(Message.complaint_id == complaint_id).order_by(col(Message.id))
        )
        return result.all()

    def add(self, message: NewMessage) -> None:
        """Append to the log when the transaction next flushes."""
        self._appends.add(message)

    async def insert(self, message: NewMessage) -> int:
        """Append now, for a caller that needs the new row's id (to attach files to it)."""
        result = await _write(self._session, _INSERT_MESSAGE, vars(message))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def add_attachment(self, attachment: Attachment) -> None:
        self._session.add(attachment)

    async def attachment_ids(self, message_id: int) -> list[int]:
        result = await self._session.exec(
            select(Attachment.id)
            .where(Attachment.message_id == message_id)
            .order_by(col(Attachment.id))
        )
        return [row for row in result.all() if row is not None]

    async def attachments(self, ids: Sequence[int]) -> Sequence[Attachment]:
        if not ids:
            return []
        result = await self._session.exec(
            select(Attachment).where(col(Attachment.id).in_(list(ids))).order_by(col(Attachment.id))
        )
        return result.all()


class OutboxRepository:
    def __init__(self, session: AsyncSession, appends: StagedAppends) -> None:
        self._session = session
        self._appends = appends

    def add(self, row: NewOutboxMessage) -> None:
        """Queue when the transaction next flushes."""
        self._appends.add(row)

    async def get(self, row_id: int) -> OutboxMessage | None:
        return await self._session.get(OutboxMessage, row_id)

    async def by_key(self, key: str) -> OutboxMessage | None:
        result = await self._session.exec(select(OutboxMessage).where(OutboxMessage.key == key))
        return result.first()

    async def by_provider_id(self, channel: str, provider_message_id: str) -> OutboxMessage | None:
        """The row the provider knows by this id (the newest, should a provider reuse ids)."""
        result = await self._session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.channel == channel,
                OutboxMessage.provider_message_id == provider_message_id,
            )
            .order_by(col(OutboxMessage.id).desc())
            .limit(1)
        )
        return result.first()

    async def advance_delivery(
        self,
        row_id: int,
        status: str,
        replaces: Collection[str],
        *,
        at: datetime,
        error: str | None,
    ) -> bool:
        """Record a delivery status where the row has none yet or one of `replaces`.

        One conditional UPDATE, so two reports racing on the same row cannot both win.
        Returns whether it was recorded.
        """
        result = await self._session.exec(
            sa.update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == row_id,
                sa.or_(
                    col(OutboxMessage.delivery_status).is_(None),
                    col(OutboxMessage.delivery_status).in_(list(replaces)),
                ),
            )
            .values(delivery_status=status, delivery_status_at=at, delivery_error=error)
        )
        return bool(result.rowcount)

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of `keys` are already queued (or sent)."""
        if not keys:
            return set()
        result = await self._session.exec(
            select(OutboxMessage.key).where(col(OutboxMessage.key).in_(list(keys)))
        )
        return set(result.all())

    async def claim_due(
        self, now: datetime, channels: Iterable[str], limit: int, lease: timedelta
    ) -> Sequence[OutboxMessage]:
        """Take up to `limit` due rows for this process; other processes skip them."""
        channels = list(channels)
        if not channels:
            return []
        result = await self._session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at <= now,
                col(OutboxMessage.channel).in_(channels),
            )
            .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = result.all()
        for row in rows:
            row.status = OutboxStatus.SENDING
            row.claimed_until = now + lease
            row.attempts += 1
            row.waiting_reason = None
        return rows

    async def abandoned_claims(self, now: datetime) -> Sequence[OutboxMessage]:
        """Rows a process claimed and never settled: it died while sending them."""
        result = await self._session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.SENDING,
                col(OutboxMessage.claimed_until) < now,
            )
            .with_for_update(skip_locked=True)
        )
        return result.all()

    async def mark_waiting(self, channel: str, reason: str) -> int:
        """Explain why pending rows of an unconfigured channel are not moving."""
        result = await self._session.exec(
            sa.update(OutboxMessage)
            .where(
                col(OutboxMessage.status) == OutboxStatus.PENDING,
                col(OutboxMessage.channel) == channel,
                sa.or_(
                    col(OutboxMessage.waiting_reason).is_(None),
                    col(OutboxMessage.waiting_reason) != reason,
                ),
            )
            .values(waiting_reason=reason)
        )
        return int(result.rowcount)

    async def for_complaint(self, complaint_id: int) -> Sequence[OutboxMessage]:
        result = await self._session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.complaint_id == complaint_id)
            .order_by(col(OutboxMessage.id))
        )
        return result.all()

    async def pending_channels(self) -> Sequence[str]:
        result = await self._session.exec(
            select(OutboxMessage.channel)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .distinct()
        )
        return result.all()

    async def count_by_status(self) -> dict[str, int]:
        result = await self._session.exec(
            select(OutboxMessage.status, sa.func.count()).group_by(col(OutboxMessage.status))
        )
        return {str(status): count for status, count in result.all()}


class AuditRepository:
    def __init__(self, session: AsyncSession, appends: StagedAppends) -> None:
        self._session = session
        self._appends = appends

    def add(self, entry: NewAuditEntry) -> None:
        self._appends.add(entry)

    async def for_complaint(self, complaint_id: int) -> Sequence[AuditEntry]:
        result = await self._session.exec(
            select(AuditEntry)
            .where(AuditEntry.complaint_id == complaint_id)
            .order_by(col(AuditEntry.id))
        )
        return result.all()


class RuleSetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def latest(self) -> RuleSetVersion | None:
        result = await self._session.exec(
            select(RuleSetVersion).order_by(col(RuleSetVersion.version).desc()).limit(1)
        )
        return result.first()

    async def latest_number(self) -> int | None:
        """The version in force; a cheap query every instance polls to notice changes."""
        result = await self._session.exec(select(sa.func.max(RuleSetVersion.version)))
        return result.one()

    async def get(self, version: int) -> RuleSetVersion | None:
        result = await self._session.exec(
            select(RuleSetVersion).where(RuleSetVersion.version == version)
        )
        return result.first()

    async def history(self, limit: int) -> Sequence[RuleSetVersion]:
        result = await self._session.exec(
            select(RuleSetVersion).order_by(col(RuleSetVersion.version).desc()).limit(limit)
        )
        return result.all()

    def add(self, version: RuleSetVersion) -> None:
        self._session.add(version)

    def propose(self, proposal: RuleProposal) -> None:
        self._session.add(proposal)

    async def proposal(self, proposal_id: int) -> RuleProposal | None:
        return await self._session.get(RuleProposal, proposal_id)
