"""Records -> scores and messages, decided in the trusted process.

A graded cell earns its points only if it ran cleanly in the sandbox *and* every check the
reference solution recorded for that cell was recorded by the student's run too, passed
there, and matches the reference's values here, compared again with the same tolerances.
Patched comparison functions, lying ``==`` or a silenced test inside the kernel change
nothing out here. An integrity record (:data:`handgrad.record.INTEGRITY_KINDS`) written by
the kernel side gives the cell its status (``tampered``, ``delegated``) whatever else happened.
"""

from __future__ import annotations

from typing import Any

from handgrad import compare, record
from handgrad.grading.results import MEANING, CellRun, CellVerdict, Status

INTEGRITY_STATUS = {record.TAMPERED: Status.TAMPERED, record.DELEGATED: Status.DELEGATED}


def _outside(reference: dict[str, Any], student: dict[str, Any]) -> compare.Verdict:
    """Compare a student's value with the oracle value the reference run recorded for the same check.

    The reference ran the instructor's solution in a clean sandbox on the same seeded inputs, so
    its oracle value is trusted; the tolerance is the one the check used inside.
    """
    what = reference.get("what", reference["check"])
    if reference.get("kind") == "exact":
        return compare.compare_exact(what, student.get("got"), reference.get("expected"),
                                     hint=reference.get("hint", ""))
    expected = record.decode_array(reference.get("expected"))
    got = record.decode_array(student.get("got")) if isinstance(student.get("got"), dict) else None
    if expected is None:
        return compare.Verdict(False, f"{what}: the reference recorded no value")
    return compare.compare_arrays(what, got, expected, rtol=float(reference.get("rtol", compare.RTOL)),
                                  atol=float(reference.get("atol", compare.ATOL)), hint=reference.get("hint", ""))


def judge_cell(grade_id: str, max_score: float, run: CellRun, reference: list[dict[str, Any]]) -> CellVerdict:
    """Score one autograded cell from its run (status and records) and the reference's records."""
    def zero(status: Status, message: str, exception: str = "") -> CellVerdict:
        return CellVerdict(grade_id, max_score, 0.0, status, message, exception)

    for event in run.records:
        if event.get("kind") in INTEGRITY_STATUS:
            return zero(INTEGRITY_STATUS[event["kind"]], str(event.get("message", "")))
    if run.status is Status.ERROR:
        return zero(Status.ERROR, run.error, run.exception)
    if run.status is not Status.OK:
        return zero(run.status, MEANING[run.status])
    seen = {rec["check"]: rec for rec in run.records}
    for expected in reference:
        mine = seen.get(expected["check"])
        if mine is None:
            return zero(Status.TAMPERED, f"check {expected['check']} did not run although the cell finished cleanly")
        verdict = _outside(expected, mine)
        if not verdict.passed:
            status = Status.TAMPERED if mine.get("passed") is True else Status.FAILED
            return zero(status, f"[{expected['check']}] {verdict.message}")
        if mine.get("passed") is not True:
            return zero(Status.FAILED, str(mine.get("message", "")))
    return CellVerdict(grade_id, max_score, max_score, Status.OK, "all checks passed")
