"""Mail answering one of our mails to an agency (a notice, a reminder, a digest): an
officer acting on the complaint, never a resident's message.

An officer of the complaint's agency (or an admin) who replies answers the resident,
through the officer desk exactly as a reply in the agency's Telegram group does; a first
line `#tanya` / `#ask`, `#tutup` / `#close` or `#alihkan KODE` / `#transfer CODE` asks,
closes or transfers instead. Anyone else is told politely by mail that their reply was not
passed on, and the refusal is audited on the complaint: a notice forwarded to the wrong
person must not let them speak for the agency, nor reach the resident.

A reply whose client dropped the threading headers (most agents' replies do) is still an
officer's when its sender is an officer who may act on the complaint its subject names
(`[REF]`, kept by every client's "Re:"); anyone else's such mail is a resident's, as
intake decides.

Each mail is recorded (kind `officer_mail` or `stranger_mail`, on no complaint, so that no
conversation shows it) once its action is done, so a mail seen again acts once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from bot.domain.clock import Clock
from bot.domain.references import find_reference
from bot.messaging.email_threading import AGENCY_KINDS, NOTICE_REPLY_KINDS
from bot.messaging.templates import OFFICER_LANGUAGE, render
from channels.base import (
    ActionHandler,
    ActionKind,
    ActionRequest,
    ActionResult,
    ChannelName,
    Identity,
    InboundMessage,
    IntakeReceipt,
    Outcome,
)
from storage.errors import ConflictError
from storage.models import (
    Complaint,
    Direction,
    NewAuditEntry,
    NewMessage,
    NewOutboxMessage,
    Officer,
)
from storage.roles import OfficerRole
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

_ACTION_LINE = re.compile(r"#(?P<word>[a-z]+)\b[ \t]*(?P<rest>.*)", re.IGNORECASE)
_ACTION_WORDS = {
    "tanya": ActionKind.ASK,
    "ask": ActionKind.ASK,
    "tutup": ActionKind.CLOSE,
    "close": ActionKind.CLOSE,
    "alihkan": ActionKind.TRANSFER,
    "transfer": ActionKind.TRANSFER,
}


def officer_mail_action(text: str) -> tuple[ActionKind, str, str | None]:
    """What an officer's mail asks for: (kind, the text for it, a transfer's agency code).

    A first line `#tanya` / `#ask`, `#tutup` / `#close` or `#alihkan KODE` /
    `#transfer CODE` (any case) names the action, and the rest of that line and the lines
    below are its text; any other mail is the answer to the resident.
    """
    first, _, below = text.strip().partition("\n")
    match = _ACTION_LINE.fullmatch(first.strip())
    kind = _ACTION_WORDS.get(match["word"].lower()) if match else None
    if match is None or kind is None:
        return ActionKind.ANSWER, text.strip(), None
    rest = match["rest"].strip()
    code = None
    if kind is ActionKind.TRANSFER:
        typed, _, rest = rest.partition(" ")
        code = typed.upper() or None
    return kind, "\n".join(part for part in (rest.strip(), below.strip()) if part), code


@dataclass(frozen=True, slots=True)
class AnsweredNotice:
    """A mail to an agency that an inbound mail answers: about `complaint_id`, or about no
    complaint (a digest)."""

    complaint_id: int | None


async def _by_subject(uow: UnitOfWork, message: InboundMessage) -> AnsweredNotice | None:
    """The complaint the subject names, where the sender is an officer who may act on it."""
    if message.subject_reference is None or not message.sender:
        return None
    complaint = await uow.complaints.by_reference(message.subject_reference)
    if complaint is None:
        return None
    officer = await uow.officers.by_email(message.sender, complaint.agency_id)
    return AnsweredNotice(complaint.id) if _may_act(officer, complaint) else None


class NoticeReplies:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, act: ActionHandler) -> None:
        self._uow = uow
        self._clock = clock
        self._act = act

    async def answered(self, message: InboundMessage) -> AnsweredNotice | None:
        """The mail to an agency that `message` answers, if it answers one."""
        if message.channel != ChannelName.EMAIL or not (
            message.thread_keys or message.subject_reference
        ):
            return None  # most mail: nothing to look up, no transaction to open
        async with self._uow() as uow:
            if message.thread_keys:
                hit = await uow.messages.thread_hit(message.thread_keys, own_ids_of=message.channel)
                if hit is not None and hit.kind in AGENCY_KINDS | NOTICE_REPLY_KINDS:
                    return AnsweredNotice(hit.complaint_id)
            return await _by_subject(uow, message)

    async def take(self, message: InboundMessage, notice: AnsweredNotice) -> IntakeReceipt:
        """Act on an officer's reply, or refuse anyone else's; once per mail."""
        sender = (message.sender or "").strip().lower()
        async with self._uow() as uow:
            if await uow.messages.find_inbound(message.channel, message.provider_message_id):
                return IntakeReceipt(Outcome.COMMAND, "", duplicate=True)
            complaint = (
                await uow.complaints.get(notice.complaint_id) if notice.complaint_id else None
            )
            officer = await uow.officers.by_email(
                sender, complaint.agency_id if complaint else None
            )
            if not _may_act(officer, complaint):
                return await self._refuse(uow, message, sender, complaint)
        kind, text, agency_code = officer_mail_action(message.text)
        reference = (
            complaint.reference
            if complaint
            else find_reference(f"{message.subject or ''}\n{message.text}")
        )
        request = ActionRequest(
            Identity(ChannelName.EMAIL, sender, sender, message.display_name),
            kind,
            message.provider_message_id,
            reference=reference,
            text=text,
            agency_code=agency_code,
        )
        try:
            result = await self._act(request)
        except ConflictError:
            # Its answer is queued already: the mail was acted on before it was recorded.
            result = ActionResult(True, "", reference)
        try:
            async with self._uow() as uow:
                self._record(uow, message, "officer_mail")
                if not result.ok or result.buttons:
                    self._mail_back(
                        uow, message, sender, complaint, _not_done(result), "officer_mail_result"
                    )
                await uow.commit()
        except ConflictError:
            return IntakeReceipt(Outcome.COMMAND, "", duplicate=True)
        log.info("officer's mail acted on", extra={"kind": kind, "ok": result.ok})
        return IntakeReceipt(Outcome.COMMAND, result.message, reference=result.reference)

    async def _refuse(
        self,
        uow: UnitOfWork,
        message: InboundMessage,
        sender: str,
        complaint: Complaint | None,
    ) -> IntakeReceipt:
        text = "\n\n".join(render("notice_reply_refused", language) for language in ("id", "en"))
        self._record(uow, message, "stranger_mail")
        self._mail_back(uow, message, sender, complaint, text, "notice_reply_refused")
        uow.audit.add(
            NewAuditEntry(
                actor=f"email:{sender}"[:64],
                action="notice_reply_refused",
                complaint_id=complaint.id if complaint else None,
                created_at=self._clock.now(),
                detail=f"reply to an agency mail from {sender or 'an unknown sender'}, who is "
                f"not an officer of the complaint's agency ({message.provider_message_id}); "
                "not passed on",
            )
        )
        try:
            await uow.commit()
        except ConflictError:
            return IntakeReceipt(Outcome.NOT_COMPLAINANT, "", duplicate=True)
        log.info("reply to an agency mail from a non-officer refused")
        return IntakeReceipt(Outcome.NOT_COMPLAINANT, text)

    def _record(self, uow: UnitOfWork, message: InboundMessage, kind: str) -> None:
        uow.messages.add(
            NewMessage(
                direction=Direction.INBOUND,
                channel=message.channel,
                kind=kind,
                text=message.text,
                created_at=message.received_at,
                # No thread key: a later reply to the same notice must find the notice.
                provider_message_id=message.provider_message_id,
            )
        )

    def _mail_back(
        self,
        uow: UnitOfWork,
        message: InboundMessage,
        sender: str,
        complaint: Complaint | None,
        text: str,
        kind: str,
    ) -> None:
        if not sender:
            return
        now = self._clock.now()
        uow.outbox.add(
            NewOutboxMessage(
                key=f"reply:{message.channel}:{message.provider_message_id}",
                kind=kind,
                channel=message.channel,
                recipient=sender,
                complaint_id=complaint.id if complaint else None,
                subject=_re(message.subject),
                text=text,
                language=OFFICER_LANGUAGE,
                in_reply_to=message.provider_message_id,
                next_attempt_at=now,
                created_at=now,
            )
        )


def _may_act(officer: Officer | None, complaint: Complaint | None) -> bool:
    """Whether this officer acts on the complaint by mail: one of its agency, or an admin;
    on a mail about no complaint (a digest), any officer, the desk checks the rest."""
    if officer is None:
        return False
    return (
        complaint is None
        or officer.role is OfficerRole.ADMIN
        or officer.agency_id == complaint.agency_id
    )


def _not_done(result: ActionResult) -> str:
    if result.ok:  # a question with choices (which agency to transfer to)
        choices = ", ".join(button.label for button in result.buttons)
        return render(
            "officer_mail_choices", OFFICER_LANGUAGE, question=result.message, choices=choices
        )
    return render("officer_mail_not_done", OFFICER_LANGUAGE, reason=result.message)


def _re(subject: str | None) -> str | None:
    if not subject:
        return None
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"
