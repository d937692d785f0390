"""Running the real `aduan` command as a subprocess: a clean environment, a free port, and
the log in a file the test can read after the process is gone."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import httpx

REPO = Path(__file__).resolve().parents[2]


def aduan_executable() -> Path:
    """The `aduan` console script of the interpreter running the tests (the project's venv)."""
    for candidate in (Path(sys.prefix) / "bin" / "aduan", REPO / ".venv" / "bin" / "aduan"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("no `aduan` console script: run `make install` first")


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(
    database_url: str, schema: str | None = None, **settings: str | float
) -> dict[str, str]:
    """A minimal environment: no inherited `ADUAN_*` variable, only the ones given here.
    PYTHONPATH passes through, so that the process runs the code the tests import (a
    checkout run with another checkout's venv).

    `settings` are named like the setting (`port=8000` → `ADUAN_PORT=8000`).
    """
    inherited = ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH")
    env = {name: os.environ[name] for name in inherited if name in os.environ}
    env["ADUAN_DATABASE_URL"] = database_url
    if schema:
        env["ADUAN_DATABASE_SCHEMA"] = schema
    env.update({f"ADUAN_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def run_cli(
    *args: str, env: Mapping[str, str], cwd: Path, seconds: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `aduan ARGS…` to completion (at most `seconds`); output as text."""
    return subprocess.run(
        [str(aduan_executable()), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=seconds,
        check=False,
    )


async def upgrade_database(env: Mapping[str, str], cwd: Path) -> None:
    """`aduan db upgrade` off the event loop, failing the test with its output if it fails."""
    done = await asyncio.to_thread(run_cli, "db", "upgrade", env=env, cwd=cwd)
    if done.returncode != 0:
        raise AssertionError(
            f"`aduan db upgrade` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )


class ServiceProcess:
    """One `aduan run` process listening on 127.0.0.1:`port`, its output in `log_path`."""

    def __init__(self, process: subprocess.Popen[bytes], log: IO[bytes], log_path: Path, port: int):
        self.process = process
        self.log_path = log_path
        self.port = port
        self._log = log

    @classmethod
    def start(cls, env: Mapping[str, str], cwd: Path, log_path: Path) -> ServiceProcess:
        """Start `aduan run` on a free port; the caller waits for it with `wait_ready`."""
        port = free_port()
        log = log_path.open("wb")
        process = subprocess.Popen(
            [str(aduan_executable()), "run"],
            env={**env, "ADUAN_HOST": "127.0.0.1", "ADUAN_PORT": str(port)},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return cls(process, log, log_path, port)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    async def wait_ready(self, seconds: float = 30) -> None:
        """Wait until GET /healthz answers 200; fail with the log if the process died first."""
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.returncode is not None:
                    raise AssertionError(
                        f"`aduan run` exited {self.returncode} before it was ready:\n"
                        + self.log_text()
                    )
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"`aduan run` not ready after {seconds} s:\n{self.log_text()}")

    async def wait_exit(self, seconds: float) -> int:
        """The exit code, waiting at most `seconds` (AssertionError if still running)."""
        deadline = time.monotonic() + seconds
        while (code := self.returncode) is None:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"`aduan run` still running {seconds} s later:\n{self.log_text()}"
                )
            await asyncio.sleep(0.05)
        return code

    def send_signal(self, sig: signal.Signals) -> None:
        """Deliver `sig` (SIGTERM, SIGINT …) to the service process."""
        self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or closed by the service."""
        os.kill(self.pid, signal.SIGKILL)

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_events(self) -> list[dict[str, Any]]:
        """The JSON log records, in order (other output lines are skipped)."""
        events = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return events

    def close(self) -> None:
        """Kill the process if it still runs and release the log file (teardown)."""
        if self.returncode is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


class Launcher:
    """Starts `aduan run` processes for one test and kills whatever is left at teardown."""

    def __init__(self, env: Mapping[str, str], cwd: Path) -> None:
        self.env = dict(env)
        self.cwd = cwd
        self._started: list[ServiceProcess] = []

    async def upgrade(self) -> None:
        """`aduan db upgrade` on this launcher's database."""
        await upgrade_database(self.env, self.cwd)

    async def start(self, name: str = "aduan", *, ready: bool = True) -> ServiceProcess:
        """A new `aduan run` (log in cwd/<name>-<n>.log), by default ready to take requests."""
        log_path = self.cwd / f"{name}-{len(self._started) + 1}.log"
        service = ServiceProcess.start(self.env, self.cwd, log_path)
        self._started.append(service)
        if ready:
            await service.wait_ready()
        return service

    def close(self) -> None:
        """Kill every process still running and close their logs."""
        for service in self._started:
            service.close()
