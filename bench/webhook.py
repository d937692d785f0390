"""Webhook throughput: signed Twilio SMS webhooks into the real service over loopback HTTP,
against a bare FastAPI endpoint under the same bounded load.

    .venv/bin/python -m bench.webhook [--n 1000] [--clients 8] [--backend sqlite|postgresql|all]

Ours is the service as production runs it: `aduan db upgrade`, then `aduan run` (web app,
outbox dispatcher, scheduler) in its own process on a fresh database, its acknowledgements
sent to a stand-in for Twilio's REST API in another process (`bench.webhook_servers
twilio`). The floor is a bare FastAPI endpoint that parses the same form and answers the
same empty TwiML, served by uvicorn the same way in its own process (`bench.webhook_servers
floor`). This process only sends: CLIENTS requests in flight at a time over one
`httpx.AsyncClient`, each request built and signed with twilio's `RequestValidator` before
the clock starts, each a new sender's complaint (texts from bench/workload.py, distinct
MessageSids). Ours and the floor take turns, ROUND requests each; after each of our turns
the service's SMS backlog is left to drain, untimed, so the floor's turn does not pay for
it. Prints requests per second, p50 and p99 latency for both and the ratio; checks that
every webhook got 200 and that the service made one complaint per webhook; saves
`bench/results/webhook-<backend>.json` and the "Webhook" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
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

from bench import report, workload
from bench.intake import BACKENDS, Database, fresh_databases, reachable_backends
from storage.engine import make_engine

# Ours and the floor take turns, this many requests each, so that a change in the load of a
# shared machine hits both alike.
ROUND = 100
# Sent to each server before timing starts: imports, connections and caches warm.
WARMUP = 50
CLIENTS = 8
# Seconds the service may take to send the acknowledgements of one turn.
DRAIN_LIMIT = 300.0
PUBLIC = "https://aduan.bench.example.go.id"
PATH = "/webhooks/twilio/sms"
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
    load_average: tuple[float, float, float]
    round: int = ROUND
    warmup: int = WARMUP

    def as_json(self) -> dict[str, Any]:
        return {**report.environment(), "benchmark": "webhook", **asdict(self)}


# --- the requests ------------------------------------------------------------------------


def webhooks(count: int) -> list[Webhook]:
    """`count` inbound SMS webhooks as Twilio sends them, each from a new sender."""
    validator = RequestValidator(AUTH_TOKEN)
    mix = workload.Mix(returning=0.0, follow_up=0.0)
    built = []
    for message in workload.build(count, mix=mix).messages:
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
        signature = validator.compute_signature(PUBLIC + PATH, params)
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


def service_environment(database: Database, port: int, twilio_url: str) -> dict[str, str]:
    """The process environment of `aduan`: ours alone, nothing inherited from ADUAN_*."""
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

_SMS_BACKLOG = sa.text(
    "SELECT count(*) FROM outbox WHERE channel = 'sms' AND status IN ('pending', 'sending')"
)


async def drain(engine: AsyncEngine) -> float:
    """Wait until the service has sent every SMS it owes; how long that took."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(DRAIN_LIMIT):
            while True:
                async with engine.connect() as connection:
                    if not (await connection.execute(_SMS_BACKLOG)).scalar():
                        return time.perf_counter() - started
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise RuntimeError(f"the service still owed SMS after {DRAIN_LIMIT:.0f} s") from None


async def count_complaints(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(sa.text("SELECT count(*) FROM complaints"))).scalar() or 0
        )


def rounds(batch: Sequence[Webhook]) -> Iterator[Sequence[Webhook]]:
    for start in range(0, len(batch), ROUND):
        yield batch[start : start + ROUND]


