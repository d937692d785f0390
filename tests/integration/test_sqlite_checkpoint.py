"""WAL checkpoints run on their own thread while the engine holds its SQLite connection."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Literal

import sqlalchemy as sa

from storage.engine import make_engine


def _size(path: Path) -> int:
    return path.stat().st_size


def _log_exists(path: Path) -> bool:
    return Path(f"{path}-wal").exists()


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("wal-checkpoint:")]


async def test_the_log_is_copied_back_to_the_database_file_without_a_commit_doing_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "aduan.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        async with engine.begin() as connection:
            await connection.execute(
                sa.text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x" * 500}] * 2000
            )
        # Far fewer pages than wal_autocheckpoint: only the thread copies them back. It may
        # be seen half-way through, the file grown but not yet by all the rows.
        copied_back = _size(path) + 500 * 1000
        for _ in range(100):
            await asyncio.sleep(0.05)
            if _size(path) > copied_back:
                break
        assert _size(path) > copied_back
        assert [t.name for t in _checkpoint_threads()] == [f"wal-checkpoint:{path}"]
    finally:
        await engine.dispose()

    assert _checkpoint_threads() == []
    # The last connection out checkpointed the rest and removed the log.
    assert not _log_exists(path)


async def test_a_database_in_memory_has_no_checkpoint_thread() -> None:
    engine = make_engine("sqlite+aiosqlite://")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
            assert _checkpoint_threads() == []
    finally:
        await engine.dispose()


async def test_every_commit_is_synced_to_disk_unless_normal_is_chosen(tmp_path: Path) -> None:
    # PRAGMA synchronous answers 2 for FULL, 1 for NORMAL.
    settings: tuple[tuple[Literal["full", "normal"], int], ...] = (("full", 2), ("normal", 1))
    for setting, expected in settings:
        engine = make_engine(
            f"sqlite+aiosqlite:///{tmp_path / f'{setting}.db'}", sqlite_synchronous=setting
        )
        try:
            async with engine.connect() as connection:
                found = await connection.scalar(sa.text("PRAGMA synchronous"))
        finally:
            await engine.dispose()
        assert found == expected, setting
    default = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'default.db'}")
    try:
        async with default.connect() as connection:
            assert await connection.scalar(sa.text("PRAGMA synchronous")) == 2
    finally:
        await default.dispose()
