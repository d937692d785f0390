"""A resident's right to be forgotten (`aduan residents erase ADDRESS`), and retention
(`ADUAN_RETENTION_DAYS`): personal data removed, complaints kept.

Their complaints stay, for the public record and the figures recomputed from it, but
nothing left says who filed them or what they wrote: name, address, texts, files, mail
kept whole and messages sent to them are blanked. The erasure is audited without them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta

from bot.domain.clock import Clock
from bot.domain.lifecycle import ComplaintStatus
from bot.intake.blocklist import BlocklistError, canonical_address
from bot.messaging.templates import OFFICER_LANGUAGE, render
from channels.base import ChannelName
from channels.contact import ContactError, parse_contact
from channels.kept_payloads import named_addresses
from storage.models import NewAuditEntry
from storage.repositories.erasure import Erased, Expired
from storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


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
                # An address only ever typed into a form as a contact has no resident, and
                # is erased all the same.
                resident = await uow.residents.find(channel, address)
                resident_id = resident.id if resident is not None else None
                erased = await uow.erasure.erase(
                    channel, address, resident_id, marker, now, named_addresses
                )
                if resident_id is None and not erased.anything:
                    continue
                whose = f"resident {resident_id}" if resident_id is not None else "an address"
                uow.audit.add(
                    NewAuditEntry(
                        actor=f"admin:{admin}"[:64],
                        action="erase",
                        detail=f"{whose} ({channel}) erased: {_said(erased)}",
                        created_at=now,
                    )
                )
                done.append(Erasure(channel, address, erased))
            if not done:
                raise ErasureError(f"nothing is stored about the address {typed.strip()!r}")
            await uow.commit()
        return done


def _said(erased: Erased) -> str:
    return (
        f"{erased.complaints} complaints, {erased.messages} messages, "
        f"{erased.attachments} files, {erased.outbox} outgoing messages, "
        f"{erased.refused} refused mails, {erased.deliveries} kept deliveries, "
        f"{erased.claims} contact claims, {erased.audit} audit rows"
    )


def summary(erasure: Erasure) -> str:
    """What was erased for one address, for the admin."""
    return f"erased {erasure.channel} {erasure.address}: {_said(erasure.erased)}"


# Complaints whose texts retention removes once they have been finished this long.
FINISHED = (ComplaintStatus.CLOSED, ComplaintStatus.REJECTED)


class Retention:
    """The daily job of `ADUAN_RETENTION_DAYS`: the texts of complaints closed or rejected
    longer ago, and kept deliveries and refused mail older than that, are blanked, a batch
    per transaction so that no transaction holds many rows locked."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, days: int, batch: int = 200) -> None:
        self._uow = uow
        self._clock = clock
        self._kept = timedelta(days=days)
        self._batch = batch

    async def sweep(self) -> Expired:
        """Blank everything past its time; how much went, all batches together."""
        marker = render("expired", OFFICER_LANGUAGE)
        total = Expired()
        while True:
            now = self._clock.now()
            before = now - self._kept
            async with self._uow() as uow:
                batch = await uow.erasure.expire(FINISHED, before, marker, now, self._batch)
                await uow.commit()
            total += batch
            if max(batch.complaints, batch.deliveries, batch.refused) < self._batch:
                break
        if total != Expired():
            log.info("retention: texts past their time blanked", extra=asdict(total))
        return total
