"""The complaint state machine (pure)."""

from __future__ import annotations

import pytest

from bot.domain.lifecycle import (
    CLOCK_STOPPED,
    OPEN_STATES,
    TRANSITIONS,
    Event,
    IllegalTransition,
    next_status,
)
from bot.domain.lifecycle import ComplaintStatus as S


@pytest.mark.parametrize(
    ("path", "end"),
    [
        ([Event.ASSIGN, Event.TAKE, Event.ANSWER, Event.CLOSE], S.CLOSED),
        (
            [Event.ASSIGN, Event.TAKE, Event.ASK_RESIDENT, Event.RESIDENT_REPLIED, Event.ANSWER],
            S.ANSWERED,
        ),
        ([Event.ASSIGN, Event.TRANSFER, Event.TAKE, Event.ANSWER], S.ANSWERED),
        (
            [Event.ASSIGN, Event.TAKE, Event.ANSWER, Event.CLOSE, Event.REOPEN, Event.TAKE],
            S.IN_PROGRESS,
        ),
        ([Event.REJECT, Event.REOPEN], S.REOPENED),
        ([Event.ASSIGN, Event.REJECT], S.REJECTED),
    ],
)
def test_paths_through_the_lifecycle(path: list[Event], end: S) -> None:
    status = S.NEW
    for event in path:
        status = next_status(status, event)
    assert status is end


def test_illegal_transition_says_which_and_why() -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_status(S.NEW, Event.CLOSE)
    message = str(caught.value)
    assert message.startswith("cannot close a complaint that is new: 'close' is allowed only from ")
    assert "in_progress" in message and "new," not in message
    assert caught.value.status is S.NEW and caught.value.event is Event.CLOSE


@pytest.mark.parametrize("terminal", [S.CLOSED, S.REJECTED])
def test_finished_complaints_only_reopen(terminal: S) -> None:
    allowed = {event for (status, event) in TRANSITIONS if status is terminal}
    assert allowed == {Event.REOPEN}


def test_every_status_is_reachable_and_states_are_classified() -> None:
    reachable = {S.NEW} | set(TRANSITIONS.values())
    assert reachable == set(S)
    assert S.WAITING_FOR_RESIDENT in CLOCK_STOPPED and S.IN_PROGRESS not in CLOCK_STOPPED
    assert S.CLOSED not in OPEN_STATES and S.REOPENED in OPEN_STATES
