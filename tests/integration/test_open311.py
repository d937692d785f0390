"""Open311 GeoReport v2 under /open311/v2/: every endpoint in JSON and XML, as the
specification lays them out; a POSTed request through the one intake path, routed by its
service code, its contact confirmed before anything but the code reaches it; the keys'
command line as a process; and no personal data in anything the API publishes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from bot.bootstrap import Service
from bot.officers.actions import Actor, Role
from bot.web.open311 import Open311Keys
from storage.models import Complaint, ContactClaim, OutboxMessage
from tests.fakes import FakeClock, FakeSmsChannel
from tests.fakes.channels import inbound
from tests.integration.db import prepared_service, rows, settled
from tests.integration.forms import post_form
from tests.integration.service_process import clean_env, run_cli

API = "/open311/v2"
PHONE = "+6281298765432"
TYPED_PHONE = "0812 9876 5432"
EMAIL = "sari.wulandari@mail.example.com"
ADMIN = Actor(Role.ADMIN, 7, "Rina (admin)")
# Smoke by the words, a road by the chosen category: the category must win.
DESCRIPTION = "Asap hitam dan bau menyengat dari cerobong tiap malam di depan rumah"
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "agency_responsible",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "lat",
    "long",
)


async def new_key(service: Service, name: str = "city-app") -> str:
    return await Open311Keys(service.uow, service.clock).add(name, admin="test")


def report(key: str, **fields: str) -> dict[str, str]:
    """A POST's form: a road report with a place, a name and both contacts."""
    return {
        "api_key": key,
        "service_code": "pupr-roads",
        "description": DESCRIPTION,
        "lat": "-6.0123456",
        "long": "106.0456789",
        "address_string": "Jl. Kenari No. 12, RT 03",
        "first_name": "Sari",
        "last_name": "Wulandari",
        "phone": TYPED_PHONE,
        "email": EMAIL,
        "media_url": "https://photos.example.com/jalan-rusak.jpg",
        **fields,
    }


def errors(response: httpx.Response, fmt: str) -> list[tuple[int, str]]:
    """The specification's error list, read from either format."""
    if fmt == "json":
        return [(e["code"], e["description"]) for e in response.json()]
    root = ElementTree.fromstring(response.text)
    assert root.tag == "errors"
    return [
        (int(e.findtext("code") or 0), e.findtext("description") or "") for e in root.iter("error")
    ]


