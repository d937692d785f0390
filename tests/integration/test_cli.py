"""The operator commands of the `aduan` CLI, run as a person would run them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.bootstrap import Service
from channels.base import Location
from tests.fakes import inbound
from tests.integration.service_process import clean_env, run_cli


def aduan(
    *args: str, cwd: Path, database_url: str, schema: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=clean_env(database_url, schema, log_level="WARNING"), cwd=cwd)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_complaint_show(service: Service, tmp_path: Path) -> None:
    receipt = await service.deliver(
        inbound(
            "Limbah pabrik tahu dibuang ke sungai Code",
            location=Location(description="Jembatan Gondolayu", latitude=-7.78, longitude=110.37),
        )
    )
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
    assert "  place     Jembatan Gondolayu (-7.78, 110.37)" in shown.stdout
    assert "  answered  -, closed -" in shown.stdout
    assert missing.returncode == 1
    assert "no complaint has reference 'KKKK-7777'" in missing.stderr


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_what_residents_wrote_reaches_the_terminal_escaped(
    service: Service, tmp_path: Path
) -> None:
    receipt = await service.deliver(inbound("Limbah pabrik tahu dibuang ke sungai Code"))
    assert receipt.reference is not None
    # Rows stored before fields were cleaned at the edge still hold control sequences.
    async with service.uow() as uow:
        complaint = await uow.complaints.by_reference(receipt.reference)
        assert complaint is not None
        resident = await uow.residents.get(complaint.resident_id)
        assert resident is not None
        resident.display_name = "Siti\x1b[2J\x1b]0;pwned\x07"
        complaint.routing_explanation = "asap \u202egnirts\u202c"
        await uow.commit()

    shown = aduan(
        "complaint",
        "show",
        receipt.reference,
        cwd=tmp_path,
        database_url=service.settings.database_url,
    )

    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\u202e" not in shown.stdout
    assert "(Siti\\x1b[2J\\x1b]0;pwned\\x07)" in shown.stdout
    assert "asap \\u202egnirts\\u202c" in shown.stdout


BAD_RULES = """\
fallback: DISKOMINFO
rules:
  - id: lampu
    agency: DISHUBX
    any: [lampu]
  - id: got
    agency: PUPR
    regex: ['(']
"""

NEW_RULES = """\
fallback: DISKOMINFO
rules:
  - id: lampu
    agency: PUPR
    any: [lampu, tiang]
  - id: sampah
    agency: DLH
    any: [sampah]
