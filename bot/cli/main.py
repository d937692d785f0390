"""The `aduan` command line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from bot.cli.block import block_app
from bot.cli.complaint import complaint_app
from bot.cli.deadletters import deadletters_app
from bot.cli.email import email_app
from bot.cli.officers import officers_app
from bot.cli.open311 import open311_app
from bot.cli.residents import residents_app
from bot.cli.rules import rules_app
from bot.cli.sla import sla_app
from bot.cli.support import (
    Tables,
    build_service,
    database_or_exit,
    settings_or_exit,
    with_tables,
)
from bot.cli.terminal import say

if TYPE_CHECKING:
    from bot.database import Prepared
    from config.settings import Settings

T = TypeVar("T")

app = typer.Typer(help="aduan: multichannel complaint service.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema and default data.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(complaint_app, name="complaint")

app.add_typer(rules_app, name="rules")
app.add_typer(sla_app, name="sla")
app.add_typer(officers_app, name="officers")
app.add_typer(block_app, name="block")
app.add_typer(residents_app, name="residents")
app.add_typer(email_app, name="email")
app.add_typer(deadletters_app, name="deadletters")
app.add_typer(open311_app, name="open311")


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


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="The backup to write (replaced if it exists)")],
) -> None:
    """Back the database up to FILE, safe while the service runs (SQLite: online backup;
    PostgreSQL: pg_dump -Fc)."""
    from storage.backup import backup

    settings = settings_or_exit()
    database_or_exit(settings)
    _backup_step(lambda: backup(settings.database_url, file, schema=settings.database_schema))
    say(f"backed up {_where(settings)} to {file} ({file.stat().st_size:,} bytes)")


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A backup written by `aduan db backup`")],
    force: Annotated[
        bool, typer.Option("--force", help="SQLite: restore even while a service has it open")
    ] = False,
) -> None:
    """Replace the database's contents with the backup in FILE (PostgreSQL: pg_restore
    --clean, in one transaction). Stop the service first."""
    from bot.database import schema_problem
    from storage.backup import restore

    settings = settings_or_exit()
    forced = _backup_step(
        lambda: restore(settings.database_url, file, schema=settings.database_schema, force=force)
    )
    say(f"restored {_where(settings)} from {file}")
    if forced:
        say("it was open in another process: restart the service so that it starts afresh")

    async def check(tables: Tables) -> str | None:
        return await schema_problem(tables.engine)

    problem = with_tables(check)
    if problem:
        say(f"note: {problem}")


def _backup_step(step: Callable[[], T]) -> T:
    from storage.backup import BackupError

    try:
        return step()
    except BackupError as exc:
        say(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _where(settings: Settings) -> str:
    """The database, as an operator names it: never with its password."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    named = url.render_as_string(hide_password=True)
    return f"{named} (schema {settings.database_schema})" if settings.database_schema else named


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
