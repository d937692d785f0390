"""Load: signed SMS webhooks at rising rates, open loop, to the service and to its floor.

One `aduan run` on SQLite and three on PostgreSQL, beside the webhook floor under the same
load.

    .venv/bin/python -m bench.load [--seconds 30] [--rates 25,50,100,200,400]
                                   [--backend sqlite|postgresql|all] [--no-save]

Open loop: request i leaves at start + i / rate whether or not earlier ones were answered,
and its latency runs from that moment, so a server falling behind shows as queueing, not
as a slower sender. Each rate runs `--seconds`; a rate is held when every webhook got 200
within REQUEST_TIMEOUT and the 99th percentile stayed under P99_LIMIT_MS. A side stops
rising at its first rate not held. Ours is the service as production runs it (`aduan db
upgrade`, then `aduan run`: one instance on SQLite, INSTANCES on one PostgreSQL schema,
the requests spread over them in turn, nothing in front); the floor is `bench.webhook`'s
(`bench.webhook_servers floor`: the signature checked, the rows intake writes committed
with the same durability, then the answer), one process on a fresh database of the same
backend. After each of our rates the outbox (SMS and mail) drains, untimed. Server CPU is
the CPU time of the server processes (/proc/PID/stat) per webhook at the rate, for ours
including sending the acknowledgements and the agencies' notices. Saves
`bench/results/load-<backend>.json` and the "Load" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import floor, report
from bench.intake import Database, fresh_databases, reachable_backends
from bench.smtp_counter import counting_sink
from bench.webhook import (
    BIN,
    WARMUP,
    Server,
    Webhook,
    count_complaints,
    drain,
    floor_command,
    free_port,
    helper_command,
    messages,
    plan_floor_rows,
    service_environment,
    started,
    upgrade,
    webhooks,
)
from bench.webhook_servers import SMS_PATH
from storage.engine import make_engine

RATES = (25, 50, 100, 200, 400)
SECONDS = 30.0
P99_LIMIT_MS = 500.0
# A webhook not answered within this counts as an error (Twilio itself waits 15 s).
REQUEST_TIMEOUT = 10.0
INSTANCES = {"sqlite": 1, "postgresql": 3}
# Above this the generator itself sent late: its figures say more about it than the server.
LATE_WARNING_MS = 50.0


@dataclass(slots=True)
class Step:
    """One side at one rate."""

    rate: int
    sent: int
    statuses: dict[str, int]
    p50_ms: float
    p99_ms: float
    max_ms: float
    # How late the generator sent, 99th percentile: its own lag, not the server's.
    late_p99_ms: float
    cpu_ms_per_req: float

    @property
    def held(self) -> bool:
        return self.statuses == {"200": self.sent} and self.p99_ms < P99_LIMIT_MS


@dataclass(slots=True)
class Result:
    """One backend's run, as saved to JSON and shown in the table."""

    backend: str
    instances: int
    seconds: float
    rates: list[int]
    ours: list[Step]
    floor: list[Step]
    complaints: int
    answered: int
    load_average: tuple[float, float, float]
    p99_limit_ms: float = P99_LIMIT_MS

    def as_json(self) -> dict[str, Any]:
        return {
            **report.environment(),
            "benchmark": "load",
            **asdict(self),
            "floor_version": floor.VERSION,
        }


@dataclass(slots=True)
class Timings:
    """What the generator saw of one rate."""

    latencies: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


def percentile_ms(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(int(share * len(ordered)), len(ordered) - 1)] * 1000, 1)


async def open_loop(
    client: httpx.AsyncClient, urls: Sequence[str], batch: Sequence[Webhook], rate: int
) -> Timings:
    """Send `batch` at `rate` a second, request i to urls[i % len(urls)], on schedule."""
    loop = asyncio.get_running_loop()
    timings = Timings()

    async def one(url: str, webhook: Webhook, due: float) -> None:
        timings.late.append(loop.time() - due)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": webhook.signature,
        }
        try:
            response = await client.post(url, content=webhook.body, headers=headers)
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        timings.latencies.append(loop.time() - due)
        timings.statuses[status] += 1

    start = loop.time() + 0.05
    tasks = []
    for index, webhook in enumerate(batch):
        due = start + index / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        tasks.append(asyncio.create_task(one(urls[index % len(urls)], webhook, due)))
    await asyncio.gather(*tasks)
    return timings


