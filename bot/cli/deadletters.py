"""`aduan deadletters …`: inbound deliveries (webhooks, Telegram updates, mails) that failed
every attempt at processing them. An admin reads why, then replays them (once the cause
is fixed) or drops them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.support import with_tables
from bot.cli.terminal import say

if TYPE_CHECKING:
    from bot.cli.support import Tables
    from bot.intake.inbox import DeliveryInbox, KeptView

deadletters_app = typer.Typer(
    help="Inbound deliveries that failed every attempt: list, replay, drop.",
    no_args_is_help=True,
)

_LISTED = 200
_ERROR_CHARS = 160


def _inbox(tables: Tables) -> DeliveryInbox:
    from bot.intake.inbox import DeliveryInbox, InboxPolicy

    # Only the admin's side: nothing is processed here, so no channel is built.
    return DeliveryInbox(tables.uow, tables.clock, {}, InboxPolicy.from_settings(tables.settings))


@deadletters_app.command("list")
def list_(
    every: Annotated[
        bool, typer.Option("--all", help="Also what is pending a retry, and what was dropped")
    ] = False,
) -> None:
    """List dead letters, newest first: ID, when it came, channel and kind, attempts, the
    provider's id for it and the last error."""

    async def listed(tables: Tables) -> list[str]:
        views = await _inbox(tables).listed(every=every, limit=_LISTED)
        return [_line(view, tables) for view in views]

    lines = with_tables(listed)
    if not lines:
        say("no dead letters" if not every else "no kept deliveries pending, dead or dropped")
        return
    for line in lines:
        say(line)
    if len(lines) == _LISTED:
        say(f"(the newest {_LISTED})")


@deadletters_app.command("replay")
def replay(ids: Annotated[list[int], typer.Argument(help="Dead letters' IDs")]) -> None:
    """Put dead letters back in line; a running service processes them within seconds."""
    _each(ids, lambda inbox, i: inbox.replay(i), "queued again; a running service tries it soon")


@deadletters_app.command("drop")
def drop(ids: Annotated[list[int], typer.Argument(help="Dead letters' IDs")]) -> None:
    """Give dead letters up for good: what they held is erased."""
    _each(ids, lambda inbox, i: inbox.drop(i), "dropped")


def _each(
    ids: list[int],
    action: Callable[[DeliveryInbox, int], Awaitable[KeptView]],
    done: str,
) -> None:
    from bot.intake.inbox import InboxError

    async def work(tables: Tables) -> list[str]:
        inbox, failures = _inbox(tables), []
        for delivery_id in ids:
            try:
                view = await action(inbox, delivery_id)
            except InboxError as exc:
                failures.append(str(exc))
                continue
            say(f"{view.id}: {view.channel} {view.kind} {view.key}: {done}")
        return failures

    failures = with_tables(work)
    for failure in failures:
        say(f"error: {failure}", err=True)
    if failures:
        raise typer.Exit(1)


def _line(view: KeptView, tables: Tables) -> str:
    when = view.received_at.astimezone(tables.settings.zone)
    error = " ".join((view.last_error or "-").split())
    if len(error) > _ERROR_CHARS:
        error = error[: _ERROR_CHARS - 1] + "…"
    state = "" if view.state.value == "dead" else f" [{view.state.value}]"
    return (
        f"{view.id:>6}  {when:%Y-%m-%d %H:%M %Z}  {view.channel}/{view.kind}{state}  "
        f"{view.attempts} attempts  {view.key}  {error}"
    )
