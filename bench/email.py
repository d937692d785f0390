"""Email intake: a backlog in a Dovecot mailbox taken by the real service, against the floor
of a bare IMAP client FETCHing the same mail; and APPEND → acknowledgement latency with IDLE.

    .venv/bin/python -m bench.email [--n 5000] [--latency 50] [--backend sqlite|postgresql|all]

A throwaway Dovecot (the tests' launcher, `tests.integration.dovecot`; it must be started
as root) holds, per backend, two fresh mailboxes with the same N residents' mails, each a
new sender's complaint, APPENDed before anything is timed. **Ours**: the service as
production builds it (`bot.bootstrap` on a fresh database, migrated and seeded, IMAP in
from Dovecot, SMTP out to an aiosmtpd sink in its own process) starts; the time runs until
the database holds N complaints (committed rows, counted every 50 ms). **Floor**: one
aioimaplib session SELECTs the other mailbox, FETCHes `BODY.PEEK[]` of the same messages
in the chunks the channel uses (`_FETCH_COUNT` messages, about `_FETCH_BYTES`, from
`channels.email`) and marks each chunk `\\Seen`: the IMAP work no reader can skip.
**Latency**: with the service idling on the mailbox, M more mails are APPENDed one at a
time, each timed from the APPEND until its acknowledgement reaches the SMTP sink. Prints
messages per second for both, the ratio (ours ÷ floor as throughput) and the latency
percentiles; saves
`bench/results/email-<backend>.json` and the "Email" section of BENCHMARKS.md. Exits 2
when Dovecot cannot run here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from bench import report, workload
from bench.intake import Database, fresh_databases, reachable_backends
from bench.smtp_counter import CountingSink, counting_sink
from bot.bootstrap import Service, bootstrap
from channels.email import _FETCH_BYTES, _FETCH_COUNT
from config.settings import Settings
from tests.fakes import FakeClock
from tests.integration.dovecot import (
    Dovecot,
    append_all,
    dovecot_problem,
    imap,
    mailbox_user,
    start_dovecot,
    stop_dovecot,
)

OURS = "Aduan Kota <aduan@kota.example.go.id>"
RESIDENT_DOMAIN = "@mail.example.com"
LATENCY_MESSAGES = 50
# The brief's aims.
AIM_RATE = 300.0
AIM_RATIO = 0.5
AIM_P99_SECONDS = 2.0
# How long the service may take for the backlog, and for one acknowledgement.
BULK_LIMIT = 900.0
ACK_LIMIT = 30.0
# Between one acknowledgement and the next APPEND: the service marks the mail \Seen and
# goes back to IDLE, so that each APPEND finds it idling.
SETTLE = 0.3


@dataclass(slots=True)
class Result:
    """One backend's figures, as saved to JSON and shown in the tables."""

    backend: str
    n: int
    ours_seconds: float
    floor_seconds: float
    complaints: int
    floor_fetched: int
    latency_messages: int
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    acknowledged: int
    load_average: tuple[float, float, float]
    fetch_count: int = _FETCH_COUNT
    fetch_bytes: int = _FETCH_BYTES

    @property
    def ours(self) -> float:
        return self.n / self.ours_seconds

    @property
    def floor(self) -> float:
        return self.n / self.floor_seconds

    @property
    def ratio(self) -> float:
        """Ours ÷ floor as throughput: 1.0 would mean the service costs no more than the
        FETCH and STORE."""
        return self.ours / self.floor

    def as_json(self) -> dict[str, Any]:
        return {
            **report.environment(),
            "benchmark": "email",
            "aioimaplib": _version("aioimaplib"),
            "dovecot": _dovecot_version(),
            **asdict(self),
            "ours_msg_per_s": round(self.ours, 1),
            "floor_msg_per_s": round(self.floor, 1),
            "ratio": round(self.ratio, 3),
        }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _dovecot_version() -> str:
    import subprocess

    dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
    done = subprocess.run([dovecot, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


# --- the mail ----------------------------------------------------------------------------


def resident_mail(number: int, text: str) -> bytes:
    """A resident's first mail, as a plain client sends it."""
    mail = EmailMessage()
    mail["From"] = f"Warga {number} <warga{number}{RESIDENT_DOMAIN}>"
    mail["To"] = "aduan@kota.example.go.id"
    mail["Subject"] = "Pengaduan"
    mail["Date"] = format_datetime(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
    mail["Message-ID"] = f"<warga-{number}@mail.example.com>"
    mail.set_content(text)
    return mail.as_bytes()


def mails(count: int, first: int = 0) -> list[bytes]:
    """`count` residents' mails, each from a new sender with a new complaint (the texts of
    bench/workload.py)."""
    built = workload.build(count, mix=workload.Mix(returning=0.0, follow_up=0.0)).messages
    return [resident_mail(first + i, message.text) for i, message in enumerate(built)]


# --- ours --------------------------------------------------------------------------------


def settings_for(database: Database, server: Dovecot, user: str, sink: CountingSink) -> Settings:
    return Settings(
        database_url=database.url,
        database_schema=database.schema,
        imap_host=server.host,
        imap_port=server.port,
        imap_user=user,
        imap_password=SecretStr(server.password),
        imap_tls="none",
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        smtp_tls="none",
        email_from=OURS,
        _env_file=None,
    )


@contextlib.asynccontextmanager
async def service_on(settings: Settings) -> AsyncIterator[Service]:
    """The service as production builds it, migrated and seeded; its channels from the
    settings (email alone)."""
    service = bootstrap(settings, clock=FakeClock(datetime.now(UTC)))
    try:
        await service.prepare_database()
        yield service
    finally:
        await service.aclose()


_COMPLAINTS = sa.text("SELECT count(*) FROM complaints")


async def complaints(service: Service) -> int:
    async with service.engine.connect() as connection:
        return int((await connection.execute(_COMPLAINTS)).scalar() or 0)


async def until_complaints(service: Service, expected: int, limit: float) -> int:
    """Wait until the database holds `expected` complaints; how many it holds then."""
    deadline = time.perf_counter() + limit
    while True:
        found = await complaints(service)
        if found >= expected or time.perf_counter() > deadline:
            return found
        await asyncio.sleep(0.05)


async def latencies(server: Dovecot, user: str, sink: CountingSink, count: int) -> list[float]:
    """Seconds from each APPEND, one at a time while the service idles, to its
    acknowledgement arriving at the sink."""
    measured = []
    for number in range(1_000_000, 1_000_000 + count):
        [raw] = mails(1, number)
        await asyncio.sleep(SETTLE)
        appended = time.monotonic()
        await append_all(server, [raw], user=user)
        arrived = await sink.wait_for(f"warga{number}{RESIDENT_DOMAIN}", seconds=ACK_LIMIT)
        measured.append(arrived - appended)
    return measured


# --- the floor ---------------------------------------------------------------------------


def chunks(sizes: Sequence[int]) -> Iterator[tuple[int, int]]:
    """UID ranges (first, last; UIDs from 1) in the channel's fetch chunks: at most
    _FETCH_COUNT messages and about _FETCH_BYTES, a bigger message alone."""
    first, weight = 1, 0
    for uid, size in enumerate(sizes, start=1):
        if uid > first and (uid - first >= _FETCH_COUNT or weight + size > _FETCH_BYTES):
            yield first, uid - 1
            first, weight = uid, 0
        weight += size
    if sizes:
        yield first, len(sizes)


async def floor_fetch(server: Dovecot, user: str, sizes: Sequence[int]) -> tuple[float, int]:
    """One bare session: SELECT, FETCH BODY.PEEK[] chunk by chunk, STORE \\Seen after each.
    The seconds it took from connecting, and the messages it fetched."""
    started = time.perf_counter()
    fetched = 0
    async with imap(server, user) as client:
        selected = await client.select("INBOX")
        if selected.result != "OK":
            raise RuntimeError(f"SELECT refused: {selected.lines}")
        for first, last in chunks(sizes):
            uid_set = f"{first}:{last}"
            response = await client.uid("fetch", uid_set, "(UID BODY.PEEK[])")
            if response.result != "OK":
                raise RuntimeError(f"FETCH refused: {response.lines}")
            fetched += sum(isinstance(line, bytearray) for line in response.lines)
            stored = await client.uid("store", uid_set, "+FLAGS.SILENT", r"(\Seen)")
            if stored.result != "OK":
                raise RuntimeError(f"STORE refused: {stored.lines}")
    return time.perf_counter() - started, fetched


# --- one backend -------------------------------------------------------------------------


async def bench_backend(server: Dovecot, backend: str, n: int, latency_count: int) -> Result:
    load_average = os.getloadavg()
    backlog = mails(n)
    ours_user, floor_user = mailbox_user(), mailbox_user()
    print(f"{backend}: APPENDing {n:,} mails to two mailboxes (untimed) …", flush=True)
    await asyncio.gather(
        append_all(server, backlog, user=ours_user), append_all(server, backlog, user=floor_user)
    )
    # Dovecot stores lines ending in CRLF; the channel weighs messages by RFC822.SIZE.
    sizes = [len(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")) for raw in backlog]
    floor_seconds, fetched = await floor_fetch(server, floor_user, sizes)
    print(f"{backend}: floor {n / floor_seconds:,.0f} msg/s", flush=True)
    async with (
        fresh_databases(backend) as (database, _),
        counting_sink() as sink,
        service_on(settings_for(database, server, ours_user, sink)) as service,
    ):
        started = time.perf_counter()
        async with service.running():
            found = await until_complaints(service, n, BULK_LIMIT)
            ours_seconds = time.perf_counter() - started
            print(f"{backend}: ours {n / ours_seconds:,.0f} msg/s", flush=True)
            # The backlog's acknowledgements go out first, untimed: the latency is
            # measured on a service with nothing else to do.
            await until_acknowledged(sink, n, BULK_LIMIT)
            measured = await latencies(server, ours_user, sink, latency_count)
        acknowledged = residents_acknowledged(sink)
    ordered = sorted(measured)
    return Result(
        backend=backend,
        n=n,
        ours_seconds=ours_seconds,
        floor_seconds=floor_seconds,
        complaints=found,
        floor_fetched=fetched,
        latency_messages=latency_count,
        latency_p50_ms=round(_percentile(ordered, 0.50) * 1000, 1),
        latency_p99_ms=round(_percentile(ordered, 0.99) * 1000, 1),
        latency_max_ms=round(ordered[-1] * 1000, 1),
        acknowledged=acknowledged,
        load_average=load_average,
    )


def residents_acknowledged(sink: CountingSink) -> int:
    """Residents who got their acknowledgement (agencies' notices go to the sink too)."""
    return sink.count(RESIDENT_DOMAIN)


async def until_acknowledged(sink: CountingSink, expected: int, limit: float) -> None:
    deadline = time.perf_counter() + limit
    while True:
        if residents_acknowledged(sink) >= expected or time.perf_counter() > deadline:
            return
        await asyncio.sleep(0.1)


def _percentile(ordered: Sequence[float], share: float) -> float:
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def problems(result: Result) -> list[str]:
    """What says the run did not measure what it claims."""
    found = []
    if result.complaints != result.n:
        found.append(f"{result.backend}: {result.complaints} complaints for {result.n} mails")
    if result.floor_fetched != result.n:
        found.append(f"{result.backend}: the floor fetched {result.floor_fetched} of {result.n}")
    if result.acknowledged != result.n + result.latency_messages:
        found.append(
            f"{result.backend}: {result.acknowledged} residents' acknowledgements reached the "
            "sink, not "
            f"{result.n + result.latency_messages}"
        )
    return found


# --- output ------------------------------------------------------------------------------

HEADER = [
    "backend",
    "N",
    "ours msg/s",
    "floor msg/s",
    "ratio ours ÷ floor",
    "latency p50 / p99 ms",
]


def table_row(data: dict[str, Any]) -> list[str]:
    return [
        data["backend"],
        f"{data['n']:,}",
        f"{data['ours_msg_per_s']:,.0f}",
        f"{data['floor_msg_per_s']:,.0f}",
        f"{data['ratio']:.3f}",
        f"{data['latency_p50_ms']:,.0f} / {data['latency_p99_ms']:,.0f}",
    ]


def print_table(results: Sequence[Result]) -> None:
    report.print_table(HEADER, [table_row(result.as_json()) for result in results])


def verdict(result: Result) -> str:
    met = (
        result.ratio >= AIM_RATIO
        and result.ours >= AIM_RATE
        and result.latency_p99_ms < AIM_P99_SECONDS * 1000
    )
    return (
        f"{result.backend}: aims (bulk ≥ {AIM_RATIO} × floor and ≥ {AIM_RATE:.0f} msg/s, "
        f"p99 < {AIM_P99_SECONDS:.0f} s) {'met' if met else 'NOT met'}: "
        f"{result.ours:,.0f} msg/s, {result.ratio:.2f} × floor, p99 "
        f"{result.latency_p99_ms:,.0f} ms"
    )


def save(results: Sequence[Result]) -> None:
    jsons = {f"email-{result.backend}": result.as_json() for result in results}
    report.publish(jsons, "Email", section_body, "email-")


def section_body(saved: Sequence[dict[str, Any]]) -> str:
    """The Email section of BENCHMARKS.md: what is measured, then every saved result."""
    header = [*HEADER, "date", "commit"]
    rows = report.dated_rows(saved, table_row)
    machines = report.machines(saved)
    versions = sorted(
        {f"Dovecot {data['dovecot']}, aioimaplib {data['aioimaplib']}" for data in saved}
    )
    loads = report.load_averages(saved)
    return f"""\
`.venv/bin/python -m bench.email [--n N] [--latency M] [--backend sqlite|postgresql|all]`

- **Ours**: N residents' mails (each a new sender's complaint, texts from
  `bench/workload.py`) APPENDed, untimed, to a fresh mailbox of a throwaway Dovecot
  (`tests/integration/dovecot.py`, plain IMAP on loopback). The service as production
  builds it (`bot.bootstrap`, on a fresh database, migrated and seeded; IMAP in from that
  mailbox, SMTP out to an aiosmtpd sink in a process of its own, `bench/smtp_counter.py`,
  which parses nothing) then starts, and the time runs from its start
  until the database holds N complaints (committed rows, counted every 50 ms). Its
  dispatcher sends the acknowledgements meanwhile, as in production.
- **Floor**: the IMAP work no reader can skip, on a second mailbox holding the same mails:
  one aioimaplib session connects, logs in, SELECTs the folder, `UID FETCH`es `BODY.PEEK[]`
  in the channel's chunks (at most `_FETCH_COUNT` = {_FETCH_COUNT} messages and about
  `_FETCH_BYTES` = {_FETCH_BYTES // (1024 * 1024)} MiB, from `channels/email.py`) and marks each
  chunk `\\Seen` (`UID STORE +FLAGS.SILENT`). No parsing, no database.
- **Latency**: after the backlog's acknowledgements are sent, with the service idling on
  the mailbox (IMAP IDLE), M more mails are APPENDed one at a time; each is timed from the
  APPEND until its acknowledgement arrives at the SMTP sink (parsed, committed, marked
  `\\Seen`, queued, composed and relayed). p50 and p99 over the M. About 500 ms of each
  is Dovecot's own: it gathers a mailbox's changes for 0.5 s before telling an idling
  client (`NOTIFY_DELAY_MSECS` in its `mailbox-watch.c`).
- **Columns**: messages per second; **ratio** = ours ÷ floor as throughput (higher is
  better; 1.0 would mean the service costs no more than fetching the mail). Aims:
  ≥ {AIM_RATIO} × the floor, ≥ {AIM_RATE:.0f} messages a second (django-helpdesk 2.6.1 takes
  25–33 a second against the same kind of mailbox on this machine), p99 latency under
  {AIM_P99_SECONDS:.0f} s.
- **Checks**: N complaints, N messages fetched by the floor, one acknowledgement per mail
  at the sink.

{report.markdown_table(header, rows)}

Machine: {"; ".join(machines)}; {"; ".join(versions)}; load average at the start of each
backend's run: {loads}.
"""


# --- entry point -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.email", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--n", type=report.positive_int, default=5000, help="mails waiting at start-up"
    )
    parser.add_argument(
        "--latency",
        type=report.positive_int,
        default=LATENCY_MESSAGES,
        help="mails APPENDed one at a time while the service idles",
    )
    report.add_backend_argument(parser, default="sqlite")
    report.add_no_save_argument(parser)
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if problem := dovecot_problem():
        print(f"cannot run Dovecot here: {problem}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="aduan-bench-dovecot-"))
    results: list[Result] = []
    try:
        server = start_dovecot(root)
    except (RuntimeError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        print(f"cannot run Dovecot here: {exc}", file=sys.stderr)
        return 2
    try:
        for backend in await reachable_backends(args.backend):
            results.append(await bench_backend(server, backend, args.n, args.latency))
    finally:
        stop_dovecot(server)
        shutil.rmtree(root, ignore_errors=True)
    if not results:
        print("nothing measured")
        return 1
    print()
    print_table(results)
    for result in results:
        print(verdict(result))
    found = [problem for result in results for problem in problems(result)]
    return report.conclude(found, lambda: save(results), no_save=args.no_save)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
