"""SQLModel tables and the enums their columns hold.

Times are stored as UTC and always come back timezone-aware, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from storage.errors import MissingRow
from storage.roles import OfficerRole


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive values are refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(enum: type[StrEnum], length: int) -> Any:
    """A VARCHAR column that reads back as the enum member (no database enum type to migrate)."""
    return sa.Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
    )


def _time(*, index: bool = False, nullable: bool = False) -> Any:
    return Field(sa_type=UTCDateTime, index=index, nullable=nullable)


def _optional_time(*, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=True)


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # Not sent, on purpose, never retried: the recipient asked for no more messages (STOP),
    # or a reminder's complaint no longer waited for the agency when it was to go.
    SUPPRESSED = "suppressed"


class Agency(SQLModel, table=True):
    __tablename__ = "agencies"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    telegram_chat_id: str | None = Field(default=None, max_length=64)
    is_fallback: bool = False
    active: bool = True
    # Overrides of the city-wide SLA for this agency; None keeps the default.
    sla_days: float | None = None
    created_at: datetime = _time()


class Officer(SQLModel, table=True):
    __tablename__ = "officers"

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agencies.id", index=True)
    name: str = Field(max_length=200)
    role: OfficerRole = Field(default=OfficerRole.OFFICER, sa_type=_enum(OfficerRole, 16))
    telegram_user_id: str | None = Field(default=None, max_length=64, unique=True)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    active: bool = True
    created_at: datetime = _time()


# Address of a resident who gave no contact (a web form); one per submission.


class Resident(SQLModel, table=True):
    __tablename__ = "residents"
    __table_args__ = (
        sa.UniqueConstraint("channel", "address", name="uq_residents_channel_address"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=320)
    display_name: str | None = Field(default=None, max_length=200)
    language: str = Field(default="id", max_length=2)
    created_at: datetime = _time()
    # Set while the resident wants no more messages (STOP, BERHENTI …); START clears it.
    opted_out_at: datetime | None = _optional_time()
    # Set while an admin blocks this address: its messages are kept, nothing else happens.
    blocked_at: datetime | None = _optional_time()
    blocked_reason: str | None = Field(default=None, max_length=500)
    blocked_by: str | None = Field(default=None, max_length=64)
    # The sender rate limit's fixed window: when it began and how many messages it holds.
    window_started_at: datetime | None = _optional_time()
    window_messages: int = 0

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None

    @property
    def blocked(self) -> bool:
        return self.blocked_at is not None


class ContactClaim(SQLModel, table=True):
    """A contact typed into a web form for a complaint: a claim, never an identity, until a
    code sent there comes back (see bot.intake.verification). Only the code's hash is kept."""

    __tablename__ = "contact_claims"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaints.id", unique=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=320)
    code_hash: str | None = Field(default=None, max_length=200)
    code_expires_at: datetime | None = _optional_time()
    codes_sent: int = 0
    last_code_at: datetime | None = _optional_time()
    # Wrong codes entered against the code now valid; a new code starts again from 0.
    failed_tries: int = 0
    verified_at: datetime | None = _optional_time()
    created_at: datetime = _time()
    # Set when the address was erased (its owner's request, or retention): no code goes
    # there again, and no contact typed into a form matches it.
    erased_at: datetime | None = _optional_time()


@dataclass(frozen=True, slots=True)
class ResidentContact:
    """Who is writing, as intake reads (or has just written) them; changes go through
    `ResidentRepository` methods, so this copy is never edited in place."""

    id: int
    channel: str
    address: str
    language: str
    opted_out: bool = False
    blocked: bool = False
    # The sender rate limit's window (see `Resident`).
    window_started_at: datetime | None = None
    window_messages: int = 0


# A finished complaint whose texts retention has not blanked since it was last closed: the
# condition of ErasureRepository.expire, which must name it alike for SQLite to use the
# partial index (tests/integration/test_query_plans.py checks that it does).
_NOT_EXPIRED = "expired_at IS NULL OR expired_at < closed_at"


