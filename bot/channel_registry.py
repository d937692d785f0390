"""Which channels exist and how each is built from settings: one line per channel."""

from __future__ import annotations

from collections.abc import Callable

from bot.clock import Clock
from channels.base import Channel, ChannelName, Lease
from channels.sms import TwilioSmsChannel
from channels.telegram import TelegramChannel
from channels.web import WebChannel
from config.settings import Settings

# Makes the named lease for a channel that must run on one instance only.
LeaseFactory = Callable[[str], Lease]

# A factory returns the channel, or a sentence saying what setting it lacks.
ChannelFactory = Callable[[Settings, Clock, LeaseFactory], Channel | str]


def _telegram(settings: Settings, clock: Clock, lease: LeaseFactory) -> Channel | str:
    if not settings.telegram_token:
        return "the telegram channel is not configured (set ADUAN_TELEGRAM_TOKEN)"
    return TelegramChannel(
        settings.telegram_token,
        api_base=settings.telegram_api_base,
        poll_timeout=settings.telegram_poll_timeout,
        webhook_url=settings.public_base_url.rstrip("/") + "/webhooks/telegram",
        webhook_secret=settings.telegram_webhook_secret,
        lease=lease("telegram-poll"),
    )


def _sms(settings: Settings, clock: Clock, lease: LeaseFactory) -> Channel | str:
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from):
        return (
            "the sms channel is not configured (set ADUAN_TWILIO_ACCOUNT_SID, "
            "ADUAN_TWILIO_AUTH_TOKEN and ADUAN_TWILIO_FROM)"
        )
    return TwilioSmsChannel(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        sender=settings.twilio_from,
        public_base_url=settings.public_base_url,
        now=clock.now,
        api_base=settings.twilio_api_base,
        max_segments=settings.sms_max_segments,
    )


REGISTRY: dict[ChannelName, ChannelFactory] = {
    ChannelName.WEB: lambda settings, clock, lease: WebChannel(clock.now),
    ChannelName.TELEGRAM: _telegram,
    ChannelName.SMS: _sms,
}


def build_channels(
    settings: Settings, clock: Clock, lease: LeaseFactory
) -> tuple[dict[str, Channel], dict[str, str]]:
    """The channels this instance can use, and why each other known channel is unavailable."""
    ready: dict[str, Channel] = {}
    missing: dict[str, str] = {}
    for name in ChannelName:
        factory = REGISTRY.get(name)
        built = (
            factory(settings, clock, lease) if factory else f"the {name} channel is not configured"
        )
        if isinstance(built, str):
            missing[name] = built
        else:
            ready[name] = built
    return ready, missing
