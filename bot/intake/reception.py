"""Where every channel hands in a resident's message: intake, then a nudge to the outbox
dispatcher, and, for whoever just filed a complaint, the link to its tracking page."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from bot.domain.commands import guess_language
from bot.intake.notice_replies import NoticeReplies
from bot.intake.service import IntakeService
from bot.intake.verification import ContactVerification
from bot.messaging.tracking import TrackingLinks
from channels.base import ChannelName, InboundMessage, IntakeReceipt, Outcome

# Channels whose filers have no tracking page open to ask for a code from (an Open311 client
# application is not the resident): the code goes to the contact they gave at once, with
# the page's link to enter it on. Nothing else goes there until it comes back.
_CODE_AT_ONCE = frozenset({ChannelName.OPEN311})


class Reception:
    def __init__(
        self,
        intake: IntakeService,
        links: TrackingLinks,
        notice_replies: NoticeReplies,
        verification: ContactVerification,
        *,
        queued: Callable[[], None],
    ) -> None:
        self._intake = intake
        self._links = links
        self._notice_replies = notice_replies
        self._verification = verification
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
        reference = receipt.reference
        if receipt.outcome is Outcome.COMPLAINT and reference:
            # Only the filer gets the link that opens the conversation; anyone may add to an
            # anonymous complaint by its reference, but not read what the agency answered.
            url = await self._links.url(reference)
            receipt = dataclasses.replace(receipt, tracking_url=url)
            if message.channel in _CODE_AT_ONCE and message.claimed_contact is not None:
                language = message.language or guess_language(message.text)
                sent = await self._verification.send_code(reference, language, page=url)
                if sent is not None:
                    self._queued()
                    told = f"{receipt.reply_text} {sent.message}"
                    receipt = dataclasses.replace(receipt, reply_text=told)
        return receipt
