"""Autograded scores into nbgrader's gradebook (written answers stay 'needs manual grade')."""

from __future__ import annotations

import warnings
from pathlib import Path

from handgrad.grading.results import Result, Status


def record_in_gradebook(course: Path, results: list[Result]) -> None:
    """One submission per result, one grade per graded cell, in ``course/gradebook.db``."""
    from nbgrader.api import Gradebook  # type: ignore[import-untyped]

    # nbgrader's own session handling warns (SAWarning) on a first submission; the rows are written all the same.
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        warnings.simplefilter("ignore")
        for result in results:
            gradebook.update_or_create_student(result.student)
            gradebook.update_or_create_submission(result.assignment, result.student)
            for cell in result.cells:
                grade = gradebook.find_grade(cell.grade_id, result.assignment, result.assignment, result.student)
                if cell.status is Status.MANUAL:
                    grade.needs_manual_grade = True
                else:
                    grade.auto_score = cell.score
                    grade.needs_manual_grade = False
            gradebook.db.commit()
