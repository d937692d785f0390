"""The types every channel adapter speaks, and the small protocol each one implements.

An adapter imports this module and its provider's library, nothing else of ours. It
translates; the service layer decides.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    # Only for the annotation: importing FastAPI here would load it for every command.
    from fastapi import APIRouter


log = logging.getLogger(__name__)


class ChannelName(StrEnum):
    WEB = "web"
    SMS = "sms"
    EMAIL = "email"
    TELEGRAM = "telegram"
    # A phone call's recorded message; the caller is answered by SMS.
    VOICE = "voice"
    # A request POSTed to the Open311 GeoReport v2 API by a client application.
    OPEN311 = "open311"


@dataclass(frozen=True, slots=True)
class Address:
    """Where a person can be reached: a channel and that channel's address for them."""

    channel: ChannelName
    address: str


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float | None = None
    longitude: float | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "description", one_line(self.description))


# The most files one message brings: each is a row of its own, and the agency's notice
# lists their ids in one bounded column.
MAX_ATTACHMENTS = 20
# Longer names are cut (their extension kept); the stored column holds 255.
LONGEST_FILENAME = 200
# A media type as RFC 6838 spells one; at most LONGEST_MEDIA_TYPE long (the stored column).
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
LONGEST_MEDIA_TYPE = 100
# What a file whose name leaves nothing usable is called.
UNNAMED_FILE = "attachment"


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes

    def __post_init__(self) -> None:
        # A sender names the file: whatever writes it somewhere must get a bare name, never
        # a path out of its folder ("../../etc/passwd", "C:\\x", NUL), nor one too long to
        # store. A made-up media type becomes the generic one.
        object.__setattr__(self, "filename", safe_filename(self.filename) or UNNAMED_FILE)
        kind = self.content_type.strip().lower()
        if len(kind) > LONGEST_MEDIA_TYPE or not _MEDIA_TYPE.fullmatch(kind):
            kind = "application/octet-stream"
        object.__setattr__(self, "content_type", kind)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message from a resident, as every channel reports it."""

    channel: ChannelName
    # The sender's address on the channel; None for an anonymous web form.
    sender: str | None
    text: str
    received_at: datetime
    provider_message_id: str
    display_name: str | None = None
    subject: str | None = None
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None
    # Provider threading handles this message answers (email Message-IDs, chat message ids).
    thread_keys: tuple[str, ...] = ()
    # The complaint the sender explicitly addressed (e.g. the web follow-up form).
    reference: str | None = None
    # Where answers go when that is not the sender, an address the channel itself vouches
    # for (a caller's number, which gets the answer by SMS).
    reply_to: Address | None = None
    # A contact the sender typed (a web form's): a claim anyone could make, never the
    # sender's identity; nothing goes there until a code sent there comes back.
    claimed_contact: Address | None = None
    # The routing category the sender chose (an Open311 service code, a rule's id): a new
    # complaint goes where that rule sends it, whatever its words say.
    category: str | None = None
    # The language the sender chose with this message (a web form's switch).
    language: str | None = None
    # What the sender's app says they read: only a first guess for a new resident.
    language_hint: str | None = None
    # For a machine transcript of an earlier voice message: that message's provider id.
    transcript_of: str | None = None
    # Email: the whole text as sent, before quoted replies and signatures were cut from
    # `text` (officers may read it); None when nothing was cut.
    original_text: str | None = None
    # Email: a reference in brackets in the subject ("Re: [K7QD-4XMP] …"), as found, not
    # checked. Unlike `reference` it counts only from the complaint's own resident, which
    # the service decides.
    subject_reference: str | None = None
    # The sender opened the complaint `reference` names with its tracking link (the service
    # checked the link's token before this message was made, never an adapter): they add
    # to it, or rate it, as its resident.
    holds_tracking_link: bool = False
    # A rating of that complaint, given with a control that means nothing else (the
    # tracking page's); `text` says it as the resident would type it.
    rating: int | None = None

    def __post_init__(self) -> None:
        # Every field a person outside wrote is cleaned here, whichever adapter built it:
        # NUL cannot be stored by PostgreSQL, bidi overrides disguise what an officer
        # reads, and escape sequences would reach an operator's terminal.
        object.__setattr__(self, "text", clean_text(self.text))
        object.__setattr__(self, "display_name", one_line(self.display_name))
        object.__setattr__(self, "subject", one_line(self.subject))
        # A blank reference names no complaint (and would be quoted back as "").
        object.__setattr__(self, "reference", one_line(self.reference))
        if self.original_text is not None:
            object.__setattr__(self, "original_text", clean_text(self.original_text))


class Outcome(StrEnum):
    """What intake made of a message; adapters map it to their provider's answer."""

    COMPLAINT = "complaint"
    FOLLOW_UP = "follow_up"
    REOPENED = "reopened"
    COMMAND = "command"
    NEEDS_DETAIL = "needs_detail"
    UNKNOWN_REFERENCE = "unknown_reference"
    NOT_COMPLAINANT = "not_complainant"
    # Kept, but over the sender's rate limit: no complaint, at most one notice per window.
    THROTTLED = "throttled"
    # Kept, from an address an admin blocked: nothing else happens, no answer.
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class IntakeReceipt:
    """What the service tells an adapter about a message it has handled."""

    outcome: Outcome
    reply_text: str
    reference: str | None = None
    agency_code: str | None = None
    agency_name: str | None = None
    due_at: datetime | None = None
    status: str | None = None
    duplicate: bool = False
    # The tracking page with the conversation; given only to whoever filed the complaint.
    tracking_url: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to send: to a resident, an agency or an officer."""

    recipient: str
    text: str
    key: str
    subject: str | None = None
    # The language of `text` and `subject` (an ISO 639-1 code), where the channel can say.
    language: str | None = None
    # Threading handle of the message this one answers, if the channel threads.
    in_reply_to: str | None = None
    attachments: tuple[Attachment, ...] = field(default=())
    # Actions the recipient may take on it, where the channel can offer buttons.
    buttons: tuple[Button, ...] = ()
    # Where the whole text can be read, for a channel that has to cut it (an SMS budget).
    read_more_url: str | None = None
    # The earlier messages of the conversation, oldest first (email References).
    references: tuple[str, ...] = ()
    # Sent by the service on its own (acknowledgements, reminders, digests), not written by
    # a person: email marks it `Auto-Submitted: auto-replied` so that mailers do not answer.
    automatic: bool = False
    # What an earlier attempt delivered of it (`PartlySent`): the adapter sends the rest.
    progress: SendProgress | None = None


@dataclass(frozen=True, slots=True)
class SendProgress:
    """How far an attempt got with a message an adapter sends in parts (a chat channel's
    pieces of a long text, then its files): `parts_sent` parts went, and `anchor` is the
    provider's id for the last text piece, which the files go under."""

    parts_sent: int
    anchor: str | None = None


