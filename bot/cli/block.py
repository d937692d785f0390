"""`aduan block …`: addresses whose messages are kept and start nothing."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.support import Tables, with_tables
from bot.cli.terminal import say
from channels.base import ChannelName

if TYPE_CHECKING:
    from bot.intake.blocklist import Blocklist

block_app = typer.Typer(
    help="Blocked senders: their messages are kept, start nothing and get no answer.",
    no_args_is_help=True,
)

_CHANNEL = typer.Argument(help="sms, email or telegram")
_ADDRESS = typer.Argument(help="A phone number (0812…, +62…), an email address or a chat id")
_ADMIN = typer.Option(help="Who acts, for the audit log (default: your login name)")


def _blocklist(tables: Tables) -> Blocklist:
    from bot.intake.blocklist import Blocklist

    return Blocklist(tables.uow, tables.clock)


@block_app.command("add")
def add(
    channel: Annotated[ChannelName, _CHANNEL],
    address: Annotated[str, _ADDRESS],
    reason: Annotated[str, typer.Option(help="Why, kept with the block and in the audit log")],
    admin: Annotated[str | None, _ADMIN] = None,
) -> None:
    """Block an address: its messages are recorded and nothing else happens."""
    block = with_tables(
        lambda tables: _blocklist(tables).add(
            channel, address, reason=reason, admin=admin or getpass.getuser()
        )
    )
    say(f"blocked {block.channel} {block.address}: {block.reason}")


@block_app.command("remove")
def remove(
    channel: Annotated[ChannelName, _CHANNEL],
    address: Annotated[str, _ADDRESS],
    admin: Annotated[str | None, _ADMIN] = None,
) -> None:
    """Lift a block: the address's next message is handled as usual."""
    block = with_tables(
        lambda tables: _blocklist(tables).remove(channel, address, admin=admin or getpass.getuser())
    )
    say(f"unblocked {block.channel} {block.address}")


@block_app.command("list")
def list_blocks() -> None:
    """Every blocked address, oldest block first."""

    async def work(tables: Tables) -> None:
        blocks = await _blocklist(tables).entries()
        if not blocks:
            say("no blocked addresses")
            return
        zone = tables.settings.zone
        for block in blocks:
            since = block.since.astimezone(zone)
            say(
                f"{block.channel:<9} {block.address:<24} since {since:%Y-%m-%d %H:%M} "
                f"by {block.by}: {block.reason}"
            )

    with_tables(work)
