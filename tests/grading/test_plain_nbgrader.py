"""Plain `nbgrader autograde` still works on the course and gives honest submissions the same
scores as the trusted round (which tests/test_samples.py checks for the same samples)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from nbgrader.api import Gradebook

from handgrad import venv
from tests.conftest import COURSE, copy_course

HONEST = ("reference", "buggy")


def test_nbgrader_autograde_agrees_with_the_trusted_round(tmp_path: Path, graded_samples: tuple[Path, str]) -> None:
    assignments = sorted(p.name for p in (COURSE / "source").iterdir() if p.is_dir())
    plain = copy_course(tmp_path / "plain", "source", *(f"submitted/{student}" for student in HONEST))

    env = venv.on_path()
    for assignment in assignments:
        for command in (["generate_assignment", assignment, "--force"], ["autograde", assignment, "--force"]):
            done = subprocess.run([sys.executable, "-m", "nbgrader", *command, "--log-level=ERROR"], cwd=plain,
                                  env=env, capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, done.stderr[-2000:]
    with Gradebook(f"sqlite:///{plain / 'gradebook.db'}") as gradebook:
        nbgrader_scores = {(student, assignment, grade.name): float(grade.auto_score or 0.0)
                           for assignment in assignments for student in HONEST
                           for grade in gradebook.find_submission_notebook(assignment, assignment, student).grades
                           if grade.auto_score is not None}

    trusted, _ = graded_samples
    with open(trusted / "reports" / "grades.csv") as stream:
        ours = {(row["student"], row["assignment"], row["grade_id"]): float(row["score"])
                for row in csv.DictReader(stream) if row["status"] != "manual" and row["student"] in HONEST}
    assert ours and nbgrader_scores == ours