class Complaint(SQLModel, table=True):
    __tablename__ = "complaints"
    __table_args__ = (
        sa.Index("ix_complaints_resident_last_message", "resident_id", "last_message_at"),
        sa.Index("ix_complaints_agency_status", "agency_id", "status"),
        # Complaints in a status, newest first: Open311's listing walks it and stops at its
        # limit, whatever the period asked for.
        sa.Index("ix_complaints_status_received_at", "status", "received_at", "id"),
        # The chaser's only way in: the complaints whose next reminder is due.
        sa.Index("ix_complaints_next_chase_at", "next_chase_at"),
        # The public figures and open data read a period of receipt, in this order; the
        # medians read agency and first response from the index alone.
        sa.Index(
            "ix_complaints_received_at", "received_at", "id", "agency_id", "first_response_at"
        ),
        # Retention's way in: finished complaints whose texts are still there (those closed
        # again after an expiry included), oldest first. Only those are in it, so a daily
        # sweep reads what it blanks, not every complaint ever closed.
        sa.Index(
            "ix_complaints_to_expire",
            "status",
            "closed_at",
            sqlite_where=sa.text(_NOT_EXPIRED),
            postgresql_where=sa.text(_NOT_EXPIRED),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=16, unique=True)
    resident_id: int = Field(foreign_key="residents.id")
    channel: str = Field(max_length=16)
    # One of the domain's ComplaintStatus values (bot.domain.lifecycle).
    status: str = Field(max_length=24)
    agency_id: int = Field(foreign_key="agencies.id")
    assigned_officer_id: int | None = Field(default=None, foreign_key="officers.id")
    text: str = Field(sa_type=sa.Text)
    subject: str | None = Field(default=None, max_length=500)
    location_text: str | None = Field(default=None, max_length=500)
    latitude: float | None = None
    longitude: float | None = None
    routing_rule: str = Field(max_length=100)
    routing_version: str | None = Field(default=None, max_length=40)
    routing_terms: str = Field(default="", max_length=1000)
    routing_explanation: str = Field(sa_type=sa.Text)
    received_at: datetime = _time()
    due_at: datetime = _time(index=True)
    # The SLA clock: working time allowed, working time used before the current run, and
    # when the current run started (None while paused or stopped).
    sla_budget_seconds: float = 0
    sla_elapsed_seconds: float = 0
    sla_running_since: datetime | None = _optional_time()
    # The last reminder stage sent (0 none, 1–4 the 50/75/90/100 % stages, 5+ daily), and
    # when the next one falls due (None when the clock does not run).
    chase_stage: int = 0
    next_chase_at: datetime | None = _optional_time()
    last_message_at: datetime = _time()
    first_response_at: datetime | None = _optional_time()
    closed_at: datetime | None = _optional_time()
    rating: int | None = None
    updated_at: datetime = _time()
    # When retention (ADUAN_RETENTION_DAYS) blanked its texts; a complaint reopened and
    # closed again after that is blanked again.
    expired_at: datetime | None = _optional_time()


@dataclass
class NewComplaint:
    """A complaint being filed, before it is a row; `ComplaintRepository.insert` writes it
    with one Core INSERT and sets its `id`. Later changes load it as a `Complaint`."""

    reference: str
    resident_id: int
    channel: str
    status: str
    agency_id: int
    text: str
    routing_rule: str
    routing_explanation: str
    received_at: datetime
    due_at: datetime
    last_message_at: datetime
    updated_at: datetime
    routing_version: str | None = None
    routing_terms: str = ""
    subject: str | None = None
    location_text: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    sla_budget_seconds: float = 0
    sla_elapsed_seconds: float = 0
    sla_running_since: datetime | None = None
    chase_stage: int = 0
    next_chase_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class ComplaintHeader:
    """What intake reads of a complaint to decide whether a message continues it: enough
    to add a message to an open complaint, which changes only when it last heard from its
    resident. A change of status or clock loads the `Complaint`."""

    id: int
    reference: str
    resident_id: int
    status: str
    agency_id: int
    due_at: datetime
    last_message_at: datetime
    updated_at: datetime
    first_response_at: datetime | None


class AgencyDay(SQLModel, table=True):
    """Complaints received by an agency on one day of the city's calendar, as they stand:
    the public figures sum these instead of reading every complaint of a year. Rebuilt from
    the complaints of that day whenever one of them is marked `ChangedComplaint`."""

    __tablename__ = "agency_days"

    day: date = Field(primary_key=True)
    agency_id: int = Field(foreign_key="agencies.id", primary_key=True)
    received: int
    answered: int
    answered_in_time: int
    open: int


class ChangedComplaint(SQLModel, table=True):
    """A complaint whose day in `AgencyDay` must be counted again, written by the same
    transaction that changed it (storage.figures)."""

    __tablename__ = "changed_complaints"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaints.id")


@dataclass(frozen=True)
class NewChangedComplaint:
    """A `ChangedComplaint` to append: filing a complaint stages one."""

    complaint_id: int


# What the SLA clock works on: a stored complaint being changed, or one being filed.
AnyComplaint = Complaint | NewComplaint
# What audit rows, notices, replies and receipts name: any of those, or a header.
NamedComplaint = Complaint | NewComplaint | ComplaintHeader


class Message(SQLModel, table=True):
    """Every message in or out: the conversation log. Inbound ids deduplicate intake."""

    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint(
            "channel", "provider_message_id", name="uq_messages_channel_provider_id"
        ),
        # /healthz and /metrics read each channel's latest inbound message from its end.
        sa.Index("ix_messages_channel_direction_created", "channel", "direction", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int | None = Field(default=None, foreign_key="complaints.id", index=True)
    resident_id: int | None = Field(default=None, foreign_key="residents.id")
    direction: Direction = Field(sa_type=_enum(Direction, 3))
    channel: str = Field(max_length=16)
    provider_message_id: str | None = Field(default=None, max_length=200)
    thread_key: str | None = Field(default=None, max_length=300, index=True)
    kind: str = Field(max_length=32)
    text: str = Field(sa_type=sa.Text)
    # The text as it came, where `text` had quotes or a signature cut from it (email).
    original_text: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _time()


@dataclass(frozen=True)
class NewMessage:
    """A message to append to the log (messages are never edited once written).

    Appended rows are plain dataclasses, not table models: intake writes several per
    message, and building and flushing ORM objects costs ten times a Core INSERT.
    """

    direction: Direction
    channel: str
    kind: str
    text: str
    created_at: datetime
    complaint_id: int | None = None
    resident_id: int | None = None
    provider_message_id: str | None = None
    thread_key: str | None = None
    original_text: str | None = None


class Attachment(SQLModel, table=True):
    __tablename__ = "attachments"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", index=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    content: bytes = Field(sa_type=sa.LargeBinary)


class OutboxMessage(SQLModel, table=True):
    """A message waiting to be sent. `key` makes each intended send unique."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_due", "status", "next_attempt_at"),
        # Delivery reports find the row they are about by the provider's id.
        sa.Index("ix_outbox_channel_provider_id", "channel", "provider_message_id"),
        # /healthz reads each channel's latest send from its end, never the whole history.
        sa.Index("ix_outbox_channel_sent", "channel", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, unique=True)
    kind: str = Field(max_length=32)
    channel: str = Field(max_length=16)
    recipient: str = Field(max_length=320)
    complaint_id: int | None = Field(default=None, foreign_key="complaints.id", index=True)
    subject: str | None = Field(default=None, max_length=500)
    text: str = Field(sa_type=sa.Text)
    # The language `subject` and `text` are written in, which a mail declares for screen
    # readers (a row queued before it was kept has none: the channel's default).
    language: str | None = Field(default=None, max_length=2)
    in_reply_to: str | None = Field(default=None, max_length=300)
    # Buttons offered with it, as JSON [{"label", "action", "reference"}]; chat channels only.
    buttons: str | None = Field(default=None, sa_type=sa.Text)
    # Stored attachments sent with it (a resident's photos to the agency), as a JSON id list.
    attachment_ids: str | None = Field(default=None, max_length=500)
    status: OutboxStatus = Field(default=OutboxStatus.PENDING, sa_type=_enum(OutboxStatus, 10))
    attempts: int = 0
    next_attempt_at: datetime = _time()
    claimed_until: datetime | None = _optional_time()
    # The claim (one dispatcher batch) that holds the row while it is SENDING, and when its
    # send began: a claim abandoned before that moment was never tried, and is sent again.
    claim_token: str | None = Field(default=None, max_length=32)
    send_started_at: datetime | None = _optional_time()
    # Since when a send of it may have reached the provider unrecorded (its process died, or
    # the provider never answered): on a channel that can look up what its provider took
    # (`channels.base.SentLookup`), it is looked up before it goes again.
    unconfirmed_since: datetime | None = _optional_time()
    # How far earlier attempts got with a message sent in parts (a chat channel's pieces
    # of a long text, then its files), so a retry sends only the rest: the parts that went
    # and the provider's id for the last text piece (`channels.base.SendProgress`).
    parts_sent: int = 0
    part_anchor: str | None = Field(default=None, max_length=64)
    waiting_reason: str | None = Field(default=None, max_length=500)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    provider_message_id: str | None = Field(default=None, max_length=200)
    created_at: datetime = _time()
    sent_at: datetime | None = _optional_time()
    # The provider's latest word on it after sending (a `channels.base.DeliveryStatus`
    # value), when that came, and the provider's error code when it was not delivered.
    delivery_status: str | None = Field(default=None, max_length=16)
    delivery_status_at: datetime | None = _optional_time()
    delivery_error: str | None = Field(default=None, max_length=32)


@dataclass(frozen=True)
class NewOutboxMessage:
    """A message to queue; the dispatcher then works on it as an `OutboxMessage`."""

    key: str
    kind: str
    channel: str
    recipient: str
    text: str
    next_attempt_at: datetime
    created_at: datetime
    complaint_id: int | None = None
    subject: str | None = None
    language: str | None = None
    in_reply_to: str | None = None
    buttons: str | None = None
    attachment_ids: str | None = None


class AuditEntry(SQLModel, table=True):
    """Who did what to which complaint, and when. Rows are only ever added."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int | None = Field(default=None, foreign_key="complaints.id", index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=24)
    to_status: str | None = Field(default=None, max_length=24)
    detail: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = _time()


@dataclass(frozen=True)
class NewAuditEntry:
    """An audit row to append."""

    actor: str
    action: str
    created_at: datetime
    complaint_id: int | None = None
    from_status: str | None = None
    to_status: str | None = None
    detail: str = ""


class RuleSetVersion(SQLModel, table=True):
    """One applied routing rule file. The newest version is the one in force."""

    __tablename__ = "rule_sets"

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True)
    content: str = Field(sa_type=sa.Text)
    sha256: str = Field(max_length=64)
    author: str = Field(max_length=200)
    comment: str = Field(default="", max_length=500)
    # Set when this version restored the content of an earlier one.
    restored_from: int | None = None
    created_at: datetime = _time()


class LinkCode(SQLModel, table=True):
    """A one-time code an admin gives to link an officer's chat account or an agency's group."""

    __tablename__ = "link_codes"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    agency_id: int = Field(foreign_key="agencies.id")
    # Set for an officer's code; None for the code that links the agency's group chat.
    officer_id: int | None = Field(default=None, foreign_key="officers.id")
    created_by: str = Field(max_length=64)
    created_at: datetime = _time()
    expires_at: datetime = _time()
    used_at: datetime | None = _optional_time()
    used_by: str | None = Field(default=None, max_length=64)


class RuleProposal(SQLModel, table=True):
    """A rule file an admin sent from chat, checked and waiting for Apply or Cancel."""

    __tablename__ = "rule_proposals"

    id: int | None = Field(default=None, primary_key=True)
    content: str = Field(sa_type=sa.Text)
    author: str = Field(max_length=200)
    created_at: datetime = _time()
    decided_at: datetime | None = _optional_time()
    # "applied" (with the version it became) or "cancelled"; None while pending.
    decision: str | None = Field(default=None, max_length=40)


class RefusedMessage(SQLModel, table=True):
    """A message kept whole that started nothing: unreadable, too big, an automatic reply."""

    __tablename__ = "refused_messages"
    __table_args__ = (sa.UniqueConstraint("channel", "provider_message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    provider_message_id: str = Field(max_length=300)
    sender: str | None = Field(default=None, max_length=320)
    reason: str = Field(max_length=500)
    raw: bytes = Field(sa_type=sa.LargeBinary)
    received_at: datetime = _time()
    created_at: datetime = _time(index=True)


class DeliveryState(StrEnum):
    PENDING = "pending"  # kept, not yet processed (or failed, and due to be tried again)
    DONE = "done"  # processed; kept a while (without its payload) so a redelivery is known
    DEAD = "dead"  # failed every attempt: a dead letter, for an admin to replay or drop
    DROPPED = "dropped"  # a dead letter an admin dropped


class KeptDelivery(SQLModel, table=True):
    """A provider's delivery (a webhook's fields, a chat update, a mail) kept as it came, so
    that an error or a crash while processing it loses nothing (see channels.base.RawDelivery)."""

    __tablename__ = "kept_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("channel", "key"),
        sa.Index("ix_kept_deliveries_due", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    kind: str = Field(max_length=32)
    key: str = Field(max_length=300)
    payload: bytes = Field(sa_type=sa.LargeBinary)
    received_at: datetime = _time()
    state: DeliveryState = Field(default=DeliveryState.PENDING, sa_type=_enum(DeliveryState, 10))
    attempts: int = 0
    next_attempt_at: datetime = _time()
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    settled_at: datetime | None = _optional_time(index=True)


@dataclass(frozen=True)
class NewKeptDelivery:
    """A delivery to keep; `KeptDeliveryRepository.keep` writes it with one Core INSERT.
    Later changes (attempts, settling) load it as a `KeptDelivery`."""

    channel: str
    kind: str
    key: str
    payload: bytes
    received_at: datetime
    next_attempt_at: datetime
    attempts: int = 1
    last_error: str | None = None


class MailboxCursorRow(SQLModel, table=True):
    """How far a mailbox poller has read one folder (see channels.base.MailboxCursor)."""

    __tablename__ = "mailbox_cursors"

    name: str = Field(primary_key=True, max_length=300)
    uidvalidity: int = Field(sa_type=sa.BigInteger)
    last_uid: int = Field(sa_type=sa.BigInteger)
    updated_at: datetime = _time()


class ServiceValue(SQLModel, table=True):
    """A value every instance must share, made once (e.g. the generated secret key)."""

    __tablename__ = "service_values"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=sa.Text)
    created_at: datetime = _time()


class Open311Key(SQLModel, table=True):
    """A client application's key to POST to the Open311 API; only its SHA-256 is kept."""

    __tablename__ = "open311_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _time()
    revoked_at: datetime | None = _optional_time()


@dataclass(frozen=True, slots=True)
class PublicRequestRow:
    """What Open311 publishes of a complaint: no text, place, contact or officer."""

    reference: str
    status: str
    routing_rule: str
    agency_code: str
    agency_name: str
    received_at: datetime
    updated_at: datetime
    due_at: datetime
    latitude: float | None
    longitude: float | None


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def stored_id(row: _Row) -> int:
    """The id of a row read from the database or flushed to it; MissingRow for one that was
    never written."""
    if row.id is None:
        raise MissingRow(
            f"this {type(row).__name__} has no id: it is not written yet; flush or commit the "
            "unit of work that added it before using its id"
        )
    return row.id
