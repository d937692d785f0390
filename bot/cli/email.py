"""`aduan email …`: mail as the service reads it (`parse`), and the mail it kept but took as
nobody's message (`rejected`: unreadable, too big, an automatic reply, a mailing list, a
bounce), newest first."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.support import parse_duration, settings_or_exit, with_tables
from bot.cli.terminal import say

if TYPE_CHECKING:
    from bot.cli.support import Tables
    from storage.models import RefusedMessage

email_app = typer.Typer(
    help="Email: how the service reads a message, and the mail it refused.", no_args_is_help=True
)


@email_app.command("parse")
def parse(
    file: Annotated[Path, typer.Argument(help="A message as a mail server stores it (.eml)")],
) -> None:
    """Print, as JSON, the message as intake would receive it (exit 0), or why it would be
    refused or which of our messages it reports on (exit 1)."""
    import asyncio
    import json
    from collections.abc import Sequence
    from datetime import UTC, datetime

    from channels.base import DeliveryReport, RefusedMessage
    from channels.email_message import read_email

    try:
        raw = file.read_bytes()
    except OSError as exc:
        say(f"error: cannot read {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    settings = settings_or_exit()
    dropped: list[str] = []

    def note(files: Sequence[str]) -> str:
        # Listed in the output instead of written under the text.
        dropped.extend(files)
        return ""

    parsed = asyncio.run(
        read_email(
            raw,
            received_at=datetime.now(UTC),
            max_bytes=settings.email_max_bytes,
            dropped_note=note,
        )
    )
    shown: dict[str, object]
    if isinstance(parsed, RefusedMessage):
        shown = {
            "refused": parsed.reason,
            "message_id": parsed.provider_message_id,
            "sender": parsed.sender,
        }
    elif isinstance(parsed, DeliveryReport):
        shown = {
            "delivery_report": {
                "about": parsed.provider_message_id,
                "status": parsed.status.value,
                "error": parsed.error_code,
            }
        }
    else:
        shown = {
            "sender": parsed.sender,
            "display_name": parsed.display_name,
            "subject": parsed.subject,
            "message_id": parsed.provider_message_id,
            "text": parsed.text,
            "original_text": parsed.original_text,
            "attachments": [
                {"name": a.filename, "type": a.content_type, "size": len(a.content)}
                for a in parsed.attachments
            ],
            "dropped": dropped,
            # What it may continue: the messages it answers (In-Reply-To, then References,
            # newest first) and a reference in its subject, both checked by the service.
            "continues": {
                "thread_keys": list(parsed.thread_keys),
                "subject_reference": parsed.subject_reference,
            },
        }
    say(json.dumps(shown, ensure_ascii=False, indent=2))
    if isinstance(parsed, RefusedMessage | DeliveryReport):
        raise typer.Exit(1)


_LISTED = 200


@email_app.command("rejected")
def rejected(
    since: Annotated[str, typer.Option(help="How far back: 12h, 7d, 2w")] = "7d",
    show: Annotated[
        int | None, typer.Option(help="Print this refused message's raw mail (its ID)")
    ] = None,
) -> None:
    """List refused messages (time, sender, reason, Message-ID), or print one raw."""
    window = parse_duration(since)

    async def listed(tables: Tables) -> list[str]:
        async with tables.uow() as uow:
            refused = await uow.refused.since(tables.clock.now() - window, _LISTED)
        zone = tables.settings.zone
        return [
            f"{row.id:>6}  {row.received_at.astimezone(zone):%Y-%m-%d %H:%M %Z}  "
            f"{row.sender or '-'}  {row.reason}  {row.provider_message_id}"
            for row in refused
        ]

    async def one(tables: Tables) -> RefusedMessage | None:
        async with tables.uow() as uow:
            return await uow.refused.get(show) if show is not None else None

    if show is not None:
        found = with_tables(one)
        if found is None:
            say(f"error: no refused message has ID {show}", err=True)
            raise typer.Exit(1)
        # Line ends as the terminal's, so the mail reads (and saves as a .eml) cleanly.
        say(found.raw.decode("utf-8", errors="replace").replace("\r\n", "\n"))
        return
    lines = with_tables(listed)
    if not lines:
        say(f"no refused messages in the last {since}")
        return
    for line in lines:
        say(line)
    if len(lines) == _LISTED:
        say(f"(the newest {_LISTED}; narrow --since to see older ones)")