"""


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_rules_commands(service: Service, tmp_path: Path) -> None:
    url = service.settings.database_url
    for number, text in enumerate(("Lampu jalan mati di gang 5", "Sampah menumpuk di pasar")):
        await service.deliver(inbound(text, sender=f"+62812000000{number}"))
    bad, new = tmp_path / "bad.yaml", tmp_path / "new.yaml"
    bad.write_text(BAD_RULES, encoding="utf-8")
    new.write_text(NEW_RULES, encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return aduan("rules", *args, cwd=tmp_path, database_url=url)

    checked = run("check", str(bad))
    assert checked.returncode == 1
    assert checked.stderr.splitlines() == [
        f"{bad}:4: error: rule 'lampu': agency: unknown agency 'DISHUBX' (known: BPBD, DINKES, "
        "DINSOS, DISDIK, DISDUKCAPIL, DISHUB, DISKOMINFO, DLH, PDAM, PUPR, SATPOLPP)",
        f"{bad}:8: error: rule 'got': bad regular expression '(': missing ), unterminated "
        "subpattern at position 0",
    ]
    assert (
        run("check", str(new)).stdout.strip() == f"{new}: 2 rules, 3 terms, 0 warnings, no errors"
    )

    tested = run("test", "Tiang listrik miring bgt", "--file", str(new))
    assert tested.stdout.splitlines()[:2] == [
        "PUPR  Dinas Pekerjaan Umum dan Penataan Ruang",
        f"rule      lampu (rules {new})",
    ]

    impact = run(
        "impact", str(new), "--since", "90d"
    )  # the fake clock filed them in early November
    assert impact.returncode == 0, impact.stderr
    assert "replayed 2 complaints of the last 90d against the rules in force (v1)" in impact.stdout
    assert "1 would go to a different agency" in impact.stdout
    assert "DISHUB → PUPR" in impact.stdout

    applied = run("apply", str(new), "--author", "rina", "-m", "lamps to PUPR")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines()[-1] == "applied as version 2 (was 1)"
    assert run("apply", str(new), "--author", "rina").stderr.strip() == (
        "error: these rules are identical to version 2, which is in force"
    )
    history = run("history").stdout.splitlines()
    assert (
        history[0].startswith("v2 ")
        and "rina" in history[0]
        and history[0].endswith("lamps to PUPR")
    )
    assert "~ sampah" not in run("diff", "1", "2").stdout
    assert run("export").stdout == NEW_RULES
    assert (
        run("rollback", "1", "--author", "budi").stdout.strip()
        == "version 1 is back in force as version 3"
    )
    assert run("rollback", "9").stderr.strip().startswith("error: there is no rule set version 9")

    stats = run("stats").stdout.splitlines()
    assert stats[0].split() == ["rule", "routed", "transferred", "rate"]
    assert len(stats) == 3


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_officers_commands(service: Service, tmp_path: Path) -> None:
    url = service.settings.database_url
    added = aduan(
        "officers",
        "add",
        "--agency",
        "DLH",
        "--name",
        "Sari",
        "--role",
        "supervisor",
        cwd=tmp_path,
        database_url=url,
    )
    group = aduan("officers", "link-group", "DLH", cwd=tmp_path, database_url=url)
    unknown = aduan(
        "officers", "add", "--agency", "NOPE", "--name", "X", cwd=tmp_path, database_url=url
    )

    assert added.returncode == 0, added.stderr
    assert re.fullmatch(
        r"Sari \(supervisor\) added to DLH as officer \d+\.", added.stdout.splitlines()[0]
    )
    assert added.stdout.splitlines()[-1].startswith("  /link ")
    assert group.stdout.splitlines()[-1].startswith("  /link ")
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1,
        "error: Tidak ada instansi dengan kode 'NOPE'.",
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_block_commands(service: Service, tmp_path: Path) -> None:
    url = service.settings.database_url

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return aduan("block", *args, cwd=tmp_path, database_url=url)

    added = run("add", "sms", "0812 3456 7890", "--reason", "flood", "--admin", "rina")
    again = run("add", "sms", "+6281234567890", "--reason", "flood")
    bad = run("add", "sms", "12345", "--reason", "flood")
    no_reason = run("add", "email", "spam@example.com")
    listed = run("list")
    removed = run("remove", "sms", "+62 812-3456-7890", "--admin", "rina")
    not_blocked = run("remove", "sms", "+6281234567890")

    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "blocked sms +6281234567890: flood"
    assert again.returncode == 1
    assert again.stderr.startswith("error: sms +6281234567890 is already blocked (since ")
    assert again.stderr.rstrip().endswith("by rina: flood)")
    assert (bad.returncode, bad.stderr.strip()) == (
        1,
        "error: '12345': this phone number is not valid",
    )
    assert no_reason.returncode == 2 and "Missing option '--reason'" in no_reason.stderr
    assert listed.stdout.split()[:2] == ["sms", "+6281234567890"]
    assert listed.stdout.rstrip().endswith("by rina: flood")
    assert removed.stdout.strip() == "unblocked sms +6281234567890"
    assert (not_blocked.returncode, not_blocked.stderr.strip()) == (
        1,
        "error: sms +6281234567890 is not blocked",
    )
    assert run("list").stdout.strip() == "no blocked addresses"


def test_a_command_where_there_is_no_database_says_so_and_creates_nothing(tmp_path: Path) -> None:
    done = aduan(
        "rules", "history", cwd=tmp_path, database_url="sqlite+aiosqlite:///./data/aduan.db"
    )

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: there is no database at ./data/aduan.db: run `aduan db upgrade` to create it, "
        "or point ADUAN_DATABASE_URL at yours"
    ]
    assert not (tmp_path / "data").exists()


def test_a_command_on_a_database_without_our_tables_says_to_upgrade(tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "other.db").close()  # an empty file, someone else's
    done = aduan("rules", "history", cwd=tmp_path, database_url="sqlite+aiosqlite:///other.db")

    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: the database has not got aduan's tables") and (
        "run `aduan db upgrade`" in line
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_command_on_an_older_release_s_tables_says_to_upgrade(
    service: Service, tmp_path: Path
) -> None:
    filed = await service.deliver(inbound("Limbah pabrik tahu dibuang ke sungai Code"))
    async with service.engine.begin() as connection:
        # As a release before migration 0017 left it (its index goes with it).
        await connection.execute(sa.text("DROP INDEX ix_complaints_to_expire"))
        await connection.execute(sa.text("ALTER TABLE complaints DROP COLUMN expired_at"))

    done = aduan(
        "complaint",
        "show",
        filed.reference or "",
        cwd=tmp_path,
        database_url=service.settings.database_url,
    )

    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: the database's tables are older than this release")
    assert line.endswith("run `aduan db upgrade`")
