"""A complaints table shaped like a city's after some years, for the SLA sweep benchmark.

Most complaints are long closed or answered (no running clock, `next_chase_at` NULL), some
wait for the resident (clock paused, NULL too), some are open with their first reminder
still ahead (`next_chase_at` in the future), and exactly `due` are open, 24–36 hours old,
never reminded: their half-time reminder is due at `NOW`, and a sweep queues one reminder
for each (to the agency's contact) and plans the next stage 36 hours after receipt.

Rows are numbered in the order they were received, as intake writes them, so the due
complaints sit among the newest rows with answered ones between them. Loading streams the
rows in batches: Core `insert()` executemany in one transaction on SQLite, COPY on
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (defines the tables below)
from bench.workload import CLOSERS, OPENERS, PLACES, PROBLEMS
from bot.domain.lifecycle import ComplaintStatus
from storage.models import UTCDateTime

Row = dict[str, Any]

COMPLAINTS = SQLModel.metadata.tables["complaints"]
RESIDENTS = SQLModel.metadata.tables["residents"]
AGENCIES = SQLModel.metadata.tables["agencies"]

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 09:00 WIB: the sweep's clock
BUDGET = timedelta(days=2)  # the default SLA: 2 calendar days
FIRST_STAGE = BUDGET / 2  # the half-time reminder
SECOND_STAGE = BUDGET * 3 / 4
BATCH = 20_000  # rows per executemany / per COPY chunk
SEED = 20261102


class Kind(IntEnum):
    """What a complaint's SLA clock is doing at `NOW`."""

    CLOSED = 0  # closed after an answer: clock stopped
    ANSWERED = 1  # answered, not yet closed: clock stopped
    WAITING = 2  # waiting for the resident: clock paused
    OPEN = 3  # open, first reminder not due yet
    DUE = 4  # open, half-time reminder due now


_KINDS = tuple(Kind)
_FIRST_STAGE_SECONDS = FIRST_STAGE.total_seconds()

# Shares of the complaints that are not due, and when each kind was received (from, to:
# how long before NOW).
SHARES = ((Kind.CLOSED, 0.80), (Kind.ANSWERED, 0.08), (Kind.WAITING, 0.02), (Kind.OPEN, 0.10))
RECEIVED = {
    Kind.CLOSED: (timedelta(days=730), timedelta(days=2)),
    Kind.ANSWERED: (timedelta(days=30), timedelta(minutes=5)),
    Kind.WAITING: (timedelta(days=30), timedelta(minutes=5)),
    Kind.OPEN: (FIRST_STAGE, timedelta(minutes=1)),
    Kind.DUE: (SECOND_STAGE - timedelta(minutes=1), FIRST_STAGE),
}


@dataclass(frozen=True, slots=True)
class Shape:
    """Shares of the complaints that are not due, and when each kind was received."""

    shares: tuple[tuple[Kind, float], ...] = SHARES
    received: dict[Kind, tuple[timedelta, timedelta]] = field(default_factory=lambda: RECEIVED)


SLA_SHAPE = Shape()
CHANNELS = (("sms", 35), ("telegram", 30), ("web", 20), ("email", 15))
OPEN_STATUSES = tuple(
    status.value
    for status in (ComplaintStatus.NEW, ComplaintStatus.ASSIGNED, ComplaintStatus.IN_PROGRESS)
)
RATINGS = (None, None, 3, 4, 5, 5, 1)


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a load wrote: every row's count by kind, and the due rows' first reminder time."""

    total: int
    kinds: dict[str, int]
    due: dict[int, datetime]  # complaint id → next_chase_at before any sweep


def counts(total: int, due: int, shape: Shape = SLA_SHAPE) -> dict[Kind, int]:
    """How many complaints of each kind: `due` due, the rest shared out by the shape's shares."""
    if not 0 < due < total:
        raise ValueError(f"need 0 < due < total, got due={due}, total={total}")
    rest = total - due
    result = {kind: int(rest * share) for kind, share in shape.shares}
    result[Kind.CLOSED] += rest - sum(result.values())
    result[Kind.DUE] = due
    return result


def schedule(total: int, due: int, seed: int = SEED, shape: Shape = SLA_SHAPE) -> list[int]:
    """Every complaint's receipt time and kind, oldest first, packed into one int each
    (milliseconds before NOW × 8 + kind, negated to sort oldest first; a million ints are
    far smaller than a million tuples)."""
    rng = random.Random(seed)
    packed: list[int] = []
    for kind, count in counts(total, due, shape).items():
        earliest, latest = (int(bound.total_seconds() * 1000) for bound in shape.received[kind])
        packed.extend(-(rng.randint(latest, earliest) * 8) + kind for _ in range(count))
    packed.sort()
    return packed


