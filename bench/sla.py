"""SLA sweep: the chaser's sweep with a small and a large complaints table, the same number due.

    .venv/bin/python -m bench.sla [--backend sqlite|postgresql|all] [--small 10000]
                                  [--large 1000000] [--due 1000] [--repeats 5] [--no-save]

For each backend, two databases (SQLite files in a temporary directory, or two fresh
PostgreSQL schemas, dropped at the end) are migrated and seeded by the service built by the
real composition root, then loaded in bulk with `small` and `large` complaints of which
exactly `due` have their half-time reminder due (see `bench.sla_data`). Each run of
`service.chaser.sweep()` queues one reminder and writes one audit row per due complaint, and
plans its next stage; between runs the due state is restored, untimed. The two sizes take
turns run after run, so a shared machine's load hits both alike; the median of the runs is
reported. Growth = median(large) ÷ median(small), of times (lower is better); the aim is ≤ 2.

The floor, in the same runs on the same databases: the bare indexed query that finds the
due rows plus the writes of the same rows in bare SQLAlchemy Core, one transaction per
batch of the chaser's size. Also timed: the bare query alone, fetching all due rows at once.
The plan check EXPLAINs the very statement `ComplaintRepository.chase_due` sent (captured
during an untimed warm-up sweep) on each database, and fails the run unless it uses
`ix_complaints_next_chase_at`. Saves `bench/results/sla-<backend>.json` and the "SLA sweep"
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import SQLModel

from bench import report, sla_data
from bench.intake import PG_URL, Database, reachable_backends
from bot.bootstrap import Service, bootstrap
from bot.messaging.notices import agency_contact
from bot.sla.clock import STAGES
from config.settings import Settings
from tests.fakes import FakeClock

SMALL = 10_000
LARGE = 1_000_000
DUE = 1_000
REPEATS = 5
AIM_GROWTH = 2.0
INDEX = "ix_complaints_next_chase_at"

COMPLAINTS = SQLModel.metadata.tables["complaints"]
OUTBOX = SQLModel.metadata.tables["outbox"]
AUDIT = SQLModel.metadata.tables["audit_log"]


# --- databases ---------------------------------------------------------------------------


@dataclass(slots=True)
class Sized:
    """One loaded database of one size, the service on it, and how long loading took."""

    size: int
    service: Service
    data: sla_data.Loaded
    load_seconds: float
    postgresql: bool


def _asyncpg_dsn() -> str:
    return PG_URL.replace("postgresql+asyncpg://", "postgresql://", 1)


@contextlib.asynccontextmanager
async def fresh_database(backend: str, directory: Path, size: int) -> AsyncIterator[Database]:
    """An empty database for one size: a SQLite file, or a fresh PostgreSQL schema dropped
    on exit."""
    if backend == "sqlite":
        yield Database(f"sqlite+aiosqlite:///{directory / f'sla-{size}.db'}")
        return
    schema = f"bench_sla_{uuid.uuid4().hex[:10]}_{size}"
    try:
        yield Database(PG_URL, schema)
    finally:
        await _drop_schema(schema)


async def _drop_schema(schema: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_dsn(), timeout=10)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def loaded_database(
    backend: str, directory: Path, size: int, due: int
) -> AsyncIterator[Sized]:
    """The service as production builds it, migrated and seeded, on a database holding
    `size` complaints of which `due` are due; the service is closed on exit."""
    async with fresh_database(backend, directory, size) as database:
        settings = Settings(
            database_url=database.url, database_schema=database.schema, _env_file=None
        )
        # The clock stays at the moment the due reminders fall due.
        service = bootstrap(settings, clock=FakeClock(sla_data.NOW))
        try:
            await service.prepare_database()
            started = time.perf_counter()
            if database.schema is None:
                data = await sla_data.load_sqlite(service.engine, size, due)
            else:
                data = await sla_data.load_postgresql(
                    service.engine, _asyncpg_dsn(), database.schema, size, due
                )
            took = time.perf_counter() - started
            yield Sized(size, service, data, took, postgresql=database.schema is not None)
        finally:
            await service.aclose()


# --- the due state, restored between runs ------------------------------------------------


async def restore(db: Sized) -> None:
    """Undo a sweep: every due complaint back at stage 0 with its first reminder due, their
    reminders and audit rows deleted; on PostgreSQL the dead rows vacuumed away, so each
    run starts from the same state. Checks that exactly the due complaints are due again."""
    engine = db.service.engine
    restore_due = (
        sa.update(COMPLAINTS)
        .where(COMPLAINTS.c.id == sa.bindparam("b_id"))
        .values(chase_stage=0, next_chase_at=sa.bindparam("b_next"))
    )
    async with engine.begin() as connection:
        await connection.execute(
            restore_due, [{"b_id": cid, "b_next": at} for cid, at in db.data.due.items()]
        )
        await connection.execute(sa.delete(OUTBOX).where(OUTBOX.c.kind == "chase"))
        await connection.execute(sa.delete(AUDIT).where(AUDIT.c.action.in_(("chase", "overdue"))))
    if db.postgresql:
        await _vacuum(engine)
    due = await _count(engine, COMPLAINTS.c.next_chase_at <= sla_data.NOW)
    if due != len(db.data.due):
        raise RuntimeError(f"{due} complaints due after restoring, expected {len(db.data.due)}")


async def _vacuum(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("VACUUM (INDEX_CLEANUP ON) complaints, outbox, audit_log")


async def _count(engine: AsyncEngine, *where: Any) -> int:
    async with engine.connect() as connection:
        result = await connection.execute(sa.select(sa.func.count()).where(*where))
        return int(result.scalar_one())


# --- what is timed -----------------------------------------------------------------------


async def ours(db: Sized) -> int:
    """The chaser's sweep, as the scheduler runs it; how many reminders it queued."""
    return await db.service.chaser.sweep()


