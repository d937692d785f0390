"""The operator commands of the `aduan` CLI, run as a person would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.bootstrap import Service
from tests.fakes import inbound

ADUAN = str(Path(sys.executable).with_name("aduan"))


def aduan(*args: str, cwd: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "ADUAN_DATABASE_URL": database_url,
        "ADUAN_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [ADUAN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_complaint_show(service: Service, tmp_path: Path) -> None:
    receipt = await service.deliver(inbound("Limbah pabrik tahu dibuang ke sungai Code"))
    assert receipt.reference is not None

    shown = aduan(
        "complaint",
        "show",
        receipt.reference.lower(),
        cwd=tmp_path,
        database_url=service.settings.database_url,
    )
    missing = aduan(
        "complaint", "show", "KKKK-7777", cwd=tmp_path, database_url=service.settings.database_url
    )

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"{receipt.reference}  assigned  DLH (Dinas Lingkungan Hidup)")
    assert "sms:+6281234567890" in shown.stdout
    assert "reply" in shown.stdout and "agency_notice" in shown.stdout
    assert missing.returncode == 1
    assert "no complaint has reference 'KKKK-7777'" in missing.stderr