@dataclass(frozen=True, slots=True)
class SendReceipt:
    provider_message_id: str | None = None
    # A handle a reply from the recipient will carry (an email Message-ID, a chat message id).
    thread_key: str | None = None


class ChannelStartError(Exception):
    """The channel cannot start: its provider refused us or did not answer. The message
    says which provider and why, for an operator to act on."""


class SendError(Exception):
    """The provider did not take the message."""

    permanent: ClassVar[bool] = False


class TransientSendError(SendError):
    """Worth retrying later: timeouts, rate limits, a provider outage."""


class PartlySent(TransientSendError):
    """Some parts of the message went before a transient error: the retry sends only the
    rest (`OutboundMessage.progress`), so the recipient never gets a part twice."""

    def __init__(self, message: str, progress: SendProgress) -> None:
        super().__init__(message)
        self.progress = progress


class PermanentSendError(SendError):
    """Retrying cannot help: an invalid address, a blocked recipient."""

    permanent = True


class DeliveryUnknown(SendError):
    """The request reached the provider and no answer came back (it stopped answering, or
    the connection broke after we sent): the message may have gone. Sent again only on a
    channel whose resends are harmless (`Channel.resend_is_safe`), as after a crash, or
    once the provider says it never took it (`SentLookup`)."""


class RecipientOptedOut(PermanentSendError):
    """The provider refuses because the recipient unsubscribed with it (e.g. texted STOP)."""


