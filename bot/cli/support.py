"""What every `aduan` command needs: settings or a clear exit, and the tables or the whole
service to work on.

Importing the whole service (FastAPI, python-telegram-bot, Twilio, Alembic) takes seconds,
and typer builds every command, reading its signature, before it runs one, even for
`--help`. So a command module imports at module level only typer and what its signatures
name; everything a command does it imports inside the command (heavy types for annotations
under TYPE_CHECKING). A command that only reads or writes rows works on `Tables`
(`with_tables`: settings, storage and the rule book, nothing above them); one that needs
channels, policies or the scheduler gets the composed service (`with_service`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from bot.cli.terminal import say

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.bootstrap import Service
    from bot.domain.clock import Clock
    from bot.rules.book import RuleBook
    from config.settings import Settings
    from storage.unit_of_work import UnitOfWorkFactory

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Tables:
    """The database without the rest of the service: no channels, no web app, no scheduler."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    uow: UnitOfWorkFactory
    rulebook: RuleBook


def settings_or_exit(**overrides: object) -> Settings:
    from config.settings import SettingsError, load_settings

    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        say(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def build_service(settings: Settings) -> Service:
    from bot.bootstrap import bootstrap
    from bot.cli.log_setup import configure_logging

    database_or_exit(settings)
    configure_logging(settings.log_level, settings.log_format, settings.secret_values())
    return bootstrap(settings)


def with_service(work: Callable[[Service], Awaitable[T]]) -> T:
    """Run `work` on a service built from the environment, and close it afterwards."""
    service = build_service(settings_or_exit())
    return _run(lambda: work(service), service.aclose)


def with_tables(work: Callable[[Tables], Awaitable[T]], *, creates: bool = False) -> T:
    """Run `work` on the database named by the environment, and close it afterwards; a
    SQLite file that does not exist yet is made only by a command that `creates` it."""
    from bot.cli.log_setup import configure_logging
    from bot.domain.clock import SystemClock
    from bot.rules.book import RuleBook
    from storage.engine import make_engine, make_session_factory
    from storage.unit_of_work import UnitOfWorkFactory

    settings = settings_or_exit()
    if not creates:
        database_or_exit(settings)
    configure_logging(settings.log_level, settings.log_format, settings.secret_values())
    engine = make_engine(
        settings.database_url,
        schema=settings.database_schema,
        sqlite_synchronous=settings.sqlite_synchronous,
    )
    clock, uow = SystemClock(), UnitOfWorkFactory(make_session_factory(engine))
    tables = Tables(settings, clock, engine, uow, RuleBook(uow, clock))
    return _run(lambda: work(tables), engine.dispose)


def database_or_exit(settings: Settings) -> None:
    """Exit with one line when the SQLite file the settings name does not exist: opening it
    would create an empty database (and its folder) where the operator expected theirs."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    if not Path(url.database).exists():
        say(
            f"error: there is no database at {url.database}: run `aduan db upgrade` to "
            "create it, or point ADUAN_DATABASE_URL at yours",
            err=True,
        )
        raise typer.Exit(2)


def _run(work: Callable[[], Awaitable[T]], close: Callable[[], Awaitable[None]]) -> T:
    async def _go() -> T:
        try:
            return await work()
        except Exception as exc:
            message = _actionable(exc)
            if message is None:
                raise
            say(message, err=True)
            raise typer.Exit(1) from None
        finally:
            await close()

    return asyncio.run(_go())


def _actionable(exc: Exception) -> str | None:
    """What to print for an error a person can act on (exit status 1, no traceback), or None.

    The error types are imported only once a command has failed: no command pays for the
    modules of the others'.
    """
    from sqlalchemy.exc import DBAPIError

    from bot.intake.blocklist import BlocklistError
    from bot.intake.erasure import ErasureError
    from bot.officers.actions import ActionError
    from bot.rules.book import RuleBookError
    from bot.web.open311 import Open311KeyError
    from routing import RuleFileError

    if isinstance(exc, RuleFileError):
        return str(exc)
    if isinstance(
        exc, ActionError | BlocklistError | ErasureError | RuleBookError | Open311KeyError
    ):
        return f"error: {exc}"
    if isinstance(exc, DBAPIError):
        said = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        if _MISSING_TABLE.search(said):
            return (
                f"error: the database has not got aduan's tables ({said}): run "
                "`aduan db upgrade`, or point ADUAN_DATABASE_URL at the service's database"
            )
        if _MISSING_COLUMN.search(said):
            return (
                f"error: the database's tables are older than this release ({said}): run "
                "`aduan db upgrade`"
            )
        return f"error: the database refused the command: {said}"
    if isinstance(exc, OSError):
        return f"error: cannot reach the database: {exc}"
    return None


# SQLite's and PostgreSQL's words for a table that is not there.
_MISSING_TABLE = re.compile(r"no such table|relation .* does not exist|UndefinedTable", re.I)
# And for a column: the tables are an older release's.
_MISSING_COLUMN = re.compile(r"no such column|column .* does not exist|UndefinedColumn", re.I)


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '2w' → a timedelta; a clear error for anything else."""
    match = re.fullmatch(r"(\d+)\s*([hdw])", text.strip().lower())
    if not match:
        raise typer.BadParameter(f"{text!r}: use a number and h, d or w, e.g. 30d")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(hours=amount) * {"h": 1, "d": 24, "w": 24 * 7}[unit]
