"""The Open311 channel: the GeoReport v2 API under /open311/v2/, in JSON and XML.

It translates only. A POSTed request becomes an `InboundMessage` on channel `open311`
whose `category` is its service code (a routing rule's id) and whose `claimed_contact` is
the email or phone it gave: a claim like a web form's, never the sender. What the
catalogue, the published requests and the client's key are, the service decides behind
the `GeoReport` port. Nothing is sent on this channel: a request's answers reach the
contact it gave once that contact is confirmed, and the complaint's page in any case.

Errors are the specification's list of `{code, description}` (`<errors><error>` in XML)
with the HTTP status as its code: 400 for a bad parameter or an unknown service code in a
POST, 403 for a missing, unknown or revoked `api_key`, 404 for an unknown service, request,
jurisdiction or format, 429 beyond the key's rate (with Retry-After).

A client that may send a POST again (a lost answer, a timeout) sends it with an
`Idempotency-Key` header, as the web API takes it: the same key, from the same client, with
the same request, is answered with the first request's id instead of filing it twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from functools import cached_property
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from channels.base import (
    Address,
    ChannelName,
    InboundHandler,
    InboundMessage,
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

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# The specification's limit on a description, and ours on the other free texts.
MAX_DESCRIPTION = 4000
MAX_URL = 2000
MAX_NAME = 100
MAX_IDEMPOTENCY_KEY = 200
# The default window of GET requests, and the most requests one answer lists.
DEFAULT_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
_FORMATS = {"json": "application/json", "xml": "application/xml"}


class RequestStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """One routing category, as the service list shows it."""

    code: str
    name: str
    description: str
    keywords: tuple[str, ...]
    group: str


@dataclass(frozen=True, slots=True)
class PublishedRequest:
    """What the API publishes of one complaint; the service leaves out what is personal."""

    service_request_id: str
    status: RequestStatus
    status_notes: str
    service_code: str
    service_name: str
    agency_responsible: str
    requested: datetime
    updated: datetime
    expected: datetime
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True, slots=True)
class RequestQuery:
    """GET requests' filters; an empty one matches everything."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[RequestStatus, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    limit: int = MAX_REQUESTS


class Access(StrEnum):
    GRANTED = "granted"
    REFUSED = "refused"
    THROTTLED = "throttled"


@dataclass(frozen=True, slots=True)
class KeyCheck:
    access: Access
    # The client application the key belongs to (GRANTED), or the seconds to wait (THROTTLED).
    client: str | None = None
    retry_after: int | None = None


class GeoReport(Protocol):
    """What the service answers the API with."""

    async def services(self) -> Sequence[ServiceInfo]: ...

    async def requests(self, query: RequestQuery) -> Sequence[PublishedRequest]: ...

    async def check_key(self, api_key: str) -> KeyCheck: ...


class Open311Error(Exception):
    """A request the API refuses: the HTTP status and the sentence the client reads."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


class ErrorItem(BaseModel):
    code: int
    description: str


class ServiceOut(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class AttributeOut(BaseModel):
    code: str


class ServiceDefinitionOut(BaseModel):
    service_code: str
    attributes: list[AttributeOut] = Field(description="Always empty: no service has metadata")


class RequestOut(BaseModel):
    service_request_id: str
    status: RequestStatus
    status_notes: str
    service_name: str
    service_code: str
    agency_responsible: str
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str
    lat: float | None = Field(description="Rounded to 3 decimals (about 110 m)")
    long: float | None = Field(description="Rounded to 3 decimals (about 110 m)")


class PostedOut(BaseModel):
    service_request_id: str | None
    service_notice: str
    account_id: str | None


class EndpointOut(BaseModel):
    specification: str
    url: str
    changeset: str
    type: str
    formats: list[str]


class DiscoveryOut(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[EndpointOut]


_ERRORS = {
    400: "A parameter is missing or malformed, or the service code is unknown (POST)",
    403: "The api_key is missing, unknown or revoked",
    404: "No such service, request, jurisdiction or format (.json or .xml)",
    429: "Too many requests with this api_key; see Retry-After",
    503: "The service is starting or stopping; try again shortly",
}


def _documented(model: Any, *statuses: int, ok: int = 200) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses`: the answer in JSON (this model) or XML, and the error lists."""
    responses: dict[int | str, dict[str, Any]] = {
        ok: {
            "model": model,
            "description": "In the format the path ends with",
            "content": {"application/xml": {}},
        },
    }
    for status in (404, *statuses):
        responses[status] = {
            "model": list[ErrorItem],
            "description": _ERRORS[status],
            "content": {"application/xml": {}},
        }
    return responses