async def bench_backend(backend: str, n: int, clients: int) -> Result:
    """Ours on a fresh `backend` database and the floor, taking turns under the same load."""
    load_average = os.getloadavg()
    requests = webhooks(WARMUP + n)
    warm, timed = requests[:WARMUP], requests[WARMUP:]
    ours, floor = Side(), Side()
    ratios: list[float] = []
    drained = 0.0
    ports = {name: free_port() for name in ("ours", "floor", "twilio")}
    with tempfile.TemporaryDirectory(prefix="aduan-webhook-") as directory:
        # The service runs here, away from any .env in the checkout.
        workdir = Path(directory)
        async with (
            fresh_databases(backend) as (database, _floor_needs_none),
            started(
                "twilio", _helper("twilio", ports["twilio"]), ports["twilio"], workdir
            ) as twilio,
            started("floor", _helper("floor", ports["floor"]), ports["floor"], workdir) as bare,
        ):
            environment = service_environment(database, ports["ours"], twilio.url)
            await upgrade(environment, workdir)
            engine = make_engine(database.url, schema=database.schema)
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            aduan_run = [str(BIN / "aduan"), "run"]
            try:
                async with (
                    started(
                        "ours", aduan_run, ports["ours"], workdir, cwd=workdir, env=environment
                    ) as service,
                    httpx.AsyncClient(limits=limits, timeout=60) as client,
                ):
                    await send(client, service.url + PATH, warm, clients, Side())
                    await send(client, bare.url + PATH, warm, clients, Side())
                    await drain(engine)
                    for batch in rounds(timed):
                        ours_before, floor_before = ours.seconds, floor.seconds
                        cpu = service.cpu_seconds()
                        await send(client, service.url + PATH, batch, clients, ours)
                        drained += await drain(engine)
                        ours.cpu_seconds += service.cpu_seconds() - cpu
                        cpu = bare.cpu_seconds()
                        await send(client, bare.url + PATH, batch, clients, floor)
                        floor.cpu_seconds += bare.cpu_seconds() - cpu
                        ratios.append((floor.seconds - floor_before) / (ours.seconds - ours_before))
                    complaints = await count_complaints(engine)
            finally:
                await engine.dispose()
    return Result(
        backend=backend,
        n=n,
        clients=clients,
        ours_req_per_s=round(ours.rate, 1),
        floor_req_per_s=round(floor.rate, 1),
        ratio=round(ours.rate / floor.rate, 4),
        ratio_quartiles=_quartiles(ratios),
        ours_p50_ms=round(ours.percentile_ms(0.50), 2),
        ours_p99_ms=round(ours.percentile_ms(0.99), 2),
        floor_p50_ms=round(floor.percentile_ms(0.50), 2),
        floor_p99_ms=round(floor.percentile_ms(0.99), 2),
        ours_cpu_ms_per_req=round(ours.cpu_seconds / n * 1000, 2),
        floor_cpu_ms_per_req=round(floor.cpu_seconds / n * 1000, 2),
        ours_statuses={str(k): v for k, v in sorted(ours.statuses.items())},
        floor_statuses={str(k): v for k, v in sorted(floor.statuses.items())},
        complaints=complaints,
        expected_complaints=WARMUP + n,
        drain_seconds=round(drained, 1),
        load_average=load_average,
    )


def _helper(name: str, port: int) -> list[str]:
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
    if result.complaints != result.expected_complaints:
        found.append(
            f"{result.backend}: {result.complaints} complaints for "
            f"{result.expected_complaints} webhooks"
        )
    return found


# --- output ------------------------------------------------------------------------------

HEADER = [
    "backend",
    "N",
    "clients",
    "ours req/s",
    "floor req/s",
    "ratio (rounds' IQR)",
    "p50 ms ours / floor",
    "p99 ms ours / floor",
    "server CPU ms/req ours / floor",
]


def table_row(data: dict[str, Any]) -> list[str]:
    low, high = data["ratio_quartiles"]
    return [
        data["backend"],
        f"{data['n']:,}",
        str(data["clients"]),
        f"{data['ours_req_per_s']:,.0f}",
        f"{data['floor_req_per_s']:,.0f}",
        f"{data['ratio']:.3f} ({low:.3f}–{high:.3f})",
        f"{data['ours_p50_ms']:,.1f} / {data['floor_p50_ms']:,.1f}",
        f"{data['ours_p99_ms']:,.1f} / {data['floor_p99_ms']:,.1f}",
        f"{data['ours_cpu_ms_per_req']:.1f} / {data['floor_cpu_ms_per_req']:.1f}",
    ]


