"""`/healthz`: each channel's last message in and out, its backlog and dead letters; a
channel whose outbox is not draining, or that has dead letters, is degraded, and ok again
once that is over; 503 only when the database does not answer."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.bootstrap import Service, bootstrap
from channels.base import ChannelName, TransientSendError
from config.settings import Settings
from tests.fakes import FakeClock, FakeSmsChannel, inbound
from tests.integration.db import dead_letter, queue

NUMBER = "+6281234567890"
STALL = timedelta(seconds=300)  # the default ADUAN_HEALTH_OUTBOX_STALL_SECONDS


async def healthz(service: Service) -> tuple[int, dict[str, Any]]:
    """What a load balancer sees (the app without its background loops, which would send)."""
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/healthz")
    report: dict[str, Any] = response.json()
    return response.status_code, report


def quiet(backlog: int = 0) -> dict[str, Any]:
    """A configured channel that has neither received nor sent anything."""
    return {
        "configured": True,
        "state": "ok",
        "last_received": None,
        "last_sent": None,
        "backlog": backlog,
        "dead_letters": 0,
        "stalled": None,
        "since": None,
        "reason": None,
    }


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_a_healthy_service_is_ok(service: Service, clock: FakeClock) -> None:
    await queue(service, "email", "dinas@kota.go.id", ["fresh"])
    clock.advance(seconds=STALL.total_seconds() - 1)  # due, not yet overdue for long

    status, report = await healthz(service)

    assert status == 200
    assert report["status"] == "ok"
    assert report["database"] == "ok"
    assert report["channels"]["email"] == quiet(backlog=1)
    assert report["channels"]["sms"] == quiet()


async def test_each_channel_says_when_it_last_received_and_sent(
    service: Service, clock: FakeClock
) -> None:
    received = clock.now()
    await service.deliver(inbound("Jalan berlubang di depan SD 3", sender=NUMBER, at=received))
    clock.advance(minutes=5)
    sent = clock.now()
    assert await service.dispatcher.dispatch_once() >= 1  # the acknowledgement, the notice

    status, report = await healthz(service)

    assert status == 200
    sms = report["channels"]["sms"]
    assert moment(sms["last_received"]) == received
    assert moment(sms["last_sent"]) == sent
    assert (sms["state"], sms["backlog"], sms["dead_letters"]) == ("ok", 0, 0)
    email = report["channels"]["email"]  # the agency's notice went by email; nothing came in
    assert (email["last_received"], moment(email["last_sent"])) == (None, sent)
    # Counts and times only: nothing names the resident.
    assert NUMBER not in str(report) and "081234567890" not in str(report)


async def test_rows_no_one_sends_make_their_channel_degraded_until_sent(
    service: Service, clock: FakeClock
) -> None:
    since = clock.now()
    await queue(service, "email", "dinas@kota.go.id", ["stuck-1", "stuck-2"])
    clock.advance(seconds=STALL.total_seconds() + 1)

    status, report = await healthz(service)

    assert status == 200  # degraded still serves: a load balancer keeps the instance
    assert report["status"] == "degraded"
    assert report["database"] == "ok"
    email = report["channels"]["email"]
    assert email["configured"] is True
    assert email["state"] == "degraded"
    assert (email["stalled"], email["backlog"]) == (2, 2)
    assert moment(email["since"]) == since
    assert "2 outbox message(s) not sent" in email["reason"]
    assert since.isoformat() in email["reason"]
    assert report["channels"]["sms"] == quiet()

    assert await service.dispatcher.dispatch_once() == 2
    status, report = await healthz(service)
    assert status == 200
    assert report["status"] == "ok"
    email = report["channels"]["email"]
    assert moment(email["last_sent"]) == clock.now()
    assert {**email, "last_sent": None} == quiet()


async def test_rows_failing_again_and_again_make_their_channel_degraded(
    service: Service, clock: FakeClock, sms: FakeSmsChannel
) -> None:
    sms.fail_next = [TransientSendError("HTTP 503 from provider")]
    await queue(service, "sms", NUMBER, ["failing"])
    await service.dispatcher.dispatch_once()  # fails; the retry is due 5 s later
    clock.advance(seconds=STALL.total_seconds() + 1)  # overdue by less than the threshold

    _, report = await healthz(service)
    assert report["status"] == "degraded"
    assert report["channels"]["sms"]["state"] == "degraded"
    assert report["channels"]["sms"]["stalled"] == 1

    await service.dispatcher.dispatch_once()
    _, report = await healthz(service)
    assert report["status"] == "ok"
    assert report["channels"]["sms"]["state"] == "ok"
    assert report["channels"]["sms"]["stalled"] is None


async def test_dead_letters_make_their_channel_degraded_until_an_admin_deals_with_them(
    service: Service, clock: FakeClock
) -> None:
    dead = await dead_letter(service, clock, ChannelName.SMS, "SM-poisoned")

    status, report = await healthz(service)

    assert status == 200
    assert report["status"] == "degraded"
    sms = report["channels"]["sms"]
    assert (sms["state"], sms["dead_letters"], sms["stalled"]) == ("degraded", 1, None)
    assert sms["reason"] == "1 dead letter(s): see `aduan deadletters list`"
    assert report["channels"]["email"]["state"] == "ok"

    assert dead.id is not None
    await service.inbox.drop(dead.id)
    _, report = await healthz(service)
    assert report["status"] == "ok"
    assert report["channels"]["sms"] == quiet()


async def test_an_unconfigured_channel_is_reported_as_before(
    service: Service, clock: FakeClock
) -> None:
    await queue(service, "telegram", "421337", ["waiting"])
    clock.advance(hours=1)

    status, report = await healthz(service)

    assert status == 200
    assert report["status"] == "ok"
    telegram = report["channels"]["telegram"]
    assert telegram["configured"] is False
    assert set(telegram) == {"configured", "reason"}


async def test_a_database_that_does_not_answer_is_503(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-directory" / "aduan.db"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{missing}", email_file_dir=None, _env_file=None
    )
    service = bootstrap(settings, clock=FakeClock(), channels=[FakeSmsChannel()])
    try:
        status, report = await healthz(service)
    finally:
        await service.aclose()

    assert status == 503
    assert report["status"] == "unavailable"
    assert report["database"] == "error: OperationalError"
    assert report["outbox"] is None
    assert report["channels"]["sms"]["state"] == "unavailable"
    assert report["channels"]["sms"]["backlog"] is None
    assert report["channels"]["telegram"]["configured"] is False