def unpack(packed: int, now: datetime) -> tuple[datetime, Kind]:
    """The receipt time (before `now`) and kind packed by `schedule`."""
    kind = packed % 8
    before_ms = -(packed - kind) // 8
    return now - timedelta(milliseconds=before_ms), _KINDS[kind]


TIME_COLUMNS = tuple(
    column.name for column in COMPLAINTS.columns if isinstance(column.type, UTCDateTime)
)
TEXTS = 4096  # distinct complaint texts to draw from


class RowMaker:
    """Builds realistic complaint rows: text, channel, agency, times, SLA clock columns.

    Times are aware UTC datetimes, as COPY to PostgreSQL takes them, or (`aware=False`)
    naive UTC ones, which `sqlite_row` formats as SQLite stores them. What does not depend
    on the row's time (text, channel, agency, routing) comes from TEXTS prepared templates.
    """

    def __init__(
        self, agency_ids: Sequence[int], resident_id: int, *, aware: bool, seed: int = SEED
    ) -> None:
        self.now = NOW if aware else NOW.replace(tzinfo=None)
        self._latest = self.now - timedelta(minutes=1)  # nothing happened after the clock
        self._random = random.Random(seed + 1).random
        channels = [name for name, weight in CHANNELS for _ in range(weight)]
        self._templates = [self._template(agency_ids, resident_id, channels) for _ in range(TEXTS)]

    def _pick(self, choices: Sequence[Any]) -> Any:
        return choices[int(self._random() * len(choices))]

    def _template(
        self, agency_ids: Sequence[int], resident_id: int, channels: Sequence[str]
    ) -> Row:
        """The columns that do not depend on when the complaint came: a resident's text in
        residents' style, its channel, the agency it went to and why."""
        place = self._pick(PLACES)
        text = self._pick(OPENERS) + self._pick(PROBLEMS).format(place=place) + self._pick(CLOSERS)
        channel = self._pick(channels)
        located = channel == "telegram"
        return {
            "resident_id": resident_id,
            "channel": channel,
            "agency_id": self._pick(agency_ids),
            "assigned_officer_id": None,
            "text": text,
            "subject": f"Pengaduan: {text[:60]}" if channel == "email" else None,
            "location_text": place,
            "latitude": -6.0 + self._random() / 10 if located else None,
            "longitude": 106.0 + self._random() / 10 if located else None,
            "routing_rule": "topic",
            "routing_version": "1",
            "routing_terms": place,
            "routing_explanation": "cocok dengan kata kunci: " + place,
            "sla_budget_seconds": BUDGET.total_seconds(),
            "rating": None,
            # Never blanked by ADUAN_RETENTION_DAYS.
            "expired_at": None,
        }

    def row(self, complaint_id: int, received: datetime, kind: Kind) -> Row:
        """One complaint row as the service would have left it at NOW."""
        row: Row = self._pick(self._templates).copy()
        reference = f"B{complaint_id:07d}"
        row["id"] = complaint_id
        row["reference"] = f"{reference[:4]}-{reference[4:]}"
        row["received_at"] = received
        row["due_at"] = received + BUDGET
        if kind >= Kind.OPEN:
            row.update(
                status=self._pick(OPEN_STATUSES),
                sla_elapsed_seconds=0.0,
                sla_running_since=received,
                chase_stage=0,
                next_chase_at=received + FIRST_STAGE,  # the half-time reminder
                first_response_at=None,
                closed_at=None,
                last_message_at=received,
                updated_at=received,
            )
        else:
            self._stop(row, received, kind)
        return row

    def _stop(self, row: Row, received: datetime, kind: Kind) -> None:
        """Status and SLA clock of a complaint answered (and maybe closed) or paused."""
        answered = min(received + timedelta(hours=0.5 + 43.5 * self._random()), self._latest)
        elapsed = (answered - received).total_seconds()
        row.update(
            status="answered",
            sla_elapsed_seconds=elapsed,
            sla_running_since=None,
            chase_stage=1 if elapsed >= _FIRST_STAGE_SECONDS else 0,
            next_chase_at=None,
            first_response_at=answered,
            closed_at=None,
            last_message_at=answered,
            updated_at=answered,
        )
        if kind == Kind.CLOSED:
            closed = min(answered + timedelta(days=1 + 6 * self._random()), self._latest)
            rating = self._pick(RATINGS)
            row.update(status="closed", closed_at=closed, updated_at=closed, rating=rating)
        elif kind == Kind.WAITING:
            row.update(status="waiting_for_resident", first_response_at=None)


def sqlite_time(moment: datetime) -> str:
    """A naive UTC time as SQLAlchemy stores DateTime on SQLite ('2026-11-02 02:00:00.000000');
    the chaser's `next_chase_at <= ?` compares these strings, so the form must match."""
    text = moment.isoformat(" ")
    return text if moment.microsecond else text + ".000000"


