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
from collections.abc import Callable, Iterable, Sequence
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
below (the intake and webhook benchmarks the headline too); `.venv/bin/python -m
bench.sections` rebuilds every section from the saved results without measuring. The
figures are from the machine named in the section, not a promise for another.

**The floor.** Every benchmark also measures, in the same run, on the same database with
the same engine and durability settings (SQLite WAL with `synchronous=FULL`, the default,
unless a table says NORMAL, and `BEGIN IMMEDIATE`; PostgreSQL defaults), the work the
task cannot avoid, done with nothing around it: for intake the same rows written with
bare SQLAlchemy Core statements, one statement per table, in transactions of a fixed size
(as many messages as are in flight, up to the most our group commit puts in one); for the
webhook a server that checks the Twilio signature and commits those rows before it
answers; for routing the text normalised; for the SLA sweep the indexed query and the
same writes. Each section says what its floor is.
**Ratio** everywhere is ours ÷ floor as throughput: higher is better, and 1.0 would mean
the service adds nothing on top of the floor. Comparing with a floor measured in the same
run makes results from different machines and moments comparable.
"""
# The sections in the order BENCHMARKS.md shows them; any other follows, in its own order.
ORDER = (
    "Headline",
    "Webhook",
    "Load",
    "Intake",
    "Email",
    "Faults",
    "Routing",
    "SLA sweep",
    "Transparency",
)


def environment() -> dict[str, Any]:
    """What the figures depend on besides the code: when, where, which commit."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "commit": git_commit(),
    }


# What the benchmarks write themselves: a change there says nothing about the code measured
# (else every benchmark of `make bench` after the first would count as dirty).
OUTPUTS = ("bench/results", "BENCHMARKS.md", "README.md")


def git_commit() -> str:
    """The checked-out commit, marked `+dirty` when the work tree has changes other than
    the benchmarks' own outputs."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        excluded = [f":(exclude){path}" for path in OUTPUTS]
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded))
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def peak_rss_mib() -> float:
    """The process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (`10_000` and `10,000` welcome)."""
    return _at_least(1, text)


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number of at least 0 (`10_000` and `10,000` welcome)."""
    return _at_least(0, text)


def _at_least(least: int, text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, not {value}")
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


def conclude(found: Sequence[str], save: Callable[[], None], *, no_save: bool) -> int:
    """The end of a run: each problem found printed; the results saved only when there is
    none (and saving was not turned off); the exit code."""
    for problem in found:
        print(f"error: {problem}")
    if not no_save and not found:
        save()
    return 1 if found else 0


def print_table(header: list[str], rows: Iterable[list[str]]) -> None:
    """A table for the terminal, every column right-aligned to its widest cell."""
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


def dated_rows(
    saved: Iterable[dict[str, Any]], table_row: Callable[[dict[str, Any]], list[str]]
) -> list[list[str]]:
    """Each saved result's cells, then the date and commit it was measured at."""
    return [[*table_row(data), data["date"][:10], f"`{data['commit']}`"] for data in saved]


def machines(saved: Iterable[dict[str, Any]]) -> list[str]:
    """The machines the saved results were measured on, e.g. `x86_64, 2 CPUs`."""
    return sorted({f"{data['machine']}, {data['nproc']} CPUs" for data in saved})


def load_averages(saved: Iterable[dict[str, Any]]) -> str:
    """The load average at the start of each saved backend's run, e.g. `sqlite 1.2 / …`."""
    return ", ".join(
        f"{data['backend']} " + " / ".join(f"{x:.2f}" for x in data["load_average"])
        for data in saved
    )


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; columns after the first are right-aligned (they hold numbers)."""
    align = [":---"] + ["---:"] * (len(header) - 1)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def paragraphs(*texts: str) -> str:
    """The texts that are not empty, as Markdown paragraphs."""
    return "\n\n".join(text for text in texts if text)


def replace_section(title: str, body: str, path: Path = BENCHMARKS) -> None:
    """Put `## title` + `body` in `path`, replacing that section only; the introduction is
    written afresh from INTRO and the sections stand in ORDER."""
    sections = _sections(path.read_text(encoding="utf-8") if path.exists() else "")
    sections[title] = body.strip()
    titles = sorted(sections, key=lambda name: ORDER.index(name) if name in ORDER else len(ORDER))
    text = INTRO + "".join(f"\n## {name}\n\n{sections[name]}\n" for name in titles)
    path.write_text(text, encoding="utf-8")


def _sections(text: str) -> dict[str, str]:
    """Each `## ` section's body by its title, in the order they stand (the text before the
    first is the introduction, which INTRO replaces)."""
    parts = re.split(r"^## (.+)\n", text, flags=re.MULTILINE)
    return {title: body.strip() for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def add_backend_argument(parser: argparse.ArgumentParser, *, default: str = "all") -> None:
    """`--backend sqlite|postgresql|all`, as every benchmark on storage takes it."""
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default=default)


def add_no_save_argument(parser: argparse.ArgumentParser) -> None:
    """`--no-save`, as every benchmark takes it."""
    parser.add_argument(
        "--no-save", action="store_true", help="print only; write no JSON or BENCHMARKS.md"
    )


def machine_line(saved: Sequence[dict[str, Any]]) -> str:
    """The line under a section's table: the machines, and their load at each run's start."""
    return (
        f"Machine: {'; '.join(machines(saved))}; load average at the start of each backend's "
        f"run: {load_averages(saved)}."
    )
