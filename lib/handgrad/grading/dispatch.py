"""Run a round's units: one by one in this process, in a process pool (``jobs``), or on any
``concurrent.futures``-style executor such as a Dask client; results come back in the jobs' order.

While a unit runs, the process that grades it launches the kernels of its next units like it
(:mod:`handgrad.grading.ahead`) when enough units of that assignment are left.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import multiprocessing
from typing import Any

from handgrad.grading import ahead, progress
from handgrad.grading.results import InfrastructureError, Result
from handgrad.grading.unit import Job, grade_one

DASK_RETRIES = 3   # a unit whose worker died is run again, up to this many times
# Kernels a process keeps launched ahead. A kernel's start (about 4 s of one core here, mostly importing
# torch) outlasts a unit's own work (about 1.5 s): with one ahead, a core idles while the unit waits for it.
KERNELS_AHEAD = 2


def is_dask(executor: Any) -> bool:
    """A Dask client (it retries a unit whose worker died, and may lose one)."""
    return type(executor).__module__.startswith("distributed")


def with_kernels_ahead(job_list: list[Job], workers: int) -> list[Job]:
    """The jobs, each with how many kernels its process should have launched ahead: as many units of its
    assignment as that process will most likely grade after it (those that follow, shared among the
    ``workers``), at most :data:`KERNELS_AHEAD`."""
    left = collections.Counter(job.assignment for job in job_list)
    marked = []
    for job in job_list:
        left[job.assignment] -= 1
        marked.append(dataclasses.replace(job, ahead=min(KERNELS_AHEAD, left[job.assignment] // workers)))
    return marked


def workers(pool: Any, jobs: int) -> int:
    """How many units run at once: the cluster's workers now (when it says), else ``jobs``."""
    if is_dask(pool):
        with contextlib.suppress(Exception):   # a cluster that cannot say: as many as --jobs
            return max(len(pool.scheduler_info()["workers"]), 1)
    return max(jobs, 1)


def grade_all(job_list: list[Job], jobs: int, executor: Any = None) -> tuple[list[Result], dict[str, str]]:
    """Every job's result, and the units a cluster lost (student/assignment -> why); the first
    InfrastructureError cancels what has not started and propagates."""
    if executor is None and jobs <= 1:
        with progress.bar(len(job_list)) as ticks:
            done = []
            try:
                for job in with_kernels_ahead(job_list, 1):
                    done.append(grade_one(job))
                    ticks.update(1)
            finally:
                ahead.discard()
            return done, {}
    pool: Any = executor or concurrent.futures.ProcessPoolExecutor(max_workers=jobs,
                                                                    mp_context=multiprocessing.get_context("spawn"))
    # On a cluster a worker that dies mid-unit costs a retry on another worker (pure=False: never a cached result).
    options = {"retries": DASK_RETRIES, "pure": False} if is_dask(pool) else {}
    futures = [pool.submit(grade_one, job, **options) for job in with_kernels_ahead(job_list, workers(pool, jobs))]
    results, lost = [], {}
    ticks = progress.bar(len(job_list))
    try:
        for job, future in zip(job_list, futures):
            try:
                results.append(future.result())
            except InfrastructureError:
                raise
            except Exception as error:   # noqa: BLE001 - the cluster lost the unit: a fault of ours, not a grade
                if not options:
                    raise
                lost[f"{job.student}/{job.assignment}"] = f"{type(error).__name__}: {str(error)[:300]}"
            ticks.update(1)
        return results, lost
    finally:
        ticks.close()
        for future in futures:
            future.cancel()
        if is_dask(pool):
            with contextlib.suppress(Exception):   # a worker that is gone has no kernel left waiting
                pool.run(ahead.discard)
        if executor is None:
            pool.shutdown(wait=True, cancel_futures=True)