def cpu_seconds(servers: Sequence[Server]) -> float:
    return sum(server.cpu_seconds() for server in servers)


def step_of(rate: int, timings: Timings, cpu: float) -> Step:
    sent = len(timings.latencies)
    return Step(
        rate=rate,
        sent=sent,
        statuses={str(k): v for k, v in sorted(timings.statuses.items())},
        p50_ms=percentile_ms(timings.latencies, 0.50),
        p99_ms=percentile_ms(timings.latencies, 0.99),
        max_ms=round(max(timings.latencies) * 1000, 1),
        late_p99_ms=percentile_ms(timings.late, 0.99),
        cpu_ms_per_req=round(cpu / sent * 1000, 2),
    )


# --- the run -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def instances(
    ports: Sequence[int], database: Database, twilio: Server, smtp_port: int, workdir: Path
) -> AsyncIterator[list[Server]]:
    """An `aduan run` process on `database` at each of `ports`."""
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for number, port in enumerate(ports, start=1):
            environment = service_environment(database, port, twilio.url, smtp_port)
            command = [str(BIN / "aduan"), "run"]
            servers.append(
                await stack.enter_async_context(
                    started(f"ours-{number}", command, port, workdir, cwd=workdir, env=environment)
                )
            )
        yield servers


async def bench_backend(backend: str, rates: Sequence[int], seconds: float) -> Result:
    """Ours and the floor on fresh `backend` databases, rate after rate, each side rising
    until a rate is not held."""
    load_average = os.getloadavg()
    count = INSTANCES[backend]
    sizes = [round(rate * seconds) for rate in rates]
    sent = messages(WARMUP + sum(sizes))
    requests = webhooks(sent)
    warm, timed = requests[:WARMUP], requests[WARMUP:]
    ours: list[Step] = []
    bare: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="aduan-load-") as directory:
        # The service runs here, away from any .env in the checkout.
        workdir = Path(directory)
        rows = await plan_floor_rows(sent, workdir)
        twilio_port, floor_port = free_port(), free_port()
        ports = [free_port() for _ in range(count)]
        async with (
            fresh_databases(backend) as (database, floor_database),
            started(
                "twilio", helper_command("twilio", twilio_port), twilio_port, workdir
            ) as twilio,
            counting_sink() as smtp,
        ):
            for side_database, side_port in ((database, ports[0]), (floor_database, floor_port)):
                await upgrade(
                    service_environment(side_database, side_port, twilio.url, smtp.port), workdir
                )
            engine = make_engine(database.url, schema=database.schema)
            floor_run = floor_command(floor_port, floor_database, rows)
            limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
            try:
                async with (
                    started("floor", floor_run, floor_port, workdir) as floor_server,
                    instances(ports, database, twilio, smtp.port, workdir) as servers,
                    httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT) as client,
                ):
                    our_urls = [server.url + SMS_PATH for server in servers]
                    floor_urls = [floor_server.url + SMS_PATH]
                    # Every instance and the floor warmed with the same webhooks: each gets
                    # all of them, the instances' duplicates answered as such.
                    for url in [*our_urls, *floor_urls]:
                        await open_loop(client, [url], warm, 25)
                    await drain(engine)
                    offset = 0
                    for rate, size in zip(rates, sizes, strict=True):
                        batch = timed[offset : offset + size]
                        offset += size
                        if not ours or ours[-1].held:
                            before = cpu_seconds(servers)
                            timings = await open_loop(client, our_urls, batch, rate)
                            await drain(engine)
                            ours.append(step_of(rate, timings, cpu_seconds(servers) - before))
                            print(f"{backend}: ours  {describe(ours[-1])}", flush=True)
                        if not bare or bare[-1].held:
                            before = floor_server.cpu_seconds()
                            timings = await open_loop(client, floor_urls, batch, rate)
                            bare.append(step_of(rate, timings, floor_server.cpu_seconds() - before))
                            print(f"{backend}: floor {describe(bare[-1])}", flush=True)
                        if not (ours[-1].held or bare[-1].held):
                            break
                    complaints = await count_complaints(engine)
            finally:
                await engine.dispose()
    answered = WARMUP + sum(step.statuses.get("200", 0) for step in ours)
    return Result(
        backend=backend,
        instances=count,
        seconds=seconds,
        rates=list(rates),
        ours=ours,
        floor=bare,
        complaints=complaints,
        answered=answered,
        load_average=load_average,
    )


