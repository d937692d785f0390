"""Intake throughput: N SMS messages through the real service, against the floor.

    .venv/bin/python -m bench.intake [--n 5000] [--backend sqlite|postgresql|all]
                                     [--in-flight 1,32]

The service is built by the real composition root (`bot.bootstrap`) on a fresh database
(a SQLite file, or a fresh PostgreSQL schema). Its adapters deliver the messages in
arrival order with a given number in flight: 1 is one message after another, each in a
transaction of its own; 32 is a busy hour's webhooks, whose messages share transactions
(`bot.intake.group_commit`). The floor writes the very rows the service wrote into another
fresh database with the same engine settings, with bare SQLAlchemy Core statements (see
`bench.floor`), in transactions of a fixed size whatever the service did: as many messages
as are in flight, up to the most our group commit may put in one transaction. The two take
turns, CHUNK messages at a time. Prints messages per second for both and the ratio (ours ÷
floor as throughput: 1.0 = no overhead); saves
`bench/results/intake-<backend>-<in flight>.json` and the "Intake" section of
BENCHMARKS.md.
PostgreSQL is `ADUAN_BENCH_POSTGRES_URL` (default: the test database on 127.0.0.1); when it
cannot be reached the run says so and goes on with SQLite alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import floor, headline, report, workload
from bot.bootstrap import Service, bootstrap
from bot.intake.service import MAX_SHARED
from channels.base import InboundMessage
from config.settings import Settings
from storage.models import Direction, Message
from tests.fakes import FakeClock, FakeShortSmsChannel

BACKENDS = ("sqlite", "postgresql")
PG_URL = os.environ.get(
    "ADUAN_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
# The service is measured once warm, like a running instance: these first messages are
# handled (and replayed by the floor) but not timed.
WARMUP = 200
# Ours and the floor take turns, this many messages each, so that a change in the load of a
# shared machine hits both alike; several times the most in flight, so that a turn's start
# and end, when fewer are in flight, weigh little, and a whole number of the floor's
# largest transactions.
CHUNK = 8 * MAX_SHARED
IN_FLIGHT = (1, 32)
Synchronous = Literal["full", "normal"]
# The brief's aims, checked on SQLite with the most messages in flight.
AIM_RATE = 1_000.0
AIM_RATIO = 0.5


@dataclass(frozen=True, slots=True)
class Database:
    """Where one run writes: a URL and, on PostgreSQL, the schema it alone uses."""

    url: str
    schema: str | None = None


@dataclass(slots=True)
class Result:
    """One backend's figures, as saved to JSON and shown in the tables."""

    backend: str
    n: int
    in_flight: int
    ours_seconds: float
    floor_seconds: float
    ours_cpu_seconds: float
    floor_cpu_seconds: float
    ratio_quartiles: tuple[float, float] = (0.0, 0.0)
    transactions: int = 0
    floor_transactions: int = 0
    floor_per_transaction: int = 1
    warmup: int = WARMUP
    chunk: int = CHUNK
    mix: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    expected_outcomes: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    peak_rss_mib: float = 0.0
    # SQLite's durability (ADUAN_SQLITE_SYNCHRONOUS), ours and the floor's alike; None on
    # PostgreSQL, which commits with its defaults.
    synchronous: str | None = None
    # Messages both databases held before the run (`--stored`).
    stored: int = 0

    @property
    def ours(self) -> float:
        return self.n / self.ours_seconds

    @property
    def floor(self) -> float:
        return self.n / self.floor_seconds

    @property
    def ratio(self) -> float:
        """Ours ÷ floor as throughput: 1.0 would mean no overhead on top of the writes."""
        return self.ours / self.floor

    def as_json(self) -> dict[str, Any]:
        return {
            **report.environment(),
            "benchmark": "intake",
            "sqlalchemy": sqlalchemy.__version__,
            **asdict(self),
            "ours_msg_per_s": round(self.ours, 1),
            "floor_msg_per_s": round(self.floor, 1),
            "ratio": round(self.ratio, 3),
            "floor_version": floor.VERSION,
            "ours_cpu_ms_per_msg": round(self.ours_cpu_seconds / self.n * 1000, 3),
            "floor_cpu_ms_per_msg": round(self.floor_cpu_seconds / self.n * 1000, 3),
        }