class Open311Channel:
    """Requests from Open311 client applications; nothing to send on the channel itself."""

    name: ClassVar[ChannelName] = ChannelName.OPEN311
    supports_attachments: ClassVar[bool] = False
    send_rate: ClassVar[SendRate] = SendRate()
    resend_is_safe: ClassVar[bool] = True
    merges_bursts: ClassVar[bool] = False
    prefers_short_text: ClassVar[bool] = False

    def __init__(
        self,
        georeport: GeoReport,
        *,
        now: Callable[[], datetime],
        zone: tzinfo,
        public_base_url: str,
        media_note: Callable[[str], str],
        kept_notice: str,
        key_service: str,
        jurisdiction: str | None = None,
        contact: str = "",
    ) -> None:
        self._georeport = georeport
        self._now = now
        self._zone = zone
        self._base_url = public_base_url.rstrip("/")
        self._media_note = media_note
        self._kept_notice = kept_notice
        self._key_service = key_service
        self._jurisdiction = jurisdiction
        self._contact = contact
        self._deliver: InboundHandler | None = None

    async def start(self, handlers: ServiceHandlers) -> None:
        self._deliver = handlers.deliver

    async def stop(self) -> None:
        self._deliver = None

    async def send(self, message: OutboundMessage) -> SendReceipt:
        # The client application is not the resident: what the service says to a request's
        # filer shows on the complaint's page, and reaches the contact it gave once confirmed.
        return SendReceipt()

    async def process(self, delivery: RawDelivery) -> None:
        # A client waits for its answer and retries itself: nothing is kept.
        raise UnknownDelivery("the open311 channel keeps no deliveries")

    # --- HTTP ---------------------------------------------------------------------------

    @cached_property
    def router(self) -> APIRouter:
        """Its endpoints, built when the web app mounts them (commands never do)."""
        router = APIRouter(prefix=PREFIX, tags=["open311"])

        @router.get(
            "/discovery.{fmt}",
            summary="Open311 discovery: where the API is and what it speaks",
            responses=_documented(DiscoveryOut),
        )
        async def discovery(fmt: str) -> Response:
            return await self._answer(fmt, lambda: self._discovery())

        @router.get(
            "/services.{fmt}",
            summary="Open311 services: one per routing category",
            responses=_documented(list[ServiceOut]),
        )
        async def services(fmt: str, jurisdiction_id: str | None = None) -> Response:
            return await self._answer(fmt, lambda: self._services(jurisdiction_id))

        @router.get(
            "/services/{service_code}.{fmt}",
            summary="Open311 service definition (no service has metadata)",
            responses=_documented(ServiceDefinitionOut),
        )
        async def service_definition(
            service_code: str, fmt: str, jurisdiction_id: str | None = None
        ) -> Response:
            return await self._answer(fmt, lambda: self._definition(service_code, jurisdiction_id))

        @router.get(
            "/requests.{fmt}",
            summary="Open311 service requests (public; no personal data)",
            responses=_documented(list[RequestOut], 400),
        )
        async def requests(
            fmt: str,
            service_request_id: str | None = None,
            service_code: str | None = None,
            status: str | None = None,
            start_date: str | None = None,
            end_date: str | None = None,
            jurisdiction_id: str | None = None,
        ) -> Response:
            return await self._answer(
                fmt,
                lambda: self._requests(
                    jurisdiction_id,
                    service_request_id=service_request_id,
                    service_code=service_code,
                    status=status,
                    start_date=start_date,
                    end_date=end_date,
                ),
            )

        @router.get(
            "/requests/{service_request_id}.{fmt}",
            summary="Open311 service request by id (our reference)",
            responses=_documented(list[RequestOut]),
        )
        async def request(
            service_request_id: str, fmt: str, jurisdiction_id: str | None = None
        ) -> Response:
            return await self._answer(fmt, lambda: self._one(service_request_id, jurisdiction_id))

        @router.post(
            "/requests.{fmt}",
            summary="Open311: file a service request (with an api_key)",
            status_code=201,
            responses=_documented(list[PostedOut], 400, 403, 429, 503, ok=201),
            openapi_extra={"requestBody": _POST_BODY},
        )
        async def post_request(fmt: str, request: Request) -> Response:
            return await self._answer(fmt, lambda: self._post(request), status=201)

        return router

    async def _answer(self, fmt: str, work: Callable[[], Any], *, status: int = 200) -> Response:
        """Run `work`, and answer what it returns, or its Open311Error, in the format `fmt`."""
        if fmt not in _FORMATS:
            return _error_response(
                "json", Open311Error(404, f"no format {fmt[:20]!r}: use .json or .xml")
            )
        try:
            root, item, body = await work()
        except Open311Error as refused:
            return _error_response(fmt, refused)
        return _response(fmt, root, item, body, status)

    # --- the operations -----------------------------------------------------------------

    async def _discovery(self) -> tuple[str, str, Any]:
        now = self._now().astimezone(self._zone).replace(microsecond=0).isoformat()
        body = {
            "changeset": now,
            "contact": self._contact,
            "key_service": self._key_service,
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": self._base_url + PREFIX,
                    "changeset": now,
                    "type": "production",
                    "formats": [_FORMATS["xml"], _FORMATS["json"]],
                }
            ],
        }
        return "discovery", "", body

    async def _services(self, jurisdiction: str | None) -> tuple[str, str, Any]:
        self._check_jurisdiction(jurisdiction)
        listed = [_service_out(service) for service in await self._georeport.services()]
        return "services", "service", listed

    async def _definition(self, code: str, jurisdiction: str | None) -> tuple[str, str, Any]:
        self._check_jurisdiction(jurisdiction)
        if not any(service.code == code for service in await self._georeport.services()):
            raise Open311Error(404, f"no service has the code {code[:100]!r}")
        return "service_definition", "", {"service_code": code, "attributes": []}

    async def _requests(
        self,
        jurisdiction: str | None,
        *,
        service_request_id: str | None,
        service_code: str | None,
        status: str | None,
        start_date: str | None,
        end_date: str | None,
    ) -> tuple[str, str, Any]:
        self._check_jurisdiction(jurisdiction)
        ids = _listed(service_request_id)
        if ids:
            # The specification: with ids given, every other filter is ignored.
            query = RequestQuery(ids=ids[:MAX_REQUESTS])
        else:
            statuses = []
            for typed in _listed(status):
                try:
                    statuses.append(RequestStatus(typed.lower()))
                except ValueError:
                    raise Open311Error(400, "status: use open or closed") from None
            start = self._moment("start_date", start_date)
            end = self._moment("end_date", end_date) or (
                self._now() if start is None else start + DEFAULT_WINDOW
            )
            start = start or end - DEFAULT_WINDOW
            if start > end:
                raise Open311Error(400, "start_date is after end_date")
            query = RequestQuery(
                service_codes=_listed(service_code),
                statuses=tuple(statuses),
                start=start,
                end=end,
            )
        found = await self._georeport.requests(query)
        return "service_requests", "request", [self._request_out(r) for r in found]

    async def _one(self, reference: str, jurisdiction: str | None) -> tuple[str, str, Any]:
        self._check_jurisdiction(jurisdiction)
        found = await self._georeport.requests(RequestQuery(ids=(reference,), limit=1))
        if not found:
            raise Open311Error(404, f"no service request has the id {reference[:40]!r}")
        return "service_requests", "request", [self._request_out(found[0])]

    async def _post(self, request: Request) -> tuple[str, str, Any]:
        try:
            posted = await request.form(max_files=0)
        except StarletteHTTPException:  # a multipart body with files, or unreadable
            raise Open311Error(400, "send the parameters form-encoded, without files") from None
        fields = {name: _field(posted, name) for name in _POST_FIELDS}
        self._check_jurisdiction(fields["jurisdiction_id"] or None)
        check = await self._georeport.check_key(fields["api_key"])
        if check.access is Access.REFUSED:
            raise Open311Error(403, "api_key is missing, unknown or revoked")
        if check.access is Access.THROTTLED:
            wait = check.retry_after or 1
            raise Open311Error(
                429, f"too many requests with this api_key; retry in {wait} s", retry_after=wait
            )
        services = {service.code for service in await self._georeport.services()}
        if not fields["service_code"]:
            raise Open311Error(400, "service_code is required (see services.json)")
        if fields["service_code"] not in services:
            raise Open311Error(400, f"service_code {fields['service_code'][:100]!r} not found")
        key = request.headers.get("idempotency-key")
        if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
            raise Open311Error(400, f"Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} characters")
        message = self._inbound(fields, check.client or "client", key)
        if self._deliver is None:
            raise Open311Error(503, "the service is starting or stopping; try again shortly")
        receipt = await self._deliver(message)
        if receipt.outcome is Outcome.BLOCKED:
            # Told what every blocked sender is told: that it arrived, nothing more.
            posted_out = {
                "service_request_id": None,
                "service_notice": self._kept_notice,
                "account_id": None,
            }
        elif receipt.outcome is Outcome.COMPLAINT and receipt.reference:
            posted_out = {
                "service_request_id": receipt.reference,
                "service_notice": receipt.reply_text,
                "account_id": None,
            }
        else:
            raise Open311Error(400, receipt.reply_text or "the request was not taken")
        return "service_requests", "request", [posted_out]

    def _inbound(
        self, fields: Mapping[str, str], client: str, idempotency_key: str | None
    ) -> InboundMessage:
        description = fields["description"].strip()
        if not description:
            raise Open311Error(400, "description is required: what is wrong, in words")
        if len(description) > MAX_DESCRIPTION:
            raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
        latitude = _coordinate(fields, "lat", 90)
        longitude = _coordinate(fields, "long", 180)
        if (latitude is None) != (longitude is None):
            raise Open311Error(400, "give lat and long together")
        place = fields["address_string"].strip()[:500] or None
        if latitude is None and place is None:
            raise Open311Error(400, "a location is required: lat and long, or address_string")
        if media := fields["media_url"].strip():
            description += "\n\n" + self._media_note(_checked_url(media))
        name = " ".join(fields[part].strip()[:MAX_NAME] for part in ("first_name", "last_name"))
        return InboundMessage(
            channel=ChannelName.OPEN311,
            sender=None,  # the client application proves no resident's address
            text=description,
            received_at=self._now(),
            # Whose application filed it shows in the anonymous resident's address.
            provider_message_id=f"{client}:{_request_id(fields, idempotency_key)}",
            display_name=one_line(name),
            location=Location(latitude, longitude, place),
            claimed_contact=_claimed(fields),
            category=fields["service_code"],
        )

    # --- translation --------------------------------------------------------------------

    def _check_jurisdiction(self, given: str | None) -> None:
        if given and self._jurisdiction and given != self._jurisdiction:
            raise Open311Error(404, f"jurisdiction_id {given[:100]!r} not found")

    def _moment(self, name: str, typed: str | None) -> datetime | None:
        if not typed:
            return None
        try:
            moment = datetime.fromisoformat(typed.strip())
        except ValueError:
            raise Open311Error(
                400, f"{name}: use W3C format, e.g. 2026-12-01T00:00:00+07:00"
            ) from None
        # A date or time without an offset is the city's.
        return moment if moment.tzinfo else moment.replace(tzinfo=self._zone)

    def _when(self, moment: datetime) -> str:
        return moment.astimezone(self._zone).replace(microsecond=0).isoformat()

    def _request_out(self, found: PublishedRequest) -> dict[str, Any]:
        return {
            "service_request_id": found.service_request_id,
            "status": found.status.value,
            "status_notes": found.status_notes,
            "service_name": found.service_name,
            "service_code": found.service_code,
            "agency_responsible": found.agency_responsible,
            "requested_datetime": self._when(found.requested),
            "updated_datetime": self._when(found.updated),
            "expected_datetime": self._when(found.expected),
            "lat": found.latitude,
            "long": found.longitude,
        }


