"""The `aduan` command line."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.block import block_app
from bot.cli.complaint import complaint_app
from bot.cli.email import email_app
from bot.cli.officers import officers_app
from bot.cli.rules import rules_app
from bot.cli.sla import sla_app
from bot.cli.support import Tables, build_service, settings_or_exit, with_tables
from bot.cli.terminal import say

if TYPE_CHECKING:
    from bot.database import Prepared

app = typer.Typer(help="aduan: multichannel complaint service.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema and default data.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(complaint_app, name="complaint")

app.add_typer(rules_app, name="rules")
app.add_typer(sla_app, name="sla")
app.add_typer(officers_app, name="officers")
app.add_typer(block_app, name="block")
app.add_typer(email_app, name="email")


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="Listen address (ADUAN_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (ADUAN_PORT)")] = None,
) -> None:
    """Start the web app, outbox dispatcher and scheduler; SIGTERM stops cleanly."""
    from bot.cli.server import serve

    service = build_service(settings_or_exit(host=host, port=port))

    async def _run() -> None:
        problem = await service.schema_problem()
        if problem:
            await service.aclose()
            say(f"error: {problem}", err=True)
            raise typer.Exit(2)
        await serve(service)

    asyncio.run(_run())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema and load default agencies if it has none."""
    from bot.database import prepare_database

    async def prepare(tables: Tables) -> Prepared:
        return await prepare_database(
            tables.settings, tables.engine, tables.uow, tables.rulebook, tables.clock
        )

    prepared = with_tables(prepare, creates=True)
    loaded = []
    if prepared.agencies_added:
        loaded.append(f"{prepared.agencies_added} default agencies")
    if prepared.rules_version:
        loaded.append(f"default rules as version {prepared.rules_version}")
    say("database is up to date" + (f"; loaded {' and '.join(loaded)}" if loaded else ""))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
