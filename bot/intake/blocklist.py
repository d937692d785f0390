"""Addresses an admin blocked: their messages are kept for the record and start nothing.

A blocked sender gets no complaint, no agency notice and no answer (an answer is what a
flood or an abuser wants, and every SMS costs); the provider still gets its usual success
so it does not redeliver. A block is kept on the resident of that address, created if the
address never wrote, so intake sees it without another query. Blocking and unblocking
are audited with the admin's name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.clock import Clock
from channels.base import ChannelName
from channels.contact import ContactError, parse_contact
from storage.errors import ConflictError
from storage.models import NewAuditEntry, Resident
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

_CHAT_ID = re.compile(r"-?\d{1,20}")


class BlocklistError(Exception):
    """A block that cannot be added or removed; the message says why."""


@dataclass(frozen=True, slots=True)
class Block:
    channel: str
    address: str
    reason: str
    by: str
    since: datetime


class Blocklist:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def add(self, channel: ChannelName, address: str, *, reason: str, admin: str) -> Block:
        address = canonical_address(channel, address)
        if not reason.strip():
            raise BlocklistError("give a reason (--reason): it is kept with the block")
        try:
            return await self._add(channel, address, reason, admin)
        except ConflictError:
            # The address wrote for the first time just now: its resident exists now.
            return await self._add(channel, address, reason, admin)

    async def _add(self, channel: ChannelName, address: str, reason: str, admin: str) -> Block:
        now = self._clock.now()
        async with self._uow() as uow:
            resident = await uow.residents.find(channel, address)
            if resident is None:
                resident = Resident(channel=channel, address=address, created_at=now)
                uow.residents.add(resident)
            elif resident.blocked_at is not None:
                raise BlocklistError(
                    f"{channel} {address} is already blocked (since {resident.blocked_at:%Y-%m-%d}"
                    f" by {resident.blocked_by}: {resident.blocked_reason})"
                )
            resident.blocked_at = now
            resident.blocked_reason = reason.strip()[:500]
            resident.blocked_by = admin[:64]
            _audit(uow, admin, "block", f"{channel} {address}: {resident.blocked_reason}", now)
            await uow.commit()
            return _block(resident, now)

    async def remove(self, channel: ChannelName, address: str, *, admin: str) -> Block:
        address = canonical_address(channel, address)
        now = self._clock.now()
        async with self._uow() as uow:
            resident = await uow.residents.find(channel, address)
            if resident is None or resident.blocked_at is None:
                raise BlocklistError(f"{channel} {address} is not blocked")
            lifted = _block(resident, resident.blocked_at)
            resident.blocked_at = resident.blocked_reason = resident.blocked_by = None
            _audit(uow, admin, "unblock", f"{channel} {address} (was: {lifted.reason})", now)
            await uow.commit()
            return lifted

    async def entries(self) -> Sequence[Block]:
        async with self._uow() as uow:
            return [
                _block(resident, resident.blocked_at)
                for resident in await uow.residents.blocked()
                if resident.blocked_at is not None  # all are: the query selects them by it
            ]


def canonical_address(channel: ChannelName, address: str) -> str:
    """The address as intake stores it for that channel; BlocklistError if it is not one."""
    if channel is ChannelName.WEB:
        raise BlocklistError(
            "web messages come from the contact they give: block that sms number or email address"
        )
    if channel is ChannelName.TELEGRAM:
        if not _CHAT_ID.fullmatch(address.strip()):
            raise BlocklistError(f"{address!r} is not a Telegram chat id (digits, e.g. 123456789)")
        return address.strip()
    try:
        contact = parse_contact(address)
    except ContactError as exc:
        raise BlocklistError(f"{address!r}: {str(exc).removeprefix('contact: ')}") from None
    if contact.channel is not channel:
        raise BlocklistError(f"{address!r} is not an {channel} address")
    return contact.address


def _block(resident: Resident, since: datetime) -> Block:
    return Block(
        resident.channel,
        resident.address,
        resident.blocked_reason or "",
        resident.blocked_by or "",
        since,
    )


def _audit(uow: UnitOfWork, admin: str, action: str, detail: str, at: datetime) -> None:
    uow.audit.add(
        NewAuditEntry(actor=f"admin:{admin}"[:64], action=action, detail=detail, created_at=at)
    )
