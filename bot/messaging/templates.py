"""What residents, agencies and officers read: every text in Indonesian and English.

A key ending in `_short` is the variant for residents who pay per SMS segment: it must fit
one GSM-7 segment (160 characters) with any default agency and date, so it names the
agency by its code and the due date without the year.

Residents read their own language. Agencies, officers and admins read Indonesian
(`OFFICER_LANGUAGE`); the English beside it is for the day an agency reads English.
Channel adapters import nothing of ours, so the composition root hands them their texts
rendered (`bot.channel_registry`).
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.lifecycle import ComplaintStatus, Event

# What agencies, officers and admins read.
OFFICER_LANGUAGE = "id"

_TEXTS: dict[str, dict[str, str]] = {
    # Stored in place of a resident's words, name and files once erased (aduan residents erase).
    "erased": {
        "id": "[dihapus atas permintaan warga]",
        "en": "[erased at the resident's request]",
    },
    "expired": {
        "id": "[dihapus: masa simpan habis]",
        "en": "[erased: its retention period ended]",
    },
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
    "rating_already": {
        "id": "Pengaduan {reference} sudah Anda nilai {score}/5. Terima kasih.",
        "en": "You already rated complaint {reference} {score}/5. Thank you.",
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
    "subscription_from_the_address": {
        "id": "Formulir ini tidak mengirim pesan ke mana pun. Untuk berhenti (atau mulai lagi) "
        "menerima SMS atau email dari kami, kirim BERHENTI (atau MULAI) dari nomor atau alamat "
        "itu. Untuk mengadu, tuliskan masalahnya dan lokasinya.",
        "en": "This form sends no messages anywhere. To stop (or resume) our SMS or email, send "
        "STOP (or START) from that number or address. To complain, describe the problem and "
        "where it is.",
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
    "voice_recording_lost": {
        "id": "[rekaman {recording} tidak dapat diambil dari Twilio]",
        "en": "[recording {recording} could not be fetched from Twilio]",
    },
    # An MMS whose files Twilio did not hand over: a note in the complaint's text.
    "mms_media_lost": {
        "id": "[lampiran MMS tidak dapat diambil: {kinds}]",
        "en": "[MMS attachments could not be fetched: {kinds}]",
    },
    # Under an Open311 request's text: the media link its client application gave.
    "open311_media": {
        "id": "[tautan media dari aplikasi pelapor, tidak dibuka oleh sistem: {url}]",
        "en": "[media link given by the reporting app, not opened by the service: {url}]",
    },
    # Open311 discovery: how a client application gets its key.
    "open311_key_service": {
        "id": "Minta kunci API kepada pengelola layanan pengaduan kota.",
        "en": "Ask the city's complaint service operators for an API key.",
    },
    # The Open311 service for what fits no category: the fallback agency's.
    "open311_other_service": {"id": "Lainnya", "en": "Other"},
    "open311_other_description": {
        "id": "Masalah yang tidak masuk kategori lain; diteruskan ke instansi yang tepat.",
        "en": "Problems that fit no other category; passed on to the right agency.",
    },
    # Under an email's text: files not kept (a type not allowed, or over the size limit).
    "email_files_dropped": {
        "id": "[lampiran email tidak disimpan: {files}]",
        "en": "[email attachments not kept: {files}]",
    },
    # Subjects, for channels that show one (email).
    "resident_subject": {
        "id": "[{reference}] Pengaduan Anda",
        "en": "[{reference}] Your complaint",
    },
    "notice_reply_refused": {
        "id": "Terima kasih atas balasan Anda. Balasan untuk pemberitahuan pengaduan hanya "
        "diterima dari petugas instansi yang menanganinya, jadi pesan Anda tidak kami "
        "teruskan kepada pelapor. Jika Anda ingin menyampaikan pengaduan sendiri, kirim email "
        "baru (bukan balasan) ke alamat ini.",
        "en": "Thank you for your reply. Replies to a complaint notice are accepted only from "
        "officers of the agency handling it, so we have not passed your message on to the "
        "resident. To file a complaint of your own, send a new email (not a reply) to this "
        "address.",
    },
    "officer_mail_not_done": {
        "id": "Balasan Anda tidak dijalankan: {reason}\n\nBalas pemberitahuan pengaduan dengan "
        "jawaban untuk warga, atau awali dengan satu baris #tanya (pertanyaan untuk warga), "
        "#tutup (selesai), atau #alihkan KODE (pindah ke instansi lain).",
        "en": "Your reply was not carried out: {reason}\n\nReply to a complaint notice with "
        "the answer for the resident, or begin with one line #ask (a question for the "
        "resident), #close (done), or #transfer CODE (to another agency).",
    },
    "officer_mail_choices": {
        "id": "{question} Pilihan: {choices}. Balas dengan #alihkan KODE.",
        "en": "{question} Choices: {choices}. Reply with #transfer CODE.",
    },
    "agency_subject": {
        "id": "[{reference}] Pengaduan untuk {agency_code}",
        "en": "[{reference}] Complaint for {agency_code}",
    },
    "chase_subject": {
        "id": "[{reference}] Pengingat batas jawaban",
        "en": "[{reference}] Answer time reminder",
    },
    "digest_subject": {
        "id": "Ringkasan pengaduan {agency_code} {date}",
        "en": "Complaints at {agency_code} {date}",
    },
    # Telegram, for residents: the answer to /start (both languages in one message) and the
    # language buttons under it, each language named in itself.
    "telegram_welcome": {
        "id": "Selamat datang di layanan pengaduan kota. Tuliskan masalahnya dan lokasinya; "
        "foto boleh dilampirkan. Cek status: /status NOMOR.",
        "en": "Welcome to the city's complaint service. Describe the problem and where it is; "
        "you may attach a photo. Status: /status NUMBER.",
    },
    "choose_language": {"id": "Pilih bahasa", "en": "Choose a language"},
    "language_name": {"id": "Bahasa Indonesia", "en": "English"},
    "button_unknown": {
        "id": "Tombol ini tidak dikenal.",
        "en": "This button is not known.",
    },
    # The buttons under a complaint in an agency's group.
    "button_take": {"id": "Ambil", "en": "Take"},
    "button_ask": {"id": "Minta info", "en": "Ask for info"},
    "button_transfer": {"id": "Alihkan", "en": "Transfer"},
    "button_close": {"id": "Selesai", "en": "Close"},
    "button_reject": {"id": "Tolak", "en": "Reject"},
    # What a button that needs words posts for the officer to reply to. The Telegram adapter
    # recognises a reply by this text, so a change leaves the prompts already posted unknown.
    "prompt_ask": {
        "id": "Pertanyaan untuk pelapor {reference}: balas pesan ini dengan pertanyaannya.",
        "en": "Question for the resident of {reference}: reply to this message with the question.",
    },
    "prompt_reject": {
        "id": "Alasan menolak {reference}: balas pesan ini dengan alasan untuk pelapor.",
        "en": "Reason for rejecting {reference}: reply to this message with the reason for the "
        "resident.",
    },
    # The officer desk: linking a chat account or group.
    "link_code_invalid": {
        "id": "Kode tidak berlaku (salah, sudah dipakai, atau kedaluwarsa).",
        "en": "This code is not valid (wrong, already used, or expired).",
    },
    "link_code_for_group": {
        "id": "Kode ini untuk grup instansi: kirimkan di grupnya.",
        "en": "This code is for an agency's group: send it in that group.",
    },
    "link_group_done": {
        "id": "Grup ini sekarang grup {agency}. Pengaduan baru akan tampil di sini.",
        "en": "This group is now the group of {agency}. New complaints will show here.",
    },
    "link_account_taken": {
        "id": "Akun ini sudah terhubung sebagai {name}.",
        "en": "This account is already linked as {name}.",
    },
    "link_officer_done": {
        "id": "Terhubung sebagai {name} ({role}) di {agency}.",
        "en": "Linked as {name} ({role}) at {agency}.",
    },
    "not_linked": {
        "id": "Akun Anda belum terhubung dengan instansi mana pun. Minta kode ke admin, lalu "
        "kirim /link KODE.",
        "en": "Your account is not linked to any agency. Ask an admin for a code, then send "
        "/link CODE.",
    },
    "admins_only": {
        "id": "Hanya admin yang dapat melakukan ini.",
        "en": "Only an admin can do this.",
    },
    # The officer desk: refusals.
    "action_unknown": {
        "id": "tindakan {kind} tidak dikenal",
        "en": "unknown action {kind}",
    },
    "no_such_officer": {
        "id": "Tidak ada petugas aktif {who!r} (sebut email atau nomor petugasnya).",
        "en": "There is no active officer {who!r} (give their email address or officer id).",
    },
    "no_such_agency": {
        "id": "Tidak ada instansi dengan kode {code!r}.",
        "en": "There is no agency with the code {code!r}.",
    },
    "no_such_active_agency": {
        "id": "Tidak ada instansi aktif dengan kode {code!r}.",
        "en": "There is no active agency with the code {code!r}.",
    },
    "no_such_complaint": {
        "id": "Tidak ada pengaduan dengan nomor {typed!r}.",
        "en": "There is no complaint with the number {typed!r}.",
    },
    "not_a_reference": {
        "id": "{typed!r} bukan nomor pengaduan (contoh: K7QD-4XMP)",
        "en": "{typed!r} is not a complaint number (for example: K7QD-4XMP)",
    },
    "which_complaint": {
        "id": "sebutkan nomor pengaduan, atau balas pesan pengaduannya",
        "en": "name the complaint number, or reply to the complaint's message",
    },
    "other_agency": {
        "id": "{reference} milik {agency}; petugas hanya dapat menangani pengaduan instansinya "
        "sendiri.",
        "en": "{reference} belongs to {agency}; officers can act only on their own agency's "
        "complaints.",
    },
    # What `other_agency` says when the complaint's agency is gone.
    "another_agency": {"id": "instansi lain", "en": "another agency"},
    "already_with_agency": {
        "id": "{reference} sudah ditangani {agency_code}.",
        "en": "{reference} is already with {agency_code}.",
    },
    "reason_needed": {
        "id": "Tuliskan alasan penolakan: alasan itu dikirim ke pelapor.",
        "en": "Write the reason for rejecting: it is sent to the resident.",
    },
    "empty_question": {
        "id": "Teks kosong: tulis pertanyaan untuk warga.",
        "en": "Empty text: write the question for the resident.",
    },
    "empty_answer": {
        "id": "Teks kosong: tulis jawaban untuk warga.",
        "en": "Empty text: write the answer for the resident.",
    },
    "empty_note": {
        "id": "Teks kosong: tulis catatannya.",
        "en": "Empty text: write the note.",
    },
    # An action the complaint's status does not allow; {action} and {status} are the labels
    # below, {allowed} the statuses it is allowed from.
    "transition_refused": {
        "id": 'Tidak dapat {action}: status pengaduan ini "{status}". Tindakan ini hanya untuk '
        "status: {allowed}.",
        "en": 'Cannot {action}: this complaint is "{status}". This is possible only when it is: '
        "{allowed}.",
    },
    # The officer desk: what was done.
    # Shown to the whole group (under the complaint's notice): it names who took it.
    "took": {
        "id": "{reference} diambil oleh {officer}. Balas pesan pengaduan untuk menjawab warga.",
        "en": "{officer} took {reference}. Reply to the complaint's message to answer the "
        "resident.",
    },
    "asked": {
        "id": "Pertanyaan dikirim ke pelapor {reference}; waktu jawab dihentikan sementara.",
        "en": "Question sent to the resident of {reference}; the answer time is paused.",
    },
    "answered": {
        "id": "Jawaban dikirim ke pelapor {reference}.",
        "en": "Answer sent to the resident of {reference}.",
    },
    "transferred": {
        "id": "{reference} dialihkan ke {agency_code}.",
        "en": "{reference} transferred to {agency_code}.",
    },
    "closed": {"id": "{reference} ditutup.", "en": "{reference} closed."},
    "rejected": {
        "id": "{reference} ditolak; alasannya dikirim ke pelapor.",
        "en": "{reference} rejected; the reason was sent to the resident.",
    },
    "noted": {
        "id": "Catatan internal disimpan pada {reference}.",
        "en": "Internal note saved on {reference}.",
    },
    "transfer_where": {
        "id": "Alihkan {reference} ke instansi mana?",
        "en": "Transfer {reference} to which agency?",
    },
    # The officer desk: /list, /mine, /overdue.
    "list_open": {"id": "Pengaduan terbuka", "en": "Open complaints"},
    "list_mine": {"id": "Pengaduan yang Anda tangani", "en": "Complaints you took"},
    "list_overdue": {"id": "Pengaduan terlambat", "en": "Overdue complaints"},
    "list_empty": {"id": "{title}: tidak ada.", "en": "{title}: none."},
    "list_line": {
        "id": "{reference} · batas {due}{late}{waiting} · {snippet}",
        "en": "{reference} · due {due}{late}{waiting} · {snippet}",
    },
    "list_late": {"id": " TERLAMBAT", "en": " OVERDUE"},
    "list_waiting": {"id": " (menunggu warga)", "en": " (waiting for the resident)"},
    "list_more": {"id": "… dan {count} lagi", "en": "… and {count} more"},
    # Admins' rule work from chat.
    "rules_in_force": {
        "id": "Aturan aktif: versi {version} ({count} aturan), oleh {author}: {comment}.\n"
        "Kirim berkas YAML aturan untuk mengusulkan perubahan.",
        "en": "Rules in force: version {version} ({count} rules), by {author}: {comment}.\n"
        "Send a YAML rule file to propose a change.",
    },
    "rules_stats": {
        "id": "30 hari terakhir (diterima · tepat waktu · terbuka · terlambat):",
        "en": "Last 30 days (received · in time · open · overdue):",
    },
    "rules_invalid": {
        "id": "Berkas aturan tidak valid:\n{error}",
        "en": "The rule file is not valid:\n{error}",
    },
    "rules_valid": {
        "id": "Berkas valid: {rules} aturan, {warnings} peringatan.",
        "en": "Valid file: {rules} rules, {warnings} warnings.",
    },
    "rules_changes": {"id": "Perubahan:", "en": "Changes:"},
    "rules_impact": {
        "id": "Dampak 30 hari: {moved} dari {replayed} pengaduan pindah instansi.",
        "en": "Impact over 30 days: {moved} of {replayed} complaints move to another agency.",
    },
    "button_apply": {"id": "Terapkan", "en": "Apply"},
    "button_cancel": {"id": "Batal", "en": "Cancel"},
    "proposal_unknown": {
        "id": "Usulan aturan tidak ditemukan.",
        "en": "Rule proposal not found.",
    },
    "proposal_decided": {
        "id": "Usulan ini sudah diputuskan: {decision}.",
        "en": "This proposal is already decided: {decision}.",
    },
    "proposal_cancelled": {
        "id": "Usulan aturan dibatalkan.",
        "en": "Rule proposal cancelled.",
    },
    # The comment a rule version applied from chat is stored with.
    "rules_from_chat": {"id": "dari Telegram", "en": "from Telegram"},
    "rules_not_applied": {
        "id": "Tidak diterapkan: {error}",
        "en": "Not applied: {error}",
    },
    "rules_applied": {
        "id": "Diterapkan sebagai versi {version}.",
        "en": "Applied as version {version}.",
    },
    # The public pages: the frame, the complaint form, its receipt, the tracking page.
    "page_title": {"id": "Pengaduan Warga", "en": "Complaints"},
    "page_heading": {"id": "Pengaduan Warga", "en": "City complaints"},
    "form_intro": {
        "id": "Sampaikan masalahnya dan lokasinya. Instansi yang bertanggung jawab wajib menjawab "
        "paling lambat dua hari.",
        "en": "Tell us what is wrong and where. The agency responsible must answer within two "
        "days.",
    },
    "form_text": {"id": "Isi pengaduan", "en": "Your complaint"},
    "form_text_missing": {
        "id": "Mohon tuliskan masalahnya.",
        "en": "Please describe the problem.",
    },
    "form_location": {"id": "Lokasi", "en": "Location"},
    "form_location_hint": {"id": "(jalan, kelurahan)", "en": "(street, neighbourhood)"},
    "form_name": {"id": "Nama", "en": "Name"},
    "form_optional": {"id": "(boleh dikosongkan)", "en": "(optional)"},
    "form_contact": {
        "id": "Nomor HP atau email untuk jawaban",
        "en": "Phone or email for the answer",
    },
    "form_contact_hint": {
        "id": "(boleh dikosongkan; tidak ditampilkan ke publik)",
        "en": "(optional; never shown publicly)",
    },
    "form_contact_invalid": {
        "id": "Nomor HP atau alamat email tidak valid.",
        "en": "This is not a valid phone number or email address.",
    },
    "form_send": {"id": "Kirim pengaduan", "en": "Send complaint"},
    "form_too_long": {
        "id": "Terlalu panjang; persingkat, lalu kirim lagi.",
        "en": "Too long; please shorten it and send it again.",
    },
    # "Paling banyak 500 karakter" / "At most 500 characters".
    "form_at_most": {"id": "Paling banyak", "en": "At most"},
    "form_characters": {"id": "karakter", "en": "characters"},
    "form_unreadable": {
        "id": "Formulir tidak dapat dibaca. Isi kembali, lalu kirim lagi.",
        "en": "The form could not be read. Please fill it in again and send it.",
    },
    # What a web post naming a blocked contact is told: what blocked senders get elsewhere
    # (nothing to answer, nothing asked), in the words a page must say.
    # Every public page's frame: the city, its helpline, emergencies, the privacy notice.
    "site_logo_alt": {"id": "Logo {city}", "en": "{city} logo"},
    "site_hotline": {"id": "Layanan informasi: {hotline}", "en": "Helpline: {hotline}"},
    "site_emergency": {
        "id": "Keadaan darurat (kebakaran, kecelakaan, kejahatan)? Telepon 112.",
        "en": "Emergency (fire, accident, crime)? Call 112.",
    },
    "site_privacy": {"id": "Privasi", "en": "Privacy"},
    "privacy_heading": {"id": "Pemberitahuan privasi", "en": "Privacy notice"},
    "privacy_kept": {
        "id": "Yang kami simpan: isi pengaduan dan tambahannya, nama, nomor HP atau email, "
        "lokasi dan foto yang Anda kirim, serta waktu pengirimannya. Dari foto yang dikirim "
        "lewat formulir ini, data lokasinya kami hapus kecuali Anda memilih membagikannya; data "
        "kamera lainnya selalu dihapus.",
        "en": "What we keep: your complaint and what you add to it, your name, phone number or "
        "email, the location and photo you send, and when you sent them. From a photo sent "
        "with this form we remove the location stored in it unless you choose to share it; "
        "other camera data is always removed.",
    },
    "privacy_seen": {
        "id": "Siapa yang melihatnya: petugas instansi yang menangani pengaduan Anda dan "
        "admin layanan ini. Nomor HP dan email disamarkan bagi petugas. Publik hanya melihat "
        "nomor pengaduan, status, instansi dan tanggalnya, tanpa nama, kontak atau isi "
        "pengaduan. Percakapan Anda dengan instansi hanya terbuka dengan tautan yang "
        "diberikan kepada Anda.",
        "en": "Who sees it: the officers of the agency handling your complaint and this "
        "service's administrators. Officers see phone numbers and emails masked. The public "
        "sees only the reference, status, agency and dates, never a name, contact or what you "
        "wrote. Your conversation with the agency opens only with the link given to you.",
    },
    "privacy_how_long": {
        "id": "Berapa lama: selama pemerintah kota menyimpan arsip pengaduan, sampai Anda "
        "meminta penghapusan.",
        "en": "How long: as long as the city keeps its complaint records, until you ask for "
        "erasure.",
    },
    "privacy_how_long_days": {
        "id": "Berapa lama: isi pengaduan, pesan dan foto Anda dihapus {days} hari setelah "
        "pengaduan selesai atau ditolak, atau lebih awal bila Anda meminta penghapusan. Nomor "
        "pengaduan, instansi, status dan waktunya tetap disimpan untuk angka publik.",
        "en": "How long: your complaint's text, messages and photos are erased {days} days "
        "after it is closed or rejected, or sooner if you ask for erasure. Its reference, "
        "agency, status and times are kept for the public figures.",
    },
    "privacy_erase": {
        "id": "Menghapus data Anda: hubungi kami dengan nomor pengaduan dan kontak yang Anda "
        "pakai. Nama, kontak, isi pesan dan foto Anda akan dihapus; pengaduannya tetap ada "
        "tanpa data Anda, agar angka kinerja instansi tetap benar.",
        "en": "Erasing your data: contact us with your reference number and the contact you "
        "used. Your name, contact, messages and photos are erased; the complaint stays, "
        "without anything of yours, so that the agencies' figures stay true.",
    },
    "privacy_erase_hotline": {
        "id": "Hubungi {hotline}.",
        "en": "Call {hotline}.",
    },
    "form_photo": {"id": "Foto", "en": "Photo"},
    "form_photo_hint": {
        "id": "(boleh dikosongkan; JPEG, PNG, WebP atau HEIC, paling besar {megabytes} MB)",
        "en": "(optional; JPEG, PNG, WebP or HEIC, at most {megabytes} MB)",
    },
    "form_photo_location": {
        "id": "Bagikan lokasi yang tersimpan di foto",
        "en": "Share the location stored in the photo",
    },
    "form_photo_too_large": {
        "id": "Foto terlalu besar. Pilih foto yang lebih kecil (lihat batasnya di atas), lalu "
        "kirim lagi.",
        "en": "The photo is too large. Please choose a smaller one (see the limit above) and "
        "send it again.",
    },
    "form_photo_wrong_type": {
        "id": "Berkas ini bukan foto JPEG, PNG, WebP atau HEIC. Pilih foto lain.",
        "en": "This file is not a JPEG, PNG, WebP or HEIC photo. Please choose another.",
    },
    "form_photo_unreadable": {
        "id": "Foto ini rusak atau tidak dapat dibaca. Pilih foto lain.",
        "en": "This photo is damaged or cannot be read. Please choose another.",
    },
    "form_use_location": {"id": "Pakai lokasi saya", "en": "Use my location"},
    "form_location_shared": {
        "id": "Lokasi dari perangkat Anda ikut dikirim.",
        "en": "Your device's location will be sent along.",
    },
    "form_location_failed": {
        "id": "Lokasi tidak dapat diambil. Tuliskan lokasinya di kolom di atas.",
        "en": "Your location could not be found. Please type it in the field above.",
    },
    "form_coordinates_invalid": {
        "id": "Koordinat lokasi tidak valid. Tuliskan lokasinya, lalu kirim lagi.",
        "en": "The location's coordinates are not valid. Please type the place and send again.",
    },
    "lookup_heading": {"id": "Cek pengaduan", "en": "Check a complaint"},
    "lookup_label": {"id": "Nomor pengaduan", "en": "Reference number"},
    "lookup_send": {"id": "Cek", "en": "Check"},
    "tracking_add_heading": {"id": "Tambah informasi", "en": "Add information"},
    "tracking_add_label": {
        "id": "Yang ingin Anda tambahkan untuk instansi",
        "en": "What you want to add for the agency",
    },
    "tracking_add_send": {"id": "Kirim tambahan", "en": "Send"},
    "tracking_add_missing": {
        "id": "Mohon tuliskan tambahannya.",
        "en": "Please write what you want to add.",
    },
    "tracking_rate_heading": {"id": "Nilai jawabannya", "en": "Rate the answer"},
    "tracking_rate_label": {
        "id": "Seberapa puas Anda dengan penanganannya? (1 = sangat tidak puas, 5 = sangat puas)",
        "en": "How satisfied are you with how it was handled? (1 = very unsatisfied, 5 = very "
        "satisfied)",
    },
    "tracking_rate_send": {"id": "Kirim nilai", "en": "Send rating"},
    "tracking_rate_missing": {
        "id": "Pilih nilai 1 sampai 5.",
        "en": "Please choose a rating from 1 to 5.",
    },
    "tracking_rated": {"id": "Nilai Anda: {score}/5.", "en": "Your rating: {score}/5."},
    "web_kept": {
        "id": "Terima kasih, pesan Anda sudah kami terima.",
        "en": "Thank you, we have received your message.",
    },
    "form_expired": {
        "id": "Formulir ini sudah kedaluwarsa atau browser Anda menolak cookie kami. Isian Anda "
        "masih ada di bawah: kirim lagi.",
        "en": "This form has expired, or your browser refused our cookie. What you typed is "
        "still below: please send it again.",
    },
    # A contact typed into the form gets nothing until the resident proves it is theirs.
    "verify_pending": {
        "id": "Belum ada yang kami kirim ke {contact}. Agar jawaban instansi juga dikirim ke "
        "sana, buktikan bahwa kontak itu milik Anda: kami kirim kode 6 angka ke sana, lalu "
        "masukkan kodenya di sini. Sampai saat itu jawaban hanya tampil di halaman ini.",
        "en": "We have sent nothing to {contact} yet. To have the agency's answers sent there "
        "too, show that it is yours: we send a 6-digit code there, and you enter it here. "
        "Until then answers show only on this page.",
    },
    "filed_confirm": {
        "id": "Kami belum mengirim apa pun ke kontak yang Anda berikan: buka halaman "
        "pengaduan Anda untuk mengonfirmasinya dengan kode, agar jawaban juga dikirim ke sana.",
        "en": "We have sent nothing to the contact you gave: open your complaint's page to "
        "confirm it with a code, and answers will go there too.",
    },
    "verify_send": {"id": "Kirim kode ke {contact}", "en": "Send a code to {contact}"},
    "verify_code": {"id": "Kode 6 angka", "en": "6-digit code"},
    "verify_submit": {"id": "Konfirmasi", "en": "Confirm"},
    "verify_sent": {
        "id": "Kode sudah kami kirim ke {contact}; berlaku sampai {until}.",
        "en": "We sent a code to {contact}; it works until {until}.",
    },
    "verify_too_soon": {
        "id": "Kode baru dapat diminta lagi mulai {when}.",
        "en": "You can ask for a new code from {when}.",
    },
    "verify_no_more_codes": {
        "id": "Sudah {count} kode dikirim untuk pengaduan ini; tidak ada kode lagi. Jawaban "
        "tetap tampil di halaman ini.",
        "en": "{count} codes were sent for this complaint; there will be no more. Answers "
        "still show on this page.",
    },
    "verify_wrong": {
        "id": "Kode itu salah. Sisa percobaan: {left}.",
        "en": "That code is wrong. Tries left: {left}.",
    },
    "verify_expired": {
        "id": "Kode itu sudah tidak berlaku. Minta kode baru.",
        "en": "That code no longer works. Please ask for a new one.",
    },
    "verify_done": {
        "id": "{contact} sudah dikonfirmasi: jawaban instansi juga dikirim ke sana.",
        "en": "{contact} is confirmed: the agency's answers go there too.",
    },
    "verify_message": {
        "id": "Kode Anda: {code}. Masukkan di halaman pengaduan {reference} agar jawaban juga "
        "dikirim ke sini. Berlaku {minutes} menit. Bukan Anda yang mengirim pengaduan ini? "
        "Abaikan pesan ini.",
        "en": "Your code: {code}. Enter it on the page of complaint {reference} to get its "
        "answers here too. It works for {minutes} minutes. Did not file this complaint? "
        "Ignore this message.",
    },
    # The code sent at once to the contact an Open311 request gave: its client application
    # has no page to ask from, so the message carries the page to enter the code on.
    "verify_message_link": {
        "id": "Kode Anda: {code}. Pengaduan {reference} dikirim lewat sebuah aplikasi dengan "
        "kontak ini. Agar jawabannya dikirim ke sini, buka {url} dan masukkan kode itu "
        "(berlaku {minutes} menit). Bukan Anda yang mengirim pengaduan ini? Abaikan pesan ini.",
        "en": "Your code: {code}. Complaint {reference} was filed through an app with this "
        "contact. To get its answers here, open {url} and enter the code (it works for "
        "{minutes} minutes). Did not file this complaint? Ignore this message.",
    },
    "filed_heading": {"id": "Pengaduan diterima", "en": "Complaint received"},
    "filed_reference": {"id": "Nomor pengaduan Anda:", "en": "Your reference number:"},
    "filed_follow": {
        "id": "Pantau dan baca jawabannya",
        "en": "Follow it and read the answer",
    },
    "filed_another": {"id": "Kirim pengaduan lain", "en": "File another complaint"},
    "tracking_title": {"id": "Pengaduan", "en": "Complaint"},
    "tracking_not_found_heading": {
        "id": "Pengaduan tidak ditemukan",
        "en": "Complaint not found",
    },
    "tracking_not_found": {
        "id": "Tidak ada pengaduan dengan nomor {typed}. Periksa kembali nomornya, contoh: "
        "K7QD-4XMP.",
        "en": "No complaint has the number {typed}. Please check it, e.g. K7QD-4XMP.",
    },
    "tracking_status": {"id": "Status", "en": "Status"},
    "tracking_agency": {"id": "Instansi", "en": "Agency"},
    "tracking_received": {"id": "Diterima", "en": "Received"},
    "tracking_due": {"id": "Batas jawaban", "en": "Answer due"},
    "tracking_overdue": {"id": "(terlambat)", "en": "(overdue)"},
    "tracking_first_answer": {"id": "Jawaban pertama", "en": "First answer"},
    "tracking_history": {"id": "Riwayat", "en": "History"},
    "tracking_conversation": {"id": "Percakapan", "en": "Conversation"},
    "tracking_conversation_hidden": {
        "id": "Percakapan antara pelapor dan instansi hanya dapat dibuka dengan tautan yang "
        "dikirim kepada pelapor.",
        "en": "The messages between the resident and the agency open only with the link sent "
        "to the resident.",
    },
    "tracking_you": {"id": "Anda", "en": "You"},
    "tracking_no_messages": {"id": "Belum ada pesan.", "en": "No messages yet."},
    # The transparency page (/transparansi) and its open data.
    "figures_title": {"id": "Transparansi pengaduan", "en": "Complaints transparency"},
    "figures_intro": {
        "id": "Seberapa cepat setiap instansi menjawab pengaduan warga. Setiap angka di halaman "
        "ini dapat dihitung ulang dari data terbuka di bawah.",
        "en": "How fast each agency answers residents' complaints. Every figure on this page "
        "can be recomputed from the open data below.",
    },
    "figures_from": {"id": "Dari tanggal", "en": "From"},
    "figures_to": {"id": "Sampai tanggal", "en": "To"},
    "figures_show": {"id": "Tampilkan", "en": "Show"},
    "figures_shown": {
        "id": "Pengaduan yang diterima {first} s.d. {last} (tanggal {zone}), dihitung per "
        "{generated}.",
        "en": "Complaints received {first} to {last} ({zone} dates), as of {generated}.",
    },
    "figures_caption": {
        "id": "Angka per instansi. Pilih judul kolom untuk mengurutkan.",
        "en": "Figures per agency. Choose a column heading to sort.",
    },
    "figures_agency": {"id": "Instansi", "en": "Agency"},
    "figures_received": {"id": "Diterima", "en": "Received"},
    "figures_answered": {"id": "Dijawab", "en": "Answered"},
    "figures_answered_in_time": {"id": "Dijawab tepat waktu", "en": "Answered in time"},
    "figures_answered_in_time_pct": {"id": "% tepat waktu", "en": "% in time"},
    "figures_median_first_response_hours": {
        "id": "Median jawaban pertama (jam)",
        "en": "Median first response (hours)",
    },
    "figures_open": {"id": "Terbuka", "en": "Open"},
    "figures_overdue": {"id": "Terlambat", "en": "Overdue"},
    "figures_none": {"id": "Belum ada instansi.", "en": "No agencies yet."},
    "figures_chart_pct": {
        "id": "Persentase dijawab tepat waktu per instansi",
        "en": "Share answered in time per agency",
    },
    "figures_chart_received": {
        "id": "Pengaduan diterima per instansi",
        "en": "Complaints received per agency",
    },
    "figures_trend": {"id": "Tren 12 bulan", "en": "12-month trend"},
    "figures_trend_caption": {
        "id": "Per bulan penerimaan: pengaduan diterima, dan persentase dijawab tepat waktu.",
        "en": "Per month of receipt: complaints received, and the share answered in time.",
    },
    "figures_trend_chart": {
        "id": "{agency}: pengaduan diterima per bulan",
        "en": "{agency}: complaints received per month",
    },
    "figures_month": {"id": "Bulan", "en": "Month"},
    "figures_definitions": {"id": "Cara menghitung", "en": "How the figures are counted"},
    "figures_define_received": {
        "id": "Diterima: pengaduan yang masuk dalam periode (menurut tanggal {zone}, kedua "
        "tanggal termasuk). Semua angka lain dihitung dari pengaduan ini.",
        "en": "Received: complaints that came in during the period ({zone} dates, both days "
        "included). Every other figure counts these complaints.",
    },
    "figures_define_answered": {
        "id": "Dijawab: sudah mendapat jawaban pertama, yaitu pesan pertama instansi (jawaban, "
        "pertanyaan, pemberitahuan selesai, atau penolakan beserta alasannya) yang sampai "
        "kepada pelapor.",
        "en": "Answered: has a first response, the agency's first message (an answer, a "
        "question, the closing notice, or a rejection with its reason) delivered to the "
        "resident.",
    },
    "figures_define_in_time": {
        "id": "Dijawab tepat waktu: jawaban pertama datang paling lambat pada batas waktunya.",
        "en": "Answered in time: the first response came at or before the complaint's deadline.",
    },
    "figures_define_pct": {
        "id": "% tepat waktu: dijawab tepat waktu dibagi (dijawab + terlambat), dikali 100, "
        "dibulatkan satu desimal; kosong bila pembaginya nol.",
        "en": "% in time: answered in time divided by (answered + overdue), times 100, rounded "
        "to one decimal; empty when that is zero.",
    },
    "figures_define_median": {
        "id": "Median jawaban pertama: nilai tengah waktu dari diterima sampai jawaban pertama "
        "pada pengaduan yang dijawab, dalam jam, satu desimal.",
        "en": "Median first response: the middle value of the time from receipt to first "
        "response over the answered complaints, in hours, one decimal.",
    },
    "figures_define_open": {
        "id": "Terbuka: belum berstatus dijawab, selesai, atau ditolak.",
        "en": "Open: not in the status answered, closed or rejected.",
    },
    "figures_define_overdue": {
        "id": "Terlambat: belum ada jawaban pertama dan batas waktunya sudah lewat.",
        "en": "Overdue: no first response yet, and the deadline has passed.",
    },
    "figures_define_seconds": {
        "id": "Waktu dihitung dalam detik penuh, seperti pada data terbuka (UTC).",
        "en": "Times count in whole seconds, as in the open data (UTC).",
    },
    "figures_open_data": {"id": "Data terbuka", "en": "Open data"},
    "figures_licence": {
        "id": "Data ini boleh digunakan dan dibagikan ulang dengan lisensi {licence}, dengan "
        "menyebut sumbernya. Data tidak memuat nama, kontak, atau isi pengaduan.",
        "en": "You may use and share this data under the {licence} licence, naming its source. "
        "It holds no names, contacts or complaint texts.",
    },
    "figures_csv": {"id": "Pengaduan periode ini (CSV)", "en": "This period's complaints (CSV)"},
    "figures_json": {"id": "Pengaduan periode ini (JSON)", "en": "This period's complaints (JSON)"},
    "figures_agencies_json": {"id": "Angka per instansi (JSON)", "en": "Figures per agency (JSON)"},
    "figures_link": {"id": "Transparansi instansi", "en": "Agency transparency"},
    "figures_period_reversed": {
        "id": "Tanggal awal {first} jatuh setelah tanggal akhir {last}; tukar keduanya.",
        "en": "The start date {first} is after the end date {last}; swap them.",
    },
    "figures_period_too_long": {
        "id": "Periode paling panjang {days} hari; pilih rentang yang lebih pendek.",
        "en": "A period can be at most {days} days; choose a shorter range.",
    },
    "figures_period_unreadable": {
        "id": "Tanggal '{name}' ({typed}) tidak terbaca; tulis sebagai TTTT-BB-HH, contoh "
        "2026-12-31.",
        "en": "The '{name}' date ({typed}) cannot be read; write it as YYYY-MM-DD, e.g. "
        "2026-12-31.",
    },
    # The pages for a failed request, shown in both languages (the page's is not known).
    "error_not_found": {"id": "Halaman tidak ditemukan", "en": "Page not found"},
    "error_not_found_text": {
        "id": "Alamat ini tidak ada. Periksa kembali alamatnya.",
        "en": "There is nothing at this address. Please check it.",
    },
    "error_method": {"id": "Permintaan tidak didukung", "en": "Request not supported"},
    "error_method_text": {
        "id": "Halaman ini tidak menerima permintaan seperti ini.",
        "en": "This page does not take this kind of request.",
    },
    "error_timeout": {"id": "Pengiriman terlalu lama", "en": "Sending took too long"},
    "error_timeout_text": {
        "id": "Kiriman Anda tidak sampai dengan lengkap. Kembali, lalu kirim lagi.",
        "en": "What you sent did not arrive in full. Please go back and send it again.",
    },
    "error_too_large": {"id": "Kiriman terlalu besar", "en": "Too much to send"},
    "error_too_large_text": {
        "id": "Isian Anda terlalu besar untuk diterima. Kembali, persingkat pengaduan, lalu "
        "kirim lagi.",
        "en": "What you sent is too large to take. Please go back, shorten your complaint and "
        "send it again.",
    },
    "error_server": {"id": "Terjadi kesalahan", "en": "Something went wrong"},
    "error_server_text": {
        "id": "Kesalahan ada pada kami, bukan pada Anda. Coba lagi sebentar lagi.",
        "en": "The fault is ours, not yours. Please try again in a moment.",
    },
    "error_too_many": {"id": "Terlalu banyak kiriman", "en": "Too many requests"},
    "error_too_many_text": {
        "id": "Terlalu banyak kiriman dari alamat internet Anda. Coba lagi sebentar lagi.",
        "en": "Too many requests from your internet address. Please try again in a while.",
    },
    "error_other": {"id": "Permintaan tidak dapat dilayani", "en": "Request not served"},
    "error_other_text": {
        "id": "Permintaan ini tidak dapat kami layani sekarang. Coba lagi sebentar lagi.",
        "en": "We cannot serve this request now. Please try again in a moment.",
    },
    "error_to_form": {"id": "Kirim pengaduan", "en": "File a complaint"},
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

# Where a status reads differently to an officer than to the resident it is about.
_STATUS_LABELS_FOR_OFFICERS: dict[ComplaintStatus, tuple[str, str]] = {
    ComplaintStatus.WAITING_FOR_RESIDENT: (
        "menunggu informasi dari pelapor",
        "waiting for the resident",
    ),
}

# What an officer would have done, for `transition_refused`.
_EVENT_LABELS: dict[Event, tuple[str, str]] = {
    Event.ASSIGN: ("meneruskan ke instansi", "assign it to an agency"),
    Event.TAKE: ("mengambil", "take it"),
    Event.ASK_RESIDENT: ("meminta informasi dari pelapor", "ask the resident"),
    Event.RESIDENT_REPLIED: ("mencatat balasan pelapor", "record the resident's reply"),
    Event.ANSWER: ("menjawab", "answer it"),
    Event.CLOSE: ("menutup", "close it"),
    Event.TRANSFER: ("mengalihkan", "transfer it"),
    Event.REJECT: ("menolak", "reject it"),
    Event.REOPEN: ("membuka kembali", "reopen it"),
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
    text = texts.get(language, texts["id"]).format(**values)
    # A value left empty (a closure without a note) leaves no space before a line break.
    return _SPACE_BEFORE_BREAK.sub("\n", text) if " \n" in text else text


_SPACE_BEFORE_BREAK = re.compile(r" +\n")


def status_label(status: ComplaintStatus, language: str) -> str:
    indonesian, english = _STATUS_LABELS[status]
    return english if language == "en" else indonesian


def transition_refused(
    status: ComplaintStatus,
    event: Event,
    allowed: tuple[ComplaintStatus, ...],
    language: str,
) -> str:
    """Why the complaint's status does not allow the event (an `IllegalTransition`), for the
    officer who tried."""

    def label(labels: tuple[str, str]) -> str:
        indonesian, english = labels
        return english if language == "en" else indonesian

    def status_for_officers(status: ComplaintStatus) -> str:
        return label(_STATUS_LABELS_FOR_OFFICERS.get(status) or _STATUS_LABELS[status])

    return render(
        "transition_refused",
        language,
        action=label(_EVENT_LABELS[event]),
        status=status_for_officers(status),
        allowed=", ".join(map(status_for_officers, allowed)),
    )


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
