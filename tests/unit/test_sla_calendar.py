"""SLA time on the city's calendar (pure): calendar days, working days around Lebaran,
office hours, and the clock's pause and resume."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.lifecycle import ComplaintStatus
from bot.sla.calendar import (
    OfficeHours,
    SlaConfigError,
    SlaPolicy,
    WorkCalendar,
    indonesian_holidays,
)
from bot.sla.clock import SlaClock, SlaPolicies
from storage.models import Agency, Complaint

WIB = ZoneInfo("Asia/Jakarta")
CALENDAR = WorkCalendar(WIB)
WORKING = WorkCalendar(WIB, working_days=True, is_holiday=indonesian_holidays())
OFFICE = WorkCalendar(
    WIB,
    working_days=True,
    is_holiday=indonesian_holidays(),
    office_hours=OfficeHours.parse("08:00-16:00"),
)


def wib(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=WIB)


# Idul Fitri 2026 is Saturday 21 March; the government's joint leave makes Wednesday 18
# to Tuesday 24 March a single stretch without working days (Nyepi falls on the 19th).
@pytest.mark.parametrize(
    ("calendar", "received", "due"),
    [
        (CALENDAR, wib(2026, 3, 20, 10, 0), wib(2026, 3, 22, 10, 0)),
        (WORKING, wib(2026, 3, 20, 10, 0), wib(2026, 3, 27, 0, 0)),  # all of Wed 25 and Thu 26
        (WORKING, wib(2026, 3, 17, 10, 0), wib(2026, 3, 26, 10, 0)),  # 14 h Tue 17, then 25–26
        (OFFICE, wib(2026, 3, 20, 10, 0), wib(2026, 3, 26, 16, 0)),
        (OFFICE, wib(2026, 3, 17, 15, 0), wib(2026, 3, 26, 15, 0)),
        (WORKING, wib(2026, 11, 27, 23, 0), wib(2026, 12, 1, 23, 0)),  # Friday night → Tuesday
    ],
)
def test_due_dates(calendar: WorkCalendar, received: datetime, due: datetime) -> None:
    assert SlaPolicy(calendar, 2).due_at(received) == due


def test_between_counts_only_working_time() -> None:
    assert WORKING.between(wib(2026, 3, 17, 10, 0), wib(2026, 3, 26, 10, 0)) == timedelta(hours=48)
    assert OFFICE.between(wib(2026, 3, 20, 9, 0), wib(2026, 3, 25, 9, 0)) == timedelta(hours=1)
    assert CALENDAR.between(wib(2026, 1, 2), wib(2026, 1, 1)) == timedelta(0)


def test_extra_holidays_from_config() -> None:
    extra = WorkCalendar(
        WIB, working_days=True, is_holiday=indonesian_holidays([date(2026, 11, 30)])
    )
    assert SlaPolicy(extra, 1).due_at(wib(2026, 11, 27, 12, 0)) == wib(2026, 12, 1, 12, 0)


def test_office_hours_are_checked() -> None:
    with pytest.raises(SlaConfigError, match="office hours must end after they start"):
        OfficeHours.parse("16:00-08:00")
    with pytest.raises(SlaConfigError, match="HH:MM-HH:MM"):
        OfficeHours.parse("pagi")


def complaint(received: datetime) -> Complaint:
    return Complaint(
        reference="K7QD-4XMP",
        resident_id=1,
        channel="sms",
        status=ComplaintStatus.ASSIGNED,
        agency_id=1,
        text="x",
        routing_rule="r",
        routing_explanation="e",
        received_at=received,
        due_at=received,
        last_message_at=received,
        updated_at=received,
    )


AGENCY = Agency(code="PUPR", name="Dinas PU", created_at=wib(2026, 1, 1))


def test_pause_moves_the_due_time_by_the_time_waited() -> None:
    clock = SlaClock(SlaPolicies(WORKING, 2))
    c = complaint(wib(2026, 11, 2, 9, 0))  # Monday
    clock.start(c, AGENCY, c.received_at)
    assert (c.due_at, c.next_chase_at) == (wib(2026, 11, 4, 9, 0), wib(2026, 11, 3, 9, 0))

    clock.pause(c, wib(2026, 11, 2, 21, 0))  # asked the resident after 12 h
    assert (c.sla_elapsed_seconds, c.sla_running_since, c.next_chase_at) == (12 * 3600, None, None)

    clock.resume(c, wib(2026, 11, 6, 9, 0))  # Friday: 36 h left, the weekend does not count
    assert c.due_at == wib(2026, 11, 9, 21, 0)
    assert c.next_chase_at == wib(2026, 11, 6, 21, 0)  # 50 % = 24 h used


def test_stages_crossed_and_daily_reminders_after_the_breach() -> None:
    clock = SlaClock(SlaPolicies(CALENDAR, 2))
    c = complaint(wib(2026, 11, 2, 9, 0))
    clock.start(c, AGENCY, c.received_at)
    assert [clock.stage_at(c, s) for s in (1, 2, 3, 4, 5, 6)] == [
        wib(2026, 11, 3, 9, 0),
        wib(2026, 11, 3, 21, 0),
        wib(2026, 11, 4, 4, 12),
        wib(2026, 11, 4, 9, 0),
        wib(2026, 11, 5, 9, 0),
        wib(2026, 11, 6, 9, 0),
    ]
    assert clock.crossed(c, wib(2026, 11, 3, 22, 0)) == 2
    clock.advance(c, 2)
    assert c.next_chase_at == wib(2026, 11, 4, 4, 12)
    assert clock.crossed(c, wib(2026, 11, 5, 10, 0)) == 5


def test_agency_override() -> None:
    policies = SlaPolicies(CALENDAR, 2)
    slow = Agency(code="BPBD", name="BPBD", sla_days=5, created_at=wib(2026, 1, 1))
    assert policies.for_agency(slow).budget == timedelta(days=5)
    assert policies.for_agency(AGENCY).budget == timedelta(days=2)
