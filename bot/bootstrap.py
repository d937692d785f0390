"""The composition root: settings → storage, channels and services, wired once.

Nothing is built at import time; tests call `bootstrap` with their own clock, channels or
engine, and get the same wiring as production.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channel_registry import build_channels, web_channel
from bot.database import DEFAULT_RULES, Prepared, prepare_database, schema_problem
from bot.domain.clock import Clock, SystemClock
from bot.intake.erasure import Retention
from bot.intake.inbox import DeliveryInbox, InboxPolicy
from bot.intake.notice_replies import NoticeReplies
from bot.intake.reception import Reception
from bot.intake.refusals import Refusals
from bot.intake.service import IntakePolicy, IntakeService
from bot.intake.verification import ContactVerification
from bot.messaging.delivery_reports import DeliveryReports
from bot.messaging.outbox import OutboxDispatcher, OutboxPolicy
from bot.messaging.templates import OFFICER_LANGUAGE, render
from bot.messaging.tracking import TrackingLinks
from bot.officers.actions import ComplaintActions
from bot.officers.desk import OfficerDesk
from bot.rules.book import LiveRouter, RuleBook
from bot.rules.compiled import compiled_rules
from bot.rules.desk import RuleDesk
from bot.sla.chaser import ChasePolicy, Chaser
from bot.sla.clock import SlaClock, SlaPolicies
from bot.sla.digest import DailyDigest
from bot.sla.figures import Transparency
from bot.web.app import create_app
from bot.web.health import Health
from bot.web.metrics import ServiceMetrics, metrics_router
from bot.web.open311 import GeoReportService, Open311Keys
from channels.base import Channel, ChannelName, InboundMessage, IntakeReceipt, ServiceHandlers
from channels.open311 import Open311Channel
from channels.web import WebChannel
from config.settings import Settings
from storage.engine import make_engine, make_session_factory
from storage.lease import LeaderLease
from storage.mailbox_cursor import StoredMailboxCursor
from storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class Service:
    """Everything one running instance holds."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    uow: UnitOfWorkFactory
    intake: IntakeService
    reception: Reception
    inbox: DeliveryInbox
    refusals: Refusals
    dispatcher: OutboxDispatcher
    rulebook: RuleBook
    router: LiveRouter
    actions: ComplaintActions
    chaser: Chaser
    digest: DailyDigest
    desk: OfficerDesk
    figures: Transparency
    channels: dict[str, Channel]
    unconfigured: dict[str, str]
    delivery: DeliveryReports
    links: TrackingLinks
    verification: ContactVerification
    health: Health
    metrics: ServiceMetrics
    # None while ADUAN_RETENTION_DAYS is unset: everything is kept.
    retention: Retention | None
    # The web app, made on first use: commands, and a service only driven in-process, never
    # serve HTTP, and building its routes is most of what composing the service costs.
    make_app: Callable[[Service], FastAPI]
    _app: FastAPI | None = field(default=None, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _jobs: RunningJobs = field(default_factory=lambda: RunningJobs(), init=False)

    @property
    def app(self) -> FastAPI:
        if self._app is None:
            self._app = self.make_app(self)
        return self._app

    async def deliver(self, message: InboundMessage) -> IntakeReceipt:
        return await self.reception.deliver(message)

    def handlers(self) -> ServiceHandlers:
        """The callbacks every channel gets into this service."""
        return ServiceHandlers(
            deliver=self.reception.deliver,
            act=self.desk.handle,
            report=self.delivery.record,
            refuse=self.refusals.keep,
            receive=self.inbox.receive,
            failed=self.inbox.failed,
            sign=self.links.sign,
        )

    async def prepare_database(self) -> Prepared:
        """Migrate, load the defaults where there are none, and route by the rules in force."""
        prepared = await prepare_database(
            self.settings, self.engine, self.uow, self.rulebook, self.clock
        )
        await self.router.refresh()
        return prepared

    async def schema_problem(self) -> str | None:
        return await schema_problem(self.engine)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Service]:
        """Channels receiving, dispatcher sending, scheduler ticking; all stopped on exit."""
        self._stopping.clear()
        await self.router.refresh()
        # Read now: every page signs its form's token, and must not wait for the database.
        await self.links.load_key()
        handlers = self.handlers()
        started: list[Channel] = []
        try:
            for channel in self.channels.values():
                await channel.start(handlers)
                started.append(channel)
        except BaseException:
            # A channel that cannot start stops the service; those already started stop too.
            for channel in reversed(started):
                await channel.stop()
            raise
        await self.dispatcher.explain_waiting()
        dispatcher = asyncio.create_task(self.dispatcher.run(self._stopping), name="outbox")
        scheduler = self._scheduler()
        self._jobs.start()
        scheduler.start()
        log.info(
            "service started",
            extra={"channels": sorted(self.channels), "unconfigured": self.unconfigured},
        )
        try:
            yield self
        finally:
            # The dispatcher finishes the batch it holds while the channels can still send;
            # then the channels stop receiving and close their sessions.
            scheduler.shutdown(wait=False)
            await self._jobs.stop()  # a job half-way through finishes, on open channels
            self._stopping.set()
            await dispatcher
            for channel in self.channels.values():
                await channel.stop()
            await self._settle_inbox()
            log.info("service stopped")

    async def _settle_inbox(self) -> None:
        try:
            await self.inbox.settle()
        except Exception:  # what is not settled is processed again, harmlessly, next time
            log.exception("processed deliveries not recorded as settled")

    def _scheduler(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(timezone=self.settings.timezone)
        job = self._jobs.tracked
        # Abandoned claims are looked for as often as one can lapse, at least every minute.
        scheduler.add_job(
            job(self.dispatcher.recover_abandoned),
            "interval",
            seconds=min(60, self.settings.outbox_claim_seconds),
            id="outbox.recover",
        )
        scheduler.add_job(
            job(self.dispatcher.explain_waiting), "interval", seconds=10, id="outbox.explain"
        )
        scheduler.add_job(
            job(self.inbox.tend),
            "interval",
            seconds=2,
            id="inbox.tend",
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(job(self.inbox.purge), "interval", hours=1, id="inbox.purge")
        scheduler.add_job(
            job(self.chaser.sweep),
            "interval",
            seconds=self.settings.chase_interval_seconds,
            id="sla.chase",
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            job(self.digest.send),
            "cron",
            hour=self.settings.digest_hour,
            minute=0,
            id="sla.digest",
            coalesce=True,
        )
        scheduler.add_job(
            job(self.router.refresh),
            "interval",
            seconds=self.settings.rules_refresh_seconds,
            id="rules.refresh",
            max_instances=1,
        )
        if self.retention is not None:
            scheduler.add_job(
                job(self.retention.sweep),
                "cron",
                hour=3,
                minute=30,
                id="retention.sweep",
                max_instances=1,
                coalesce=True,
            )
        return scheduler

    async def aclose(self) -> None:
        await self.engine.dispose()


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    channels: Sequence[Channel] = (),
    engine: AsyncEngine | None = None,
) -> Service:
    """Build the service. `channels` replace or add to the configured ones (tests use fakes)."""
    clock = clock or SystemClock()
    engine = engine or make_engine(
        settings.database_url,
        schema=settings.database_schema,
        sqlite_synchronous=settings.sqlite_synchronous,
    )
    uow = UnitOfWorkFactory(make_session_factory(engine))
    ready, unconfigured = build_channels(
        settings,
        clock,
        lambda name: LeaderLease(engine, name, schema=settings.database_schema),
        lambda name: StoredMailboxCursor(engine, name, clock.now),
    )
    for channel in channels:
        ready[channel.name] = channel
        unconfigured.pop(channel.name, None)
    links = TrackingLinks.from_settings(settings, engine, clock)
    rules_file = settings.rules_file or DEFAULT_RULES
    # The file's rules serve until the database's newest version is read at start-up.
    initial = compiled_rules(rules_file.read_text(encoding="utf-8"), source=str(rules_file))
    router = LiveRouter(uow, initial)
    if ChannelName.OPEN311 not in ready:
        # Its catalogue is the rules in force and its requests the database's: built here.
        ready[ChannelName.OPEN311] = open311_channel(settings, clock, uow, router)
        unconfigured.pop(ChannelName.OPEN311, None)
    sla_clock = SlaClock(SlaPolicies.from_settings(settings))
    metrics = ServiceMetrics(uow, clock, ready)
    intake = IntakeService(
        uow, router, sla_clock, clock, IntakePolicy.from_settings(settings, ready), metrics
    )
    inbox = DeliveryInbox(uow, clock, ready, InboxPolicy.from_settings(settings))
    dispatcher = OutboxDispatcher(
        uow,
        ready,
        clock,
        OutboxPolicy.from_settings(settings),
        unconfigured,
        links=links,
        intake_caught_up=lambda: _caught_up(inbox, intake),
    )
    rulebook = RuleBook(uow, clock)
    actions = ComplaintActions(
        uow,
        clock,
        sla_clock,
        settings.zone,
        transfer_restarts_clock=settings.sla_transfer_restarts_clock,
    )
    figures = Transparency(uow, clock, settings.zone)
    rule_desk = RuleDesk(uow, clock, rulebook, router, figures)
    desk = OfficerDesk(uow, clock, actions, settings.zone, rule_desk)
    verification = ContactVerification(uow, clock, settings.zone)
    service = Service(
        settings=settings,
        clock=clock,
        engine=engine,
        uow=uow,
        intake=intake,
        reception=Reception(
            intake,
            links,
            NoticeReplies(uow, clock, desk.handle),
            verification,
            queued=dispatcher.wake,
        ),
        inbox=inbox,
        refusals=Refusals(uow, clock),
        dispatcher=dispatcher,
        rulebook=rulebook,
        router=router,
        actions=actions,
        chaser=Chaser(uow, clock, sla_clock, ChasePolicy.from_settings(settings)),
        digest=DailyDigest(uow, clock, settings.zone),
        desk=desk,
        figures=figures,
        channels=ready,
        unconfigured=unconfigured,
        delivery=DeliveryReports(uow, clock),
        links=links,
        verification=verification,
        health=Health(
            uow,
            ready,
            unconfigured,
            clock=clock,
            stall=timedelta(seconds=settings.health_outbox_stall_seconds),
        ),
        metrics=metrics,
        retention=(
            Retention(uow, clock, settings.retention_days)
            if settings.retention_days is not None
            else None
        ),
        make_app=web_app,
    )
    return service


def web_app(service: Service) -> FastAPI:
    """The service's HTTP face: the web channel's pages and API, every other channel's
    endpoints (provider webhooks, Open311), health and metrics."""
    settings, channels = service.settings, service.channels
    web = channels.get("web")
    if not isinstance(web, WebChannel):
        web = web_channel(settings, service.clock)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with service.running():
            yield

    routers = [
        channel.router
        for channel in channels.values()
        if channel is not web and channel.router is not None
    ]
    if settings.metrics_token is not None:
        routers.append(metrics_router(service.metrics.exposition, settings.metrics_token))
    return create_app(
        web=web,
        routers=routers,
        uow=service.uow,
        clock=service.clock,
        links=service.links,
        verification=service.verification,
        figures=service.figures,
        zone=settings.zone,
        health=service.health.report,
        max_request_bytes=settings.max_request_bytes,
        photo_max_bytes=settings.web_photo_max_bytes,
        body_timeout_seconds=settings.http_body_timeout_seconds,
        posts_per_ip=settings.web_post_rate,
        trusted_proxies=settings.trusted_proxy_networks,
        lifespan=lifespan,
    )


async def _caught_up(inbox: DeliveryInbox, intake: IntakeService) -> None:
    """Returns once no webhook waits to be kept and no message waits for intake."""
    await inbox.caught_up()
    await intake.caught_up()


def open311_channel(
    settings: Settings, clock: Clock, uow: UnitOfWorkFactory, router: LiveRouter
) -> Open311Channel:
    """The Open311 API, answering from the rules in force and the database: built here,
    once those exist, rather than from settings alone in the channel registry."""
    keys = Open311Keys(uow, clock)
    return Open311Channel(
        GeoReportService(uow, router, clock, keys, settings.open311_post_rate),
        now=clock.now,
        zone=settings.zone,
        public_base_url=settings.public_base_url,
        media_note=lambda url: render("open311_media", OFFICER_LANGUAGE, url=url),
        kept_notice=render("web_kept", "id"),
        key_service=render("open311_key_service", "id"),
        jurisdiction=settings.open311_jurisdiction,
        contact=settings.email_from,
    )


class RunningJobs:
    """The scheduler's jobs that are running now, so that stopping can let them finish
    (APScheduler's asyncio scheduler does not wait; the loop would cancel them mid-query).

    A job the scheduler launched just before it stopped may not have begun yet when
    stopping waits: it would then start on a service being closed, and be cancelled when
    the loop ends. Once stopping has begun, such a job does not run at all; every job is
    periodic, and its next run after a start does its work."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()
        self._stopped = False

    def tracked(
        self, job: Callable[[], Awaitable[object]]
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            task = asyncio.current_task()
            if self._stopped or task is None:
                return
            self._running.add(task)
            try:
                await job()
            finally:
                self._running.discard(task)

        run.__qualname__ = getattr(job, "__qualname__", "job")  # its name in APScheduler's logs
        return run

    def start(self) -> None:
        self._stopped = False

    async def stop(self) -> None:
        """No job starts from now on; returns once those running have finished."""
        self._stopped = True
        await asyncio.gather(*self._running, return_exceptions=True)
