"""The trusted judge on real suite checks: an honest mistake in an earlier, separately graded step
costs that step's points and never makes a later cell 'tampered'."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from handgrad import checks, record
from handgrad.grading import judge
from handgrad.grading.results import CellRun, Status
from handgrad.suites import mlp as mlp_suite
from tests.notebooks import catalogue

SHUFFLE = "order = np.random.permutation(n)"
# Draws n rows with replacement: some rows twice, some never (a loop mistake), while the figures
# are still computed honestly from the batches it trained.
WITH_REPLACEMENT = "order = np.random.randint(0, n, size=n)"


def training_stats(source: str) -> Callable[..., Any]:
    """get_training_stats defined by a version of 06's solution cell."""
    namespace: dict[str, Any] = {"np": np}
    exec(compile(source, "training", "exec"), namespace)  # noqa: S102 - the course's own solution cell
    return namespace["get_training_stats"]


def recorded(monkeypatch: pytest.MonkeyPatch, path: Path, check: Callable[[], None]) -> tuple[Status, list[dict]]:
    """Run one graded check with recording on; the cell's status and its records."""
    monkeypatch.setattr(checks, "_RECORD_PATH", str(path))
    np.random.seed(0)
    try:
        check()
        status = Status.OK
    except checks.CheckFailed:
        status = Status.FAILED
    return status, list(record.read(path))


def test_figures_of_a_loop_that_samples_with_replacement_are_judged_ok(monkeypatch, tmp_path):
    """06: the training figures follow the student's own batches, so a wrong shuffle loses the loop cell only."""
    reference_source = catalogue.solutions("06_mlp")["training"]
    assert SHUFFLE in reference_source
    student_source = reference_source.replace(SHUFFLE, WITH_REPLACEMENT)
    verdicts = {}
    for grade_id, check in (("test_training_loop", mlp_suite.check_training_loop),
                            ("test_training_figures", mlp_suite.check_training_figures)):
        _, reference = recorded(monkeypatch, tmp_path / f"{grade_id}.reference.jsonl",
                                lambda check=check: check("06", training_stats(reference_source)))
        status, mine = recorded(monkeypatch, tmp_path / f"{grade_id}.student.jsonl",
                                lambda check=check: check("06", training_stats(student_source)))
        verdicts[grade_id] = judge.judge_cell(grade_id, 2.0, CellRun(0, status, records=mine), reference).status
    assert verdicts == {"test_training_loop": Status.FAILED, "test_training_figures": Status.OK}
