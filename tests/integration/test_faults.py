"""The faults scenario (tests/integration/faults.py) at a size the suite can afford: 300
mixed messages, two SIGKILLs, one PostgreSQL restart, providers failing a share of sends."""

from __future__ import annotations

import pytest

from tests.conftest import need_service
from tests.integration.dovecot import Dovecot, dovecot
from tests.integration.faults import run_faults
from tests.integration.pg_cluster import cluster_problem

__all__ = ["dovecot"]  # the session's Dovecot, a fixture


@pytest.mark.slow
async def test_every_message_is_one_complaint_or_follow_up_and_every_send_arrives_once(
    dovecot: Dovecot,
) -> None:
    problem = cluster_problem()
    if problem:
        need_service("A PostgreSQL cluster of the test's own", problem)

    outcome = await run_faults(300, kills=2, dovecot=dovecot)

    print()
    for name, value in outcome.table():
        print(f"  {name:34} {value}")
    assert not outcome.violations, "\n".join(outcome.violations[:40])
    assert outcome.counts["kills"] == 2
    assert outcome.counts["PostgreSQL restarts"] == 1
    assert outcome.counts["messages"] == 300
