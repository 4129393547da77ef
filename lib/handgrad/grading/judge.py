"""Records -> scores and messages, decided in the trusted process.

A graded cell earns its points only if it ran cleanly in the sandbox *and* every check the
reference solution recorded for that cell was recorded by the student's run too, passed
there, and matches the reference's values here, compared again with the same tolerances.
Patched comparison functions, lying ``==`` or a silenced test inside the kernel change
nothing out here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from handgrad import compare, record

STATUS_MESSAGES = {
    "timeout": "the cell ran past its time limit and was interrupted",
    "killed": "the cell ran past its time limit, ignored the interrupt and was killed",
    "kernel_died": "the Python kernel died while running this cell (os._exit, a crash, or the memory limit?)",
    "oom": "the cell ran out of memory (MemoryError)",
    "output_limit": "the cell printed more than the output limit allows",
    "budget": "the notebook used up its time budget before this cell ran",
    "not_run": "the cell did not run",
}


@dataclass
class CellVerdict:
    """The grade of one graded cell."""

    grade_id: str
    max_score: float
    score: float
    status: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """Plain data for reports and result files."""
        return asdict(self)


def _outside(reference: dict[str, Any], student: dict[str, Any]) -> compare.Verdict:
    """Compare a student's value with the oracle value the reference run recorded for the same check.

    The reference ran the instructor's solution in a clean sandbox on the same seeded inputs, so
    its oracle value is trusted; the tolerance is the one the check used inside.
    """
    what = reference.get("what", reference["check"])
    if reference.get("kind") == "exact":
        return compare.compare_exact(what, student.get("got"), reference.get("expected"), hint=reference.get("hint", ""))
    expected = record.decode_array(reference.get("expected"))
    got = record.decode_array(student.get("got")) if isinstance(student.get("got"), dict) else None
    if expected is None:
        return compare.Verdict(False, f"{what}: the reference recorded no value")
    return compare.compare_arrays(what, got, expected, rtol=float(reference.get("rtol", compare.RTOL)),
                                  atol=float(reference.get("atol", compare.ATOL)), hint=reference.get("hint", ""))


def judge_cell(grade_id: str, max_score: float, status: str, error: str, records: list[dict[str, Any]],
               reference: list[dict[str, Any]]) -> CellVerdict:
    """Score one autograded cell from its run status, the student's records and the reference's."""
    if status == "error:TamperingDetected":
        return CellVerdict(grade_id, max_score, 0.0, "tampered", error)
    if status != "ok":
        message = error if status.startswith("error:") else STATUS_MESSAGES.get(status, status)
        return CellVerdict(grade_id, max_score, 0.0, status, message)
    seen = {rec["check"]: rec for rec in records}
    for expected in reference:
        mine = seen.get(expected["check"])
        if mine is None:
            return CellVerdict(grade_id, max_score, 0.0, "tampered",
                               f"check {expected['check']} did not run although the cell finished cleanly")
        verdict = _outside(expected, mine)
        if not verdict.passed:
            status = "tampered" if mine.get("passed") is True else "failed"
            return CellVerdict(grade_id, max_score, 0.0, status, f"[{expected['check']}] {verdict.message}")
        if mine.get("passed") is not True:
            return CellVerdict(grade_id, max_score, 0.0, "failed", str(mine.get("message", "")))
    return CellVerdict(grade_id, max_score, max_score, "ok", "all checks passed")
