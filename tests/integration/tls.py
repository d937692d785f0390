"""A self-signed certificate for loopback servers in tests (the `openssl` command).

Clients trust it through `SSL_CERT_FILE`, which `ssl.create_default_context()` reads, so
the code under test verifies certificates exactly as it does in production.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


@dataclass(frozen=True, slots=True)
class Certificate:
    cert: Path
    key: Path


def self_signed(directory: Path) -> Certificate:
    """A certificate for 127.0.0.1 and localhost, valid for two days, in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    made = Certificate(directory / "cert.pem", directory / "key.pem")
    subprocess.run(
        [
            OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(made.key), "-out", str(made.cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    made.key.chmod(0o600)
    return made
