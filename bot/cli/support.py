"""What every `aduan` command needs: settings or a clear exit, and a service to work on."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import typer

from bot.bootstrap import Service, bootstrap
from bot.cli.log_setup import configure_logging
from bot.intake.blocklist import BlocklistError
from bot.officers.actions import ActionError
from bot.rules.book import RuleBookError
from config.settings import Settings, SettingsError, load_settings
from routing import RuleFileError

T = TypeVar("T")

# Errors a person can act on: printed as they are, exit status 1, no traceback.
_EXPECTED = (ActionError, BlocklistError, RuleBookError, RuleFileError)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def build_service(settings: Settings) -> Service:
    configure_logging(settings.log_level, settings.log_format)
    return bootstrap(settings)


def with_service(work: Callable[[Service], Awaitable[T]]) -> T:
    """Run `work` on a service built from the environment, and close it afterwards."""
    service = build_service(settings_or_exit())

    async def _go() -> T:
        try:
            return await work(service)
        except _EXPECTED as exc:
            message = str(exc) if isinstance(exc, RuleFileError) else f"error: {exc}"
            typer.echo(message, err=True)
            raise typer.Exit(1) from None
        finally:
            await service.aclose()

    return asyncio.run(_go())


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '2w' → a timedelta; a clear error for anything else."""
    match = re.fullmatch(r"(\d+)\s*([hdw])", text.strip().lower())
    if not match:
        raise typer.BadParameter(f"{text!r}: use a number and h, d or w, e.g. 30d")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(hours=amount) * {"h": 1, "d": 24, "w": 24 * 7}[unit]
