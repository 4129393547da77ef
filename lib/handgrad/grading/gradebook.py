"""Autograded scores into nbgrader's gradebook (written answers stay 'needs manual grade').

A manual grade entered through nbgrader (formgrader or its API) is never overwritten by a round.
When a student's written answer changed since it was graded by hand, its grade is cleared and the
cell needs a manual grade again; the hashes of the answers last recorded live in
``.handgrad/answers/<student>/<assignment>.json``.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

from handgrad.grading.results import Result, Status


def answer_hashes(result: Result) -> dict[str, str]:
    """grade_id -> hash of the student's source of every written answer ('' when there is no notebook)."""
    sources = {}
    for cell in (result.notebook or {}).get("cells", []):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            sources[grade_id] = cell.get("source", "")
    return {cell.grade_id: hashlib.sha256(str(sources.get(cell.grade_id, "")).encode()).hexdigest()
            for cell in result.cells if cell.status is Status.MANUAL}


def _record_manual(grade: Any, before: str | None, now: str) -> None:
    """A written answer: keep a grade given by hand unless the answer it graded changed."""
    if grade.manual_score is None and grade.auto_score is None:
        grade.needs_manual_grade = True
    elif before is not None and before != now:     # a new answer: the old grade was not for it
        grade.manual_score = None
        grade.extra_credit = None
        grade.needs_manual_grade = True


def record_in_gradebook(course: Path, results: list[Result]) -> None:
    """One submission per result, one grade per graded cell, in ``course/gradebook.db``."""
    from nbgrader.api import Gradebook  # type: ignore[import-untyped]

    # nbgrader's own session handling warns (SAWarning) on a first submission; the rows are written all the same.
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        warnings.simplefilter("ignore")
        answers: dict[Path, dict[str, str]] = {}
        for result in results:
            gradebook.update_or_create_student(result.student)
            gradebook.update_or_create_submission(result.assignment, result.student)
            path = course / ".handgrad" / "answers" / result.student / f"{result.assignment}.json"
            recorded = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            answers[path] = answer_hashes(result)
            for cell in result.cells:
                grade = gradebook.find_grade(cell.grade_id, result.assignment, result.assignment, result.student)
                if cell.status is Status.MANUAL:
                    _record_manual(grade, recorded.get(cell.grade_id), answers[path][cell.grade_id])
                else:
                    grade.auto_score = cell.score   # a manual_score given on top of it by hand stays
                    grade.needs_manual_grade = False
            gradebook.db.commit()
        for path, hashes in answers.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(hashes, sort_keys=True), encoding="utf-8")