_POST_FIELDS = (
    "api_key",
    "jurisdiction_id",
    "service_code",
    "description",
    "lat",
    "long",
    "address_string",
    "email",
    "phone",
    "first_name",
    "last_name",
    "media_url",
)
_POST_BODY = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["api_key", "service_code", "description"],
                "properties": {
                    "api_key": {"type": "string", "description": "Given by the service's operator"},
                    "jurisdiction_id": {"type": "string"},
                    "service_code": {"type": "string", "description": "From services.json"},
                    "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
                    "lat": {"type": "number", "minimum": -90, "maximum": 90},
                    "long": {"type": "number", "minimum": -180, "maximum": 180},
                    "address_string": {"type": "string", "maxLength": 500},
                    "email": {"type": "string", "description": "Answers go here once confirmed"},
                    "phone": {
                        "type": "string",
                        "description": "Answers go here once confirmed "
                        "(taken before email when both are given)",
                    },
                    "first_name": {"type": "string", "maxLength": MAX_NAME},
                    "last_name": {"type": "string", "maxLength": MAX_NAME},
                    "media_url": {
                        "type": "string",
                        "maxLength": MAX_URL,
                        "description": "A link for officers; never fetched",
                    },
                },
            }
        }
    },
}


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _listed(typed: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (typed or "").split(",") if part.strip())


