"""Open311 GeoReport v2, the service's side: the catalogue, the published requests, and
the client applications' keys (the HTTP routes are the `open311` channel's).

Services are the routing categories of the rule set in force: one per rule (its id is the
service code, its agency the group) and one for the fallback agency. A POSTed request names
one, and intake routes it by that rule, not by its words.

What is published of a complaint: its reference, status, category and agency, when it was
received, last changed and is due, and where it is, rounded. Never its text, place as typed,
link, the resident's name or contact, nor who in the agency handles it. Coordinates a
resident gave often point at their own door, so they are published rounded to 3 decimals
(about 110 m): enough to see on a map where problems gather, too coarse to single out a
house. The typed address is not published at all: free text may name a house number or
a person.

Keys: a client application's key is 256 random bits, shown once when made; only its
SHA-256 is kept. A slow, salted hash (scrypt, as the contact codes' is) guards guessable
secrets; a random key of that length cannot be guessed, and its plain hash lets a request's
key be found by one indexed query instead of trying every key. POSTs are counted per key
in fixed windows (`ADUAN_OPEN311_POSTS_PER_KEY`), in each instance's memory.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.lifecycle import OPEN_STATES, ComplaintStatus
from bot.messaging.templates import render, status_label
from bot.rules.book import LiveRouter
from bot.web.hardening import FixedWindows
from channels.open311 import (
    Access,
    KeyCheck,
    PublishedRequest,
    RequestQuery,
    RequestStatus,
    ServiceInfo,
)
from routing.matcher import FALLBACK
from routing.rules import Rule
from storage.errors import ConflictError
from storage.models import NewAuditEntry, Open311Key, PublicRequestRow
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

# Published coordinates are rounded to this many decimals (see above).
COORDINATE_DECIMALS = 3
_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CLOSED_STATES = frozenset(ComplaintStatus) - OPEN_STATES
# The language the catalogue and status notes are written in (the city's).
_LANGUAGE = "id"


class Open311KeyError(Exception):
    """A key that cannot be made or revoked; the message says why."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as `aduan open311 keys list` shows it: never the key itself."""

    name: str
    created_at: datetime
    revoked_at: datetime | None


