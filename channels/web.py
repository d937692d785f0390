"""The web channel: the public complaint form and the JSON API for filing complaints.

It turns HTTP requests into `InboundMessage`s and intake receipts into HTTP answers.
Retried requests carry the same `Idempotency-Key` (the form carries a hidden submission
id), so a double click or a client retry files one complaint, not two.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Protocol

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from channels.base import (
    ChannelName,
    InboundHandler,
    InboundMessage,
    IntakeReceipt,
    Location,
    OutboundMessage,
    Outcome,
    RawDelivery,
    SendRate,
    SendReceipt,
    ServiceHandlers,
    UnknownDelivery,
    one_line,
)
from channels.contact import ContactError, parse_contact

MAX_TEXT = 10_000
# The form's fields and the most characters each takes, as the page's `maxlength` says.
FORM_LIMITS = {"text": MAX_TEXT, "location": 500, "name": 200, "contact": 320}
# The public pages' templates; base.html gives every public page the same frame. Their
# words come from the service: each page gets `t(key[, language])`, the sentence `key` in
# the page's language (or in `language`, as the switch names the other language).
TEMPLATES = Path(__file__).parent / "templates"
# A sentence of the public pages: (key, language) → text.
PageText = Callable[[str, str], str]


# What the API takes as a new complaint's text: five letters at least, the least that can say
# what is wrong and where (intake asks a channel's resident for more below that).
MIN_LETTERS = 5
LETTERS_PATTERN = r"^(?:[\W\d_]*[^\W\d_]){" + str(MIN_LETTERS) + "}"
# A phone number's or an email address's shape; a number must also be one that exists.
CONTACT_PATTERN = (
    r"^\s*(?:|[^@\s]{1,64}@[A-Za-z0-9.-]{1,251}\.[A-Za-z]{2,}|\+?[0-9][0-9 ().-]{5,29})\s*$"
)


def _meaningful(text: str) -> str:
    if sum(map(str.isalpha, text)) < MIN_LETTERS:
        raise ValueError(f"say what is wrong and where, in words: {MIN_LETTERS} letters at least")
    return text


def _checked_contact(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        parse_contact(value)
    except ContactError as exc:
        raise ValueError(str(exc).removeprefix("contact: ")) from None
    return value


Contact = Annotated[
    str | None,
    StringConstraints(max_length=320, pattern=CONTACT_PATTERN),
    AfterValidator(_checked_contact),
    Field(
        description="Where the answer goes: a phone number (Indonesian unless it starts with + "
        "and a country code, e.g. 0812 3456 7890 or +62 812 3456 7890; it must be a number "
        "that can exist) or an email address. Empty or absent: the complaint is anonymous, "
        "and answered only on its tracking page.",
        examples=["0812 3456 7890", "resident@example.com"],
    ),
]


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=500)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class ComplaintIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "Lampu jalan di Jl. Mawar depan SD 3 mati sejak Senin",
                    "name": "Budi",
                    "contact": "0812 3456 7890",
                    "location": {"description": "Jl. Mawar, Kel. Sukamaju"},
                }
            ]
        },
    )

    text: Annotated[str, AfterValidator(_meaningful)] = Field(
        max_length=MAX_TEXT,
        description=f"What is wrong and where, in words: {MIN_LETTERS} letters at least",
        json_schema_extra={"pattern": LETTERS_PATTERN},
    )
    name: str | None = Field(default=None, max_length=200)
    contact: Contact = None
    location: LocationIn | None = None
    language: Literal["id", "en"] | None = None


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    # Required when the complaint was filed with a phone number or email (403 otherwise).
    contact: Contact = None
    language: Literal["id", "en"] | None = None


class AgencyOut(BaseModel):
    code: str
    name: str


class ReceiptOut(BaseModel):
    outcome: Outcome
    reference: str | None
    agency: AgencyOut | None
    due_at: datetime | None
    status: str | None
    message: str
    tracking_url: str | None = Field(
        default=None,
        description="The complaint's tracking page with its conversation (new complaints only)",
    )


class ErrorOut(BaseModel):
    """Every refusal but a 422."""

    detail: str = Field(description="What was wrong, in one sentence")


class FieldError(BaseModel):
    field: str = Field(
        description="The field at fault, dotted (`location.latitude`); `body` for the whole "
        "body, a header's or a path parameter's name for those"
    )
    message: str


class ValidationErrorOut(BaseModel):
    """A 422: what the request held that this operation does not take."""

    detail: str = Field(description="The first problem, as `field: message`")
    errors: list[FieldError] = Field(description="Every problem found, one per field")


_REFUSALS = {
    400: "The body is not readable (not UTF-8, or not JSON)",
    403: "The complaint was filed with a phone number or email: add from that contact",
    404: "No complaint has this reference",
    408: "The body did not wholly arrive within the configured time",
    413: "The body is larger than the configured limit",
    422: "A field is missing, malformed, or says too little",
    429: "Too many posts from this client's address; see Retry-After",
    503: "The service is starting or stopping; try again shortly",
}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these refusals, each with the error model it is answered with."""
    return {
        status: {
            "model": ValidationErrorOut if status == 422 else ErrorOut,
            "description": _REFUSALS[status],
        }
        for status in statuses
    }


