"""Several instances on one PostgreSQL: three `aduan run` processes share a schema, with
Twilio's and Telegram's APIs as loopback fakes in this process.

Signed SMS webhooks are spread over the three; a new rule version is followed by every
instance within 5 s; the instance holding the Telegram polling lease is killed (SIGKILL)
and another takes over; SLA reminders come due every few seconds while all this happens.
At the end every outbox row was sent exactly once (the fakes received each once) and each
complaint's reminder stages were sent once each, up to the breach.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.rules.compiled import compiled_rules
from storage.lease import LeaderLease, lease_key
from storage.models import Agency, Complaint, Message, OutboxMessage, OutboxStatus
from tests.fakes.telegram_api import FakeBotApi, TgChat, TgUser, running_fake_bot_api
from tests.fakes.twilio_api import FakeTwilioApi, running_fake_twilio, signed_headers
from tests.integration.service_process import Launcher, ServiceProcess, clean_env, run_cli
from tests.integration.test_crash import load
from tests.integration.test_email_transport import eventually

REPO = Path(__file__).resolve().parents[2]
INSTANCES = 3
PUBLIC = "https://aduan.kota.example.go.id"
SMS_PATH = "/webhooks/twilio/sms"
SMS_PER_INSTANCE = 6
# Every complaint's whole SLA: reminders at 50, 75 and 90 % and the breach come within it.
SLA_SECONDS = 16
# How long a new rule version may take to reach every instance, and the lease a dead leader's.
RULES_FOLLOWED_SECONDS = 5
TAKEOVER_SECONDS = 30
BREACH_STAGE = 4
NEW_RULE_WORD = "zorbaxium"
NEW_RULE_AGENCY = "DINSOS"
RESIDENTS = (TgUser(501, "Sari"), TgUser(502, "Budi"))


@pytest.fixture
def backend() -> str:
    """PostgreSQL only: instances on SQLite share one host's file, not a database."""
    return "postgresql"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioApi]:
    async with running_fake_twilio() as fake:
        yield fake


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with running_fake_bot_api() as fake:
        yield fake


def agencies_with_groups(api: FakeBotApi, path: Path) -> Path:
    """The default agencies, each with a Telegram group the fake knows: notices and
    reminders go there, where the fake sees every one."""
    document = yaml.safe_load((REPO / "config" / "agencies.yaml").read_text(encoding="utf-8"))
    for number, agency in enumerate(document["agencies"], start=1):
        chat = TgChat.supergroup(-1_001_000_000_000 - number, f"Grup {agency['code']}")
        api.add_chat(chat)
        agency["telegram_chat_id"] = str(chat.id)
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def launcher(
    database: tuple[str, str | None],
    tmp_path: Path,
    twilio: FakeTwilioApi,
    api: FakeBotApi,
) -> Iterator[Launcher]:
    url, schema = database
    env = clean_env(
        url,
        schema,
        **twilio.service_settings(PUBLIC),
        **api.service_settings(),
        # A burst of reminders would wait out Telegram's 30 a second; the fake takes them.
        telegram_messages_per_second=1000,
        agencies_file=str(agencies_with_groups(api, tmp_path / "agencies.yaml")),
        email_file_dir="",
        sender_rate_limit="off",
        sla_days=SLA_SECONDS / 86_400,
        chase_interval_seconds=1,
        # A claim the killed instance held is taken again soon, not after two minutes.
        outbox_claim_seconds=5,
    )
    launcher = Launcher(env, tmp_path)
    yield launcher
    launcher.close()


# --- sending ---------------------------------------------------------------------------------


def sms_form(twilio: FakeTwilioApi, index: int, body: str) -> dict[str, str]:
    """The fields Twilio posts for one resident's SMS (a new sender each)."""
    return {
        "MessageSid": f"SM{index:032x}",
        "AccountSid": twilio.account_sid,
        "From": f"+62812{40_000_000 + index:08d}",
        "To": "+15005550006",
        "Body": body,
        "NumMedia": "0",
    }


async def post_sms(
    client: httpx.AsyncClient, service: ServiceProcess, form: dict[str, str], token: str
) -> None:
    """One signed webhook to one instance; Twilio signs the public address, whichever
    instance a load balancer hands it to."""
    headers = signed_headers(PUBLIC + SMS_PATH, form, token)
    response = await client.post(service.base_url + SMS_PATH, data=form, headers=headers)
    assert response.status_code == 200, response.text