class ActionKind(StrEnum):
    """What an officer or admin asks for from chat."""

    LINK = "link"  # redeem a one-time code: link this person or this group
    TAKE = "take"
    ASK = "ask"  # ask the resident for more information
    ANSWER = "answer"
    TRANSFER = "transfer"
    CLOSE = "close"
    REJECT = "reject"
    NOTE = "note"  # an internal note, never shown to the resident
    LIST = "list"  # the agency's open complaints
    MINE = "mine"  # the ones this officer took
    OVERDUE = "overdue"
    # Admins only:
    RULES = "rules"  # the rule set in force
    STATS = "stats"
    PROPOSE_RULES = "propose_rules"  # a rule file sent in chat: checked, diffed, impact shown
    APPLY_RULES = "apply_rules"
    CANCEL_RULES = "cancel_rules"


@dataclass(frozen=True, slots=True)
class Button:
    """A choice offered under a message.

    An officer's button carries an action on a complaint (and an argument, such as the
    agency a transfer goes to); pressing it sends an `ActionRequest`. A resident's button
    carries `says`: pressing it is as if the resident had typed that text.
    """

    label: str
    action: ActionKind | None = None
    reference: str | None = None
    argument: str | None = None
    says: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who pressed the button or typed the command, and where."""

    channel: ChannelName
    user_id: str
    chat_id: str
    display_name: str | None = None
    group: bool = False  # said in a group chat (an agency's), not in private


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """An officer's action, as the adapter understood it; the service decides and checks."""

    identity: Identity
    kind: ActionKind
    # Provider id of the event (update id), so a redelivered press acts once.
    request_id: str
    reference: str | None = None
    text: str = ""
    agency_code: str | None = None  # the target of a transfer
    # Threading handle of the bot message the officer replied to or pressed a button on.
    thread_key: str | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    ok: bool
    # What to tell the person who acted (already in their language).
    message: str
    reference: str | None = None
    # Choices to offer next (e.g. the agencies a transfer can go to).
    buttons: tuple[Button, ...] = ()


class DeliveryStatus(StrEnum):
    """What became of a sent message, as the provider reports it later."""

    QUEUED = "queued"  # taken by the provider, not yet passed on
    SENDING = "sending"
    SENT = "sent"  # handed to the carrier
    DELIVERED = "delivered"  # the recipient's device has it
    READ = "read"
    UNDELIVERED = "undelivered"  # the carrier could not deliver it
    FAILED = "failed"  # the provider could not send it
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A provider's word on a message we sent, found again by its provider message id."""

    channel: ChannelName
    provider_message_id: str
    status: DeliveryStatus
    reported_at: datetime
    # The provider's reason when it did not deliver (e.g. Twilio's 30003), as it gave it.
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class RefusedMessage:
    """A message the service will not take as a resident's (it cannot be read, it is too big,
    it is an automatic reply or a mailing list), kept whole with the reason."""

    channel: ChannelName
    # The provider's id for it (a Message-ID), or a digest of `raw` when it has none.
    provider_message_id: str
    reason: str
    raw: bytes
    received_at: datetime
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class RawDelivery:
    """A provider's delivery as it came (a webhook's checked fields, a chat update, a mail),
    for the service to keep: processing it may fail, or the process may die, and it must be
    possible to process it again, later, from what was kept.

    Only the adapter that made it reads it again (`Channel.process`); `kind` says which of
    its handlers, `key` is the provider's id for it (a redelivery has the same key), and
    `payload` is the adapter's own encoding of what arrived.
    """

    channel: ChannelName
    kind: str
    key: str
    payload: bytes
    received_at: datetime


