"""The floor: the same rows the service wrote, written again with nothing else around them.

After the service has handled some messages, `RowReader` reads back every row it wrote and
`plan` groups the rows by the inbound message that caused them. `Replayer` then writes the
groups into a fresh database of the same engine settings with bare SQLAlchemy Core
statements and no reads, a fixed number of messages to a transaction whatever the service
did (the caller chooses it: one, or as many as our group commit may put in one), each
transaction's rows in one statement per table, residents and complaints included
(`INSERT … RETURNING` of many rows): the fastest the same writes can go in transactions
of that size, so a regression in the service's batching shows in the ratio. A follow-up
also updates its complaint (last message time), so the floor does that too. `write` is
the one transaction's writes, also used by the webhook benchmark's floor server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (defines the tables below)

Row = dict[str, Any]

# Saved with every intake and webhook result, and bumped whenever what their floors do
# changes, so that a ratio measured against an earlier floor is never shown as one against
# this. 2: fixed-size transactions, every table one statement, and the webhook floor checks
# the signature and commits these rows (1: as many transactions as ours took, residents and
# complaints one by one; the webhook floor only parsed the form).
VERSION = 2

RESIDENTS = SQLModel.metadata.tables["residents"]
COMPLAINTS = SQLModel.metadata.tables["complaints"]
MESSAGES = SQLModel.metadata.tables["messages"]
AUDIT = SQLModel.metadata.tables["audit_log"]
OUTBOX = SQLModel.metadata.tables["outbox"]
TABLES = (RESIDENTS, COMPLAINTS, MESSAGES, AUDIT, OUTBOX)

K = TypeVar("K")
V = TypeVar("V")


class FloorPlanError(Exception):
    """A row the service wrote that the floor cannot attribute to one inbound message."""


@dataclass(slots=True)
class Writes:
    """Every row one inbound message wrote, without ids; foreign keys still the service's."""

    message: Row
    # (the service's id, the row) for rows other rows point at.
    resident: tuple[int, Row] | None = None
    complaint: tuple[int, Row] | None = None
    # (complaint id, time) when the message continued an existing complaint.
    touch: tuple[int, datetime] | None = None
    audit: list[Row] = field(default_factory=list)
    outbox: list[Row] = field(default_factory=list)


class RowReader:
    """Reads, each time it is called, the rows written since its previous call.

    Build it with `await RowReader.after(engine)` once the database is prepared, so rows
    the set-up wrote (seeded agencies, their audit rows) count as already read.
    """

    def __init__(self, engine: AsyncEngine, seen: dict[str, int]) -> None:
        self._engine = engine
        self._seen = seen

    @classmethod
    async def after(cls, engine: AsyncEngine) -> RowReader:
        """A reader for which every row already in the database has been read."""
        seen = await _per_table(engine, lambda table: sa.select(sa.func.max(table.c.id)))
        return cls(engine, seen)

    async def read_new(self) -> dict[str, list[Row]]:
        """New rows of the tables intake writes, by table name, in id order."""
        rows: dict[str, list[Row]] = {}
        async with self._engine.connect() as connection:
            for table in TABLES:
                statement = (
                    sa.select(table).where(table.c.id > self._seen[table.name]).order_by(table.c.id)
                )
                rows[table.name] = [
                    dict(row._mapping) for row in await connection.execute(statement)
                ]
                if rows[table.name]:
                    self._seen[table.name] = rows[table.name][-1]["id"]
        return rows


def same_floor(saved: dict[str, Any]) -> bool:
    """Whether a saved result's ratio was measured against the floor of this version."""
    return saved.get("floor_version") == VERSION


def earlier_floor_note(saved: Iterable[dict[str, Any]]) -> str:
    """A sentence for a section whose table shows results measured against an earlier
    floor, or nothing."""
    if all(same_floor(data) for data in saved):
        return ""
    return (
        '"earlier floor" marks a result measured against an earlier version of the floor, '
        "whose figures are left out: `make bench` measures it again."
    )


