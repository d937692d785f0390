"""The officer desk: officers' and admins' actions from chat, checked and carried out.

A chat adapter turns a button press, a reply or a command into an `ActionRequest` that
says who acted; the desk finds the linked officer, the complaint (by reference, or by the
bot message they answered), checks authority through `ComplaintActions`, and answers in
words the officer can act on. People link their chat account, and agencies their group,
with one-time codes an admin issues (`aduan officers add`, `aduan officers link-group`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.clock import Clock
from bot.domain.lifecycle import OPEN_STATES, ComplaintStatus, IllegalTransition
from bot.domain.references import new_reference, parse_reference
from bot.messaging.templates import (
    OFFICER_LANGUAGE,
    format_when,
    render,
    transition_refused,
)
from bot.officers.actions import ActionError, Actor, ComplaintActions, Role
from bot.records.queries import find_by_reference
from bot.rules.desk import ADMIN_ACTIONS, RuleDesk
from channels.base import ActionKind, ActionRequest, ActionResult, Button, ChannelName
from storage.models import (
    Complaint,
    LinkCode,
    NewAuditEntry,
    Officer,
    stored_id,
)
from storage.roles import OfficerRole
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)
CODE_LIFETIME = timedelta(days=7)
# Actions that message the resident.
_TO_RESIDENT = frozenset({ActionKind.ASK, ActionKind.ANSWER, ActionKind.CLOSE, ActionKind.REJECT})
_LISTED = 15


class OfficerDesk:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        actions: ComplaintActions,
        zone: ZoneInfo,
        rules: RuleDesk,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._actions = actions
        self._zone = zone
        self._rules = rules

    # --- codes an admin issues ---------------------------------------------------------

    async def add_officer(
        self,
        agency_code: str,
        name: str,
        role: OfficerRole,
        *,
        created_by: str,
        email: str | None = None,
    ) -> tuple[Officer, str]:
        """A new officer of the agency, and the code they send to the bot to link.

        With `email`, they also act by replying from that address to the agency's mail.
        """
        async with self._uow() as uow:
            agency = await uow.agencies.by_code(agency_code)
            if agency is None or agency.id is None:
                raise ActionError(render("no_such_agency", OFFICER_LANGUAGE, code=agency_code))
            officer = Officer(
                agency_id=agency.id,
                name=name,
                role=role,
                email=email.strip().lower() if email else None,
                created_at=self._clock.now(),
            )
            uow.officers.add(officer)
            await uow.flush()
            code = self._code(uow, agency.id, officer.id, created_by)
            await uow.commit()
            return officer, code

    async def group_code(self, agency_code: str, *, created_by: str) -> str:
        """A code that, sent in a group chat, makes it the agency's group."""
        async with self._uow() as uow:
            agency = await uow.agencies.by_code(agency_code)
            if agency is None or agency.id is None:
                raise ActionError(render("no_such_agency", OFFICER_LANGUAGE, code=agency_code))
            code = self._code(uow, agency.id, None, created_by)
            await uow.commit()
            return code

    def _code(
        self, uow: UnitOfWork, agency_id: int, officer_id: int | None, created_by: str
    ) -> str:
        now = self._clock.now()
        code = new_reference()
        uow.officers.add_link_code(
            LinkCode(
                code=code,
                agency_id=agency_id,
                officer_id=officer_id,
                created_by=created_by,
                created_at=now,
                expires_at=now + CODE_LIFETIME,
            )
        )
        return code

    # --- actions from chat -------------------------------------------------------------

    async def handle(self, request: ActionRequest) -> ActionResult:
        return await _answered(self._handle(request))

    async def _handle(self, request: ActionRequest) -> ActionResult:
        if request.kind is ActionKind.LINK:
            return await self._link(request)
        officer = await self._officer(request)
        if officer is None:
            return ActionResult(False, render("not_linked", OFFICER_LANGUAGE))
        return await self._act(request, officer)

    async def _officer(self, request: ActionRequest) -> Officer | None:
        identity = request.identity
        async with self._uow() as uow:
            if identity.channel == ChannelName.EMAIL:
                return await _by_email(uow, identity.user_id, request.reference)
            return await uow.officers.by_telegram(identity.user_id)

    async def _act(self, request: ActionRequest, officer: Officer) -> ActionResult:
        if request.kind in (ActionKind.LIST, ActionKind.MINE, ActionKind.OVERDUE):
            return ActionResult(True, await self._listing(request.kind, officer))
        if request.kind in ADMIN_ACTIONS:
            if officer.role is not OfficerRole.ADMIN:
                return ActionResult(False, render("admins_only", OFFICER_LANGUAGE))
            return await self._rules.handle(request, officer.name)
        return await self._on_complaint(
            officer,
            request.kind,
            await self._reference(request),
            request.text.strip(),
            agency_code=request.agency_code,
            request_id=f"{request.identity.channel}:{request.request_id}",
        )

    # --- actions from the command line -------------------------------------------------

    async def act_as(
        self,
        officer: str,
        kind: ActionKind,
        reference: str,
        text: str = "",
        *,
        agency_code: str | None = None,
    ) -> ActionResult:
        """An operator or a script acting for an officer (`aduan complaint reply …`): the
        officer, named by email address or id, acts with their own authority, as from chat."""
        return await _answered(self._act_as(officer, kind, reference, text, agency_code))

    async def _act_as(
        self, who: str, kind: ActionKind, reference: str, text: str, agency_code: str | None
    ) -> ActionResult:
        reference = _typed_reference(reference)
        async with self._uow() as uow:
            if who.strip().isdigit():
                found = await uow.officers.get(int(who))
                officer = found if found is not None and found.active else None
            else:
                officer = await _by_email(uow, who, reference)
        if officer is None:
            return ActionResult(False, render("no_such_officer", OFFICER_LANGUAGE, who=who))
        return await self._on_complaint(
            officer,
            kind,
            reference,
            text.strip(),
            agency_code=agency_code,
            # Each command is its own request: running it twice acts twice.
            request_id=f"cli:{uuid.uuid4().hex}",
        )

    async def _on_complaint(
        self,
        officer: Officer,
        kind: ActionKind,
        reference: str,
        text: str,
        *,
        agency_code: str | None,
        request_id: str,
    ) -> ActionResult:
        role = Role.ADMIN if officer.role is OfficerRole.ADMIN else Role.OFFICER
        actor = Actor(role, stored_id(officer), officer.name, officer.agency_id)
        match kind:
            case ActionKind.TAKE:
                done = await self._actions.take(reference, actor)
                said = render(
                    "took", OFFICER_LANGUAGE, reference=done.reference, officer=officer.name
                )
            case ActionKind.ASK:
                _need(text, "empty_question")
                done = await self._actions.ask_resident(
                    reference, text, actor, request_id=request_id
                )
                said = render("asked", OFFICER_LANGUAGE, reference=done.reference)
            case ActionKind.ANSWER:
                _need(text, "empty_answer")
                done = await self._actions.answer(reference, text, actor, request_id=request_id)
                said = render("answered", OFFICER_LANGUAGE, reference=done.reference)
            case ActionKind.TRANSFER:
                if not agency_code:
                    return await self._transfer_choices(reference, officer)
                done = await self._actions.transfer(
                    reference, agency_code, actor, reason=text or "-"
                )
                said = render(
                    "transferred",
                    OFFICER_LANGUAGE,
                    reference=done.reference,
                    agency_code=agency_code,
                )
            case ActionKind.CLOSE:
                done = await self._actions.close(reference, actor, note=text)
                said = render("closed", OFFICER_LANGUAGE, reference=done.reference)
            case ActionKind.REJECT:
                done = await self._actions.reject(reference, actor, reason=text)
                said = render("rejected", OFFICER_LANGUAGE, reference=done.reference)
            case ActionKind.NOTE:
                _need(text, "empty_note")
                done = await self._actions.note(reference, text, actor)
                said = render("noted", OFFICER_LANGUAGE, reference=done.reference)
            case _:
                raise ActionError(render("action_unknown", OFFICER_LANGUAGE, kind=kind))
        if kind in _TO_RESIDENT and await self._opted_out(done):
            said += " " + render("agency_opted_out", OFFICER_LANGUAGE).strip()
        return ActionResult(True, said, done.reference)

    async def _opted_out(self, complaint: Complaint) -> bool:
        """Whether the resident asked for no more messages, so what was sent will not reach them."""
        async with self._uow() as uow:
            resident = await uow.residents.get(complaint.resident_id)
            return resident is not None and resident.opted_out

    async def _transfer_choices(self, reference: str, officer: Officer) -> ActionResult:
        """The agencies a complaint can be transferred to, as buttons."""
        async with self._uow() as uow:
            agencies = [
                a for a in await uow.agencies.all() if a.active and a.id != officer.agency_id
            ]
        buttons = tuple(Button(a.code, ActionKind.TRANSFER, reference, a.code) for a in agencies)
        question = render("transfer_where", OFFICER_LANGUAGE, reference=reference)
        return ActionResult(True, question, reference, buttons)

    async def _reference(self, request: ActionRequest) -> str:
        if request.reference:
            return _typed_reference(request.reference)
        if request.thread_key:
            async with self._uow() as uow:
                complaint = await uow.complaints.by_thread_keys([request.thread_key])
            if complaint is not None:
                return complaint.reference
        raise ActionError(render("which_complaint", OFFICER_LANGUAGE))

    async def _link(self, request: ActionRequest) -> ActionResult:
        identity = request.identity
        typed = (request.text or request.reference or "").strip()
        code = parse_reference(typed)
        now = self._clock.now()
        async with self._uow() as uow:
            found = await uow.officers.link_code(code) if code else None
            if found is None or found.used_at is not None or found.expires_at < now:
                return ActionResult(False, render("link_code_invalid", OFFICER_LANGUAGE))
            agency = await uow.agencies.referenced(found.agency_id)
            if found.officer_id is None:
                if not identity.group:
                    return ActionResult(False, render("link_code_for_group", OFFICER_LANGUAGE))
                agency.telegram_chat_id = identity.chat_id
                said = render("link_group_done", OFFICER_LANGUAGE, agency=agency.name)
            else:
                officer = await uow.officers.referenced(found.officer_id)
                taken = await uow.officers.by_telegram(identity.user_id)
                if taken is not None and taken.id != officer.id:
                    refusal = render("link_account_taken", OFFICER_LANGUAGE, name=taken.name)
                    return ActionResult(False, refusal)
                officer.telegram_user_id = identity.user_id
                said = render(
                    "link_officer_done",
                    OFFICER_LANGUAGE,
                    name=officer.name,
                    role=str(officer.role),
                    agency=agency.name,
                )
            found.used_at, found.used_by = now, f"{identity.channel}:{identity.user_id}"
            what = "group" if found.officer_id is None else f"officer {found.officer_id}"
            uow.audit.add(
                NewAuditEntry(
                    actor=found.used_by,
                    action="link",
                    detail=f"{what} of {agency.code} linked to "
                    f"{identity.channel} chat {identity.chat_id}",
                    created_at=now,
                )
            )
            await uow.commit()
        log.info("linked", extra={"agency": agency.code, "group": found.officer_id is None})
        return ActionResult(True, said)

    async def _listing(self, kind: ActionKind, officer: Officer) -> str:
        now = self._clock.now()
        async with self._uow() as uow:
            complaints = await uow.complaints.for_agency(officer.agency_id, OPEN_STATES)
        if kind is ActionKind.MINE:
            complaints = [c for c in complaints if c.assigned_officer_id == officer.id]
        elif kind is ActionKind.OVERDUE:
            complaints = [c for c in complaints if c.sla_running_since and c.due_at < now]
        title = render(_TITLES[kind], OFFICER_LANGUAGE)
        if not complaints:
            return render("list_empty", OFFICER_LANGUAGE, title=title)
        lines = [f"{title} ({len(complaints)}):"]
        lines += [self._line(c, now) for c in complaints[:_LISTED]]
        if len(complaints) > _LISTED:
            lines.append(render("list_more", OFFICER_LANGUAGE, count=len(complaints) - _LISTED))
        return "\n".join(lines)

    def _line(self, complaint: Complaint, now: datetime) -> str:
        late = complaint.sla_running_since is not None and complaint.due_at < now
        waiting = complaint.status == ComplaintStatus.WAITING_FOR_RESIDENT
        return render(
            "list_line",
            OFFICER_LANGUAGE,
            reference=complaint.reference,
            due=format_when(complaint.due_at, OFFICER_LANGUAGE, self._zone),
            late=render("list_late", OFFICER_LANGUAGE) if late else "",
            waiting=render("list_waiting", OFFICER_LANGUAGE) if waiting else "",
            snippet=" ".join(complaint.text.split())[:60],
        )


