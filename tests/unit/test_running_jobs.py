"""Stopping the service lets the scheduler's running jobs finish, and starts no other."""

from __future__ import annotations

import asyncio

from bot.bootstrap import RunningJobs


async def test_stopping_waits_for_a_job_half_way_through() -> None:
    jobs, release, done = RunningJobs(), asyncio.Event(), asyncio.Event()

    async def job() -> None:
        await release.wait()
        done.set()

    jobs.start()
    task = asyncio.create_task(jobs.tracked(job)())
    await asyncio.sleep(0)  # the job begins and waits
    stopping = asyncio.create_task(jobs.stop())
    await asyncio.sleep(0)
    assert not stopping.done()
    release.set()
    await stopping
    assert done.is_set()
    await task


async def test_a_job_launched_just_before_stopping_but_not_begun_does_not_run() -> None:
    """The scheduler launches a job as a task of its own; when stopping waits before that
    task's first step, the job would start on a closing service and be cancelled with the
    loop (logged as an error). It does not start at all."""
    jobs, ran = RunningJobs(), []

    async def job() -> None:
        ran.append("ran")

    jobs.start()
    task = asyncio.create_task(jobs.tracked(job)())
    await jobs.stop()
    await task
    assert ran == []


async def test_jobs_run_again_once_started_again() -> None:
    jobs, ran = RunningJobs(), []

    async def job() -> None:
        ran.append("ran")

    jobs.start()
    await jobs.stop()
    jobs.start()
    await jobs.tracked(job)()
    assert ran == ["ran"]
