"""`aduan email parse FILE.eml`, run as an operator runs it: JSON out, the exit code says
what intake would make of the message, and no traceback for any bytes."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.service_process import clean_env, run_cli
from tests.integration.test_cli_imports import SERVICE_ONLY

DATA = Path(__file__).parents[1] / "data" / "email"


def parse(
    file: Path, tmp_path: Path, max_bytes: int | None = None
) -> subprocess.CompletedProcess[str]:
    # No database is needed: the URL points at a file that is never created.
    env = clean_env(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    if max_bytes is not None:
        env["ADUAN_EMAIL_MAX_BYTES"] = str(max_bytes)
    return run_cli("email", "parse", str(file), env=env, cwd=tmp_path)


def test_a_reply_is_shown_as_intake_receives_it(tmp_path: Path) -> None:
    done = parse(DATA / "gmail_reply_id.eml", tmp_path)

    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["sender"] == "siti.nurhaliza@gmail.com"
    assert shown["display_name"] == "Siti Núrhaliza"
    assert shown["text"].endswith("Salam,\nSiti")
    assert "menulis:" in shown["original_text"]
    assert shown["continues"] == {
        "thread_keys": [
            "<aduan.K7QD-4XMP.ack.1@aduan.kota.go.id>",
            "<CAF=ab12cd34ef56@mail.gmail.com>",
        ],
        "subject_reference": "K7QD-4XMP",
    }
    assert not (tmp_path / "unused.db").exists()


def test_attachments_and_dropped_files_listed(tmp_path: Path) -> None:
    photo = json.loads(parse(DATA / "ios_inline_image.eml", tmp_path).stdout)
    tnef = json.loads(parse(DATA / "tnef_winmail.eml", tmp_path).stdout)

    assert photo["attachments"] == [{"name": "IMG_4821.jpeg", "type": "image/jpeg", "size": 127}]
    assert tnef["attachments"] == [] and tnef["dropped"] == ["winmail.dat (application/ms-tnef)"]


def test_refused_and_reports_exit_1(tmp_path: Path) -> None:
    vacation = parse(DATA / "vacation.eml", tmp_path)
    bounce = parse(DATA / "dsn_postfix.eml", tmp_path)

    assert vacation.returncode == 1
    assert json.loads(vacation.stdout)["refused"] == (
        "an automatic message (Auto-Submitted: auto-replied)"
    )
    assert bounce.returncode == 1
    assert json.loads(bounce.stdout)["delivery_report"]["about"] == (
        "<aduan.K7QD-4XMP.ack.1@aduan.kota.go.id>"
    )


def test_the_size_limit_is_the_setting(tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    big.write_bytes((DATA / "thunderbird_flowed.eml").read_bytes() + b"x" * 200_000)

    done = parse(big, tmp_path, max_bytes=64 * 1024)

    assert done.returncode == 1
    assert json.loads(done.stdout)["refused"].startswith("larger than")


def test_missing_or_unreadable_file_exits_2(tmp_path: Path) -> None:
    missing = parse(tmp_path / "nope.eml", tmp_path)
    folder = parse(tmp_path, tmp_path)

    assert (missing.returncode, folder.returncode) == (2, 2)
    assert "cannot read" in missing.stderr and "No such file" in missing.stderr
    assert "Traceback" not in missing.stderr + folder.stderr


@pytest.mark.parametrize("seed", range(3))
def test_no_traceback_for_any_bytes(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    raw = bytearray((DATA / rng.choice(sorted(p.name for p in DATA.glob("*.eml")))).read_bytes())
    for _ in range(20):
        at = rng.randrange(len(raw))
        raw[at : at + rng.randint(0, 8)] = bytes(rng.getrandbits(8) for _ in range(4))
    for index, content in enumerate((bytes(raw), b"", b"\x00\xff" * 999)):
        file = tmp_path / f"{index}.eml"
        file.write_bytes(content)

        done = parse(file, tmp_path)

        assert done.returncode in (0, 1), done.stderr
        assert "Traceback" not in done.stderr
        json.loads(done.stdout)


_LIST_MODULES = """
import json, sys
from bot.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({m.partition(".")[0] for m in sys.modules})))
"""


def test_parse_imports_none_of_the_service(tmp_path: Path) -> None:
    env = clean_env(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    done = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, "email", "parse", str(DATA / "outlook_id.eml")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    modules = set(json.loads(done.stdout.splitlines()[-1]))
    assert modules.isdisjoint(SERVICE_ONLY | {"sqlalchemy", "sqlmodel"}), sorted(
        modules & (SERVICE_ONLY | {"sqlalchemy", "sqlmodel"})
    )
