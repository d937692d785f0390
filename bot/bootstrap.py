"""The composition root: settings → storage, channels and services, wired once.

Nothing is built at import time; tests call `bootstrap` with their own clock, channels or
engine, and get the same wiring as production.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channel_registry import build_channels
from bot.domain.clock import Clock, SystemClock
from bot.intake.service import IntakePolicy, IntakeService, RateLimit
from bot.messaging.delivery_reports import DeliveryReports
from bot.messaging.outbox import OutboxDispatcher, OutboxPolicy
from bot.messaging.tracking import TrackingLinks
from bot.officers.actions import ComplaintActions
from bot.officers.desk import OfficerDesk
from bot.records.agencies import DEFAULT_AGENCIES, seed_agencies
from bot.rules.book import LiveRouter, RuleBook
from bot.rules.compiled import compiled_rules
from bot.rules.desk import RuleDesk
from bot.sla.calendar import OfficeHours, WorkCalendar, indonesian_holidays
from bot.sla.chaser import ChasePolicy, Chaser, QuietHours
from bot.sla.clock import SlaClock, SlaPolicies
from bot.sla.digest import DailyDigest
from bot.web.app import create_app
from channels.base import Channel, InboundMessage, IntakeReceipt, Outcome, ServiceHandlers
from channels.contact import ContactError, parse_contact
from channels.web import WebChannel
from config.settings import Settings, SettingsError
from storage import migrate
from storage.engine import make_engine, make_session_factory
from storage.lease import LeaderLease
from storage.service_values import shared_value
from storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "config" / "rules.yaml"


@dataclass(frozen=True, slots=True)
class Prepared:
    agencies_added: int
    rules_version: int | None  # the version seeded from the default file, if any


@dataclass
class Service:
    """Everything one running instance holds."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    uow: UnitOfWorkFactory
    intake: IntakeService
    dispatcher: OutboxDispatcher
    rulebook: RuleBook
    router: LiveRouter
    actions: ComplaintActions
    chaser: Chaser
    digest: DailyDigest
    desk: OfficerDesk
    channels: dict[str, Channel]
    unconfigured: dict[str, str]
    delivery: DeliveryReports
    links: TrackingLinks
    app: FastAPI = field(init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    async def deliver(self, message: InboundMessage) -> IntakeReceipt:
        """The one callback every channel gets: intake, then nudge the dispatcher."""
        receipt = await self.intake.handle(message)
        self.dispatcher.wake()
        if receipt.outcome is Outcome.COMPLAINT and receipt.reference:
            # Only the filer gets the link that opens the conversation; anyone may add to an
            # anonymous complaint by its reference, but not read what the agency answered.
            url = await self.links.url(receipt.reference)
            receipt = dataclasses.replace(receipt, tracking_url=url)
        return receipt

    async def prepare_database(self) -> Prepared:
        """Migrate to the newest schema; load default agencies and rules where there are none."""
        await migrate.upgrade(self.engine)
        agencies = self.settings.agencies_file or DEFAULT_AGENCIES
        added = await seed_agencies(self.uow, agencies, self.clock)
        rules_file = self.settings.rules_file or DEFAULT_RULES
        seeded = await self.rulebook.seed(rules_file.read_text(encoding="utf-8"), rules_file.name)
        await self.router.refresh()
        return Prepared(added, seeded.version if seeded else None)

    async def schema_problem(self) -> str | None:
        """Why the database cannot be served as it is, or None when it is at the newest schema."""
        try:
            current = await migrate.current_revision(self.engine)
        except Exception as exc:
            return f"cannot reach the database ({type(exc).__name__}: {exc})"
        if current != migrate.head_revision():
            return (
                f"the database schema is at {current or 'nothing'}, the code needs "
                f"{migrate.head_revision()}: run `aduan db upgrade`"
            )
        return None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Service]:
        """Channels receiving, dispatcher sending, scheduler ticking; all stopped on exit."""
        self._stopping.clear()
        await self.router.refresh()
        for channel in self.channels.values():
            await channel.start(
                ServiceHandlers(self.deliver, self.desk.handle, self.delivery.record)
            )
        await self.dispatcher.explain_waiting()
        dispatcher = asyncio.create_task(self.dispatcher.run(self._stopping), name="outbox")
        scheduler = self._scheduler()
        scheduler.start()
        log.info(
            "service started",
            extra={"channels": sorted(self.channels), "unconfigured": self.unconfigured},
        )
        try:
            yield self
        finally:
            # Stop taking work first, then let the dispatcher finish the batch it holds.
            for channel in self.channels.values():
                await channel.stop()
            scheduler.shutdown(wait=False)
            self._stopping.set()
            await dispatcher
            log.info("service stopped")

    def _scheduler(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(timezone=self.settings.timezone)
        scheduler.add_job(
            self.dispatcher.recover_abandoned, "interval", minutes=1, id="outbox.recover"
        )
        scheduler.add_job(
            self.dispatcher.explain_waiting, "interval", seconds=10, id="outbox.explain"
        )
        scheduler.add_job(
            self.chaser.sweep,
            "interval",
            seconds=self.settings.chase_interval_seconds,
            id="sla.chase",
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            self.digest.send,
            "cron",
            hour=self.settings.digest_hour,
            minute=0,
            id="sla.digest",
            coalesce=True,
        )
        scheduler.add_job(
            self.router.refresh,
            "interval",
            seconds=self.settings.rules_refresh_seconds,
            id="rules.refresh",
            max_instances=1,
        )
        return scheduler

    async def health(self) -> dict[str, Any]:
        report: dict[str, Any] = {"status": "ok"}
        try:
            async with self.uow() as uow:
                await uow.ping()
                report["outbox"] = await uow.outbox.count_by_status()
            report["database"] = "ok"
        except Exception as exc:
            report["status"] = "unavailable"
            report["database"] = f"error: {type(exc).__name__}"
        report["channels"] = {
            **{name: {"configured": True} for name in self.channels},
            **{
                name: {"configured": False, "reason": why}
                for name, why in self.unconfigured.items()
            },
        }
        return report

    async def aclose(self) -> None:
        await self.engine.dispose()


def sla_policies(settings: Settings) -> SlaPolicies:
    hours = settings.sla_office_hours
    calendar = WorkCalendar(
        zone=settings.zone,
        working_days=settings.sla_working_days,
        is_holiday=indonesian_holidays(settings.sla_extra_holidays),
        office_hours=OfficeHours.parse(hours) if hours else None,
    )
    return SlaPolicies(calendar, settings.sla_days)


def chase_policy(settings: Settings) -> ChasePolicy:
    try:
        admin = parse_contact(settings.admin_contact) if settings.admin_contact else None
    except ContactError as exc:
        raise SettingsError(f"ADUAN_ADMIN_CONTACT: {exc}") from None
    return ChasePolicy(
        zone=settings.zone,
        quiet_hours=QuietHours.parse(settings.quiet_hours) if settings.quiet_hours else None,
        quiet_hours_apply_to_breaches=settings.quiet_hours_apply_to_breaches,
        admin_contact=admin,
        batch=settings.chase_batch,
    )


async def _secret_key(settings: Settings, engine: AsyncEngine, clock: Clock) -> str:
    """ADUAN_SECRET_KEY, or the key generated once and kept in the database for all instances."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    return await shared_value(engine, "secret_key", lambda: secrets.token_urlsafe(32), clock.now())


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    channels: Sequence[Channel] = (),
    engine: AsyncEngine | None = None,
) -> Service:
    """Build the service. `channels` replace or add to the configured ones (tests use fakes)."""
    clock = clock or SystemClock()
    engine = engine or make_engine(settings.database_url, schema=settings.database_schema)
    uow = UnitOfWorkFactory(make_session_factory(engine))
    ready, unconfigured = build_channels(settings, clock, lambda name: LeaderLease(engine, name))
    for channel in channels:
        ready[channel.name] = channel
        unconfigured.pop(channel.name, None)
    links = TrackingLinks(settings.public_base_url, lambda: _secret_key(settings, engine, clock))
    rules_file = settings.rules_file or DEFAULT_RULES
    # The file's rules serve until the database's newest version is read at start-up.
    initial = compiled_rules(rules_file.read_text(encoding="utf-8"), source=str(rules_file))
    router = LiveRouter(uow, initial)
    sla_clock = SlaClock(sla_policies(settings))
    intake = IntakeService(
        uow,
        router,
        sla_clock,
        clock,
        IntakePolicy(
            zone=settings.zone,
            merge_window=timedelta(minutes=settings.merge_window_minutes),
            reopen_window=timedelta(days=settings.reopen_window_days),
            max_text_chars=settings.max_text_chars,
            merging_channels=frozenset(name for name, ch in ready.items() if ch.merges_bursts),
            short_text_channels=frozenset(
                name for name, ch in ready.items() if ch.prefers_short_text
            ),
            rate_limit=RateLimit(*rate) if (rate := settings.sender_rate) else None,
        ),
    )
    dispatcher = OutboxDispatcher(
        uow,
        ready,
        clock,
        OutboxPolicy(
            max_attempts=settings.outbox_max_attempts,
            backoff=timedelta(seconds=settings.outbox_backoff_seconds),
            lease=timedelta(seconds=settings.outbox_claim_seconds),
            poll_interval=settings.outbox_poll_seconds,
        ),
        unconfigured,
        links=links,
    )
    rulebook = RuleBook(uow, clock)
    actions = ComplaintActions(
        uow,
        clock,
        sla_clock,
        settings.zone,
        transfer_restarts_clock=settings.sla_transfer_restarts_clock,
    )
    service = Service(
        settings,
        clock,
        engine,
        uow,
        intake,
        dispatcher,
        rulebook,
        router,
        actions,
        Chaser(uow, clock, sla_clock, chase_policy(settings)),
        DailyDigest(uow, clock, settings.zone),
        OfficerDesk(uow, clock, actions, settings.zone, RuleDesk(uow, clock, rulebook, router)),
        ready,
        unconfigured,
        DeliveryReports(uow, clock),
        links,
    )
    web = ready.get("web")
    if not isinstance(web, WebChannel):
        web = WebChannel(clock.now)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with service.running():
            yield

    service.app = create_app(
        web=web,
        routers=[
            endpoints
            for channel in ready.values()
            if channel is not web
            and isinstance(endpoints := getattr(channel, "router", None), APIRouter)
        ],
        uow=uow,
        clock=clock,
        links=links,
        zone=settings.zone,
        health=service.health,
        max_request_bytes=settings.max_request_bytes,
        lifespan=lifespan,
    )
    return service
