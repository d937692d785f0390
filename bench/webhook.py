"""Webhook throughput: signed Twilio SMS webhooks into the real service over loopback HTTP,
against a floor server doing only what no webhook can skip, under the same bounded load.

    .venv/bin/python -m bench.webhook [--n 1000] [--clients 8] [--backend sqlite|postgresql|all]

Ours is the service as production runs it: `aduan db upgrade`, then `aduan run` (web app,
outbox dispatcher, scheduler) in its own process on a fresh database, its acknowledgements
sent to a stand-in for Twilio's REST API in another process (`bench.webhook_servers
twilio`) and the agencies' notices by SMTP to a sink in a third (`bench.smtp_counter`).
The floor (`bench.webhook_servers floor`, served by uvicorn the same way in its own
process, on a fresh database of its own) checks the signature, commits the rows intake
writes for the message (planned before the clock starts from an in-process run, as the
intake floor's are; see `bench.floor`) and answers the same empty TwiML. This process only
sends: CLIENTS requests in flight at a time over one `httpx.AsyncClient`, each request
built and signed with twilio's `RequestValidator` before the clock starts, each a new
sender's complaint (texts from bench/workload.py, distinct MessageSids). Ours and the floor
take turns, ROUND requests each; after each of our turns the service's outbox backlog is left
to drain, untimed, so the floor's turn does not pay for it. Prints requests per second,
p50 and p99 latency for both and the ratio (ours ÷ floor as throughput); checks that every
webhook got 200, that each side made one complaint per webhook and that both wrote the
same rows; saves `bench/results/webhook-<backend>.json` and the "Webhook" section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pickle
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from twilio.request_validator import RequestValidator

from bench import floor, headline, report, workload
from bench.intake import (
    Database,
    fresh_databases,
    reachable_backends,
    run_intake,
    service_on,
)
from bench.smtp_counter import counting_sink
from bench.webhook_servers import SMS_PATH, STATS_PATH
from bot.intake.service import MAX_SHARED
from channels.base import InboundMessage
from storage.engine import make_engine
from tests.fakes import FakeClock

# Ours and the floor take turns, this many requests each, so that a change in the load of a
# shared machine hits both alike.
ROUND = 100
# Sent to each server before timing starts: imports, connections and caches warm.
WARMUP = 50
CLIENTS = 8
# Seconds the service may take to send the acknowledgements of one turn.
DRAIN_LIMIT = 300.0
PUBLIC = "https://aduan.bench.example.go.id"
ACCOUNT_SID = "AC" + "be7c4" * 6 + "00"
AUTH_TOKEN = "0123456789abcdef" * 2
OUR_NUMBER = "+15005550006"
BIN = Path(sys.executable).parent


@dataclass(frozen=True, slots=True)
class Webhook:
    """One request, built and signed before the clock starts."""

    body: bytes
    signature: str


@dataclass(slots=True)
class Side:
    """One server's figures over its timed turns."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile_ms(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(int(share * len(ordered)), len(ordered) - 1)] * 1000


@dataclass(slots=True)
class Result:
    """One backend's figures, as saved to JSON and shown in the tables."""

    backend: str
    n: int
    clients: int
    ours_req_per_s: float
    floor_req_per_s: float
    ratio: float
    ratio_quartiles: tuple[float, float]
    ours_p50_ms: float
    ours_p99_ms: float
    floor_p50_ms: float
    floor_p99_ms: float
    ours_cpu_ms_per_req: float
    floor_cpu_ms_per_req: float
    ours_statuses: dict[str, int]
    floor_statuses: dict[str, int]
    complaints: int
    expected_complaints: int
    drain_seconds: float
    floor_complaints: int
    rows: dict[str, int]
    floor_rows: dict[str, int]
    # Webhooks per transaction of the floor server over the timed turns.
    floor_per_transaction: float
    load_average: tuple[float, float, float]
    round: int = ROUND
    warmup: int = WARMUP

    def as_json(self) -> dict[str, Any]:
        return {
            **report.environment(),
            "benchmark": "webhook",
            **asdict(self),
            "floor_version": floor.VERSION,
        }


