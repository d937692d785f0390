"""`aduan email rejected`: the mail the service kept but took as nobody's message (it could
not be read, it was too big, an automatic reply, a mailing list, a bounce), newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.support import parse_duration, with_tables

if TYPE_CHECKING:
    from bot.cli.support import Tables
    from storage.models import RefusedMessage

_LISTED = 200


def rejected(
    since: Annotated[str, typer.Option(help="How far back: 12h, 7d, 2w")] = "7d",
    show: Annotated[
        int | None, typer.Option(help="Print this refused message's raw mail (its ID)")
    ] = None,
) -> None:
    """List refused messages (time, sender, reason, Message-ID), or print one raw."""
    window = parse_duration(since)

    async def listed(tables: Tables) -> list[str]:
        async with tables.uow() as uow:
            refused = await uow.refused.since(tables.clock.now() - window, _LISTED)
        zone = tables.settings.zone
        return [
            f"{row.id:>6}  {row.received_at.astimezone(zone):%Y-%m-%d %H:%M %Z}  "
            f"{row.sender or '-'}  {row.reason}  {row.provider_message_id}"
            for row in refused
        ]

    async def one(tables: Tables) -> RefusedMessage | None:
        async with tables.uow() as uow:
            return await uow.refused.get(show) if show is not None else None

    if show is not None:
        found = with_tables(one)
        if found is None:
            typer.echo(f"error: no refused message has ID {show}", err=True)
            raise typer.Exit(1)
        typer.echo(found.raw.decode("utf-8", errors="replace"))
        return
    lines = with_tables(listed)
    if not lines:
        typer.echo(f"no refused messages in the last {since}")
        return
    for line in lines:
        typer.echo(line)
    if len(lines) == _LISTED:
        typer.echo(f"(the newest {_LISTED}; narrow --since to see older ones)")