def print_table(results: Sequence[Result]) -> None:
    rows = [HEADER, *(table_row(result.as_json()) for result in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


def save(results: Sequence[Result]) -> None:
    jsons = {f"webhook-{result.backend}": result.as_json() for result in results}
    report.publish(jsons, "Webhook", section_body, "webhook-")


def section_body(saved: Sequence[dict[str, Any]]) -> str:
    """The Webhook section of BENCHMARKS.md: what is measured, then every saved result."""
    header = [*HEADER, "date", "commit"]
    rows = [[*table_row(data), data["date"][:10], f"`{data['commit']}`"] for data in saved]
    machines = sorted({f"{data['machine']}, {data['nproc']} CPUs" for data in saved})
    loads = ", ".join(
        f"{data['backend']} " + " / ".join(f"{x:.2f}" for x in data["load_average"])
        for data in saved
    )
    return f"""\
`.venv/bin/python -m bench.webhook [--n N] [--clients C] [--backend sqlite|postgresql|all]`

- **Ours**: N signed Twilio SMS webhooks (`POST {PATH}`, the form fields Twilio
  sends, the `X-Twilio-Signature` of twilio's `RequestValidator` for the public address)
  to the service as production runs it: `aduan db upgrade`, then `aduan run` in its own
  process (web app, outbox dispatcher, scheduler) on a fresh database. Each webhook is a
  new sender's complaint (varied Indonesian texts from `bench/workload.py`, distinct
  MessageSids): a resident, a complaint, a message, 2 audit rows and 2 outbox rows,
  committed before the answer. The acknowledgements go by SMS to a stand-in for Twilio's
  REST API in a third process, while the webhooks arrive, as in production.
- **Floor**: a bare FastAPI endpoint at the same path that parses the same form body and
  answers the same empty TwiML (`bench/webhook_servers.py`), served by uvicorn with the
  options and logging of `aduan run`, in its own process.
- **Load**: the benchmark process only sends: C requests in flight at a time over one
  `httpx.AsyncClient` (keep-alive, loopback), every request built and signed before the
  clock starts. {WARMUP} untimed webhooks warm each server. Ours and the floor then take
  turns, {ROUND} webhooks each; after each of our turns the service's SMS backlog drains,
  untimed, so that the floor's turn does not pay for it.
- **Columns**: requests per second over each side's turns; **ratio** = ours ÷ floor (1.0
  would mean the service costs no more than parsing the webhook), in brackets the middle
  half of the ratios of single turns (how much a shared machine's load moved them);
  latency percentiles over every timed request; server CPU is the server process's CPU time
  (all threads) per webhook, for ours including sending the acknowledgement. Where the
  floor server's CPU per request is far below its wall time per request, the floor is
  bounded by the load generator on the same machine, not by the endpoint: the ratio then
  says how far the service is from what this client can send, and the CPU column what
  the service's work costs next to parsing the webhook.
- **Checks**: every webhook answered 200 by both, and one complaint per webhook.

{report.markdown_table(header, rows)}

Machine: {"; ".join(machines)}; load average at the start of each backend's run: {loads}.
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
    parser.add_argument("--backend", choices=[*BACKENDS, "all"], default="all")
    parser.add_argument(
        "--no-save", action="store_true", help="print only; write no JSON or BENCHMARKS.md"
    )
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
            f"{result.floor_req_per_s:,.0f} req/s, ratio {result.ratio:.3f}",
            flush=True,
        )
    if not results:
        print("nothing measured")
        return 1
    print()
    print_table(results)
    found = [problem for result in results for problem in problems(result)]
    for problem in found:
        print(f"error: {problem}")
    if not args.no_save and not found:
        save(results)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