def _coordinate(fields: Mapping[str, str], name: str, bound: float) -> float | None:
    typed = fields[name].strip()
    if not typed:
        return None
    try:
        value = float(typed)
    except ValueError:
        raise Open311Error(400, f"{name}: not a number") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise Open311Error(400, f"{name}: out of range (±{bound:g})")
    return value


def _request_id(fields: Mapping[str, str], idempotency_key: str | None) -> str:
    """Our id for a POSTed request: from its Idempotency-Key, scoped by what was sent with
    it (a key reused for another request files that one), or new."""
    if not idempotency_key:
        return uuid.uuid4().hex
    scope = "\0".join((idempotency_key, *(fields[name] for name in _POST_FIELDS)))
    return "idem:" + hashlib.sha256(scope.encode()).hexdigest()[:40]


def _checked_url(typed: str) -> str:
    parts = urlsplit(typed)
    if len(typed) > MAX_URL or parts.scheme not in ("http", "https") or not parts.netloc:
        raise Open311Error(
            400, f"media_url: an http or https address of at most {MAX_URL} characters"
        )
    return typed


def _claimed(fields: Mapping[str, str]) -> Address | None:
    """The contact the request gave (its phone before its email), as a claim."""
    for name in ("phone", "email"):
        if typed := fields[name].strip():
            try:
                return parse_contact(typed)
            except ContactError as exc:
                raise Open311Error(400, f"{name}: {str(exc).removeprefix('contact: ')}") from None
    return None