# --- databases -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_databases(backend: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two empty databases, one for the service and one for the floor; removed on exit."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="aduan-bench-") as directory:
            yield (_sqlite(Path(directory) / "ours.db"), _sqlite(Path(directory) / "floor.db"))
        return
    tag = uuid.uuid4().hex[:10]
    schemas = (f"bench_{tag}_ours", f"bench_{tag}_floor")
    try:
        yield Database(PG_URL, schemas[0]), Database(PG_URL, schemas[1])
    finally:
        await _drop_schemas(schemas)


def _sqlite(path: Path) -> Database:
    return Database(f"sqlite+aiosqlite:///{path}")


async def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    import asyncpg

    try:
        connection = await asyncpg.connect(_asyncpg_dsn(), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await connection.close()
    return None


async def _drop_schemas(schemas: Sequence[str]) -> None:
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_dsn(), timeout=10)
    try:
        for schema in schemas:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


def _asyncpg_dsn() -> str:
    return PG_URL.replace("postgresql+asyncpg://", "postgresql://", 1)


@contextlib.asynccontextmanager
async def service_on(
    database: Database, clock: FakeClock, synchronous: Synchronous = "full"
) -> AsyncIterator[Service]:
    """The service as production builds it, migrated and seeded, on `database`."""
    settings = Settings(
        database_url=database.url,
        database_schema=database.schema,
        sqlite_synchronous=synchronous,
        _env_file=None,
    )
    # The SMS channel, as the Twilio adapter declares itself: bursts merged, short replies.
    service = bootstrap(settings, clock=clock, channels=[FakeShortSmsChannel()])
    try:
        await service.prepare_database()
        yield service
    finally:
        await service.aclose()


# --- the two measurements ----------------------------------------------------------------


@dataclass(slots=True)
class Stopwatch:
    """Wall and CPU time (all threads of the process) summed over the spans it timed."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @contextlib.contextmanager
    def timing(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - wall
            self.cpu_seconds += time.process_time() - cpu


async def run_intake(
    service: Service, clock: FakeClock, messages: Sequence[InboundMessage], in_flight: int
) -> Counter[str]:
    """Deliver the messages in order, `in_flight` at a time, as adapters would (each takes
    the next message as soon as its last one is answered); what intake made of them."""
    outcomes: Counter[str] = Counter()
    arriving = iter(messages)

    async def adapter() -> None:
        for message in arriving:
            clock.move_to(message.received_at)
            receipt = await service.intake.handle(message)
            outcomes[str(receipt.outcome)] += 1

    await asyncio.gather(*(adapter() for _ in range(in_flight)))
    return outcomes


def chunks(messages: Sequence[InboundMessage]) -> Iterator[Sequence[InboundMessage]]:
    """The warm-up, then the timed messages CHUNK at a time."""
    yield messages[:WARMUP]
    for start in range(WARMUP, len(messages), CHUNK):
        yield messages[start : start + CHUNK]


@dataclass(slots=True)
class Measurement:
    """Both timings, what intake made of the messages, and the ratio chunk by chunk."""

    ours: Stopwatch = field(default_factory=Stopwatch)
    floor: Stopwatch = field(default_factory=Stopwatch)
    outcomes: Counter[str] = field(default_factory=Counter)
    chunk_ratios: list[float] = field(default_factory=list)
    transactions: int = 0
    floor_transactions: int = 0

    def ratio_quartiles(self) -> tuple[float, float]:
        """The middle half of the per-chunk ratios: how much the machine's load moved them."""
        if len(self.chunk_ratios) < 2:
            ratio = self.chunk_ratios[0] if self.chunk_ratios else 0.0
            return ratio, ratio
        low, _, high = statistics.quantiles(self.chunk_ratios, n=4)
        return round(low, 3), round(high, 3)


