"""`/metrics`: after real traffic (a web complaint, SMS through the fake Twilio, a dead
letter) Prometheus reads what happened; the database's gauges are read at scrape time and
kept a few seconds; only a bearer of ADUAN_METRICS_TOKEN is answered."""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap import Service
from bot.web.metrics import ServiceMetrics
from channels.base import ChannelName
from config.settings import Settings
from storage.models import Agency, Complaint, OutboxMessage
from tests.fakes import FakeClock
from tests.fakes.twilio_api import FakeTwilioApi, signed_post
from tests.integration.db import dead_letter, prepared_service, rows
from tests.integration.test_sms import PUBLIC, WEBHOOK, sms, twilio

__all__ = ["twilio"]  # the fake Twilio API, as test_sms serves it

TOKEN = "metrics-token-0123456789"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def service(
    settings: Settings, engine: AsyncEngine, clock: FakeClock, twilio: FakeTwilioApi
) -> Service:
    return await prepared_service(
        settings,
        engine,
        clock,
        metrics_token=SecretStr(TOKEN),
        **twilio.service_settings(PUBLIC + "/"),
    )


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its channels receiving, and no dispatcher: what is queued stays."""
    for channel in service.channels.values():
        await channel.start(service.handlers())
    transport = httpx.ASGITransport(app=service.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.7") as c:
            yield c
    finally:
        for channel in service.channels.values():
            await channel.stop()


def parsed(exposition: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parsed(response.text)


async def test_real_traffic_is_counted_and_the_database_read_at_scrape_time(
    service: Service, client: httpx.AsyncClient, twilio: FakeTwilioApi, clock: FakeClock
) -> None:
    web = await client.post(
        "/api/complaints", json={"text": "Asap pabrik di Kel. Sukamaju, bau menyengat"}
    )
    assert web.status_code == 201, web.text
    params = sms("SM" + "7" * 32, "Jln depan SD 3 berlubang besar, tlg diperbaiki")
    for _ in range(2):  # Twilio's redelivery is one message, counted once
        response = await signed_post(WEBHOOK, params, twilio.auth_token, client=client)
        assert response.status_code == 200
    await dead_letter(service, clock, ChannelName.SMS, "SM-unreadable")
    clock.advance(days=3)  # past every complaint's due date

    samples = await scrape(client)

    received = {"web": 1.0, "sms": 1.0}
    for channel, count in received.items():
        assert samples["aduan_messages_received_total", (("channel", channel),)] == count
    assert samples["aduan_intake_seconds_count", ()] == 2
    assert samples["aduan_intake_seconds_sum", ()] > 0
    assert samples["aduan_intake_seconds_bucket", (("le", "+Inf"),)] == 2
    complaints = await rows(service, Complaint)
    by_rule = collections.Counter(c.routing_rule for c in complaints)
    assert len(complaints) == 2
    for rule, count in by_rule.items():
        assert samples["aduan_routing_decisions_total", (("rule", rule),)] == count
    codes = {agency.id: agency.code for agency in await rows(service, Agency)}
    by_agency = collections.Counter(codes[c.agency_id] for c in complaints)
    for code in codes.values():
        assert samples["aduan_complaints_open", (("agency", code),)] == by_agency[code]
        assert samples["aduan_complaints_overdue", (("agency", code),)] == by_agency[code]
    queued = collections.Counter(row.channel for row in await rows(service, OutboxMessage))
    assert queued["sms"] == 1  # the SMS acknowledgement, never sent here
    for channel, count in queued.items():
        labels = (("channel", channel), ("status", "pending"))
        assert samples["aduan_outbox_backlog", labels] == count
    assert samples["aduan_outbox_backlog", (("channel", "sms"), ("status", "sending"))] == 0
    assert samples["aduan_deadletters", (("channel", "sms"),)] == 1
    assert samples["aduan_deadletters", (("channel", "web"),)] == 0


async def test_the_database_is_read_once_per_pause_however_many_scrapes(
    service: Service, clock: FakeClock
) -> None:
    seconds = [0.0]
    metrics = ServiceMetrics(
        service.uow, clock, ["sms"], cache_seconds=5, monotonic=lambda: seconds[0]
    )

    def dead_letters(exposition: bytes) -> float:
        return parsed(exposition.decode())["aduan_deadletters", (("channel", "sms"),)]

    assert dead_letters(await metrics.exposition()) == 0
    await dead_letter(service, clock, ChannelName.SMS, "SM-later")
    seconds[0] = 4.9
    assert dead_letters(await metrics.exposition()) == 0  # the last reading, still fresh
    seconds[0] = 5.0
    assert dead_letters(await metrics.exposition()) == 1


async def test_only_a_bearer_of_the_token_is_answered(client: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer not-the-token-at-all"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert "ADUAN_METRICS_TOKEN" in response.json()["detail"]
        assert TOKEN not in response.text


async def test_without_a_token_set_there_is_no_metrics_endpoint(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    service = await prepared_service(settings, engine, clock)
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404
