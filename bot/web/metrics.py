"""`/metrics` for Prometheus: what this process counted (messages taken by channel, intake
time, routing decisions) and what the database holds (outbox backlog, open and overdue
complaints by agency, dead letters by channel).

Counters and the histogram are per process; Prometheus sums them over instances. The
database's figures are read when scraped, so every instance reports the same truth, and
kept a few seconds, so a burst of scrapes costs the database one read.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass

from fastapi import APIRouter, Header, HTTPException, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import SecretStr

from bot.domain.clock import Clock
from bot.domain.lifecycle import OPEN_STATES
from channels.web import ErrorOut
from storage.repositories.outbox import BACKLOG
from storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

# Intake takes milliseconds; a shared commit or a slow disk makes its tail.
_INTAKE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The database's figures are read at most this often, however many scrapes come.
CACHE_SECONDS = 5.0

_BACKLOG = ("aduan_outbox_backlog", "Outbox messages still to go out, by channel and status")
# Name, help and label of the gauges with one label.
_OPEN = ("aduan_complaints_open", "Open complaints, by the agency that has them", "agency")
_OVERDUE = (
    "aduan_complaints_overdue",
    "Open complaints past due with the SLA clock running, by agency",
    "agency",
)
_DEAD = ("aduan_deadletters", "Inbound deliveries that failed every attempt, by channel", "channel")
_SINGLE = (_OPEN, _OVERDUE, _DEAD)


@dataclass(frozen=True, slots=True)
class DatabaseFigures:
    """One reading of what the database holds, every label a metric shows."""

    backlog: dict[tuple[str, str], int]
    open: dict[str, int]
    overdue: dict[str, int]
    dead_letters: dict[str, int]


class DatabaseCollector(Collector):
    """The gauges that describe the database, from the last reading (`refresh`)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        channels: Iterable[str],
        *,
        cache_seconds: float,
        monotonic: Callable[[], float],
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._channels = tuple(channels)
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._figures: DatabaseFigures | None = None
        self._read_at = -math.inf
        self._reading = asyncio.Lock()

    async def refresh(self) -> None:
        """Read the database unless the last reading is recent; scrapes arriving meanwhile
        wait for this one's. A database that does not answer leaves the gauges out (a stale
        figure would pass for a current one) and is asked again after the same pause."""
        async with self._reading:
            if self._monotonic() - self._read_at < self._cache_seconds:
                return
            try:
                self._figures = await self._read()
            except Exception as exc:
                self._figures = None
                log.warning(
                    "metrics: the database did not answer", extra={"error": type(exc).__name__}
                )
            self._read_at = self._monotonic()

    async def _read(self) -> DatabaseFigures:
        async with self._uow() as uow:
            backlog = await uow.outbox.backlog()
            agencies = {agency.id: agency.code for agency in await uow.agencies.all()}
            complaints = await uow.complaints.open_by_agency(OPEN_STATES, self._clock.now())
            dead = await uow.deliveries.dead_by_channel()
        # Every configured channel and agency is shown, at 0 when it has nothing, so that
        # an alert on a figure sees it fall back, not vanish.
        by_channel = {(name, status.value): 0 for name in self._channels for status in BACKLOG}
        by_channel.update({(name, status.value): n for (name, status), n in backlog.items()})
        open_, overdue = dict.fromkeys(agencies.values(), 0), dict.fromkeys(agencies.values(), 0)
        for agency_id, (count, late) in complaints.items():
            open_[agencies[agency_id]], overdue[agencies[agency_id]] = count, late
        return DatabaseFigures(
            backlog=by_channel,
            open=open_,
            overdue=overdue,
            dead_letters={**dict.fromkeys(self._channels, 0), **dead},
        )

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily(*_BACKLOG, labels=["channel", "status"]),
            *(GaugeMetricFamily(name, doc, labels=[label]) for name, doc, label in _SINGLE),
        ]

    def collect(self) -> Iterator[Metric]:
        figures = self._figures
        if figures is None:
            return
        backlog = GaugeMetricFamily(*_BACKLOG, labels=["channel", "status"])
        for (channel, status), rows in sorted(figures.backlog.items()):
            backlog.add_metric([channel, status], rows)
        yield backlog
        readings = (figures.open, figures.overdue, figures.dead_letters)
        for (name, doc, label), values in zip(_SINGLE, readings, strict=True):
            gauge = GaugeMetricFamily(name, doc, labels=[label])
            for key, value in sorted(values.items()):
                gauge.add_metric([key], value)
            yield gauge


class ServiceMetrics:
    """The service's metrics, in a registry of its own: several services in one process (as
    in tests) never share one, and importing this module registers nothing."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        channels: Iterable[str],
        *,
        cache_seconds: float = CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        channels = tuple(channels)
        self.registry = CollectorRegistry()
        self._received = Counter(
            "aduan_messages_received",
            "Residents' messages taken by intake, by channel (a provider's redelivery is not "
            "counted again)",
            ["channel"],
            registry=self.registry,
        )
        for name in channels:
            self._received.labels(name)  # shown at 0 before the first message
        self._intake = Histogram(
            "aduan_intake_seconds",
            "Time from a message handed to intake to its commit, in seconds",
            buckets=_INTAKE_BUCKETS,
            registry=self.registry,
        )
        self._routed = Counter(
            "aduan_routing_decisions",
            "New complaints, by the routing rule that chose their agency",
            ["rule"],
            registry=self.registry,
        )
        self._database = DatabaseCollector(
            uow, clock, channels, cache_seconds=cache_seconds, monotonic=monotonic
        )
        self.registry.register(self._database)

    def taken(self, channel: str, seconds: float, routed_by: str | None) -> None:
        """Intake's observer (`IntakeObserver`)."""
        self._received.labels(channel).inc()
        self._intake.observe(seconds)
        if routed_by is not None:
            self._routed.labels(routed_by).inc()

    async def exposition(self) -> bytes:
        """Every metric in Prometheus' text format."""
        await self._database.refresh()
        return generate_latest(self.registry)


def metrics_router(exposition: Callable[[], Awaitable[bytes]], token: SecretStr) -> APIRouter:
    """`GET /metrics`, answered only to a bearer of `token` (ADUAN_METRICS_TOKEN): the
    figures say how busy and how late each agency is, which is not for everyone."""
    router = APIRouter()
    expected = token.get_secret_value().encode()

    @router.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics (with `Authorization: Bearer ADUAN_METRICS_TOKEN`)",
        response_class=Response,
        responses={
            200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"},
            401: {"model": ErrorOut, "description": "No bearer token, or not the one set"},
        },
    )
    async def metrics(authorization: str | None = Header(default=None)) -> Response:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise HTTPException(
                401,
                "send the metrics token: Authorization: Bearer <ADUAN_METRICS_TOKEN>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(await exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
