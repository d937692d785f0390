"""A complaint's SLA clock: started at intake, paused while waiting for the resident,
stopped by the first answer, and the times its reminder stages fall due.

The clock lives in the complaint's columns (budget, working time used, running since,
stage, next chase time), so every instance and every restart sees the same clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.sla.calendar import OfficeHours, SlaPolicy, WorkCalendar, indonesian_holidays
from config.settings import Settings
from storage.models import Agency, AnyComplaint, Complaint

# Reminder stages: the share of the allowed time used when each falls due.
STAGES = (0.5, 0.75, 0.9, 1.0)
BREACH = len(STAGES)  # stage 4; stages after it are the daily reminders
DAILY = timedelta(days=1)


class ClockNotRunning(Exception):
    """Reminder times asked of a paused or stopped SLA clock: it has none."""


def _running_since(complaint: AnyComplaint) -> datetime:
    if complaint.sla_running_since is None:
        raise ClockNotRunning(
            f"the SLA clock of {complaint.reference} is paused or stopped: it has no reminder "
            "times until it is resumed (SlaClock.resume)"
        )
    return complaint.sla_running_since


@dataclass(frozen=True, slots=True)
class SlaPolicies:
    """The city's default policy and each agency's override."""

    calendar: WorkCalendar
    default_days: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SlaPolicies:
        """From the ADUAN_SLA_* settings (and the city's time zone)."""
        hours = settings.sla_office_hours
        calendar = WorkCalendar(
            zone=settings.zone,
            working_days=settings.sla_working_days,
            is_holiday=indonesian_holidays(settings.sla_extra_holidays),
            office_hours=OfficeHours.parse(hours) if hours else None,
        )
        return cls(calendar, settings.sla_days)

    def for_agency(self, agency: Agency) -> SlaPolicy:
        return SlaPolicy(self.calendar, agency.sla_days or self.default_days)


class SlaClock:
    def __init__(self, policies: SlaPolicies) -> None:
        self._policies = policies
        self._calendar = policies.calendar

    def start(self, complaint: AnyComplaint, agency: Agency, at: datetime) -> None:
        """A fresh clock from `at`: new complaints, reopened ones, restarting transfers."""
        policy = self._policies.for_agency(agency)
        complaint.sla_budget_seconds = policy.budget.total_seconds()
        complaint.sla_elapsed_seconds = 0
        complaint.sla_running_since = at
        complaint.chase_stage = 0
        self._plan(complaint)

    def pause(self, complaint: Complaint, at: datetime) -> None:
        """Stop counting (waiting for the resident); the time used so far is kept."""
        if complaint.sla_running_since is None:
            return
        used = self._calendar.between(complaint.sla_running_since, at)
        complaint.sla_elapsed_seconds += used.total_seconds()
        complaint.sla_running_since = None
        complaint.next_chase_at = None

    def resume(self, complaint: Complaint, at: datetime) -> None:
        """Count again from `at`; the due time moves by the paused working time."""
        if complaint.sla_running_since is not None:
            return
        complaint.sla_running_since = at
        self._plan(complaint)

    def stop(self, complaint: Complaint, at: datetime) -> None:
        """Answered, closed or rejected: no more reminders."""
        self.pause(complaint, at)

    def stage_at(self, complaint: AnyComplaint, stage: int) -> datetime:
        """When reminder `stage` (1-based) falls due for a running clock."""
        if stage > BREACH:
            return complaint.due_at + DAILY * (stage - BREACH)
        running_since = _running_since(complaint)
        target = timedelta(seconds=complaint.sla_budget_seconds * STAGES[stage - 1])
        left = target - timedelta(seconds=complaint.sla_elapsed_seconds)
        if left <= timedelta(0):
            return running_since
        return self._calendar.add(running_since, left)

    def crossed(self, complaint: Complaint, now: datetime) -> int:
        """The highest stage due at `now` (at least the stage already sent)."""
        stage = complaint.chase_stage
        while (
            complaint.sla_running_since is not None and self.stage_at(complaint, stage + 1) <= now
        ):
            stage += 1
        return stage

    def advance(self, complaint: Complaint, stage: int) -> None:
        """Record `stage` as sent and plan the next one."""
        complaint.chase_stage = stage
        self._plan(complaint)

    def used(self, complaint: Complaint, at: datetime) -> timedelta:
        """Working time the agency has used by `at`."""
        running = complaint.sla_running_since
        extra = self._calendar.between(running, at) if running else timedelta(0)
        return timedelta(seconds=complaint.sla_elapsed_seconds) + extra

    def _plan(self, complaint: AnyComplaint) -> None:
        running_since = _running_since(complaint)
        left = timedelta(seconds=complaint.sla_budget_seconds - complaint.sla_elapsed_seconds)
        complaint.due_at = self._calendar.add(running_since, max(left, timedelta(0)))
        complaint.next_chase_at = self.stage_at(complaint, complaint.chase_stage + 1)