# --- the requests ------------------------------------------------------------------------


def messages(count: int) -> tuple[InboundMessage, ...]:
    """`count` residents' SMS, each from a new sender with a new complaint."""
    return workload.build(count, mix=workload.Mix(returning=0.0, follow_up=0.0)).messages


def webhooks(sent: Sequence[InboundMessage]) -> list[Webhook]:
    """The inbound SMS webhooks Twilio sends for these messages, signed."""
    validator = RequestValidator(AUTH_TOKEN)
    built = []
    for message in sent:
        params = {
            "ToCountry": "US",
            "ToState": "CA",
            "SmsMessageSid": message.provider_message_id,
            "NumMedia": "0",
            "ToCity": "",
            "FromZip": "",
            "SmsSid": message.provider_message_id,
            "FromState": "",
            "SmsStatus": "received",
            "FromCity": "",
            "Body": message.text,
            "FromCountry": "ID",
            "To": OUR_NUMBER,
            "ToZip": "",
            "NumSegments": "1",
            "MessageSid": message.provider_message_id,
            "AccountSid": ACCOUNT_SID,
            "From": message.sender or "",
            "ApiVersion": "2010-04-01",
        }
        signature = validator.compute_signature(PUBLIC + SMS_PATH, params)
        built.append(Webhook(urlencode(params).encode(), signature))
    return built


async def send(
    client: httpx.AsyncClient, url: str, batch: Sequence[Webhook], clients: int, side: Side
) -> None:
    """Send `batch` with `clients` requests in flight; add the turn's figures to `side`."""
    pending = iter(batch)

    async def one_client() -> None:
        for webhook in pending:  # shared: each request is taken by one client
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": webhook.signature,
            }
            started = time.perf_counter()
            try:
                response = await client.post(url, content=webhook.body, headers=headers)
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            side.latencies.append(time.perf_counter() - started)
            side.statuses[status] += 1

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    side.seconds += time.perf_counter() - started


# --- the servers -------------------------------------------------------------------------


@dataclass(slots=True)
class Server:
    """A server process we started, and where it listens."""

    process: asyncio.subprocess.Process
    url: str
    log: Path

    def cpu_seconds(self) -> float:
        """User and system CPU time of the process so far, all its threads (Linux)."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_environment(
    database: Database, port: int, twilio_url: str, smtp_port: int
) -> dict[str, str]:
    """The process environment of `aduan`: ours alone, nothing inherited from ADUAN_*. Mail
    goes to an SMTP server, as in production: the `.eml` files written without one are for
    trying the service out, and their fsync a file would cost what no relay does."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ADUAN_")}
    environment.update(
        ADUAN_DATABASE_URL=database.url,
        ADUAN_HOST="127.0.0.1",
        ADUAN_PORT=str(port),
        ADUAN_PUBLIC_BASE_URL=PUBLIC,
        ADUAN_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        ADUAN_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        ADUAN_TWILIO_FROM=OUR_NUMBER,
        ADUAN_TWILIO_API_BASE=twilio_url,
        # The stand-in takes messages as fast as they come; at a long code's pace (one a
        # second) the untimed drain after each turn would take as many seconds as requests.
        ADUAN_SMS_MESSAGES_PER_SECOND="1000",
        ADUAN_SMTP_HOST="127.0.0.1",
        ADUAN_SMTP_PORT=str(smtp_port),
        ADUAN_SMTP_TLS="none",
    )
    if database.schema:
        environment["ADUAN_DATABASE_SCHEMA"] = database.schema
    return environment


@contextlib.asynccontextmanager
async def started(
    name: str,
    command: list[str],
    port: int,
    logs: Path,
    *,
    cwd: Path = report.ROOT,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Server]:
    """Start `command`, wait until it answers HTTP on `port`, stop it (SIGTERM) on exit;
    its output goes to `logs/<name>.log`."""
    log = logs / f"{name}.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=cwd, env=env, stdout=output, stderr=asyncio.subprocess.STDOUT
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        await _until_answering(server, name)
        yield server
    finally:
        process.terminate()
        try:
            async with asyncio.timeout(30):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


