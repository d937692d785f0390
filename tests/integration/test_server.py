"""`aduan run` as operators start it: a real process, stopped by a signal, refusing to start
on an unmigrated database or a bad setting."""

from __future__ import annotations

import base64
import signal
import sqlite3
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from bot.cli.log_setup import written_forms
from tests.fakes.telegram_api import FakeBotApi, TgChat, TgUser, running_fake_bot_api
from tests.fakes.twilio_api import FakeTwilioApi, running_fake_twilio, signed_headers
from tests.integration.dovecot import Dovecot, append_all, dovecot, mailbox_user
from tests.integration.service_process import Launcher, ServiceProcess, clean_env, run_cli
from tests.integration.smtp_sink import SinkTls, SmtpSink, running_smtp_sink
from tests.integration.tls import self_signed

__all__ = ["dovecot"]  # the session's Dovecot, a fixture

SHUTDOWN_SECONDS = 10


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "aduan.db"


@pytest.fixture
def launcher(tmp_path: Path, db_path: Path) -> Iterator[Launcher]:
    """Processes on a SQLite file in tmp_path, run with tmp_path as cwd (so no `.env`)."""
    launcher = Launcher(clean_env(_sqlite_url(db_path)), tmp_path)
    yield launcher
    launcher.close()


def _events(records: list[dict[str, Any]]) -> list[str]:
    return [str(record.get("event", "")) for record in records]


def _stored_references(db_path: Path) -> list[str]:
    """References in the complaints table, read with the standard library after shutdown."""
    with sqlite3.connect(db_path) as connection:
        return [row[0] for row in connection.execute("SELECT reference FROM complaints")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_stop_signal_shuts_down_cleanly(
    launcher: Launcher, db_path: Path, sig: signal.Signals
) -> None:
    await launcher.upgrade()
    service = await launcher.start()
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        filed = await client.post(
            "/api/complaints",
            json={"text": "Lampu jalan di Jl. Mawar mati sejak Senin", "contact": "0812 3456 7890"},
            headers={"Idempotency-Key": "server-test-1"},
        )
    assert filed.status_code == 201, filed.text
    reference = filed.json()["reference"]

    service.send_signal(sig)
    code = await service.wait_exit(SHUTDOWN_SECONDS)

    log = service.log_text()
    assert code == 0, log
    records = service.log_events()
    events = _events(records)
    # Stopped taking requests first (the web server finishes), then the service.
    assert events[-1] == "service stopped", log
    assert (
        events.index("Shutting down")
        < next(i for i, e in enumerate(events) if e.startswith("Finished server process"))
        < events.index("service stopped")
    ), log
    assert not [r for r in records if r.get("level") in {"error", "critical"}], log
    assert "Traceback" not in log
    assert _stored_references(db_path) == [reference]


async def test_a_forwarded_for_header_counts_only_from_the_trusted_proxies(
    launcher: Launcher,
) -> None:
    """The web server itself reads no X-Forwarded-For: with ADUAN_TRUSTED_PROXIES unset, a
    client on the same host cannot pose as many to get past the posts-per-address limit."""
    launcher.env["ADUAN_WEB_POSTS_PER_IP"] = "2/hour"
    await launcher.upgrade()
    service = await launcher.start()
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        answers = [
            await client.post(
                "/api/complaints",
                json={"text": f"Lampu jalan di Jl. Kenari {number} mati sejak Senin"},
                headers={"X-Forwarded-For": f"10.0.0.{number}"},
            )
            for number in range(3)
        ]
    assert [answer.status_code for answer in answers] == [201, 201, 429], answers[-1].text


def test_run_on_unmigrated_database_tells_to_upgrade(launcher: Launcher) -> None:
    done = run_cli("run", env=launcher.env, cwd=launcher.cwd, seconds=30)

    assert done.returncode != 0
    assert "run `aduan db upgrade`" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert "Uvicorn running" not in done.stderr + done.stdout


@pytest.mark.parametrize("command", [["run"], ["db", "upgrade"]], ids=["run", "db-upgrade"])
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ADUAN_PORT", "notanumber"),
        ("ADUAN_TIMEZONE", "Mars/Base"),
        ("ADUAN_TELEGRAM_API_BASE", "http://127.0.0.1:9/"),
    ],
    ids=["port", "timezone", "telegram-api-base"],
)
def test_bad_setting_exits_2_naming_the_variable(
    launcher: Launcher, db_path: Path, command: list[str], variable: str, value: str
) -> None:
    env = {**launcher.env, variable: value}
    done = run_cli(*command, env=env, cwd=launcher.cwd, seconds=30)

    assert done.returncode == 2, done.stderr
    assert f"{variable}:" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not db_path.exists(), "a bad setting must stop the CLI before it opens the database"


# Secrets as operators write them, with the characters logs and URLs escape.
SECRET_KEY = 'kunci-rahasia-kota-"0123456789"\\abcdefghij'
DATABASE_PASSWORD = 'pg-"sandi"@rahasia/kota'
SMTP_USER, SMTP_PASSWORD = "aduan", 'sandi-smtp-"rahasia"\\kota'
METRICS_TOKEN = "metrik-rahasia-0123456789abcdef"
WEBHOOK_SECRET = "rahasia_webhook-telegram-0123456789"
TWILIO_AUTH_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
RESIDENT_PHONE = "+6281234567890"


