"""Faults: mixed messages on every channel into real `aduan run` processes that are killed
with SIGKILL at random moments, on a PostgreSQL of their own that is restarted mid-run, with
Twilio, Telegram and the SMTP server answering a share of sends with errors and timeouts.

At the end every message must be exactly one complaint or follow-up, and every message the
service sent must have reached its fake exactly once: never twice, and missing only where
the service recorded the row as "delivery unknown" (a process killed between the
provider's accept and our record of it; Telegram and email are never resent then, and SMS
only once Twilio's message list shows it never took the message).
`run_faults(size)` runs the scenario; tests/integration/test_faults.py runs it small, and
`python -m bench.faults` at 10,000.

What each client does, as its provider would:
- web: the JSON API with an Idempotency-Key, sent again (same key, same body) until a 2xx
  answer, after a broken connection or a 5xx, as a retrying client does;
- SMS and voice: signed Twilio webhooks (an inbound SMS; a call's recording callback, whose
  audio the service fetches from the fake), redelivered until a 2xx. Twilio itself
  redelivers only after connection failures (and on a 5xx only with the connection
  overrides `#rc`/`#ct` in the URL); redelivering after both is the harder case for us;
- Telegram: updates queued at the fake Bot API, polled by the service, handed out again
  until the service confirms them with the next offset, as Telegram keeps them;
- email: mail APPENDed to a Dovecot mailbox the service reads over IMAP (IDLE).

Follow-ups (web, SMS, Telegram) come from the sender of an earlier complaint, once that
complaint's message was accepted; each complaint has a sender of its own, so each sender's
messages must end as one complaint and its follow-ups (on SMS and Telegram the merge
window makes them follow-ups). Provider faults are injected in pulses at random moments:
Twilio 500 and 429; Telegram 500, 429 with retry_after; Twilio's and Telegram's calls held
past the client's timeout (`ADUAN_PROVIDER_TIMEOUT_SECONDS`), either answered with an error
without sending or sent and only their answer held (the client cannot tell which: on
Telegram both are "delivery unknown", the second reaching the resident; on SMS the service
asks Twilio, and sends the first again); SMTP's transient refusals (451,
421, 452 4.7.0 for a rate limit: SMTP's 5xx are final, so its 4xx are its 5xx and 429).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.engine import make_engine
from storage.models import (
    DeliveryState,
    Direction,
    KeptDelivery,
    Message,
    OutboxMessage,
    OutboxStatus,
)
from tests.fakes.telegram_api import FakeBotApi, TgUser, running_fake_bot_api
from tests.fakes.twilio_api import FakeTwilioApi, running_fake_twilio, signed_headers
from tests.integration.dovecot import Dovecot, append_all, mailbox_user
from tests.integration.pg_cluster import PgCluster
from tests.integration.service_process import Launcher, ServiceProcess, clean_env
from tests.integration.smtp_sink import SmtpSink, running_smtp_sink

PUBLIC = "https://aduan.faults.example.go.id"
OUR_NUMBER = "+15005550006"
OUR_MAILBOX = "aduan@kota.example.go.id"
CHANNELS = {"web": 0.3, "sms": 0.25, "voice": 0.1, "telegram": 0.2, "email": 0.15}
FOLLOWS_UP = ("web", "sms", "telegram")
FOLLOW_UP_SHARE = 0.2
# A follow-up comes at least this many messages after its complaint, as a resident's would.
MIN_FOLLOW_UP_GAP = 12
CONCURRENCY = 8
RETRY_PAUSE = 0.2
# How long the services wait for Twilio's and Telegram's answers, and the stalls past it.
PROVIDER_TIMEOUT = 2.0
PROVIDER_STALL = 3.0
# How long the last process may take to drain, and to stop on SIGTERM; draining grows with
# the run, every message having an agency notice to mail (10,000 took over 4 minutes).
DRAIN_SECONDS = 240.0
DRAIN_SECONDS_PER_MESSAGE = 0.05
SHUTDOWN_SECONDS = 30.0
PROBLEMS = (
    "Jalan berlubang besar di Jl. Mawar depan SD 3, tolong segera diperbaiki",
    "Sampah menumpuk di TPS Jl. Melati sudah seminggu tidak diangkut",
    "Lampu jalan di Jl. Kenanga mati semua sejak Senin malam",
    "Air PDAM mati sejak pagi di Perum Griya Asri",
    "Asap hitam dari pabrik dekat pemukiman bikin sesak napas",
    "Limbah pabrik dibuang ke sungai, airnya bau dan berbusa",
    "Parkir liar di depan pasar bikin macet setiap sore",
    "Banjir setinggi lutut di Kel. Sukamaju setelah hujan deras",
)


class ScenarioError(Exception):
    """The scenario could not run to its end (not a finding about the service)."""


# --- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Planned:
    """One message: a new complaint from a sender of its own, or a follow-up from the sender
    of the create `parent`. `key` is its provider id (web: the Idempotency-Key)."""

    index: int
    channel: str
    sender: str
    text: str
    key: str
    parent: int | None = None


def plan_messages(size: int, rng: random.Random) -> list[Planned]:
    names, weights = list(CHANNELS), list(CHANNELS.values())
    plan: list[Planned] = []
    creates: dict[str, list[int]] = defaultdict(list)
    for index in range(size):
        channel = rng.choices(names, weights)[0]
        key = f"{rng.getrandbits(128):032x}"
        eligible = [c for c in creates[channel] if c <= index - MIN_FOLLOW_UP_GAP]
        if channel in FOLLOWS_UP and eligible and rng.random() < FOLLOW_UP_SHARE:
            parent = rng.choice(eligible)
            text = f"Tambahan info (pesan ke-{index}): masih belum ditangani, mohon dicek"
            plan.append(Planned(index, channel, plan[parent].sender, text, key, parent))
            continue
        sender = {
            "web": f"+62813{index:08d}",
            "sms": f"+62812{index:08d}",
            "voice": f"+62815{index:08d}",
            "telegram": str(700_000_000 + index),
            "email": f"warga{index}@mail.example.com",
        }[channel]
        text = f"{rng.choice(PROBLEMS)} (pesan ke-{index})"
        plan.append(Planned(index, channel, sender, text, key))
        creates[channel].append(index)
    return plan


# --- the service and its faults -------------------------------------------------------------


@dataclass
class Counts:
    kills: int = 0
    pg_restarts: int = 0
    redeliveries: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    # The answers (or transport errors) clients got, by channel.
    why: Counter[str] = field(default_factory=Counter)


class Fleet:
    """One `aduan run` at a time: killed with SIGKILL and started again."""

    def __init__(self, launcher: Launcher, counts: Counts) -> None:
        self._launcher = launcher
        self._counts = counts
        self._lock = asyncio.Lock()
        self.current: ServiceProcess | None = None

    @property
    def base_url(self) -> str:
        return self.current.base_url if self.current else "http://127.0.0.1:9"

    async def start(self) -> None:
        self.current = await self._launcher.start("aduan")

    async def kill_and_restart(self) -> None:
        async with self._lock:
            victim = self.current
            if victim is None:
                return
            victim.kill()
            await victim.wait_exit(10)
            self._counts.kills += 1
            self.current = await self._launcher.start("aduan")

    async def stop(self) -> None:
        """SIGTERM the last process: it must stop cleanly."""
        async with self._lock:
            service = self.current
            if service is None:
                return
            service.send_signal(signal.SIGTERM)
            code = await service.wait_exit(SHUTDOWN_SECONDS)
            events = [record.get("event") for record in service.log_events()]
            if code != 0 or "service stopped" not in events:
                raise ScenarioError(f"the last process exited {code}:\n{service.log_text()}")


@dataclass
class Providers:
    twilio: FakeTwilioApi
    telegram: FakeBotApi
    smtp: SmtpSink
    dovecot: Dovecot
    mailbox: str


async def inject(
    providers: Providers, rng: random.Random, stopping: asyncio.Event, queued: Counter[str]
) -> None:
    """Queue a fault at a provider every now and then, until `stopping`; `queued` counts
    them by name."""
    faults: dict[str, Callable[[], None]] = {
        "twilio 500": lambda: providers.twilio.fail_next(500),
        "twilio 429": lambda: providers.twilio.fail_next(429),
        "telegram 500": lambda: providers.telegram.fail_next(
            "sendMessage", 500, "Internal Server Error"
        ),
        "telegram 429": lambda: providers.telegram.flood("sendMessage", retry_after=1),
        "telegram timeout": lambda: providers.telegram.stall("sendMessage", seconds=PROVIDER_STALL),
        "telegram sent, no answer": lambda: providers.telegram.stall(
            "sendMessage", seconds=PROVIDER_STALL, done=True
        ),
        "twilio timeout": lambda: providers.twilio.stall(seconds=PROVIDER_STALL),
        "twilio sent, no answer": lambda: providers.twilio.stall(seconds=PROVIDER_STALL, done=True),
        "smtp 451": lambda: providers.smtp.fail_next("451 4.3.0 Temporary server error"),
        "smtp 421": lambda: providers.smtp.fail_next("421 4.3.2 Service not available"),
        "smtp 452": lambda: providers.smtp.fail_next("452 4.7.0 Rate limit, slow down"),
    }
    names = list(faults)
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), rng.uniform(0.2, 0.8))
        if not stopping.is_set():
            name = rng.choice(names)
            faults[name]()
            queued[name] += 1


def injected(providers: Providers, queued: Counter[str]) -> Counter[str]:
    """The faults the providers answered with (not those still queued)."""
    counted: Counter[str] = Counter()
    smtp = sum(n for name, n in queued.items() if name.startswith("smtp"))
    counted["smtp refusals"] = smtp - len(providers.smtp.failing)
    twilio = providers.twilio
    counted["twilio errors"] = len(twilio.attempts) - len(twilio.messages)
    for call in providers.telegram.calls_of("sendMessage"):
        if call.error is not None:
            counted[f"telegram {call.error.error_code}"] += 1
    return counted


# --- the clients ----------------------------------------------------------------------------


class Clients:
    """Sends each planned message as its provider or client would, until it is accepted."""

    def __init__(self, fleet: Fleet, providers: Providers, counts: Counts) -> None:
        self.fleet = fleet
        self.providers = providers
        self.counts = counts
        self.http = httpx.AsyncClient(timeout=30)
        self.references: dict[int, str] = {}
        self.update_ids: dict[int, int] = {}

    async def send(self, message: Planned, reference: str | None) -> None:
        senders: dict[str, Callable[[Planned, str | None], Awaitable[None]]] = {
            "web": self._web,
            "sms": self._sms,
            "voice": self._voice,
            "telegram": self._telegram,
            "email": self._email,
        }
        await senders[message.channel](message, reference)

    async def _until_accepted(self, channel: str, request: Callable[[str], Awaitable[Any]]) -> Any:
        """`request(base_url)` again until it answers 2xx; its answer."""
        while True:
            try:
                response: httpx.Response = await request(self.fleet.base_url)
            except httpx.TransportError as exc:
                self.counts.why[f"{channel} {type(exc).__name__}"] += 1
            else:
                self.counts.why[f"{channel} {response.status_code}"] += 1
                if response.is_success:
                    return response
                if response.status_code < 500:
                    raise ScenarioError(f"{channel}: {response.status_code} {response.text[:300]}")
            self.counts.redeliveries[channel] += 1
            await asyncio.sleep(RETRY_PAUSE)

    async def _web(self, message: Planned, reference: str | None) -> None:
        body = {"text": message.text, "contact": message.sender}
        path = "/api/complaints" if reference is None else f"/api/complaints/{reference}/messages"
        headers = {"Idempotency-Key": message.key}

        def post(base: str) -> Awaitable[httpx.Response]:
            return self.http.post(base + path, json=body, headers=headers)

        answer = await self._until_accepted("web", post)
        self.references[message.index] = str(answer.json()["reference"])

    async def _twilio(self, channel: str, path: str, params: dict[str, str]) -> None:
        headers = signed_headers(PUBLIC + path, params, self.providers.twilio.auth_token)

        def post(base: str) -> Awaitable[httpx.Response]:
            return self.http.post(base + path, data=params, headers=headers)

        await self._until_accepted(channel, post)

    async def _sms(self, message: Planned, reference: str | None) -> None:
        params = {
            "MessageSid": "SM" + message.key,
            "AccountSid": self.providers.twilio.account_sid,
            "From": message.sender,
            "To": OUR_NUMBER,
            "Body": message.text,
            "NumMedia": "0",
        }
        await self._twilio("sms", "/webhooks/twilio/sms", params)

    async def _voice(self, message: Planned, reference: str | None) -> None:
        twilio = self.providers.twilio
        sid, url = twilio.add_recording(b"ID3" + message.text.encode())
        params = {
            "AccountSid": twilio.account_sid,
            "CallSid": "CA" + message.key,
            "RecordingSid": sid,
            "RecordingUrl": url,
            "RecordingStatus": "completed",
            "RecordingDuration": "17",
            "RecordingChannels": "1",
            "RecordingSource": "RecordVerb",
        }
        self.references[message.index] = sid  # the recording is the message's provider id
        await self._twilio(
            "voice", f"/webhooks/twilio/recording?caller={quote(message.sender)}", params
        )

    async def _telegram(self, message: Planned, reference: str | None) -> None:
        api = self.providers.telegram
        user = TgUser(int(message.sender), "Warga", language_code="id")
        self.update_ids[message.index] = api.push_update(api.text_message(user, message.text))

    async def _email(self, message: Planned, reference: str | None) -> None:
        mail = EmailMessage()
        mail["From"] = f"Warga <{message.sender}>"
        mail["To"] = OUR_MAILBOX
        mail["Subject"] = "Pengaduan"
        mail["Date"] = format_datetime(datetime.now(UTC))
        mail["Message-ID"] = f"<{message.key}@mail.example.com>"
        mail.set_content(message.text)
        providers = self.providers
        await append_all(providers.dovecot, [mail.as_bytes()], user=providers.mailbox)

    async def accepted(self, create: Planned) -> str | None:
        """Once a create was accepted: its reference (web) or None. Telegram's once the
        service confirmed the update (processed, or kept to be tried again)."""
        if create.channel == "telegram":
            await self.providers.telegram.wait_until_confirmed(
                self.update_ids[create.index], timeout=DRAIN_SECONDS
            )
        return self.references.get(create.index)


async def send_all(plan: list[Planned], clients: Clients, on_sent: Callable[[int], None]) -> None:
    """The plan in order, CONCURRENCY at a time; a follow-up once its complaint's message was
    accepted. `on_sent(n)` after the n-th message was accepted."""
    loop = asyncio.get_running_loop()
    done: dict[int, asyncio.Future[None]] = {m.index: loop.create_future() for m in plan}
    queue = list(reversed(plan))
    sent = 0

    async def one(message: Planned) -> None:
        nonlocal sent
        reference = None
        if message.parent is not None:
            await done[message.parent]
            reference = await clients.accepted(plan[message.parent])
        await clients.send(message, reference)
        done[message.index].set_result(None)
        sent += 1
        on_sent(sent)

    async def worker() -> None:
        while queue:
            await one(queue.pop())

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


# --- the checks -----------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the run did and found: the counts printed, and what broke a promise."""

    size: int
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    per_channel: dict[str, dict[str, int]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def table(self) -> list[list[str]]:
        rows = [[name, str(value)] for name, value in self.counts.items()]
        for channel, numbers in self.per_channel.items():
            described = ", ".join(f"{k} {v}" for k, v in numbers.items())
            rows.append([f"channel {channel}", described])
        return rows


async def rows(engine: AsyncEngine, model: type[SQLModel]) -> list[Any]:
    async with AsyncSession(engine) as session:
        return list((await session.exec(select(model))).all())


def identity(channel: str, text: str, provider_id: str | None) -> str:
    """What names a message in the messages table: its text (unique in the plan), or for
    a recording, whose text the service writes, the RecordingSid."""
    return (provider_id or "") if channel == "voice" else text.strip()


async def check_messages(
    engine: AsyncEngine, plan: list[Planned], clients: Clients, outcome: Outcome
) -> None:
    """Each planned message is one inbound row; each sender's rows one complaint."""
    inbound = [m for m in await rows(engine, Message) if m.direction == Direction.INBOUND]
    expected = Counter(
        (m.channel, identity(m.channel, m.text, clients.references.get(m.index))) for m in plan
    )
    stored = Counter(
        (m.channel, identity(m.channel, m.text, m.provider_message_id)) for m in inbound
    )
    for key in expected.keys() | stored.keys():
        if expected[key] != stored[key]:
            outcome.violations.append(
                f"{key[0]} message {key[1][:60]!r}: sent once, stored {stored[key]} times"
            )
    sender_of = {
        (m.channel, identity(m.channel, m.text, clients.references.get(m.index))): m.sender
        for m in plan
    }
    groups: dict[tuple[str, str], list[Message]] = defaultdict(list)
    for row in inbound:
        sender = sender_of.get(
            (row.channel, identity(row.channel, row.text, row.provider_message_id))
        )
        if sender is not None:
            groups[(row.channel, sender)].append(row)
        if row.kind not in ("complaint", "follow_up"):
            outcome.violations.append(f"{row.channel} message {row.id} stored as {row.kind}")
    for (channel, sender), held in groups.items():
        kinds = Counter(row.kind for row in held)
        complaints = {row.complaint_id or 0 for row in held}
        if kinds["complaint"] != 1 or len(complaints) != 1:
            outcome.violations.append(
                f"{channel} sender {sender}: {dict(kinds)} on complaints {sorted(complaints)}"
            )
    for channel in CHANNELS:
        of_channel = [m for m in inbound if m.channel == channel]
        outcome.per_channel[channel] = {
            "messages": len(of_channel),
            "complaints": sum(m.kind == "complaint" for m in of_channel),
            "follow-ups": sum(m.kind == "follow_up" for m in of_channel),
        }
    outcome.counts["messages"] = len(inbound)
    outcome.counts["complaints"] = sum(m.kind == "complaint" for m in inbound)
    outcome.counts["follow-ups"] = sum(m.kind == "follow_up" for m in inbound)


def received(providers: Providers) -> Counter[tuple[str, str, str]]:
    """What reached each fake, as (channel, recipient, text)."""
    got: Counter[tuple[str, str, str]] = Counter()
    for sms in providers.twilio.messages:
        got[("sms", sms.to, sms.body.strip())] += 1
    for sent in providers.telegram.sent:
        got[("telegram", str(sent.chat_id), (sent.text or "").strip())] += 1
    for mail in providers.smtp.mails:
        body = mail.get_body(("plain",))
        text = body.get_content() if isinstance(body, EmailMessage) else ""
        got[("email", str(mail["To"]), text.replace("\r\n", "\n").strip())] += 1
    return got


def is_unknown(row: OutboxMessage) -> bool:
    return row.status is OutboxStatus.FAILED and "delivery unknown" in (row.last_error or "")


async def check_deliveries(engine: AsyncEngine, providers: Providers, outcome: Outcome) -> None:
    """Every sent row reached its fake once; an unknown one at most once; none twice."""
    outbox: list[OutboxMessage] = await rows(engine, OutboxMessage)
    got = received(providers)
    sent: Counter[tuple[str, str, str]] = Counter()
    unknown: Counter[tuple[str, str, str]] = Counter()
    for row in outbox:
        key = (row.channel, row.recipient, row.text.strip())
        if row.status is OutboxStatus.SENT:
            sent[key] += 1
        elif is_unknown(row):
            unknown[key] += 1
        else:
            outcome.violations.append(
                f"outbox row {row.id} ({row.kind} on {row.channel}) ended {row.status.value}: "
                f"{row.last_error}"
            )
    arrived_unknown = 0
    for key in sent.keys() | unknown.keys() | got.keys():
        if key[0] == "web" and not got[key]:
            continue  # nothing to transmit: the web channel's rows show on the tracking page
        extra = got[key] - sent[key]
        if extra < 0 or extra > unknown[key]:
            outcome.violations.append(
                f"{key[0]} to {key[1]} {key[2][:60]!r}: received {got[key]}, "
                f"sent {sent[key]}, delivery unknown {unknown[key]}"
            )
        arrived_unknown += max(0, min(extra, unknown[key]))
    statuses = Counter(row.status.value for row in outbox)
    outcome.counts["outbox rows"] = len(outbox)
    outcome.counts["outbox sent"] = statuses["sent"]
    outcome.counts["outbox failed"] = statuses["failed"] - sum(unknown.values())
    outcome.counts["outbox delivery unknown"] = sum(unknown.values())
    outcome.counts["  of which reached the provider"] = arrived_unknown
    by_channel = Counter(channel for channel, _, _ in unknown.elements())
    for channel in ("sms", "telegram", "email"):
        outcome.counts[f"  of which on {channel}"] = by_channel[channel]
    outcome.counts["acknowledgements"] = sum(row.kind == "reply" for row in outbox)
    outcome.counts["agency notices"] = sum(row.kind == "agency_notice" for row in outbox)


async def check_inbox(engine: AsyncEngine, outcome: Outcome) -> None:
    kept: list[KeptDelivery] = await rows(engine, KeptDelivery)
    outcome.counts["deliveries kept"] = len(kept)
    outcome.counts["deliveries tried again"] = sum(row.attempts > 1 for row in kept)
    dead = [row for row in kept if row.state is DeliveryState.DEAD]
    outcome.counts["dead letters"] = len(dead)
    for row in dead:
        outcome.violations.append(f"dead letter {row.channel} {row.key}: {row.last_error}")


async def drained(engine: AsyncEngine, expected: int) -> bool:
    """Every message stored, nothing left to send or to process."""
    inbound = [m for m in await rows(engine, Message) if m.direction == Direction.INBOUND]
    busy = [
        row
        for row in await rows(engine, OutboxMessage)
        if row.status in (OutboxStatus.PENDING, OutboxStatus.SENDING)
    ]
    pending = [
        row for row in await rows(engine, KeptDelivery) if row.state is DeliveryState.PENDING
    ]
    return len(inbound) >= expected and not busy and not pending


# --- the run --------------------------------------------------------------------------------


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster.create(Path(tempfile.mkdtemp(prefix="aduan-faults-pg-")))
    try:
        yield cluster
    finally:
        cluster.remove()


@contextlib.asynccontextmanager
async def providers_on(dovecot: Dovecot) -> AsyncIterator[Providers]:
    async with (
        running_fake_twilio() as twilio,
        running_fake_bot_api() as telegram,
        running_smtp_sink() as smtp,
    ):
        yield Providers(twilio, telegram, smtp, dovecot, mailbox_user())


def service_env(cluster: PgCluster, providers: Providers) -> dict[str, str]:
    """The service on the throwaway cluster and the fakes, with short pauses: the clock is
    real, and a crash's leftovers (claims, kept deliveries) are taken over within seconds."""
    return clean_env(
        cluster.url,
        sender_rate_limit="off",
        web_posts_per_ip="off",
        public_base_url=PUBLIC,
        twilio_account_sid=providers.twilio.account_sid,
        twilio_auth_token=providers.twilio.auth_token,
        twilio_from=OUR_NUMBER,
        twilio_api_base=providers.twilio.base_url,
        sms_messages_per_second=1000,
        telegram_token=providers.telegram.token,
        telegram_api_base=providers.telegram.base_url,
        telegram_poll_timeout=1,
        telegram_messages_per_second=1000,
        provider_timeout_seconds=PROVIDER_TIMEOUT,
        imap_host=providers.dovecot.host,
        imap_port=providers.dovecot.port,
        imap_user=providers.mailbox,
        imap_password=providers.dovecot.password,
        imap_tls="none",
        smtp_host="127.0.0.1",
        smtp_port=providers.smtp.port,
        smtp_tls="none",
        email_from=f"Pengaduan Kota <{OUR_MAILBOX}>",
        outbox_poll_seconds="0.2",
        outbox_backoff_seconds="0.2",
        outbox_max_attempts=40,
        outbox_claim_seconds=5,
        inbox_claim_seconds=3,
        deadletter_after_attempts=20,
    )


def fault_moments(size: int, kills: int, rng: random.Random) -> tuple[list[int], int]:
    """After how many accepted messages to kill the service, and to restart PostgreSQL."""
    low, high = max(1, size // 10), max(2, size * 9 // 10)
    kill_at = sorted(rng.sample(range(low, high), kills))
    restart_at = rng.choice(
        [n for n in range(size * 3 // 10, size * 7 // 10 + 1) if n not in kill_at]
    )
    return kill_at, restart_at


async def run_faults(size: int, *, kills: int, dovecot: Dovecot, seed: str = "aduan") -> Outcome:
    """The scenario with `size` messages and `kills` SIGKILLs; what it found."""
    rng = random.Random(f"faults-{seed}-{size}-{kills}")
    plan = plan_messages(size, rng)
    kill_at, restart_at = fault_moments(size, kills, rng)
    outcome = Outcome(size)
    counts = Counts()
    started = time.monotonic()
    with pg_cluster() as cluster, tempfile.TemporaryDirectory(prefix="aduan-faults-") as work:
        async with providers_on(dovecot) as providers:
            launcher = Launcher(service_env(cluster, providers), Path(work))
            try:
                await launcher.upgrade()
                fleet = Fleet(launcher, counts)
                await fleet.start()
                clients = Clients(fleet, providers, counts)
                stopping = asyncio.Event()
                queued: Counter[str] = Counter()
                chaos = asyncio.create_task(inject(providers, rng, stopping, queued))
                faults: list[asyncio.Task[None]] = []

                def on_sent(n: int) -> None:
                    if n in kill_at:
                        faults.append(asyncio.create_task(fleet.kill_and_restart()))
                    if n == restart_at:
                        faults.append(asyncio.create_task(restart(cluster, counts)))

                try:
                    await send_all(plan, clients, on_sent)
                    await asyncio.gather(*faults)
                finally:
                    stopping.set()
                    await chaos
                    await clients.http.aclose()
                engine = make_engine(cluster.url)
                try:
                    allowed = DRAIN_SECONDS + size * DRAIN_SECONDS_PER_MESSAGE
                    deadline = time.monotonic() + allowed
                    while not await drained(engine, size):
                        if time.monotonic() > deadline:
                            outcome.violations.append(f"not drained {allowed:.0f} s later")
                            break
                        await asyncio.sleep(0.5)
                    await fleet.stop()
                    outcome.seconds = time.monotonic() - started
                    await check_messages(engine, plan, clients, outcome)
                    await check_deliveries(engine, providers, outcome)
                    await check_inbox(engine, outcome)
                finally:
                    await engine.dispose()
                counts.injected.update(injected(providers, queued))
            finally:
                launcher.close()
    outcome.counts["kills"] = counts.kills
    outcome.counts["PostgreSQL restarts"] = counts.pg_restarts
    for channel, n in sorted(counts.redeliveries.items()):
        outcome.counts[f"redeliveries {channel}"] = n
    for answer, n in sorted(counts.why.items()):
        outcome.counts[f"answers {answer}"] = n
    for fault, n in sorted(counts.injected.items()):
        outcome.counts[f"injected {fault}"] = n
    return outcome


async def restart(cluster: PgCluster, counts: Counts) -> None:
    await asyncio.to_thread(cluster.restart)
    counts.pg_restarts += 1