def sqlite_row(row: Row) -> Row:
    """`row` with its times as SQLite stores them (for an untyped Core insert)."""
    for name in TIME_COLUMNS:
        value = row[name]
        if value is not None:
            row[name] = sqlite_time(value)
    return row


def batches(
    packed: Sequence[int], maker: RowMaker, due: dict[int, datetime], size: int = BATCH
) -> Iterator[list[Row]]:
    """The rows in id order, `size` at a time; fills `due` with the due rows' chase times."""
    for start in range(0, len(packed), size):
        rows = []
        for offset, value in enumerate(packed[start : start + size]):
            received, kind = unpack(value, maker.now)
            row = maker.row(start + offset + 1, received, kind)
            if kind == Kind.DUE:
                due[row["id"]] = row["next_chase_at"].replace(tzinfo=UTC)
            rows.append(row)
        yield rows


# --- loading -----------------------------------------------------------------------------


async def prepare_owner(engine: AsyncEngine) -> tuple[list[int], int]:
    """The active agencies that have a contact, and one resident for every complaint."""
    async with engine.begin() as connection:
        agencies = await connection.execute(
            sa.select(AGENCIES.c.id).where(
                AGENCIES.c.active,
                sa.or_(
                    AGENCIES.c.telegram_chat_id.is_not(None),
                    AGENCIES.c.email.is_not(None),
                    AGENCIES.c.phone.is_not(None),
                ),
            )
        )
        agency_ids = sorted(agencies.scalars())
        inserted = await connection.execute(
            sa.insert(RESIDENTS).returning(RESIDENTS.c.id),
            {"channel": "sms", "address": "+6281234567890", "created_at": NOW - BUDGET * 400},
        )
        resident_id = inserted.scalar_one()
    if not agency_ids:
        raise RuntimeError("no agency with a contact: the reminders would have nowhere to go")
    return agency_ids, resident_id


async def load_sqlite(
    engine: AsyncEngine, total: int, due: int, shape: Shape = SLA_SHAPE
) -> Loaded:
    """All rows with Core executemany in one transaction. No ANALYZE: the service never
    runs it on SQLite, whose plans therefore come from the statements alone, and so must
    the benchmark's.

    The insert names the columns without their types, and the rows carry times already in
    SQLite's stored form: the model's type conversions would triple the load time. The next
    batch is built while the driver's thread writes the previous one.
    """
    agency_ids, resident_id = await prepare_owner(engine)
    due_rows: dict[int, datetime] = {}
    maker = RowMaker(agency_ids, resident_id, aware=False)
    rows = batches(schedule(total, due, shape=shape), maker, due_rows)
    untyped = sa.table("complaints", *(sa.column(column.name) for column in COMPLAINTS.columns))
    async with engine.begin() as connection:
        writing: asyncio.Task[Any] | None = None
        for batch in rows:
            ready = [sqlite_row(row) for row in batch]
            if writing is not None:
                await writing
            writing = asyncio.create_task(connection.execute(sa.insert(untyped), ready))
        if writing is not None:
            await writing
    return _loaded(total, due, due_rows, shape)


async def load_postgresql(
    engine: AsyncEngine, dsn: str, schema: str, total: int, due: int, shape: Shape = SLA_SHAPE
) -> Loaded:
    """All rows with COPY (asyncpg `copy_records_to_table`), then the id sequence moved past
    them and VACUUM ANALYZE (statistics, and the visibility map an old table has)."""
    import asyncpg

    agency_ids, resident_id = await prepare_owner(engine)
    due_rows: dict[int, datetime] = {}
    maker = RowMaker(agency_ids, resident_id, aware=True)
    rows = batches(schedule(total, due, shape=shape), maker, due_rows)
    columns = [column.name for column in COMPLAINTS.columns]
    record = itemgetter(*columns)
    connection = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        copying: asyncio.Task[Any] | None = None
        for batch in rows:
            records = list(map(record, batch))
            if copying is not None:
                await copying
            copying = asyncio.create_task(
                connection.copy_records_to_table(
                    "complaints", records=records, columns=columns, schema_name=schema
                )
            )
        if copying is not None:
            await copying
        await connection.execute(
            "SELECT setval(pg_get_serial_sequence('complaints', 'id'), max(id)) FROM complaints"
        )
        await connection.execute("VACUUM ANALYZE complaints")
    finally:
        await connection.close()
    return _loaded(total, due, due_rows, shape)


def _loaded(total: int, due: int, due_rows: dict[int, datetime], shape: Shape) -> Loaded:
    kinds = {kind.name.lower(): count for kind, count in counts(total, due, shape).items()}
    return Loaded(total=total, kinds=kinds, due=due_rows)
