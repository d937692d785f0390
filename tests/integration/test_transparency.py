"""The public figures: every figure of /transparansi and agencies.json recomputed from
data.csv, on both engines, after complaints taken through the service as in production
(officers' actions, the outbox delivering answers); the period refused clearly; and no
personal data in anything the public can read."""

from __future__ import annotations

import csv
import io
import re
import statistics
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from bot.bootstrap import Service
from bot.officers.actions import Actor, Role
from bot.sla.figures import Period, Transparency
from channels.base import ChannelName
from storage import migrate
from storage.engine import make_session_factory
from storage.unit_of_work import UnitOfWorkFactory
from tests.fakes import FakeClock, inbound
from tests.integration.db import drained

ADMIN = Actor(Role.ADMIN, 1, "Admin")
PERIOD_START, PERIOD_END = date(2026, 11, 1), date(2026, 11, 30)
PERIOD = {"from": "2026-11-02", "to": "2026-11-30"}
FIELDS = [
    "reference",
    "agency_code",
    "category",
    "channel",
    "status",
    "received_at",
    "due_at",
    "first_response_at",
    "closed_at",
]
AGENCY_FIELDS = [
    "agency_code",
    "agency_name",
    "received",
    "answered",
    "answered_in_time",
    "answered_in_time_pct",
    "median_first_response_hours",
    "open",
    "overdue",
]


class City:
    """Residents filing complaints, each from a number of their own, at the clock's time."""

    def __init__(self, service: Service, clock: FakeClock) -> None:
        self._service = service
        self._clock = clock
        self._senders = 0

    async def file(self, text: str, **fields: Any) -> tuple[str, str]:
        self._senders += 1
        sender = fields.pop("sender", f"+62812000{self._senders:05d}")
        filed = await self._service.deliver(
            inbound(text, sender=sender, at=self._clock.now(), **fields)
        )
        assert filed.reference is not None
        return filed.reference, sender

    async def reply(self, sender: str, text: str) -> None:
        await self._service.deliver(inbound(text, sender=sender, at=self._clock.now()))


