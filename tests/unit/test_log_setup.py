"""Secrets never reach a log line, however the line escapes them."""

from __future__ import annotations

import logging

import pytest

from bot.cli.log_setup import REDACTED, ConsoleFormatter, JsonFormatter, Redacting, written_forms

# A password as operators choose them: with the characters JSON, reprs and URLs escape.
SECRET = 'sandi-"rahasia"\\kota/é'


@pytest.mark.parametrize("inner", [JsonFormatter(), ConsoleFormatter()], ids=["json", "console"])
def test_a_secret_is_redacted_in_every_form_a_line_writes_it(inner: logging.Formatter) -> None:
    formatter = Redacting(inner, [SECRET])
    try:
        raise RuntimeError(f"login refused for {SECRET!r}: {SECRET.encode()!r}")
    except RuntimeError as exc:
        record = logging.makeLogRecord(
            {
                "msg": "connecting to %s as %r",
                "args": (f"imap://aduan:{SECRET}@mail", SECRET),
                "levelname": "ERROR",
                "exc_info": (type(exc), exc, exc.__traceback__),
                "password": SECRET,
            }
        )
    line = formatter.format(record)

    assert REDACTED in line
    assert not [form for form in written_forms(SECRET) if form in line], line
