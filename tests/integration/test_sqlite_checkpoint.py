"""WAL checkpoints run on their own thread while the engine holds its SQLite connection."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

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
        size_at_commit = _size(path)
        # Far fewer pages than wal_autocheckpoint: only the thread copies them back.
        for _ in range(100):
            await asyncio.sleep(0.05)
            if _size(path) > size_at_commit:
                break
        assert _size(path) > size_at_commit + 500 * 1000
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