async def _traffic(service: Service, clock: FakeClock) -> None:
    """Complaints answered in time, late (also after a transfer), at the due second, never;
    one paused for the resident, one reopened, one rejected; one the day before the period
    and one not yet due when the figures are read."""
    city = City(service, clock)
    clock.move_to(datetime(2026, 11, 1, 16, 59, 59, tzinfo=UTC))  # 23:59:59 WIB, 1 Nov
    await city.file("Lampu jalan di Jl. Kenanga mati sejak kemarin")
    clock.move_to(datetime(2026, 11, 1, 17, 0, tzinfo=UTC))  # 00:00 WIB, 2 Nov
    in_time, _ = await city.file("Lampu jalan di Jl. Mawar mati sejak Senin")
    late, _ = await city.file("Sampah menumpuk di pasar Kliwon tiga hari")
    await city.file("Jalan berlubang besar di Jl. Melati dekat sekolah")
    paused, paused_sender = await city.file("Lampu lalu lintas di perempatan Tugu mati")
    moved, _ = await city.file("Lampu jalan padam di depan kantor kelurahan Baciro")
    reopened, reopened_sender = await city.file("Sampah berserakan di taman kota Jl. Anggrek")
    rejected, _ = await city.file("Asap pabrik tekstil bau menyengat tiap malam")
    clock.advance(seconds=0.7)
    on_the_second, _ = await city.file("Sampah tidak diangkut di RT 03 Jl. Dahlia")

    clock.advance(hours=2)
    await service.actions.answer(in_time, "Lampu sudah diganti.", ADMIN)
    await service.actions.transfer(moved, "PUPR", ADMIN, reason="tiang milik PUPR")
    await service.actions.answer(reopened, "Sudah dibersihkan.", ADMIN)
    await service.actions.reject(rejected, ADMIN, reason="sudah ditangani pengaduan lain")
    await drained(service)
    clock.advance(hours=3)
    # DISHUB's two first responses, 2 h and 5 h: a median between two.
    await service.actions.ask_resident(paused, "Di sisi mana perempatannya?", ADMIN)
    await drained(service)
    clock.advance(hours=1)
    await city.reply(paused_sender, "Sisi utara, dekat halte")
    await service.actions.close(reopened, ADMIN)
    clock.advance(hours=1)
    await city.reply(reopened_sender, f"{reopened} sampahnya menumpuk lagi")

    clock.move_to(datetime(2026, 11, 3, 17, 0, 0, 900_000, tzinfo=UTC))  # due + 0.2 s
    await service.actions.answer(on_the_second, "Sudah diangkut.", ADMIN)
    await drained(service)
    clock.advance(hours=10)
    await service.actions.answer(late, "Sampah sudah diangkut.", ADMIN)
    await service.actions.answer(moved, "Tiang sudah diperbaiki.", ADMIN)
    await drained(service)
    clock.move_to(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    await city.file("Lampu jalan di Jl. Flamboyan mati", channel=ChannelName.WEB, sender=None)
    clock.advance(hours=1, microseconds=300_000)


def _half_up(number: Decimal) -> float:
    return float(number.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _moment(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _recomputed(records: list[dict[str, str]], as_of: str) -> dict[str, dict[str, Any]]:
    """The issue's definitions, applied to the open data alone."""
    by_agency: dict[str, list[dict[str, str]]] = {}
    for record in records:
        by_agency.setdefault(record["agency_code"], []).append(record)
    figures = {}
    for code, rows in by_agency.items():
        answered = [r for r in rows if r["first_response_at"]]
        in_time = [r for r in answered if r["first_response_at"] <= r["due_at"]]
        overdue = [r for r in rows if not r["first_response_at"] and r["due_at"] < as_of]
        waits = [
            (_moment(r["first_response_at"]) - _moment(r["received_at"])).total_seconds()
            for r in answered
        ]
        decided = len(answered) + len(overdue)
        figures[code] = {
            "agency_code": code,
            "received": len(rows),
            "answered": len(answered),
            "answered_in_time": len(in_time),
            "answered_in_time_pct": _half_up(Decimal(100 * len(in_time)) / decided)
            if decided
            else None,
            "median_first_response_hours": _half_up(Decimal(statistics.median(waits)) / 3600)
            if waits
            else None,
            "open": sum(r["status"] not in {"answered", "closed", "rejected"} for r in rows),
            "overdue": len(overdue),
        }
    return figures


async def test_every_figure_is_recomputed_from_the_open_data(
    service: Service, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    await _traffic(service, clock)

    agencies = await client.get("/transparansi/agencies.json", params=PERIOD)
    exported = await client.get("/transparansi/data.csv", params=PERIOD)

    assert agencies.status_code == exported.status_code == 200
    as_of = agencies.headers["x-generated-at"]
    assert as_of == clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    published = agencies.json()
    assert all(list(row) == AGENCY_FIELDS for row in published)
    reader = csv.DictReader(io.StringIO(exported.text))
    assert reader.fieldnames == FIELDS
    records = list(reader)
    assert len(records) == 9  # the day before the period is not in it
    recomputed = _recomputed(records, as_of)
    for row in published:
        expected = recomputed.get(row["agency_code"]) or {
            "agency_code": row["agency_code"],
            **dict.fromkeys(["received", "answered", "answered_in_time", "open", "overdue"], 0),
            "answered_in_time_pct": None,
            "median_first_response_hours": None,
        }
        assert {k: v for k, v in row.items() if k != "agency_name"} == expected
    assert {row["agency_code"] for row in published if row["received"]} == set(recomputed)
    # Each case counted as it should be, not only consistently.
    by_status = sorted(r["status"] for r in records)
    assert by_status.count("reopened") == by_status.count("rejected") == 1
    totals = {name: sum(row[name] for row in published) for name in AGENCY_FIELDS[2:5]}
    # The rejection's reason reached the resident in time: a response, as the law counts it.
    assert totals == {"received": 9, "answered": 7, "answered_in_time": 5}
    assert sum(row["overdue"] for row in published) == 1  # the one never answered
    dishub = next(row for row in published if row["agency_code"] == "DISHUB")
    assert dishub["median_first_response_hours"] == 3.5

    # The trend's November is the figures of November, judged at the same moment.
    as_of_moment = _moment(as_of)
    november = await service.figures.figures(Period(PERIOD_START, PERIOD_END), as_of_moment)
    trend = await service.figures.trend(PERIOD_END, as_of_moment)
    for row in november.agencies:
        if row.received:
            month = trend[row.agency_code][-1]
            assert month.month == PERIOD_START
            assert (month.received, month.answered_in_time, month.answered_in_time_pct) == (
                row.received,
                row.answered_in_time,
                row.answered_in_time_pct,
            )

    data = (await client.get("/transparansi/data.json", params=PERIOD)).json()
    assert data["licence"] == "CC BY 4.0" and data["period"]["from"] == PERIOD["from"]
    assert [[r[f] or "" for f in FIELDS] for r in data["complaints"]] == [
        [r[f] for f in FIELDS] for r in records
    ]

    page = await client.get("/transparansi", params=PERIOD)
    assert page.status_code == 200
    for row in published:
        cells = re.search(
            rf">{row['agency_code']}</abbr>.*?</th>(.*?)</tr>", page.text, flags=re.DOTALL
        )
        assert cells is not None, row["agency_code"]
        shown = re.findall(r'<td class="number"[^>]*>([^<]*)</td>', cells.group(1))
        expected_cells = [row[name] for name in AGENCY_FIELDS[2:]]
        assert shown == [
            "–" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v)
            for v in expected_cells
        ]


async def test_exports_name_their_file_and_licence(
    service: Service, client: httpx.AsyncClient
) -> None:
    await service.deliver(inbound("Lampu jalan di Jl. Mawar mati sejak Senin"))
    for kind in ("csv", "json"):
        response = await client.get(f"/transparansi/data.{kind}", params=PERIOD)
        assert response.status_code == 200
        disposition = response.headers["content-disposition"]
        assert disposition == f'attachment; filename="aduan-2026-11-02-2026-11-30.{kind}"'
        assert "creativecommons.org/licenses/by/4.0" in response.headers["link"]
    page = await client.get("/transparansi", params={**PERIOD, "lang": "en"})
    assert 'rel="license"' in page.text and "CC BY 4.0" in page.text
    assert "/transparansi/data.csv?from=2026-11-02&amp;to=2026-11-30" in page.text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": "2026-11-30", "to": "2026-11-02"}, "is after the end date"),
        ({"from": "30-11-2026"}, "cannot be read; write it as YYYY-MM-DD"),
        ({"to": "2026-02-30"}, "The 'to' date (2026-02-30) cannot be read"),
        ({"from": "2023-01-01", "to": "2026-01-01"}, "at most 366 days"),
    ],
)
async def test_a_bad_period_is_refused_saying_why(
    client: httpx.AsyncClient, params: dict[str, str], says: str
) -> None:
    for path in ("agencies.json", "data.csv", "data.json"):
        response = await client.get(f"/transparansi/{path}", params=params)
        assert response.status_code == 400
        assert says in response.json()["detail"]
    page = await client.get("/transparansi", params={**params, "lang": "en"})
    assert page.status_code == 400 and says.replace("'", "&#39;") in page.text
    indonesian = await client.get("/transparansi", params=params)
    assert indonesian.status_code == 400 and 'id="error"' in indonesian.text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_table_sorts_without_script(service: Service, client: httpx.AsyncClient) -> None:
    await service.deliver(inbound("Lampu jalan di Jl. Mawar mati sejak Senin"))
    await service.deliver(inbound("Sampah menumpuk di pasar", sender="+6281200000002"))
    await service.deliver(inbound("Sampah di sungai Code", sender="+6281200000003"))

    def codes(html: str) -> list[str]:
        return re.findall(r'<abbr title="[^"]*">([A-Z]+)</abbr>', html)

    by_code = await client.get("/transparansi", params={**PERIOD, "sort": "agency_code"})
    most = await client.get("/transparansi", params=PERIOD)
    assert codes(by_code.text) == sorted(codes(by_code.text))
    assert codes(most.text)[:2] == ["DLH", "DISHUB"]
    assert 'aria-sort="descending"' in most.text
    assert "sort=received&amp;order=asc" in most.text


# Phone numbers (local or +62), email addresses, 16-digit NIK numbers.
PII = re.compile(
    r"(?:\+62|\b0)8\d{1,3}(?:[\s.-]?\d{3,4}){2,3}\b|[\w.+-]+@[\w-]+\.[\w.]+|(?<!\d)\d{16}(?!\d)"
)
NIK = "3471140209790001"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_nothing_public_names_a_person(
    service: Service, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    await _traffic(service, clock)
    texts = [
        f"Saya Budi Santoso NIK {NIK}, hp 081234567890, email budi.santoso@mail.id: lampu "
        "jalan di Jl. Mawar mati",
        f"Sampah menumpuk, hubungi Siti 0812-9876-5432 atau siti@contoh.id (NIK {NIK})",
    ]
    assert len(PII.findall(" ".join(texts))) == 6  # the scan sees what it looks for
    references = []
    for number, said in enumerate(texts):
        filed = await service.deliver(
            inbound(said, sender=f"+6281311{number:06d}", at=clock.now(), display_name="Budi 0813")
        )
        references.append(filed.reference or "")
    for channel, sender in ((ChannelName.WEB, None), (ChannelName.EMAIL, "ani@rumah.id")):
        filed = await service.deliver(
            inbound(
                f"Jalan rusak parah di depan rumah saya, NIK {NIK}",
                channel=channel,
                sender=sender,
                at=clock.now(),
                display_name="Ani ani@rumah.id",
            )
        )
        references.append(filed.reference or "")
    officer = Actor(Role.ADMIN, 1, "Rahmawati Kusuma")
    await service.actions.answer(
        references[0], "Pak Budi (081234567890), lampu sudah diganti.", officer
    )
    await drained(service)

    period = {"from": "2026-11-02", "to": clock.now().date().isoformat()}
    public = [
        await client.get("/transparansi", params=period),
        await client.get("/transparansi", params={**period, "lang": "en"}),
        await client.get("/transparansi/agencies.json", params=period),
        await client.get("/transparansi/data.csv", params=period),
        await client.get("/transparansi/data.json", params=period),
    ]
    for reference in references:
        public.append(await client.get(f"/api/complaints/{reference}"))
        public.append(await client.get(f"/lacak/{reference}"))
        public.append(await client.get(f"/lacak/{reference}", params={"lang": "en"}))
    refused = [(str(r.url), r.status_code) for r in public if r.status_code != 200]
    assert refused == []
    assert all(reference in public[3].text for reference in references)
    for response in public:
        found = PII.findall(response.text)
        assert not found, f"{response.request.url} shows {found}"
        for name in ("Budi", "Siti", "Ani", "Rahmawati"):
            assert name not in response.text, f"{response.request.url} names {name}"


async def test_changed_complaints_are_counted_again_exactly(
    service: Service, clock: FakeClock
) -> None:
    """The per-day counts equal a count from scratch after every kind of change."""
    await _traffic(service, clock)
    async with service.uow() as uow:
        await uow.figures.refresh(service.figures.zone, ("answered", "closed", "rejected"))
        kept = sorted(await uow.figures.days(PERIOD_START, PERIOD_END))
        await uow.commit()
    async with service.engine.begin() as connection:
        await connection.execute(text("DELETE FROM agency_days"))
    async with service.uow() as uow:
        await uow.figures.mark_all()
        await uow.figures.refresh(service.figures.zone, ("answered", "closed", "rejected"))
        recounted = sorted(await uow.figures.days(PERIOD_START, PERIOD_END))
        await uow.commit()
    assert kept == recounted and sum(day[2] for day in kept) == 10


async def test_a_recount_in_another_time_zone_counts_each_complaint_once(
    service: Service, clock: FakeClock
) -> None:
    await _traffic(service, clock)
    async with service.uow() as uow:
        # By Jakarta's calendar the complaints came on 1, 2 and 30 November.
        assert await uow.figures.refresh(service.figures.zone, ("answered", "closed")) == 3
        await uow.commit()

    # The city's time zone is set to UTC: those of 2 November came on the 1st, and the
    # count of the 2nd, which holds none of them now, is not left behind.
    assert await Transparency(service.uow, clock, ZoneInfo("UTC")).recount() == 2
    async with service.uow() as uow:
        days = await uow.figures.days(PERIOD_START, PERIOD_END)
    assert {day for day, *_ in days} == {PERIOD_START, PERIOD_END}
    assert sum(received for _, _, received, _, _ in days) == 10


async def test_complaints_filed_before_the_migration_are_counted(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine, "0013")
    received = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    tables = SQLModel.metadata.tables
    async with engine.begin() as connection:
        agency = await connection.execute(
            sa.insert(tables["agencies"]).returning(tables["agencies"].c.id),
            {
                "code": "DLH",
                "name": "Dinas Lingkungan Hidup",
                "is_fallback": False,
                "active": True,
                "created_at": received,
            },
        )
        resident = await connection.execute(
            sa.insert(tables["residents"]).returning(tables["residents"].c.id),
            {
                "channel": "sms",
                "address": "+6281234567890",
                "language": "id",
                "created_at": received,
                "window_messages": 0,
            },
        )
        complaint = {
            "resident_id": resident.scalar_one(),
            "agency_id": agency.scalar_one(),
            "channel": "sms",
            "status": "answered",
            "text": "Sampah menumpuk",
            "routing_rule": "dlh-rubbish",
            "routing_terms": "",
            "routing_explanation": "-",
            "received_at": received,
            "due_at": received + timedelta(days=2),
            "sla_budget_seconds": 0,
            "sla_elapsed_seconds": 0,
            "chase_stage": 0,
            "last_message_at": received,
            "updated_at": received,
        }
        await connection.execute(
            sa.insert(tables["complaints"]),
            [
                {
                    **complaint,
                    "reference": "AAAA-AAA1",
                    "first_response_at": received + timedelta(hours=3),
                },
                {
                    **complaint,
                    "reference": "AAAA-AAA2",
                    "status": "assigned",
                    "first_response_at": None,
                },
            ],
        )
    await migrate.upgrade(engine)

    figures = Transparency(
        UnitOfWorkFactory(make_session_factory(engine)), FakeClock(), ZoneInfo("Asia/Jakarta")
    )
    [dlh] = (await figures.figures(Period.ending(date(2026, 11, 30)))).agencies
    assert (dlh.received, dlh.answered, dlh.answered_in_time, dlh.open, dlh.overdue) == (
        2,
        1,
        1,
        1,
        0,
    )
    assert dlh.median_first_response_hours == 3.0
