"""Where every channel hands in a resident's message: intake, then a nudge to the outbox
dispatcher, and, for whoever just filed a complaint, the link to its tracking page."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from bot.intake.notice_replies import NoticeReplies
from bot.intake.service import IntakeService
from bot.messaging.tracking import TrackingLinks
from channels.base import InboundMessage, IntakeReceipt, Outcome


class Reception:
    def __init__(
        self,
        intake: IntakeService,
        links: TrackingLinks,
        notice_replies: NoticeReplies,
        *,
        queued: Callable[[], None],
    ) -> None:
        self._intake = intake
        self._links = links
        self._notice_replies = notice_replies
        self._queued = queued

    async def deliver(self, message: InboundMessage) -> IntakeReceipt:
        """The one callback every channel gets for a resident's message.

        A mail answering one of ours to an agency is an officer's (or a stranger's), never a
        resident's: it goes to the officer desk, or is refused (see `NoticeReplies`).
        """
        notice = await self._notice_replies.answered(message)
        if notice is not None:
            answered = await self._notice_replies.take(message, notice)
            self._queued()
            return answered
        receipt = await self._intake.handle(message)
        self._queued()
        if receipt.outcome is Outcome.COMPLAINT and receipt.reference:
            # Only the filer gets the link that opens the conversation; anyone may add to an
            # anonymous complaint by its reference, but not read what the agency answered.
            url = await self._links.url(receipt.reference)
            receipt = dataclasses.replace(receipt, tracking_url=url)
        return receipt
