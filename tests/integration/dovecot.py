"""A throwaway Dovecot IMAP server for tests: its own config, maildir, sockets and log in a
temporary directory, one static user, IMAP on a free loopback port (plain, with STARTTLS
offered) and IMAPS on another, under a self-signed certificate (`Dovecot.certificate`).

Dovecot must start as root (it drops to `nobody` for mail and to `dovenull` for logins);
`start_dovecot` says why it cannot run, and the fixture skips (or fails in CI) on that.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aioimaplib
import pytest

from tests.conftest import need_service
from tests.integration.tls import Certificate, self_signed

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER = "aduan@kota.example.go.id"
PASSWORD = "rahasia-uji"


@dataclass(frozen=True, slots=True)
class Dovecot:
    host: str
    port: int
    user: str
    password: str
    root: Path
    tls_port: int
    certificate: Certificate

    @property
    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def dovecot_problem() -> str:
    """Why Dovecot cannot run here, or "" when it can."""
    if not Path(DOVECOT).exists():
        return f"{DOVECOT} not found (apt-get install dovecot-imapd)"
    if os.geteuid() != 0:
        return "Dovecot must be started as root to switch to its own users"
    for name in ("nobody", "dovenull", "dovecot"):
        try:
            __import__("pwd").getpwnam(name)
        except KeyError:
            return f"the system user {name!r} Dovecot runs as does not exist"
    return ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _config(
    root: Path, port: int, tls_port: int, uid: int, gid: int, capability: str | None
) -> str:
    # Every path inside `root`; logins as dovenull (imap-login refuses root), mail as nobody.
    offered = f"imap_capability = {capability}" if capability else ""
    return f"""{offered}
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/tls/cert.pem
ssl_key = <{root}/tls/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{root}/mail/%u
mail_max_userip_connections = 50
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
"""


def start_dovecot(root: Path, *, capability: str | None = None) -> Dovecot:
    """Start a Dovecot under `root`; `capability` replaces what it offers after login (as a
    server without IDLE or MOVE would)."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    port, tls_port = _free_port(), _free_port()
    while tls_port == port:
        tls_port = _free_port()
    certificate = self_signed(root / "tls")
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for sub in ("mail", "home"):
        os.chown(root / sub, nobody.pw_uid, nobody.pw_gid)
    # Mail is nobody's: it must reach its maildir through the temporary directories.
    os.chmod(root, 0o755)
    config = root / "dovecot.conf"
    config.write_text(_config(root, port, tls_port, nobody.pw_uid, nobody.pw_gid, capability))
    server = Dovecot("127.0.0.1", port, USER, PASSWORD, root, tls_port, certificate)
    # Its daemons inherit stdout and stderr: a file, not a pipe that would never close.
    with (root / "start.out").open("wb") as out:
        done = subprocess.run(
            [DOVECOT, "-c", str(config)], stdout=out, stderr=out, timeout=30, check=False
        )
    if done.returncode != 0:
        said = (root / "start.out").read_text(errors="replace")
        raise RuntimeError(f"dovecot did not start: {said}\n{server.log}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            for listening in (port, tls_port):
                socket.create_connection(("127.0.0.1", listening), 1).close()
            return server
        time.sleep(0.05)
    stop_dovecot(server)
    raise RuntimeError(f"dovecot did not listen on {port}:\n{server.log}")


def stop_dovecot(server: Dovecot) -> None:
    """Kill the server and all its processes at once. It is thrown away with its mail; asked
    to stop, its master takes 2 to 8 s to wind down the processes it started."""
    pid_file = server.root / "run" / "master.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    try:
        running = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if b"dovecot" not in running:
        return  # it died long ago; its number now names another process, not ours to kill
    # The master leads its own process group (it detaches): its children are in it too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    """Whether `pid` still runs: a dead process the system has not reaped yet does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextlib.asynccontextmanager
async def imap(server: Dovecot, user: str | None = None) -> AsyncIterator[aioimaplib.IMAP4]:
    """A logged-in client (Dovecot allows a user few connections: always logged out)."""
    client = aioimaplib.IMAP4(server.host, server.port, timeout=30)
    await client.wait_hello_from_server()
    response = await client.login(user or server.user, server.password)
    if response.result != "OK":
        raise RuntimeError(f"login refused: {response.lines}")
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.logout()


# What one APPEND command carries at most: a few hundred messages, a few megabytes.
_APPEND_BATCH = 500
_APPEND_BYTES = 16 * 1024 * 1024


async def append_all(
    server: Dovecot, messages: Sequence[bytes], *, folder: str = "INBOX", user: str | None = None
) -> None:
    """APPEND every message, in order, over one connection.

    Dovecot takes several messages in one APPEND (MULTIAPPEND, RFC 3502, with LITERAL+
    literals): a backlog of thousands is put in place in seconds rather than a minute of
    round trips, whatever capabilities the server was told to advertise to our reader.
    """
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        await reader.readline()  # the greeting
        await _command(
            reader, writer, f'a LOGIN "{user or server.user}" "{server.password}"'.encode()
        )
        for batch in _batches(messages):
            literals = b"".join(b" {%d+}\r\n%s" % (len(raw), raw) for raw in batch)
            await _command(reader, writer, f"b APPEND {folder}".encode() + literals)
        await _command(reader, writer, b"z LOGOUT")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _batches(messages: Sequence[bytes]) -> Iterator[Sequence[bytes]]:
    start = 0
    while start < len(messages):
        end, size = start, 0
        while (
            end < len(messages)
            and end - start < _APPEND_BATCH
            and (end == start or size + len(messages[end]) <= _APPEND_BYTES)
        ):
            size += len(messages[end])
            end += 1
        yield messages[start:end]
        start = end


async def _command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> None:
    """Send one tagged command and wait for its tagged answer, which must be OK."""
    tag = line.split(b" ", 1)[0]
    writer.write(line + b"\r\n")
    await writer.drain()
    said: list[bytes] = []
    while True:
        answer = await asyncio.wait_for(reader.readline(), 60)
        if not answer:
            raise RuntimeError(f"the IMAP server closed the connection: {said}")
        said.append(answer)
        if answer.startswith(tag + b" "):
            if not answer.startswith(tag + b" OK"):
                raise RuntimeError(f"{line[:60]!r} refused: {said}")
            return


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot for the session; each test reads its own user's mailbox (`mailbox_user`)."""
    yield from _running()


# What an old or minimal server offers: no IDLE (the reader polls), no MOVE (COPY, then
# \Deleted and EXPUNGE).
MINIMAL_CAPABILITY = "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE UIDPLUS"


@pytest.fixture(scope="session")
def minimal_dovecot() -> Iterator[Dovecot]:
    """A Dovecot that offers neither IDLE nor MOVE."""
    yield from _running(MINIMAL_CAPABILITY)


def _running(capability: str | None = None) -> Iterator[Dovecot]:
    problem = dovecot_problem()
    if problem:
        need_service("Dovecot", problem)
    root = Path(tempfile.mkdtemp(prefix="aduan-dovecot-"))
    try:
        server = start_dovecot(root, capability=capability)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        need_service("Dovecot", str(exc))
    try:
        yield server
    finally:
        stop_dovecot(server)
        shutil.rmtree(root, ignore_errors=True)


def mailbox_user() -> str:
    """A user nobody else has: the static userdb gives every name its own empty maildir."""
    return f"t{uuid.uuid4().hex[:12]}@kota.example.go.id"
