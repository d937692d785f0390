"""Backups of the service's database, and restoring one.

SQLite: SQLite's online backup API, which copies a consistent snapshot while the service
goes on writing, to a single self-contained file (journal mode DELETE: no `-wal` beside it
to lose). A restore copies the backup back through the same API into the live file, so the
database's own WAL and locks stay coherent; it refuses while another connection (a running
service) has the file open unless forced.

PostgreSQL: `pg_dump -Fc` and `pg_restore --clean --if-exists` in one transaction, the
connection's parts given to them through libpq's environment (PGPASSWORD, never a command
line that `ps` shows), and `--no-password` so that a missing one fails instead of prompting.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import URL, make_url


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


def backup(database_url: str, target: Path, *, schema: str | None = None) -> None:
    """Write a backup of the database to `target` (replaced only once the backup is whole)."""
    if not target.parent.is_dir():
        raise BackupError(f"there is no folder {target.parent} to write the backup into")
    url = make_url(database_url)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if url.get_backend_name() == "sqlite":
            database = _sqlite_path(url)
            _not_the_database(target, database)
            _sqlite_backup(database, partial)
        else:
            _pg_dump(url, partial, schema)
        os.replace(partial, target)
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)


def restore(
    database_url: str, source: Path, *, schema: str | None = None, force: bool = False
) -> bool:
    """Replace the database's contents with the backup in `source`; True where that was
    forced under other connections that had the database open."""
    if not source.is_file():
        raise BackupError(f"there is no backup file at {source}")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = _sqlite_path(url)
        _not_the_database(source, database)
        return _sqlite_restore(source, database, force=force)
    return _pg_restore(url, source, schema)


# --- SQLite ---------------------------------------------------------------------------


def _sqlite_path(url: URL) -> Path:
    if url.database in (None, "", ":memory:"):
        raise BackupError("an in-memory SQLite database has nothing to back up or restore")
    return Path(url.database)


def _not_the_database(path: Path, database: Path) -> None:
    """Refuse `path` when it is the database file or one of its companions: a backup
    written there would replace the file under the running service, whose later writes
    would go to the unlinked file and be lost at its next start."""
    companions = [database.with_name(database.name + suffix) for suffix in _COMPANIONS]
    for live in [database, *companions]:
        if path.resolve() == live.resolve() or (
            path.exists() and live.exists() and path.samefile(live)
        ):
            raise BackupError(
                f"{path} is the database itself{'' if live == database else ' (its log)'}; "
                "give a file outside it, e.g. backups/aduan-$(date +%F).db"
            )


_COMPANIONS = ("-wal", "-shm", "-journal")
# How long a backup or a forced restore waits for another connection's write to end.
_BUSY_MS = 30_000


def _sqlite_backup(source: Path, target: Path) -> None:
    try:
        with (
            closing(sqlite3.connect(source, timeout=_BUSY_MS / 1000)) as live,
            closing(sqlite3.connect(target)) as copy,
        ):
            live.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite could not back up {source}: {exc}") from None


def _sqlite_restore(source: Path, target: Path, *, force: bool) -> bool:
    _check_sqlite_backup(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Whether anyone else has it open is asked without waiting: a running service keeps
        # it open for good (it once waited 30 s to learn that).
        with closing(sqlite3.connect(target, timeout=0)) as live:
            forced = not _hold_alone(live)
            if forced and not force:
                raise BackupError(
                    f"{target} is open in another process (a running `aduan run`?): stop it "
                    "first, or restore under it with --force and restart it afterwards"
                )
            if forced:
                # Under a running service: wait for a write in progress to end, not for it.
                live.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            with closing(sqlite3.connect(source)) as saved:
                saved.backup(live)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite could not restore into {target}: {exc}") from None
    return forced


def _hold_alone(connection: sqlite3.Connection) -> bool:
    """Take the database for this connection alone until it closes, if no other connection
    has it open. Every connection to a WAL database holds a shared lock on it for as long
    as it is open, so an exclusive lock is refused while anyone else has it, and a service
    cannot start between this check and the restore."""
    try:
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        # In exclusive locking mode the lock taken here outlives the transaction.
        connection.execute("BEGIN EXCLUSIVE")
        connection.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        connection.execute("PRAGMA locking_mode=NORMAL")
        return False
    return True


def _check_sqlite_backup(backup_file: Path) -> None:
    """An error unless the file is a SQLite database with our tables (restoring anything
    else would wipe the database)."""
    try:
        with closing(sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)) as saved:
            saved.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error as exc:
        raise BackupError(
            f"{backup_file} is not a backup of an aduan SQLite database ({exc})"
        ) from None


# --- PostgreSQL -----------------------------------------------------------------------

# Where Debian and Ubuntu install each PostgreSQL version's programs, off the PATH.
_PG_BIN_DIRS = "/usr/lib/postgresql/*/bin"


def _pg_dump(url: URL, target: Path, schema: str | None) -> None:
    only = [f"--schema={schema}"] if schema else []
    _pg_run("pg_dump", url, ["--format=custom", f"--file={target}", *only])


def _pg_restore(url: URL, source: Path, schema: str | None) -> bool:
    listing = _pg_run("pg_restore", url, ["--list", str(source)], connects=False)
    found = re.search(
        rf"^\S+ \S+ \S+ TABLE DATA {re.escape(schema or 'public')} alembic_version ",
        listing,
        re.M,
    )
    if found is None:
        raise BackupError(
            f"{source} holds no aduan tables in schema {schema or 'public'!r}: it is a backup "
            "of another database or schema (ADUAN_DATABASE_SCHEMA must be the one backed up)"
        )
    _pg_run(
        "pg_restore",
        url,
        [
            "--clean",
            "--if-exists",
            "--single-transaction",  # all of it or, on any error, none of it
            "--no-owner",
            f"--dbname={url.database}",
            str(source),
        ],
    )
    return False


def _pg_run(program: str, url: URL, args: list[str], *, connects: bool = True) -> str:
    command = [_pg_program(program), *args]
    if connects:
        command.append("--no-password")
    try:
        done = subprocess.run(
            command,
            env=_libpq_env(url) if connects else None,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise BackupError(f"cannot run {program}: {exc}") from None
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if line.strip()]
        raise BackupError(f"{program} failed: {said[0] if said else f'exit {done.returncode}'}")
    return done.stdout


def _pg_program(name: str) -> str:
    """The newest of `name` on the PATH or in the versioned directories: pg_dump refuses
    a server newer than itself, and reads any older one."""
    candidates = [Path(found)] if (found := shutil.which(name)) else []
    candidates += Path("/").glob(f"{_PG_BIN_DIRS.lstrip('/')}/{name}")
    versions = {path: _version(path) for path in candidates if os.access(path, os.X_OK)}
    if not versions:
        raise BackupError(
            f"{name} is not installed (looked on the PATH and in {_PG_BIN_DIRS}): install "
            "PostgreSQL's client programs, e.g. `apt-get install postgresql-client`"
        )
    return str(max(versions, key=lambda path: versions[path]))


def _version(program: Path) -> tuple[int, ...]:
    done = subprocess.run([str(program), "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"(\d+(?:\.\d+)*)", done.stdout)
    return tuple(int(part) for part in found.group(1).split(".")) if found else ()


def _libpq_env(url: URL) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PG")}
    parts = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
        # asyncpg's URL spells it `ssl`; libpq's modes have the same names.
        "PGSSLMODE": _query(url, "sslmode") or _query(url, "ssl"),
    }
    env.update({name: value for name, value in parts.items() if value})
    return env


def _query(url: URL, name: str) -> str | None:
    value = url.query.get(name)
    return value if isinstance(value, str) else None
