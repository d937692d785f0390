"""Which channels exist and how each is built from settings: one line per channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import SecretStr

from bot.domain.clock import Clock
from bot.domain.commands import LANGUAGES
from bot.messaging.templates import OFFICER_LANGUAGE, render
from channels.base import ActionKind, Button, Channel, ChannelName, Lease, MailboxCursor
from channels.email import EmailChannel, ImapMailbox, MailFolder, MailSecurity, SmtpServer
from channels.web import Site, WebChannel
from config.settings import Settings

if TYPE_CHECKING:
    from channels.telegram import TelegramTexts
    from channels.voice import Line, VoiceScript

# The Twilio and Telegram adapters are imported by their factories, once their settings are
# there: an instance, or a command, without them never loads their SDKs (most of a
# command's start-up otherwise).

# Makes the named lease for a channel that must run on one instance only.
LeaseFactory = Callable[[str], Lease]

# Makes the named cursor of a mailbox poller, kept in the database.
CursorFactory = Callable[[str], MailboxCursor]

# A factory returns the channel, or a sentence saying what setting it lacks.
ChannelFactory = Callable[[Settings, Clock, LeaseFactory, CursorFactory], Channel | str]


def _telegram(
    settings: Settings, clock: Clock, lease: LeaseFactory, cursor: CursorFactory
) -> Channel | str:
    if not settings.telegram_token:
        return "the telegram channel is not configured (set ADUAN_TELEGRAM_TOKEN)"
    from channels.telegram import TelegramChannel

    return TelegramChannel(
        settings.telegram_token,
        api_base=settings.telegram_api_base,
        poll_timeout=settings.telegram_poll_timeout,
        timeout=settings.provider_timeout_seconds,
        webhook_url=settings.public_base_url.rstrip("/") + "/webhooks/telegram",
        webhook_secret=settings.telegram_webhook_secret,
        lease=lease("telegram-poll"),
        texts=_telegram_texts(),
    )


def _telegram_texts() -> TelegramTexts:
    from channels.telegram import REFERENCE_SLOT, TelegramTexts

    # /start comes before the resident has chosen a language: it speaks both, and offers each
    # as a button that says the language command for it.
    choose = " / ".join(render("choose_language", language) for language in LANGUAGES)
    welcome = [render("telegram_welcome", language) for language in LANGUAGES]
    return TelegramTexts(
        welcome="\n\n".join((*welcome, f"{choose}:")),
        languages=tuple(
            Button(render("language_name", language), says=f"BAHASA {language}")
            for language in LANGUAGES
        ),
        prompts={
            kind: render(key, OFFICER_LANGUAGE, reference=REFERENCE_SLOT)
            for kind, key in ((ActionKind.ASK, "prompt_ask"), (ActionKind.REJECT, "prompt_reject"))
        },
        unknown_button=render("button_unknown", OFFICER_LANGUAGE),
    )


def _sms(
    settings: Settings, clock: Clock, lease: LeaseFactory, cursor: CursorFactory
) -> Channel | str:
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from):
        return (
            "the sms channel is not configured (set ADUAN_TWILIO_ACCOUNT_SID, "
            "ADUAN_TWILIO_AUTH_TOKEN and ADUAN_TWILIO_FROM)"
        )
    from channels.sms import TwilioSmsChannel

    return TwilioSmsChannel(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        sender=settings.twilio_from,
        public_base_url=settings.public_base_url,
        now=clock.now,
        api_base=settings.twilio_api_base,
        max_segments=settings.sms_max_segments,
        media_lost=lambda kinds: render("mms_media_lost", OFFICER_LANGUAGE, kinds=kinds),
        timeout=settings.provider_timeout_seconds,
    )


def _voice(
    settings: Settings, clock: Clock, lease: LeaseFactory, cursor: CursorFactory
) -> Channel | str:
    # Callers are answered by SMS, so voice needs everything SMS needs.
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from):
        return (
            "the voice channel is not configured (set ADUAN_TWILIO_ACCOUNT_SID, "
            "ADUAN_TWILIO_AUTH_TOKEN and ADUAN_TWILIO_FROM)"
        )
    from channels.voice import TwilioVoiceChannel

    return TwilioVoiceChannel(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        public_base_url=settings.public_base_url,
        script=_voice_script(),
        now=clock.now,
        max_seconds=settings.voice_max_seconds,
        transcribe=settings.voice_transcribe,
        api_base=settings.twilio_api_base,
    )


def _voice_script() -> VoiceScript:
    from channels.voice import VoiceScript

    def spoken(key: str) -> tuple[Line, ...]:
        return (("id-ID", render(key, "id")), ("en-US", render(key, "en")))

    return VoiceScript(
        greeting=spoken("voice_greeting"),
        goodbye=spoken("voice_goodbye"),
        nothing_recorded=spoken("voice_nothing_recorded"),
        hidden_number=spoken("voice_hidden_number"),
        recorded=lambda seconds: render("voice_message", OFFICER_LANGUAGE, seconds=seconds),
        transcribed=lambda text: render("voice_transcribed", OFFICER_LANGUAGE, text=text),
        recording_lost=lambda sid: render("voice_recording_lost", OFFICER_LANGUAGE, recording=sid),
    )


def _email(
    settings: Settings, clock: Clock, lease: LeaseFactory, cursor: CursorFactory
) -> Channel | str:
    outbound: SmtpServer | MailFolder
    if settings.smtp_host:
        outbound = SmtpServer(
            settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user,
            password=_secret(settings.smtp_password),
            security=MailSecurity(settings.smtp_tls),
        )
    elif settings.email_file_dir is not None:
        outbound = MailFolder(settings.email_file_dir)
    else:
        # Said as the dispatcher says it for a channel with no factory (its reason for waiting).
        return "the email channel is not configured"
    mailbox = None
    if settings.imap_host and settings.imap_user:
        mailbox = ImapMailbox(
            settings.imap_host,
            settings.imap_user,
            _secret(settings.imap_password) or "",
            security=MailSecurity(settings.imap_tls),
            port=settings.imap_port,
            folder=settings.imap_folder,
            poll_seconds=settings.imap_poll_seconds,
            done_folder=settings.imap_done_folder,
        )
    return EmailChannel(
        sender=settings.email_from,
        outbound=outbound,
        now=clock.now,
        max_bytes=settings.email_max_bytes,
        mailbox=mailbox,
        # Named by mailbox: pointed at another one, the reader starts from its unseen mail.
        cursor=cursor(f"imap:{mailbox.user}@{mailbox.host}/{mailbox.folder}") if mailbox else None,
        lease=lease("imap-poll") if mailbox else None,
        intake=settings.smtp_intake_address,
        dropped_note=lambda files: render(
            "email_files_dropped", OFFICER_LANGUAGE, files=", ".join(files)
        ),
    )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def web_channel(settings: Settings, clock: Clock) -> WebChannel:
    """The web channel, its pages worded by the templates and framed by the city's settings."""
    site = Site(
        city_name=settings.city_name.strip(),
        logo_url=settings.city_logo_url,
        logo_file=settings.city_logo_path,
        hotline=settings.city_hotline,
        https=settings.public_base_url.lower().startswith("https://"),
        retention_days=settings.retention_days,
    )
    return WebChannel(
        clock.now, text=render, site=site, photo_max_bytes=settings.web_photo_max_bytes
    )


REGISTRY: dict[ChannelName, ChannelFactory] = {
    ChannelName.WEB: lambda settings, clock, lease, cursor: web_channel(settings, clock),
    ChannelName.TELEGRAM: _telegram,
    ChannelName.SMS: _sms,
    ChannelName.VOICE: _voice,
    ChannelName.EMAIL: _email,
}


def build_channels(
    settings: Settings, clock: Clock, lease: LeaseFactory, cursor: CursorFactory
) -> tuple[dict[str, Channel], dict[str, str]]:
    """The channels this instance can use, and why each other known channel is unavailable."""
    ready: dict[str, Channel] = {}
    missing: dict[str, str] = {}
    for name in ChannelName:
        factory = REGISTRY.get(name)
        built = (
            factory(settings, clock, lease, cursor)
            if factory
            else f"the {name} channel is not configured"
        )
        if isinstance(built, str):
            missing[name] = built
        else:
            ready[name] = built
    return ready, missing
