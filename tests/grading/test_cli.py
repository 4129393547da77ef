"""`handgrad grade`: the table, the review list and the summary; exit 2 and nothing written when the round stops,
3 when units were lost to grader faults."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from handgrad.grading import cli, rebuild, report, round, sandbox, unit
from handgrad.grading.results import CellVerdict, Result, ReviewItem, Status

ID = "02_activations"
OUTPUTS = ("reports", "feedback", "autograded", "gradebook.db")


@pytest.fixture
def course(course_copy: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A course with one assignment and two honest students; reference records stubbed (no kernel runs)."""
    course = course_copy(f"source/{ID}", f"submitted/reference/{ID}", f"submitted/buggy/{ID}")
    monkeypatch.setattr(round, "reference_records", lambda *args, **kwargs: {})
    return course


def grade(course: Path, *extra: str) -> int:
    return cli.main(["grade", "--course", str(course), "--no-release", "--isolation", "limits", *extra])


def nothing_written(course: Path) -> bool:
    return not any((course / name).exists() for name in OUTPUTS)


def test_an_unknown_assignment_stops_the_round(course: Path, capsys: pytest.CaptureFixture) -> None:
    assert grade(course, "--assignment", "99_nothing") == 2
    assert "no source notebook for 99_nothing" in capsys.readouterr().err
    assert nothing_written(course)


def test_a_grader_bug_inside_a_student_unit_stops_the_round(course: Path, capsys: pytest.CaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def buggy_merge(instructor, student):
        raise KeyError("grade_id")
    monkeypatch.setattr(rebuild, "rebuild", buggy_merge)
    assert grade(course) == 2
    err = capsys.readouterr().err
    assert "nothing was written" in err and "the grader failed on buggy/02_activations" in err and "KeyError" in err
    assert nothing_written(course)      # never a 'corrupt' zero for the student


def test_a_sandbox_that_fails_twice_stops_the_round(course: Path, capsys: pytest.CaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def no_kernel(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("Kernel died before replying to kernel_info")
    monkeypatch.setattr(sandbox, "run_notebook", no_kernel)
    assert grade(course) == 2
    assert "the sandbox failed twice" in capsys.readouterr().err
    assert len(calls) == 2              # one retry, then the round stops at the first student
    assert nothing_written(course)


def test_a_grader_bug_after_grading_stops_the_round_before_writing(course: Path, capsys: pytest.CaptureFixture,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unit, "_grade", lambda job: Result(job.student, job.assignment, Status.OK))
    monkeypatch.setattr(report, "summary", lambda results: {}["students"])
    assert grade(course) == 2
    err = capsys.readouterr().err
    assert "bug of the grader" in err and "KeyError" in err
    assert nothing_written(course)


def test_a_finished_round_prints_the_table_the_review_list_and_the_summary(
        course: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_grade(job: unit.Job) -> Result:
        result = Result(job.student, job.assignment, Status.OK, seconds=1.0)
        result.cells = [CellVerdict("test_relu", 2.0, 2.0, Status.OK, "all checks passed"),
                        CellVerdict("test_tanh", 2.0, 0.0, Status.ERROR, "NameError: x", "NameError")]
        if job.student == "buggy":
            result.review = [ReviewItem("buggy", ID, "relu", 2, "gc.collect()", "uses the garbage collector")]
        return result
    monkeypatch.setattr(unit, "_grade", fake_grade)
    monkeypatch.setattr(round, "write_outputs", lambda course, results: course / "reports" / "grades.csv")
    assert grade(course) == 0
    out = capsys.readouterr().out
    # Default: one row per student and assignment, with its faults counted by label.
    assert ["buggy", ID, "2/4", "1.0", "error:NameError", "x1"] in [line.split() for line in out.splitlines()]
    assert "test_tanh" not in out and "TOTAL (autograded)" not in out
    assert "to review (1)" in out and "buggy/02_activations cell 'relu' line 2: uses the garbage collector" in out
    summary = json.loads(out.split("summary: ", 1)[1])
    assert summary["faults"] == {"error:NameError": 2} and summary["students"] == 2
    assert summary["to_review"] == [{"student": "buggy", "assignment": ID, "cell": "relu", "line": 2,
                                     "code": "gc.collect()", "reason": "uses the garbage collector"}]
    assert grade(course, "--detail") == 0
    out = capsys.readouterr().out
    assert "buggy          02_activations   test_tanh                       0/2     error:NameError" in out
    assert "TOTAL (autograded)              2/4" in out


def test_a_round_with_units_lost_to_grader_faults_exits_3_and_names_them(
        course: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    def losing_round(*args, **kwargs):
        graded = Result("reference", ID, Status.OK, cells=[CellVerdict("test_relu", 2.0, 2.0, Status.OK, "ok")])
        return [graded], {"graded": 1, "grader_faults": {f"buggy/{ID}": "CommClosedError: worker lost"}}
    monkeypatch.setattr(cli, "run_round", losing_round)
    assert grade(course) == 3
    captured = capsys.readouterr()
    assert "reference" in captured.out and '"grader_faults": {"buggy/' in captured.out   # the grades still print
    assert "1 unit(s) lost to grader faults" in captured.err and f"buggy/{ID}: CommClosedError" in captured.err


def test_a_round_without_grader_faults_exits_0(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "run_round", lambda *args, **kwargs: ([], {"graded": 0, "grader_faults": {}}))
    assert grade(course) == 0


def test_the_summary_table_lists_a_submission_without_faults_and_one_not_graded() -> None:
    stream = io.StringIO()
    clean = Result("alice", ID, Status.OK, cells=[CellVerdict("test_relu", 2.0, 2.0, Status.OK, "ok"),
                                                  CellVerdict("q_why", 1.0, 0.0, Status.MANUAL, "by hand")])
    report.print_table([clean, Result("bob", ID, Status.MISSING, "no notebook")], stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[1].split() == ["alice", ID, "2/2", "0.0", "-"]
    assert lines[2].endswith("- [missing: no notebook]")


def test_the_csv_writes_one_row_per_cell_with_the_status_label(tmp_path: Path) -> None:
    result = Result("alice", ID, Status.OK, cells=[CellVerdict("test_relu", 2.0, 0.0, Status.ERROR, "x", "CheckFailed"),
                                                   CellVerdict("test_tanh", 2.0, 2.0, Status.OK, "ok")])
    report.write_csv(tmp_path / "grades.csv", [result])
    assert (tmp_path / "grades.csv").read_text().splitlines() == [
        "student,assignment,grade_id,score,max_score,status",
        "alice,02_activations,test_relu,0,2,error:CheckFailed", "alice,02_activations,test_tanh,2,2,ok"]
