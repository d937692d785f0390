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
    tail = events[-5:]
    assert "service stopped" in tail, log
    assert tail[-1].startswith("Finished server process"), log
    # Stopped taking requests first, then the service, then the process.
    assert (
        events.index("Shutting down")
        < events.index("service stopped")
        < events.index("Application shutdown complete.")
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
    [("ADUAN_PORT", "notanumber"), ("ADUAN_TIMEZONE", "Mars/Base")],
    ids=["port", "timezone"],
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
