"""The chaser: reminds agencies before they miss the SLA, and marks breaches.

Each sweep reads only complaints whose `next_chase_at` has come (an indexed column), so
its cost follows the reminders due, not the number of complaints. Ladder: 50 % → the
agency's group, 75 % → the assigned officer, 90 % → the agency's supervisors, 100 % →
admins and the complaint is marked overdue, then a daily reminder. A stage is sent once
per complaint: the stage is recorded in the same transaction as its outbox rows, rows
are keyed by complaint, stage and recipient, and PostgreSQL sweepers skip complaints
another sweeper holds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.clock import Clock
from bot.domain.lifecycle import OPEN_STATES
from bot.messaging.notices import agency_contact, officer_contact
from bot.messaging.reminders import REMINDER
from bot.messaging.templates import OFFICER_LANGUAGE, format_when, render
from bot.records.history import audit
from bot.sla.clock import BREACH, SlaClock
from channels.base import Address
from channels.contact import ContactError, parse_contact
from config.settings import Settings, SettingsError
from storage.models import Agency, Complaint, NewOutboxMessage, Officer
from storage.roles import OfficerRole
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

_STAGE_TEXT = {1: "chase_half", 2: "chase_officer", 3: "chase_supervisor", 4: "chase_breach"}


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Night hours when reminders to individual people wait (may span midnight)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        start, end = (time.fromisoformat(part) for part in text.split("-"))
        return cls(start, end)

    def release(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """`moment`, or the end of the quiet hours it falls in."""
        local = moment.astimezone(zone)
        now = local.time()
        inside = (
            (self.start <= now or now < self.end)
            if self.start > self.end
            else self.start <= now < self.end
        )
        if not inside:
            return moment
        end = datetime.combine(local.date(), self.end, zone)
        return end if end > local else end + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ChasePolicy:
    zone: ZoneInfo
    quiet_hours: QuietHours | None = None
    quiet_hours_apply_to_breaches: bool = False
    # Who hears of breaches when no admin officer is registered.
    admin_contact: Address | None = None
    batch: int = 200

    @classmethod
    def from_settings(cls, settings: Settings) -> ChasePolicy:
        """From ADUAN_QUIET_HOURS*, ADUAN_ADMIN_CONTACT and ADUAN_CHASE_BATCH."""
        try:
            admin = parse_contact(settings.admin_contact) if settings.admin_contact else None
        except ContactError as exc:
            raise SettingsError(f"ADUAN_ADMIN_CONTACT: {exc}") from None
        quiet = settings.quiet_hours
        return cls(
            zone=settings.zone,
            quiet_hours=QuietHours.parse(quiet) if quiet else None,
            quiet_hours_apply_to_breaches=settings.quiet_hours_apply_to_breaches,
            admin_contact=admin,
            batch=settings.chase_batch,
        )


@dataclass(frozen=True, slots=True)
class _Recipient:
    address: Address
    person: bool  # an individual (quiet hours apply), not a group or an office mailbox


class Chaser:
    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, sla: SlaClock, policy: ChasePolicy
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._sla = sla
        self._policy = policy

    async def sweep(self) -> int:
        """Send every reminder due now; returns how many outbox rows were queued."""
        now = self._clock.now()
        queued = 0
        while True:
            async with self._uow() as uow:
                due = await uow.complaints.chase_due(now, self._policy.batch)
                agencies = {agency.id: agency for agency in await uow.agencies.all()}
                reminders: list[NewOutboxMessage] = []
                for complaint in due:
                    reminders += await self._chase(
                        uow, complaint, agencies[complaint.agency_id], now
                    )
                # A key already queued means that reminder went out before: never twice.
                sent = await uow.outbox.existing_keys([row.key for row in reminders])
                fresh = [row for row in reminders if row.key not in sent]
                for row in fresh:
                    uow.outbox.add(row)
                queued += len(fresh)
                await uow.commit()
            if len(due) < self._policy.batch:
                break
        if queued:
            log.info("reminders queued", extra={"count": queued})
        return queued

    async def _chase(
        self, uow: UnitOfWork, complaint: Complaint, agency: Agency, now: datetime
    ) -> list[NewOutboxMessage]:
        """The reminders one complaint is due; records the stage and plans the next."""
        if complaint.sla_running_since is None or complaint.status not in OPEN_STATES:
            complaint.next_chase_at = None  # stale: the clock stopped since it was planned
            return []
        stage = self._sla.crossed(complaint, now)
        if stage <= complaint.chase_stage:
            self._sla.advance(complaint, complaint.chase_stage)
            return []
        # After downtime several stages may have passed: only the latest is worth sending.
        recipients = await self._recipients(uow, complaint, agency, stage)
        text = self._text(complaint, agency, stage, now)
        reminders = []
        for recipient in recipients:
            to = recipient.address
            # The due time tells a clock from the next: a reopened complaint, or one whose
            # transfer restarted its clock, is reminded again from stage 1.
            life = int(complaint.due_at.timestamp())
            key = f"chase:{complaint.id}:{life}:{stage}:{to.channel}:{to.address}"
            quiet = self._policy.quiet_hours
            waits = (
                recipient.person
                and quiet
                and (stage < BREACH or self._policy.quiet_hours_apply_to_breaches)
            )
            reminders.append(
                NewOutboxMessage(
                    key=key,
                    kind=REMINDER,
                    channel=to.channel,
                    recipient=to.address,
                    complaint_id=complaint.id,
                    subject=render(
                        "chase_subject", OFFICER_LANGUAGE, reference=complaint.reference
                    ),
                    text=text,
                    language=OFFICER_LANGUAGE,
                    next_attempt_at=quiet.release(now, self._policy.zone)
                    if waits and quiet
                    else now,
                    created_at=now,
                )
            )
        if stage >= BREACH > complaint.chase_stage:
            audit(
                uow,
                complaint,
                "overdue",
                actor="system",
                at=now,
                detail=f"due {complaint.due_at.isoformat()}",
            )
        audit(
            uow,
            complaint,
            "chase",
            actor="system",
            at=now,
            detail=f"stage {stage}, {len(reminders)} reminders",
        )
        self._sla.advance(complaint, stage)
        return reminders

    async def _recipients(
        self, uow: UnitOfWork, complaint: Complaint, agency: Agency, stage: int
    ) -> list[_Recipient]:
        group = agency_contact(agency)
        people: list[Officer] = []
        if stage == 2 and complaint.assigned_officer_id is not None:
            officer = await uow.officers.get(complaint.assigned_officer_id)
            people = [officer] if officer is not None and officer.active else []
        elif stage == 3:
            people = list(await uow.officers.with_role(OfficerRole.SUPERVISOR, agency.id))
        elif stage == BREACH:
            people = list(await uow.officers.with_role(OfficerRole.ADMIN))
        recipients = [_Recipient(a, True) for a in map(officer_contact, people) if a is not None]
        if stage == BREACH and not recipients and self._policy.admin_contact:
            recipients = [_Recipient(self._policy.admin_contact, False)]
        if stage > BREACH:
            supervisors = await uow.officers.with_role(OfficerRole.SUPERVISOR, agency.id)
            recipients = [_Recipient(a, True) for a in map(officer_contact, supervisors) if a]
            recipients += [_Recipient(group, False)] if group else []
        # Someone must hear: with nobody more specific, the agency's own contact.
        if not recipients and group is not None:
            recipients = [_Recipient(group, False)]
        return recipients

    def _text(self, complaint: Complaint, agency: Agency, stage: int, now: datetime) -> str:
        key = _STAGE_TEXT.get(stage, "chase_daily")
        return render(
            key,
            OFFICER_LANGUAGE,
            reference=complaint.reference,
            agency=agency.name,
            due=format_when(complaint.due_at, OFFICER_LANGUAGE, self._policy.zone),
            days=max((now - complaint.due_at).days, 1),
            text=" ".join(complaint.text.split())[:200],
        )
