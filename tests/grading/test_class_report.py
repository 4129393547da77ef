"""The class report: score distribution, pass rate per cell, and the most common failures first."""

from __future__ import annotations

from pathlib import Path

from handgrad.grading import class_report
from handgrad.grading.results import CellVerdict, Result, Status

ID = "02_activations"
WRONG_SIGN = "[02.relu.forward] ReLU.forward(z): largest error 2.5 at [3, 1] of shape (8, 4).\n  hint: check the sign"
WRONG_SIGN_OTHER_NUMBERS = ("[02.relu.forward] ReLU.forward(z): largest error 0.75 at [0, 2] of shape (5, 3).\n"
                            "  hint: check the sign")


def student(name: str, relu: CellVerdict, tanh_ok: bool) -> Result:
    tanh = CellVerdict("test_tanh", 2.0, 2.0 if tanh_ok else 0.0, Status.OK if tanh_ok else Status.TIMEOUT, "")
    return Result(name, ID, Status.OK, cells=[relu, tanh, CellVerdict("why", 2.0, 0.0, Status.MANUAL, "by hand")])


def class_of_five() -> list[Result]:
    return [student("ann", CellVerdict("test_relu", 2.0, 2.0, Status.OK, "ok"), True),
            student("bob", CellVerdict("test_relu", 2.0, 0.0, Status.FAILED, WRONG_SIGN), True),
            student("cid", CellVerdict("test_relu", 2.0, 0.0, Status.FAILED, WRONG_SIGN_OTHER_NUMBERS), False),
            student("dee", CellVerdict("test_relu", 2.0, 0.0, Status.NOT_ATTEMPTED, "not attempted"), True),
            Result("eve", ID, Status.MISSING, "no notebook",
                   cells=[CellVerdict("test_relu", 2.0, 0.0, Status.MISSING, "no notebook"),
                          CellVerdict("test_tanh", 2.0, 0.0, Status.MISSING, "no notebook")])]


def test_the_same_mistake_with_other_numbers_counts_once() -> None:
    first = class_report.failure_key(CellVerdict("test_relu", 2.0, 0.0, Status.FAILED, WRONG_SIGN))
    second = class_report.failure_key(CellVerdict("test_relu", 2.0, 0.0, Status.FAILED, WRONG_SIGN_OTHER_NUMBERS))
    assert first == second == "[02.relu.forward] check the sign"
    assert class_report.failure_key(CellVerdict("t", 2.0, 0.0, Status.ERROR, "NameError: name 'W2' is not defined",
                                                "NameError")) == "NameError: name 'W#' is not defined"
    assert class_report.failure_key(CellVerdict("t", 2.0, 0.0, Status.TIMEOUT, "")) == "timeout"
    hint_with_numbers = "[03.ce] forward: largest error 0.5.\n  hint: take log softmax as x - logsumexp(x), 1 - p"
    assert class_report.failure_key(CellVerdict("t", 2.0, 0.0, Status.FAILED, hint_with_numbers)) == \
        "[03.ce] take log softmax as x - logsumexp(x), 1 - p"


def test_the_report_counts_passes_and_lists_failures_most_common_first(tmp_path: Path) -> None:
    page = class_report.write(tmp_path, class_of_five())
    text = page.read_text()
    assert page == tmp_path / "class_report.md"
    assert "5 students (1 without a gradable notebook)" in text
    assert ("| test_relu | 2 | 1/5 | 20 % | [02.relu.forward] check the sign (2); "
            "not attempted (1); missing (1) |") in text
    assert "| test_tanh | 2 | 3/5 | 60 % | timeout (1); missing (1) |" in text
    assert "| why |" not in text                                  # written answers are graded by hand
    for figure in (f"{ID}_scores.png", f"{ID}_pass_rates.png"):
        assert f"(class_report/{figure})" in text
        assert (tmp_path / "class_report" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_later_round_removes_the_figures_of_assignments_it_no_longer_has(tmp_path: Path) -> None:
    class_report.write(tmp_path, class_of_five())
    other = [Result("ann", "03_loss", Status.OK, cells=[CellVerdict("test_ce", 3.0, 3.0, Status.OK, "ok")])]
    text = class_report.write(tmp_path, other).read_text()
    assert ID not in text
    assert sorted(p.name for p in (tmp_path / "class_report").iterdir()) == ["03_loss_pass_rates.png",
                                                                              "03_loss_scores.png"]
