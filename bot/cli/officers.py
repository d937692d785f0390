"""`aduan officers …`: add officers and link agency groups, with one-time codes."""

from __future__ import annotations

import getpass
import re
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.support import with_service
from bot.cli.terminal import say
from storage.roles import OfficerRole

if TYPE_CHECKING:
    from bot.bootstrap import Service
    from storage.models import Officer

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

officers_app = typer.Typer(help="Officers and agency groups: one-time link codes.")


@officers_app.command("add")
def add(
    agency: Annotated[str, typer.Option(help="The agency's code, e.g. DLH")],
    name: Annotated[str, typer.Option(help="The officer's name")],
    role: Annotated[
        OfficerRole, typer.Option(help="officer, supervisor or admin")
    ] = OfficerRole.OFFICER,
    email: Annotated[
        str | None,
        typer.Option(help="Where they read the agency's mail; replying from it acts"),
    ] = None,
) -> None:
    """Add an officer and print the code they send to the bot (/link CODE) to link."""
    from bot.officers.desk import CODE_LIFETIME

    if email is not None and not _EMAIL.fullmatch(email.strip()):
        raise typer.BadParameter(f"{email!r} is not an email address", param_hint="--email")

    async def work(service: Service) -> tuple[Officer, str]:
        return await service.desk.add_officer(
            agency, name, role, created_by=getpass.getuser(), email=email
        )

    officer, code = with_service(work)
    # The id is how `aduan complaint … --as` names an officer without an email address.
    say(f"{name} ({role}) added to {agency} as officer {officer.id}.")
    if email is not None:
        say(
            f"Replies from {email.strip().lower()} to {agency}'s complaint mail answer the "
            "resident (#tanya, #tutup, #alihkan KODE on the first line act instead)."
        )
        say("To use Telegram as well:")
    say(f"They send this to the bot in a private chat within {CODE_LIFETIME.days} days:")
    say(f"  /link {code}")


@officers_app.command("link-group")
def link_group(agency: Annotated[str, typer.Argument(help="The agency's code, e.g. DLH")]) -> None:
    """Print the code that makes a Telegram group the agency's group (/link CODE in it)."""
    from bot.officers.desk import CODE_LIFETIME

    async def work(service: Service) -> str:
        return await service.desk.group_code(agency, created_by=getpass.getuser())

    code = with_service(work)
    say(f"Add the bot to {agency}'s group, then send there within {CODE_LIFETIME.days} days:")
    say(f"  /link {code}")
