"""Crash test: SIGKILL the service while it takes 1,000 messages, restart, replay them all.

A retrying client sends every message again with the same Idempotency-Key and body. Every
message must then be exactly one complaint or follow-up, follow-ups must sit on their
complaint, and no acknowledgement (nor agency notice) may be queued twice — on SQLite and on
PostgreSQL, against the real `aduan run` process.
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Complaint, ContactClaim, Direction, Message, OutboxMessage
from tests.integration.service_process import Launcher, ServiceProcess, clean_env

MESSAGES = 1000
CONTACTS = 100
FOLLOW_UP_SHARE = 0.2
# A follow-up comes at least this many messages after its complaint, as a resident's would.
MIN_FOLLOW_UP_GAP = 16
CONCURRENCY = 12
# The service is killed once this many answers came back (chosen per backend, reproducibly).
KILL_WINDOW = (300, 500)
# Requests sent after the kill is armed, the last of them sent as it happens.
KILL_ON_SENT = CONCURRENCY // 2
SHUTDOWN_SECONDS = 25

PROBLEMS = (
    "Jalan berlubang besar di Jl. Mawar depan SD 3, tolong segera diperbaiki",
    "Sampah menumpuk di TPS Jl. Melati sudah seminggu tidak diangkut",
    "Lampu jalan di Jl. Kenanga mati semua sejak Senin malam",
    "Air PDAM mati sejak pagi di Perum Griya Asri",
    "Asap hitam dari pabrik dekat pemukiman bikin sesak napas",
    "Limbah pabrik dibuang ke sungai, airnya bau dan berbusa",
    "Parkir liar di depan pasar bikin macet setiap sore",
    "Pohon tumbang menutup jalan di Jl. Merpati dekat masjid",
    "Banjir setinggi lutut di Kel. Sukamaju setelah hujan deras",
    "Debu dari truk proyek masuk ke rumah warga setiap hari",
)

T = TypeVar("T", bound=SQLModel)


# --- the messages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Planned:
    """One message the client sends: a new complaint, or a follow-up of the create `parent`."""

    index: int
    key: str
    text: str
    contact: str | None = None
    parent: int | None = None

    @property
    def is_create(self) -> bool:
        return self.parent is None


def contacts() -> list[str]:
    """CONTACTS valid Indonesian mobile numbers, in E.164 (as the service stores them)."""
    return [f"+62812{30_000_000 + n:08d}" for n in range(CONTACTS)]


def plan_messages(rng: random.Random) -> list[Planned]:
    """MESSAGES messages, about FOLLOW_UP_SHARE of them follow-ups; every text is unique."""
    phones = contacts()
    plan: list[Planned] = []
    creates: list[int] = []
    for index in range(MESSAGES):
        key = f"crash-{index:04d}-{rng.getrandbits(48):012x}"
        eligible = [c for c in creates if c <= index - MIN_FOLLOW_UP_GAP]
        if eligible and rng.random() < FOLLOW_UP_SHARE:
            text = f"Tambahan info (pesan ke-{index:04d}): masih belum ditangani, mohon dicek"
            parent = rng.choice(eligible)
            plan.append(Planned(index, key, text, contact=plan[parent].contact, parent=parent))
        else:
            text = f"{rng.choice(PROBLEMS)} (pesan ke-{index:04d})"
            plan.append(Planned(index, key, text, contact=rng.choice(phones)))
            creates.append(index)
    return plan


# --- the client -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    outcome: str | None
    reference: str | None
    replayed: bool

    @classmethod
    def of(cls, response: httpx.Response) -> Answer:
        body: dict[str, Any] = response.json() if response.content else {}
        return cls(
            status=response.status_code,
            outcome=body.get("outcome"),
            reference=body.get("reference"),
            replayed=response.headers.get("Idempotent-Replayed") == "true",
        )


@dataclass
class Run:
    """What one pass of the client saw, by message index."""

    answers: dict[int, Answer] = field(default_factory=dict)
    # Sent, but the connection broke before an answer came (the service died).
    failed: dict[int, str] = field(default_factory=dict)
    # Follow-ups not sent because their complaint got no answer in this pass.
    skipped: set[int] = field(default_factory=set)

    @property
    def attempted(self) -> set[int]:
        return set(self.answers) | set(self.failed)


async def post(
    client: httpx.AsyncClient,
    message: Planned,
    reference: str | None,
    trace: Callable[[str, dict[str, Any]], Awaitable[None]],
) -> Answer:
    """Send one message over the JSON API, as a client with an Idempotency-Key does;
    `trace` hears httpcore's events of the exchange."""
    headers = {"Idempotency-Key": message.key}
    body = {"text": message.text, "contact": message.contact}
    url = "/api/complaints" if message.is_create else f"/api/complaints/{reference}/messages"
    response = await client.post(url, json=body, headers=headers, extensions={"trace": trace})
    return Answer.of(response)