class DeliveryNotKept(Exception):
    """The service could not keep a delivery (its database is unreachable): the provider
    must be told to send it again, if it can."""


class NotYetProcessable(Exception):
    """A delivery that cannot be processed yet, through no fault of its own (a report on a
    message whose send is not recorded yet): tried again later, and when the attempts run
    out it is settled with a log line rather than kept as a dead letter."""


class UnknownDelivery(Exception):
    """A kept delivery of a kind this adapter does not read (a newer version kept it)."""


InboundHandler = Callable[[InboundMessage], Awaitable[IntakeReceipt]]
ActionHandler = Callable[[ActionRequest], Awaitable[ActionResult]]
ReportHandler = Callable[[DeliveryReport], Awaitable[None]]
RefuseHandler = Callable[[RefusedMessage], Awaitable[None]]
KeepHandler = Callable[[RawDelivery], Awaitable[None]]
FailureHandler = Callable[[RawDelivery, BaseException], Awaitable[None]]
# A value signed with the service's secret key (URL-safe text, the same on every instance).
SignHandler = Callable[[str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class ServiceHandlers:
    """The callbacks into the service layer every adapter gets."""

    deliver: InboundHandler  # a resident's message
    act: ActionHandler  # an officer's action
    report: ReportHandler  # a delivery report on a message we sent
    refuse: RefuseHandler  # a message kept, with its reason, that starts nothing
    # A delivery the provider will not send again (a webhook): kept first, then handed back
    # to the adapter's `process`; a failure there is retried from what was kept. Returns
    # once kept (and processed, or its failure recorded); DeliveryNotKept if it could not
    # be kept.
    receive: KeepHandler
    # A delivery the adapter processed itself and failed with (a polled update, a mail):
    # kept to be retried, so that the provider can be told it arrived and the ones behind
    # it move on. DeliveryNotKept if it could not be kept: then leave it with the provider.
    failed: FailureHandler
    # Signs what an adapter hands out and must know again when it comes back (the web
    # form's CSRF token), with the key only the service holds.
    sign: SignHandler


class MailboxCursor(Protocol):
    """Where a mailbox poller is: the folder's UIDVALIDITY and the last UID it dealt with,
    kept in the database so that a restart neither misses nor repeats mail."""

    async def load(self) -> tuple[int, int] | None: ...

    async def save(self, uidvalidity: int, last_uid: int) -> None: ...


class Lease(Protocol):
    """Held by one instance at a time: channels that must poll alone (Telegram, IMAP)."""

    # Takes the lease if free; True while held. Called again while held, it checks the
    # lease was not lost meanwhile (a holder's database session can end under it).
    async def acquire(self) -> bool: ...

    async def release(self) -> None: ...


def _no_groups(recipient: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class SendRate:
    """How fast a provider takes our messages; the outbox paces its sends to it.

    `per_second` counts everything the channel sends (Twilio's limit is per sending number,
    and an adapter sends from one). `group_per_minute` counts what goes to any one group
    chat, the recipients `is_group` picks out. `at_once` is how many sends the adapter has
    in flight at most (a mail server's sessions): the outbox begins no more than that side
    by side, so that a crash leaves no row marked begun that was only waiting its turn.
    None: no limit to keep.
    """

    per_second: float | None = None
    group_per_minute: float | None = None
    is_group: Callable[[str], bool] = _no_groups
    at_once: int | None = None


class Channel(Protocol):
    """A channel adapter. Capabilities are class attributes, which the service plans by.

    An adapter fits a body to its medium itself (SMS cuts it to the segment budget, chat
    splits it into several messages), since only it knows how the medium measures text.
    `router` holds the adapter's HTTP endpoints (provider webhooks), mounted by the web app;
    None for a channel that only polls or only sends.
    """

    @property
    def router(self) -> APIRouter | None: ...

    name: ClassVar[ChannelName]
    supports_attachments: ClassVar[bool]
    send_rate: ClassVar[SendRate]
    # A resend after a crash between "provider accepted" and "we recorded it" is harmless
    # only where the provider or the recipient deduplicates.
    resend_is_safe: ClassVar[bool]
    # Residents on chat-like channels split one complaint over several quick messages.
    merges_bursts: ClassVar[bool]
    # Residents pay per segment (SMS): the service sends the short variants of its replies,
    # and gives long ones a `read_more_url` for the adapter to end its cut with.
    prefers_short_text: ClassVar[bool]

    async def start(self, handlers: ServiceHandlers) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, message: OutboundMessage) -> SendReceipt: ...

    # A delivery this adapter handed to `receive` or `failed`, processed again as when it
    # arrived (it raises what the handling raised). UnknownDelivery for one it never keeps.
    async def process(self, delivery: RawDelivery) -> None: ...


@runtime_checkable
class SentLookup(Protocol):
    """A channel whose provider can be asked what it took from us. A send whose fate is
    unknown (its process died mid-send, or the provider never answered) is then looked up
    before it goes again, instead of being given up: the resident gets it once, not never.

    `find_sent` returns the provider's ids of the messages it took since `since` that are
    what `send(message)` sends, newest first; an empty list means it took none. It raises
    TransientSendError when the provider cannot be asked just now."""

    async def find_sent(self, message: OutboundMessage, since: datetime) -> list[str]: ...


def sent_lookup(channel: Channel) -> SentLookup | None:
    """`channel` as a `SentLookup`, or None where its provider cannot be asked."""
    return channel if isinstance(channel, SentLookup) else None


_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def one_line(text: str | None) -> str | None:
    """A name, subject or place as one clean line; None when nothing is left of it."""
    if text is None:
        return None
    return " ".join(clean_text(text).split()) or None


def safe_filename(name: str | None) -> str | None:
    """A file's own name as a sender gave it: no folders (POSIX or Windows), no control
    characters, no leading dots, at most LONGEST_FILENAME characters with its extension
    kept; None when nothing is left."""
    if name is None:
        return None
    bare = PureWindowsPath(PurePosixPath(clean_text(name)).name).name
    bare = (one_line(bare) or "").lstrip(". ")
    if len(bare) > LONGEST_FILENAME:
        stem, dot, extension = bare.rpartition(".")
        extension = extension[:16] if dot and stem else ""
        bare = bare[: LONGEST_FILENAME - len(extension) - 1].rstrip(". ") + "." + extension
        bare = bare.rstrip(".")
    return bare or None


def clean_text(text: str) -> str:
    """Normalise what a resident typed: NFC, no control or bidi characters, trimmed.

    NUL and lone surrogates (which JSON can smuggle in as escapes) cannot be stored as
    PostgreSQL text, and bidi overrides can disguise what an officer reads, so all go;
    newlines and tabs stay.
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


async def while_held(lease: Lease, work: Coroutine[Any, Any, None], *, check_every: float) -> bool:
    """Run `work` (a poller's session) while `lease` stays held, checked every `check_every`
    seconds; False when the lease was lost, and the work stopped, before it ended. What the
    work raises is raised."""
    task = asyncio.create_task(work, name="leased-work")
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=check_every)
            if not task.done() and not await lease.acquire():
                return False
        task.result()
        return True
    finally:
        if not task.done():
            await stop_task(task)


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended. The request is repeated while it runs:
    before Python 3.12, `asyncio.wait_for` loses a cancellation that arrives just as what
    it waits for completes, and the task would run on, and its stopper wait, forever."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1)
    if not task.cancelled() and task.exception() is not None:
        log.warning("task %s ended with %r", task.get_name(), task.exception())