def xml_items(response: httpx.Response, root: str, item: str) -> list[dict[str, str | None]]:
    parsed = ElementTree.fromstring(response.text)
    assert parsed.tag == root, parsed.tag
    return [{child.tag: child.text for child in entry} for entry in parsed.findall(item)]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_discovery_services_and_definitions_as_the_specification_lays_out(
    client: httpx.AsyncClient, service: Service, fmt: str
) -> None:
    discovery = await client.get(f"{API}/discovery.{fmt}")
    services = await client.get(f"{API}/services.{fmt}")
    definition = await client.get(f"{API}/services/dlh-air-pollution.{fmt}")
    fallback = await client.get(f"{API}/services/fallback.{fmt}")
    unknown = await client.get(f"{API}/services/no-such-rule.{fmt}")

    media = {"json": "application/json", "xml": "application/xml"}[fmt]
    for answer in (discovery, services, definition, fallback):
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(media)
    assert unknown.status_code == 404 and errors(unknown, fmt)[0][0] == 404
    rules = service.router.compiled.rule_set
    if fmt == "json":
        [endpoint] = discovery.json()["endpoints"]
        listed: list[dict[str, Any]] = services.json()
        assert definition.json() == {"service_code": "dlh-air-pollution", "attributes": []}
    else:
        root = ElementTree.fromstring(discovery.text)
        assert root.tag == "discovery" and root.findtext("changeset")
        element = root.find("endpoints/endpoint")
        assert element is not None
        endpoint = {child.tag: child.text for child in element}
        endpoint["formats"] = [f.text for f in element.iter("format")]
        listed = xml_items(services, "services", "service")
        parsed = ElementTree.fromstring(definition.text)
        assert parsed.tag == "service_definition"
        assert parsed.findtext("service_code") == "dlh-air-pollution"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://127.0.0.1:8000/open311/v2"
    assert endpoint["type"] == "production" and endpoint["changeset"]
    assert set(endpoint["formats"]) == {"application/json", "application/xml"}
    # One service per routing category: every rule, and the fallback agency's.
    assert [s["service_code"] for s in listed] == [*(r.id for r in rules.rules), "fallback"]
    air = listed[0]
    assert set(air) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    assert air["service_name"] == (
        "Smoke, soot, dust and bad smells in the air, from plants, vehicles or yards"
    )
    assert str(air["metadata"]).lower() == "false" and air["type"] == "realtime"
    assert "asap" in str(air["keywords"]).split(", ")
    assert air["group"] == "Dinas Lingkungan Hidup"
    assert listed[-1]["service_name"] == "Lainnya"


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_refusals_are_the_specifications_error_lists(
    service: Service, clock: FakeClock, fmt: str
) -> None:
    limited = await prepared_service(
        service.settings,
        service.engine,
        clock,
        open311_posts_per_key="12/hour",
        open311_jurisdiction="kota.example.go.id",
    )
    key = await new_key(limited)
    revoked = await new_key(limited, "old-app")
    await Open311Keys(limited.uow, clock).revoke("old-app", admin="test")
    transport = httpx.ASGITransport(app=limited.app)
    posts = f"{API}/requests.{fmt}"
    async with (
        limited.running(),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client,
    ):
        refused = {
            "no key": await client.post(posts, data=report("")),
            "bad key": await client.post(posts, data=report("not-a-key")),
            "revoked": await client.post(posts, data=report(revoked)),
            "jurisdiction": await client.post(posts, data=report(key, jurisdiction_id="other")),
            "unknown service": await client.post(posts, data=report(key, service_code="x")),
            "no service": await client.post(posts, data=report(key, service_code="")),
            "no place": await client.post(
                posts, data=report(key, lat="", long="", address_string="")
            ),
            "bad lat": await client.post(posts, data=report(key, lat="91")),
            "bad phone": await client.post(posts, data=report(key, phone="12")),
            "bad media": await client.post(posts, data=report(key, media_url="file:///etc")),
            "no text": await client.post(posts, data=report(key, description=" ")),
            "status": await client.get(posts, params={"status": "pending"}),
            "date": await client.get(posts, params={"start_date": "yesterday"}),
            "unknown request": await client.get(f"{API}/requests/NOPE-NOPE.{fmt}"),
            "other city": await client.get(
                f"{API}/services.{fmt}", params={"jurisdiction_id": "other"}
            ),
        }
        accepted = [
            await client.post(posts, data=report(key, jurisdiction_id="kota.example.go.id"))
            for _ in range(2)
        ]
        # Refused posts with the key count too: a few more reach the limit.
        while (throttled := await client.post(posts, data=report(key))).status_code == 201:
            accepted.append(throttled)
        bad_format = await client.get(f"{API}/services.csv")

    expected = {
        "no key": 403,
        "bad key": 403,
        "revoked": 403,
        "jurisdiction": 404,
        "unknown service": 400,
        "no service": 400,
        "no place": 400,
        "bad lat": 400,
        "bad phone": 400,
        "bad media": 400,
        "no text": 400,
        "status": 400,
        "date": 400,
        "unknown request": 404,
        "other city": 404,
    }
    for case, status in expected.items():
        answer = refused[case]
        [(code, description)] = errors(answer, fmt)
        assert (answer.status_code, code) == (status, status), (case, answer.text)
        assert description, case
    assert "service_code 'x' not found" in errors(refused["unknown service"], fmt)[0][1]
    assert [a.status_code for a in accepted] == [201] * len(accepted)
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    assert errors(throttled, fmt)[0][0] == 429
    assert bad_format.status_code == 404 and errors(bad_format, "json")[0][0] == 404
    assert len(await rows(limited, Complaint)) == len(accepted)  # nothing refused was filed


