"""The web channel: the public complaint form and the JSON API for filing complaints.

It turns HTTP requests into `InboundMessage`s and intake receipts into HTTP answers.
Retried requests carry the same `Idempotency-Key` (the form carries a hidden submission
id), so a double click or a client retry files one complaint, not two.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import mimetypes
import re
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Protocol
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from channels.base import (
    Attachment,
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
    SignHandler,
    UnknownDelivery,
    one_line,
)
from channels.contact import ContactError, parse_contact
from channels.photos import PhotoRefused, clean_photo

MAX_TEXT = 10_000
# The pages whose posts may carry a photo (the form's, and its language switch).
PHOTO_FORM_PATHS = frozenset({"/", "/filed", "/lang"})
# The form's fields and the most characters each takes, as the page's `maxlength` says.
FORM_LIMITS = {"text": MAX_TEXT, "location": 500, "name": 200, "contact": 320}
# The public pages' templates; base.html gives every public page the same frame. Their
# words come from the service: each page gets `t(key[, language])`, the sentence `key` in
# the page's language (or in `language`, as the switch names the other language).
TEMPLATES = Path(__file__).parent / "templates"


class PageText(Protocol):
    """A sentence of the public pages: (key, language, values to put in) → text."""

    def __call__(self, key: str, language: str, **values: Any) -> str: ...


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


@dataclasses.dataclass(frozen=True, slots=True)
class Site:
    """What frames every public page: the city's name, logo and helpline, and whether the
    site is reached over HTTPS (its cookies are then sent over HTTPS only)."""

    city_name: str = ""
    # Where pages load the logo from (on this site), and the file served there, if any.
    logo_url: str | None = None
    logo_file: Path | None = None
    hotline: str | None = None
    https: bool = False
    # Days after a complaint is closed that its texts are kept (ADUAN_RETENTION_DAYS), for
    # the privacy notice; None: until erasure is asked for.
    retention_days: int | None = None


# The form's CSRF cookie's value: random, URL-safe.
_NONCE = re.compile(r"[A-Za-z0-9_-]{24}")


@dataclasses.dataclass(frozen=True, slots=True)
class FormToken:
    """The token a page's forms carry, and the cookie to set when the browser had none."""

    value: str
    new_cookie: str | None


class FormTokens:
    """CSRF protection for the pages' forms (the form, the tracking page's): a random value
    in a cookie, and in each form that value signed with the service's secret key. Another
    site can make a browser post to us, our cookie and all, but can neither read our page
    for the token nor make one without the key; `SameSite=Lax` keeps the cookie off other
    sites' posts besides. The JSON API takes no cookies, so it needs none of this."""

    COOKIE = "csrf_nonce"
    FIELD = "csrf_token"

    def __init__(self, *, secure: bool) -> None:
        self._secure = secure
        self._sign: SignHandler | None = None

    def start(self, sign: SignHandler | None) -> None:
        self._sign = sign

    async def issue(self, request: Request) -> FormToken:
        """The token for the page answering `request`: for the browser's cookie if it has
        one (forms open in other tabs stay valid), else for a new one."""
        nonce = request.cookies.get(self.COOKIE, "")
        if _NONCE.fullmatch(nonce):
            return FormToken(await self._signed(nonce), None)
        nonce = secrets.token_urlsafe(18)
        return FormToken(await self._signed(nonce), nonce)

    def keep(self, response: Response, token: FormToken) -> None:
        if token.new_cookie is not None:
            response.set_cookie(
                self.COOKIE,
                token.new_cookie,
                httponly=True,
                samesite="lax",
                secure=self._secure,
                path="/",
            )

    async def accepts(self, request: Request, posted: FormData) -> bool:
        """Whether the post carries the token of the browser's cookie."""
        nonce = request.cookies.get(self.COOKIE, "")
        typed = _posted(posted, self.FIELD)
        if not _NONCE.fullmatch(nonce) or not typed:
            return False
        return hmac.compare_digest(typed.encode(), (await self._signed(nonce)).encode())

    async def _signed(self, nonce: str) -> str:
        if self._sign is None:
            raise HTTPException(503, "the service is starting or stopping; try again shortly")
        return await self._sign(f"form:{nonce}")


