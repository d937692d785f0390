"""Service settings: `ADUAN_*` environment variables and `.env`, validated once at start-up."""

from __future__ import annotations

import contextlib
import re
from datetime import date, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """The environment holds a value the service cannot start with."""


class Settings(BaseSettings):
    """Everything the composition root needs to build the service."""

    model_config = SettingsConfigDict(
        env_prefix="ADUAN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite+aiosqlite:///./data/aduan.db"
    # PostgreSQL only: keep every table in this schema (one database, several deployments).
    database_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    # `full`: every commit on disk before anyone is told (power-failure safe); `normal`:
    # synced at checkpoints, faster, the last commits lost with power (not with a crash).
    sqlite_synchronous: Literal["full", "normal"] = "full"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Where residents and providers reach this service (links, webhook signatures); unset,
    # the address it listens on.
    public_base_url: str = ""
    # Signs the links that open a complaint's conversation on its tracking page. Unset, one
    # is generated on first use and kept in the database, so every instance shares it.
    secret_key: SecretStr | None = Field(default=None, min_length=32)
    timezone: str = "Asia/Jakarta"
    # The public pages' frame: the city's name, its logo and the helpline residents may call.
    city_name: str = Field(default="", max_length=100)
    # An image file (PNG, JPEG or WebP) the service serves at /logo, or an address on this
    # site (the pages load nothing from elsewhere: their CSP allows our own origin only).
    city_logo: str | None = None
    city_hotline: str | None = Field(default=None, max_length=60)
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")

    # Intake
    merge_window_minutes: int = Field(default=10, ge=0, le=24 * 60)
    reopen_window_days: int = Field(default=7, ge=0)
    # Days the texts of a closed or rejected complaint (its messages, files, mail and the
    # messages sent about it) are kept; then a daily job blanks them, the complaint and its
    # times staying for the public figures. Kept deliveries and refused mail go after as
    # many days. None keeps everything.
    retention_days: int | None = Field(default=None, ge=1)
    max_text_chars: int = Field(default=10_000, ge=500)
    max_request_bytes: int = Field(default=256 * 1024, ge=16 * 1024)
    # A photo attached to the web form: at most this much. The form's posts (only they) may
    # be this much larger than ADUAN_MAX_REQUEST_BYTES.
    web_photo_max_bytes: int = Field(default=10 * 1024 * 1024, ge=64 * 1024, le=100 * 1024 * 1024)
    # A request whose body has not wholly arrived this long after its headers gets 408 and
    # its connection closed: a slow or stalled client cannot hold connections open.
    http_body_timeout_seconds: float = Field(default=10, gt=0, le=600, allow_inf_nan=False)
    # Per sender address on every channel: "20/hour" (a count per minute, hour or day) or
    # "off". Messages over it are kept but start nothing.
    sender_rate_limit: str = "20/hour"
    # Posts to the web form, the JSON API and the tracking page's forms per client IP,
    # in the same format; counted per instance. Over it: 429 with Retry-After.
    web_posts_per_ip: str = "30/hour"
    # POSTs to the Open311 API per client application's key, in the same format; counted
    # per instance. Over it: 429 with Retry-After. (The per-IP limit does not apply there.)
    open311_posts_per_key: str = "120/hour"
    # The Open311 jurisdiction_id this service answers for; a request naming another gets
    # 404. Unset, any jurisdiction_id is accepted (the service serves one city).
    open311_jurisdiction: str | None = Field(default=None, min_length=1, max_length=100)
    # Proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For names the client; from
    # anyone else the header is ignored and the peer's address counts.
    trusted_proxies: str = ""
    # SLA: days to answer, counted as calendar days or as working days (Monday–Friday minus
    # Indonesian public holidays and joint leave), optionally only within office hours.
    sla_days: float = Field(default=2, gt=0)
    sla_working_days: bool = False
    sla_office_hours: str | None = Field(default=None, pattern=r"^\d\d:\d\d-\d\d:\d\d$")
    sla_extra_holidays: list[date] = Field(default_factory=list)
    # Whether a transfer gives the new agency a fresh clock (True) or the time left (False).
    sla_transfer_restarts_clock: bool = False
    chase_interval_seconds: float = Field(default=60, gt=0)
    # Complaints a sweep handles per transaction.
    chase_batch: int = Field(default=200, ge=1, le=10_000)
    # Reminders to individual officers wait out the night (not group or breach notices).
    quiet_hours: str | None = Field(default="21:00-06:00", pattern=r"^\d\d:\d\d-\d\d:\d\d$")
    quiet_hours_apply_to_breaches: bool = False
    digest_hour: int = Field(default=7, ge=0, le=23)
    # Who hears of breaches when no admin officer is registered (email or phone).
    admin_contact: str | None = None

    # Outbox
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_backoff_seconds: float = Field(default=5.0, gt=0)
    outbox_claim_seconds: int = Field(default=120, ge=5)
    # Inbound deliveries (webhooks, polled updates, mails) whose processing keeps failing
    # become dead letters after this many attempts (`aduan deadletters`).
    deadletter_after_attempts: int = Field(default=5, ge=1, le=100)
    # How long the instance processing a delivery holds it before another may take it
    # over: what a delivery waits when the process that kept it died.
    inbox_claim_seconds: int = Field(default=120, ge=2)
    # /healthz calls a channel degraded when its pending rows wait this much longer than due.
    health_outbox_stall_seconds: int = Field(default=300, ge=1)
    # Serves GET /metrics (Prometheus) to requests bearing it (`Authorization: Bearer …`);
    # unset, there is no /metrics.
    metrics_token: SecretStr | None = Field(default=None, min_length=16)

    # How long a send waits for Twilio's or Telegram's API to take the connection, and then
    # for each part of its answer. A send the provider may have received and not answered
    # is not sent again on those channels (it would reach the resident twice): it fails as
    # "delivery unknown".
    provider_timeout_seconds: float = Field(default=10, gt=0, le=120, allow_inf_nan=False)

    # Telegram: the bot's token from @BotFather; the API base only changes for tests.
    telegram_token: str | None = None
    telegram_api_base: str = "https://api.telegram.org/bot"
    telegram_poll_timeout: int = Field(default=25, ge=0, le=50)
    # Set it to receive updates by webhook at ADUAN_PUBLIC_BASE_URL/webhooks/telegram.
    telegram_webhook_secret: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,256}$")
    # The outbox's pace, replacing the channel's (30 a second overall, 20 a minute to one
    # group chat); per instance, like the SMS rate.
    telegram_messages_per_second: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    telegram_group_messages_per_minute: float | None = Field(
        default=None, gt=0, allow_inf_nan=False
    )

    # Twilio SMS: account, token, and a sending number (E.164) or messaging service (MG…).
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_api_base: str | None = None  # tests point the client at a fake
    sms_max_segments: int = Field(default=3, ge=1, le=10)
    # How fast the outbox sends, replacing what the channel declares (SMS: 1 a second per
    # sending number). Each instance paces alone: instances sharing a number add up.
    sms_messages_per_second: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    # Twilio Voice (same account): the longest message a caller may leave, in seconds, and
    # whether Twilio transcribes it (paid; recordings of at most two minutes).
    voice_max_seconds: int = Field(default=120, ge=10, le=600)
    voice_transcribe: bool = False
    # Email: the most a message's files may add up to (decoded), as mail providers count
    # their attachment limit; files beyond it are dropped and the text says so.
    email_max_bytes: int = Field(default=25 * 1024 * 1024, ge=64 * 1024)

    # Email. Inbound: an IMAP mailbox the service reads (off without ADUAN_IMAP_HOST), and/or
    # an SMTP listener at host:port that mail servers deliver to (off unless set).
    imap_host: str | None = None
    # Unset: 993 with ssl, 143 with starttls or none.
    imap_port: int | None = Field(default=None, ge=1, le=65535)
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_tls: Literal["ssl", "starttls", "none"] = "ssl"
    imap_folder: str = Field(default="INBOX", min_length=1)
    # Used where the server offers no IDLE (with IDLE, new mail is taken at once).
    imap_poll_seconds: float = Field(default=60, gt=0)
    # Where handled mail is moved to; unset, it stays in the folder, marked \Seen.
    imap_done_folder: str | None = None
    smtp_intake: str | None = Field(default=None, pattern=r"^\S+:\d{1,5}$")
    # Outbound: an SMTP server; without one, mail is written as .eml files to
    # ADUAN_EMAIL_FILE_DIR (set it empty to keep email unconfigured until a server is).
    smtp_host: str | None = None
    # Unset: 465 with ssl, 587 with starttls, 25 with none.
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["starttls", "ssl", "none"] = "starttls"
    # Our address, "Name <address>" or a bare address; its domain names our Message-IDs.
    email_from: str = Field(default="Aduan Kota <aduan@localhost>", pattern=r"@[^@\s>]+>?$")
    email_file_dir: Path | None = Path("data/mail")

    agencies_file: Path | None = None
    rules_file: Path | None = None
    rules_refresh_seconds: float = Field(default=2.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Asia/Jakarta)"
            ) from exc
        return value

    @field_validator("sla_office_hours")
    @classmethod
    def _office_hours_in_order(cls, value: str | None) -> str | None:
        if value is not None and value[:5] >= value[6:]:
            raise ValueError(f"{value!r}: office hours must end after they start, e.g. 08:00-16:00")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours_differ(cls, value: str | None) -> str | None:
        # Quiet hours may wrap midnight (21:00-06:00), so only an empty span is wrong.
        if value is not None and value[:5] == value[6:]:
            raise ValueError(f"{value!r}: the start and end must differ")
        return value

    @field_validator("sender_rate_limit", "web_posts_per_ip", "open311_posts_per_key")
    @classmethod
    def _rate_limit_readable(cls, value: str) -> str:
        parse_rate_limit(value)
        return value

    @model_validator(mode="after")
    def _public_address_defaults_to_listening_one(self) -> Settings:
        if not self.public_base_url:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
            self.public_base_url = f"http://{host}:{self.port}"
        return self

    @model_validator(mode="after")
    def _logo_is_ours(self) -> Settings:
        if self.city_logo:
            logo_source(self.city_logo, self.public_base_url)  # raises, saying what to write
        return self

    @property
    def city_logo_path(self) -> Path | None:
        """ADUAN_CITY_LOGO when it names an image file the service serves at /logo."""
        return logo_source(self.city_logo, self.public_base_url)[0] if self.city_logo else None

    @property
    def city_logo_url(self) -> str | None:
        """Where the pages load the city's logo from, if there is one."""
        return logo_source(self.city_logo, self.public_base_url)[1] if self.city_logo else None

    @field_validator("email_file_dir", mode="before")
    @classmethod
    def _empty_file_dir_is_off(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _mail_in_needs_mail_out(self) -> Settings:
        if self.imap_host and not (self.imap_user and self.imap_password):
            raise ValueError("ADUAN_IMAP_HOST needs ADUAN_IMAP_USER and ADUAN_IMAP_PASSWORD")
        if (self.imap_host or self.smtp_intake) and not (self.smtp_host or self.email_file_dir):
            raise ValueError(
                "mail can be received (ADUAN_IMAP_HOST or ADUAN_SMTP_INTAKE) but not answered: "
                "set ADUAN_SMTP_HOST, or ADUAN_EMAIL_FILE_DIR to write the answers to files"
            )
        return self

    @property
    def smtp_intake_address(self) -> tuple[str, int] | None:
        """ADUAN_SMTP_INTAKE as (host, port), or None when the listener is off."""
        if not self.smtp_intake:
            return None
        host, _, port = self.smtp_intake.rpartition(":")
        return host.strip("[]"), int(port)

    @field_validator("telegram_api_base")
    @classmethod
    def _bot_api_base(cls, value: str) -> str:
        if not re.fullmatch(r"https?://\S+/bot", value):
            raise ValueError(
                "must be an http(s) address ending in /bot, to which the token is added "
                f"(e.g. https://api.telegram.org/bot; got {value!r})"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {value.split('://', 1)[0]}://)"
            )
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def secret_values(self) -> list[str]:
        """Every configured secret's value, for the logs to leave out."""
        found = [self.telegram_token, self.telegram_webhook_secret, self.twilio_auth_token]
        for secret in (self.secret_key, self.imap_password, self.smtp_password, self.metrics_token):
            found.append(secret.get_secret_value() if secret is not None else None)
        with contextlib.suppress(ValueError):
            # As written in the URL (percent-encoded) and as the driver sends it.
            password = urlsplit(self.database_url).password
            found += [password, unquote(password)] if password else []
        return [value for value in found if value]

    @property
    def sender_rate(self) -> tuple[int, timedelta] | None:
        """The sender rate limit as (messages, window), or None when it is off."""
        return parse_rate_limit(self.sender_rate_limit)

    @property
    def web_post_rate(self) -> tuple[int, timedelta] | None:
        """The per-IP limit on web posts as (posts, window), or None when it is off."""
        return parse_rate_limit(self.web_posts_per_ip)

    @property
    def open311_post_rate(self) -> tuple[int, timedelta] | None:
        """The per-key limit on Open311 posts as (posts, window), or None when it is off."""
        return parse_rate_limit(self.open311_posts_per_key)

    @property
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return parse_networks(self.trusted_proxies)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks_readable(cls, value: str) -> str:
        parse_networks(value)
        return value


# The city logo files the service serves.
LOGO_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})


