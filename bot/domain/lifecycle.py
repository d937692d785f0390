"""The complaint state machine, as pure code: which event may move which status where."""

from __future__ import annotations

from enum import StrEnum


class ComplaintStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING_FOR_RESIDENT = "waiting_for_resident"
    ANSWERED = "answered"
    CLOSED = "closed"
    TRANSFERRED = "transferred"
    REJECTED = "rejected"
    REOPENED = "reopened"


S = ComplaintStatus


class Event(StrEnum):
    ASSIGN = "assign"
    TAKE = "take"
    ASK_RESIDENT = "ask_resident"
    RESIDENT_REPLIED = "resident_replied"
    ANSWER = "answer"
    CLOSE = "close"
    TRANSFER = "transfer"
    REJECT = "reject"
    REOPEN = "reopen"


class IllegalTransition(Exception):
    """An action that the complaint's current status does not allow.

    The message is English, for logs; what an officer reads is rendered from `status`,
    `event` and `allowed` by the layer that shows it (`bot.messaging.templates`).
    """

    def __init__(self, status: S, event: Event) -> None:
        # The statuses `event` may move a complaint from, in the order statuses are declared.
        self.allowed = tuple(s for s in S if (s, event) in TRANSITIONS)
        where = ", ".join(sorted(s.value for s in self.allowed)) or "no status"
        super().__init__(
            f"cannot {event.value.replace('_', ' ')} a complaint that is {status.value}: "
            f"'{event.value}' is allowed only from {where}"
        )
        self.status = status
        self.event = event


_WORKING = (S.ASSIGNED, S.IN_PROGRESS, S.TRANSFERRED, S.REOPENED)
_OPEN = (*_WORKING, S.WAITING_FOR_RESIDENT, S.ANSWERED)

TRANSITIONS: dict[tuple[S, Event], S] = {
    (S.NEW, Event.ASSIGN): S.ASSIGNED,
    (S.NEW, Event.REJECT): S.REJECTED,
    **{(s, Event.TAKE): S.IN_PROGRESS for s in _WORKING},
    **{(s, Event.ASK_RESIDENT): S.WAITING_FOR_RESIDENT for s in (*_WORKING, S.ANSWERED)},
    (S.WAITING_FOR_RESIDENT, Event.RESIDENT_REPLIED): S.IN_PROGRESS,
    (S.ANSWERED, Event.RESIDENT_REPLIED): S.IN_PROGRESS,
    **{(s, Event.ANSWER): S.ANSWERED for s in (*_WORKING, S.WAITING_FOR_RESIDENT, S.ANSWERED)},
    **{(s, Event.CLOSE): S.CLOSED for s in _OPEN},
    **{(s, Event.TRANSFER): S.TRANSFERRED for s in (*_OPEN, S.NEW)},
    **{(s, Event.REJECT): S.REJECTED for s in _OPEN},
    (S.CLOSED, Event.REOPEN): S.REOPENED,
    (S.REJECTED, Event.REOPEN): S.REOPENED,
}

OPEN_STATES = frozenset((S.NEW, *_OPEN))
# Where a resident's message may join their latest complaint by time alone (chat lines sent
# in a burst), as long as no answer has reached them either. Once a complaint is answered,
# transferred or closed, a message that does not name it is a complaint of its own: joined
# to one that has moved on, nobody would read it.
MERGES_BY_TIME = frozenset((S.NEW, S.ASSIGNED, S.IN_PROGRESS, S.REOPENED))
# Where a resident may rate how their complaint was handled: once it has an answer.
RATEABLE_STATES = frozenset((S.ANSWERED, S.CLOSED))
# Statuses in which the SLA clock does not run.
CLOCK_STOPPED = frozenset((S.WAITING_FOR_RESIDENT, S.ANSWERED, S.CLOSED, S.REJECTED))


def next_status(status: S, event: Event) -> S:
    """Where `event` takes a complaint in `status`, or IllegalTransition saying why not."""
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalTransition(status, event) from None
