"""Confirming a contact typed into the web form: the one way a claim becomes an identity.

The model: a web post always comes from an anonymous resident of its own (nothing typed into
a form proves an address), and owns the complaint it files. The contact it names is kept
beside the complaint as a `ContactClaim`, separate from the resident that address already
is on its own channel: until confirmed nothing is sent there, and the claim is never read as
that resident (no follow-up, command, rate count or block lifted through it).

The filer confirms it from the tracking page their link opens: one SMS or mail with a
6-digit code goes to the contact (at most `max_codes` per complaint, `code_interval` apart),
valid `code_lifetime`, `max_tries` wrong entries per code; only a salted scrypt hash is
kept. A right code proves the address: the complaint then belongs to the resident of that
address on its channel (created if the address never wrote), exactly as if filed from there.
Officers' answers, questions and closure go there too (and still show on the page), the
resident's replies from there continue it as their own, STATUS, rating and STOP from there
act on it; the web keeps nothing but the page, and adds to it only from that contact.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.domain.clock import Clock
from bot.domain.privacy import mask_contact
from bot.messaging.templates import format_when, render
from bot.records.history import audit
from bot.records.queries import find_by_reference
from storage.errors import ConflictError
from storage.models import Complaint, ContactClaim, NewOutboxMessage
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

_CODE_DIGITS = 6
# scrypt's cost: a stolen hash takes hours to brute-force over a million codes, long after
# its code has expired; one check costs about 30 ms, run off the event loop.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class ClaimState(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"


class Verdict(StrEnum):
    """What became of asking for a code, or of entering one."""

    SENT = "sent"
    TOO_SOON = "too_soon"
    NO_MORE_CODES = "no_more_codes"
    CONFIRMED = "confirmed"
    WRONG = "wrong"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ClaimView:
    """What the tracking page shows of a complaint's claim: masked, and where it stands."""

    contact: str
    state: ClaimState


@dataclass(frozen=True, slots=True)
class VerificationResult:
    verdict: Verdict
    # Said to the filer on the page, in their language.
    message: str


@dataclass(frozen=True, slots=True)
class VerificationPolicy:
    code_lifetime: timedelta = timedelta(minutes=15)
    code_interval: timedelta = timedelta(minutes=1)
    max_codes: int = 3
    max_tries: int = 5


