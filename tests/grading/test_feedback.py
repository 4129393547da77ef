"""handgrad.grading.feedback: verdicts and messages for the student, never the hidden tests' code."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from handgrad.grading import feedback
from handgrad.grading.results import CellVerdict, Result, Status

RELEASE_03 = Path(__file__).resolve().parents[2] / "release" / "03_loss" / "03_loss.ipynb"
HIDDEN = "### BEGIN HIDDEN TESTS\nsecret_oracle = 'torch.relu'\n### END HIDDEN TESTS"


def meta(grade_id: str, grade: bool, solution: bool, points: float = 0) -> dict:
    return {"nbgrader": {"grade_id": grade_id, "grade": grade, "solution": solution, "points": points}}


def executed_notebook() -> nbformat.NotebookNode:
    """A run notebook: a solution, its hidden test (with outputs that show the test's code), a written answer."""
    test = new_code_cell("checks.close(...)\n" + HIDDEN, metadata=meta("test_f", True, False, 2))
    test.outputs = [nbformat.v4.new_output("error", ename="CheckFailed", evalue="[01.f.1] f: 1 of 4 entries off",
                                           traceback=["secret_oracle = 'torch.relu'"])]
    return new_notebook(cells=[new_code_cell("def f(x):\n    return 3 * x", metadata=meta("f", False, True)), test,
                               new_code_cell("checks.same('01.q', answer, 'B')",
                                             metadata=meta("test_q", True, False, 1)),
                               new_markdown_cell("Because it vanishes.", metadata=meta("why", True, True, 2))])


VERDICTS = [CellVerdict("test_f", 2.0, 0.0, Status.ERROR, "CheckFailed: [01.f.1] f: 1 of 4 entries off", "CheckFailed"),
            CellVerdict("test_q", 1.0, 1.0, Status.OK, "all checks passed"),
            CellVerdict("why", 2.0, 0.0, Status.MANUAL, "graded by hand")]


def test_verdict_text() -> None:
    assert feedback.verdict_text(VERDICTS[1]) == "PASSED  1/1 points  (ok)\n"
    assert feedback.verdict_text(VERDICTS[0]) == ("FAILED  0/2 points  (error:CheckFailed)\n"
                                                  "CheckFailed: [01.f.1] f: 1 of 4 entries off\n")


def test_sanitize_keeps_only_the_verdict_of_each_autograded_cell() -> None:
    run = executed_notebook()
    clean = feedback.sanitize(run, VERDICTS)
    solution, test, question, answer = clean.cells
    assert solution.source == run.cells[0].source and answer.source == "Because it vanishes."
    assert test.source == "# Hidden tests for 'test_f' (2 points)"
    assert [o["text"] for o in test.outputs] == [feedback.verdict_text(VERDICTS[0])]
    assert question.source == "# Hidden tests for 'test_q' (1 points)"
    assert "secret_oracle" not in nbformat.writes(clean)
    assert "secret_oracle" in nbformat.writes(run)        # the run itself is left as it was


def test_the_summary_says_score_cells_notes_and_reason() -> None:
    result = Result("alice", "01_x", Status.OK, notes=["solution cell 'f' appears 2 times: the first one is used"],
                    cells=list(VERDICTS), notebook=feedback.sanitize(executed_notebook(), VERDICTS))
    text = feedback.summary_cell(result).source
    assert "**Autograded score: 1 / 3**" in text
    assert "| test_f | 0/2 | error:CheckFailed |" in text and "| why | 0/2 | manual |" in text
    assert "appears 2 times" in text
    page = feedback.html(result)
    assert "Autograded score" in page and "error:CheckFailed" in page
    assert "secret_oracle" not in page and "BEGIN HIDDEN TESTS" not in page


def test_a_page_keeps_the_instructors_markdown_and_escapes_a_students_scripts() -> None:
    from nbconvert import HTMLExporter

    course_notebook = nbformat.read(str(RELEASE_03), as_version=4)
    answer = new_markdown_cell("My answer <script>alert(1)</script> <img src=x onerror=alert(2)> **bold**")
    course_notebook.cells.append(answer)
    result = Result("alice", "03_loss", Status.OK, notes=["cell '<script>alert(3)</script>' is not part of it"],
                    notebook=course_notebook)
    unsanitized, _ = HTMLExporter().from_notebook_node(feedback.feedback_notebook(result))
    for _ in range(2):                       # the second page's sanitized cells are remembered ones
        page = feedback.html(result)
        assert "<script>alert" not in page and "onerror" not in page and "<strong>bold</strong>" in page
        # Nothing else was escaped: the instructor's headings, paragraphs, tables and the code keep their markup.
        assert page.count("&lt;") == unsanitized.count("&lt;") + 4


def test_a_submission_that_did_not_run_gets_the_summary_alone() -> None:
    reason = "alice/01_x/01_x.ipynb is a symbolic link (to ../source/01_x.ipynb): never followed"
    result = Result("alice", "01_x", Status.REJECTED, reason,
                    cells=[CellVerdict("test_f", 2.0, 0.0, Status.REJECTED, reason)])
    notebook = feedback.feedback_notebook(result)
    assert len(notebook.cells) == 1
    assert f"**rejected:** {reason}" in notebook.cells[0].source
    assert feedback.feedback_path(Path("/c"), result) == Path("/c/feedback/alice/01_x/01_x.html")