def due_query(limit: int) -> sa.Select[Any]:
    """The bare query for due complaints, with the columns the floor's writes need; FOR
    UPDATE SKIP LOCKED on PostgreSQL, left out on SQLite (as in `chase_due`)."""
    c = COMPLAINTS.c
    return (
        sa.select(
            c.id,
            c.reference,
            c.agency_id,
            c.text,
            c.due_at,
            c.sla_running_since,
            c.sla_budget_seconds,
            c.sla_elapsed_seconds,
        )
        .where(c.next_chase_at <= sa.bindparam("now", type_=c.next_chase_at.type))
        .order_by(c.next_chase_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


async def bare_query(db: Sized) -> int:
    """The due rows found by the bare indexed query, all in one go, in one transaction."""
    async with db.service.engine.begin() as connection:
        rows = await connection.execute(due_query(len(db.data.due)), {"now": sla_data.NOW})
        return len(rows.all())


class Floor:
    """The chaser's work with nothing around it: per batch of the chaser's size, one
    transaction with the bare query, one UPDATE per complaint (executemany), and one INSERT
    per reminder and per audit row (executemany), all bare Core, no reads besides."""

    def __init__(self, db: Sized, contacts: dict[int, tuple[str, str]], batch: int) -> None:
        self._db = db
        self._contacts = contacts
        self._batch = batch
        self._update = (
            sa.update(COMPLAINTS)
            .where(COMPLAINTS.c.id == sa.bindparam("b_id"))
            .values(chase_stage=1, next_chase_at=sa.bindparam("b_next"))
        )

    @classmethod
    async def on(cls, db: Sized) -> Floor:
        """The floor on `db`, with the agencies' contacts read beforehand (untimed)."""
        async with db.service.uow() as uow:
            agencies = await uow.agencies.all()
        contacts = {
            agency.id: (address.channel.value, address.address)
            for agency in agencies
            if agency.id is not None and (address := agency_contact(agency)) is not None
        }
        return cls(db, contacts, db.service.settings.chase_batch)

    async def sweep(self) -> int:
        """Remind every due complaint; how many reminders were queued."""
        queued = 0
        while True:
            async with self._db.service.engine.begin() as connection:
                found = await self._batch_of(connection)
            queued += found
            if found < self._batch:
                return queued

    async def _batch_of(self, connection: AsyncConnection) -> int:
        now = sla_data.NOW
        result = await connection.execute(due_query(self._batch), {"now": now})
        rows = result.all()
        if not rows:
            return 0
        await connection.execute(self._update, [self._next_stage(row) for row in rows])
        await connection.execute(sa.insert(OUTBOX), [self._reminder(row, now) for row in rows])
        await connection.execute(sa.insert(AUDIT), [self._audit(row, now) for row in rows])
        return len(rows)

    @staticmethod
    def _next_stage(row: sa.Row[Any]) -> dict[str, Any]:
        """Stage 1 recorded, stage 2 planned (calendar days: plain arithmetic)."""
        left = row.sla_budget_seconds * STAGES[1] - row.sla_elapsed_seconds
        return {"b_id": row.id, "b_next": row.sla_running_since + timedelta(seconds=left)}

    def _reminder(self, row: sa.Row[Any], now: datetime) -> dict[str, Any]:
        channel, address = self._contacts[row.agency_id]
        text = " ".join(row.text.split())[:200]
        return {
            "key": f"chase:{row.id}:1:{channel}:{address}",
            "kind": "chase",
            "channel": channel,
            "recipient": address,
            "complaint_id": row.id,
            "subject": f"[{row.reference}] Pengingat batas jawaban",
            "text": f"Pengingat: pengaduan {row.reference} sudah memakai separuh waktu "
            f"jawaban. Batas jawaban: {row.due_at:%Y-%m-%d %H:%M} UTC.\n{text}",
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }

    @staticmethod
    def _audit(row: sa.Row[Any], now: datetime) -> dict[str, Any]:
        return {
            "complaint_id": row.id,
            "actor": "system",
            "action": "chase",
            "detail": "stage 1, 1 reminders",
            "created_at": now,
        }


# --- the plan check ----------------------------------------------------------------------


@contextlib.contextmanager
def captured(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement and its parameters as sent to the driver while the block runs."""
    statements: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        statements.append((args[2], args[3]))  # (conn, cursor, statement, parameters, …)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def chase_due_statement(statements: Sequence[tuple[str, Any]]) -> tuple[str, Any]:
    """The first statement that selected due complaints: `chase_due`'s."""
    for sql, parameters in statements:
        if "FROM complaints" in sql and "next_chase_at <=" in sql:
            return sql, parameters
    raise RuntimeError("the sweep sent no query for due complaints")


async def explain(db: Sized, sql: str, parameters: Any) -> list[str]:
    """The database's plan for `sql` with the parameters the chaser sent."""
    prefix = "EXPLAIN " if db.postgresql else "EXPLAIN QUERY PLAN "
    async with db.service.engine.connect() as connection:
        result = await connection.exec_driver_sql(prefix + sql, parameters)
        return [str(row[-1]) for row in result]


def uses_index(plan: Sequence[str]) -> bool:
    """Whether the plan reads complaints through the next_chase_at index, with no full scan
    of the table (PostgreSQL: `Seq Scan on complaints`; SQLite: `SCAN complaints` alone)."""
    text = "\n".join(plan)
    full_scan = "Seq Scan on complaints" in text or re.search(r"SCAN complaints$", text, re.M)
    return INDEX in text and not full_scan


# --- runs --------------------------------------------------------------------------------


@dataclass(slots=True)
class SizeResult:
    """One size's figures: every run's seconds, the plan, the load."""

    complaints: int
    kinds: dict[str, int]
    load_seconds: float
    plan: list[str]
    plan_uses_index: bool
    ours_seconds: list[float] = field(default_factory=list)
    floor_seconds: list[float] = field(default_factory=list)
    query_seconds: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        ours, floor = median(self.ours_seconds), median(self.floor_seconds)
        return {
            **asdict(self),
            "ours_median_s": round(ours, 4),
            "floor_median_s": round(floor, 4),
            "query_median_s": round(median(self.query_seconds), 5),
            "ratio": round(floor / ours, 3),  # ours ÷ floor as throughput
        }


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def timed(run: Callable[[], Awaitable[int]], expected: int, what: str) -> float:
    """Seconds `run` took; it must report `expected` rows."""
    started = time.perf_counter()
    got = await run()
    took = time.perf_counter() - started
    if got != expected:
        raise RuntimeError(f"{what}: {got} rows, expected {expected}")
    return took


async def warm_up(db: Sized, floor: Floor) -> SizeResult:
    """An untimed sweep, capturing `chase_due`'s statement, and an untimed floor run; checks
    what the sweep wrote, and EXPLAINs the captured statement."""
    due = len(db.data.due)
    with captured(db.service.engine) as statements:
        await timed(partial(ours, db), due, "sweep")
    engine = db.service.engine
    reminders = await _count(engine, OUTBOX.c.kind == "chase")
    audited = await _count(engine, AUDIT.c.action == "chase")
    if reminders != due or audited != due:
        raise RuntimeError(f"the sweep wrote {reminders} reminders, {audited} audit rows")
    await restore(db)
    await timed(floor.sweep, due, "floor")
    await restore(db)
    plan = await explain(db, *chase_due_statement(statements))
    return SizeResult(db.size, db.data.kinds, db.load_seconds, plan, uses_index(plan))


async def measure(dbs: Sequence[Sized], repeats: int) -> list[SizeResult]:
    """Warm-up, then `repeats` rounds in which each size runs ours, the floor and the bare
    query in turn, the due state restored after each."""
    floors = [await Floor.on(db) for db in dbs]
    results = [await warm_up(db, floor) for db, floor in zip(dbs, floors, strict=True)]
    for _ in range(repeats):
        for db, floor, result in zip(dbs, floors, results, strict=True):
            due = len(db.data.due)
            result.ours_seconds.append(await timed(partial(ours, db), due, "sweep"))
            await restore(db)
            result.floor_seconds.append(await timed(floor.sweep, due, "floor"))
            await restore(db)
            result.query_seconds.append(await timed(partial(bare_query, db), due, "query"))
    return results


@dataclass(slots=True)
class Result:
    """One backend's figures, as saved to JSON and shown in the tables."""

    backend: str
    due: int
    batch: int
    repeats: int
    sizes: list[SizeResult]
    peak_rss_mib: float = 0.0
    load_average: tuple[float, ...] = ()

    def growth(self, attribute: str) -> float:
        """median(large) ÷ median(small) of the times of ours, the floor or the query."""
        small, large = (median(getattr(size, attribute)) for size in self.sizes)
        return large / small

    @property
    def passed(self) -> bool:
        return self.growth("ours_seconds") <= AIM_GROWTH

    def as_json(self) -> dict[str, Any]:
        return {
            **report.environment(),
            "benchmark": "sla",
            "sqlalchemy": sa.__version__,
            "backend": self.backend,
            "due": self.due,
            "batch": self.batch,
            "repeats": self.repeats,
            "sizes": [size.as_json() for size in self.sizes],
            "growth": round(self.growth("ours_seconds"), 3),
            "floor_growth": round(self.growth("floor_seconds"), 3),
            "query_growth": round(self.growth("query_seconds"), 3),
            "aim_growth": AIM_GROWTH,
            "passed": self.passed,
            "plans_use_index": all(size.plan_uses_index for size in self.sizes),
            "peak_rss_mib": self.peak_rss_mib,
            "load_average": [round(load, 2) for load in self.load_average],
        }


async def bench_backend(backend: str, small: int, large: int, due: int, repeats: int) -> Result:
    """Both sizes on `backend`, each in its own database, measured in turns."""
    load_average = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="aduan-bench-sla-") as directory:
        async with contextlib.AsyncExitStack() as stack:
            dbs = []
            for size in (small, large):
                print(f"{backend}: loading {size:,} complaints ({due:,} due) …", flush=True)
                db = await stack.enter_async_context(
                    loaded_database(backend, Path(directory), size, due)
                )
                print(f"{backend}: loaded in {db.load_seconds:.1f} s", flush=True)
                dbs.append(db)
            print(f"{backend}: sweeping, {repeats} rounds …", flush=True)
            sizes = await measure(dbs, repeats)
            batch = dbs[0].service.settings.chase_batch
    peak = round(report.peak_rss_mib(), 1)
    return Result(backend, due, batch, repeats, sizes, peak, load_average)


# --- output ------------------------------------------------------------------------------

HEADER = [
    "backend",
    "complaints",
    "due",
    "ours ms",
    "floor ms",
    "ratio ours ÷ floor",
    "bare query ms",
    "plan uses index",
    "load s",
]


def table_rows(data: dict[str, Any]) -> list[list[str]]:
    """One saved (or fresh) result as table rows, one per size."""
    return [
        [
            data["backend"],
            f"{size['complaints']:,}",
            f"{data['due']:,}",
            _ms_with_range(size["ours_seconds"]),
            _ms_with_range(size["floor_seconds"]),
            f"{median(size['floor_seconds']) / median(size['ours_seconds']):.2f}",
            f"{size['query_median_s'] * 1000:.1f}",
            "yes" if size["plan_uses_index"] else "**NO**",
            f"{size['load_seconds']:.1f}",
        ]
        for size in data["sizes"]
    ]


def _ms_with_range(seconds: Sequence[float]) -> str:
    """The median in milliseconds, with the fastest and slowest run."""
    return f"{median(seconds) * 1000:,.0f} ({min(seconds) * 1000:,.0f}–{max(seconds) * 1000:,.0f})"


def verdict(data: dict[str, Any]) -> str:
    """The aim's line for one backend: PASS or FAIL, with the floor's and query's growth
    (worked out from the runs' times, which results saved by older versions also hold)."""
    small, large = data["sizes"]

    def growth(key: str) -> float:
        return median(large[key]) / median(small[key])

    ours = growth("ours_seconds")
    status = "PASS" if ours <= AIM_GROWTH else "FAIL"
    return (
        f"{data['backend']}: sweep time at {large['complaints']:,} ÷ at "
        f"{small['complaints']:,} = {ours:.2f} (aim ≤ {AIM_GROWTH:g}): **{status}**; the "
        f"floor's {growth('floor_seconds'):.2f}, the bare query's {growth('query_seconds'):.2f}"
    )


def print_results(results: Sequence[Result]) -> None:
    saved = [result.as_json() for result in results]
    report.print_table(HEADER, [row for data in saved for row in table_rows(data)])
    for data, result in zip(saved, results, strict=True):
        print(verdict(data).replace("**", ""))
        for size in result.sizes:
            check = "uses" if size.plan_uses_index else "does NOT use"
            print(f"  plan at {size.complaints:,}: {check} {INDEX}: " + " | ".join(size.plan))


def save(results: Sequence[Result]) -> None:
    """JSON per backend, then the SLA sweep section from every saved sla result."""
    jsons = {f"sla-{result.backend}": result.as_json() for result in results}
    report.publish(jsons, "SLA sweep", section_body, "sla-")


def section_body(saved: Sequence[dict[str, Any]]) -> str:
    """The SLA sweep section of BENCHMARKS.md: what is measured, then every saved result."""
    header = [*HEADER, "date", "commit"]
    rows = [
        [*row, data["date"][:10], f"`{data['commit']}`"]
        for data in saved
        for row in table_rows(data)
    ]
    verdicts = "\n".join(f"- {verdict(data)}" for data in saved)
    plans = "\n\n".join(_plan_block(data) for data in saved)
    machines = sorted({f"{data['machine']}, {data['nproc']} CPUs" for data in saved})
    loads = ", ".join(
        f"{data['backend']} {' / '.join(f'{x:.2f}' for x in data['load_average'])}"
        for data in saved
        if "load_average" in data
    )
    first = saved[0]
    return f"""\
`.venv/bin/python -m bench.sla [--backend sqlite|postgresql|all] [--small N] [--large N]
[--due N] [--repeats N]`

- **What**: `service.chaser.sweep()` of the service built by the real composition root, on
  a database of {first["sizes"][0]["complaints"]:,} and one of \
{first["sizes"][1]["complaints"]:,} complaints with the same {first["due"]:,} due. Each
  sweep queues one reminder (to the agency's contact) and one audit row per due complaint
  and plans its next stage, in transactions of {first["batch"]} complaints (the default
  `ADUAN_CHASE_BATCH`). Between runs one UPDATE puts the due complaints back and their
  reminders and audit rows are deleted (on PostgreSQL then `VACUUM`), untimed.
- **Data** (`bench/sla_data.py`): rows in the order they were received over two years: 80%
  closed and 8% answered (clock stopped, `next_chase_at` NULL), 2% waiting for the resident
  (paused, NULL), 10% open with the first reminder ahead (`next_chase_at` in the next 24
  hours), and the due ones, 24–36 hours old with the half-time reminder not yet sent. One
  resident; the seeded agencies; texts from the intake workload. Loaded by Core executemany
  (SQLite, with no ANALYZE: the service never runs it there, so its plans come from the
  statements alone) or COPY then VACUUM ANALYZE (PostgreSQL, as autovacuum would) (`load s`).
- **Floor**: per batch of {first["batch"]}, one transaction with the bare indexed query
  (`SELECT … WHERE next_chase_at <= :now ORDER BY next_chase_at LIMIT {first["batch"]}`, with
  `FOR UPDATE SKIP LOCKED` on PostgreSQL), then the writes of the same rows in bare Core
  executemany: one UPDATE per complaint, one INSERT per reminder and per audit row. It is the
  query plus the writes rather than the query alone because a sweep must write these rows,
  so only this floor shows what the service adds; the audit row is part of the sweep's
  contract, so the floor writes it too. **Bare query** is the query alone, fetching all due
  rows at once: it shows whether finding them depends on the table's size.
- **Runs**: one untimed warm-up, then {first["repeats"]} rounds in which each size runs ours,
  the floor and the query in turn. Milliseconds are the median, in brackets the fastest and
  slowest run. **Growth** = the median time at the large size ÷ at the small size (lower
  is better; 1.0 = the table's size costs nothing). **Ratio ours ÷ floor** at one size is
  sweeps per second as a share of the floor's (the floor's median time ÷ ours): higher is
  better, 1.0 would mean the service adds nothing on top of the query and the writes.
- **Plan check**: the statement `ComplaintRepository.chase_due` sent in the warm-up sweep,
  captured and EXPLAINed with its parameters; it must use `{INDEX}`, not scan
  the table.
- **Aim**: sweep time at 1,000,000 complaints ≤ {AIM_GROWTH:g} × at 10,000, same number due.

{report.markdown_table(header, rows)}

{verdicts}

{plans}

Machine: {"; ".join(machines)}; load average at the start of each backend's run: {loads}.
"""


def _plan_block(data: dict[str, Any]) -> str:
    """The plans for one backend, as EXPLAIN printed them."""
    lines = []
    for size in data["sizes"]:
        lines.append(f"-- {size['complaints']:,} complaints")
        lines.extend(size["plan"])
    body = "\n".join(lines)
    return f"Plan of `chase_due` on {data['backend']}:\n\n```\n{body}\n```"


# --- entry point -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sla", description=__doc__.split("\n")[0])
    report.add_backend_argument(parser)
    parser.add_argument(
        "--small", type=report.positive_int, default=SMALL, help=f"default {SMALL:,}"
    )
    parser.add_argument(
        "--large", type=report.positive_int, default=LARGE, help=f"default {LARGE:,}"
    )
    parser.add_argument("--due", type=report.positive_int, default=DUE, help=f"default {DUE:,}")
    parser.add_argument(
        "--repeats",
        type=report.positive_int,
        default=REPEATS,
        help=f"timed rounds (default {REPEATS})",
    )
    report.add_no_save_argument(parser)
    args = parser.parse_args(argv)
    if not args.due < args.small < args.large:
        parser.error("need --due < --small < --large")
    return args


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[Result] = []
    for backend in await reachable_backends(args.backend):
        results.append(await bench_backend(backend, args.small, args.large, args.due, args.repeats))
    if not results:
        print("nothing measured")
        return 1
    print()
    print_results(results)
    if not args.no_save:
        save(results)
    plans_ok = all(size.plan_uses_index for result in results for size in result.sizes)
    if not plans_ok:
        print(f"plan check FAILED: chase_due does not use {INDEX} everywhere")
    return 0 if plans_ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