async def count_rows(engine: AsyncEngine) -> dict[str, int]:
    """Row count of each table intake writes, of messages the inbound ones (the outbox
    dispatcher records what it sends): the floor must end with the same counts."""

    def count(table: sa.Table) -> sa.Select[Any]:
        query = sa.select(sa.func.count()).select_from(table)
        return query.where(table.c.direction == "in") if table is MESSAGES else query

    return await _per_table(engine, count)


async def _per_table(
    engine: AsyncEngine, query: Callable[[sa.Table], sa.Select[Any]]
) -> dict[str, int]:
    """One number per table (0 for NULL, as max() of an empty table gives)."""
    async with engine.connect() as connection:
        return {
            table.name: int((await connection.execute(query(table))).scalar() or 0)
            for table in TABLES
        }


def plan(rows: dict[str, list[Row]]) -> list[Writes]:
    """Group the service's rows by the inbound message that wrote them, in arrival order."""
    inbound = [m for m in rows[MESSAGES.name] if m["direction"] == "in"]
    groups = [Writes(message=_without_id(message)) for message in inbound]
    by_key = {f"{w.message['channel']}:{w.message['provider_message_id']}": w for w in groups}
    _attach_residents(groups, rows[RESIDENTS.name])
    _attach_complaints(groups, rows[COMPLAINTS.name])
    for entry in rows[AUDIT.name]:
        _audit_writer(groups, entry).audit.append(_without_id(entry))
    for row in rows[OUTBOX.name]:
        # Outbox keys are "<purpose>:<channel>:<provider message id>".
        _lookup(by_key, row["key"].split(":", 1)[1], row).outbox.append(_without_id(row))
    return groups


def _audit_writer(groups: Sequence[Writes], entry: Row) -> Writes:
    """The message that wrote an audit row: the one that created its complaint, else the
    complaint's latest message by the row's time. (Audit rows carry the service clock's
    time at handling, which concurrent messages share, so time alone cannot tell.)"""
    complaint_id = entry["complaint_id"]
    writer: Writes | None = None
    for writes in groups:
        if writes.message["complaint_id"] != complaint_id:
            continue
        if writes.complaint is not None:
            return writes
        if writes.message["created_at"] <= entry["created_at"]:
            writer = writes
    if writer is None:
        raise FloorPlanError(f"no inbound message wrote this row: {entry!r}")
    return writer


def _attach_residents(groups: Sequence[Writes], residents: Iterable[Row]) -> None:
    first_message: dict[int, Writes] = {}
    for writes in groups:
        first_message.setdefault(writes.message["resident_id"], writes)
    for resident in residents:
        writes = _lookup(first_message, resident["id"], resident)
        writes.resident = (resident["id"], _without_id(resident))


def _attach_complaints(groups: Sequence[Writes], complaints: Iterable[Row]) -> None:
    by_id = {complaint["id"]: complaint for complaint in complaints}
    created: set[int] = set()
    for writes in groups:
        complaint_id = writes.message["complaint_id"]
        if complaint_id is None:
            continue
        if writes.message["kind"] == "complaint":
            complaint = _lookup(by_id, complaint_id, writes.message)
            writes.complaint = (complaint_id, _without_id(complaint))
            created.add(complaint_id)
        else:
            writes.touch = (complaint_id, writes.message["created_at"])
    if created != by_id.keys():
        raise FloorPlanError(f"complaints not created by any message: {by_id.keys() - created}")


def _lookup(index: dict[K, V], key: K, row: Row) -> V:
    try:
        return index[key]
    except KeyError:
        raise FloorPlanError(f"no inbound message wrote this row: {row!r}") from None


def _without_id(row: Row) -> Row:
    return {name: value for name, value in row.items() if name != "id"}