class WebChannel:
    """Complaints filed on the web; answers to web-only residents show on their tracking page."""

    name: ClassVar[ChannelName] = ChannelName.WEB
    supports_attachments: ClassVar[bool] = False
    send_rate: ClassVar[SendRate] = SendRate()
    resend_is_safe: ClassVar[bool] = True
    merges_bursts: ClassVar[bool] = False
    prefers_short_text: ClassVar[bool] = False

    def __init__(self, now: Callable[[], datetime], *, text: PageText) -> None:
        self._now = now
        self._text = text
        self._deliver: InboundHandler | None = None
        self._templates = Jinja2Templates(directory=TEMPLATES)
        self.router = self._routes()

    async def start(self, handlers: ServiceHandlers) -> None:
        self._deliver = handlers.deliver

    async def stop(self) -> None:
        self._deliver = None

    async def send(self, message: OutboundMessage) -> SendReceipt:
        # Nothing to transmit: a web resident without a phone or email reads answers on
        # the tracking page of their reference, which shows what the outbox recorded.
        return SendReceipt()

    async def process(self, delivery: RawDelivery) -> None:
        # A form's sender waits for its answer, and retries themselves: nothing is kept.
        raise UnknownDelivery("the web channel keeps no deliveries")

    async def _submit(self, message: InboundMessage) -> IntakeReceipt:
        if self._deliver is None:
            raise HTTPException(503, "the service is starting or stopping; try again shortly")
        receipt = await self._deliver(message)
        if receipt.outcome is Outcome.BLOCKED:
            # Told what every blocked sender's provider is: that it arrived, nothing more.
            kept = self._text("web_kept", message.language or "id")
            return dataclasses.replace(receipt, reply_text=kept)
        return receipt

    def _inbound(
        self,
        text: str,
        *,
        idempotency_key: str | None,
        contact: str | None = None,
        name: str | None = None,
        location: Location | None = None,
        language: str | None = None,
        reference: str | None = None,
    ) -> InboundMessage:
        claimed = parse_contact(contact) if contact else None
        # A key is scoped by what it was sent with, so two clients choosing the same key
        # never see each other's complaint.
        if idempotency_key:
            scope = "\0".join((idempotency_key, reference or "", contact or "", text))
            provider_id = "idem:" + hashlib.sha256(scope.encode()).hexdigest()[:40]
        else:
            provider_id = "req:" + uuid.uuid4().hex
        return InboundMessage(
            channel=ChannelName.WEB,
            sender=None,  # a form proves no address: see `claimed_contact`
            text=text,
            received_at=self._now(),
            provider_message_id=provider_id,
            display_name=name.strip() if name and name.strip() else None,
            location=location,
            claimed_contact=claimed,
            language=language,
            reference=reference,
        )

    def _routes(self) -> APIRouter:
        router = APIRouter()
        errors = refusals(400, 408, 413, 422, 429, 503)

        @router.post(
            "/api/complaints",
            status_code=201,
            response_model=ReceiptOut,
            responses=errors,
            tags=["complaints"],
            summary="File a complaint",
        )
        async def file_complaint(
            body: ComplaintIn,
            response: Response,
            idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
        ) -> ReceiptOut:
            location = None
            if body.location is not None:
                location = Location(
                    body.location.latitude, body.location.longitude, body.location.description
                )
            receipt = await self._submit(
                self._inbound(
                    body.text,
                    idempotency_key=idempotency_key,
                    contact=body.contact,
                    name=body.name,
                    location=location,
                    language=body.language,
                )
            )
            return _answer(receipt, response)

        @router.post(
            "/api/complaints/{reference}/messages",
            response_model=ReceiptOut,
            responses={**errors, **refusals(403, 404)},
            tags=["complaints"],
            summary="Add information to a complaint",
        )
        async def add_to_complaint(
            reference: str,
            body: FollowUpIn,
            response: Response,
            idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
        ) -> ReceiptOut:
            if one_line(reference) is None:
                # Addressed to no complaint: never taken as a new one.
                raise HTTPException(404, "no complaint has this reference")
            receipt = await self._submit(
                self._inbound(
                    body.text,
                    idempotency_key=idempotency_key,
                    contact=body.contact,
                    language=body.language,
                    reference=reference,
                )
            )
            return _answer(receipt, response)

        @router.get("/", response_class=HTMLResponse, include_in_schema=False)
        async def form(request: Request, lang: str = "id") -> HTMLResponse:
            return self._form(request, _language(lang))

        # The form posts to /filed so that Back returns to the cached form at / (same
        # submission id, so a second Send files nothing new); / still takes forms that are
        # already open in people's browsers.
        @router.post("/", response_class=HTMLResponse, include_in_schema=False)
        @router.post("/filed", response_class=HTMLResponse, include_in_schema=False)
        async def submit_form(request: Request) -> HTMLResponse:
            """Always a page, whatever was posted; a refused form keeps what was typed. The
            form is read here rather than declared, or FastAPI would answer problems in JSON."""
            try:
                posted = await request.form(max_files=0)
            except StarletteHTTPException:  # a multipart body that cannot be read
                return self._form(request, "id", problem=FormProblem("text", "form_unreadable"))
            language = _language(_posted(posted, "lang"))
            fields = {name: _posted(posted, name) for name in FORM_LIMITS}
            if problem := _form_problem(fields):
                return self._form(request, language, fields, problem=problem)
            try:
                inbound = self._inbound(
                    fields["text"],
                    idempotency_key=_posted(posted, "submission_id") or None,
                    contact=fields["contact"].strip() or None,
                    name=fields["name"],
                    location=_place(fields["location"]),
                    language=language,
                )
            except ContactError:
                problem = FormProblem("contact", "form_contact_invalid")
                return self._form(request, language, fields, problem=problem)
            receipt = await self._submit(inbound)
            if receipt.outcome in _ANSWERED_ON_THE_FORM:
                # A command (STATUS …) is answered, not filed; a blocked sender is told only
                # that the message arrived: the form comes back, empty, with the answer.
                return self._form(request, language, answer=receipt.reply_text)
            if receipt.outcome is not Outcome.COMPLAINT:
                return self._form(request, language, fields, notice=receipt.reply_text)
            filed = self._templates.TemplateResponse(
                request,
                "filed.html",
                {
                    "lang": language,
                    "t": page_words(self._text, language),
                    "receipt": receipt,
                    "contact_given": inbound.claimed_contact is not None,
                },
                status_code=201,
            )
            filed.headers["Cache-Control"] = "no-store"  # it shows the tracking link's token
            return filed

        return router

    def _form(
        self,
        request: Request,
        language: str,
        fields: dict[str, str] | None = None,
        *,
        problem: FormProblem | None = None,
        notice: str | None = None,
        answer: str | None = None,
    ) -> HTMLResponse:
        """The form, with what was typed and what is wrong with it (422) if anything is, or
        the answer to what was sent (a command's)."""
        context = {
            "lang": language,
            "t": page_words(self._text, language),
            "fields": fields or {},
            "problem": problem,
            "notice": notice,
            "answer": answer,
            "submission_id": uuid.uuid4().hex,
            "limits": FORM_LIMITS,
        }
        refused = problem is not None or notice is not None
        return self._templates.TemplateResponse(
            request, "form.html", context, status_code=422 if refused else 200
        )


