"""Transparency: /transparansi and agencies.json answer times, and the CSV export's rate,
with a million complaints.

    .venv/bin/python -m bench.transparency [--backend sqlite|postgresql|all]
                                           [--size 1000000] [--repeats 20] [--no-save]

For each backend a fresh database (a SQLite file in a temporary directory, or a PostgreSQL
schema of its own, dropped at the end) is migrated and seeded by the service built by the
real composition root, then loaded in bulk with `size` complaints received over a year
(`bench.sla_data` in the `YEAR` shape: Core executemany on SQLite, COPY on PostgreSQL).
Every complaint is then marked changed and the per-agency-day counts built by one refresh
(timed, reported as "count all"). Measured, in process through the app (ASGI calls, so
routing, the template and JSON encoding are in; no network):

- the page and agencies.json for the default period (the last 30 days), `repeats` times
  each; median and 95th percentile. Floor: the bare `SELECT agency_id, count(*) … GROUP BY
  agency_id` over the same period, on the same database. Aim: under 200 ms.
- data.csv over a year (the longest period), read to the end: rows per second. Floor: a
  raw cursor dump of the same columns (streamed, 5,000 rows a fetch, nothing formatted).
  Aim: at least 50,000 rows/s. The process's peak memory is reported before and after.

Saves `bench/results/transparency-<backend>.json` and the "Transparency" section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlmodel import col
from starlette.types import ASGIApp, Message, Scope

from bench import report, sla_data
from bench.intake import reachable_backends
from bench.sla import _asyncpg_dsn, fresh_database
from bot.bootstrap import Service, bootstrap
from bot.sla.figures import SETTLED, Period
from config.settings import Settings
from storage.models import Agency, Complaint
from tests.fakes import FakeClock

SIZE = 1_000_000
# A city's year: complaints received evenly over twelve months, most answered and closed,
# a few waiting for their resident or still open.
YEAR = sla_data.Shape(
    shares=(
        (sla_data.Kind.CLOSED, 0.96),
        (sla_data.Kind.ANSWERED, 0.03),
        (sla_data.Kind.WAITING, 0.007),
        (sla_data.Kind.OPEN, 0.003),
    ),
    received={
        **sla_data.RECEIVED,
        sla_data.Kind.CLOSED: (timedelta(days=365), timedelta(days=2)),
    },
)
REPEATS = 20
DUE = 300  # open, their first reminder due: a day's worth
AIM_MS = 200.0
AIM_ROWS = 50_000.0


@dataclass(frozen=True, slots=True)
class Result:
    backend: str
    size: int
    load_seconds: float
    count_all_seconds: float
    page_ms: tuple[float, float]  # median, p95
    agencies_ms: tuple[float, float]
    floor_ms: tuple[float, float]
    csv_rows: int
    csv_rows_per_second: float
    dump_rows_per_second: float
    rss_before_csv_mib: float
    rss_after_csv_mib: float
    environment: dict[str, Any]

    @property
    def passed(self) -> bool:
        return (
            max(self.page_ms[0], self.agencies_ms[0]) < AIM_MS
            and self.csv_rows_per_second >= AIM_ROWS
        )


def _median_p95(seconds: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


async def _timed(run: Callable[[], Awaitable[object]], repeats: int) -> list[float]:
    await run()  # warm: the first call plans and caches
    took = []
    for _ in range(repeats):
        started = time.perf_counter()
        await run()
        took.append(time.perf_counter() - started)
    return took


async def _get(app: ASGIApp, path: str, **params: str) -> int:
    """GET `path` from the app as a server would, streaming: the lines of the body."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": urlencode(params).encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }
    requested = False
    done = asyncio.Event()
    status = 0
    lines = 0

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # a client that stays until the answer is whole
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, lines
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            lines += message.get("body", b"").count(b"\n")

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}")
    return lines


async def _floor(service: Service, period: Period) -> None:
    start, end = period.bounds(service.settings.zone)
    received = col(Complaint.received_at)
    statement = (
        sa.select(col(Complaint.agency_id), sa.func.count())
        .where(received >= start, received < end)
        .group_by(col(Complaint.agency_id))
    )
    async with service.engine.connect() as connection:
        (await connection.execute(statement)).all()


async def _dump(service: Service, period: Period) -> int:
    """The export's columns read raw through a streaming cursor: what any export must do."""
    start, end = period.bounds(service.settings.zone)
    received = col(Complaint.received_at)
    statement = (
        sa.select(
            col(Complaint.reference),
            col(Agency.code),
            col(Complaint.routing_rule),
            col(Complaint.channel),
            col(Complaint.status),
            received,
            col(Complaint.due_at),
            col(Complaint.first_response_at),
            col(Complaint.closed_at),
        )
        .join(Agency, col(Agency.id) == col(Complaint.agency_id))
        .where(received >= start, received < end)
        .order_by(received, col(Complaint.id))
    )
    rows = 0
    async with service.engine.connect() as connection:
        result = await connection.stream(statement.execution_options(yield_per=5000))
        async for partition in result.partitions(5000):
            rows += len(partition)
    return rows


async def _csv(app: ASGIApp, period: Period) -> int:
    lines = await _get(
        app,
        "/transparansi/data.csv",
        **{"from": period.first.isoformat(), "to": period.last.isoformat()},
    )
    return lines - 1  # the header