def _service_out(service: ServiceInfo) -> dict[str, Any]:
    return {
        "service_code": service.code,
        "service_name": service.name,
        "description": service.description,
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(service.keywords),
        "group": service.group,
    }


def _error_response(fmt: str, refused: Open311Error) -> Response:
    body = [{"code": refused.status, "description": refused.description}]
    response = _response(fmt, "errors", "error", body, refused.status)
    if refused.retry_after is not None:
        response.headers["Retry-After"] = str(refused.retry_after)
    return response


def _response(fmt: str, root: str, item: str, body: Any, status: int) -> Response:
    if fmt == "json":
        return Response(
            json.dumps(body, ensure_ascii=False), status_code=status, media_type=_FORMATS["json"]
        )
    element = ElementTree.Element(root)
    if isinstance(body, list):
        for entry in body:
            _fill(ElementTree.SubElement(element, item), entry)
    else:
        _fill(element, body)
    xml = ElementTree.tostring(element, encoding="unicode", xml_declaration=False)
    return Response(
        '<?xml version="1.0" encoding="utf-8"?>' + xml,
        status_code=status,
        media_type=_FORMATS["xml"],
    )


# A list's elements in XML are named in the singular, as the specification's examples are.
_SINGULAR = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute"}


def _fill(element: ElementTree.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _fill(ElementTree.SubElement(element, key), inner)
    elif isinstance(value, list):
        for inner in value:
            _fill(ElementTree.SubElement(element, _SINGULAR.get(element.tag, "item")), inner)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)