async def measure(
    service: Service,
    bare: Service,
    clock: FakeClock,
    messages: Sequence[InboundMessage],
    in_flight: int,
) -> Measurement:
    """Ours and the floor, taking turns chunk by chunk so both see the same machine load."""
    reader = await floor.RowReader.after(service.engine)
    replayer = floor.Replayer(bare.engine, floor_per_transaction(in_flight))
    stats = service.intake.stats
    result = Measurement()
    for index, chunk in enumerate(chunks(messages)):
        if index == 0:  # warm-up: both run it, neither is timed
            await run_intake(service, clock, chunk, in_flight)
            await replayer.replay(floor.plan(await reader.read_new()))
            continue
        ours_before, floor_before = result.ours.seconds, result.floor.seconds
        transactions_before, floor_transactions_before = stats.transactions, replayer.transactions
        with result.ours.timing():
            result.outcomes.update(await run_intake(service, clock, chunk, in_flight))
        groups = floor.plan(await reader.read_new())
        with result.floor.timing():
            await replayer.replay(groups)
        result.transactions += stats.transactions - transactions_before
        result.floor_transactions += replayer.transactions - floor_transactions_before
        ours_took = result.ours.seconds - ours_before
        result.chunk_ratios.append((result.floor.seconds - floor_before) / ours_took)
    return result


def floor_per_transaction(in_flight: int) -> int:
    """Messages in each of the floor's transactions: as many as can be waiting at once, up
    to our group commit's most. Each message must be committed before it is answered, so
    with one in flight no transaction can hold more than one, ours or any other."""
    return min(in_flight, MAX_SHARED)


async def bench_backend(
    backend: str, n: int, in_flight: int, synchronous: Synchronous = "full", stored: int = 0
) -> Result:
    """Ours and the floor on `backend`, each on its own fresh database with the same
    durability, both holding `stored` earlier messages."""
    messages = workload.build(WARMUP + n)
    clock = FakeClock(workload.START)
    async with (
        fresh_databases(backend) as (ours_db, floor_db),
        service_on(ours_db, clock, synchronous) as service,
        service_on(floor_db, clock, synchronous) as bare,
    ):
        for engine in (service.engine, bare.engine):
            await store_earlier_messages(engine, stored)
        measured = await measure(service, bare, clock, messages.messages, in_flight)
        rows = await floor.count_rows(service.engine)
        floor_rows = await floor.count_rows(bare.engine)
    if stored:
        rows = {**rows, "messages": rows["messages"] - stored}
        floor_rows = {**floor_rows, "messages": floor_rows["messages"] - stored}
    if floor_rows != rows:
        raise RuntimeError(f"the floor wrote {floor_rows}, the service {rows}")
    return Result(
        backend=backend,
        n=n,
        in_flight=in_flight,
        ours_seconds=measured.ours.seconds,
        floor_seconds=measured.floor.seconds,
        ours_cpu_seconds=measured.ours.cpu_seconds,
        floor_cpu_seconds=measured.floor.cpu_seconds,
        ratio_quartiles=measured.ratio_quartiles(),
        transactions=measured.transactions,
        floor_transactions=measured.floor_transactions,
        floor_per_transaction=floor_per_transaction(in_flight),
        mix=messages.mix(WARMUP),
        outcomes=dict(measured.outcomes),
        expected_outcomes=messages.expected_outcomes(WARMUP),
        rows=rows,
        peak_rss_mib=round(report.peak_rss_mib(), 1),
        synchronous=synchronous if backend == "sqlite" else None,
        stored=stored,
    )


# Rows of the earlier messages written per statement.
_STORE_BATCH = 20_000


async def store_earlier_messages(engine: AsyncEngine, count: int) -> None:
    """`count` inbound SMS of before the workload starts, with provider ids of their own:
    what years of service leave in the messages table, where intake looks up every
    provider id it is handed (a redelivery is one it took before)."""
    if not count:
        return
    at = workload.START - timedelta(days=1)
    insert = sqlalchemy.insert(Message)
    async with engine.begin() as connection:
        for start in range(0, count, _STORE_BATCH):
            rows = [
                {
                    "direction": Direction.INBOUND,
                    "channel": "sms",
                    "provider_message_id": f"SMstored{number:024d}",
                    "kind": "complaint",
                    "text": "Asap pabrik masuk ke rumah warga",
                    "created_at": at,
                }
                for number in range(start, min(start + _STORE_BATCH, count))
            ]
            await connection.execute(insert, rows)


