"""One prepared database per test session, copied into each test's empty database.

Preparing a database (Alembic's migrations, then the default agencies and rules) took most
of a service test's set-up. A session prepares it once per backend, with the real
`Service.prepare_database`, and a test whose database is still empty gets a copy:

- SQLite: the template file, checkpointed and closed first so that the file holds every
  page (nothing left in its write-ahead log), is copied to the test's path.
- PostgreSQL: the template is a schema of its own (`aduan_tpl_<random>`, so that sessions
  running at once on one server never share one); `pg_dump` writes its tables, sequences
  and rows once as SQL, which is replayed into each test's schema in one transaction.
  Building a schema and dropping it cost about 0.15 s a test, so a test's schema is not
  dropped when it ends but put back: when it still has the template's tables, columns,
  indexes and constraints and holds little, its rows are deleted, the template's rows and
  sequence values written again, and it is renamed to a spare (in one transaction), which
  the next test gets by renaming it to its own name. A test that changed the schema
  (a migration run down) or filled it has it dropped, as before.

A copy stands in only where it is what preparing would have written: the database is
untouched, the settings that choose the defaults are the template's, and so is the time
(rows are stamped with the clock). Otherwise the test's database is prepared in full.
`Service.prepare_database` then runs on the copy as on any prepared database: nothing left
to migrate or load, it only follows the rules stored there.
"""

from __future__ import annotations

import asyncio
import graphlib
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
# A used schema holding more than this is dropped rather than emptied row by row: deleted
# rows leave their pages behind for the next test to scan.
_MOST_REUSED_BYTES = 4 * 1024 * 1024
# Everything a test could change in a schema's definition, one line per object, with the
# schema's own name in it (defaults name their sequence) for the caller to take out.
_SHAPE = """
SELECT concat_ws(' ', c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod),
                 a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = $1
UNION ALL
SELECT indexdef FROM pg_indexes WHERE schemaname = $1
UNION ALL
SELECT concat_ws(' ', con.conname, pg_get_constraintdef(con.oid))
FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace WHERE n.nspname = $1
UNION ALL
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1
ORDER BY 1
"""
_SIZE = """
SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'r'
"""
_REFERENCES = """
SELECT c.relname, r.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_constraint f ON f.conrelid = c.oid AND f.contype = 'f'
LEFT JOIN pg_class r ON r.oid = f.confrelid
WHERE n.nspname = $1 AND c.relkind = 'r'
"""


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
class _PostgresTemplate:
    """A prepared schema: the SQL that builds a copy of it, and what it takes to put a used
    copy back as it was."""

    name: str
    build: str
    rows: str  # its rows and sequence values, as SQL
    tables: tuple[str, ...]  # tables that refer to others before those they refer to
    shape: str
    spares: list[str] = field(default_factory=list)  # used copies put back, to hand out


async def _shape(connection: asyncpg.Connection, schema: str) -> str:
    lines = await connection.fetch(_SHAPE, schema)
    return "\n".join(line[0] for line in lines).replace(f"{schema}.", "")


async def _emptying_order(connection: asyncpg.Connection, schema: str) -> tuple[str, ...]:
    references: dict[str, set[str]] = {}
    for table, referred in await connection.fetch(_REFERENCES, schema):
        references.setdefault(table, set())
        if referred is not None and referred != table:
            references[table].add(referred)
    return tuple(reversed(list(graphlib.TopologicalSorter(references).static_order())))