async def _until_answering(server: Server, name: str) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(300):
            if server.process.returncode is not None:
                tail = server.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {server.process.returncode}:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                await client.get(server.url + "/healthz")
                return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{name} did not answer on {server.url} within 30 s")


async def upgrade(environment: dict[str, str], workdir: Path) -> None:
    """`aduan db upgrade` on the fresh database, as an operator would before `aduan run`."""
    process = await asyncio.create_subprocess_exec(
        str(BIN / "aduan"),
        "db",
        "upgrade",
        cwd=workdir,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"aduan db upgrade failed:\n{output.decode(errors='replace')}")


# --- the measurement ---------------------------------------------------------------------

# Everything the service sends for a webhook: the resident's acknowledgement (SMS) and the
# agency's notice (mail, relayed over SMTP to the sink).
_BACKLOG = sa.text(
    "SELECT count(*) FROM outbox WHERE channel IN ('sms', 'email') "
    "AND status IN ('pending', 'sending')"
)


async def drain(engine: AsyncEngine) -> float:
    """Wait until the service has sent every acknowledgement and agency notice it owes;
    how long that took."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(DRAIN_LIMIT):
            while True:
                async with engine.connect() as connection:
                    if not (await connection.execute(_BACKLOG)).scalar():
                        return time.perf_counter() - started
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise RuntimeError(f"the service still owed messages after {DRAIN_LIMIT:.0f} s") from None


async def count_complaints(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(sa.text("SELECT count(*) FROM complaints"))).scalar() or 0
        )


async def plan_floor_rows(sent: Sequence[InboundMessage], workdir: Path) -> Path:
    """The rows intake writes for each message, by MessageSid, saved for the floor server.

    The service handles the messages in process on a scratch SQLite database, as
    `bench.intake` runs it, and `bench.floor` reads back and groups what it wrote: the
    intake floor's rows. (Ids are the scratch database's; the floor maps them to its own.)
    """
    clock = FakeClock(workload.START)
    scratch = Database(f"sqlite+aiosqlite:///{workdir / 'floor-rows.db'}")
    async with service_on(scratch, clock) as service:
        reader = await floor.RowReader.after(service.engine)
        await run_intake(service, clock, sent, MAX_SHARED)
        groups = floor.plan(await reader.read_new())
    by_sid = {writes.message["provider_message_id"]: writes for writes in groups}
    if len(by_sid) != len(sent):
        raise RuntimeError(f"planned the rows of {len(by_sid)} webhooks, not {len(sent)}")
    path = workdir / "floor-rows.pickle"
    path.write_bytes(pickle.dumps(by_sid))
    return path


async def floor_stats(client: httpx.AsyncClient, server: Server) -> tuple[int, int]:
    """Webhooks the floor server committed so far, and the transactions they took."""
    response = await client.get(server.url + STATS_PATH)
    response.raise_for_status()
    stats = response.json()
    return int(stats["webhooks"]), int(stats["transactions"])


def rounds(batch: Sequence[Webhook]) -> Iterator[Sequence[Webhook]]:
    for start in range(0, len(batch), ROUND):
        yield batch[start : start + ROUND]


async def bench_backend(backend: str, n: int, clients: int) -> Result:
    """Ours and the floor, each on a fresh `backend` database, taking turns under the same
    load."""
    load_average = os.getloadavg()
    sent = messages(WARMUP + n)
    requests = webhooks(sent)
    warm, timed = requests[:WARMUP], requests[WARMUP:]
    ours, bare_side = Side(), Side()
    ratios: list[float] = []
    drained = 0.0
    ports = {name: free_port() for name in ("ours", "floor", "twilio")}
    with tempfile.TemporaryDirectory(prefix="aduan-webhook-") as directory:
        # The service runs here, away from any .env in the checkout.
        workdir = Path(directory)
        rows = await plan_floor_rows(sent, workdir)
        async with (
            fresh_databases(backend) as (database, floor_database),
            started(
                "twilio", helper_command("twilio", ports["twilio"]), ports["twilio"], workdir
            ) as twilio,
            counting_sink() as smtp,
        ):
            environment = service_environment(database, ports["ours"], twilio.url, smtp.port)
            await upgrade(environment, workdir)
            # The floor's database is migrated and seeded the same way.
            await upgrade(
                service_environment(floor_database, ports["floor"], twilio.url, smtp.port),
                workdir,
            )
            engine = make_engine(database.url, schema=database.schema)
            floor_engine = make_engine(floor_database.url, schema=floor_database.schema)
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            aduan_run = [str(BIN / "aduan"), "run"]
            floor_run = floor_command(ports["floor"], floor_database, rows)
            try:
                async with (
                    started("floor", floor_run, ports["floor"], workdir) as bare,
                    started(
                        "ours", aduan_run, ports["ours"], workdir, cwd=workdir, env=environment
                    ) as service,
                    httpx.AsyncClient(limits=limits, timeout=60) as client,
                ):
                    await send(client, service.url + SMS_PATH, warm, clients, Side())
                    await send(client, bare.url + SMS_PATH, warm, clients, Side())
                    await drain(engine)
                    committed_before = await floor_stats(client, bare)
                    for batch in rounds(timed):
                        ours_before, floor_before = ours.seconds, bare_side.seconds
                        cpu = service.cpu_seconds()
                        await send(client, service.url + SMS_PATH, batch, clients, ours)
                        drained += await drain(engine)
                        ours.cpu_seconds += service.cpu_seconds() - cpu
                        cpu = bare.cpu_seconds()
                        await send(client, bare.url + SMS_PATH, batch, clients, bare_side)
                        bare_side.cpu_seconds += bare.cpu_seconds() - cpu
                        # Ours ÷ floor as throughput: the floor's time ÷ ours, same webhooks.
                        ratios.append(
                            (bare_side.seconds - floor_before) / (ours.seconds - ours_before)
                        )
                    committed_after = await floor_stats(client, bare)
                    complaints = await count_complaints(engine)
                    floor_complaints = await count_complaints(floor_engine)
                    ours_rows = await floor.count_rows(engine)
                    floor_rows = await floor.count_rows(floor_engine)
            finally:
                await engine.dispose()
                await floor_engine.dispose()
    floor_webhooks = committed_after[0] - committed_before[0]
    floor_transactions = committed_after[1] - committed_before[1]
    return Result(
        backend=backend,
        n=n,
        clients=clients,
        ours_req_per_s=round(ours.rate, 1),
        floor_req_per_s=round(bare_side.rate, 1),
        ratio=round(ours.rate / bare_side.rate, 4),
        ratio_quartiles=_quartiles(ratios),
        ours_p50_ms=round(ours.percentile_ms(0.50), 2),
        ours_p99_ms=round(ours.percentile_ms(0.99), 2),
        floor_p50_ms=round(bare_side.percentile_ms(0.50), 2),
        floor_p99_ms=round(bare_side.percentile_ms(0.99), 2),
        ours_cpu_ms_per_req=round(ours.cpu_seconds / n * 1000, 2),
        floor_cpu_ms_per_req=round(bare_side.cpu_seconds / n * 1000, 2),
        ours_statuses={str(k): v for k, v in sorted(ours.statuses.items())},
        floor_statuses={str(k): v for k, v in sorted(bare_side.statuses.items())},
        complaints=complaints,
        floor_complaints=floor_complaints,
        expected_complaints=WARMUP + n,
        rows=ours_rows,
        floor_rows=floor_rows,
        floor_per_transaction=round(floor_webhooks / floor_transactions, 2)
        if floor_transactions
        else 0.0,
        drain_seconds=round(drained, 1),
        load_average=load_average,
    )


def floor_command(port: int, database: Database, rows: Path) -> list[str]:
    command = [
        *helper_command("floor", port),
        "--database-url",
        database.url,
        "--rows",
        str(rows),
        "--per-transaction",
        str(MAX_SHARED),
        "--auth-token",
        AUTH_TOKEN,
        "--public-url",
        PUBLIC,
    ]
    if database.schema:
        command += ["--database-schema", database.schema]
    return command


def helper_command(name: str, port: int) -> list[str]:
    return [sys.executable, "-m", "bench.webhook_servers", name, "--port", str(port)]


def _quartiles(ratios: Sequence[float]) -> tuple[float, float]:
    """The middle half of the per-round ratios: how much the machine's load moved them."""
    if len(ratios) < 2:
        only = round(ratios[0], 4) if ratios else 0.0
        return only, only
    low, _, high = statistics.quantiles(ratios, n=4)
    return round(low, 4), round(high, 4)


