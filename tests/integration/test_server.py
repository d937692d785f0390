"""`aduan run` as operators start it: a real process, stopped by a signal, refusing to start
on an unmigrated database or a bad setting."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.telegram_api import TgChat, TgUser, running_fake_bot_api
from tests.integration.service_process import Launcher, clean_env, run_cli

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


async def test_secrets_never_reach_the_log_even_at_debug_level(
    tmp_path: Path, db_path: Path
) -> None:
    secret_key = "kunci-rahasia-kota-0123456789abcdefghij"
    resident = TgUser(42, "Siti")
    async with running_fake_bot_api() as api:
        api.add_chat(TgChat.private(resident))
        env = clean_env(
            _sqlite_url(db_path),
            telegram_token=api.token,
            telegram_api_base=api.base_url,
            telegram_poll_timeout=1,
            secret_key=secret_key,
            log_level="DEBUG",
        )
        launcher = Launcher(env, tmp_path)
        try:
            await launcher.upgrade()
            service = await launcher.start()
            api.push_update(api.text_message(resident, "Lampu jalan di Jl. Mawar mati"))
            await api.wait_for_sent(lambda m: m.chat_id == resident.id, timeout=30)
            service.send_signal(signal.SIGTERM)
            assert await service.wait_exit(SHUTDOWN_SECONDS) == 0
            log = service.log_text()
        finally:
            launcher.close()
    assert "getUpdates" in log or "sendMessage" in log or "telegram" in log.lower()
    for secret in (api.token, api.token.split(":")[1], secret_key):
        assert secret not in log


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