async def send_all(
    base_url: str,
    plan: list[Planned],
    *,
    kill_after: int | None = None,
    kill: Callable[[], None] | None = None,
) -> Run:
    """Send the plan in order, CONCURRENCY in flight; optionally kill the service midway.

    A follow-up waits for its complaint's answer (it needs the reference). Once `kill_after`
    answers came back, `kill` runs when the `KILL_ON_SENT`th request sent after that has
    reached the service: that one is certainly unanswered when it dies, and those sent
    before it may have committed without being answered. (Killing on an answer could find
    no request unanswered: group commit answers the requests that share a transaction
    together.) No further message is started.
    """
    run = Run()
    loop = asyncio.get_running_loop()
    references = {m.index: loop.create_future() for m in plan if m.is_create}
    queue = deque(plan)
    stopped = False
    sent_since_armed = 0

    async def trace(event: str, _info: dict[str, Any]) -> None:
        nonlocal stopped, sent_since_armed
        armed = kill is not None and kill_after is not None and len(run.answers) >= kill_after
        if not armed or stopped or event != "http11.send_request_body.complete":
            return
        sent_since_armed += 1
        if kill is not None and sent_since_armed == KILL_ON_SENT:
            kill()
            stopped = True

    async def handle(client: httpx.AsyncClient, message: Planned) -> None:
        reference = await references[message.parent] if message.parent is not None else None
        if message.parent is not None and reference is None:
            run.skipped.add(message.index)
            return
        answer: Answer | None = None
        try:
            answer = await post(client, message, reference, trace)
        except httpx.TransportError as exc:
            run.failed[message.index] = f"{type(exc).__name__}: {exc}"
        else:
            run.answers[message.index] = answer
        finally:
            if message.is_create:
                references[message.index].set_result(answer.reference if answer else None)

    async def worker(client: httpx.AsyncClient) -> None:
        while queue and not stopped:
            await handle(client, queue.popleft())

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    return run


# --- checks ---------------------------------------------------------------------------------


def check_answers(plan: list[Planned], run: Run) -> None:
    """Every answer is a success of the right kind; follow-ups land on their parent's number."""
    for index, answer in run.answers.items():
        message = plan[index]
        if message.is_create:
            assert (answer.status, answer.outcome) == (201, "complaint"), (index, answer)
            assert answer.reference, (index, answer)
        else:
            assert (answer.status, answer.outcome) == (200, "follow_up"), (index, answer)
            assert message.parent is not None
            assert answer.reference == run.answers[message.parent].reference, (index, answer)


def check_replay(plan: list[Planned], first: Run, replay: Run) -> None:
    """The replay answered everything; what had an answer gets the same one, marked replayed;
    what was never sent is new."""
    assert not replay.failed, replay.failed
    assert not replay.skipped, sorted(replay.skipped)
    assert len(replay.answers) == len(plan)
    check_answers(plan, replay)
    for index, before in first.answers.items():
        after = replay.answers[index]
        assert after.replayed, f"message {index} answered before the kill, handled again"
        assert (after.status, after.reference) == (before.status, before.reference), index
    for index in set(range(len(plan))) - first.attempted:
        assert not replay.answers[index].replayed, f"message {index} was never sent before"


