"""What an email of ours says about its thread: the `[REF]` subject, In-Reply-To and
References, worked out at send time from the messages stored on its complaint.

A complaint has two conversations by email: the resident's (their mails, our
acknowledgements, the officers' answers) and the agency's (notices, reminders, and our
answers to officers who replied to them). Each mail threads onto its own conversation
only, so that a resident's mail client never shows a notice's Message-ID, and an
officer's never the resident's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.models import Direction
from storage.repositories import ConversationEntry

# Outbox kinds that go to an agency or an officer, never to a resident.
AGENCY_KINDS = frozenset(
    {"agency_notice", "chase", "digest", "officer_mail_result", "notice_reply_refused"}
)
# Inbound kinds of mail answering those: an officer's, acted on, or anyone else's, refused.
NOTICE_REPLY_KINDS = frozenset({"officer_mail", "stranger_mail"})
# References name the first message and the latest ones: enough for every client to
# thread, without a header that grows with every message (RFC 5322 allows trimming).
_MAX_REFERENCES = 10


@dataclass(frozen=True, slots=True)
class EmailThread:
    subject: str | None
    in_reply_to: str | None
    references: tuple[str, ...]


def email_thread(
    *,
    kind: str,
    subject: str | None,
    in_reply_to: str | None,
    reference: str | None,
    conversation: Sequence[ConversationEntry],
) -> EmailThread:
    """The thread headers of a mail of `kind` about the complaint `reference` (None for a
    mail about none), given that complaint's stored email messages, oldest first.

    In-Reply-To names the latest mail of the other side (the resident's newest mail, for a
    mail to them), else our own previous one in the conversation, else what the queued row
    named (the mail a reply with no complaint answers).
    """
    to_agency = kind in AGENCY_KINDS
    theirs: list[str] = []
    handles: list[str] = []
    for entry in conversation:
        if entry.direction is Direction.INBOUND:
            handle: str | None = entry.provider_message_id
            if to_agency or handle is None or not _real(handle):
                continue
            theirs.append(handle)
        elif (entry.kind in AGENCY_KINDS) == to_agency:
            handle = entry.thread_key or entry.provider_message_id
        else:
            continue
        if handle and handle not in handles:
            handles.append(handle)
    asked = in_reply_to if _real(in_reply_to) else None
    parent = (theirs[-1] if theirs else None) or asked or (handles[-1] if handles else None)
    if parent is not None:
        # The message answered comes last (RFC 5322: the parent's References, then it).
        handles = [handle for handle in handles if handle != parent] + [parent]
    if len(handles) > _MAX_REFERENCES:
        handles = [handles[0], *handles[-(_MAX_REFERENCES - 1) :]]
    return EmailThread(_subject(subject, reference), parent, tuple(handles))


def _real(message_id: str | None) -> bool:
    """Whether `message_id` names a mail: a mail that came without one is known by a digest
    of its bytes (`<sha256:…>`, no "@"), which no mail client would recognise."""
    return message_id is not None and "@" in message_id


def _subject(subject: str | None, reference: str | None) -> str | None:
    """`[REF] …`: the reference first, where replies keep it whatever prefix they add."""
    if reference is None or f"[{reference}]" in (subject or ""):
        return subject
    return f"[{reference}] {subject or ''}".rstrip()
