"""`aduan complaint …`: look at a complaint, and act on it as one of its officers.

An action goes through the officer desk, as a press or a reply in the agency's Telegram
group does: the same authority (an officer acts on their agency's complaints only, an
admin on any), the same states, the same audit rows, and the resident's message in the
outbox for the running service to send on the channel they used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.support import Tables, with_service, with_tables
from bot.cli.terminal import say
from channels.base import ActionKind

if TYPE_CHECKING:
    from bot.bootstrap import Service
    from channels.base import ActionResult

complaint_app = typer.Typer(
    help="Look at complaints (operators; shows personal data) and act on them as an officer.",
    no_args_is_help=True,
)

_REFERENCE = typer.Argument(help="The complaint's reference, e.g. FATV-W9MX")
_AS = typer.Option("--as", help="The officer acting: their email address or officer id")


@complaint_app.command("show")
def show(reference: str) -> None:
    """Print a complaint with its messages, outbox rows and audit trail."""
    from bot.cli.record_text import render_record
    from bot.records.queries import complaint_record

    async def work(tables: Tables) -> str | None:
        record = await complaint_record(tables.uow, reference)
        return render_record(record, tables.settings.zone) if record else None

    shown = with_tables(work)
    if shown is None:
        say(f"error: no complaint has reference {reference!r}", err=True)
        raise typer.Exit(1)
    say(shown)


@complaint_app.command("reply")
def reply(
    reference: Annotated[str, _REFERENCE],
    text: Annotated[str, typer.Argument(help="The answer, as the resident will read it")],
    officer: Annotated[str, _AS],
) -> None:
    """Send the agency's answer to the resident, on the channel they used."""
    _act(officer, ActionKind.ANSWER, reference, text)


@complaint_app.command("ask")
def ask(
    reference: Annotated[str, _REFERENCE],
    text: Annotated[str, typer.Argument(help="The question for the resident")],
    officer: Annotated[str, _AS],
) -> None:
    """Ask the resident for more information; the answer time pauses until they reply."""
    _act(officer, ActionKind.ASK, reference, text)


@complaint_app.command("note")
def note(
    reference: Annotated[str, _REFERENCE],
    text: Annotated[str, typer.Argument(help="The note; the resident never sees it")],
    officer: Annotated[str, _AS],
) -> None:
    """Keep an internal note on the complaint for the agency's officers."""
    _act(officer, ActionKind.NOTE, reference, text)


@complaint_app.command("close")
def close(
    reference: Annotated[str, _REFERENCE],
    officer: Annotated[str, _AS],
    text: Annotated[str, typer.Argument(help="A closing word for the resident")] = "",
) -> None:
    """Close the complaint; the resident is told and asked to rate the answer."""
    _act(officer, ActionKind.CLOSE, reference, text)


@complaint_app.command("reject")
def reject(
    reference: Annotated[str, _REFERENCE],
    text: Annotated[str, typer.Argument(help="The reason, sent to the resident")],
    officer: Annotated[str, _AS],
) -> None:
    """Reject the complaint (spam, out of scope); the resident gets the reason."""
    _act(officer, ActionKind.REJECT, reference, text)


@complaint_app.command("transfer")
def transfer(
    reference: Annotated[str, _REFERENCE],
    agency: Annotated[str, typer.Argument(help="The code of the agency to take it, e.g. PUPR")],
    officer: Annotated[str, _AS],
    reason: Annotated[str, typer.Option(help="Why, for the new agency's notice")] = "",
) -> None:
    """Hand the complaint to another agency, keeping its history; that agency is told."""
    _act(officer, ActionKind.TRANSFER, reference, reason, agency=agency)


def _act(
    officer: str, kind: ActionKind, reference: str, text: str, *, agency: str | None = None
) -> None:
    async def work(service: Service) -> ActionResult:
        return await service.desk.act_as(officer, kind, reference, text, agency_code=agency)

    result = with_service(work)
    if not result.ok:
        say(f"error: {result.message}", err=True)
        raise typer.Exit(1)
    say(result.message)