class Replayer:
    """Writes groups into the floor's database, `per_transaction` messages to a transaction,
    remembering the ids it gets across calls."""

    def __init__(self, engine: AsyncEngine, per_transaction: int) -> None:
        if per_transaction < 1:
            raise ValueError(f"per_transaction must be at least 1, not {per_transaction}")
        self._engine = engine
        self._per_transaction = per_transaction
        self._ids: dict[tuple[str, int], int] = {}
        self.transactions = 0

    async def replay(self, groups: Sequence[Writes]) -> None:
        """Write every group, in order, in transactions of `per_transaction` (the last of
        them holding what is left)."""
        for start in range(0, len(groups), self._per_transaction):
            async with self._engine.begin() as connection:
                await write(connection, groups[start : start + self._per_transaction], self._ids)
            self.transactions += 1


async def write(
    connection: AsyncConnection, groups: Sequence[Writes], ids: dict[tuple[str, int], int]
) -> None:
    """One transaction's rows, one statement per table: residents, then complaints (which
    point at them), then the follow-ups' complaint updates, then messages, audit and outbox
    rows. `ids` maps the service's ids to the floor's, and gains the rows inserted here."""
    residents = [writes.resident for writes in groups if writes.resident is not None]
    await _insert_all(connection, RESIDENTS, ("channel", "address"), residents, ids, "resident")
    complaints = [
        (old_id, _linked(row, ids))
        for old_id, row in (writes.complaint for writes in groups if writes.complaint is not None)
    ]
    await _insert_all(connection, COMPLAINTS, ("reference",), complaints, ids, "complaint")
    touches = [
        {"cid": ids["complaint", complaint_id], "moment": moment}
        for complaint_id, moment in (w.touch for w in groups if w.touch is not None)
    ]
    if touches:
        await connection.execute(_TOUCH, touches)
    appended = {
        MESSAGES: [_linked(writes.message, ids) for writes in groups],
        AUDIT: [_linked(row, ids) for writes in groups for row in writes.audit],
        OUTBOX: [_linked(row, ids) for writes in groups for row in writes.outbox],
    }
    for table, rows in appended.items():
        if rows:
            await connection.execute(table.insert(), rows)


async def _insert_all(
    connection: AsyncConnection,
    table: sa.Table,
    unique: tuple[str, ...],
    rows: Sequence[tuple[int, Row]],
    ids: dict[tuple[str, int], int],
    kind: str,
) -> None:
    """Insert (the service's id, row) pairs and map each service id to the floor's.

    One row takes a plain INSERT and the id the driver already has (the fastest way for a
    transaction of one message); several take one multi-row INSERT … RETURNING, matched
    back by their unique key, since such a statement need not return rows in order.
    """
    if len(rows) == 1:
        [(old_id, row)] = rows
        key = (await connection.execute(table.insert(), row)).inserted_primary_key
        if key is None:
            raise FloorPlanError(f"the database gave no id for a new {kind} row")
        ids[kind, old_id] = int(key[0])
        return
    if not rows:
        return
    returning = table.insert().returning(table.c.id, *(table.c[name] for name in unique))
    result = await connection.execute(returning, [row for _, row in rows])
    new_ids = {tuple(found[1:]): found[0] for found in result}
    for old_id, row in rows:
        ids[kind, old_id] = new_ids[tuple(row[name] for name in unique)]


_TOUCH = (
    COMPLAINTS.update()
    .where(COMPLAINTS.c.id == sa.bindparam("cid"))
    .values(last_message_at=sa.bindparam("moment"), updated_at=sa.bindparam("moment"))
)


def _linked(row: Row, ids: dict[tuple[str, int], int]) -> Row:
    """A copy of `row` whose foreign keys point at the floor's own rows."""
    linked = dict(row)
    for name, kind in (("complaint_id", "complaint"), ("resident_id", "resident")):
        if linked.get(name) is not None:
            linked[name] = ids[kind, linked[name]]
    return linked
