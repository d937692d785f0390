"""The buttons officers get under a complaint, and how the outbox stores them."""

from __future__ import annotations

import json

from channels.base import ActionKind, Button


def complaint_buttons(reference: str) -> tuple[Button, ...]:
    """What an agency's group can do with a new (or newly transferred) complaint."""
    return (
        Button("Ambil", ActionKind.TAKE, reference),
        Button("Minta info", ActionKind.ASK, reference),
        Button("Alihkan", ActionKind.TRANSFER, reference),
        Button("Selesai", ActionKind.CLOSE, reference),
        Button("Tolak", ActionKind.REJECT, reference),
    )


def to_json(buttons: tuple[Button, ...]) -> str | None:
    if not buttons:
        return None
    return json.dumps(
        [{"label": b.label, "action": b.action, "reference": b.reference} for b in buttons]
    )


def from_json(stored: str | None) -> tuple[Button, ...]:
    if not stored:
        return ()
    return tuple(
        Button(item["label"], ActionKind(item["action"]), item["reference"])
        for item in json.loads(stored)
    )