# --- output ------------------------------------------------------------------------------

HEADER = [
    "backend",
    "SQLite sync",
    "N",
    "stored before",
    "in flight",
    "msg/txn ours / floor",
    "ours msg/s",
    "floor msg/s",
    "ratio ours ÷ floor (chunks' IQR)",
    "CPU ms/msg ours / floor",
    "peak RSS MiB",
]


def table_row(result: Result | dict[str, Any]) -> list[str]:
    """One result as table cells; takes a fresh Result or a saved JSON result (fields that
    an older saved result lacks show as "–", and so do the floor's figures of a result
    measured against an earlier floor)."""
    data = result.as_json() if isinstance(result, Result) else result
    if not floor.same_floor(data):
        data = {**data, **EARLIER_FLOOR}
    spread = data.get("ratio_quartiles")
    cpu = (data.get("ours_cpu_ms_per_msg"), data.get("floor_cpu_ms_per_msg"))
    per_transaction = " / ".join(
        f"{data['n'] / count:.1f}" if count else "–"
        for count in (data.get("transactions"), data.get("floor_transactions"))
    )
    return [
        data["backend"],
        str(data.get("synchronous") or "–").upper(),
        f"{data['n']:,}",
        f"{data.get('stored', 0):,}",
        str(data.get("in_flight", 1)),
        per_transaction,
        f"{data['ours_msg_per_s']:,.0f}",
        _figure(data["floor_msg_per_s"], ",.0f"),
        _figure(data["ratio"], ".2f") + (f" ({spread[0]:.2f}–{spread[1]:.2f})" if spread else ""),
        " / ".join("–" if ms is None else f"{ms:.2f}" for ms in cpu),
        f"{data['peak_rss_mib']:.0f}",
    ]


# What a saved result measured against an earlier floor shows of the floor: nothing.
EARLIER_FLOOR: dict[str, Any] = {
    "floor_msg_per_s": None,
    "ratio": None,
    "ratio_quartiles": None,
    "floor_cpu_ms_per_msg": None,
    "floor_transactions": None,
}


def _figure(value: float | None, spec: str) -> str:
    return "earlier floor" if value is None else format(value, spec)


def print_table(results: Sequence[Result]) -> None:
    report.print_table(HEADER, [table_row(result) for result in results])


def verdict(result: Result) -> str:
    """Whether SQLite meets the aims (≥ AIM_RATE msg/s and ≥ AIM_RATIO × the floor)."""
    data = result.as_json()  # the figures as saved and tabled, rounded alike
    rate, ratio = data["ours_msg_per_s"], data["ratio"]
    met = rate >= AIM_RATE and ratio >= AIM_RATIO
    return (
        f"aim on sqlite, {result.in_flight} in flight (≥ {AIM_RATE:,.0f} msg/s and "
        f"≥ {AIM_RATIO} × floor): {'met' if met else 'NOT met'} "
        f"({rate:,.0f} msg/s, {ratio:.2f} × floor)"
    )


def outcome_warning(result: Result) -> str | None:
    """A warning when intake did not take the messages as the workload meant them."""
    if result.outcomes == result.expected_outcomes:
        return None
    return (
        f"warning: {result.backend}, {result.in_flight} in flight: intake's outcomes "
        f"{result.outcomes} differ from the workload's plan {result.expected_outcomes}; "
        "the mix is not what it claims to be"
    )


def save(results: Sequence[Result]) -> None:
    """JSON per backend, then the Intake section from every saved intake result."""
    jsons = {
        "-".join(
            str(part)
            for part in (
                "intake",
                result.backend,
                result.synchronous,
                result.in_flight,
                f"stored{result.stored}" if result.stored else None,
            )
            if part is not None
        ): result.as_json()
        for result in results
    }
    report.publish(jsons, "Intake", section_body, "intake-")
    headline.refresh()


