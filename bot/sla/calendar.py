"""SLA time: which moments count toward an agency's deadline, and when stages fall due.

Pure: a `WorkCalendar` answers "what moment is this much working time after that one"
and "how much working time lies between these two", in the city's time zone, with
calendar days, or working days (Monday–Friday minus Indonesian public holidays and joint
leave days, plus extra dates from config), optionally within office hours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

_DAY = timedelta(days=1)
# Longest stretch without working time we walk through (Lebaran plus joint leave is ~10 days).
_MAX_DAYS = 400


class SlaConfigError(ValueError):
    """A setting the SLA policy cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class OfficeHours:
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> OfficeHours:
        """'08:00-16:00' → OfficeHours(08:00, 16:00)."""
        try:
            start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError:
            raise SlaConfigError(
                f"{text!r}: write office hours as HH:MM-HH:MM, e.g. 08:00-16:00"
            ) from None
        if start >= end:
            raise SlaConfigError(f"{text!r}: office hours must end after they start")
        return cls(start, end)

    @property
    def length(self) -> timedelta:
        return datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)


def indonesian_holidays(extra: Iterable[date] = ()) -> Callable[[date], bool]:
    """Public holidays and joint leave days (cuti bersama) of Indonesia, plus `extra`."""
    known = holidays.country_holidays("ID", categories=("government", "public"))
    added = frozenset(extra)
    return lambda day: day in added or day in known


@dataclass(frozen=True)
class WorkCalendar:
    zone: ZoneInfo
    working_days: bool = False
    is_holiday: Callable[[date], bool] = field(default=lambda day: False)
    office_hours: OfficeHours | None = None

    @property
    def day_length(self) -> timedelta:
        """How much working time one working day holds (what '2 days' means)."""
        return self.office_hours.length if self.office_hours else _DAY

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment when `duration` of working time has passed since `start`."""
        if self._continuous:
            return start + duration
        remaining = duration
        for opens, closes in self._windows(start):
            if remaining <= closes - opens:
                return opens + remaining
            remaining -= closes - opens
        raise SlaConfigError(f"no working time within {_MAX_DAYS} days of {start:%Y-%m-%d}")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from `start` to `end` (zero when end is not after start)."""
        if end <= start:
            return timedelta(0)
        if self._continuous:
            return end - start
        total = timedelta(0)
        for opens, closes in self._windows(start):
            if opens >= end:
                break
            total += min(closes, end) - opens
        return total

    @property
    def _continuous(self) -> bool:
        return not self.working_days and self.office_hours is None

    def _windows(self, start: datetime) -> Iterable[tuple[datetime, datetime]]:
        """Working intervals from `start` on, in order, clipped to begin no earlier than it."""
        local = start.astimezone(self.zone)
        day = local.date()
        for _ in range(_MAX_DAYS):
            if self._works(day):
                opens, closes = self._hours(day)
                if closes > local:
                    yield max(opens, local), closes
            day += _DAY
        return

    def _works(self, day: date) -> bool:
        if not self.working_days:
            return True
        return day.weekday() < 5 and not self.is_holiday(day)

    def _hours(self, day: date) -> tuple[datetime, datetime]:
        if self.office_hours is None:
            opens = datetime.combine(day, time.min, self.zone)
            return opens, datetime.combine(day + _DAY, time.min, self.zone)
        return (
            datetime.combine(day, self.office_hours.start, self.zone),
            datetime.combine(day, self.office_hours.end, self.zone),
        )


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """How long agencies have to answer, counted on a calendar."""

    calendar: WorkCalendar
    days: float = 2

    @property
    def budget(self) -> timedelta:
        return self.calendar.day_length * self.days

    def due_at(self, received_at: datetime) -> datetime:
        return self.calendar.add(received_at, self.budget)
