"""The fake Twilio REST API, driven by the real twilio 9.13 async client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes.twilio_api import (
    FakeTwilioApi,
    count_segments,
    running_fake_twilio,
    signed_headers,
    twilio_signature,
)

CITIZEN = "+6281234567890"
SENDER = "+15005550006"
CALLBACK = "https://aduan.example.go.id/webhooks/twilio/status"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilioApi]:
    """A running fake Twilio API."""
    async with running_fake_twilio() as api:
        yield api


async def make_client(fake: FakeTwilioApi, auth_token: str | None = None) -> Client:
    """A real async twilio ``Client`` pointed at the fake."""
    client = Client(
        fake.account_sid,
        auth_token or fake.auth_token,
        http_client=AsyncTwilioHttpClient(),
    )
    client.api.base_url = fake.base_url
    return client


@pytest.fixture
async def client(fake: FakeTwilioApi) -> AsyncIterator[Client]:
    """The real client, with its aiohttp session closed afterwards."""
    twilio_client = await make_client(fake)
    try:
        yield twilio_client
    finally:
        await close(twilio_client)


async def close(client: Client) -> None:
    """Close the aiohttp session of the client's ``AsyncTwilioHttpClient``."""
    http_client = client.http_client
    assert isinstance(http_client, AsyncTwilioHttpClient)
    await http_client.close()


async def test_create_message_is_recorded_and_parsed(fake: FakeTwilioApi, client: Client) -> None:
    message = await client.messages.create_async(
        to=CITIZEN, from_=SENDER, body="Aduan #A-12 diterima.", status_callback=CALLBACK
    )

    assert message.sid is not None
    assert message.sid.startswith("SM")
    assert len(message.sid) == 34
    assert message.status == "queued"
    assert message.to == CITIZEN
    assert message.num_segments == "1"
    assert message.date_created is not None
    recorded = await fake.wait_for_message(lambda m: m.to == CITIZEN)
    assert recorded.sid == message.sid
    assert (recorded.from_, recorded.body, recorded.status_callback) == (
        SENDER,
        "Aduan #A-12 diterima.",
        CALLBACK,
    )


async def test_wrong_token_is_401(fake: FakeTwilioApi) -> None:
    client = await make_client(fake, auth_token="wrong-token")
    try:
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(to=CITIZEN, from_=SENDER, body="hi")
    finally:
        await close(client)

    assert caught.value.status == 401
    assert caught.value.code == 20003
    assert fake.messages == []


async def test_invalid_to_is_21211(fake: FakeTwilioApi, client: Client) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to="081234567890", from_=SENDER, body="hi")

    assert (caught.value.status, caught.value.code) == (400, 21211)
    assert fake.messages == []


async def test_missing_to_is_21604(client: Client) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to="", from_=SENDER, body="hi")

    assert (caught.value.status, caught.value.code) == (400, 21604)


async def test_wait_for_message_times_out_with_summary(fake: FakeTwilioApi) -> None:
    with pytest.raises(AssertionError, match="no matching message"):
        await fake.wait_for_message(timeout=0.05)


async def test_long_body_is_21617(client: Client) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to=CITIZEN, from_=SENDER, body="x" * 1601)

    assert caught.value.code == 21617


async def test_fail_next_429_then_recovers(fake: FakeTwilioApi, client: Client) -> None:
    fake.fail_next(status=429)

    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to=CITIZEN, from_=SENDER, body="hi")
    assert (caught.value.status, caught.value.code) == (429, 20429)

    message = await client.messages.create_async(to=CITIZEN, from_=SENDER, body="hi")
    assert message.status == "queued"
    assert len(fake.attempts) == 2
    assert len(fake.messages) == 1


async def test_messaging_service_with_media(fake: FakeTwilioApi, client: Client) -> None:
    media = ["https://aduan.example.go.id/a.jpg", "https://aduan.example.go.id/b.jpg"]
    message = await client.messages.create_async(
        to=CITIZEN, messaging_service_sid="MG" + "a" * 32, media_url=media
    )

    assert message.status == "accepted"
    assert message.num_media == "2"
    assert fake.messages[0].media_urls == tuple(media)


async def test_media_needs_basic_auth(fake: FakeTwilioApi) -> None:
    url = fake.add_media("image/jpeg", b"\xff\xd8\xff jpeg bytes")

    async with httpx.AsyncClient() as http:
        authed = await http.get(url, auth=(fake.account_sid, fake.auth_token))
        anonymous = await http.get(url)

    assert authed.status_code == 200
    assert authed.headers["content-type"] == "image/jpeg"
    assert authed.content == b"\xff\xd8\xff jpeg bytes"
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == 20003


def test_signature_matches_request_validator() -> None:
    url = "https://aduan.example.go.id/webhooks/twilio/sms"
    params = {"From": CITIZEN, "To": SENDER, "Body": "jalan rusak", "NumMedia": "0"}
    validator = RequestValidator("secret-token")

    headers = signed_headers(url, params, "secret-token")
    signature = headers["X-Twilio-Signature"]

    assert signature == twilio_signature(url, params, "secret-token")
    assert validator.validate(url, params, signature)
    assert not validator.validate(url, {**params, "Body": "jalan bagus"}, signature)


def test_segments_count_gsm7_and_ucs2() -> None:
    assert count_segments("a" * 160) == 1
    assert count_segments("a" * 161) == 2
    assert count_segments("é" * 160) == 1
    assert count_segments("€" * 80) == 1
    assert count_segments("\u4f60" * 70) == 1
    assert count_segments("\u4f60" * 71) == 2
    assert count_segments("😀" * 36) == 2
