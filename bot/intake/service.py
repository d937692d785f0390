"""Intake: every resident message, whatever its channel, in one transaction.

Dedupe on (channel, provider message id); find or create the resident; decide whether the
message is a command, a follow-up or a new complaint; route; write the complaint, the
message, audit rows and the outbox rows that answer it. The adapter acknowledges its
provider only after this returns, so a crash anywhere loses nothing and repeats nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from time import perf_counter
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.domain.clock import Clock
from bot.domain.commands import (
    Command,
    HelpRequest,
    LanguageChoice,
    OptIn,
    OptOut,
    RatingGiven,
    StatusQuery,
    Thanks,
    guess_language,
    parse_command,
)
from bot.domain.lifecycle import (
    MERGES_BY_TIME,
    OPEN_STATES,
    RATEABLE_STATES,
    ComplaintStatus,
    Event,
    next_status,
)
from bot.domain.privacy import ANONYMOUS_PREFIX, is_anonymous, mask_contact
from bot.domain.references import find_reference, new_reference
from bot.intake.group_commit import GroupCommit, GroupCommitStats, NeedsOwnTransaction
from bot.intake.turn import Turn, message_key
from bot.messaging.notices import notify_agency
from bot.messaging.subscriptions import OPT_OUT_CONFIRMATION, opt_in, opt_out
from bot.messaging.templates import OFFICER_LANGUAGE, format_when, render, status_label
from bot.records.queries import find_by_reference
from bot.sla.clock import SlaClock
from channels.base import (
    Address,
    Channel,
    ChannelName,
    InboundMessage,
    IntakeReceipt,
    Outcome,
    clean_text,
)
from config.settings import Settings
from routing import Decision, Router
from storage.errors import ConflictError
from storage.models import (
    Agency,
    AnyComplaint,
    Complaint,
    ComplaintHeader,
    ContactClaim,
    NamedComplaint,
    NewComplaint,
    ResidentContact,
)
from storage.repositories import SeenInbound
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

_ATTEMPTS = 5
# Messages in one transaction at most: on SQLite, the one connection is busy this long
# (about 1 ms a message) before the dispatcher and web requests get their turn.
MAX_SHARED = 32
_MIN_LETTERS = 5


class IntakeObserver(Protocol):
    """Told of every message intake has taken (the service's metrics). Called once per
    message on the hot path, after its commit: it must only count."""

    def taken(self, channel: str, seconds: float, routed_by: str | None) -> None:
        """A message on `channel` taken in `seconds`; `routed_by` names the routing rule
        when it filed a new complaint."""


class IntakeError(Exception):
    """The service cannot take this message at all (a setup problem, not the resident's)."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `messages` from one sender per `window`.

    Windows are fixed: one starts with the first message after the previous one ended.
    Messages over the limit are kept but start nothing; the first of them is told once.
    """

    messages: int
    window: timedelta

    def exceeded_by(self, counted: int) -> bool:
        return counted > self.messages

    def notice_due(self, counted: int) -> bool:
        return counted == self.messages + 1


@dataclass(slots=True)
class Arrival:
    """A message handed to intake, with what is read from it before any query: its
    cleaned text and, for a shared transaction, where routing sends it as a new complaint.
    """

    inbound: InboundMessage
    text: str
    decision: Decision | None = None


@dataclass(frozen=True, slots=True)
class IntakePolicy:
    zone: ZoneInfo
    merge_window: timedelta = timedelta(minutes=10)
    reopen_window: timedelta = timedelta(days=7)
    max_text_chars: int = 10_000
    # Channels whose residents split one complaint over several quick messages.
    merging_channels: frozenset[str] = frozenset()
    # Channels whose residents pay per SMS segment: they get the short replies.
    short_text_channels: frozenset[str] = frozenset()
    # Per sender address, on every channel; None for no limit.
    rate_limit: RateLimit | None = None

    @classmethod
    def from_settings(cls, settings: Settings, channels: Mapping[str, Channel]) -> IntakePolicy:
        """From the intake settings and what the configured channels declare."""
        return cls(
            zone=settings.zone,
            merge_window=timedelta(minutes=settings.merge_window_minutes),
            reopen_window=timedelta(days=settings.reopen_window_days),
            max_text_chars=settings.max_text_chars,
            merging_channels=frozenset(n for n, ch in channels.items() if ch.merges_bursts),
            short_text_channels=frozenset(n for n, ch in channels.items() if ch.prefers_short_text),
            rate_limit=RateLimit(*rate) if (rate := settings.sender_rate) else None,
        )


class IntakeService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        router: Router,
        sla: SlaClock,
        clock: Clock,
        policy: IntakePolicy,
        observer: IntakeObserver,
    ) -> None:
        self._uow = uow
        self._router = router
        self._sla = sla
        self._clock = clock
        self._policy = policy
        self._observer = observer
        self._group = GroupCommit(
            uow,
            shared=self._take_shared,
            alone=self._handle_alone,
            prepare=self._prepare_shared,
            max_items=MAX_SHARED,
        )

    async def caught_up(self) -> None:
        """Returns once no message waits for its transaction to begin."""
        await self._group.caught_up()

    @property
    def stats(self) -> GroupCommitStats:
        """Messages taken and the transactions they took."""
        return self._group.stats

    async def handle(self, message: InboundMessage) -> IntakeReceipt:
        """Take one message; safe to call again with the same message at any time.

        Messages handed in while another transaction runs share the next one (see
        `GroupCommit`); each caller has its receipt once its message is committed.
        """
        started = perf_counter()
        arrival = Arrival(message, clean_text(message.text))
        receipt = await self._group.submit(arrival)
        if not receipt.duplicate:
            filed = receipt.outcome is Outcome.COMPLAINT
            routed_by = arrival.decision.rule_id if filed and arrival.decision else None
            self._observer.taken(message.channel, perf_counter() - started, routed_by)
        return receipt

    async def _handle_alone(self, arrival: Arrival) -> IntakeReceipt:
        """Take one message in a transaction of its own, retrying conflicts."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with self._uow() as uow:
                    receipt = await self._take(uow, arrival, maybe_seen=attempt > 1)
                    if receipt.outcome not in _REFUSED:
                        await uow.commit()
                    return receipt
            except ConflictError:
                # The message was taken before (the unique index on its provider id said so),
                # or a concurrent delivery created the same resident, or two references
                # collided: the retry sees the winner's rows.
                if attempt == _ATTEMPTS:
                    raise
                log.info("intake conflict, retrying", extra={"attempt": attempt})
        raise AssertionError("unreachable")

    async def _prepare_shared(self, uow: UnitOfWork, arrivals: list[Arrival]) -> None:
        """Route a shared transaction's messages, then look up the messages (redelivered?),
        their senders and the agencies, each in one query."""
        # Routed one after another, with the router's tables still in the processor's
        # caches, each costs about a third of routing it between database work; the few
        # that turn out to be follow-ups or commands waste less than that saves.
        for arrival in arrivals:
            if arrival.inbound.reference is None and arrival.inbound.transcript_of is None:
                arrival.decision = self._route(arrival.inbound, arrival.text)
        messages = [arrival.inbound for arrival in arrivals]
        await uow.messages.prefetch_inbound((m.channel, m.provider_message_id) for m in messages)
        addresses = (_sender_address(message) for message in messages)
        # Held (locked) when every message is counted against its sender's rate limit.
        hold = self._policy.rate_limit is not None
        await uow.residents.prefetch(((a.channel, a.address) for a in addresses), hold=hold)
        await uow.agencies.prefetch()

    async def _take_shared(self, uow: UnitOfWork, arrival: Arrival) -> IntakeReceipt:
        """Take one message in a transaction shared with others, without committing."""
        # A provider's retry comes when it is busy, thus when transactions are shared:
        # answered from the look-up above, it does not send the others through again.
        receipt = await self._take(uow, arrival, maybe_seen=True)
        if receipt.outcome in _REFUSED:
            # Nothing of it may be stored, but it may have written its sender already.
            raise NeedsOwnTransaction(receipt.outcome)
        # The next message of the transaction may continue this one's complaint.
        await uow.flush_changes()
        return receipt

    async def _take(self, uow: UnitOfWork, arrival: Arrival, *, maybe_seen: bool) -> IntakeReceipt:
        inbound, text = arrival.inbound, arrival.text
        # Redeliveries are rare, so a message alone is not looked for at first: the unique
        # index on (channel, provider id) refuses a second copy at commit, and the retry
        # after that conflict looks it up and answers as the first time. (A shared
        # transaction looked all its messages up at once before it began.)
        if maybe_seen:
            seen = await uow.messages.find_inbound(inbound.channel, inbound.provider_message_id)
            if seen is not None:
                return await self._replay_receipt(uow, seen, inbound)
        resident, is_new = await self._resident(uow, inbound, text)
        now = self._clock.now()
        turn = Turn(uow, inbound, resident, text, now, is_new, arrival.decision)
        receipt = await self._decide(turn)
        arrival.decision = turn.decision  # routed here if not before: what filed it
        return receipt

    async def _decide(self, turn: Turn) -> IntakeReceipt:
        inbound = turn.inbound
        if turn.resident.blocked or await _claims_blocked(turn):
            await turn.record(None, "blocked")
            return IntakeReceipt(Outcome.BLOCKED, "")
        if inbound.transcript_of is not None:
            return await self._transcript(turn, inbound.transcript_of)
        command = self._command_in(turn)
        limit = self._policy.rate_limit
        # Stopping messages is always possible, however much the resident sent.
        if (
            limit is not None
            and limit.exceeded_by(turn.resident.window_messages)
            and not _changes_subscription(turn.resident, command)
        ):
            return await self._over_limit(turn, limit)
        if inbound.reference is not None:
            complaint = await find_by_reference(turn.uow, inbound.reference)
            if complaint is not None and await self._is_complainant(turn, complaint):
                if inbound.rating is not None and inbound.holds_tracking_link:
                    return await self._command(turn, RatingGiven(inbound.rating), complaint)
                return await self._follow_up(turn, complaint, explicit=True)
            if inbound.channel != ChannelName.EMAIL:
                if complaint is None:
                    return IntakeReceipt(
                        Outcome.UNKNOWN_REFERENCE,
                        render("status_unknown", turn.language, typed=inbound.reference),
                    )
                return IntakeReceipt(
                    Outcome.NOT_COMPLAINANT,
                    render("not_complainant", turn.language, reference=complaint.reference),
                )
            # By email a refusal would reach nobody (nothing of it is stored, so nothing is
            # sent): the mail is taken as if it named no complaint, below.
        if command is not None:
            if isinstance(command, RatingGiven) and (waiting := await self._waiting_for(turn)):
                # "Di RT berapa?" is answered with a number: the agency's question comes first.
                return await self._follow_up(turn, waiting, explicit=True)
            return await self._command(turn, command)
        target, explicit = await self._follow_up_target(turn)
        if target is not None:
            return await self._follow_up(turn, target, explicit=explicit)
        if (
            not inbound.attachments
            and inbound.location is None
            and _letters(turn.text) < _MIN_LETTERS
        ):
            reply = render("too_short", turn.language)
            await turn.record(None, "needs_detail")
            turn.reply(reply)
            return IntakeReceipt(Outcome.NEEDS_DETAIL, reply)
        return await self._new_complaint(turn)

    # --- who is writing -------------------------------------------------------------

    async def _is_complainant(self, turn: Turn, complaint: Complaint) -> bool:
        """Whether this sender may add to the complaint they named by its reference.

        A complaint filed with a phone number or email takes additions only from that
        contact; one filed on the web, from whoever holds its reference and names the contact
        it was filed with, if any (the same claim, as unproven as before: it only adds).
        """
        if complaint.resident_id == turn.resident_id or turn.inbound.holds_tracking_link:
            return True
        owner = await turn.uow.residents.get(complaint.resident_id)
        if owner is None or complaint.id is None:
            return False
        claim = await turn.uow.claims.for_complaint(complaint.id)
        claimed = turn.inbound.claimed_contact
        names_the_claim = (
            claim is not None
            and claimed is not None
            and (claimed.channel, claimed.address) == (claim.channel, claim.address)
        )
        if is_anonymous(owner.address):
            return claim is None or names_the_claim
        # Filed on the web and confirmed since: from the web it still takes additions that
        # name the contact it was filed with (from that address itself they are the owner's).
        return turn.inbound.sender is None and names_the_claim

    async def _resident(
        self, uow: UnitOfWork, inbound: InboundMessage, text: str
    ) -> tuple[ResidentContact, bool]:
        """The sender, and whether they write for the first time."""
        address = _sender_address(inbound)
        resident = await uow.residents.contact(address.channel, address.address)
        if resident is None:
            resident = await uow.residents.insert(
                address.channel,
                address.address,
                language=inbound.language or inbound.language_hint or guess_language(text),
                display_name=inbound.display_name,
                created_at=self._clock.now(),
                window_started_at=inbound.received_at,
                window_messages=1,
            )
            return resident, True
        if inbound.language and inbound.language != resident.language:
            resident = await self._set_language(uow, resident, inbound.language)
        if self._policy.rate_limit is not None:
            window = self._policy.rate_limit.window
            resident = await uow.residents.count_message(resident, inbound.received_at, window)
        return resident, False

    async def _set_language(
        self, uow: UnitOfWork, resident: ResidentContact, language: str
    ) -> ResidentContact:
        await uow.residents.set_language(resident.id, language)
        return replace(resident, language=language)

    # --- commands ---------------------------------------------------------------------

    def _command_in(self, turn: Turn) -> Command | None:
        """The command this message is, if any: only text alone, with no reference named."""
        inbound = turn.inbound
        # A report filed in a chosen category is a report, whatever words it holds.
        if inbound.attachments or inbound.reference is not None or inbound.category is not None:
            return None
        command = parse_command(turn.text)
        if isinstance(command, OptIn) and command.only_after_opt_out:
            return command if turn.resident.opted_out else None
        return command

    async def _command(
        self, turn: Turn, command: Command, named: Complaint | None = None
    ) -> IntakeReceipt:
        """Carry out a resident's command; `named`, the complaint a rating names (its
        tracking page's), else the resident's own are looked for."""
        complaint: Complaint | None = None
        reply: str | None
        kind = "reply"
        match command:
            case StatusQuery(reference=None, typed=typed):
                reply = render(
                    "status_unknown" if typed else "status_missing", turn.language, typed=typed
                )
            case StatusQuery(reference=str(reference)):
                complaint = await turn.uow.complaints.by_reference(reference)
                reply = (
                    await self._status_text(turn, complaint)
                    if complaint
                    else render("status_unknown", turn.language, typed=reference)
                )
            case LanguageChoice(language=None):
                reply = render("language_unknown", turn.language)
            case LanguageChoice(language=str(language)):
                turn.resident = await self._set_language(turn.uow, turn.resident, language)
                reply = render("language_set", language)
            case RatingGiven(score=score):
                complaint = await self._to_rate(turn, named)
                if complaint is None:
                    rated = named or await self._latest_rated(turn)
                    if rated is not None and rated.rating is not None:
                        complaint = rated
                        reply = render(
                            "rating_already",
                            turn.language,
                            reference=rated.reference,
                            score=rated.rating,
                        )
                    else:
                        reply = render("rating_nothing", turn.language)
                else:
                    complaint.rating = score
                    complaint.updated_at = turn.now
                    turn.audit(complaint, "rate", detail=f"rating {score}/5")
                    reply = render(
                        "rating_thanks", turn.language, score=score, reference=complaint.reference
                    )
            case HelpRequest():
                reply = render("help", turn.language)
            case Thanks():
                # Kept on the complaint it thanks for, where officers read it; answered by
                # nothing (an SMS back would cost the resident's patience and a segment).
                complaint = await self._latest_changed(turn)
                reply = None if complaint else render("too_short", turn.language)
            case OptOut() | OptIn() if turn.inbound.sender is None:
                # Only the address itself may stop or restart messages to it; a web form's
                # sender has none (the contact it names is only claimed).
                reply = render("subscription_from_the_address", turn.language)
            case OptOut(keyword=keyword):
                # Confirmed once: a second STOP changes nothing and is not answered.
                reply = None
                if opted_out := await opt_out(turn.uow, turn.resident, at=turn.now, via=keyword):
                    turn.resident = opted_out
                    reply = render("opted_out", turn.language, medium=turn.medium())
                kind = OPT_OUT_CONFIRMATION
            case OptIn(keyword=keyword):
                if opted_in := await opt_in(turn.uow, turn.resident, at=turn.now, via=keyword):
                    turn.resident = opted_in
                    reply = render("opted_in", turn.language, medium=turn.medium())
                else:
                    reply = render("help", turn.language)
        # A command is kept with the complaint it concerns only when that is the sender's own
        # (or they hold its tracking link): anyone may ask the status of a reference, and
        # add nothing to it by asking.
        own = (
            complaint
            if complaint is not None
            and (complaint.resident_id == turn.resident_id or named is not None)
            else None
        )
        await turn.record(own, "command")
        if reply is not None:
            turn.reply(reply, own, kind=kind)
        return IntakeReceipt(
            Outcome.COMMAND,
            reply or "",
            reference=complaint.reference if complaint else None,
            status=complaint.status if complaint else None,
        )

    async def _latest_rated(self, turn: Turn) -> Complaint | None:
        """The resident's latest complaint changed within the reopen window, if rated."""
        latest = await self._latest_changed(turn)
        return latest if latest is not None and latest.rating is not None else None

    async def _latest_changed(self, turn: Turn) -> Complaint | None:
        """The resident's complaint changed most recently within the reopen window."""
        since = turn.inbound.received_at - self._policy.reopen_window
        return await turn.uow.complaints.latest_changed(turn.resident_id, since)

    async def _to_rate(self, turn: Turn, named: Complaint | None) -> Complaint | None:
        """The complaint a rating is for: the one named once it has an answer, else the
        resident's latest closed within the reopen window; None if rated already."""
        if named is not None:
            rateable = named.status in RATEABLE_STATES and named.rating is None
            return named if rateable else None
        since = turn.inbound.received_at - self._policy.reopen_window
        return await turn.uow.complaints.awaiting_rating(
            turn.resident_id, since, closed=ComplaintStatus.CLOSED
        )

    async def _status_text(self, turn: Turn, complaint: Complaint) -> str:
        agency = await turn.uow.agencies.referenced(complaint.agency_id)
        return render(
            "status",
            turn.language,
            short=self._short(turn),
            reference=complaint.reference,
            status=status_label(ComplaintStatus(complaint.status), turn.language),
            **self._agency_and_due(turn, agency, complaint),
        )

    # --- over the rate limit ---------------------------------------------------------

    async def _over_limit(self, turn: Turn, limit: RateLimit) -> IntakeReceipt:
        """Keep the message with the resident's open complaint, if any, and start nothing:
        no complaint, no agency notice, and one notice to the resident per window. Except
        the answer an agency waits for: it reaches the agency and its clock runs again,
        however much the resident sent (a flood goes on being held back after it)."""
        waiting, _ = await turn.uow.complaints.awaiting_or_active(
            turn.resident_id, None, waiting=ComplaintStatus.WAITING_FOR_RESIDENT
        )
        if waiting is not None:
            return await self._follow_up(turn, waiting, explicit=False)
        resident = turn.resident
        started = resident.window_started_at or turn.inbound.received_at
        latest = await turn.uow.complaints.latest_for_resident(turn.resident_id, started)
        complaint = latest if latest is not None and latest.status in OPEN_STATES else None
        await turn.record(complaint, "throttled")
        reply = ""
        if limit.notice_due(resident.window_messages):
            until = format_when(started + limit.window, turn.language, self._policy.zone)
            reply = render("throttled", turn.language, until=until)
            turn.reply(reply, complaint)
        return IntakeReceipt(
            Outcome.THROTTLED, reply, reference=complaint.reference if complaint else None
        )

    # --- follow-ups -------------------------------------------------------------------

    async def _waiting_for(self, turn: Turn) -> Complaint | ComplaintHeader | None:
        """The resident's complaint whose agency waits for their answer, if any."""
        if turn.first_contact:
            return None
        waiting, _ = await turn.uow.complaints.awaiting_or_active(
            turn.resident_id, None, waiting=ComplaintStatus.WAITING_FOR_RESIDENT
        )
        return waiting

    async def _follow_up_target(
        self, turn: Turn
    ) -> tuple[Complaint | ComplaintHeader | None, bool]:
        """The complaint this message continues, and whether the resident said so explicitly."""
        uow, inbound = turn.uow, turn.inbound
        email = inbound.channel == ChannelName.EMAIL
        # Whether the message named a complaint of someone else's.
        foreign = False
        if inbound.thread_keys:
            # A reply by email may name the resident's own first mail by its Message-ID.
            complaint = await uow.complaints.by_thread_keys(
                inbound.thread_keys, own_ids_of=inbound.channel if email else None
            )
            # Only the complaint's resident continues it by answering one of its messages:
            # anyone else's reply-all, quoting our Message-ID, is a complaint of their own.
            if complaint is not None and complaint.resident_id == turn.resident_id:
                return complaint, True
            foreign = complaint is not None
        reference = inbound.reference or find_reference(f"{inbound.subject or ''}\n{turn.text}")
        if reference is not None:
            complaint = await uow.complaints.by_reference(reference)
            # Only the complainant continues a complaint by quoting its number; anyone else
            # quoting it starts a complaint of their own.
            if complaint is not None and complaint.resident_id == turn.resident_id:
                return complaint, True
            foreign = foreign or complaint is not None
        # A mail about someone else's complaint is not the answer to a question the agency
        # asked its sender about theirs: it is a complaint of its own.
        if turn.first_contact or (email and foreign):
            return None, False
        merges = inbound.channel in self._policy.merging_channels and self._policy.merge_window
        since = inbound.received_at - self._policy.merge_window if merges else None
        waiting, latest = await uow.complaints.awaiting_or_active(
            turn.resident_id, since, waiting=ComplaintStatus.WAITING_FOR_RESIDENT
        )
        # The agency asked this resident a question: their next message is the answer,
        # however long they took, on channels that cannot thread a reply (SMS).
        if waiting is not None:
            return waiting, True
        if (
            latest is not None
            and latest.status in MERGES_BY_TIME
            and latest.first_response_at is None
        ):
            return latest, False
        return None, False

    async def _follow_up(
        self, turn: Turn, complaint: Complaint | ComplaintHeader, *, explicit: bool
    ) -> IntakeReceipt:
        if complaint.status not in OPEN_STATES:
            stored = await turn.uow.complaints.load(complaint)
            closed_at = stored.closed_at or stored.updated_at
            if turn.inbound.received_at - closed_at > self._policy.reopen_window:
                return await self._new_complaint(turn)
            return await self._reopen(turn, stored)
        if complaint.status == ComplaintStatus.WAITING_FOR_RESIDENT:
            # The resident answered the agency's question: the SLA clock runs again.
            complaint = await turn.uow.complaints.load(complaint)
            turn.transition(complaint, Event.RESIDENT_REPLIED)
            self._sla.resume(complaint, turn.inbound.received_at)
        await turn.uow.complaints.touch(complaint, message_at=turn.inbound.received_at, at=turn.now)
        attachments = await turn.record(complaint, "follow_up")
        agency = await turn.uow.agencies.referenced(complaint.agency_id)
        # Joined by time alone a complaint nobody has acted on: "Selamat pagi pak", then the
        # problem. Waiting at the fallback agency, it is routed by what it now says.
        if (
            not explicit
            and complaint.status == ComplaintStatus.ASSIGNED
            and (target := await self._reroute_merged(turn, complaint, agency, attachments))
        ):
            return self._receipt(Outcome.FOLLOW_UP, "", complaint, target)
        turn.notify_agency(
            agency,
            complaint,
            render(
                "agency_follow_up", OFFICER_LANGUAGE, reference=complaint.reference, text=turn.text
            )
            + turn.unreachable(),
            attachments=attachments,
        )
        # Added without a word to the sender unless they named the complaint; the receipt
        # says what was said, as a redelivery's will (from the outbox).
        reply = ""
        if explicit:
            reply = render(
                "ack_follow_up", turn.language, reference=complaint.reference, agency=agency.name
            )
            turn.reply(reply, complaint)
        return self._receipt(Outcome.FOLLOW_UP, reply, complaint, agency)

    async def _reopen(self, turn: Turn, complaint: Complaint) -> IntakeReceipt:
        turn.transition(complaint, Event.REOPEN)
        agency = await turn.uow.agencies.referenced(complaint.agency_id)
        complaint.closed_at = None
        self._sla.start(complaint, agency, turn.inbound.received_at)
        complaint.last_message_at = turn.inbound.received_at
        await turn.record(complaint, "follow_up")
        due = format_when(complaint.due_at, OFFICER_LANGUAGE, self._policy.zone)
        turn.notify_agency(
            agency,
            complaint,
            render(
                "agency_reopened",
                OFFICER_LANGUAGE,
                reference=complaint.reference,
                text=turn.text,
                due=due,
            )
            + turn.unreachable(),
        )
        reply = render(
            "ack_reopened", turn.language, reference=complaint.reference, agency=agency.name
        )
        turn.reply(reply, complaint)
        return self._receipt(Outcome.REOPENED, reply, complaint, agency)

    # --- new complaints ---------------------------------------------------------------

    async def _new_complaint(self, turn: Turn) -> IntakeReceipt:
        inbound, uow = turn.inbound, turn.uow
        location = inbound.location
        decision = turn.decision = turn.decision or self._route(inbound, turn.text)
        # An agency removed from the directory after the rules were written: fall back.
        agency = await uow.agencies.by_code(decision.agency_code) or await uow.agencies.fallback()
        if agency is None or agency.id is None:
            raise IntakeError(
                f"routing chose agency {decision.agency_code!r}, which is not in the database, "
                "and no fallback agency is configured: run `aduan db upgrade` to load the defaults"
            )
        limit = self._policy.max_text_chars
        complaint = NewComplaint(
            reference=new_reference(),
            resident_id=turn.resident_id,
            channel=inbound.channel,
            # Routed before it is stored: written as assigned, with both steps audited below.
            status=next_status(ComplaintStatus.NEW, Event.ASSIGN),
            agency_id=agency.id,
            text=turn.text[:limit],
            subject=inbound.subject[:500] if inbound.subject else None,
            location_text=location.description[:500] if location and location.description else None,
            latitude=location.latitude if location else None,
            longitude=location.longitude if location else None,
            routing_rule=decision.rule_id,
            routing_version=decision.version,
            routing_terms=", ".join(decision.matched_terms)[:1000],
            routing_explanation=decision.explanation_id,
            received_at=inbound.received_at,
            due_at=inbound.received_at,  # set by the SLA clock below
            last_message_at=inbound.received_at,
            updated_at=turn.now,
        )
        self._sla.start(complaint, agency, inbound.received_at)
        await uow.complaints.insert(complaint)
        turn.audit(complaint, "create", to_status=ComplaintStatus.NEW, detail=inbound.channel)
        turn.audit(
            complaint,
            Event.ASSIGN.value,
            from_status=ComplaintStatus.NEW,
            to_status=complaint.status,
            detail=f"{agency.code} by {decision.rule_id}: {decision.explanation_en}",
        )
        attachments = await turn.record(complaint, "complaint")
        if (claimed := inbound.claimed_contact) is not None and complaint.id is not None:
            uow.claims.add(
                ContactClaim(
                    complaint_id=complaint.id,
                    channel=claimed.channel,
                    address=claimed.address,
                    created_at=turn.now,
                )
            )
        turn.notify_agency(
            agency,
            complaint,
            self._new_complaint_notice(turn, complaint, decision) + turn.unreachable(),
            actions=True,
            attachments=attachments,
        )
        short = self._short(turn)
        reply = render(
            "ack_new",
            turn.language,
            short=short,
            reference=complaint.reference,
            **self._agency_and_due(turn, agency, complaint),
        )
        if len(turn.text) > limit:
            reply += render("long_text_kept", turn.language, short=short)
        turn.reply(reply, complaint)
        return self._receipt(Outcome.COMPLAINT, reply, complaint, agency)

    def _route(self, inbound: InboundMessage, text: str) -> Decision:
        """Where the message goes as a new complaint: by the category its sender chose, or
        else by its subject, text and place (also when the category's rule was removed since
        the sender saw it)."""
        if inbound.category is not None and (chosen := self._router.chosen(inbound.category)):
            return chosen
        location = inbound.location
        routed_text = "\n".join(
            part for part in (inbound.subject, text, location and location.description) if part
        )
        return self._router.decide(
            routed_text,
            inbound.channel,
            location.latitude if location else None,
            location.longitude if location else None,
        )

    def _new_complaint_notice(self, turn: Turn, complaint: AnyComplaint, decision: Decision) -> str:
        return render(
            "agency_new",
            OFFICER_LANGUAGE,
            reference=complaint.reference,
            channel=complaint.channel,
            contact=mask_contact(turn.resident.address),
            text=complaint.text,
            location=complaint.location_text or _coordinates(complaint) or "-",
            why=decision.explanation_id,
            due=format_when(complaint.due_at, OFFICER_LANGUAGE, self._policy.zone),
        )

    # --- transcripts of voice messages -----------------------------------------------

    async def _transcript(self, turn: Turn, voice_id: str) -> IntakeReceipt:
        """A machine transcript of an earlier voice message, added to that message's
        complaint; the complaint is routed again by it while it waits untouched at the
        fallback agency, where a recording without text is routed."""
        uow = turn.uow
        voice = await uow.messages.find_inbound(turn.inbound.channel, voice_id)
        complaint = (
            await uow.complaints.get(voice.complaint_id)
            if voice is not None and voice.complaint_id is not None
            else None
        )
        if voice is None or complaint is None:
            # Transcribed before the recording was reported: the channel delivers the
            # recording with this text, then this transcript again.
            return IntakeReceipt(Outcome.UNKNOWN_REFERENCE, "")
        await turn.record(complaint, "transcript")
        agency = await uow.agencies.referenced(complaint.agency_id)
        if turn.text in complaint.text:
            # The complaint was made from this transcript: the agency has read it.
            return self._receipt(Outcome.FOLLOW_UP, "", complaint, agency)
        complaint.updated_at = turn.now
        target = None
        if voice.kind == "complaint":  # not a follow-up: the transcript is the complaint's text
            complaint.text = f"{turn.text}\n\n{complaint.text}"[: self._policy.max_text_chars]
            target = await self._reroute(
                turn,
                complaint,
                agency,
                by=turn.text,
                source_of="the voice message's transcript",
                attachments=await uow.messages.attachment_ids(voice.id),
            )
        if target is None:
            turn.notify_agency(
                agency,
                complaint,
                render(
                    "agency_transcript",
                    OFFICER_LANGUAGE,
                    reference=complaint.reference,
                    text=turn.text,
                ),
            )
        return self._receipt(Outcome.FOLLOW_UP, "", complaint, target or agency)

    async def _reroute_merged(
        self,
        turn: Turn,
        merged_into: Complaint | ComplaintHeader,
        source: Agency,
        attachments: list[int],
    ) -> Agency | None:
        """Route again, by its text and this message's, a complaint this message joined by
        time alone; the agency it went to, or None where it stays."""
        complaint = await turn.uow.complaints.load(merged_into)
        text = f"{complaint.text}\n\n{turn.text}"[: self._policy.max_text_chars]
        target = await self._reroute(
            turn,
            complaint,
            source,
            by=text,
            source_of="the message that followed within the merge window",
            attachments=attachments,
        )
        if target is not None:
            complaint.text = text  # what the new agency's notice shows as the complaint
        return target

    async def _reroute(
        self,
        turn: Turn,
        complaint: Complaint,
        source: Agency,
        *,
        by: str,
        source_of: str,
        attachments: list[int],
    ) -> Agency | None:
        """Route the complaint by the text `by` if nobody has acted on it at the fallback
        agency; the agency it went to, or None where it stays. `source_of` says in the
        audit where that text came from."""
        uow = turn.uow
        # Assigned is the status nobody has acted on yet (taking it makes it in progress).
        if complaint.status != ComplaintStatus.ASSIGNED:
            return None
        fallback = await uow.agencies.fallback()
        if fallback is None or fallback.id != source.id:
            return None
        decision = self._router.decide(by, turn.inbound.channel)
        target = await uow.agencies.by_code(decision.agency_code)
        if target is None or target.id is None or target.id == source.id or not target.active:
            return None
        # The due date stays: the caller was told it by SMS, and the time already ran.
        complaint.agency_id = target.id
        complaint.routing_rule = decision.rule_id
        complaint.routing_version = decision.version
        complaint.routing_terms = ", ".join(decision.matched_terms)[:1000]
        complaint.routing_explanation = decision.explanation_id
        turn.audit(
            complaint,
            Event.ASSIGN.value,
            from_status=complaint.status,
            to_status=complaint.status,
            detail=f"{source.code} → {target.code} by {decision.rule_id} from {source_of}: "
            f"{decision.explanation_en}",
        )
        turn.notify_agency(
            target,
            complaint,
            self._new_complaint_notice(turn, complaint, decision),
            actions=True,
            attachments=attachments,
        )
        notify_agency(
            uow,
            source,
            complaint,
            render(
                "agency_rerouted",
                OFFICER_LANGUAGE,
                reference=complaint.reference,
                agency=target.name,
                text=turn.text,
            ),
            key=f"{turn.message_key}:rerouted",
            actor=turn.actor,
            at=turn.now,
        )
        return target

    # --- writing ----------------------------------------------------------------------

    def _short(self, turn: Turn) -> bool:
        """Whether the resident's answers go where each segment costs (SMS)."""
        return turn.resident.channel in self._policy.short_text_channels

    def _agency_and_due(
        self, turn: Turn, agency: Agency, complaint: AnyComplaint
    ) -> dict[str, str]:
        """The values a reply names its agency and due date with, long and short."""
        zone = self._policy.zone
        return {
            "agency": agency.name,
            "agency_code": agency.code,
            "due": format_when(complaint.due_at, turn.language, zone),
            "due_short": format_when(complaint.due_at, turn.language, zone, short=True),
        }

    def _receipt(
        self, outcome: Outcome, reply: str, complaint: NamedComplaint, agency: Agency
    ) -> IntakeReceipt:
        return IntakeReceipt(
            outcome,
            reply,
            reference=complaint.reference,
            agency_code=agency.code,
            agency_name=agency.name,
            due_at=complaint.due_at,
            status=complaint.status,
        )

    async def _replay_receipt(
        self, uow: UnitOfWork, seen: SeenInbound, inbound: InboundMessage
    ) -> IntakeReceipt:
        """The same answer the first delivery got, without doing anything again."""
        reply_row = await uow.outbox.by_key(f"reply:{message_key(inbound)}")
        reply = reply_row.text if reply_row else ""
        outcome = _OUTCOME_OF_KIND.get(seen.kind, Outcome.COMMAND)
        if seen.complaint_id is None:
            return IntakeReceipt(outcome, reply, duplicate=True)
        complaint = await uow.complaints.referenced(seen.complaint_id)
        agency = await uow.agencies.referenced(complaint.agency_id)
        return replace(self._receipt(outcome, reply, complaint, agency), duplicate=True)


# Outcomes that leave no trace: the sender is told why and nothing is stored.
_REFUSED = frozenset({Outcome.UNKNOWN_REFERENCE, Outcome.NOT_COMPLAINANT})

_OUTCOME_OF_KIND = {
    "complaint": Outcome.COMPLAINT,
    "follow_up": Outcome.FOLLOW_UP,
    "command": Outcome.COMMAND,
    "needs_detail": Outcome.NEEDS_DETAIL,
    "transcript": Outcome.FOLLOW_UP,
    "throttled": Outcome.THROTTLED,
    "blocked": Outcome.BLOCKED,
}


def _sender_address(inbound: InboundMessage) -> Address:
    """Where the resident who sent this is answered: their resident row's address."""
    return inbound.reply_to or Address(
        inbound.channel, inbound.sender or ANONYMOUS_PREFIX + inbound.provider_message_id
    )


async def _claims_blocked(turn: Turn) -> bool:
    """Whether the message names, as its contact, an address an admin blocked: admins block
    a web form's abuser by the contact it gives."""
    claimed = turn.inbound.claimed_contact
    if claimed is None:
        return False
    holder = await turn.uow.residents.contact(claimed.channel, claimed.address)
    return holder is not None and holder.blocked


def _changes_subscription(resident: ResidentContact, command: Command | None) -> bool:
    if isinstance(command, OptOut):
        return not resident.opted_out
    return isinstance(command, OptIn) and resident.opted_out


def _coordinates(complaint: AnyComplaint) -> str | None:
    if complaint.latitude is None or complaint.longitude is None:
        return None
    return f"{complaint.latitude:.5f}, {complaint.longitude:.5f}"


def _letters(text: str) -> int:
    return sum(map(str.isalpha, text))
