"""The headline of BENCHMARKS.md and its line in README.md: the end-to-end figure (a signed
SMS webhook in, committed, 200 out) with the in-process intake figure beside it.

Built from the results `bench.webhook` and `bench.intake` saved; each of them refreshes it
when it publishes. In README.md only the line that ends with MARKER is rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import floor, report

TITLE = "Headline"
README = report.ROOT / "README.md"
MARKER = "<!-- written by bench/headline.py -->"
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def refresh(readme: Path = README) -> None:
    """Rebuild the headline section and README's line from every saved result."""
    # SQLite first: the aims are set on it.
    webhook = sorted(report.read_results("webhook-"), key=lambda data: data["backend"] != "sqlite")
    intake = report.read_results("intake-")
    report.replace_section(TITLE, section_body(webhook, intake))
    text = readme.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    marked = [index for index, line in enumerate(lines) if MARKER in line]
    if not marked:
        print(f"{readme.name} has no line marked {MARKER}: left as it is")
        return
    for index in marked:
        lines[index] = readme_line(webhook, intake) + "\n"
    readme.write_text("".join(lines), encoding="utf-8")
    print(f"updated {readme.relative_to(report.ROOT)} (the headline line)")


def _most_in_flight(intake: Sequence[dict[str, Any]], backend: str) -> dict[str, Any] | None:
    """The intake run on `backend` with the most messages in flight, the busy hour's, with
    the default durability, on a fresh database (SQLite's NORMAL runs and those on a
    database already holding messages are comparisons, not the headline)."""
    runs = [
        data
        for data in intake
        if data["backend"] == backend
        and data.get("synchronous") != "normal"
        and not data.get("stored")
    ]
    return max(runs, key=lambda data: int(data.get("in_flight", 1)), default=None)


def _ratio(data: dict[str, Any], spec: str) -> str:
    return format(data["ratio"], spec) if floor.same_floor(data) else "earlier floor"


def section_body(webhook: Sequence[dict[str, Any]], intake: Sequence[dict[str, Any]]) -> str:
    """The headline section: one row per backend the webhook benchmark measured."""
    header = [
        "backend",
        "end to end webhooks/s",
        "in flight",
        "ratio ours ÷ floor",
        "p50 / p99 ms",
        "in process msg/s",
        "in flight",
        "ratio ours ÷ floor",
        "measured",
    ]
    rows = []
    for data in webhook:
        beside = _most_in_flight(intake, data["backend"])
        commits = [f"`{data['commit']}`"]
        if beside is not None and beside["commit"] != data["commit"]:
            commits.append(f"`{beside['commit']}`")
        rows.append(
            [
                data["backend"],
                f"**{data['ours_req_per_s']:,.0f}**",
                str(data["clients"]),
                _ratio(data, ".2f"),
                f"{data['ours_p50_ms']:,.1f} / {data['ours_p99_ms']:,.1f}",
                "–" if beside is None else f"{beside['ours_msg_per_s']:,.0f}",
                "–" if beside is None else str(beside.get("in_flight", 1)),
                "–" if beside is None else _ratio(beside, ".2f"),
                f"{data['date'][:10]}, " + " / ".join(commits),
            ]
        )
    table = report.markdown_table(header, rows) if rows else "Not measured yet: `make bench`."
    return f"""\
**End to end** is what a provider sees: a signed Twilio SMS webhook in over loopback HTTP
to `aduan run`, the message committed with everything intake writes for it, 200 out
([Webhook](#webhook)). Beside it, **in process**: intake alone, `IntakeService.handle`
called directly with no HTTP around it ([Intake](#intake)). The gap between the two is the
web stack, the signature check and what else the process does meanwhile (the outbox
sending the acknowledgements). Each ratio is ours ÷ that benchmark's floor as throughput
(higher is better, 1.0 = nothing on top of the floor).

{table}

{floor.earlier_floor_note([*webhook, *intake])}
"""


def readme_line(webhook: Sequence[dict[str, Any]], intake: Sequence[dict[str, Any]]) -> str:
    """README's one line of figures, ending with MARKER."""
    if not webhook:
        return f"Benchmarks: [BENCHMARKS.md](BENCHMARKS.md#headline) (`make bench`). {MARKER}"
    ends = []
    for data in webhook:
        against = f" ({data['ratio']:.2f} × the floor)" if floor.same_floor(data) else ""
        ends.append(f"**{data['ours_req_per_s']:,.0f}/s** on {NAMES[data['backend']]}{against}")
    besides = [
        beside
        for data in webhook
        if (beside := _most_in_flight(intake, data["backend"])) is not None
    ]
    in_flight = {int(beside.get("in_flight", 1)) for beside in besides}
    parts = [
        f"{beside['ours_msg_per_s']:,.0f} msg/s on {NAMES[beside['backend']]}"
        + ("" if len(in_flight) == 1 else f" ({beside.get('in_flight', 1)} in flight)")
        for beside in besides
    ]
    intake_part = ""
    if parts:
        common = f" ({next(iter(in_flight))} in flight)" if len(in_flight) == 1 else ""
        intake_part = f"; intake alone, in process: {', '.join(parts)}{common}"
    clients = sorted({int(data["clients"]) for data in webhook})
    return (
        "Measured ([BENCHMARKS.md](BENCHMARKS.md#headline)), end to end, a signed SMS webhook "
        f"in → committed → 200: {', '.join(ends)}, {'/'.join(map(str, clients))} in flight"
        f"{intake_part}. {MARKER}"
    )