_TITLES = {
    ActionKind.LIST: "list_open",
    ActionKind.MINE: "list_mine",
    ActionKind.OVERDUE: "list_overdue",
}


async def _answered(work: Awaitable[ActionResult]) -> ActionResult:
    """What an action came to, or why it was refused, in words the officer can act on."""
    try:
        return await work
    except ActionError as exc:
        return ActionResult(False, str(exc))
    except IllegalTransition as exc:
        refusal = transition_refused(exc.status, exc.event, exc.allowed, OFFICER_LANGUAGE)
        return ActionResult(False, refusal)


async def _by_email(uow: UnitOfWork, address: str, reference: str | None) -> Officer | None:
    """The officer reading mail at `address`; one address may read mail for several
    agencies, and the complaint's counts."""
    complaint = await find_by_reference(uow, reference) if reference else None
    return await uow.officers.by_email(address, complaint.agency_id if complaint else None)


def _typed_reference(typed: str) -> str:
    if parse_reference(typed) is None:
        raise ActionError(render("not_a_reference", OFFICER_LANGUAGE, typed=typed))
    return typed


def _need(text: str, empty: str) -> None:
    """Refuse with the template `empty` when the officer gave no text."""
    if not text:
        raise ActionError(render(empty, OFFICER_LANGUAGE))