async def agencies_of(engine: AsyncEngine, sids: Iterable[str]) -> dict[str, str]:
    """The agency code each SMS's complaint went to, by MessageSid (those stored so far)."""
    agencies = {agency.id: agency.code for agency in await load(engine, Agency)}
    complaints = {c.id: agencies[c.agency_id] for c in await load(engine, Complaint)}
    wanted = set(sids)
    return {
        m.provider_message_id: complaints[m.complaint_id]
        for m in await load(engine, Message)
        if m.provider_message_id in wanted and m.complaint_id is not None
    }


# --- the lease holder ------------------------------------------------------------------------


async def lease_holder(
    engine: AsyncEngine, schema: str, services: Iterable[ServiceProcess]
) -> ServiceProcess | None:
    """The instance whose database connection holds the Telegram polling lease: PostgreSQL
    names the client port of the backend holding the advisory lock; /proc names the process
    owning a socket on that port."""
    key = lease_key("telegram-poll", schema)
    async with engine.connect() as connection:
        port = await connection.scalar(
            text(
                "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0"
                " AND l.objid = CAST(:key AS bigint)::oid AND l.objsubid = 1"
                " AND l.database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())"
            ),
            {"key": key},
        )
    if port is None:
        return None
    inodes = _socket_inodes(int(port))
    return next((s for s in services if _owns_socket(s.pid, inodes)), None)


def _socket_inodes(local_port: int) -> set[str]:
    """Inodes of the TCP sockets bound to `local_port` on this host (/proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                found.add(fields[9])
    return found


def _owns_socket(pid: int, inodes: set[str]) -> bool:
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


async def until(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    """Wait until `check()` holds, failing with `what` after `seconds`."""
    try:
        await eventually(check, seconds=seconds)
    except AssertionError:
        raise AssertionError(f"{what}: not so after {seconds} s") from None


# --- the outcome -----------------------------------------------------------------------------


async def settled(engine: AsyncEngine) -> bool:
    """No outbox row waits or is being sent."""
    waiting = {OutboxStatus.PENDING, OutboxStatus.SENDING}
    return not any(row.status in waiting for row in await load(engine, OutboxMessage))


async def all_breached(engine: AsyncEngine) -> bool:
    """Every complaint reached its breach reminder, and every reminder went out."""
    complaints = await load(engine, Complaint)
    stages = reminder_stages(await load(engine, OutboxMessage))
    reached = all(BREACH_STAGE in stages.get(c.id or 0, []) for c in complaints)
    return reached and await settled(engine)


def reminder_stages(outbox: Iterable[OutboxMessage]) -> dict[int, list[int]]:
    """Each complaint's reminder stages, from the rows' keys `chase:<id>:<due>:<stage>:…`."""
    stages: dict[int, list[int]] = {}
    for row in outbox:
        if row.kind == "chase":
            _, complaint, _due, stage, *_ = row.key.split(":")
            stages.setdefault(int(complaint), []).append(int(stage))
    return stages


def check_sent_once(outbox: list[OutboxMessage], twilio: FakeTwilioApi, api: FakeBotApi) -> None:
    """Every row sent, and each provider received each row once: the ids the providers gave
    are the ids the rows hold, one each, no more messages than rows."""
    failed = [(r.key, r.status, r.last_error) for r in outbox if r.status != OutboxStatus.SENT]
    assert not failed, failed
    by_channel: dict[str, list[str | None]] = {"sms": [], "telegram": []}
    for row in outbox:
        by_channel[row.channel].append(row.provider_message_id)
    twilio_ids = [message.sid for message in twilio.messages]
    telegram_ids = [f"{m.chat_id}:{m.message_id}" for m in api.sent]
    for channel, received in (("sms", twilio_ids), ("telegram", telegram_ids)):
        stored = by_channel[channel]
        twice = [i for i, n in Counter(received).items() if n > 1]
        assert not twice, f"{channel}: sent twice {twice}"
        assert Counter(stored) == Counter(received), f"{channel}: rows {stored} ≠ {received}"


# --- the tests -------------------------------------------------------------------------------


async def test_deployments_in_other_schemas_hold_leases_of_their_own(
    database: tuple[str, str | None], engine: AsyncEngine
) -> None:
    _, schema = database
    async with engine.begin():
        pass  # the schema made and committed, as `aduan db upgrade` leaves it
    mine, rival = (LeaderLease(engine, "telegram-poll", schema=schema) for _ in range(2))
    # Another city's service in the same database, its tables in a schema of its own.
    neighbour = LeaderLease(engine, "telegram-poll", schema=f"{schema}_other")
    try:
        assert await mine.acquire()
        assert not await rival.acquire()
        assert await neighbour.acquire()
    finally:
        for lease in (mine, rival, neighbour):
            await lease.release()


@pytest.mark.slow
async def test_three_instances_share_the_work_and_survive_the_poller_dying(
    launcher: Launcher,
    database: tuple[str, str | None],
    engine: AsyncEngine,
    twilio: FakeTwilioApi,
    api: FakeBotApi,
    tmp_path: Path,
) -> None:
    _, schema = database
    assert schema is not None
    await launcher.upgrade()
    services = [await launcher.start(f"instance-{n}", ready=False) for n in range(INSTANCES)]
    await asyncio.gather(*(service.wait_ready() for service in services))

    # A rule version that sends a word nothing routed before to its own agency.
    rules = (REPO / "config" / "rules.yaml").read_text(encoding="utf-8")
    complaint_text = f"Ada {NEW_RULE_WORD} berserakan di depan balai warga"
    assert compiled_rules(rules, source="v1").decide(complaint_text, "sms").agency_code != (
        NEW_RULE_AGENCY
    )
    new_rules = tmp_path / "rules.yaml"
    new_rules.write_text(
        rules
        + f"""
  - id: scale-test
    agency: {NEW_RULE_AGENCY}
    priority: 90
    description: A word only this test uses.
    any: [{NEW_RULE_WORD}]
