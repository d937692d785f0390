"""`aduan sla …`: compliance per agency, one complaint's timeline, a sweep on demand."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.support import Tables, with_service, with_tables
from bot.cli.terminal import say

_ROW = "{:<12} {:>8} {:>8} {:>18} {:>6} {:>8}"

sla_app = typer.Typer(help="SLA: compliance report, a complaint's timeline, reminders now.")


@sla_app.command("report")
def report(
    agency: Annotated[str | None, typer.Option(help="One agency's code")] = None,
    first: Annotated[
        str | None, typer.Option("--from", help="First day received, YYYY-MM-DD")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="Last day received, YYYY-MM-DD (default today)")
    ] = None,
) -> None:
    """Per agency, as /transparansi shows: received, share answered in time, median first
    response, open, overdue (default: the last 30 days, in the city's time zone)."""
    from bot.messaging.templates import format_when
    from bot.sla.figures import Period, PeriodError, Transparency

    async def work(tables: Tables) -> None:
        figures = Transparency(tables.uow, tables.clock, tables.settings.zone)
        try:
            period = Period.parse(first, last, figures.today())
        except PeriodError as exc:
            say(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        found = await figures.figures(period)
        rows = [row for row in found.agencies if agency in (None, row.agency_code)]
        if not rows:
            say(f"error: no agency has code {agency!r}", err=True)
            raise typer.Exit(1)
        when = format_when(found.generated_at, "en", figures.zone)
        say(f"complaints received {period.first} to {period.last}, as of {when}")
        say(_ROW.format("agency", "received", "in time", "median 1st answer", "open", "overdue"))
        for row in rows:
            pct, median = row.answered_in_time_pct, row.median_first_response_hours
            share = "-" if pct is None else f"{pct:.1f}%"
            hours = "-" if median is None else _hours(median)
            say(_ROW.format(row.agency_code, row.received, share, hours, row.open, row.overdue))

    with_tables(work)


@sla_app.command("recount")
def recount() -> None:
    """Count the public figures again from every complaint, by the days of ADUAN_TIMEZONE:
    run it after changing that setting."""
    from bot.sla.figures import Transparency

    async def work(tables: Tables) -> tuple[int, str]:
        figures = Transparency(tables.uow, tables.clock, tables.settings.zone)
        return await figures.recount(), str(figures.zone)

    days, zone = with_tables(work)
    say(f"counted {days} day{'' if days == 1 else 's'} of complaints again, by the {zone} calendar")


@sla_app.command("explain")
def explain(reference: str) -> None:
    """A complaint's SLA timeline: received, paused, resumed, due, each reminder."""
    from bot.sla.report import timeline

    async def work(tables: Tables) -> bool:
        found = await timeline(tables.uow, reference)
        if found is None:
            return False
        zone = tables.settings.zone
        c = found.complaint
        clock = "running" if c.sla_running_since else "stopped"
        due = c.due_at.astimezone(zone)
        say(f"{c.reference}  {c.status}  {found.agency}  due {due:%Y-%m-%d %H:%M %Z} ({clock})")
        for when, what in found.events:
            say(f"  {when.astimezone(zone):%Y-%m-%d %H:%M}  {what}")
        return True

    if not with_tables(work):
        say(f"error: no complaint has reference {reference!r}", err=True)
        raise typer.Exit(1)


@sla_app.command("sweep")
def sweep() -> None:
    """Queue every reminder due now (the scheduler does this every minute)."""
    queued = with_service(lambda service: service.chaser.sweep())
    say(f"{queued} reminders queued")


def _hours(hours: float) -> str:
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"
