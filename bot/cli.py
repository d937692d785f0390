"""The `aduan` command line."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from bot.bootstrap import Service, bootstrap
from bot.log_setup import configure_logging
from bot.queries import ComplaintRecord, complaint_record
from bot.record_text import render_record
from bot.server import serve
from config.settings import Settings, SettingsError, load_settings

app = typer.Typer(help="aduan: multichannel complaint service.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema and default data.", no_args_is_help=True)
complaint_app = typer.Typer(help="Look at complaints (operators; shows personal data).")
app.add_typer(db_app, name="db")
app.add_typer(complaint_app, name="complaint")


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _service(settings: Settings) -> Service:
    configure_logging(settings.log_level, settings.log_format)
    return bootstrap(settings)


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="Listen address (ADUAN_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (ADUAN_PORT)")] = None,
) -> None:
    """Start the web app, outbox dispatcher and scheduler; SIGTERM stops cleanly."""
    service = _service(_settings(host=host, port=port))

    async def _run() -> None:
        problem = await service.schema_problem()
        if problem:
            await service.aclose()
            typer.echo(f"error: {problem}", err=True)
            raise typer.Exit(2)
        await serve(service)

    asyncio.run(_run())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema and load default agencies if it has none."""
    service = _service(_settings())

    async def _upgrade() -> int:
        try:
            return await service.prepare_database()
        finally:
            await service.aclose()

    added = asyncio.run(_upgrade())
    typer.echo(
        f"database is up to date ({added} default agencies loaded)"
        if added
        else "database is up to date"
    )


@complaint_app.command("show")
def complaint_show(reference: str) -> None:
    """Print a complaint with its messages, outbox rows and audit trail."""
    service = _service(_settings())

    async def _load() -> ComplaintRecord | None:
        try:
            return await complaint_record(service.uow, reference)
        finally:
            await service.aclose()

    record = asyncio.run(_load())
    if record is None:
        typer.echo(f"error: no complaint has reference {reference!r}", err=True)
        raise typer.Exit(1)
    typer.echo(render_record(record, service.settings.zone))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
