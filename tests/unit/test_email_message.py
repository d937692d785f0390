"""Reading email as real clients send it (fixtures in tests/data/email), and never raising."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.base import (
    MAX_ATTACHMENTS,
    ChannelName,
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    RefusedMessage,
)
from channels.email_message import Parsed, largest_raw, parse_email, read_email
from channels.email_text import decode_text, html_to_text, strip_reply, unflow
from tests.integration.forms import camera_traces, photo_with_location

DATA = Path(__file__).parents[1] / "data" / "email"
AT = datetime(2024, 12, 3, 3, 0, tzinfo=UTC)
MB = 1024 * 1024
OURS = "<aduan.K7QD-4XMP.ack.1@aduan.kota.go.id>"


def note(files: Sequence[str]) -> str:
    return "[dropped: " + "; ".join(files) + "]"


def parse(raw: bytes, *, max_bytes: int = 25 * MB) -> Parsed:
    return parse_email(raw, received_at=AT, max_bytes=max_bytes, dropped_note=note)


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def message(name: str) -> InboundMessage:
    parsed = parse(fixture(name))
    assert isinstance(parsed, InboundMessage), parsed
    return parsed


def refused(raw: bytes) -> RefusedMessage:
    parsed = parse(raw)
    assert isinstance(parsed, RefusedMessage), parsed
    return parsed


# --- real clients ------------------------------------------------------------------------


def test_gmail_reply_in_indonesian() -> None:
    got = message("gmail_reply_id.eml")

    assert got.channel is ChannelName.EMAIL
    assert got.sender == "siti.nurhaliza@gmail.com"
    assert got.display_name == "Siti Núrhaliza"
    assert got.subject == "Re: [K7QD-4XMP] Pengaduan jalan berlubang di Jl. Mawar"
    assert got.provider_message_id == "<CAHx9Yk2vQm=Q7m1pR3a+Tz0bLwP@mail.gmail.com>"
    assert got.text == (
        "Terima kasih, tapi lubangnya masih ada dan makin besar setelah hujan semalam.\n"
        "Mohon segera ditambal sebelum ada yang celaka.\n\nSalam,\nSiti"
    )
    assert got.original_text is not None
    assert "menulis:" in got.original_text and "> Pengaduan K7QD-4XMP" in got.original_text
    assert got.thread_keys == (OURS, "<CAF=ab12cd34ef56@mail.gmail.com>")
    assert got.subject_reference == "K7QD-4XMP"
    # A subject reference is only a candidate: the service decides whether it counts.
    assert got.reference is None


def test_outlook_in_indonesian_windows_1252() -> None:
    got = message("outlook_id.eml")

    assert got.sender == "andre.wijaya@outlook.co.id"
    assert got.display_name == "André Wijaya"
    assert got.subject == "RE: [K7QD-4XMP] Pengaduan Anda sudah diterima"
    assert got.text == (
        "Selamat pagi,\n\nLampu penerangan jalan di depan Masjid Al-Ikhlas sudah mati "
        "“sejak minggu lalu” – jalan jadi gelap sekali.\n\nHormat kami,\nAndré Wijaya"
    )
    assert got.original_text is not None and "Dikirim: Senin" in got.original_text
    assert got.subject_reference == "K7QD-4XMP"


def test_thunderbird_format_flowed_and_signature() -> None:
    got = message("thunderbird_flowed.eml")

    assert got.text == (
        "Sudah dua minggu sampah di TPS Kelurahan Sukamaju tidak diangkut. Baunya sampai ke "
        "rumah warga dan banyak lalat. Mohon truk sampah dijadwalkan ulang.\n\nTerima kasih."
    )
    assert got.original_text is not None and "RT 04 / RW 02" in got.original_text


def test_ios_mail_inline_photo_and_signature() -> None:
    got = message("ios_inline_image.eml")

    assert got.text == (
        "Ada pohon tumbang menutup separuh jalan di Jl. Melati dekat pos ronda. Foto terlampir."
    )
    assert [(a.filename, a.content_type) for a in got.attachments] == [
        ("IMG_4821.jpeg", "image/jpeg")
    ]
    assert got.attachments[0].content.startswith(b"\xff\xd8\xff")
    assert got.original_text is not None and "Dikirim dari iPhone saya" in got.original_text


def test_yahoo_android_signature_and_indented_quote() -> None:
    got = message("yahoo_android.eml")

    assert got.text == "Saluran air di gang kami tersumbat, kalau hujan air masuk ke rumah."
    assert got.thread_keys == (OURS,)


def test_html_only_becomes_text_without_scripts_or_quote() -> None:
    got = message("html_only.eml")

    assert got.subject == "Trotoar rusak di Jl. Kenanga"
    assert got.text == (
        "Yth. Bapak/Ibu,\n\nTrotoar di Jl. Kenanga rusak & membahayakan pejalan kaki — "
        "terutama anak sekolah.\n\n- Lokasi: depan SDN 5\n- Sejak: Oktober\n\n"
        "Terima kasih.\nYusuf"
    )
    assert got.original_text is not None
    assert "alert" not in got.original_text and "font-family" not in got.original_text


@pytest.mark.parametrize(
    ("name", "sender_name", "subject", "text"),
    [
        (
            "mislabelled_us_ascii.eml",
            "Agus Salim",
            "Air PDAM mati – Jl. Anggrek",
            "Air PDAM mati sejak Senin – warga “kesulitan”, café di sudut jalan tutup.",
        ),
        (
            "mislabelled_utf8.eml",
            "Rina Maré",
            "Lampu merah rusak – perempatan Jl. Dahlia",
            "Lampu lalu lintas di perempatan Jl. Dahlia mati total – sudah 3 hari. "
            "“Bahaya” kata warga.",
        ),
        (
            "iso_8859_1.eml",
            "José Ramos",
            "Gang becek · RT 05",
            "Jalan gang RT 05 becek sepanjang 50 m, ada genangan ± 20 cm. Salam, José.",
        ),
    ],
)
def test_charsets_read_even_when_mislabelled(
    name: str, sender_name: str, subject: str, text: str
) -> None:
    got = message(name)

    assert (got.display_name, got.subject, got.text) == (sender_name, subject, text)
    assert got.original_text is None  # nothing was cut


def test_tnef_winmail_dat_dropped_and_said_so() -> None:
    got = message("tnef_winmail.eml")

    assert got.attachments == ()
    assert got.text == (
        "Limbah cair pabrik tahu di Jl. Sungai dibuang langsung ke kali setiap malam.\n\n"
        "[dropped: winmail.dat (application/ms-tnef)]"
    )


def test_dropped_files_unsaid_without_a_note() -> None:
    got = parse_email(fixture("tnef_winmail.eml"), received_at=AT, max_bytes=25 * MB)

    assert isinstance(got, InboundMessage)
    assert got.text.endswith("setiap malam.")


# --- automatic mail ------------------------------------------------------------------------


def test_dsn_bounce_reports_our_message_undelivered() -> None:
    got = parse(fixture("dsn_postfix.eml"))

    assert got == DeliveryReport(
        channel=ChannelName.EMAIL,
        provider_message_id=OURS,
        status=DeliveryStatus.UNDELIVERED,
        reported_at=AT,
        error_code=(
            "5.1.1 (smtp; 550-5.1.1 The email account that you tried to reach does not exist.)"
        ),
    )


def test_dsn_with_headers_only_and_a_delay() -> None:
    got = parse(fixture("dsn_gmail_headers.eml"))

    assert isinstance(got, DeliveryReport)
    assert got.provider_message_id == "<aduan.K7QD-4XMP.answer.2@aduan.kota.go.id>"
    assert got.status is DeliveryStatus.SENDING  # still being tried: nothing final
    assert got.error_code is not None and got.error_code.startswith("4.4.1")


def test_dsn_naming_the_original_by_original_message_id() -> None:
    raw = fixture("dsn_unidentified.eml").replace(
        b"Action: failed", b"Original-Message-ID: " + OURS.encode() + b"\r\nAction: failed"
    )

    got = parse(raw)

    assert isinstance(got, DeliveryReport)
    assert (got.provider_message_id, got.status) == (OURS, DeliveryStatus.UNDELIVERED)
    assert got.error_code == "5.0.0"


def test_dsn_about_an_unknown_message_is_refused() -> None:
    got = refused(fixture("dsn_unidentified.eml"))

    assert "does not identify" in got.reason
    assert got.sender == "mailer-daemon@mx.contoh.net"
    assert got.provider_message_id == "<E1tIk3a-0001ab-Cd@mx.contoh.net>"
    assert got.raw == fixture("dsn_unidentified.eml")


def test_vacation_reply_refused_naming_the_header() -> None:
    got = refused(fixture("vacation.eml"))

    assert got.reason == "an automatic message (Auto-Submitted: auto-replied)"


def test_mailing_list_refused() -> None:
    got = refused(fixture("mailing_list.eml"))

    assert "Precedence: list" in got.reason


def plain(**headers: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = headers.pop("From", "Warga <warga@example.net>")
    mail["To"] = "aduan@aduan.kota.go.id"
    mail["Subject"] = "Jalan rusak"
    mail["Message-ID"] = "<m1@example.net>"
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content("Jalan di depan rumah rusak parah sejak hujan kemarin.")
    return mail.as_bytes()


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Auto_Submitted": "auto-generated"}, "Auto-Submitted: auto-generated"),
        ({"Precedence": "bulk"}, "Precedence: bulk"),
        ({"Precedence": "junk"}, "Precedence: junk"),
        ({"X_Autoreply": "yes"}, "X-Autoreply: yes"),
        ({"X_Autorespond": "Saya sedang cuti"}, "X-Autorespond"),
        ({"List_Id": "<warga.lists.example.net>"}, "List-Id: <warga.lists.example.net>"),
        ({"From": "MAILER-DAEMON@mx.example.net"}, "From: mailer-daemon@mx.example.net"),
        ({"From": "Postmaster <postmaster@example.net>"}, "From: postmaster@example.net"),
        ({"Return_Path": "<>"}, "Return-Path: <>"),
    ],
)
def test_automatic_mail_refused_naming_the_header(headers: dict[str, str], named: str) -> None:
    got = refused(plain(**headers))

    assert named in got.reason


@pytest.mark.parametrize("value", ["no", "No (manual)", "no; reason=typed", "(sent by) NO"])
def test_auto_submitted_no_is_a_person(value: str) -> None:
    assert isinstance(parse(plain(Auto_Submitted=value)), InboundMessage)


def test_a_huge_references_header_gives_the_newest_keys_only() -> None:
    # 50,000 Message-IDs in 1 MB: read in linear time, kept to the newest hundred.
    ids = [f"<{n}@x.example>" for n in range(50_000)]
    got = parse(plain(In_Reply_To="<answered@x.example>", References=" ".join(ids)))

    assert isinstance(got, InboundMessage)
    assert got.thread_keys == ("<answered@x.example>", *reversed(ids[-99:]))


def test_other_reports_refused() -> None:
    raw = fixture("dsn_postfix.eml").replace(
        b"report-type=delivery-status", b"report-type=disposition-notification"
    )

    assert "disposition-notification" in refused(raw).reason


# --- files --------------------------------------------------------------------------------


def with_files(*files: tuple[str, str, bytes]) -> bytes:
    mail = EmailMessage()
    mail["From"] = "warga@example.net"
    mail["Subject"] = "Foto"
    mail["Message-ID"] = "<files@example.net>"
    mail.set_content("Foto jalan rusak terlampir.")
    for name, kind, content in files:
        maintype, subtype = kind.split("/")
        mail.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return mail.as_bytes()


async def test_a_photo_loses_its_camera_data_and_a_heic_becomes_a_jpeg() -> None:
    raw = with_files(
        ("IMG_0042.jpeg", "image/jpeg", photo_with_location()),
        ("IMG_0043.HEIC", "image/heic", photo_with_location("HEIF")),
        ("laporan.pdf", "application/pdf", b"%PDF-1.4 SN-0042-SECRET"),
    )
    parsed = await read_email(raw, received_at=AT, max_bytes=25 * MB)
    assert isinstance(parsed, InboundMessage)
    jpeg, heic, pdf = parsed.attachments
    assert (jpeg.filename, jpeg.content_type) == ("IMG_0042.jpg", "image/jpeg")
    assert (heic.filename, heic.content_type) == ("IMG_0043.jpg", "image/jpeg")
    assert camera_traces(jpeg.content) == [] and camera_traces(heic.content) == []
    assert pdf.content == b"%PDF-1.4 SN-0042-SECRET"  # not a picture: as it came


def test_20_mb_attachment_kept_within_the_limit() -> None:
    photo = b"\xff\xd8\xff\xe0" + bytes(20 * MB)

    got = parse(with_files(("jalan.jpg", "image/jpeg", photo)))

    assert isinstance(got, InboundMessage)
    assert [(a.filename, a.content_type) for a in got.attachments] == [("jalan.jpg", "image/jpeg")]
    assert got.attachments[0].content == photo
    assert got.text == "Foto jalan rusak terlampir."


def test_files_beyond_the_limit_dropped_and_said_so() -> None:
    first, second = bytes(600 * 1024), bytes(500 * 1024)

    got = parse(
        with_files(("a.pdf", "application/pdf", first), ("b.pdf", "application/pdf", second)),
        max_bytes=1 * MB,
    )

    assert isinstance(got, InboundMessage)
    assert [a.filename for a in got.attachments] == ["a.pdf"]
    assert got.text.endswith("[dropped: b.pdf (application/pdf), 512000 bytes]")


def test_message_far_beyond_the_limit_refused() -> None:
    raw = with_files(("big.pdf", "application/pdf", bytes(2 * MB)))

    got = parse(raw, max_bytes=1 * MB)

    assert isinstance(got, RefusedMessage)
    assert got.reason == f"larger than {largest_raw(MB)} bytes"
    assert got.provider_message_id == "<files@example.net>"


def test_allowed_types_kept_and_others_dropped() -> None:
    got = parse(
        with_files(
            ("surat.docx", "application/octet-stream", b"PK\x03\x04docx"),
            (
                "data.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                b"PK",
            ),
            ("catatan.txt", "text/plain", b"catatan"),
            ("gambar.svg", "image/svg+xml", b"<svg onload='x()'/>"),
            ("setup.exe", "application/x-msdownload", b"MZ"),
            ("halaman.html", "text/html", b"<p onclick='x()'>hai</p><script>x()</script>"),
        )
    )

    assert isinstance(got, InboundMessage)
    kept = {a.filename: (a.content_type, a.content) for a in got.attachments}
    assert kept["surat.docx"][0] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert "data.xlsx" in kept and kept["catatan.txt"] == ("text/plain", b"catatan")
    assert kept["halaman.html"] == ("text/html", b"<p>hai</p>")  # sanitised by nh3
    assert "gambar.svg" not in kept and "setup.exe" not in kept
    assert got.text.endswith(
        "[dropped: gambar.svg (image/svg+xml); setup.exe (application/x-msdownload)]"
    )


def test_filenames_lose_their_folders() -> None:
    got = parse(with_files(("C:\\Users\\warga\\..\\foto.png", "image/png", b"\x89PNG")))

    assert isinstance(got, InboundMessage)
    assert [a.filename for a in got.attachments] == ["foto.png"]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("/etc/cron.d/x.png", "x.png"),
        ("..\\..\\windows\\win.ini.png", "win.ini.png"),
        ("foto\x00.exe.png", "foto.exe.png"),
        ("..png", "png"),
        ("..", "attachment-1.png"),
        ("x" * 5000 + ".png", "x" * 196 + ".png"),
    ],
)
def test_hostile_file_names_become_bare_short_names(given: str, kept: str) -> None:
    got = parse(with_files((given, "image/png", b"\x89PNG")))

    assert isinstance(got, InboundMessage)
    assert [a.filename for a in got.attachments] == [kept]


def test_files_beyond_the_most_one_message_brings_dropped_and_said_so() -> None:
    files = [(f"f{n}.png", "image/png", b"\x89PNG" + bytes([n])) for n in range(25)]

    got = parse(with_files(*files))

    assert isinstance(got, InboundMessage)
    assert len(got.attachments) == MAX_ATTACHMENTS
    assert got.text.endswith(f"f24.png (image/png), over {MAX_ATTACHMENTS} files]")


# --- broken mail --------------------------------------------------------------------------


def test_broken_boundaries_still_read() -> None:
    got = message("broken_boundary.eml")

    assert got.text.startswith("Got di depan rumah mampet")
    assert [a.filename for a in got.attachments] == ["foto.png"]


def test_missing_headers_refused_with_a_digest_for_id() -> None:
    got = refused(fixture("missing_headers.eml"))

    assert got.reason == "no sender address (From)"
    assert got.provider_message_id.startswith("<sha256:")


def test_binary_garbage_refused() -> None:
    got = refused(fixture("binary_garbage.eml"))

    assert got.raw == fixture("binary_garbage.eml")


def test_empty_bytes_refused() -> None:
    assert isinstance(parse(b""), RefusedMessage)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_any_bytes_never_raise(raw: bytes) -> None:
    assert isinstance(parse(raw), InboundMessage | DeliveryReport | RefusedMessage)


FIXTURES = sorted(path.name for path in DATA.glob("*.eml"))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A fixture with bytes flipped, cut out, or pasted in at random places."""
    raw = bytearray(fixture(draw(st.sampled_from(FIXTURES))))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(raw)))
        match draw(st.sampled_from(("flip", "cut", "paste"))):
            case "flip" if at < len(raw):
                raw[at] = draw(st.integers(0, 255))
            case "cut":
                del raw[at : at + draw(st.integers(1, 64))]
            case _:
                raw[at:at] = draw(
                    st.sampled_from(
                        (b"\r\n", b"\r\n\r\n", b"--", b"=?", b"?=", b"=?utf-8?q?=FF?=", b"\x00",
                         b"\xff\xfe", b";", b'"', b"<", b">", b"\r\n--000000000000a1b2c3d4e5f60718",
                         b"Content-Type: multipart/mixed; boundary=x\r\n", b"charset=utf-7")
                    )
                )  # fmt: skip
    return bytes(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_fixtures_never_raise(raw: bytes) -> None:
    got = parse(raw)

    assert isinstance(got, InboundMessage | DeliveryReport | RefusedMessage)
    # Read or refused for what it is, never by the last-resort catch.
    assert not (isinstance(got, RefusedMessage) and got.reason.startswith("cannot be parsed"))


# --- the text helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "declared", "text"),
    [
        ("café".encode(), "us-ascii", "café"),
        ("“kutip”".encode("cp1252"), "utf-8", "“kutip”"),
        ("“kutip”".encode("cp1252"), None, "“kutip”"),
        ("ü".encode("latin-1"), "iso-8859-1", "ü"),
        ("привет".encode("koi8-r"), "koi8-r", "привет"),
        ("日本".encode("iso-2022-jp"), "iso-2022-jp", "日本"),
        (b"plain", "x-no-such-charset", "plain"),
        (b"\x81\x8d", "utf-8", "\ufffd\ufffd"),
    ],
)
def test_decode_text(data: bytes, declared: str | None, text: str) -> None:
    assert decode_text(data, declared) == text


