"""Messages the service keeps but will not take as a resident's: an unreadable or oversized
mail, an automatic reply, a mailing list. Each is kept whole, once, with its reason, for an
admin to read (`aduan email rejected`); nothing is answered."""

from __future__ import annotations

import logging

from bot.domain.clock import Clock
from channels.base import RefusedMessage
from storage.errors import ConflictError
from storage.models import RefusedMessage as StoredRefusal
from storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


class Refusals:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def keep(self, refused: RefusedMessage) -> None:
        """Keep `refused` once; a redelivery of one already kept changes nothing."""
        try:
            async with self._uow() as uow:
                if await uow.refused.find(refused.channel, refused.provider_message_id):
                    return
                uow.refused.add(
                    StoredRefusal(
                        channel=refused.channel,
                        provider_message_id=refused.provider_message_id,
                        sender=refused.sender,
                        reason=refused.reason[:500],
                        raw=refused.raw,
                        received_at=refused.received_at,
                        created_at=self._clock.now(),
                    )
                )
                await uow.commit()
        except ConflictError:
            return  # another instance kept it meanwhile
        log.info(
            "message refused and kept",
            extra={"channel": refused.channel, "reason": refused.reason},
        )
