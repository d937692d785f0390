"""Intake under any message an adapter could hand over, built from arbitrary fields, on real
SQLite: it answers every one (one complaint, a follow-up, a command's answer, or a refusal
that says why), never raises, and a redelivery gets the same answer and changes nothing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.bootstrap import Service
from channels.base import (
    Address,
    Attachment,
    ChannelName,
    InboundMessage,
    IntakeReceipt,
    Location,
    Outcome,
)
from storage.models import Complaint, Message
from tests.integration.db import count

_ids = itertools.count()
NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # the FakeClock's start


@pytest.fixture
def backend() -> str:
    """SQLite only: the properties are about intake's decisions, which both engines share."""
    return "sqlite"


hostile = st.sampled_from(
    ["<script>alert(1)</script>", "{{7*7}}", "\x00\x1b[2J", "\u202e", "STATUS", "yg gk jln"]
)
any_text = st.one_of(st.text(max_size=300), hostile, st.text(min_size=3000, max_size=6000))
senders = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.from_regex(r"\+628[0-9]{8,11}", fullmatch=True),
    st.emails(),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
)
attachments = st.lists(
    st.builds(
        Attachment,
        filename=st.text(max_size=300) | st.just("../../etc/passwd"),
        content_type=st.text(max_size=120) | st.just("image/jpeg"),
        content=st.binary(max_size=64),
    ),
    max_size=3,
)
messages = st.builds(
    InboundMessage,
    channel=st.sampled_from(list(ChannelName)),
    sender=senders,
    text=any_text,
    received_at=st.integers(min_value=-86_400, max_value=86_400).map(
        lambda s: NOW + timedelta(seconds=s)
    ),
    provider_message_id=st.text(max_size=50).map(lambda s: f"{next(_ids)}:{s}"),
    display_name=st.none() | any_text,
    subject=st.none() | any_text,
    attachments=attachments.map(tuple),
    location=st.none()
    | st.builds(
        Location,
        latitude=st.none() | st.floats(allow_nan=False, allow_infinity=False),
        longitude=st.none() | st.floats(allow_nan=False, allow_infinity=False),
        description=st.none() | any_text,
    ),
    thread_keys=st.lists(st.text(max_size=400), max_size=3).map(tuple),
    reference=st.none() | st.text(max_size=30) | st.just("K7QD-4XMP"),
    reply_to=st.none()
    | st.builds(Address, channel=st.sampled_from(list(ChannelName)), address=senders.map(str)),
    language=st.none() | st.text(max_size=5) | st.sampled_from(["id", "en"]),
    language_hint=st.none() | st.text(max_size=5),
    original_text=st.none() | any_text,
    subject_reference=st.none() | st.text(max_size=20),
)

FILED = {Outcome.COMPLAINT, Outcome.FOLLOW_UP, Outcome.REOPENED}
# Answered with silence: a blocked sender; a throttled one past the window's one notice; a
# message added to the sender's open complaint without their naming it.
SILENT = {Outcome.BLOCKED, Outcome.THROTTLED, Outcome.FOLLOW_UP}
ANSWERED = {*FILED, Outcome.COMMAND}


def _same(first: IntakeReceipt, again: IntakeReceipt) -> bool:
    return (first.outcome, first.reference, first.reply_text) == (
        again.outcome,
        again.reference,
        again.reply_text,
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(message=messages)
async def test_any_message_gets_one_answer_and_a_redelivery_the_same(
    service: Service, message: InboundMessage
) -> None:
    complaints = await count(service, Complaint)

    receipt = await service.deliver(message)

    added = await count(service, Complaint) - complaints
    assert added == (1 if receipt.outcome is Outcome.COMPLAINT else 0), receipt
    if receipt.outcome in FILED:
        assert receipt.reference is not None, receipt
    if receipt.outcome not in SILENT:
        assert receipt.reply_text.strip(), receipt
    messages_before = await count(service, Message)
    again = await service.deliver(message)
    # What intake kept is recognised; a refusal that kept nothing is given again.
    assert _same(receipt, again), (receipt, again)
    assert again.duplicate or receipt.outcome not in ANSWERED, (receipt, again)
    assert await count(service, Complaint) - complaints == added
    assert await count(service, Message) == messages_before