class WebChannel:
    """Complaints filed on the web; answers to web-only residents show on their tracking page."""

    name: ClassVar[ChannelName] = ChannelName.WEB
    supports_attachments: ClassVar[bool] = False
    send_rate: ClassVar[SendRate] = SendRate()
    resend_is_safe: ClassVar[bool] = True
    merges_bursts: ClassVar[bool] = False
    prefers_short_text: ClassVar[bool] = False

    def __init__(
        self,
        now: Callable[[], datetime],
        *,
        text: PageText,
        site: Site = Site(),
        photo_max_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        self._now = now
        self._text = text
        self._deliver: InboundHandler | None = None
        self.site = site
        self.forms = FormTokens(secure=site.https)
        self._photo_max_bytes = photo_max_bytes
        self._templates = Jinja2Templates(directory=TEMPLATES)
        self.frame(self._templates)

    def frame(self, templates: Jinja2Templates) -> None:
        """Give pages rendered by `templates` this site's frame (base.html's city, helpline)."""
        templates.env.globals["site"] = self.site

    async def start(self, handlers: ServiceHandlers) -> None:
        self._deliver = handlers.deliver
        self.forms.start(handlers.sign)

    async def stop(self) -> None:
        self._deliver = None
        self.forms.start(None)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        # Nothing to transmit: a web resident without a phone or email reads answers on
        # the tracking page of their reference, which shows what the outbox recorded.
        return SendReceipt()

    async def process(self, delivery: RawDelivery) -> None:
        # A form's sender waits for its answer, and retries themselves: nothing is kept.
        raise UnknownDelivery("the web channel keeps no deliveries")

    async def submit(self, message: InboundMessage) -> IntakeReceipt:
        """Hand a message to the service; what a blocked sender is told, replaced."""
        if self._deliver is None:
            raise HTTPException(503, "the service is starting or stopping; try again shortly")
        receipt = await self._deliver(message)
        if receipt.outcome is Outcome.BLOCKED:
            # Told what every blocked sender's provider is: that it arrived, nothing more.
            kept = self._text("web_kept", message.language or "id")
            return dataclasses.replace(receipt, reply_text=kept)
        return receipt

    def inbound(
        self,
        text: str,
        *,
        idempotency_key: str | None,
        contact: str | None = None,
        name: str | None = None,
        location: Location | None = None,
        language: str | None = None,
        reference: str | None = None,
        attachments: tuple[Attachment, ...] = (),
        holds_tracking_link: bool = False,
        rating: int | None = None,
    ) -> InboundMessage:
        """A web post as a message; `holds_tracking_link` only as the service decided it."""
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
            attachments=attachments,
            location=location,
            claimed_contact=claimed,
            language=language,
            reference=reference,
            holds_tracking_link=holds_tracking_link,
            rating=rating,
        )

    async def page(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        status_code: int = 200,
        *,
        templates: Jinja2Templates | None = None,
    ) -> HTMLResponse:
        """A public page in this site's frame (from `templates` framed by `frame`, else the
        channel's own); its forms carry the CSRF token."""
        token = await self.forms.issue(request)
        language = context["lang"]
        response = (templates or self._templates).TemplateResponse(
            request,
            template,
            {"t": page_words(self._text, language), "csrf_token": token.value, **context},
            status_code=status_code,
        )
        self.forms.keep(response, token)
        # The page's token is this browser's: its own cache may keep it (Back returns to
        # the form as it was), a shared one may not.
        response.headers["Cache-Control"] = "private"
        return response

    @cached_property
    def router(self) -> APIRouter:
        """Its endpoints, built when the web app mounts them (commands never do)."""
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
            receipt = await self.submit(
                self.inbound(
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
            receipt = await self.submit(
                self.inbound(
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
            return await self._form(request, _language(lang))

        @router.post("/lang", response_class=HTMLResponse, include_in_schema=False)
        async def switch_language(request: Request) -> HTMLResponse:
            """The form's language switch: the form again in the other language, with what
            was typed (a browser never fills a file field in again). What another site posts
            here is not shown: it could put words in a resident's form."""
            posted = await _read_form(request)
            if posted is None:
                return await self._form(request, "id")
            language = _language(_posted(posted, "switch"))
            if not await self.forms.accepts(request, posted):
                return await self._form(request, language)
            fields = {name: _posted(posted, name)[:limit] for name, limit in FORM_LIMITS.items()}
            kept = {name: _posted(posted, name)[:40] for name in _KEPT_FIELDS}
            return await self._form(request, language, fields | kept)

        @router.get("/privasi", response_class=HTMLResponse, include_in_schema=False)
        async def privacy(request: Request, lang: str = "id") -> HTMLResponse:
            return await self.page(request, "privacy.html", {"lang": _language(lang)})

        if self.site.logo_file is not None:
            logo = self.site.logo_file
            media_type = mimetypes.guess_type(logo.name)[0] or "application/octet-stream"

            @router.get("/logo", include_in_schema=False)
            async def city_logo() -> FileResponse:
                return FileResponse(logo, media_type=media_type)

        # The form posts to /filed so that Back returns to the cached form at / (same
        # submission id, so a second Send files nothing new); / still takes forms that are
        # already open in people's browsers.
        @router.post("/", response_class=HTMLResponse, include_in_schema=False)
        @router.post("/filed", response_class=HTMLResponse, include_in_schema=False)
        async def submit_form(request: Request) -> HTMLResponse:
            """Always a page, whatever was posted; a refused form keeps what was typed. The
            form is read here rather than declared, or FastAPI would answer problems in JSON."""
            return await self._file(request)

        @router.get("/lacak", include_in_schema=False)
        async def look_up(ref: str = "", lang: str = "id") -> RedirectResponse:
            """The form's reference box: the complaint's public tracking page."""
            typed = one_line(ref[:40])
            language = _language(lang)
            if typed is None:
                return RedirectResponse(f"/?lang={language}", status_code=303)
            return RedirectResponse(
                f"/lacak/{quote(typed.upper(), safe='')}?lang={language}", status_code=303
            )

        return router

    async def _file(self, request: Request) -> HTMLResponse:
        posted = await _read_form(request)
        if posted is None:
            unreadable = FormProblem("text", "form_unreadable")
            return await self._form(request, "id", problem=unreadable)
        language = _language(_posted(posted, "lang"))
        fields = {name: _posted(posted, name) for name in FORM_LIMITS}
        kept = {name: _posted(posted, name)[:40] for name in _KEPT_FIELDS}
        if not await self.forms.accepts(request, posted):
            # A post from another site, or from a form older than the browser's cookie.
            expired = self._text("form_expired", language)
            return await self._form(request, language, fields | kept, notice=expired, status=403)
        if problem := _form_problem(fields):
            return await self._form(request, language, fields | kept, problem=problem)
        try:
            location = _place(fields["location"], kept["latitude"], kept["longitude"])
        except ValueError:  # not numbers, or not on Earth: the script never sends those
            nowhere = FormProblem("location", "form_coordinates_invalid")
            forgotten = {**kept, "latitude": "", "longitude": ""}
            return await self._form(request, language, fields | forgotten, problem=nowhere)
        photo = posted.get("photo")
        attachments: tuple[Attachment, ...] = ()
        if isinstance(photo, UploadFile) and photo.filename:
            try:
                cleaned = await asyncio.to_thread(
                    clean_photo,
                    await photo.read(self._photo_max_bytes + 1),
                    max_bytes=self._photo_max_bytes,
                    share_location=kept["share_photo_location"] == "1",
                )
            except PhotoRefused as refused:
                not_taken = FormProblem("photo", f"form_photo_{refused.problem.value}")
                return await self._form(request, language, fields | kept, problem=not_taken)
            attachments = (cleaned.attachment,)
            if cleaned.location is not None and (location is None or location.latitude is None):
                # The place the resident shared from the photo, unless their device said.
                typed = location.description if location else None
                location = dataclasses.replace(cleaned.location, description=typed)
        try:
            inbound = self.inbound(
                fields["text"],
                idempotency_key=_posted(posted, "submission_id") or None,
                contact=fields["contact"].strip() or None,
                name=fields["name"],
                location=location,
                language=language,
                attachments=attachments,
            )
        except ContactError:
            invalid = FormProblem("contact", "form_contact_invalid")
            return await self._form(request, language, fields | kept, problem=invalid)
        receipt = await self.submit(inbound)
        if receipt.outcome in _ANSWERED_ON_THE_FORM:
            # A command (STATUS …) is answered, not filed; a blocked sender is told only
            # that the message arrived: the form comes back, empty, with the answer.
            return await self._form(request, language, answer=receipt.reply_text)
        if receipt.outcome is not Outcome.COMPLAINT:
            return await self._form(request, language, fields | kept, notice=receipt.reply_text)
        filed = await self.page(
            request,
            "filed.html",
            {
                "lang": language,
                "receipt": receipt,
                # On this site, whatever address the request came to it by.
                "tracking": _on_this_site(receipt.tracking_url)
                or f"/lacak/{quote(receipt.reference or '')}",
                "contact_given": inbound.claimed_contact is not None,
            },
            status_code=201,
        )
        filed.headers["Cache-Control"] = "no-store"  # it shows the tracking link's token
        return filed

    async def _form(
        self,
        request: Request,
        language: str,
        fields: dict[str, str] | None = None,
        *,
        problem: FormProblem | None = None,
        notice: str | None = None,
        answer: str | None = None,
        status: int | None = None,
    ) -> HTMLResponse:
        """The form, with what was typed and what is wrong with it (422) if anything is, or
        the answer to what was sent (a command's)."""
        context = {
            "lang": language,
            "fields": fields or {},
            "problem": problem,
            "notice": notice,
            "answer": answer,
            "submission_id": uuid.uuid4().hex,
            "limits": FORM_LIMITS,
            "photo_megabytes": f"{self._photo_max_bytes / 1024 / 1024:.3g}",
        }
        refused = problem is not None or notice is not None
        return await self.page(request, "form.html", context, status or (422 if refused else 200))


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


def _place(typed: str, latitude: str, longitude: str) -> Location | None:
    """The place typed, and where the browser said the resident is (both, either or none);
    ValueError for coordinates that are no place on Earth."""
    if not (latitude.strip() or longitude.strip()):
        return Location(description=typed.strip()) if typed.strip() else None
    north, east = float(latitude), float(longitude)
    if not (-90 <= north <= 90 and -180 <= east <= 180):
        raise ValueError(f"no place on Earth: {north}, {east}")
    return Location(north, east, typed.strip() or None)


def _on_this_site(url: str | None) -> str | None:
    """An address of ours without its scheme and host."""
    if url is None:
        return None
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def _read_form(request: Request) -> FormData | None:
    """The posted form (a photo at most), or None when the body cannot be read as one."""
    try:
        posted = await request.form(max_files=1)
    except StarletteHTTPException:  # a multipart body that cannot be read
        return None
    files = (name for name, value in posted.multi_items() if isinstance(value, UploadFile))
    return posted if set(files) <= {"photo"} else None


# Fields of the form that are not typed: the browser's position, the photo's location.
_KEPT_FIELDS = ("latitude", "longitude", "share_photo_location")


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
    """A page's `t`: the sentence `key` in the page's language, or in `language`, with
    `values` put in."""

    def __call__(self, key: str, language: str | None = None, /, **values: object) -> str: ...


def page_words(text: PageText, language: str) -> PageWords:
    def t(key: str, in_language: str | None = None, /, **values: object) -> str:
        return text(key, in_language or language, **values)

    return t


def _language(value: str) -> str:
    return "en" if value == "en" else "id"
