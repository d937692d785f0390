"""What residents and agencies read: every text in Indonesian and English.

A key ending in `_short` is the variant for residents who pay per SMS segment: it must fit
one GSM-7 segment (160 characters) with any default agency and date, so it names the
agency by its code and the due date without the year.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.lifecycle import ComplaintStatus

_TEXTS: dict[str, dict[str, str]] = {
    "ack_new": {
        "id": "Terima kasih, pengaduan Anda diterima dengan nomor {reference}. Ditangani oleh "
        "{agency}; jawaban paling lambat {due}. Cek status: kirim STATUS {reference}.",
        "en": "Thank you, your complaint is registered as {reference}. It is handled by "
        "{agency}; expect an answer by {due}. To check: send STATUS {reference}.",
    },
    "ack_new_short": {
        "id": "Aduan diterima, no. {reference}. Ditangani {agency_code}, dijawab paling lambat "
        "{due_short}. Cek: STATUS {reference}.",
        "en": "Complaint {reference} received. {agency_code} will answer by {due_short}. "
        "Check: STATUS {reference}.",
    },
    "ack_follow_up": {
        "id": "Tambahan informasi untuk pengaduan {reference} sudah kami terima dan diteruskan "
        "ke {agency}.",
        "en": "We received your additional information for complaint {reference} and passed it "
        "to {agency}.",
    },
    "ack_reopened": {
        "id": "Pengaduan {reference} dibuka kembali dan diteruskan ke {agency}.",
        "en": "Complaint {reference} is reopened and passed to {agency}.",
    },
    "not_complainant": {
        "id": "Pengaduan {reference} dikirim dengan nomor HP atau email. Kirim tambahan "
        "informasi dari kontak yang sama.",
        "en": "Complaint {reference} was filed with a phone number or email address; please "
        "add information from that same contact.",
    },
    "long_text_kept": {
        "id": " Pesan Anda sangat panjang; teks lengkapnya kami simpan sebagai lampiran.",
        "en": " Your message was very long; we kept the full text as an attachment.",
    },
    "long_text_kept_short": {
        "id": " Teks lengkap disimpan.",
        "en": " Full text kept.",
    },
    "status": {
        "id": "Pengaduan {reference}: {status}. Instansi: {agency}. Batas jawaban: {due}.",
        "en": "Complaint {reference}: {status}. Agency: {agency}. Answer due: {due}.",
    },
    "status_short": {
        "id": "Pengaduan {reference}: {status}. Instansi: {agency_code}. Batas jawaban: "
        "{due_short}.",
        "en": "Complaint {reference}: {status}. Agency: {agency_code}. Answer due: {due_short}.",
    },
    "status_unknown": {
        "id": "Nomor pengaduan {typed} tidak ditemukan. Periksa kembali nomornya, contoh: "
        "STATUS K7QD-4XMP.",
        "en": "We could not find complaint {typed}. Please check the number, for example: "
        "STATUS K7QD-4XMP.",
    },
    "status_missing": {
        "id": "Tulis nomor pengaduan setelah STATUS, contoh: STATUS K7QD-4XMP.",
        "en": "Please put the complaint number after STATUS, for example: STATUS K7QD-4XMP.",
    },
    "rating_thanks": {
        "id": "Terima kasih atas penilaian {score}/5 untuk pengaduan {reference}.",
        "en": "Thank you for rating complaint {reference} {score}/5.",
    },
    "rating_nothing": {
        "id": "Belum ada pengaduan selesai yang bisa dinilai. Untuk mengadu, tuliskan "
        "masalahnya dalam satu pesan.",
        "en": "There is no closed complaint to rate yet. To complain, describe the problem in "
        "one message.",
    },
    "language_set": {
        "id": "Baik, kami akan membalas dalam Bahasa Indonesia.",
        "en": "OK, we will reply in English.",
    },
    "language_unknown": {
        "id": "Pilihan bahasa: BAHASA ID (Indonesia) atau BAHASA EN (English).",
        "en": "Language choices: BAHASA ID (Indonesian) or BAHASA EN (English).",
    },
    "too_short": {
        "id": 'Mohon jelaskan masalahnya: apa yang terjadi dan di mana. Contoh: "Lampu jalan '
        'di Jl. Mawar 12 mati sejak Senin".',
        "en": 'Please describe the problem: what happened and where. For example: "The street '
        'light at Jl. Mawar 12 has been out since Monday".',
    },
    "help": {
        "id": "Layanan pengaduan kota. Kirim masalah dan lokasinya dalam satu pesan. "
        "STATUS <nomor>: cek pengaduan. BAHASA EN: English. 1-5: nilai jawaban. "
        "BERHENTI: stop pesan. MULAI: aktif lagi.",
        "en": "City complaint service. Send the problem and where it is in one message. "
        "STATUS <number>: check a complaint. BAHASA ID: Indonesian. 1-5: rate an answer. "
        "STOP: no more messages. START: resume.",
    },
    "opted_out": {
        "id": "Anda tidak akan menerima {medium} lagi dari layanan ini. Kirim MULAI untuk "
        "berlangganan kembali.",
        "en": "You will not receive any more {medium} from this service. Send START to "
        "subscribe again.",
    },
    "opted_in": {
        "id": "Anda akan menerima {medium} lagi dari layanan ini. Kirim BANTUAN untuk petunjuk.",
        "en": "You will receive {medium} from this service again. Send HELP for instructions.",
    },
    # What {medium} is on channels other than SMS.
    "messages": {"id": "pesan", "en": "messages"},
    "throttled": {
        "id": "Pesan Anda terlalu banyak; coba lagi nanti. Pesan berikutnya tetap kami simpan, "
        "tetapi baru kami balas setelah {until}.",
        "en": "You have sent too many messages; please try again later. We keep what you send "
        "but will not answer before {until}.",
    },
    "agency_opted_out": {
        "id": "\nCatatan: pelapor meminta berhenti menerima pesan (BERHENTI); jawaban tidak "
        "sampai kepadanya sampai ia mengirim MULAI.",
        "en": "\nNote: the resident asked for no more messages (STOP); answers will not reach "
        "them until they send START.",
    },
    "agency_new": {
        "id": "Pengaduan baru {reference} (via {channel}, dari {contact}).\n{text}\n\n"
        "Lokasi: {location}\nAlasan diteruskan: {why}\nBatas jawaban: {due}",
        "en": "New complaint {reference} (via {channel}, from {contact}).\n{text}\n\n"
        "Location: {location}\nRouted because: {why}\nAnswer due: {due}",
    },
    "agency_follow_up": {
        "id": "Tambahan dari pelapor untuk {reference}:\n{text}",
        "en": "The resident added to {reference}:\n{text}",
    },
    "officer_reply": {
        "id": "Jawaban {agency} untuk pengaduan {reference}:\n{text}",
        "en": "{agency} answered complaint {reference}:\n{text}",
    },
    "officer_question": {
        "id": "{agency} membutuhkan informasi tambahan untuk pengaduan {reference}:\n{text}\n"
        "Balas pesan ini untuk menjawab.",
        "en": "{agency} needs more information about complaint {reference}:\n{text}\n"
        "Reply to this message to answer.",
    },
    "closure": {
        "id": "Pengaduan {reference} telah diselesaikan oleh {agency}. {text}\nSeberapa puas Anda? "
        "Balas dengan angka 1 (buruk) sampai 5 (sangat baik).",
        "en": "{agency} has closed complaint {reference}. {text}\nHow satisfied are you? Reply "
        "with a number from 1 (poor) to 5 (very good).",
    },
    "rejection": {
        "id": "Pengaduan {reference} tidak dapat ditindaklanjuti oleh {agency}. Alasan: {text}",
        "en": "{agency} cannot act on complaint {reference}. Reason: {text}",
    },
    "chase_half": {
        "id": "Pengingat: pengaduan {reference} sudah memakai separuh waktu jawaban. "
        "Batas jawaban: {due}.\n{text}",
        "en": "Reminder: complaint {reference} has used half of its answer time. Due: {due}.\n"
        "{text}",
    },
    "chase_officer": {
        "id": "Pengingat: pengaduan {reference} yang Anda tangani harus dijawab sebelum {due} "
        "(75% waktu terpakai).\n{text}",
        "en": "Reminder: complaint {reference}, which you took, must be answered by {due} "
        "(75% of the time used).\n{text}",
    },
    "chase_supervisor": {
        "id": "Perhatian: pengaduan {reference} di {agency} belum dijawab dan jatuh tempo {due} "
        "(90% waktu terpakai).\n{text}",
        "en": "Attention: complaint {reference} at {agency} is unanswered and due {due} "
        "(90% of the time used).\n{text}",
    },
    "chase_breach": {
        "id": "TERLAMBAT: pengaduan {reference} di {agency} melewati batas jawaban {due}.\n{text}",
        "en": "OVERDUE: complaint {reference} at {agency} missed its answer time {due}.\n{text}",
    },
    "chase_daily": {
        "id": "Masih terlambat {days} hari: pengaduan {reference} di {agency} (batas {due}).\n"
        "{text}",
        "en": "Still overdue by {days} days: complaint {reference} at {agency} (due {due}).\n"
        "{text}",
    },
    "digest": {
        "id": "Ringkasan pengaduan {agency}, {date}\nTerbuka: {open}\nJatuh tempo hari ini: "
        "{due_today} ({due_refs})\nTerlambat: {overdue} ({overdue_refs})",
        "en": "Complaints at {agency}, {date}\nOpen: {open}\nDue today: {due_today} "
        "({due_refs})\nOverdue: {overdue} ({overdue_refs})",
    },
    "agency_transferred": {
        "id": "Pengaduan {reference} dialihkan kepada Anda dari {source}. Alasan: {reason}\n"
        "{text}\n\nBatas jawaban: {due}",
        "en": "Complaint {reference} was transferred to you from {source}. Reason: {reason}\n"
        "{text}\n\nAnswer due: {due}",
    },
    "agency_transcript": {
        "id": "Transkripsi otomatis pesan suara untuk {reference}:\n{text}",
        "en": "Machine transcript of the voice message for {reference}:\n{text}",
    },
    "agency_rerouted": {
        "id": "Pengaduan {reference} dialihkan ke {agency} menurut transkripsi otomatis pesan "
        "suaranya:\n{text}",
        "en": "Complaint {reference} went to {agency}, as the machine transcript of its voice "
        "message shows:\n{text}",
    },
    # A phone call: what the caller hears (Indonesian, then English), and how the recorded
    # message reads as text.
    "voice_greeting": {
        "id": "Selamat datang di layanan pengaduan. Setelah nada, sampaikan masalahnya dan "
        "lokasinya. Tekan tanda pagar atau tutup telepon bila selesai; nomor pengaduan kami "
        "kirim lewat SMS.",
        "en": "Welcome to the complaints service. After the tone, tell us the problem and where "
        "it is. Press the hash key or hang up when you are done; we will send your complaint "
        "number by SMS.",
    },
    "voice_goodbye": {
        "id": "Terima kasih, pesan Anda sudah kami terima. Nomor pengaduan kami kirim lewat SMS.",
        "en": "Thank you, we have your message. Your complaint number will come by SMS.",
    },
    "voice_nothing_recorded": {
        "id": "Maaf, kami tidak mendengar pesan. Silakan telepon kembali, atau kirim pengaduan "
        "lewat SMS.",
        "en": "Sorry, we did not hear a message. Please call again, or send your complaint by SMS.",
    },
    "voice_hidden_number": {
        "id": "Maaf, nomor Anda tersembunyi, jadi kami tidak dapat mengirim nomor pengaduan. "
        "Telepon kembali dengan nomor yang terlihat, atau kirim pengaduan lewat SMS.",
        "en": "Sorry, your number is hidden, so we cannot send you a complaint number. Please "
        "call again showing your number, or send your complaint by SMS.",
    },
    "voice_message": {
        "id": "(Pesan suara, {seconds} detik)",
        "en": "(Voice message, {seconds} seconds)",
    },
    "voice_transcribed": {
        "id": "{text}\n\n(Transkripsi otomatis dari pesan suara)",
        "en": "{text}\n\n(Machine transcript of a voice message)",
    },
    "agency_reopened": {
        "id": "Pengaduan {reference} dibuka kembali oleh pelapor:\n{text}\n\nBatas jawaban: {due}",
        "en": "The resident reopened {reference}:\n{text}\n\nAnswer due: {due}",
    },
}

_STATUS_LABELS: dict[ComplaintStatus, tuple[str, str]] = {
    ComplaintStatus.NEW: ("baru", "new"),
    ComplaintStatus.ASSIGNED: ("diteruskan ke instansi", "assigned to the agency"),
    ComplaintStatus.IN_PROGRESS: ("sedang ditangani", "in progress"),
    ComplaintStatus.WAITING_FOR_RESIDENT: ("menunggu informasi dari Anda", "waiting for you"),
    ComplaintStatus.ANSWERED: ("sudah dijawab", "answered"),
    ComplaintStatus.CLOSED: ("selesai", "closed"),
    ComplaintStatus.TRANSFERRED: ("dialihkan ke instansi lain", "transferred to another agency"),
    ComplaintStatus.REJECTED: ("ditolak", "rejected"),
    ComplaintStatus.REOPENED: ("dibuka kembali", "reopened"),
}

_DAYS_ID = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
_DAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS_ID = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)
_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def render(key: str, language: str, *, short: bool = False, **values: object) -> str:
    """The text `key` in `language` (Indonesian if there is none in it) with `values`.

    `short` picks the key's one-segment SMS variant where it has one.
    """
    texts = (_TEXTS.get(f"{key}_short") if short else None) or _TEXTS[key]
    return texts.get(language, texts["id"]).format(**values)


def status_label(status: ComplaintStatus, language: str) -> str:
    indonesian, english = _STATUS_LABELS[status]
    return english if language == "en" else indonesian


def format_when(moment: datetime, language: str, zone: ZoneInfo, *, short: bool = False) -> str:
    """'Selasa, 1 Desember 2026 14.05 WIB' / 'Tuesday 1 December 2026 14:05 WIB'.

    `short` leaves out the year (due dates are days away): 'Selasa, 1 Desember 14.05 WIB'.
    Names come from the tables above, not strftime: its %A and %B follow the process's
    locale, and it costs several times as much on every acknowledgement.
    """
    local = moment.astimezone(zone)
    year = "" if short else f" {local.year}"
    zone_name = local.tzname() or ""
    if language == "en":
        day, month, separator, time = _DAYS_EN, _MONTHS_EN, " ", ":"
    else:
        day, month, separator, time = _DAYS_ID, _MONTHS_ID, ", ", "."
    return (
        f"{day[local.weekday()]}{separator}{local.day} {month[local.month - 1]}{year} "
        f"{local.hour:02d}{time}{local.minute:02d} {zone_name}"
    ).strip()
