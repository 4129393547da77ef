"""`handgrad grade --scheduler ADDRESS`: the per-student unit runs on separate `dask worker` processes
started from an empty folder (no course path, no PYTHONPATH), gives the grades of `--jobs 1`, and a
worker killed during a unit changes no grade."""

from __future__ import annotations

import concurrent.futures
import csv
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from handgrad import venv
from handgrad.grading import incremental
from handgrad.grading import round as grading_round
from handgrad.grading.round import run_round

ID = "03_loss"
STUDENTS = ("blank", "buggy", "reference")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two single-threaded workers, each its own `dask` process started in an empty folder."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    empty = tmp_path_factory.mktemp("empty")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    dask = str(venv.bin_dir() / "dask")
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                  cwd=empty, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    processes += [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"], cwd=empty,
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[str]]]:
    """The course graded once with --jobs 1: (folder, the rows of its grades.csv)."""
    from tests.conftest import copy_course

    folder = copy_course(tmp_path_factory.mktemp("cluster") / "course", f"source/{ID}",
                         *(f"submitted/{student}/{ID}" for student in STUDENTS))
    run_round(folder, [ID], jobs=1)
    return folder, rows(folder)


def rows(course: Path) -> list[list[str]]:
    """student, assignment, cell, score and status of every graded cell in reports/grades.csv."""
    with open(course / "reports" / "grades.csv") as stream:
        return sorted([r["student"], r["assignment"], r["grade_id"], r["score"], r["status"]]
                      for r in csv.DictReader(stream))


def test_the_command_line_grades_on_the_cluster_like_jobs_1(scheduler: str, course: tuple[Path, list]) -> None:
    folder, expected = course
    done = subprocess.run([str(venv.bin_dir() / "handgrad"), "grade", "--course", str(folder), "--assignment", ID,
                           "--scheduler", scheduler, "--force", "--no-release"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"graded": 3' in done.stdout and '"grader_faults": {}' in done.stdout
    assert rows(folder) == expected and any(row[3] != "0" for row in expected)


def test_a_worker_killed_during_a_unit_changes_no_grade(scheduler: str, course: tuple[Path, list],
                                                        tmp_path: Path) -> None:
    folder, expected = course
    shutil.rmtree(folder / "reports")
    with distributed.Client(scheduler, timeout=60) as client:
        client.wait_for_workers(2, timeout=120)
        outcome: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: outcome.update(
            facts=run_round(folder, [ID], do_release=False, force=True, executor=client)[1]))
        thread.start()
        killed = kill_a_busy_worker(client, lambda: not thread.is_alive())
        thread.join(timeout=600)
    assert killed, "no unit was running on a worker"
    assert outcome["facts"]["grader_faults"] == {} and outcome["facts"]["graded"] == 3
    assert rows(folder) == expected


def kill_a_busy_worker(client: Any, finished: Callable[[], bool]) -> bool:
    """SIGKILL the process of a worker 2 s into a unit (its nanny starts a new one); False if none ran."""
    while not finished():
        busy = [worker for worker, tasks in client.processing().items() if tasks]
        if busy:
            time.sleep(2.0)              # the unit's kernel is running by now
            pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            return True
        time.sleep(0.1)
    return False


class LosingClient:
    """A stand-in for a Dask client whose cluster loses every unit it is given (retries used up)."""

    __module__ = "distributed.client"

    def __init__(self) -> None:
        self.options: list[dict[str, Any]] = []

    def submit(self, function: Callable[..., Any], *args: Any, **options: Any) -> concurrent.futures.Future:
        self.options.append(options)
        future: concurrent.futures.Future = concurrent.futures.Future()
        future.set_exception(distributed.comm.CommClosedError("the connection to the scheduler was lost"))
        return future


def test_a_unit_the_cluster_loses_is_a_grader_fault_never_a_grade(course_copy: Callable[..., Path],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", venv.on_path()["PATH"])   # nbgrader's gradebook runs alembic from the venv
    monkeypatch.setattr(grading_round, "reference_records", lambda *args, **kwargs: {})   # no kernel needed here
    folder = course_copy(f"source/{ID}", f"submitted/reference/{ID}")
    client = LosingClient()
    results, facts = run_round(folder, [ID], do_release=False, executor=client)
    assert results == [] and list(facts["grader_faults"]) == [f"reference/{ID}"]
    assert "CommClosedError" in facts["grader_faults"][f"reference/{ID}"]
    assert client.options == [{"retries": 3, "pure": False}]
    assert not incremental.cache_path(folder, "reference", ID).exists()   # the next round grades it
