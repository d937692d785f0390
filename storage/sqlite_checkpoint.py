"""WAL checkpoints on a thread of their own, so the event loop never waits for the disk.

In WAL mode a commit appends pages to the write-ahead log; now and then a checkpoint
copies them back into the database file and syncs both to disk. SQLite runs it inside
the commit that crosses `wal_autocheckpoint` pages, and our connection runs on the event
loop (see `storage.sqlite_inline`): every service request would wait for that sync, some
milliseconds each time. `WalCheckpointer` runs passive checkpoints, which never block a
writer, on a connection of its own every `interval` seconds, and SQLite releases the GIL
while it syncs. The main connection keeps a high `wal_autocheckpoint` only as a bound on
the log should this thread fall behind.

Durability is unchanged: the same pages are synced in the same order, by another thread.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

# Pages the log may reach before a commit checkpoints it itself (4 KiB pages: 40 MiB).
AUTOCHECKPOINT_PAGES = 10_000


class WalCheckpointer:
    """Checkpoints the database at `path` every `interval` seconds until stopped."""

    def __init__(self, path: str, *, interval: float = 0.2) -> None:
        self._path = path
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"wal-checkpoint:{path}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the checkpoint under way, if any; its connection is closed on return."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, check_same_thread=False)
        try:
            while not self._stopped.wait(self._interval):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # the next round tries again
                    log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
        finally:
            connection.close()
