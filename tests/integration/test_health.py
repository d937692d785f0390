"""`/healthz`: a channel whose outbox is not draining is degraded, and ok again once it drains."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from bot.bootstrap import Service
from channels.base import TransientSendError
from tests.fakes import FakeClock, FakeSmsChannel
from tests.integration.db import queue

NUMBER = "+6281234567890"
STALL = timedelta(seconds=300)  # the default ADUAN_HEALTH_OUTBOX_STALL_SECONDS


async def healthz(service: Service) -> tuple[int, dict[str, Any]]:
    """What a load balancer sees (the app without its background loops, which would send)."""
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/healthz")
    report: dict[str, Any] = response.json()
    return response.status_code, report


async def test_a_healthy_service_is_ok(service: Service, clock: FakeClock) -> None:
    await queue(service, "email", "dinas@kota.go.id", ["fresh"])
    clock.advance(seconds=STALL.total_seconds() - 1)  # due, not yet overdue for long

    status, report = await healthz(service)

    assert status == 200
    assert report["status"] == "ok"
    assert report["channels"]["email"] == {"configured": True}
    assert report["channels"]["sms"] == {"configured": True}


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
    assert email["stalled"] == 2
    assert email["since"] == since.isoformat()
    assert "2 outbox message(s) not sent" in email["reason"]
    assert since.isoformat() in email["reason"]
    assert report["channels"]["sms"] == {"configured": True}

    assert await service.dispatcher.dispatch_once() == 2
    status, report = await healthz(service)
    assert status == 200
    assert report["status"] == "ok"
    assert report["channels"]["email"] == {"configured": True}


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
    assert report["channels"]["sms"] == {"configured": True}


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
