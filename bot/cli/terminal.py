"""Everything the CLI prints goes through `say`: text from residents, mail and rule files
reaches an operator's terminal, and a control sequence in it (ESC, a bidi override) could
rewrite the screen, hide a line or fake a prompt. Such characters are printed as escapes
(`\\x1b`, `\\u202e`); newlines and tabs stay."""

from __future__ import annotations

import re

import typer

# C0 controls but tab and newline, DEL, C1 controls, and the bidi embeddings, overrides,
# isolates and marks that reorder what a terminal shows.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escaped(text: str) -> str:
    """`text` with every character a terminal would act on written as an escape."""
    return _UNSAFE.sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def say(text: str, *, err: bool = False, nl: bool = True) -> None:
    """Print `text` (to stderr with `err`), escaped."""
    typer.echo(escaped(text), err=err, nl=nl)