class ContactVerification:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        zone: ZoneInfo,
        policy: VerificationPolicy = VerificationPolicy(),
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._policy = policy
        self._zone = zone

    async def claim(self, reference: str) -> ClaimView | None:
        async with self._uow() as uow:
            found = await _claim_of(uow, reference, hold=False)
        if found is None:
            return None
        _, claim = found
        state = ClaimState.CONFIRMED if claim.verified_at else ClaimState.PENDING
        return ClaimView(mask_contact(claim.address), state)

    async def send_code(
        self, reference: str, language: str, *, page: str | None = None
    ) -> VerificationResult | None:
        """Queue a new code to the claimed contact; None when there is no claim to confirm.
        With `page`, the message names the page to enter it on (the filer has none open)."""
        policy, now = self._policy, self._clock.now()
        code = f"{secrets.randbelow(10**_CODE_DIGITS):0{_CODE_DIGITS}d}"
        sealed = await asyncio.to_thread(_seal, code)
        async with self._uow() as uow:
            found = await _claim_of(uow, reference, hold=True)
            if found is None or found[1].verified_at is not None:
                return None
            complaint, claim = found
            contact = mask_contact(claim.address)
            if claim.codes_sent >= policy.max_codes:
                text = render("verify_no_more_codes", language, count=claim.codes_sent)
                return VerificationResult(Verdict.NO_MORE_CODES, text)
            if claim.last_code_at is not None and now < claim.last_code_at + policy.code_interval:
                when = self._when(claim.last_code_at + policy.code_interval, language)
                return VerificationResult(
                    Verdict.TOO_SOON, render("verify_too_soon", language, when=when)
                )
            claim.codes_sent += 1
            claim.last_code_at = now
            claim.code_hash = sealed
            claim.code_expires_at = now + policy.code_lifetime
            claim.failed_tries = 0
            minutes = int(policy.code_lifetime.total_seconds() // 60)
            uow.outbox.add(
                NewOutboxMessage(
                    key=f"verification:{complaint.reference}:{claim.codes_sent}",
                    kind="verification_code",
                    channel=claim.channel,
                    recipient=claim.address,
                    complaint_id=complaint.id,
                    subject=render("resident_subject", language, reference=complaint.reference),
                    text=render(
                        "verify_message_link" if page else "verify_message",
                        language,
                        code=code,
                        reference=complaint.reference,
                        minutes=minutes,
                        url=page,
                    ),
                    language=language,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            await uow.commit()
        until = self._when(now + policy.code_lifetime, language)
        return VerificationResult(
            Verdict.SENT, render("verify_sent", language, contact=contact, until=until)
        )

    async def confirm(self, reference: str, code: str, language: str) -> VerificationResult | None:
        """Check a code entered on the page; None when there is no claim to confirm."""
        for attempt in (1, 2):
            try:
                return await self._confirm(reference, code.strip(), language)
            except ConflictError:
                # The address wrote for the first time just now: its resident exists now.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _confirm(self, reference: str, code: str, language: str) -> VerificationResult | None:
        now = self._clock.now()
        async with self._uow() as uow:
            found = await _claim_of(uow, reference, hold=True)
            if found is None or found[1].verified_at is not None:
                return None
            complaint, claim = found
            if (
                claim.code_hash is None
                or claim.code_expires_at is None
                or now >= claim.code_expires_at
                or claim.failed_tries >= self._policy.max_tries
            ):
                return VerificationResult(Verdict.EXPIRED, render("verify_expired", language))
            if not await asyncio.to_thread(_matches, code, claim.code_hash):
                claim.failed_tries += 1
                left = self._policy.max_tries - claim.failed_tries
                await uow.commit()
                if left == 0:
                    return VerificationResult(Verdict.EXPIRED, render("verify_expired", language))
                return VerificationResult(
                    Verdict.WRONG, render("verify_wrong", language, left=left)
                )
            await self._make_theirs(uow, complaint, claim, language, now)
            await uow.commit()
        contact = mask_contact(claim.address)
        return VerificationResult(
            Verdict.CONFIRMED, render("verify_done", language, contact=contact)
        )

    async def _make_theirs(
        self,
        uow: UnitOfWork,
        complaint: Complaint,
        claim: ContactClaim,
        language: str,
        now: datetime,
    ) -> None:
        """The complaint becomes the complaint of the resident at the confirmed address."""
        holder = await uow.residents.contact(claim.channel, claim.address)
        if holder is None:
            holder = await uow.residents.insert(
                claim.channel, claim.address, language=language, display_name=None, created_at=now
            )
        filer = complaint.resident_id
        complaint.resident_id = holder.id
        complaint.updated_at = now
        claim.verified_at = now
        claim.code_hash = None
        audit(
            uow,
            complaint,
            "confirm_contact",
            actor=f"resident:{filer}",
            at=now,
            detail=f"{claim.channel} {mask_contact(claim.address)} confirmed by code",
        )

    def _when(self, moment: datetime, language: str) -> str:
        return format_when(moment, language, self._zone)


async def _claim_of(
    uow: UnitOfWork, reference: str, *, hold: bool
) -> tuple[Complaint, ContactClaim] | None:
    complaint = await find_by_reference(uow, reference)
    if complaint is None or complaint.id is None:
        return None
    claim = await uow.claims.for_complaint(complaint.id, hold=hold)
    # An erased claim names no one any more: there is nothing to confirm, nowhere to send.
    return (complaint, claim) if claim is not None and claim.erased_at is None else None


def _seal(code: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(code.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def _matches(code: str, sealed: str) -> bool:
    _, salt, digest = sealed.split("$")
    tried = hashlib.scrypt(code.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(tried, bytes.fromhex(digest))
