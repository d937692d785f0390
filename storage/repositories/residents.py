"""Residents: an address on a channel, their language, opt-out, block and rate window."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Resident,
    ResidentContact,
    UTCDateTime,
)
from storage.repositories.core import read_among, referenced, session_connection, write

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
        await read_among(
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
        result = await write(self._session, _INSERT_RESIDENT, values)
        resident_id: int = result.scalar_one()
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

    async def referenced(self, resident_id: int) -> Resident:
        """The resident another row refers to by `resident_id`; MissingRow if it is gone."""
        return await referenced(self._session, Resident, resident_id)

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