async def test_a_posted_request_takes_the_intake_path_and_answers_its_confirmed_contact(
    client: httpx.AsyncClient, service: Service, sms: FakeSmsChannel
) -> None:
    key = await new_key(service)
    posted = await client.post(f"{API}/requests.json", data=report(key))

    assert posted.status_code == 201
    [answer] = posted.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    reference = answer["service_request_id"]
    assert "+62812•••••432" in answer["service_notice"] and PHONE not in posted.text
    [complaint] = await rows(service, Complaint)
    # Channel open311, routed by its service code (its words would have sent it to DLH).
    assert (complaint.reference, complaint.channel) == (reference, "open311")
    assert complaint.routing_rule == "pupr-roads"
    assert complaint.routing_explanation == "Kategori 'pupr-roads' dipilih pengirim."
    assert "https://photos.example.com/jalan-rusak.jpg" in complaint.text
    assert "tidak dibuka oleh sistem" in complaint.text
    [claim] = await rows(service, ContactClaim)
    assert (claim.channel, claim.address, claim.verified_at) == ("sms", PHONE, None)
    # Only the code went to the contact, at once, with the page to enter it on.
    [code_row] = await settled(service, OutboxMessage.recipient == PHONE)
    assert code_row.kind == "verification_code"
    [message] = sms.sent
    code = re.search(r"\b(\d{6})\b", message.text)
    link = re.search(r"(http://127\.0\.0\.1:8000/lacak/\S+)", message.text)
    assert code is not None and link is not None
    token = parse_qs(urlsplit(link[1]).query)["k"][0]

    await service.actions.ask_resident(reference, "Lubangnya di depan nomor berapa?", ADMIN)
    await settled(service, OutboxMessage.kind == "officer_question")
    assert len(sms.sent) == 1  # unconfirmed: the question shows on the page only

    confirmed = await post_form(
        client, {"k": token, "code": code[1]}, path=f"/lacak/{reference}/konfirmasi"
    )
    assert confirmed.status_code == 200 and "sudah dikonfirmasi" in confirmed.text
    await service.actions.answer(reference, "Jalan sudah ditambal hari ini.", ADMIN)
    [answered] = await settled(service, OutboxMessage.kind == "officer_reply")
    assert (answered.channel, answered.recipient) == ("sms", PHONE)
    assert "Jalan sudah ditambal hari ini." in sms.sent[-1].text


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_post_sent_again_with_its_idempotency_key_files_one_request(
    client: httpx.AsyncClient, service: Service
) -> None:
    key = await new_key(service)
    retry = {"Idempotency-Key": "kota-app-7f3a9c"}
    first = await client.post(f"{API}/requests.json", data=report(key), headers=retry)
    again = await client.post(f"{API}/requests.json", data=report(key), headers=retry)
    other = report(key, description="Sampah menumpuk di pasar sejak minggu lalu, bau sekali")
    reused = await client.post(f"{API}/requests.json", data=other, headers=retry)

    assert first.status_code == again.status_code == reused.status_code == 201
    [sent], [resent], [another] = first.json(), again.json(), reused.json()
    assert sent["service_request_id"] == resent["service_request_id"]
    assert another["service_request_id"] != sent["service_request_id"]  # another request
    assert len(await rows(service, Complaint)) == 2

    too_long = {"Idempotency-Key": "k" * 201}
    refused = await client.post(f"{API}/requests.json", data=report(key), headers=too_long)
    assert refused.status_code == 400
    assert errors(refused, "json") == [(400, "Idempotency-Key: 1 to 200 characters")]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_requests_filter_and_publish_no_personal_data(
    client: httpx.AsyncClient, service: Service, clock: FakeClock
) -> None:
    key = await new_key(service)
    old = await client.post(f"{API}/requests.json", data=report(key, service_code="dlh-rubbish"))
    clock.advance(days=100)
    posted = await client.post(f"{API}/requests.xml", data=report(key))
    [reference] = [
        e.findtext("service_request_id") or "" for e in ElementTree.fromstring(posted.text)
    ]
    web = await client.post(
        "/api/complaints",
        json={
            "text": "Lampu jalan mati, hubungi 4111 1111 1111 1111",
            "name": "Budi Santoso",
            "contact": "budi.santoso@mail.example.com",
        },
    )
    await service.actions.close(web.json()["reference"], ADMIN, note="Sudah diperbaiki.")
    [old_reference] = [a["service_request_id"] for a in old.json()]

    recent = await client.get(f"{API}/requests.json")
    closed = await client.get(f"{API}/requests.json", params={"status": "closed"})
    by_code = await client.get(f"{API}/requests.json", params={"service_code": "pupr-roads"})
    window = await client.get(
        f"{API}/requests.json",
        params={
            "start_date": (clock.now() - timedelta(days=120)).isoformat(),
            "end_date": (clock.now() - timedelta(days=90)).isoformat(),
        },
    )
    by_ids = await client.get(
        f"{API}/requests.xml", params={"service_request_id": f"{old_reference},{reference}"}
    )
    one = await client.get(f"{API}/requests/{reference.lower()}.json")
    one_xml = await client.get(f"{API}/requests/{reference}.xml")

    [found] = one.json()
    assert tuple(found) == REQUEST_FIELDS
    assert found["service_request_id"] == reference and found["status"] == "open"
    assert found["agency_responsible"] == "Dinas Pekerjaan Umum dan Penataan Ruang"
    assert (found["lat"], found["long"]) == (-6.012, 106.046)  # rounded: not someone's door
    assert found["expected_datetime"].endswith("+07:00")
    assert {r["service_request_id"] for r in recent.json()} == {reference, web.json()["reference"]}
    assert [r["status"] for r in closed.json()] == ["closed"]
    assert [r["service_request_id"] for r in by_code.json()] == [reference]
    assert [r["service_request_id"] for r in window.json()] == [old_reference]
    assert {i["service_request_id"] for i in xml_items(by_ids, "service_requests", "request")} == {
        old_reference,
        reference,
    }
    [item] = xml_items(one_xml, "service_requests", "request")
    assert tuple(item) == REQUEST_FIELDS
    services = [await client.get(f"{API}/services.{f}") for f in ("json", "xml")]
    answers = (recent, closed, by_code, window, by_ids, one, one_xml, *services)
    published = " ".join(answer.text for answer in answers)
    for personal in (
        re.compile(r"(?:\+62|\b0)8\d[\d -]{6,}"),  # phone numbers
        re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"),  # email addresses
        re.compile(r"\b\d{16}\b|\b\d{4} \d{4} \d{4} \d{4}\b"),  # NIK and card numbers
    ):
        assert not personal.search(published), personal.pattern
    for typed in (
        "Sari",
        "Wulandari",
        "Budi",
        "Kenari",
        "cerobong tiap malam",
        "Lampu jalan",
        "photos.example.com",
        "-6.0123",
        "106.0456",
    ):
        assert typed not in published, typed


