"""`aduan open311 keys …`: the keys client applications POST Open311 requests with."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.support import Tables, with_tables
from bot.cli.terminal import say

if TYPE_CHECKING:
    from bot.web.open311 import Open311Keys

open311_app = typer.Typer(help="The Open311 GeoReport v2 API.", no_args_is_help=True)
keys_app = typer.Typer(
    help="Keys of the client applications that POST requests.", no_args_is_help=True
)
open311_app.add_typer(keys_app, name="keys")

_NAME = typer.Argument(help="The client application's name, e.g. city-app")
_ADMIN = typer.Option(help="Who acts, for the audit log (default: your login name)")


def _keys(tables: Tables) -> Open311Keys:
    from bot.web.open311 import Open311Keys

    return Open311Keys(tables.uow, tables.clock)


@keys_app.command("add")
def add(name: Annotated[str, _NAME], admin: Annotated[str | None, _ADMIN] = None) -> None:
    """Make a key for a client application; it is shown once, on the last line."""
    key = with_tables(lambda tables: _keys(tables).add(name, admin=admin or getpass.getuser()))
    say(f"open311 key {name!r} made; give it to the application (it is not shown again):")
    say(key)


@keys_app.command("list")
def list_keys() -> None:
    """Every key's name, when it was made and revoked (never the key itself)."""

    async def work(tables: Tables) -> None:
        keys = await _keys(tables).all()
        if not keys:
            say("no open311 keys (make one with `aduan open311 keys add NAME`)")
            return
        zone = tables.settings.zone
        for key in keys:
            made = f"{key.created_at.astimezone(zone):%Y-%m-%d %H:%M}"
            revoked = (
                f"revoked {key.revoked_at.astimezone(zone):%Y-%m-%d %H:%M}"
                if key.revoked_at
                else "in use"
            )
            say(f"{key.name:<24} made {made}  {revoked}")

    with_tables(work)


@keys_app.command("revoke")
def revoke(name: Annotated[str, _NAME], admin: Annotated[str | None, _ADMIN] = None) -> None:
    """Revoke a key: requests POSTed with it get 403 from now on."""
    with_tables(lambda tables: _keys(tables).revoke(name, admin=admin or getpass.getuser()))
    say(f"open311 key {name!r} revoked")