async def _pg_dump(url: URL, schema: str, *options: str) -> tuple[str, str]:
    """(SQL, problem) of `pg_dump` for `schema`; the problem is empty when it worked."""
    try:
        dump = await asyncio.create_subprocess_exec(
            *("pg_dump", f"--dbname={_libpq(url)}", f"--schema={schema}"),
            *("--no-owner", "--no-privileges", "--inserts", *options),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await dump.communicate()
    except OSError as exc:
        return "", str(exc)
    if dump.returncode:
        return "", err.decode(errors="replace").strip()
    # psql's meta-commands (\restrict) are not SQL; the server needs none of them.
    return "\n".join(line for line in out.decode().splitlines() if not line.startswith("\\")), ""


@dataclass
class Templates:
    """A session's prepared databases, made on first use; `close` drops what it made."""

    directory: Path
    prepared_at: datetime = field(default_factory=lambda: FakeClock().now())
    _sqlite: Path | None = None
    _postgres: dict[str, _PostgresTemplate | None] = field(default_factory=dict)
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
        template = self._postgres[server]
        if template is None:
            return False
        connection = await asyncpg.connect(server)
        try:
            tables = await connection.fetchval(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1", schema
            )
            if tables:
                return False
            # One query string runs as one transaction: the schema is copied whole or not at all.
            if template.spares:
                spare = template.spares.pop()
                await connection.execute(
                    f"DROP SCHEMA IF EXISTS {schema} CASCADE;"
                    f"ALTER SCHEMA {spare} RENAME TO {schema};"
                )
            else:
                await connection.execute(
                    template.build.replace(
                        f"CREATE SCHEMA {template.name};", f"CREATE SCHEMA IF NOT EXISTS {schema};"
                    ).replace(f"{template.name}.", f"{schema}.")
                )
        finally:
            await connection.close()
        return True

    async def _postgres_template(self, url: URL) -> _PostgresTemplate | None:
        """The prepared schema (None: pg_dump failed)."""
        name = f"aduan_tpl_{uuid.uuid4().hex}"
        self._schemas.append((_libpq(url), name))
        await _prepare(url.render_as_string(hide_password=False), name, FakeClock())
        build, problem = await _pg_dump(url, name)
        rows, problem = (await _pg_dump(url, name, "--data-only")) if build else ("", problem)
        if problem:
            warnings.warn(
                f"pg_dump could not copy the template schema ({problem}): every PostgreSQL "
                "test prepares its own database (slower, same result)",
                stacklevel=1,
            )
            return None
        connection = await asyncpg.connect(_libpq(url))
        try:
            shape = await _shape(connection, name)
            tables = await _emptying_order(connection, name)
        finally:
            await connection.close()
        return _PostgresTemplate(name, build, rows, tables, shape)

    async def release(self, url: URL, schema: str) -> None:
        """Put a test's used schema back as a spare copy of the template, or drop it."""
        server = _libpq(url)
        template = self._postgres.get(server)
        connection = await asyncpg.connect(server)
        try:
            if template is None or not await _put_back(connection, template, schema):
                # Waiting as long as it takes again: the schema must go.
                await connection.execute("RESET ALL")
                await _drop(connection, schema)
        finally:
            await connection.close()

    async def close(self) -> None:
        spares = [
            (server, spare)
            for server, template in self._postgres.items()
            if template is not None
            for spare in template.spares
        ]
        for server, schema in self._schemas + spares:
            connection = await asyncpg.connect(server)
            try:
                await _drop(connection, schema)
            finally:
                await connection.close()


async def _drop(connection: asyncpg.Connection, schema: str) -> None:
    await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def _put_back(
    connection: asyncpg.Connection, template: _PostgresTemplate, schema: str
) -> bool:
    """Empty `schema`, write the template's rows into it and keep it as a spare, if it still
    is a copy of the template that holds little; False if it was left as it was."""
    if (
        not _PLAIN_NAME.match(schema)
        or await connection.fetchval(_SIZE, schema) > _MOST_REUSED_BYTES
        or await _shape(connection, schema) != template.shape
    ):
        return False
    spare = f"aduan_spare_{uuid.uuid4().hex}"
    emptied = "".join(f"DELETE FROM {schema}.{table};" for table in template.tables)
    refilled = template.rows.replace(f"{template.name}.", f"{schema}.")
    try:
        # A connection the test left open in a transaction must not hold the session up.
        await connection.execute("SET lock_timeout = '2s'")
        await connection.execute(f"{emptied}{refilled};ALTER SCHEMA {schema} RENAME TO {spare};")
    except asyncpg.PostgresError:
        return False
    template.spares.append(spare)
    return True


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


async def release_schema(url: str, schema: str) -> None:
    """Done with a test's PostgreSQL schema: kept for the next test if it can be, or dropped."""
    if _session is not None:
        await _session.release(make_url(url), schema)
        return
    connection = await asyncpg.connect(_libpq(make_url(url)))
    try:
        await _drop(connection, schema)
    finally:
        await connection.close()
