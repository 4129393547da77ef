"""nbgrader sees the trusted round: `nbgrader export` totals, written answers needing a manual grade,
and a manual grade entered through nbgrader's API that survives the next rounds."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from nbgrader.api import Gradebook

from handgrad import venv
from handgrad.grading.round import run_round

ID = "03_loss"
STUDENTS = ("buggy", "reference")
WRITTEN = "written_why_stable"


def add_written_answer(notebook_path: Path, answer: str) -> None:
    """Append a written answer cell (2 points, graded by hand) to a notebook file."""
    notebook = json.loads(notebook_path.read_text())
    notebook["cells"].append({"cell_type": "markdown", "id": "written-why-stable", "source": answer, "metadata": {
        "nbgrader": {"grade": True, "solution": True, "locked": False, "points": 2, "grade_id": WRITTEN,
                     "schema_version": 3}}})
    notebook_path.write_text(json.dumps(notebook))


def exported(course: Path) -> dict[str, tuple[float, float]]:
    """student -> (score, max_score) as `nbgrader export` writes them."""
    done = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--log-level=ERROR"], cwd=course,
                          env=venv.on_path(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(course / "grades.csv") as stream:
        return {row["student_id"]: (float(row["score"]), float(row["max_score"]))
                for row in csv.DictReader(stream) if row["assignment"] == ID}


def written_grade(course: Path, student: str) -> tuple[float | None, bool]:
    """(manual_score, needs_manual_grade) of the written answer, read back through nbgrader's API."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade(WRITTEN, ID, ID, student)
        return grade.manual_score, grade.needs_manual_grade


def grade_by_hand(course: Path, student: str, score: float) -> None:
    """What formgrader does when the instructor types a score: manual_score set, no longer needed."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade(WRITTEN, ID, ID, student)
        grade.manual_score = score
        grade.needs_manual_grade = False
        gradebook.db.commit()


def test_nbgrader_export_manual_grades_and_later_rounds(course_copy: Callable[..., Path]) -> None:
    course = course_copy(f"source/{ID}", *(f"submitted/{student}/{ID}" for student in STUDENTS))
    add_written_answer(course / "source" / ID / f"{ID}.ipynb", "Subtracting the maximum keeps exp from overflowing.")
    for student in STUDENTS:
        add_written_answer(course / "submitted" / student / ID / f"{ID}.ipynb", f"{student}: exp would overflow.")

    results, _ = run_round(course, [ID])
    auto = {r.student: r.score() for r in results}
    total = results[0].autograded_max() + 2.0                                # the autograded points + 2 by hand
    assert total == 14.0 and exported(course) == {s: (auto[s], total) for s in STUDENTS}
    for student in STUDENTS:
        assert written_grade(course, student) == (None, True)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:   # formgrader's "needs manual grade"
        assert all(gradebook.find_submission(ID, s).needs_manual_grade for s in STUDENTS)

    grade_by_hand(course, "reference", 2.0)
    grade_by_hand(course, "buggy", 1.0)
    run_round(course, [ID], do_release=False, force=True)                   # regraded, answers unchanged
    assert written_grade(course, "reference") == (2.0, False)
    assert written_grade(course, "buggy") == (1.0, False)
    assert exported(course) == {"reference": (auto["reference"] + 2.0, total), "buggy": (auto["buggy"] + 1.0, total)}

    # buggy rewrites the written answer: its old grade was for another text, so it needs a manual grade again.
    notebook_path = course / "submitted" / "buggy" / ID / f"{ID}.ipynb"
    notebook = json.loads(notebook_path.read_text())
    notebook["cells"][-1]["source"] = "buggy: a longer answer about overflow and underflow."
    notebook_path.write_text(json.dumps(notebook))
    _, facts = run_round(course, [ID], do_release=False)
    assert (facts["graded"], facts["reused"]) == (1, 1)
    assert written_grade(course, "buggy") == (None, True)
    assert written_grade(course, "reference") == (2.0, False)
