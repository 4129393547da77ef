"""The sample submissions are what tools/make_samples.py writes, and they grade as docs/contract.md says:
reference full marks, blank zero without a crash, buggy partial marks."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

from tools import make_samples

COURSE = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (COURSE / "release").iterdir() if p.is_dir())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_samples_are_in_sync(assignment: str) -> None:
    for student, notebook in make_samples.samples(assignment).items():
        committed = nbformat.read(str(COURSE / "submitted" / student / assignment / f"{assignment}.ipynb"), 4)
        assert [c.source for c in committed.cells] == [c.source for c in notebook.cells], \
            f"submitted/{student}/{assignment} is stale: run `make samples`"


def test_make_grade_on_the_samples(graded_samples: tuple[Path, str]) -> None:
    course, printed = graded_samples
    # The default table: one row per student and assignment, then the round's summary.
    assert "summary:" in printed
    rows = {tuple(line.split()[:2]) for line in printed.splitlines()}
    assert all((student, assignment) in rows
               for student in ("reference", "blank", "buggy") for assignment in ASSIGNMENTS)
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    blank_statuses: set[str] = set()
    with open(course / "reports" / "grades.csv") as stream:
        for row in csv.DictReader(stream):
            if row["student"] == "blank" and row["status"] != "manual":
                blank_statuses.add(row["status"])
            if row["status"] != "manual":
                totals[(row["student"], row["assignment"])][0] += float(row["score"])
                totals[(row["student"], row["assignment"])][1] += float(row["max_score"])
    assert blank_statuses == {"not_attempted"}      # the untouched release: nothing attempted, nothing crashed
    for assignment in ASSIGNMENTS:
        score, maximum = totals[("reference", assignment)]
        assert score == maximum > 0, assignment
        assert totals[("blank", assignment)][0] == 0, assignment
        assert 0 < totals[("buggy", assignment)][0] < maximum, assignment
        feedback = (course / "feedback" / "buggy" / assignment / f"{assignment}.html").read_text()
        assert "BEGIN HIDDEN TESTS" not in feedback and "handgrad.suites" not in feedback
        assert "FAILED" in feedback


def test_the_class_report_matches_the_grades_csv(graded_samples: tuple[Path, str]) -> None:
    course, _ = graded_samples
    passed: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    with open(course / "reports" / "grades.csv") as stream:
        for row in csv.DictReader(stream):
            if row["status"] != "manual":
                passed[(row["assignment"], row["grade_id"])][0] += row["status"] == "ok"
                passed[(row["assignment"], row["grade_id"])][1] += 1
    reported: dict[tuple[str, str], list[int]] = {}
    assignment = ""
    for line in (course / "reports" / "class_report.md").read_text().splitlines():
        if line.startswith("## "):
            assignment = line[3:]
        elif line.startswith("| test_"):
            cell, _, counts = (part.strip() for part in line.strip("|").split("|")[:3])
            reported[(assignment, cell)] = [int(n) for n in counts.split("/")]
    assert reported == dict(passed)
    for assignment in ASSIGNMENTS:
        for figure in ("scores", "pass_rates"):
            assert (course / "reports" / "class_report" / f"{assignment}_{figure}.png").stat().st_size > 1000
