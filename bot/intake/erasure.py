"""A resident's right to be forgotten: `aduan residents erase ADDRESS`.

Their complaints stay, for the public record and the figures recomputed from it, but
nothing left says who filed them or what they wrote: name, address, texts, files, mail
kept whole and messages sent to them are blanked. The erasure is audited without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.clock import Clock
from bot.intake.blocklist import BlocklistError, canonical_address
from bot.messaging.templates import OFFICER_LANGUAGE, render
from channels.base import ChannelName
from channels.contact import ContactError, parse_contact
from storage.models import NewAuditEntry
from storage.repositories.erasure import Erased
from storage.unit_of_work import UnitOfWorkFactory


class ErasureError(Exception):
    """An address that cannot be erased; the message says why."""


@dataclass(frozen=True, slots=True)
class Erasure:
    channel: str
    address: str
    erased: Erased


def erasure_targets(typed: str) -> list[tuple[ChannelName, str]]:
    """The stored addresses `typed` names: `sms:+62812…`, `email:x@y`, `telegram:123`, or a
    bare phone number (its SMS and voice addresses) or email address; ErasureError for
    anything else."""
    try:
        return _targets(typed)
    except BlocklistError as exc:
        raise ErasureError(str(exc)) from None


def _targets(typed: str) -> list[tuple[ChannelName, str]]:
    prefix, colon, rest = typed.strip().partition(":")
    if colon and prefix.lower() in {c.value for c in ChannelName}:
        channel = ChannelName(prefix.lower())
        if channel is ChannelName.VOICE:
            return [(channel, canonical_address(ChannelName.SMS, rest))]
        return [(channel, canonical_address(channel, rest))]
    try:
        contact = parse_contact(typed)
    except ContactError as exc:
        raise ErasureError(
            f"{typed!r}: {str(exc).removeprefix('contact: ')} (or channel:address, "
            "e.g. telegram:123456789)"
        ) from None
    if contact.channel is ChannelName.SMS:
        return [(ChannelName.SMS, contact.address), (ChannelName.VOICE, contact.address)]
    return [(contact.channel, contact.address)]


class Eraser:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def erase(self, typed: str, *, admin: str) -> Sequence[Erasure]:
        """Erase every resident `typed` names, in one transaction; ErasureError if none."""
        targets = erasure_targets(typed)
        marker = render("erased", OFFICER_LANGUAGE)
        now = self._clock.now()
        done = []
        async with self._uow() as uow:
            for channel, address in targets:
                resident = await uow.residents.find(channel, address)
                if resident is None:
                    continue
                erased = await uow.erasure.erase(resident, marker)
                uow.audit.add(
                    NewAuditEntry(
                        actor=f"admin:{admin}"[:64],
                        action="erase",
                        detail=f"resident {resident.id} ({channel}) erased: {_said(erased)}",
                        created_at=now,
                    )
                )
                done.append(Erasure(channel, address, erased))
            if not done:
                raise ErasureError(f"no resident has the address {typed.strip()!r}")
            await uow.commit()
        return done


def _said(erased: Erased) -> str:
    return (
        f"{erased.complaints} complaints, {erased.messages} messages, "
        f"{erased.attachments} files, {erased.outbox} outgoing messages, "
        f"{erased.refused} refused mails, {erased.deliveries} kept deliveries"
    )


def summary(erasure: Erasure) -> str:
    """What was erased for one address, for the admin."""
    return f"erased {erasure.channel} {erasure.address}: {_said(erasure.erased)}"
