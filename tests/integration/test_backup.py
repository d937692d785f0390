"""`aduan db backup` and `aduan db restore`, run as processes on the database the service
has open: a backup taken while it runs, then a loss, then the backup restored."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import asyncpg
import pytest

from bot.bootstrap import Service
from storage.models import Complaint
from tests.conftest import PG_URL
from tests.fakes import inbound
from tests.integration.db import rows
from tests.integration.service_process import clean_env, run_cli


async def _file(service: Service, *texts: str) -> list[str]:
    references = []
    for number, text in enumerate(texts):
        filed = await service.deliver(inbound(text, sender=f"+62812555000{len(texts)}{number}"))
        assert filed.reference
        references.append(filed.reference)
    return references


async def _references(service: Service) -> list[str]:
    return sorted(c.reference for c in await rows(service, Complaint))


def _db(service: Service, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(
        service.settings.database_url, service.settings.database_schema, log_level="WARNING"
    )
    return run_cli("db", *args, env=env, cwd=tmp_path)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sqlite_backup_while_served_and_restore(service: Service, tmp_path: Path) -> None:
    kept = await _file(service, "Lampu jalan di Jl. Mawar mati", "Sampah menumpuk di pasar")
    saved = tmp_path / "backup" / "aduan.db"
    saved.parent.mkdir()

    # The service's engine has the database open throughout, as a running service does.
    backed_up = await asyncio.to_thread(_db, service, tmp_path, "backup", str(saved))
    [lost] = await _file(service, "Got mampet di gang 3")
    refused = await asyncio.to_thread(_db, service, tmp_path, "restore", str(saved))
    forced = await asyncio.to_thread(_db, service, tmp_path, "restore", str(saved), "--force")
    seen_by_the_service = await _references(service)
    await service.engine.dispose()  # the service stops
    again = await asyncio.to_thread(_db, service, tmp_path, "restore", str(saved))

    assert backed_up.returncode == 0, backed_up.stderr
    assert backed_up.stdout.startswith(f"backed up {tmp_path / 'aduan.db'} to {saved} (")
    assert [p.name for p in saved.parent.iterdir()] == ["aduan.db"]  # one file, no -wal
    with closing(sqlite3.connect(saved)) as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"error: {tmp_path / 'aduan.db'} is open in another process (a running `aduan run`?): "
        "stop it first, or restore under it with --force and restart it afterwards\n"
    )
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.splitlines() == [
        f"restored {tmp_path / 'aduan.db'} from {saved}",
        "it was open in another process: restart the service so that it starts afresh",
    ]
    assert seen_by_the_service == sorted(kept) and lost not in seen_by_the_service
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"restored {tmp_path / 'aduan.db'} from {saved}\n"
    assert await _references(service) == sorted(kept)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_postgresql_backup_while_served_and_restore_after_a_loss(
    service: Service, tmp_path: Path
) -> None:
    kept = await _file(service, "Lampu jalan di Jl. Mawar mati", "Sampah menumpuk di pasar")
    saved = tmp_path / "aduan.dump"
    schema = service.settings.database_schema

    backed_up = await asyncio.to_thread(_db, service, tmp_path, "backup", str(saved))
    await _file(service, "Got mampet di gang 3")
    await service.engine.dispose()
    connection = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')  # everything lost
    finally:
        await connection.close()
    restored = await asyncio.to_thread(_db, service, tmp_path, "restore", str(saved))

    assert backed_up.returncode == 0, backed_up.stderr
    assert backed_up.stdout.startswith(f"backed up {PG_URL} (schema {schema}) to {saved} (")
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout == f"restored {PG_URL} (schema {schema}) from {saved}\n"
    assert await _references(service) == sorted(kept)


async def test_restore_refuses_what_is_not_a_backup_of_this_database(
    service: Service, backend: str, tmp_path: Path
) -> None:
    await _file(service, "Lampu jalan di Jl. Mawar mati")
    junk = tmp_path / "junk.bak"
    junk.write_text("not a backup\n", encoding="utf-8")
    await service.engine.dispose()

    missing = await asyncio.to_thread(_db, service, tmp_path, "restore", str(tmp_path / "none"))
    refused = await asyncio.to_thread(_db, service, tmp_path, "restore", str(junk))

    assert (missing.returncode, missing.stderr) == (
        1,
        f"error: there is no backup file at {tmp_path / 'none'}\n",
    )
    assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1
    assert refused.stderr.startswith(
        f"error: {junk} is not a backup of an aduan SQLite database"
        if backend == "sqlite"
        else "error: pg_restore failed: pg_restore: error: input file does not appear to be a "
        "valid archive"
    )
    assert len(await _references(service)) == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_backup_onto_the_database_itself_is_refused_and_changes_nothing(
    service: Service, tmp_path: Path
) -> None:
    [reference] = await _file(service, "Lampu jalan di Jl. Mawar mati")
    database = Path(service.settings.database_url.split("///", 1)[1])
    inode = os.stat(database).st_ino
    # The same file by another name: what the service writes must stay where it reads.
    alias = tmp_path / "same.db"
    alias.symlink_to(database)

    refused = [
        await asyncio.to_thread(_db, service, tmp_path, "backup", str(path))
        for path in (database, alias, database.with_name(database.name + "-wal"))
    ]
    restored = await asyncio.to_thread(_db, service, tmp_path, "restore", str(database))

    for answer in [*refused, restored]:
        assert answer.returncode == 1 and len(answer.stderr.splitlines()) == 1, answer
        assert "is the database itself" in answer.stderr
    assert os.stat(database).st_ino == inode
    later = await service.deliver(inbound("Sampah menumpuk di Jl. Kenanga", sender="+6281299"))
    assert await _references(service) == sorted([reference, later.reference or ""])
