"""The per-student unit runs on a Dask cluster (a local one here) and gives the same grades."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from handgrad.grading.bubblewrap import bubblewrap_works
from handgrad.grading.limits import Limits
from handgrad.grading.round import run_round

COURSE = Path(__file__).resolve().parents[2]
ID = "02_activations"


def test_round_on_a_local_dask_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", course)
    shutil.copytree(COURSE / "source" / ID, course / "source" / ID)
    for student in ("reference", "blank", "buggy"):
        shutil.copytree(COURSE / "submitted" / student / ID, course / "submitted" / student / ID)
    isolation = "bubblewrap" if bubblewrap_works() else "limits"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        results, facts = run_round(course, [ID], executor=client, isolation=isolation)
    assert facts["not_graded"] == {}
    totals = {r.student: r.score() for r in results}
    assert totals == {"reference": 11.0, "blank": 0.0, "buggy": 8.0}
