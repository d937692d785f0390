"""The buttons under messages, and how the outbox stores them."""

from __future__ import annotations

import json
from dataclasses import fields

from bot.messaging.templates import OFFICER_LANGUAGE, render
from channels.base import ActionKind, Button

# The buttons under a complaint in an agency's group, in the order they show.
_COMPLAINT_ACTIONS = (
    (ActionKind.TAKE, "button_take"),
    (ActionKind.ASK, "button_ask"),
    (ActionKind.TRANSFER, "button_transfer"),
    (ActionKind.CLOSE, "button_close"),
    (ActionKind.REJECT, "button_reject"),
)


def complaint_buttons(reference: str) -> tuple[Button, ...]:
    """What an agency's group can do with a new (or newly transferred) complaint."""
    return tuple(
        Button(render(label, OFFICER_LANGUAGE), action, reference)
        for action, label in _COMPLAINT_ACTIONS
    )


def complaint_buttons_json(reference: str) -> str:
    """`to_json(complaint_buttons(reference))`, filled into JSON made once: every new
    complaint's notice carries these, and encoding them each time cost more than routing."""
    return _COMPLAINT_BUTTONS_JSON.replace(_REFERENCE_SLOT, json.dumps(reference)[1:-1])


def rating_buttons() -> tuple[Button, ...]:
    """A resident rates a closed complaint: pressing 4 is as if they typed "4"."""
    return tuple(Button("⭐" * score, says=str(score)) for score in range(1, 6))


def to_json(buttons: tuple[Button, ...]) -> str | None:
    if not buttons:
        return None
    return json.dumps([_fields(button) for button in buttons])


def from_json(stored: str | None) -> tuple[Button, ...]:
    if not stored:
        return ()
    return tuple(
        Button(
            item["label"],
            ActionKind(item["action"]) if "action" in item else None,
            item.get("reference"),
            item.get("argument"),
            item.get("says"),
        )
        for item in json.loads(stored)
    )


def _fields(button: Button) -> dict[str, object]:
    """The button's set fields (asdict would deep-copy each value, for nothing here)."""
    values = ((name, getattr(button, name)) for name in _BUTTON_FIELDS)
    return {name: value for name, value in values if value is not None}


_BUTTON_FIELDS = tuple(field.name for field in fields(Button))
_REFERENCE_SLOT = "{reference}"
_COMPLAINT_BUTTONS_JSON = json.dumps(
    [_fields(button) for button in complaint_buttons(_REFERENCE_SLOT)]
)