# What the form answers on the form itself rather than with a filed complaint's page.
_ANSWERED_ON_THE_FORM = frozenset({Outcome.COMMAND, Outcome.BLOCKED})


@dataclasses.dataclass(frozen=True)
class FormProblem:
    """What is wrong with a posted form: the field it is shown by, and the sentence."""

    field: str
    key: str


def _posted(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _form_problem(fields: dict[str, str]) -> FormProblem | None:
    if not fields["text"].strip():
        return FormProblem("text", "form_text_missing")
    for name, limit in FORM_LIMITS.items():
        if len(fields[name]) > limit:
            return FormProblem(name, "form_too_long")
    return None


def _place(typed: str) -> Location | None:
    return Location(description=typed.strip()) if typed.strip() else None


def _answer(receipt: IntakeReceipt, response: Response) -> ReceiptOut:
    if receipt.outcome is Outcome.UNKNOWN_REFERENCE:
        raise HTTPException(404, receipt.reply_text)
    if receipt.outcome is Outcome.NOT_COMPLAINANT:
        raise HTTPException(403, receipt.reply_text)
    if receipt.outcome is Outcome.NEEDS_DETAIL:
        # A 422 like any other, in the shape the document gives 422s: the text is the field.
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "text"), "msg": receipt.reply_text}]
        )
    if receipt.outcome is not Outcome.COMPLAINT:
        response.status_code = 200
    if receipt.duplicate:
        response.headers["Idempotent-Replayed"] = "true"
    agency = (
        AgencyOut(code=receipt.agency_code, name=receipt.agency_name)
        if receipt.agency_code and receipt.agency_name
        else None
    )
    return ReceiptOut(
        outcome=receipt.outcome,
        reference=receipt.reference,
        agency=agency,
        due_at=receipt.due_at,
        status=receipt.status,
        message=receipt.reply_text,
        tracking_url=receipt.tracking_url,
    )


class PageWords(Protocol):
    """A page's `t`: the sentence `key` in the page's language, or in `language`."""

    def __call__(self, key: str, language: str | None = None, /) -> str: ...


def page_words(text: PageText, language: str) -> PageWords:
    def t(key: str, in_language: str | None = None, /) -> str:
        return text(key, in_language or language)

    return t


def _language(value: str) -> str:
    return "en" if value == "en" else "id"
