"""Structured logs: one JSON object per line (or key=value for people at a terminal).

Secrets never reach a log: every line, tracebacks included, is written with the values of
the configured secrets replaced (a Bot API URL carries the bot's token, an error may quote
a URL with a password), and the HTTP clients' per-request lines are not logged at all.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import quote

# Attributes every record has; anything else came in through `extra=` and is logged as a field.
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        stamp = datetime.now().strftime("%H:%M:%S")
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line} {extras}" if extras else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


REDACTED = "[redacted]"
# Shorter values are not secrets worth the name and would garble unrelated text.
_SHORTEST_SECRET = 6
# httpx and httpcore log every request's URL at INFO and DEBUG (the Bot API's has the token).
_QUIET = (
    "uvicorn.access",
    "apscheduler.executors.default",
    "apscheduler.scheduler",
    "httpx",
    "httpcore",
)


class Redacting(logging.Formatter):
    """Writes what `inner` writes, with every secret's value replaced by [redacted]."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self._inner = inner
        # Longest first, so that a secret containing another is replaced whole.
        self._secrets = sorted(
            {form for s in secrets if len(s) >= _SHORTEST_SECRET for form in written_forms(s)},
            key=len,
            reverse=True,
        )

    def format(self, record: logging.LogRecord) -> str:
        line = self._inner.format(record)
        for secret in self._secrets:
            line = line.replace(secret, REDACTED)
        return line


def written_forms(secret: str) -> set[str]:
    """The ways a secret shows in a line: as it is, escaped by a repr or percent-encoded in
    a URL, and each of those escaped again by the JSON formatter (a password holding a `"`
    or a `\\` is written escaped, and replacing only the plain value would miss it)."""
    forms = {
        secret,
        repr(secret)[1:-1],
        repr(secret.encode())[2:-1],
        quote(secret, safe=""),
    }
    return forms | {json.dumps(form, ensure_ascii=False)[1:-1] for form in forms}


def configure_logging(level: str, fmt: str, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    inner = JsonFormatter() if fmt == "json" else ConsoleFormatter()
    handler.setFormatter(Redacting(inner, secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in _QUIET:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
