"""`aduan residents …`: what is kept about a resident."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from bot.cli.support import Tables, with_tables
from bot.cli.terminal import say

residents_app = typer.Typer(help="Residents' personal data.", no_args_is_help=True)


@residents_app.command("erase")
def erase(
    address: Annotated[
        str,
        typer.Argument(
            help="sms:+62812…, email:x@y, telegram:123, voice:+62…, or a bare phone or email"
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Erase without asking")] = False,
    admin: Annotated[
        str | None, typer.Option(help="Who acts, for the audit log (default: your login name)")
    ] = None,
) -> None:
    """Erase a resident's personal data; their complaints stay, anonymised, for the record."""
    from bot.intake.erasure import Eraser, ErasureError, erasure_targets, summary

    try:
        targets = erasure_targets(address)
    except ErasureError as exc:
        say(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    named = ", ".join(f"{channel} {found}" for channel, found in targets)
    if not yes and not _confirmed(
        f"Erase the name, address, messages and files of {named}? Their complaints stay, "
        "anonymised. This cannot be undone"
    ):
        say("nothing erased")
        raise typer.Exit(1)

    async def work(tables: Tables) -> None:
        for erasure in await Eraser(tables.uow, tables.clock).erase(
            address, admin=admin or getpass.getuser()
        ):
            say(summary(erasure))

    with_tables(work)


def _confirmed(question: str) -> bool:
    """The operator's yes; no answer at all (no terminal, end of input) is a no."""
    try:
        return typer.confirm(question)
    except typer.Abort:
        say("")
        return False
