"""A throwaway PostgreSQL cluster of a test's own (`initdb` and `pg_ctl` in a temporary
directory), which the test may stop and restart without touching the machine's server.

PostgreSQL refuses to run as root: under root, every command runs as the `postgres` user
(`runuser`), and the directory is handed to that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.integration.service_process import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
OWNER = "postgres"


def cluster_problem() -> str:
    """Why a cluster cannot be made here, or "" when it can."""
    if not (BIN / "initdb").exists():
        return f"{BIN / 'initdb'} not found (apt-get install postgresql-15)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OWNER)
        except KeyError:
            return f"running as root, and there is no {OWNER!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root, and there is no runuser to run PostgreSQL as postgres"
    return ""


@dataclass
class PgCluster:
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{OWNER}@127.0.0.1:{self.port}/postgres"

    @property
    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @classmethod
    def create(cls, root: Path) -> PgCluster:
        """initdb under `root` (trust authentication on loopback, no sync: it is thrown
        away) and start it on a free port."""
        root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam(OWNER)
            os.chown(root, owner.pw_uid, owner.pw_gid)
        cluster = cls(root, free_port())
        cluster._run(
            BIN / "initdb", "-D", root / "data", "-U", OWNER, "--auth=trust", "--no-sync",
            "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        cluster.start()
        return cluster

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        """Stop (fast: every connection cut, as a crash or failover does to clients) and
        start again on the same port."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "immediate")

    def remove(self) -> None:
        """Stop it if it runs, and delete everything."""
        if (self.root / "data" / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _pg_ctl(self, action: str, *options: str) -> None:
        settings = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c max_connections=60 -c shared_buffers=32MB"
        )
        self._run(
            BIN / "pg_ctl", "-D", self.root / "data", "-l", self.root / "server.log",
            "-o", settings, "-w", "-t", "60", action, *options,
        )  # fmt: skip

    def _run(self, *command: str | Path) -> None:
        args = [str(part) for part in command]
        if os.geteuid() == 0:
            args = ["runuser", "-u", OWNER, "--", *args]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}\n"
                f"{self.log}"
            )