def section_body(saved: Sequence[dict[str, Any]]) -> str:
    """The Intake section of BENCHMARKS.md: what is measured, then every saved result."""
    header = [*HEADER, "date", "commit"]
    rows = report.dated_rows(saved, table_row)
    machines = report.machines(saved)
    share = _shares(next((data["mix"] for data in saved if "mix" in data), {}))
    return f"""\
`.venv/bin/python -m bench.intake [--n N] [--backend sqlite|postgresql|all] [--in-flight 1,32]
[--sqlite-synchronous full,normal] [--stored M]`

- **Durability**: SQLite runs are made with `synchronous=FULL` (the default: every commit
  on disk before the message is answered) and with `NORMAL` (`ADUAN_SQLITE_SYNCHRONOUS`,
  synced at checkpoints); ours and its floor always with the same one.

- **Ours**: N SMS messages handled by `IntakeService.handle` of the service built by the
  real composition root, after {WARMUP} untimed warm-up messages, delivered in arrival
  order by adapters that each hand in the next message once their last is answered. With
  1 in flight every message has a transaction of its own; with more, the messages that
  arrive while a transaction runs share the next one (group commit, `bot/intake/group_commit.py`,
  at most {MAX_SHARED} to a transaction): "msg/txn" is how many they were on average.
- **Mix**: {share[workload.Kind.NEW]} new senders with a new complaint (a resident, a
  complaint, a message, 2 audit rows, 2 outbox rows each); {share[workload.Kind.RETURNING]}
  returning senders with a new complaint; {share[workload.Kind.FOLLOW_UP]} follow-ups merged
  into the sender's complaint of a few minutes before (a message, an agency notice, a
  complaint update). Varied Indonesian complaint texts, routed by the default configuration.
- **Floor**: the same rows, read back from the service's database, written into a fresh one
  with bare Core statements and no reads, in transactions of a fixed size whatever ours
  did: as many messages as are in flight, at most {MAX_SHARED} (our group commit's most, read
  from `bot/intake/service.py`). Each transaction writes its rows in one statement per
  table: residents and complaints by one `INSERT … RETURNING` of many rows each, the
  follow-ups' complaint updates by one executemany, then messages, audit and outbox rows.
  So with {max(IN_FLIGHT)} in flight the floor is the best batching our durability contract allows
  (each message committed before it is answered, at most {MAX_SHARED} to a commit), and a
  regression in ours shows in the ratio. With 1 in flight the floor is one message to a
  transaction: the same durability unit as ours, since a message alone cannot share its
  commit with one that has not arrived. Ours and the floor take turns every {CHUNK} messages,
  so both see the same machine load.
- **Stored before**: the runs on fresh databases are the benchmark; a run with
  `--stored M` first gives both databases M inbound SMS of before the workload (distinct
  provider ids, no complaints), as years of service leave the messages table, and is saved
  apart. Intake looks up every provider id it is handed among them (a redelivery is one it
  took before), so such a run shows whether its cost grows with the table.
- **Aim**: ≥ {AIM_RATE:,.0f} msg/s and ≥ {AIM_RATIO} × the floor on SQLite, with
  {max(IN_FLIGHT)} in flight. Where it stands on SQLite: {_aim_status(saved)}.
- **Columns**: the **ratio** is ours ÷ floor as throughput over the whole run (higher is
  better, 1.0 = no overhead on top of the writes), in brackets the middle half of the ratios
  of single {CHUNK}-message turns (how much a shared machine's load moved them).
  CPU is the process's CPU time, all threads, per message: well below the wall time per
  message means waiting (thread hand-offs, the database server, other processes). Peak RSS
  is the whole benchmark process's peak so far, at the end of each backend's run.

{report.markdown_table(header, rows)}

{report.paragraphs(floor.earlier_floor_note(saved), f"Machine: {'; '.join(machines)}.")}
"""