async def test_a_listing_by_status_is_the_newest_of_all_those_statuses(
    service: Service, clock: FakeClock
) -> None:
    """Each status is read apart (see Open311Repository.public_requests); what comes back
    is still the newest `limit` of them all, newest first."""
    filed = []
    for number, status in enumerate(["closed", "rejected", "closed", "rejected", "new"]):
        receipt = await service.deliver(
            inbound(f"Asap pabrik nomor {number}", sender=f"+6281200000{number}", at=clock.now())
        )
        filed.append((receipt.reference, status))
        clock.advance(minutes=5)
    async with service.engine.begin() as connection:
        for reference, status in filed:
            await connection.execute(
                sa.update(Complaint)
                .where(col(Complaint.reference) == reference)
                .values(status=status)
            )
    async with service.uow() as uow:
        listed = await uow.open311.public_requests(
            statuses={"closed", "rejected"},
            since=clock.now() - timedelta(days=1),
            until=clock.now(),
            limit=3,
        )
    assert [row.reference for row in listed] == [filed[3][0], filed[2][0], filed[1][0]]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_keys_on_the_command_line(service: Service, tmp_path: Path) -> None:
    env = clean_env(service.settings.database_url, None, log_level="WARNING")

    made = run_cli("open311", "keys", "add", "city-app", "--admin", "rina", env=env, cwd=tmp_path)
    again = run_cli("open311", "keys", "add", "city-app", env=env, cwd=tmp_path)
    bad = run_cli("open311", "keys", "add", "no spaces", env=env, cwd=tmp_path)
    listed = run_cli("open311", "keys", "list", env=env, cwd=tmp_path)
    revoked = run_cli("open311", "keys", "revoke", "city-app", env=env, cwd=tmp_path)
    twice = run_cli("open311", "keys", "revoke", "city-app", env=env, cwd=tmp_path)
    missing = run_cli("open311", "keys", "revoke", "nobody", env=env, cwd=tmp_path)
    after = run_cli("open311", "keys", "list", env=env, cwd=tmp_path)

    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key)
    assert again.returncode == 1 and "already a key named 'city-app'" in again.stderr
    assert bad.returncode == 1 and "key name 'no spaces'" in bad.stderr
    for refused in (again, bad, twice, missing):
        assert "Traceback" not in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert listed.returncode == 0 and "city-app" in listed.stdout and "in use" in listed.stdout
    assert key not in listed.stdout
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert twice.returncode == 1 and missing.returncode == 1
    assert "revoked 20" in after.stdout
    keys = Open311Keys(service.uow, service.clock)
    assert await keys.holder(key) is None


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_report_in_a_category_is_never_a_command(
    client: httpx.AsyncClient, service: Service
) -> None:
    key = await new_key(service)
    posted = await client.post(
        f"{API}/requests.json",
        data=report(key, description="BANTUAN", phone="", email="", media_url=""),
    )

    assert posted.status_code == 201 and posted.json()[0]["service_request_id"]
    [complaint] = await rows(service, Complaint)
    assert (complaint.text, complaint.routing_rule) == ("BANTUAN", "pupr-roads")