async def bench_backend(backend: str, size: int, repeats: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="aduan-bench-") as directory:
        async with fresh_database(backend, Path(directory), size) as database:
            settings = Settings(
                database_url=database.url, database_schema=database.schema, _env_file=None
            )
            service = bootstrap(settings, clock=FakeClock(sla_data.NOW))
            try:
                return await _measure(backend, service, size, repeats, database.schema)
            finally:
                await service.aclose()


async def _measure(
    backend: str, service: Service, size: int, repeats: int, schema: str | None
) -> Result:
    await service.prepare_database()
    started = time.perf_counter()
    if schema is None:
        await sla_data.load_sqlite(service.engine, size, DUE, YEAR)
    else:
        await sla_data.load_postgresql(service.engine, _asyncpg_dsn(), schema, size, DUE, YEAR)
    load_seconds = time.perf_counter() - started
    print(f"{backend}: {size:,} complaints loaded in {load_seconds:.1f} s")
    started = time.perf_counter()
    async with service.uow() as uow:
        await uow.figures.mark_all()
        await uow.figures.refresh(service.settings.zone, SETTLED)
        await uow.commit()
    count_all = time.perf_counter() - started
    print(f"{backend}: every day counted in {count_all:.1f} s")

    figures = service.figures
    month = Period.ending(figures.today())
    year = Period.ending(figures.today(), 366)
    app = service.app
    page = await _timed(lambda: _get(app, "/transparansi"), repeats)
    agencies = await _timed(lambda: _get(app, "/transparansi/agencies.json"), repeats)
    floor = await _timed(lambda: _floor(service, month), repeats)
    rss_before = report.peak_rss_mib()
    started = time.perf_counter()
    csv_rows = await _csv(app, year)
    csv_seconds = time.perf_counter() - started
    rss_after = report.peak_rss_mib()
    started = time.perf_counter()
    dumped = await _dump(service, year)
    dump_seconds = time.perf_counter() - started
    if dumped != csv_rows:
        raise RuntimeError(f"the CSV has {csv_rows} rows, the period {dumped}")
    return Result(
        backend=backend,
        size=size,
        load_seconds=load_seconds,
        count_all_seconds=count_all,
        page_ms=_median_p95(page),
        agencies_ms=_median_p95(agencies),
        floor_ms=_median_p95(floor),
        csv_rows=csv_rows,
        csv_rows_per_second=csv_rows / csv_seconds,
        dump_rows_per_second=dumped / dump_seconds,
        rss_before_csv_mib=rss_before,
        rss_after_csv_mib=rss_after,
        environment=report.environment(),
    )


HEADER = [
    "backend",
    "complaints",
    "page ms (p95)",
    "agencies.json ms (p95)",
    "floor ms",
    "ratio",
    "CSV rows/s",
    "dump rows/s",
    "ratio",
    "peak MiB before → after CSV",
    "count all s",
]


def table_rows(saved: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for data in saved:
        page, agencies, floor = data["page_ms"], data["agencies_ms"], data["floor_ms"]
        slower = max(page[0], agencies[0])
        rows.append(
            [
                data["backend"],
                f"{data['size']:,}",
                f"{page[0]:.1f} ({page[1]:.1f})",
                f"{agencies[0]:.1f} ({agencies[1]:.1f})",
                f"{floor[0]:.1f}",
                f"{floor[0] / slower:.2f}",
                f"{data['csv_rows_per_second']:,.0f}",
                f"{data['dump_rows_per_second']:,.0f}",
                f"{data['csv_rows_per_second'] / data['dump_rows_per_second']:.2f}",
                f"{data['rss_before_csv_mib']:.0f} → {data['rss_after_csv_mib']:.0f}",
                f"{data['count_all_seconds']:.1f}",
            ]
        )
    return rows


def section_body(saved: Sequence[dict[str, Any]]) -> str:
    runs = ", ".join(
        f"{d['backend']} {d['environment']['date']} at {d['environment']['commit']}" for d in saved
    )
    return report.paragraphs(
        "`.venv/bin/python -m bench.transparency`: the public figures with a database of "
        "complaints received over a year (`bench.sla_data`, shape `YEAR`: the last 30 days "
        "hold 112,000 of a million). Page and agencies.json: "
        "the default period (30 days), timed in process around the app, median (95th "
        "percentile) of the repeats; the floor is a bare `SELECT agency_id, count(*)` "
        "grouped by agency over the same period, and ratio = floor ÷ the slower of the two. "
        f"Aim: under {AIM_MS:.0f} ms. CSV: data.csv over a year read to the end; the floor "
        "is a raw streaming cursor over the same columns, nothing formatted. "
        f"Aim: {AIM_ROWS:,.0f} rows/s, memory flat. Count all: one refresh counting "
        "every day of every complaint, as after migration 0017.",
        report.markdown_table(HEADER, table_rows(saved)),
        f"Runs: {runs}.",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.transparency", description=__doc__.split("\n")[0]
    )
    report.add_backend_argument(parser)
    parser.add_argument("--size", type=report.positive_int, default=SIZE)
    parser.add_argument("--repeats", type=report.positive_int, default=REPEATS)
    report.add_no_save_argument(parser)
    args = parser.parse_args(argv)

    async def run() -> list[Result]:
        return [
            await bench_backend(backend, args.size, args.repeats)
            for backend in await reachable_backends(args.backend)
        ]

    results = asyncio.run(run())
    report.print_table(HEADER, table_rows([asdict(r) for r in results]))
    if not args.no_save:
        report.publish(
            {f"transparency-{r.backend}": asdict(r) for r in results},
            "Transparency",
            section_body,
            "transparency-",
        )
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