""",
        encoding="utf-8",
    )
    applied = await asyncio.to_thread(
        run_cli,
        "rules",
        "apply",
        str(new_rules),
        "-m",
        "scale test",
        env=launcher.env,
        cwd=launcher.cwd,
    )
    assert applied.returncode == 0, applied.stderr
    applied_at = time.monotonic()

    # Residents' SMS spread over the instances, the new rule's word once to each.
    forms = [
        sms_form(twilio, index, f"Lampu jalan di gang {index} mati sejak kemarin malam")
        for index in range(SMS_PER_INSTANCE * INSTANCES)
    ]
    ruled = [sms_form(twilio, 1000 + n, complaint_text) for n in range(INSTANCES)]
    await asyncio.sleep(RULES_FOLLOWED_SECONDS - (time.monotonic() - applied_at))
    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(
            *(
                post_sms(client, services[index % INSTANCES], form, twilio.auth_token)
                for index, form in enumerate([*ruled, *forms])
            )
        )
    every_sid = [form["MessageSid"] for form in [*ruled, *forms]]

    async def all_stored() -> bool:
        return len(await agencies_of(engine, every_sid)) == len(every_sid)

    await until(all_stored, 30, "every SMS a complaint")
    routed = await agencies_of(engine, [form["MessageSid"] for form in ruled])
    assert set(routed.values()) == {NEW_RULE_AGENCY}, routed

    # Telegram: the lease holder polls; killed, another instance takes over.
    first, second = RESIDENTS
    api.push_update(api.text_message(first, "Sampah menumpuk di pasar sejak minggu lalu"))
    await api.wait_for_sent(lambda m: m.chat_id == first.id, timeout=30)
    await until(lambda: settled(engine), 30, "the outbox sent")
    leader = await lease_holder(engine, schema, services)
    assert leader is not None, "no instance holds the Telegram polling lease"
    leader.kill()
    assert await leader.wait_exit(10) == -signal.SIGKILL
    survivors = [service for service in services if service is not leader]
    api.push_update(api.text_message(second, "Jalan berlubang besar di Jl. Mawar"))
    await api.wait_for_sent(lambda m: m.chat_id == second.id, timeout=TAKEOVER_SECONDS)
    assert await lease_holder(engine, schema, survivors) is not None

    # Every complaint chased to its breach by the surviving instances; then count.
    await until(lambda: all_breached(engine), SLA_SECONDS + 30, "every complaint breached")
    outbox = await load(engine, OutboxMessage)
    check_sent_once(outbox, twilio, api)
    complaints = await load(engine, Complaint)
    assert len(complaints) == len(every_sid) + len(RESIDENTS)
    stages = reminder_stages(outbox)
    for complaint in complaints:
        sent = stages[complaint.id or 0]
        assert len(sent) == len(set(sent)) and BREACH_STAGE in sent, (complaint.reference, sent)
    print(
        f"\n{len(complaints)} complaints; instance {services.index(leader) + 1} of {INSTANCES} "
        f"polled Telegram until killed; sent {len(twilio.messages)} SMS and {len(api.sent)} "
        f"Telegram messages; reminder stages sent: "
        f"{dict(sorted(Counter(s for sent in stages.values() for s in sent).items()))}"
    )