def _aim_status(saved: Sequence[dict[str, Any]]) -> str:
    """Each saved SQLite run against each part of the aim, in words."""
    parts = []
    for data in sorted(
        (data for data in saved if data["backend"] == "sqlite" and not data.get("stored")),
        key=lambda data: data.get("in_flight", 1),
    ):
        rate, ratio = data["ours_msg_per_s"], data["ratio"]
        against = (
            f"at {ratio:.2f} × the floor ({'met' if ratio >= AIM_RATIO else 'not met'})"
            if floor.same_floor(data)
            else "against an earlier floor (not comparable)"
        )
        parts.append(
            f"{data.get('in_flight', 1)} in flight, {rate:,.0f} msg/s "
            f"({'met' if rate >= AIM_RATE else 'not met'}) {against}"
        )
    return "; ".join(parts) or "not measured"


def _shares(mix: dict[str, int]) -> dict[str, str]:
    """Each kind's share of the timed messages, as a percentage."""
    total = sum(mix.values()) or 1
    return {kind: f"{mix.get(kind, 0) / total:.0%}" for kind in workload.Kind}


# --- entry point -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.intake", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--n",
        type=report.positive_int,
        default=5000,
        help="timed messages per backend (default 5000)",
    )
    report.add_backend_argument(parser)
    parser.add_argument(
        "--in-flight",
        type=_counts,
        default=IN_FLIGHT,
        help="messages in flight, one run each (default %(default)s)",
    )
    parser.add_argument(
        "--sqlite-synchronous",
        type=_synchronous,
        default=("full", "normal"),
        help="SQLite durability settings, one run each (default full,normal)",
    )
    parser.add_argument(
        "--stored",
        type=report.non_negative_int,
        default=0,
        help="messages both databases hold before the run, as years of service leave "
        "them (default 0: fresh databases); saved apart from the fresh runs",
    )
    report.add_no_save_argument(parser)
    return parser.parse_args(argv)


def _synchronous(text: str) -> tuple[Synchronous, ...]:
    """`--sqlite-synchronous`: full, normal or both, comma-separated."""
    known: dict[str, Synchronous] = {"full": "full", "normal": "normal"}
    try:
        return tuple(known[part.strip()] for part in text.split(","))
    except KeyError as exc:
        raise argparse.ArgumentTypeError(f"{exc.args[0]!r}: use full, normal or both") from None


def _counts(text: str) -> tuple[int, ...]:
    """`--in-flight`: comma-separated positive whole numbers."""
    return tuple(report.positive_int(part) for part in text.split(","))


async def reachable_backends(choice: str) -> list[str]:
    """The backends `--backend` names, less PostgreSQL when it cannot be reached (said so)."""
    reachable = []
    for backend in BACKENDS if choice == "all" else (choice,):
        if backend == "postgresql" and (problem := await postgres_problem()):
            print(f"postgresql: skipped, cannot connect to {PG_URL} ({problem})")
            continue
        reachable.append(backend)
    return reachable


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[Result] = []
    for backend in await reachable_backends(args.backend):
        durabilities: tuple[Synchronous, ...] = (
            args.sqlite_synchronous if backend == "sqlite" else ("full",)
        )
        for synchronous in durabilities:
            for in_flight in args.in_flight:
                shown = f", synchronous={synchronous.upper()}" if backend == "sqlite" else ""
                held = f", {args.stored:,} messages stored before" if args.stored else ""
                print(
                    f"{backend}: {args.n:,} messages (+{WARMUP} warm-up), {in_flight} in "
                    f"flight{shown}{held} …",
                    flush=True,
                )
                results.append(
                    await bench_backend(backend, args.n, in_flight, synchronous, args.stored)
                )
    if not results:
        print("nothing measured")
        return 1
    print()
    print_table(results)
    for result in results:
        if warning := outcome_warning(result):
            print(warning)
    sqlite = [result for result in results if result.backend == "sqlite" and not result.stored]
    if sqlite:
        # The aim is the default durability's, on a fresh database.
        print(
            verdict(
                max(sqlite, key=lambda result: (result.synchronous == "full", result.in_flight))
            )
        )
    if not args.no_save:
        save(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
