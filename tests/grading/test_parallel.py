"""The per-student unit runs on a Dask cluster (a local one here) and gives the same grades."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from handgrad.grading.bubblewrap import bubblewrap_works
from handgrad.grading.round import run_round

ID = "02_activations"


def test_round_on_a_local_dask_cluster(course_copy: Callable[..., Path]) -> None:
    distributed = pytest.importorskip("distributed")
    course = course_copy(f"source/{ID}", *(f"submitted/{student}/{ID}" for student in ("reference", "blank", "buggy")))
    isolation = "bubblewrap" if bubblewrap_works() else "limits"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        results, facts = run_round(course, [ID], executor=client, isolation=isolation)
    assert facts["not_graded"] == {}
    totals = {r.student: r.score() for r in results}
    assert totals == {"reference": 11.0, "blank": 0.0, "buggy": 8.0}
    labels = {r.student: {cell.label for cell in r.cells} for r in results}
    assert labels["blank"] == {"not_attempted"}      # every graded cell of the untouched release
    assert "not_attempted" not in labels["reference"] | labels["buggy"]
