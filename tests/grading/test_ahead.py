"""Kernels launched ahead: each serves one unit of its own setup, in a fresh kernel and folder, and none is left."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from handgrad.grading import ahead, bubblewrap, sandbox, unit
from handgrad.grading.dispatch import with_kernels_ahead
from handgrad.grading.limits import Limits

needs_bubblewrap = pytest.mark.skipif(not bubblewrap.bubblewrap_works(), reason="bubblewrap does not work here")


def setup_of(env: dict[str, str], isolation: str = "bubblewrap") -> ahead.Setup:
    return ahead.Setup.of(Limits(), env, isolation, ())


def scratch_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("hg-*"))


@pytest.fixture(autouse=True)
def own_temp_folder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Scratch folders go to a short folder of this test's own (another round may run meanwhile)."""
    folder = tempfile.mkdtemp(prefix="ta-")
    monkeypatch.setattr(tempfile, "tempdir", folder)
    yield
    shutil.rmtree(folder, ignore_errors=True)


def notebook(*sources: str) -> nbformat.NotebookNode:
    """Code cells, each a graded one (a unit runs nothing after the last graded cell)."""
    made = nbformat.v4.new_notebook()
    made.cells = [nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": f"t{i}"}})
                  for i, source in enumerate(sources)]
    return made


def printed(cell: nbformat.NotebookNode) -> str:
    return "".join(output.get("text", "") for output in cell.outputs)


@pytest.fixture(autouse=True)
def nothing_waiting() -> Iterator[None]:
    ahead.discard()
    yield
    ahead.discard()


def test_units_are_marked_while_enough_units_of_their_assignment_follow() -> None:
    jobs = [unit.Job("s", assignment, "", b"", "", {}, Limits(), "bubblewrap", {}) for assignment in "aaabb"]
    assert [job.ahead for job in with_kernels_ahead(jobs, 1)] == [2, 1, 0, 1, 0]
    assert [job.ahead for job in with_kernels_ahead(jobs, 2)] == [1, 0, 0, 0, 0]
    assert [job.ahead for job in with_kernels_ahead(jobs * 3, 1)][:3] == [2, 2, 2]    # never more than two


def test_under_the_limits_alone_no_kernel_is_launched_ahead() -> None:
    before = scratch_folders()
    ahead.fill(setup_of({}, "limits"), 2)
    assert ahead.take(setup_of({}, "limits")) is None
    assert scratch_folders() == before


@needs_bubblewrap
def test_a_kernel_launched_ahead_serves_only_its_own_setup() -> None:
    before = scratch_folders()
    ahead.fill(setup_of({"WHICH": "one"}), 1)
    assert ahead.take(setup_of({"WHICH": "two"})) is None          # another setup: discarded
    assert scratch_folders() == before

    ahead.fill(setup_of({"WHICH": "one"}), 1)
    launched = ahead.take(setup_of({"WHICH": "one"}))
    assert launched is not None and ahead.take(setup_of({"WHICH": "one"})) is None    # taken once
    ran = notebook("import os, sys\nprint(os.environ['WHICH'], 'torch' in sys.modules, os.getcwd())")
    runs = sandbox.run_notebook(ran, launched.workdir, Limits(), {"WHICH": "one"}, "bubblewrap",
                                launched=launched.runner)
    assert [run.status.value for run in runs] == ["ok"]
    assert printed(ran.cells[0]).split() == ["one", "True", str(launched.workdir)]   # preloaded, its own folder
    assert ran.cells[0].execution_count == 1                                         # the preload is no cell
    shutil.rmtree(launched.workdir)


@needs_bubblewrap
def test_each_unit_runs_in_a_fresh_kernel_and_nothing_is_left_behind() -> None:
    before = scratch_folders()
    job = unit.Job("s", "a", "", b"", "", {}, Limits(), "bubblewrap", {})
    counting = ("import builtins\nbuiltins.notebooks_seen = getattr(builtins, 'notebooks_seen', 0) + 1\n"
                "print(builtins.notebooks_seen)")
    waiting, folders = [], set()
    for count in (2, 1, 0):                                     # as a round of three units marks them
        ran = notebook(counting)
        unit._run(dataclasses.replace(job, ahead=count), ran)
        assert printed(ran.cells[0]).strip() == "1"            # no state of an earlier notebook
        waiting.append(ahead.waiting())
        folders |= {launched.workdir for launched in ahead._waiting}
    assert waiting == [2, 1, 0]                                 # the last units launched nothing more
    assert len(folders) == 2                                    # one folder per kernel
    assert scratch_folders() == before                          # every scratch folder removed