def logo_source(logo: str, public_base_url: str) -> tuple[Path | None, str]:
    """ADUAN_CITY_LOGO as (the image file to serve, if it is one; the address pages load it
    from). An address must be on this site (the pages' CSP allows our own origin only);
    ValueError saying what to write otherwise."""
    if "://" not in logo and not logo.startswith("//"):
        path = Path(logo)
        if path.suffix.lower() not in LOGO_SUFFIXES:
            raise ValueError(
                f"ADUAN_CITY_LOGO: {logo!r} is not a PNG, JPEG or WebP file (its name must end "
                f"in {', '.join(sorted(LOGO_SUFFIXES))})"
            )
        if not path.is_file():
            raise ValueError(
                f"ADUAN_CITY_LOGO: there is no file {logo!r} (or give the image's address on "
                f"this site, e.g. {public_base_url.rstrip('/')}/img/logo.png)"
            )
        return path, "/logo"
    site, found = urlsplit(public_base_url), urlsplit(logo)
    if (found.scheme or site.scheme, found.netloc) != (site.scheme, site.netloc):
        raise ValueError(
            f"ADUAN_CITY_LOGO: {logo!r} is on another site; the pages load images from "
            f"{site.scheme}://{site.netloc} only (or give the path of an image file to serve)"
        )
    return None, (found.path or "/") + (f"?{found.query}" if found.query else "")


_PERIODS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_RATE = re.compile(r"(\d+)\s*/\s*(minute|hour|day)")


def parse_rate_limit(text: str) -> tuple[int, timedelta] | None:
    """'20/hour' → (20, 1 hour); 'off' → None; ValueError saying what to write otherwise."""
    cleaned = text.strip().lower()
    if cleaned == "off":
        return None
    match = _RATE.fullmatch(cleaned)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(
            f"{text!r}: give a number of messages per minute, hour or day, e.g. 20/hour, or off"
        )
    return int(match.group(1)), _PERIODS[match.group(2)]


def parse_networks(text: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """'10.0.0.1, 192.168.0.0/16' → those networks; ValueError naming what is not one."""
    networks = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        try:
            networks.append(ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"{part!r} is not an IP address or network (e.g. 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            if not error["loc"]:
                # A check across variables names them itself.
                lines.append(str(error["msg"]).removeprefix("Value error, "))
                continue
            name = "ADUAN_" + "_".join(str(part) for part in error["loc"]).upper()
            lines.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None