def problems(result: Result) -> list[str]:
    """What says the run did not measure what it claims: a refused webhook, a lost complaint."""
    found = []
    for side, statuses in (("ours", result.ours_statuses), ("floor", result.floor_statuses)):
        if set(statuses) != {"200"}:
            found.append(f"{result.backend}: {side} answered {statuses}, not 200 to every webhook")
    for side, complaints in (("ours", result.complaints), ("floor", result.floor_complaints)):
        if complaints != result.expected_complaints:
            found.append(
                f"{result.backend}: {side} made {complaints} complaints for "
                f"{result.expected_complaints} webhooks"
            )
    if result.floor_rows != result.rows:
        found.append(
            f"{result.backend}: the floor wrote {result.floor_rows}, the service {result.rows}"
        )
    return found


# --- output ------------------------------------------------------------------------------

HEADER = [
    "backend",
    "N",
    "clients",
    "ours req/s",
    "floor req/s",
    "ratio ours ÷ floor (rounds' IQR)",
    "floor msg/txn",
    "p50 ms ours / floor",
    "p99 ms ours / floor",
    "server CPU ms/req ours / floor",
]


def table_row(data: dict[str, Any]) -> list[str]:
    """One saved result as table cells; the floor's figures of a result measured against an
    earlier floor show as "earlier floor"."""
    if not floor.same_floor(data):
        return [
            data["backend"],
            f"{data['n']:,}",
            str(data["clients"]),
            f"{data['ours_req_per_s']:,.0f}",
            *["earlier floor"] * 3,
            f"{data['ours_p50_ms']:,.1f} / –",
            f"{data['ours_p99_ms']:,.1f} / –",
            f"{data['ours_cpu_ms_per_req']:.1f} / –",
        ]
    low, high = data["ratio_quartiles"]
    return [
        data["backend"],
        f"{data['n']:,}",
        str(data["clients"]),
        f"{data['ours_req_per_s']:,.0f}",
        f"{data['floor_req_per_s']:,.0f}",
        f"{data['ratio']:.3f} ({low:.3f}–{high:.3f})",
        f"{data['floor_per_transaction']:.1f}",
        f"{data['ours_p50_ms']:,.1f} / {data['floor_p50_ms']:,.1f}",
        f"{data['ours_p99_ms']:,.1f} / {data['floor_p99_ms']:,.1f}",
        f"{data['ours_cpu_ms_per_req']:.1f} / {data['floor_cpu_ms_per_req']:.1f}",
    ]


