"""`aduan sla …`: compliance per agency, one complaint's timeline, a sweep on demand."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.support import Tables, parse_duration, with_service, with_tables
from bot.cli.terminal import say

_ROW = "{:<12} {:>8} {:>8} {:>18} {:>6} {:>8}"

sla_app = typer.Typer(help="SLA: compliance report, a complaint's timeline, reminders now.")


@sla_app.command("report")
def report(
    agency: Annotated[str | None, typer.Option(help="One agency's code")] = None,
    since: Annotated[str, typer.Option(help="How far back: 30d, 12h, 2w")] = "30d",
) -> None:
    """Per agency: received, answered in time, median first response, open, overdue."""
    from bot.sla.report import agency_figures

    window = parse_duration(since)

    async def work(tables: Tables) -> None:
        now = tables.clock.now()
        try:
            rows = await agency_figures(tables.uow, now - window, now, agency)
        except ValueError as exc:
            say(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        say(f"complaints received in the last {since}")
        say(_ROW.format("agency", "received", "in time", "median 1st answer", "open", "overdue"))
        for row in rows:
            share = f"{row.in_time_share:.0%}" if row.in_time_share is not None else "-"
            first = row.median_first_response
            median = _hours(first.total_seconds()) if first else "-"
            say(_ROW.format(row.code, row.received, share, median, row.open, row.overdue))

    with_tables(work)


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


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"
