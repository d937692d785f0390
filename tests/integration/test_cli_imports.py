"""A command imports what it uses: `aduan --help` and `aduan rules test` answer quickly
because they never import the web app, the channels' clients, the scheduler or Alembic.

Checked on the modules a fresh interpreter holds after the command, not on its run time, so
the test means the same on a busy machine as on a quiet one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.bootstrap import Service
from tests.integration.service_process import clean_env

# What only `aduan run` and the commands that need the whole service may import.
SERVICE_ONLY = frozenset(
    {"aiohttp", "alembic", "apscheduler", "fastapi", "starlette", "telegram", "twilio", "uvicorn"}
)

_RUN_AND_LIST_MODULES = """
import json, sys
from bot.cli.main import app
code = 0
try:
    app(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print(json.dumps({"exit": code, "modules": sorted({m.partition(".")[0] for m in sys.modules})}))
"""


def _command(*args: str, env: dict[str, str], cwd: Path) -> tuple[str, set[str]]:
    """Run `aduan ARGS…` in a fresh interpreter: its output, and the top-level packages it
    had imported by the end."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    *output, last = done.stdout.splitlines()
    report = json.loads(last)
    assert report["exit"] in (0, None), done.stdout + done.stderr
    return "\n".join(output), set(report["modules"])


def test_help_imports_neither_the_service_nor_storage(tmp_path: Path) -> None:
    env = clean_env(f"sqlite+aiosqlite:///{tmp_path / 'aduan.db'}")

    output, modules = _command("--help", env=env, cwd=tmp_path)

    assert "rules" in output and "officers" in output
    assert modules.isdisjoint(SERVICE_ONLY | {"sqlalchemy", "sqlmodel"}), sorted(
        modules & (SERVICE_ONLY | {"sqlalchemy", "sqlmodel"})
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_rules_test_imports_none_of_the_service(service: Service, tmp_path: Path) -> None:
    env = clean_env(service.settings.database_url, log_level="WARNING")

    output, modules = _command("rules", "test", "asap pabrik", env=env, cwd=tmp_path)

    assert output.startswith("DLH  Dinas Lingkungan Hidup"), output
    assert modules.isdisjoint(SERVICE_ONLY), sorted(modules & SERVICE_ONLY)
