"""The resident's tracking page: links to it, the token that opens the conversation, and the
conversation it shows.

References are short and can be guessed, so `/lacak/{reference}` alone shows only what the
public may see (status, agency, due date, timeline). The messages between the resident and
the agency are shown only with the token carried by the link the resident was given: a
truncated HMAC of the reference under the service's secret key, so every instance computes
the same token and none is stored.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.clock import Clock
from bot.domain.lifecycle import Event
from bot.domain.references import parse_reference
from bot.records.history import transferred_from
from bot.records.queries import find_by_reference
from bot.records.responses import TO_RESIDENT_KINDS
from config.settings import Settings
from storage.models import Direction
from storage.service_values import shared_value
from storage.unit_of_work import UnitOfWorkFactory

# 72 bits in 12 URL-safe characters: beyond guessing over HTTP, short enough for an SMS.
_TOKEN_BYTES = 9
# What a resident wrote that belongs to the conversation (not STATUS and other commands).
_FROM_RESIDENT_KINDS = frozenset({"complaint", "follow_up"})

SecretSource = Callable[[], Awaitable[str]]


class TrackingLinks:
    """Makes and checks tracking links; the secret is read once, when first needed."""

    @classmethod
    def from_settings(cls, settings: Settings, engine: AsyncEngine, clock: Clock) -> TrackingLinks:
        """Links under ADUAN_PUBLIC_BASE_URL, signed with ADUAN_SECRET_KEY, or with the key
        generated once and kept in the database for every instance."""
        configured = settings.secret_key

        async def secret() -> str:
            if configured is not None:
                return configured.get_secret_value()
            return await shared_value(
                engine, "secret_key", lambda: secrets.token_urlsafe(32), clock.now()
            )

        return cls(settings.public_base_url, secret)

    def __init__(self, public_base_url: str, secret: SecretSource) -> None:
        self._public = public_base_url.rstrip("/")
        self._secret_source = secret
        self._key: bytes | None = None
        # Mail taken at start-up asks for the key many times at once: it is read once.
        self._reading = asyncio.Lock()

    async def url(self, reference: str) -> str:
        """The link that opens the whole page, conversation included, for this complaint."""
        return f"{self._public}/lacak/{reference}?k={await self.token(reference)}"

    async def token(self, reference: str) -> str:
        # The signature's first 12 characters: its first _TOKEN_BYTES bytes.
        return (await self.sign(f"lacak:{reference}"))[: _TOKEN_BYTES * 4 // 3]

    async def sign(self, message: str) -> str:
        """`message`'s HMAC-SHA256 under the service's secret key, URL-safe base64."""
        digest = hmac.new(await self._secret(), message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()

    async def opens(self, reference: str, token: str | None) -> bool:
        """Whether `token` opens the conversation of the complaint `reference` names."""
        canonical = parse_reference(reference)
        if not token or canonical is None:
            return False
        return hmac.compare_digest(token.encode(), (await self.token(canonical)).encode())

    async def load_key(self) -> None:
        """Read the signing key, if not yet read."""
        await self._secret()

    async def _secret(self) -> bytes:
        if self._key is None:
            async with self._reading:
                if self._key is None:
                    self._key = (await self._secret_source()).encode()
        return self._key


@dataclass(frozen=True, slots=True)
class ConversationEntry:
    at: datetime
    from_resident: bool
    text: str
    # Who wrote an agency's entry: the agency in charge then (a transfer moves the
    # complaint, not what the first agency already said). None for the resident's.
    agency_code: str | None = None


async def conversation(uow_factory: UnitOfWorkFactory, reference: str) -> list[ConversationEntry]:
    """What the resident wrote about the complaint and what the agency sent them, in order."""
    async with uow_factory() as uow:
        complaint = await find_by_reference(uow, reference)
        if complaint is None or complaint.id is None:
            return []
        messages = await uow.messages.for_complaint(complaint.id)
        current = (await uow.agencies.referenced(complaint.agency_id)).code
        # When each transfer happened, and which agency the complaint left then.
        transfers = sorted(
            (entry.created_at, source)
            for entry in await uow.audit.for_complaint(complaint.id)
            if entry.action == Event.TRANSFER.value
            and (source := transferred_from(entry.detail)) is not None
        )

    def agency_at(moment: datetime) -> str:
        return next((source for at, source in transfers if moment < at), current)

    return [
        ConversationEntry(
            message.created_at,
            message.direction is Direction.INBOUND,
            message.text,
            None if message.direction is Direction.INBOUND else agency_at(message.created_at),
        )
        for message in messages
        if (message.direction is Direction.INBOUND and message.kind in _FROM_RESIDENT_KINDS)
        or (message.direction is Direction.OUTBOUND and message.kind in TO_RESIDENT_KINDS)
    ]


async def given_rating(uow_factory: UnitOfWorkFactory, reference: str) -> int | None:
    """The rating the resident gave the complaint, if they have."""
    async with uow_factory() as uow:
        complaint = await find_by_reference(uow, reference)
        return complaint.rating if complaint is not None else None