def _basic_auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_secrets_never_reach_the_log_even_at_debug_level(
    tmp_path: Path, database: tuple[str, str | None], dovecot: Dovecot
) -> None:
    url, schema = database
    with_password = url.replace("postgres@", f"postgres:{quote(DATABASE_PASSWORD, safe='')}@", 1)
    assert with_password != url, url
    resident = TgUser(42, "Siti")
    mailbox = mailbox_user()
    tls = SinkTls(self_signed(tmp_path / "tls"), implicit=False, auth=(SMTP_USER, SMTP_PASSWORD))
    async with (
        running_fake_bot_api() as api,
        running_fake_twilio(auth_token=TWILIO_AUTH_TOKEN) as twilio,
        running_smtp_sink(tls=tls) as smtp,
    ):
        api.add_chat(TgChat.private(resident))
        env = clean_env(
            with_password,
            schema,
            telegram_token=api.token,
            telegram_api_base=api.base_url,
            telegram_webhook_secret=WEBHOOK_SECRET,
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=TWILIO_AUTH_TOKEN,
            twilio_from="+15005550006",
            twilio_api_base=twilio.base_url,
            imap_host=dovecot.host,
            imap_port=dovecot.port,
            imap_tls="none",
            imap_user=mailbox,
            imap_password=dovecot.password,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_tls="starttls",
            smtp_user=SMTP_USER,
            smtp_password=SMTP_PASSWORD,
            email_from="Pengaduan Kota <aduan@kota.example.go.id>",
            metrics_token=METRICS_TOKEN,
            secret_key=SECRET_KEY,
            log_level="DEBUG",
        )
        env["SSL_CERT_FILE"] = str(tls.certificate.cert)
        launcher = Launcher(env, tmp_path)
        try:
            await launcher.upgrade()
            service = await launcher.start()
            await _traffic_on_every_channel(service, api, twilio, smtp, dovecot, mailbox, resident)
            service.send_signal(signal.SIGTERM)
            assert await service.wait_exit(SHUTDOWN_SECONDS) == 0
            log = service.log_text()
        finally:
            launcher.close()
    assert "sendMessage" in log or "telegram" in log.lower()
    secrets = {
        "telegram token": api.token,
        "telegram token's secret half": api.token.split(":")[1],
        "telegram webhook secret": WEBHOOK_SECRET,
        "twilio auth token": TWILIO_AUTH_TOKEN,
        "twilio basic auth": _basic_auth(twilio.account_sid, TWILIO_AUTH_TOKEN),
        "imap password": dovecot.password,
        "smtp password": SMTP_PASSWORD,
        "smtp AUTH PLAIN": base64.b64encode(f"\0{SMTP_USER}\0{SMTP_PASSWORD}".encode()).decode(),
        "smtp AUTH LOGIN": base64.b64encode(SMTP_PASSWORD.encode()).decode(),
        "database password": DATABASE_PASSWORD,
        "metrics token": METRICS_TOKEN,
        "secret key": SECRET_KEY,
    }
    leaked = {
        what: form
        for what, secret in secrets.items()
        for form in written_forms(secret)
        if form in log
    }
    assert not leaked, leaked


async def _traffic_on_every_channel(
    service: ServiceProcess,
    api: FakeBotApi,
    twilio: FakeTwilioApi,
    smtp: SmtpSink,
    dovecot: Dovecot,
    mailbox: str,
    resident: TgUser,
) -> None:
    """A complaint on each channel, each answered through its provider, and /metrics read."""
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        filed = await client.post(
            "/api/complaints",
            json={"text": "Lampu jalan di Jl. Mawar mati sejak Senin", "contact": RESIDENT_PHONE},
        )
        assert filed.status_code == 201, filed.text
        tracked = await client.get(filed.json()["tracking_url"])
        assert tracked.status_code == 200
        params = {
            "MessageSid": "SM" + "1" * 32,
            "AccountSid": twilio.account_sid,
            "From": RESIDENT_PHONE,
            "To": "+15005550006",
            "Body": "Sampah menumpuk di TPS Jl. Melati",
            "NumMedia": "0",
        }
        path = "/webhooks/twilio/sms"
        sms = await client.post(
            path,
            data=params,
            headers=signed_headers(service.base_url + path, params, TWILIO_AUTH_TOKEN),
        )
        assert sms.status_code == 200, sms.text
        await twilio.wait_for_message(lambda m: m.to == RESIDENT_PHONE, timeout=30)
        await api.wait_for_call("setWebhook", timeout=30)
        pushed = await api.deliver_webhook(
            api.text_message(resident, "Jalan berlubang di Jl. Kenanga")
        )
        assert pushed.status_code == 200, pushed.text
        await api.wait_for_sent(lambda m: m.chat_id == resident.id, timeout=30)
        mail = EmailMessage()
        mail["From"], mail["To"] = "Budi <budi@mail.example.com>", mailbox
        mail["Subject"], mail["Message-ID"] = "Banjir", "<secrets-1@mail.example.com>"
        mail.set_content("Saluran air tersumbat di Jl. Anggrek, banjir tiap hujan.")
        await append_all(dovecot, [mail.as_bytes()], user=mailbox)
        await smtp.wait_for(lambda m: "budi@mail.example.com" in str(m["To"]), seconds=60)
        metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert metrics.status_code == 200, metrics.text


async def test_a_channel_that_cannot_start_is_one_line_and_a_non_zero_exit(
    launcher: Launcher,
) -> None:
    await launcher.upgrade()
    env = {
        **launcher.env,
        "ADUAN_TELEGRAM_TOKEN": "7012345678:AAFakeTokenForAduanTests-0123456789ab",
        "ADUAN_TELEGRAM_API_BASE": "http://127.0.0.1:9/bot",  # nothing listens there
    }
    done = run_cli("run", env=env, cwd=launcher.cwd, seconds=60)

    assert done.returncode == 1, done.stderr
    assert "error: Telegram's Bot API at http://127.0.0.1:9/bot did not answer" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "AAFakeTokenForAduanTests" not in done.stderr + done.stdout
    assert "Uvicorn running" not in done.stderr + done.stdout