def test_unflow_joins_soft_breaks_only() -> None:
    assert unflow("satu \ndua\n> kutip \n> lanjut\n-- \nnama", delsp=False) == (
        "satu dua\n> kutip lanjut\n-- \nnama"
    )
    assert unflow("sa \ntu", delsp=True) == "satu"


@pytest.mark.parametrize(
    ("text", "own"),
    [
        ("Baik.\n\n-----Pesan Asli-----\nDari: A\nIsi lama", "Baik."),
        ("Siap.\n\nOn Mon, 2 Dec 2024 at 10:15, A <a@b.id> wrote:\n> lama", "Siap."),
        ("Oke.\n\nSent from my iPhone", "Oke."),
        ("Masih belum.\n-- \nBudi Santoso\n0812-3456-7890", "Masih belum."),
        ("Masih belum.\n--\nBudi Santoso", "Masih belum."),
        ("Oke.\n\nDikirim dari Yahoo Mail untuk iPhone", "Oke."),
        ("Mohon dicek.\n\nPada tanggal 2 Des 2024, A <a@b.id> menulis:\n> lama", "Mohon dicek."),
        ("Tolong.\n\nDari: Dinas <d@kota.go.id>\nTanggal: Senin\nKepada: saya\n\nlama", "Tolong."),
        # A forwarded message is the evidence the sender wants read: kept.
        (
            "Lihat ini.\n\n---------- Forwarded message ---------\nFrom: A <a@b.id>\n\nIsi",
            "Lihat ini.\n\n---------- Forwarded message ---------\nFrom: A <a@b.id>\n\nIsi",
        ),
        ("Pada dasarnya jalan ini rusak.", "Pada dasarnya jalan ini rusak."),
        ("-rusak\n-banjir", "-rusak\n-banjir"),
    ],
)
def test_strip_reply(text: str, own: str) -> None:
    assert strip_reply(text) == own


def test_html_to_text_marks_quotes() -> None:
    assert html_to_text("<p>baru</p><blockquote>lama<br>sekali</blockquote>") == (
        "baru\n\n> lama\n> sekali"
    )


@pytest.mark.parametrize(
    ("subject", "reference"),
    [
        ("Re: [K7QD-4XMP] Pengaduan", "K7QD-4XMP"),
        ("AW: SV: Balas: BLS: [k7qd4xmp] x", "K7QD-4XMP"),
        ("Fwd: TRS: VS: [ K7QD 4XMP ] x", "K7QD-4XMP"),
        ("Re: K7QD-4XMP tanpa kurung", None),
        ("[Warga] Kerja bakti", None),
    ],
)
def test_subject_reference(subject: str, reference: str | None) -> None:
    got = parse(plain().replace(b"Subject: Jalan rusak", b"Subject: " + subject.encode()))

    assert isinstance(got, InboundMessage)
    assert got.subject_reference == reference
