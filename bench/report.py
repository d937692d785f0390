"""Where benchmark results go: JSON under bench/results/, a table in BENCHMARKS.md.

Each benchmark owns one `## <Title>` section of BENCHMARKS.md and regenerates only that
section, so benchmarks can be run one at a time without losing each other's tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BENCHMARKS = ROOT / "BENCHMARKS.md"

INTRO = """\
# Benchmarks

Run them all with `make bench`, or one with `.venv/bin/python -m bench.<name>` (add `--help`
for its options). Each run writes JSON to `bench/results/` and regenerates its own section
below; the figures are from the machine named in the section, not a promise for another.

**The floor.** Every benchmark also measures, in the same run and on the same database with
the same engine and durability settings (SQLite WAL with `synchronous=NORMAL` and
`BEGIN IMMEDIATE`; PostgreSQL defaults), the bare cost of the writes the work cannot avoid:
the same rows written with plain SQLAlchemy Core statements, one transaction per unit of
work, no reads, no ORM, no service logic. **Ratio** = ours ÷ floor: 1.0 would mean the
service adds nothing on top of the database writes it must make. (The webhook benchmark's
floor is the HTTP side instead: a bare endpoint that parses the same webhook.) Comparing
with a floor measured in the same run makes results from different machines and moments
comparable.
"""


def environment() -> dict[str, Any]:
    """What the figures depend on besides the code: when, where, which commit."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "commit": git_commit(),
    }


def git_commit() -> str:
    """The checked-out commit, marked `+dirty` when the work tree has changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def peak_rss_mib() -> float:
    """The process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (`10_000` and `10,000` welcome)."""
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Save one result as `bench/results/<name>.json`."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_results(prefix: str) -> list[dict[str, Any]]:
    """Every saved result whose file name starts with `prefix`, by file name."""
    if not RESULTS.is_dir():
        return []
    paths = sorted(RESULTS.glob(f"{prefix}*.json"))
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths]


def publish(
    results: dict[str, dict[str, Any]],
    section: str,
    body: Callable[[list[dict[str, Any]]], str],
    prefix: str,
) -> None:
    """Save each result as JSON, then rebuild `## section` from every saved `prefix*` result."""
    for name, result in results.items():
        path = write_result(name, result)
        print(f"wrote {path.relative_to(ROOT)}")
    replace_section(section, body(read_results(prefix)))
    print(f"updated {BENCHMARKS.relative_to(ROOT)}")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; columns after the first are right-aligned (they hold numbers)."""
    align = [":---"] + ["---:"] * (len(header) - 1)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def replace_section(title: str, body: str, path: Path = BENCHMARKS) -> None:
    """Put `## title` + `body` in `path`, replacing that section only (or appending it)."""
    text = path.read_text(encoding="utf-8") if path.exists() else INTRO
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _match: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