def describe(step: Step) -> str:
    verdict = "held" if step.held else "NOT held"
    late = (
        f"; the generator sent up to {step.late_p99_ms:,.0f} ms late (p99)"
        if step.late_p99_ms > LATE_WARNING_MS
        else ""
    )
    return (
        f"{step.rate:>4} req/s: {verdict}, p50 {step.p50_ms:,.1f} ms, p99 {step.p99_ms:,.1f} ms, "
        f"answers {step.statuses}, CPU {step.cpu_ms_per_req:.1f} ms/webhook{late}"
    )


def problems(result: Result) -> list[str]:
    """What says the run did not measure what it claims: an answered webhook not stored."""
    if result.complaints < result.answered:
        return [
            f"{result.backend}: {result.answered} webhooks answered 200, "
            f"only {result.complaints} complaints stored"
        ]
    return []


# --- output ------------------------------------------------------------------------------

HEADER = [
    "backend",
    "instances",
    "s per rate",
    "rates req/s",
    "held req/s ours / floor",
    "ratio ours ÷ floor",
    "p99 ms at held ours / floor",
    "server CPU ms/req ours / floor",
]


def highest_held(steps: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    held = [s for s in steps if s["statuses"] == {"200": s["sent"]} and s["p99_ms"] < P99_LIMIT_MS]
    return held[-1] if held else None


def _held_cell(step: dict[str, Any] | None, rates: Sequence[int]) -> str:
    """The highest rate held; `≥` when it was the highest tried (the limit lies above)."""
    if step is None:
        return f"< {rates[0]}"
    return f"≥ {step['rate']}" if step["rate"] == rates[-1] else str(step["rate"])


def cpu_ms_per_req(steps: Sequence[dict[str, Any]]) -> str:
    """Server CPU time per webhook over every rate a side ran."""
    sent = sum(step["sent"] for step in steps)
    if not sent:
        return "–"
    return f"{sum(step['cpu_ms_per_req'] * step['sent'] for step in steps) / sent:.1f}"


def _ratio(ours: dict[str, Any] | None, bare: dict[str, Any] | None, rates: Sequence[int]) -> str:
    """Ours ÷ floor of the rates held; at most that (`≤`) when the floor held every rate
    tried, nothing when neither side's limit was found."""
    if ours is None or bare is None or ours["rate"] == bare["rate"] == rates[-1]:
        return "–"
    bound = "≤ " if bare["rate"] == rates[-1] else ""
    return f"{bound}{ours['rate'] / bare['rate']:.2f}"


def table_row(data: dict[str, Any]) -> list[str]:
    rates = data["rates"]
    ours, bare = highest_held(data["ours"]), highest_held(data["floor"])

    def p99(step: dict[str, Any] | None) -> str:
        return f"{step['p99_ms']:,.1f}" if step else "–"

    return [
        data["backend"],
        str(data["instances"]),
        f"{data['seconds']:g}",
        ", ".join(str(rate) for rate in rates),
        f"{_held_cell(ours, rates)} / {_held_cell(bare, rates)}",
        _ratio(ours, bare, rates),
        f"{p99(ours)} / {p99(bare)}",
        f"{cpu_ms_per_req(data['ours'])} / {cpu_ms_per_req(data['floor'])}",
    ]


def save(results: Sequence[Result]) -> None:
    jsons = {f"load-{result.backend}": result.as_json() for result in results}
    report.publish(jsons, "Load", section_body, "load-")


def section_body(saved: Sequence[dict[str, Any]]) -> str:
    """The Load section of BENCHMARKS.md: what is measured, then every saved result."""
    header = [*HEADER, "date", "commit"]
    rows = report.dated_rows(saved, table_row)
    machine = report.machine_line(saved)
    return f"""\
`.venv/bin/python -m bench.load [--seconds S] [--rates 25,50,100,200,400]
[--backend sqlite|postgresql|all]`

- **Ours**: signed Twilio SMS webhooks (`POST {SMS_PATH}`, each a new sender's complaint,
  as in [Webhook](#webhook)) to the service as production runs it: `aduan db upgrade`, then
  `aduan run` (web app, outbox dispatcher, scheduler): {INSTANCES["sqlite"]} process on SQLite;
  {INSTANCES["postgresql"]} processes on one PostgreSQL schema, nothing in front, the load
  generator handing the requests to the instances in turn. While the webhooks arrive, the
  acknowledgements go to a stand-in for Twilio's REST API and the agencies' notices by
  SMTP to an aiosmtpd sink (`bench/smtp_counter.py`), as in production.
- **Floor**: the Webhook section's floor server in one process on a fresh database of the
  same backend: the signature checked, the rows intake writes for the message committed
  with the same durability (at most 32 webhooks to a transaction), then the answer.
- **Load**: open loop. Rates rise; at each, request *i* leaves at start + *i* / rate
  whatever became of the earlier ones, and its latency runs from that moment, so queueing
  in a server that falls behind counts. Each rate runs S seconds (30 unless told), ours
  then the floor on the same webhooks; after each of our rates the outbox (SMS and mail)
  drains, untimed. A rate is **held** when every webhook got 200 within
  {REQUEST_TIMEOUT:g} s and the 99th percentile stayed under {P99_LIMIT_MS:g} ms; a side stops
  rising at the first rate it does not hold. One Python process sends: where it cannot
  keep the schedule it says so, and its lag is in the latencies.
- **Columns**: the highest rate held by each side (`≥` when it held the highest rate
  tried, `<` when it held none); **ratio** = ours ÷ floor of those rates (`≤` when the
  floor held every rate tried, so its limit lies higher); the p99 latency
  at that rate; the server CPU time per webhook over every rate the side ran (all its
  processes, /proc/PID/stat, for ours including sending the acknowledgements; on
  PostgreSQL the database server's CPU is in neither). `bench/results/load-*.json` holds
  every rate's figures.

{report.markdown_table(header, rows)}

{report.paragraphs(floor.earlier_floor_note(saved), machine)}
"""


# --- entry point -------------------------------------------------------------------------


def _rates(text: str) -> tuple[int, ...]:
    """`--rates`: rising, comma-separated requests per second."""
    rates = tuple(report.positive_int(part) for part in text.split(","))
    if list(rates) != sorted(set(rates)):
        raise argparse.ArgumentTypeError(f"rates must rise, each once: {text}")
    return rates


def _seconds(text: str) -> float:
    value = float(text)
    if not 1 <= value <= 600:
        raise argparse.ArgumentTypeError(f"from 1 to 600 seconds, not {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=_seconds, default=SECONDS, help="seconds per rate")
    parser.add_argument(
        "--rates", type=_rates, default=RATES, help="requests per second, rising, comma-separated"
    )
    report.add_backend_argument(parser)
    report.add_no_save_argument(parser)
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[Result] = []
    for backend in await reachable_backends(args.backend):
        print(
            f"{backend}: {INSTANCES[backend]} instance(s), rates {list(args.rates)} req/s, "
            f"{args.seconds:g} s each …",
            flush=True,
        )
        results.append(await bench_backend(backend, args.rates, args.seconds))
    if not results:
        print("nothing measured")
        return 1
    print()
    report.print_table(HEADER, [table_row(result.as_json()) for result in results])
    found = [problem for result in results for problem in problems(result)]
    return report.conclude(found, lambda: save(results), no_save=args.no_save)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
