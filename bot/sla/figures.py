"""The public figures per agency, and the open data anyone recomputes them from.

The one place they are defined: the transparency page, `agencies.json`, `aduan sla report`
and the rule desk's statistics all read `Transparency.figures`. Over the complaints
received in a period (whole days in the city's zone, both ends included):

- `received`; `answered`: with a first response (the first officer message delivered);
- `answered_in_time`: first response at or before `due_at`;
- `answered_in_time_pct`: 100 × answered_in_time ÷ (answered + overdue), `None` when that
  is 0; `median_first_response_hours`: the median of first response − receipt over the
  answered, in hours, `None` when none; both rounded half up to one decimal;
- `open`: status neither answered, closed nor rejected;
- `overdue`: no first response and `due_at` before the moment the figures are for.

Times count in whole seconds, as the open data publishes them (storage.repositories.figures).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from bot.domain.clock import Clock
from bot.domain.lifecycle import ComplaintStatus
from bot.messaging.templates import render
from storage.models import stored_id
from storage.repositories.figures import PublicRecord, day_bounds
from storage.unit_of_work import UnitOfWorkFactory

# Statuses that are not open.
SETTLED = (ComplaintStatus.ANSWERED, ComplaintStatus.CLOSED, ComplaintStatus.REJECTED)
DEFAULT_DAYS = 30
# The longest period one request may ask for: a year, leap or not.
MAX_DAYS = 366
TREND_MONTHS = 12
# The open data's columns, in order (`PublicRecord`).
RECORD_FIELDS = (
    "reference",
    "agency_code",
    "category",
    "channel",
    "status",
    "received_at",
    "due_at",
    "first_response_at",
    "closed_at",
)
LICENCE = "CC BY 4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
# Complaints per read of the open data: each page is its own short transaction.
_RECORD_PAGE = 5000


class PeriodError(ValueError):
    """A period that cannot be read: `said` says why in a language (its message, in English)."""

    def __init__(self, said: Callable[[str], str]) -> None:
        super().__init__(said("en"))
        self.said = said


@dataclass(frozen=True, slots=True)
class Period:
    """Days of receipt, `first` to `last` included, in the city's zone."""

    first: date
    last: date

    @classmethod
    def ending(cls, last: date, days: int = DEFAULT_DAYS) -> Period:
        return cls(last - timedelta(days=days - 1), last)

    @classmethod
    def parse(cls, first: str | None, last: str | None, today: date) -> Period:
        """The period `?from=&to=` ask for (YYYY-MM-DD); the last 30 days to `to` (or
        today) without `from`, up to today without `to`."""
        last_day = _day(last, "to") if last else today
        first_day = _day(first, "from") if first else last_day - timedelta(days=DEFAULT_DAYS - 1)
        if first_day > last_day:
            first_text, last_text = first_day.isoformat(), last_day.isoformat()
            raise PeriodError(
                lambda language: render(
                    "figures_period_reversed", language, first=first_text, last=last_text
                )
            )
        if (last_day - first_day).days + 1 > MAX_DAYS:
            raise PeriodError(
                lambda language: render("figures_period_too_long", language, days=MAX_DAYS)
            )
        return cls(first_day, last_day)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        return day_bounds(self.first, self.last, zone)


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text) if len(text) == 10 else _not_a_day(text, name)
    except ValueError:
        return _not_a_day(text, name)


def _not_a_day(text: str, name: str) -> date:
    raise PeriodError(
        lambda language: render("figures_period_unreadable", language, name=name, typed=text[:40])
    )


def one_decimal(numerator: float, denominator: float = 1) -> float:
    """numerator ÷ denominator rounded half up to one decimal, as published."""
    exact = Decimal(numerator) / Decimal(denominator)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class AgencyFigures:
    """One agency's figures; the fields and their order are `agencies.json`'s."""

    agency_code: str
    agency_name: str
    received: int
    answered: int
    answered_in_time: int
    answered_in_time_pct: float | None
    median_first_response_hours: float | None
    open: int
    overdue: int


@dataclass(frozen=True, slots=True)
class MonthFigures:
    month: date  # its first day
    received: int
    answered_in_time: int
    answered_in_time_pct: float | None


@dataclass(frozen=True, slots=True)
class Figures:
    period: Period
    # The moment "due_at has passed" is judged at, to the second.
    generated_at: datetime
    agencies: list[AgencyFigures]


def _pct(in_time: int, answered: int, overdue: int) -> float | None:
    decided = answered + overdue
    return one_decimal(100 * in_time, decided) if decided else None


