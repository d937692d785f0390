"""One prepared database per test session, copied into each test's empty database.

Preparing a database (Alembic's migrations, then the default agencies and rules) took most
of a service test's set-up. A session prepares it once per backend, with the real
`Service.prepare_database`, and a test whose database is still empty gets a copy:

- SQLite: the template file, checkpointed and closed first so that the file holds every
  page (nothing left in its write-ahead log), is copied to the test's path.
- PostgreSQL: the template is a schema of its own (`aduan_tpl_<random>`, so that sessions
  running at once on one server never share one); `pg_dump` writes its tables, sequences
  and rows once as SQL, which is replayed into each test's schema in one transaction.

A copy stands in only where it is what preparing would have written: the database is
untouched, the settings that choose the defaults are the template's, and so is the time
(rows are stamped with the clock). Otherwise the test's database is prepared in full.
`Service.prepare_database` then runs on the copy as on any prepared database: nothing left
to migrate or load, it only follows the rules stored there.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL, make_url

from bot.bootstrap import bootstrap
from bot.domain.clock import Clock
from config.settings import Settings
from tests.fakes import FakeClock

# What `Service.prepare_database` reads to choose what it loads: a test that sets any of
# them gets its database prepared in full.
_SEEDED_FROM = ("agencies_file", "rules_file")
# A schema name the dump can be rewritten to without quoting.
_PLAIN_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


async def _prepare(url: str, schema: str | None, clock: Clock) -> None:
    settings = Settings(database_url=url, database_schema=schema, _env_file=None)
    service = bootstrap(settings, clock=clock)
    try:
        await service.prepare_database()
    finally:
        await service.aclose()


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _sealed(path: Path) -> Path:
    """`path`, with what its (closed) engine left in the write-ahead log folded into the file
    and the log emptied, so that copying the one file copies the whole database."""
    connection = sqlite3.connect(path)
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        connection.close()
    wal = Path(f"{path}-wal")
    if busy or (wal.exists() and wal.stat().st_size):
        raise RuntimeError(f"{path}: the template's write-ahead log could not be emptied")
    return path


def _copied(template: Path, target: Path) -> bool:
    # A file that exists has been opened: it is the test's, not ours to replace.
    if target.exists() or Path(f"{target}-wal").exists():
        return False
    shutil.copyfile(template, target)
    return True


@dataclass
class Templates:
    """A session's prepared databases, made on first use; `close` drops what it made."""

    directory: Path
    prepared_at: datetime = field(default_factory=lambda: FakeClock().now())
    _sqlite: Path | None = None
    _postgres: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    _schemas: list[tuple[str, str]] = field(default_factory=list)

    async def restore(self, settings: Settings, clock: Clock) -> bool:
        """Copy the template into the database of `settings` when that is what preparing it
        would write; False when it must be prepared in full."""
        if clock.now() != self.prepared_at or any(
            getattr(settings, name) is not None for name in _SEEDED_FROM
        ):
            return False
        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite":
            return await self._restore_sqlite(url)
        if url.get_backend_name() == "postgresql" and settings.database_schema:
            return await self._restore_postgres(url, settings.database_schema)
        return False

    async def _restore_sqlite(self, url: URL) -> bool:
        if not url.database or url.database == ":memory:":
            return False
        if self._sqlite is None:
            path = self.directory / f"template-{uuid.uuid4().hex}.db"
            await _prepare(url.set(database=str(path)).render_as_string(), None, FakeClock())
            self._sqlite = _sealed(path)
        return _copied(self._sqlite, Path(url.database))

    async def _restore_postgres(self, url: URL, schema: str) -> bool:
        if not _PLAIN_NAME.match(schema):
            return False
        server = _libpq(url)
        if server not in self._postgres:
            self._postgres[server] = await self._postgres_template(url)
        template, dump = self._postgres[server]
        if dump is None:
            return False
        connection = await asyncpg.connect(server)
        try:
            tables = await connection.fetchval(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1", schema
            )
            if tables:
                return False
            # One query string runs as one transaction: the schema is copied whole or not at all.
            await connection.execute(
                dump.replace(
                    f"CREATE SCHEMA {template};", f"CREATE SCHEMA IF NOT EXISTS {schema};"
                ).replace(f"{template}.", f"{schema}.")
            )
        finally:
            await connection.close()
        return True

    async def _postgres_template(self, url: URL) -> tuple[str, str | None]:
        """The template schema's name and the SQL that rebuilds it (None: pg_dump failed)."""
        template = f"aduan_tpl_{uuid.uuid4().hex}"
        self._schemas.append((_libpq(url), template))
        await _prepare(url.render_as_string(hide_password=False), template, FakeClock())
        try:
            dump = await asyncio.create_subprocess_exec(
                *("pg_dump", f"--dbname={_libpq(url)}", f"--schema={template}"),
                *("--no-owner", "--no-privileges", "--inserts"),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await dump.communicate()
        except OSError as exc:
            problem = str(exc)
        else:
            problem = err.decode(errors="replace").strip() if dump.returncode else ""
        if problem:
            warnings.warn(
                f"pg_dump could not copy the template schema ({problem}): every PostgreSQL "
                "test prepares its own database (slower, same result)",
                stacklevel=1,
            )
            return template, None
        # psql's meta-commands (\restrict) are not SQL; the server needs none of them.
        sql = "\n".join(line for line in out.decode().splitlines() if not line.startswith("\\"))
        return template, sql

    async def close(self) -> None:
        for server, schema in self._schemas:
            connection = await asyncpg.connect(server)
            try:
                await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await connection.close()


_session: Templates | None = None


@contextmanager
def session_templates(directory: Path) -> Iterator[Templates]:
    """Templates for the test session, kept in `directory`; dropped when it ends."""
    global _session
    _session = Templates(directory)
    try:
        yield _session
    finally:
        templates, _session = _session, None
        asyncio.run(templates.close())


async def restore_template(settings: Settings, clock: Clock) -> bool:
    """Copy the session's template into this test's database, if it stands in (see above)."""
    return _session is not None and await _session.restore(settings, clock)