async def load(engine: AsyncEngine, model: type[T]) -> list[T]:
    """All rows of one table, in id order."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        statement = select(model).order_by(col(model.id))  # type: ignore[attr-defined]
        return list((await session.exec(statement)).all())


def expected_per_complaint(plan: list[Planned], complaint_of: dict[int, int]) -> Counter[int]:
    """How many inbound messages each complaint holds: its create plus its follow-ups."""
    return Counter(complaint_of[m.index if m.parent is None else m.parent] for m in plan)


async def check_database(engine: AsyncEngine, plan: list[Planned], replay: Run) -> None:
    """One inbound row per message, one complaint per create, one reply per message."""
    messages = await load(engine, Message)
    complaints = {c.id: c for c in await load(engine, Complaint)}
    claims = {c.complaint_id: c for c in await load(engine, ContactClaim)}
    outbox = await load(engine, OutboxMessage)

    inbound = [m for m in messages if m.direction == Direction.INBOUND]
    by_text = {m.text: m for m in inbound}
    assert len(inbound) == len(plan), "inbound rows ≠ messages sent"
    assert len(by_text) == len(plan) and {m.text for m in plan} == set(by_text)
    creates = [m for m in plan if m.is_create]
    assert len(complaints) == len(creates), "complaints ≠ create messages"

    complaint_of: dict[int, int] = {}
    for message in creates:
        row = by_text[message.text]
        assert row.kind == "complaint" and row.complaint_id is not None, (message, row)
        complaint = complaints[row.complaint_id]
        assert complaint.reference == replay.answers[message.index].reference, message
        assert complaint.text == message.text
        # The number typed with it is the complaint's claimed contact, not its resident.
        claim = claims[row.complaint_id]
        assert (claim.channel, claim.address) == ("sms", message.contact), message
        complaint_of[message.index] = row.complaint_id
    for message in plan:
        if message.parent is not None:
            row = by_text[message.text]
            assert row.kind == "follow_up", (message, row)
            assert row.complaint_id == complaint_of[message.parent], message

    duplicated = [key for key, n in Counter(r.key for r in outbox).items() if n > 1]
    assert not duplicated, f"outbox keys queued twice: {duplicated[:5]}"
    expected = expected_per_complaint(plan, complaint_of)
    for kind in ("reply", "agency_notice"):
        queued = Counter(r.complaint_id for r in outbox if r.kind == kind)
        assert sum(queued.values()) == len(plan), f"{kind} rows ≠ inbound messages"
        assert queued == expected, f"{kind} rows per complaint differ from messages"


# --- the test -------------------------------------------------------------------------------


@pytest.fixture
def launcher(database: tuple[str, str | None], tmp_path: Path) -> Iterator[Launcher]:
    """`aduan` processes on this test's database; killed before the database is dropped."""
    url, schema = database
    # Up to 20 messages per contact, and all from one address, arrive within seconds;
    # throttling is not what this tests.
    env = clean_env(url, schema, sender_rate_limit="off", web_posts_per_ip="off")
    launcher = Launcher(env, tmp_path)
    yield launcher
    launcher.close()


async def stop_cleanly(service: ServiceProcess) -> None:
    """SIGTERM: exit code 0, a clean shutdown logged, and no error logged in the whole run."""
    service.send_signal(signal.SIGTERM)
    code = await service.wait_exit(SHUTDOWN_SECONDS)
    log = service.log_text()
    assert code == 0, log
    records = service.log_events()
    assert "service stopped" in [r.get("event") for r in records], log
    assert not [r for r in records if r.get("level") in {"error", "critical"}], log


@pytest.mark.slow
async def test_sigkill_during_intake_then_replay_loses_and_duplicates_nothing(
    backend: str, launcher: Launcher, engine: AsyncEngine
) -> None:
    rng = random.Random(f"aduan-crash-{backend}")
    plan = plan_messages(rng)
    kill_after = rng.randint(*KILL_WINDOW)
    await launcher.upgrade()

    victim = await launcher.start("killed")
    first = await send_all(victim.base_url, plan, kill_after=kill_after, kill=victim.kill)
    assert await victim.wait_exit(10) == -signal.SIGKILL
    check_answers(plan, first)
    assert len(first.answers) >= kill_after
    assert first.failed, "the kill should have cut requests in flight"

    survivor = await launcher.start("restarted")
    replay = await send_all(survivor.base_url, plan)
    await stop_cleanly(survivor)

    check_replay(plan, first, replay)
    await check_database(engine, plan, replay)
    committed_unanswered = sum(replay.answers[i].replayed for i in first.failed)
    print(
        f"\n[{backend}] killed after {len(first.answers)} answers; {len(first.failed)} in "
        f"flight ({committed_unanswered} of them had committed), {len(first.skipped)} follow-ups "
        f"held back; {sum(m.is_create for m in plan)} creates, "
        f"{sum(not m.is_create for m in plan)} follow-ups"
    )