def print_table(results: Sequence[Result]) -> None:
    report.print_table(HEADER, [table_row(result.as_json()) for result in results])


def save(results: Sequence[Result]) -> None:
    jsons = {f"webhook-{result.backend}": result.as_json() for result in results}
    report.publish(jsons, "Webhook", section_body, "webhook-")
    headline.refresh()


def section_body(saved: Sequence[dict[str, Any]]) -> str:
    """The Webhook section of BENCHMARKS.md: what is measured, then every saved result."""
    header = [*HEADER, "date", "commit"]
    rows = report.dated_rows(saved, table_row)
    machine = report.machine_line(saved)
    return f"""\
`.venv/bin/python -m bench.webhook [--n N] [--clients C] [--backend sqlite|postgresql|all]`

- **Ours**: N signed Twilio SMS webhooks (`POST {SMS_PATH}`, the form fields Twilio
  sends, the `X-Twilio-Signature` of twilio's `RequestValidator` for the public address)
  to the service as production runs it: `aduan db upgrade`, then `aduan run` in its own
  process (web app, outbox dispatcher, scheduler) on a fresh database. Each webhook is a
  new sender's complaint (varied Indonesian texts from `bench/workload.py`, distinct
  MessageSids): a resident, a complaint, a message, 2 audit rows and 2 outbox rows,
  committed before the answer. While the webhooks arrive, as in production, the
  acknowledgements go by SMS to a stand-in for Twilio's REST API in a process of its own,
  and the agencies' notices by SMTP to an aiosmtpd sink in another
  (`bench/smtp_counter.py`), not as the `.eml` files a service without a mail server
  writes, each with an fsync, which cost about 1.5 ms of server CPU a webhook.
- **Floor**: the work no SMS webhook can skip, and nothing else (`bench/webhook_servers.py
  floor`, its own process, served by uvicorn with the options and logging of `aduan run`):
  at the same path it parses the form, checks the `X-Twilio-Signature` with twilio's
  `RequestValidator` for the public address as ours does, writes the intake floor's rows
  for that message on a fresh database of the same backend (migrated by `aduan db
  upgrade`) and answers the same empty TwiML once they are committed. The rows are
  planned before the clock starts: the service takes the same messages in process on a
  scratch database and `bench/floor.py` reads back what it wrote (see Intake), by
  MessageSid. Webhooks that arrive while a transaction runs share the next one, at most
  {MAX_SHARED} (our group commit's most), each transaction one statement per table: the
  best any server can do that answers only what it has committed. "floor msg/txn" is how
  many shared one, on average.
- **Load**: the benchmark process only sends: C requests in flight at a time over one
  `httpx.AsyncClient` (keep-alive, loopback), every request built and signed before the
  clock starts. {WARMUP} untimed webhooks warm each server. Ours and the floor then take
  turns, {ROUND} webhooks each; after each of our turns the service's outbox (SMS and
  mail) drains, untimed, so that the floor's turn does not pay for it.
- **Columns**: requests per second over each side's turns; **ratio** = ours ÷ floor as
  throughput (higher is better; 1.0 would mean the service costs no more than checking
  the signature and committing the rows), in brackets the middle half of the ratios of
  single turns (how much a shared machine's load moved them); latency percentiles over
  every timed request; server CPU is the server process's CPU time (all threads) per
  webhook, for ours including sending the acknowledgement (on PostgreSQL the database
  server's CPU is in neither). Where a server's CPU per webhook is far below its wall time
  per webhook, it waits: on the database's commits, or on the load generator sharing the
  machine.
- **Checks**: every webhook answered 200 by both, one complaint per webhook in each
  database, and the same number of rows in every table intake writes.

{report.markdown_table(header, rows)}

{report.paragraphs(floor.earlier_floor_note(saved), machine)}
"""


# --- entry point -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--n", type=report.positive_int, default=1000, help="timed webhooks per backend"
    )
    parser.add_argument(
        "--clients", type=report.positive_int, default=CLIENTS, help="requests in flight"
    )
    report.add_backend_argument(parser)
    report.add_no_save_argument(parser)
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[Result] = []
    for backend in await reachable_backends(args.backend):
        print(f"{backend}: {args.n:,} webhooks, {args.clients} in flight …", flush=True)
        result = await bench_backend(backend, args.n, args.clients)
        results.append(result)
        print(
            f"{backend}: ours {result.ours_req_per_s:,.0f} req/s, floor "
            f"{result.floor_req_per_s:,.0f} req/s ({result.floor_per_transaction:.1f} "
            f"webhooks a transaction), ratio ours ÷ floor {result.ratio:.3f}",
            flush=True,
        )
    if not results:
        print("nothing measured")
        return 1
    print()
    print_table(results)
    found = [problem for result in results for problem in problems(result)]
    return report.conclude(found, lambda: save(results), no_save=args.no_save)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