class Open311Keys:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def add(self, name: str, *, admin: str) -> str:
        """A new key for the client application `name`; returned once, kept only hashed."""
        if not _KEY_NAME.fullmatch(name):
            raise Open311KeyError(
                f"key name {name[:80]!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        key = secrets.token_urlsafe(32)
        now = self._clock.now()
        try:
            async with self._uow() as uow:
                if await uow.open311.key_named(name) is not None:
                    raise Open311KeyError(
                        f"there is already a key named {name!r} (see `aduan open311 keys list`)"
                    )
                uow.open311.add_key(Open311Key(name=name, key_hash=_digest(key), created_at=now))
                _audit(uow, admin, "open311_key_add", name, now)
                await uow.commit()
        except ConflictError:
            raise Open311KeyError(f"a key named {name!r} was made just now") from None
        return key

    async def all(self) -> list[KeyInfo]:
        async with self._uow() as uow:
            keys = await uow.open311.keys()
        return [KeyInfo(key.name, key.created_at, key.revoked_at) for key in keys]

    async def revoke(self, name: str, *, admin: str) -> KeyInfo:
        now = self._clock.now()
        async with self._uow() as uow:
            key = await uow.open311.key_named(name)
            if key is None:
                raise Open311KeyError(
                    f"there is no key named {name[:80]!r} (see `aduan open311 keys list`)"
                )
            if key.revoked_at is not None:
                raise Open311KeyError(f"the key {name!r} was revoked on {key.revoked_at:%Y-%m-%d}")
            key.revoked_at = now
            _audit(uow, admin, "open311_key_revoke", name, now)
            await uow.commit()
        return KeyInfo(key.name, key.created_at, now)

    async def holder(self, api_key: str) -> str | None:
        """The name of the key's client application, if the key is one in force."""
        if not api_key:
            return None
        async with self._uow() as uow:
            key = await uow.open311.key_by_hash(_digest(api_key))
        return key.name if key is not None and key.revoked_at is None else None


class GeoReportService:
    """What the Open311 channel answers with (its `GeoReport` port)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        router: LiveRouter,
        clock: Clock,
        keys: Open311Keys,
        posts_per_key: tuple[int, timedelta] | None,
    ) -> None:
        self._uow = uow
        self._router = router
        self._clock = clock
        self._keys = keys
        self._windows = FixedWindows(*posts_per_key) if posts_per_key else None

    async def services(self) -> Sequence[ServiceInfo]:
        rule_set = self._router.compiled.rule_set
        async with self._uow() as uow:
            agencies = {agency.code: agency.name for agency in await uow.agencies.all()}
        listed = [
            ServiceInfo(
                code=rule.id,
                name=_service_name(rule),
                description=rule.description,
                keywords=(*rule.any, *rule.all),
                group=agencies.get(rule.agency, rule.agency),
            )
            for rule in rule_set.rules
        ]
        listed.append(
            ServiceInfo(
                code=FALLBACK,
                name=render("open311_other_service", _LANGUAGE),
                description=render("open311_other_description", _LANGUAGE),
                keywords=(),
                group=agencies.get(rule_set.fallback, rule_set.fallback),
            )
        )
        return listed

    async def requests(self, query: RequestQuery) -> Sequence[PublishedRequest]:
        statuses: set[str] = set()
        for wanted in query.statuses:
            statuses |= OPEN_STATES if wanted is RequestStatus.OPEN else _CLOSED_STATES
        async with self._uow() as uow:
            found = await uow.open311.public_requests(
                references=tuple(reference.upper() for reference in query.ids),
                rules=query.service_codes,
                statuses=statuses,
                since=query.start,
                until=query.end,
                limit=query.limit,
            )
        return [self._published(row) for row in found]

    async def check_key(self, api_key: str) -> KeyCheck:
        client = await self._keys.holder(api_key)
        if client is None:
            return KeyCheck(Access.REFUSED)
        wait = self._windows.count(client, self._clock.now()) if self._windows else None
        if wait is not None:
            return KeyCheck(Access.THROTTLED, client, retry_after=wait)
        return KeyCheck(Access.GRANTED, client)

    def _published(self, row: PublicRequestRow) -> PublishedRequest:
        rule = self._router.compiled.rule_set.rule(row.routing_rule)
        if rule is not None:
            name = _service_name(rule)
        elif row.routing_rule == FALLBACK:
            name = render("open311_other_service", _LANGUAGE)
        else:  # a category no longer in the rules: its code is all there is to show
            name = row.routing_rule
        status = ComplaintStatus(row.status)
        return PublishedRequest(
            service_request_id=row.reference,
            status=RequestStatus.OPEN if status in OPEN_STATES else RequestStatus.CLOSED,
            status_notes=status_label(status, _LANGUAGE),
            service_code=row.routing_rule,
            service_name=name,
            agency_responsible=row.agency_name,
            requested=row.received_at,
            updated=row.updated_at,
            expected=row.due_at,
            latitude=_rounded(row.latitude),
            longitude=_rounded(row.longitude),
        )


def _service_name(rule: Rule) -> str:
    """A rule's first sentence names its category; a rule without a description, its id."""
    first = rule.description.split(". ", 1)[0].strip().rstrip(".")
    return first or rule.id


def _rounded(coordinate: float | None) -> float | None:
    return None if coordinate is None else round(coordinate, COORDINATE_DECIMALS)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _audit(uow: UnitOfWork, admin: str, action: str, name: str, at: datetime) -> None:
    actor = f"admin:{admin}"[:64]
    uow.audit.add(NewAuditEntry(actor=actor, action=action, detail=f"key {name}", created_at=at))