class Transparency:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, zone: ZoneInfo) -> None:
        self._uow = uow
        self._clock = clock
        self.zone = zone

    def today(self) -> date:
        return self._clock.now().astimezone(self.zone).date()

    def as_of(self) -> datetime:
        return self._clock.now().replace(microsecond=0)

    async def figures(self, period: Period, as_of: datetime | None = None) -> Figures:
        """Per agency, the figures of the complaints received in `period`, judged at
        `as_of` (now, to the second, unless given); agencies in service or with complaints
        in the period, by code."""
        moment = as_of or self.as_of()
        start, end = period.bounds(self.zone)
        async with self._uow() as uow:
            await uow.figures.refresh(self.zone, SETTLED)
            totals = {
                row[0]: row[1:]
                for row in await uow.figures.agency_totals(period.first, period.last)
            }
            still_due = await uow.figures.still_due([start, end], moment)
            with_response = {agency: counts[1] for agency, counts in totals.items()}
            medians = await uow.figures.median_response_seconds(start, end, with_response)
            agencies = await uow.agencies.all()
            await uow.commit()
        rows = []
        for agency in sorted(agencies, key=lambda a: a.code):
            agency_id = stored_id(agency)
            received, answered, in_time, open_ = totals.get(agency_id, (0, 0, 0, 0))
            if not agency.active and not received:
                continue
            overdue = received - answered - still_due.get(agency_id, [0])[0]
            median = medians.get(agency_id)
            rows.append(
                AgencyFigures(
                    agency_code=agency.code,
                    agency_name=agency.name,
                    received=received,
                    answered=answered,
                    answered_in_time=in_time,
                    answered_in_time_pct=_pct(in_time, answered, overdue),
                    median_first_response_hours=None
                    if median is None
                    else one_decimal(median, 3600),
                    open=open_,
                    overdue=overdue,
                )
            )
        return Figures(period, moment, rows)

    async def recount(self) -> int:
        """Count every day's figures again from the complaints, by the days of the city's
        time zone: after `ADUAN_TIMEZONE` changed. Returns the days holding complaints."""
        async with self._uow() as uow:
            days = await uow.figures.recount(self.zone, SETTLED)
            await uow.commit()
        return days

    async def trend(self, last: date, as_of: datetime) -> dict[str, list[MonthFigures]]:
        """Per agency code, the twelve calendar months to the one holding `last`: received,
        and answered in time (count and share, as for a period) judged at `as_of`."""
        months = _months_to(last)
        bounds = [day_bounds(month, month, self.zone)[0] for month in months]
        bounds.append(day_bounds(last, last, self.zone)[1])
        async with self._uow() as uow:
            await uow.figures.refresh(self.zone, SETTLED)
            days = await uow.figures.days(months[0], last)
            still_due = await uow.figures.still_due(bounds, as_of)
            agencies = {a.id: a.code for a in await uow.agencies.all()}
            await uow.commit()
        counts: dict[tuple[int, date], list[int]] = {}
        for day, agency_id, received, answered, in_time in days:
            bucket = counts.setdefault((agency_id, day.replace(day=1)), [0, 0, 0])
            bucket[0] += received
            bucket[1] += answered
            bucket[2] += in_time
        trend: dict[str, list[MonthFigures]] = {}
        for agency_id in sorted({agency for agency, _ in counts}, key=lambda a: agencies[a]):
            due = still_due.get(agency_id, [0] * len(months))
            series = []
            for month, pending in zip(months, due, strict=True):
                received, answered, in_time = counts.get((agency_id, month), [0, 0, 0])
                overdue = received - answered - pending
                series.append(
                    MonthFigures(month, received, in_time, _pct(in_time, answered, overdue))
                )
            trend[agencies[agency_id]] = series
        return trend

    async def records(self, period: Period) -> AsyncIterator[list[PublicRecord]]:
        """The complaints received in `period` in order of receipt, a page at a time, each
        read in a transaction of its own (an export never holds the database)."""
        start, end = period.bounds(self.zone)
        after = None
        while True:
            async with self._uow() as uow:
                page, after = await uow.figures.public_records(start, end, after, _RECORD_PAGE)
            if page:
                yield page
            if after is None:
                return


def _months_to(last: date) -> list[date]:
    """The first days of the twelve months ending with `last`'s."""
    year, month = last.year, last.month
    firsts = []
    for _ in range(TREND_MONTHS):
        firsts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return firsts[::-1]
