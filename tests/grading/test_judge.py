"""handgrad.grading.judge: scores decided outside the kernel from the run status and the records."""

from __future__ import annotations

import numpy as np
import pytest

from handgrad import record
from handgrad.grading import judge
from handgrad.grading.results import MEANING, CellRun, Status
from handgrad.record import encode_array

EXPECTED_A = np.array([[123.456, -7.891], [0.25, 3.0]])
EXPECTED_B = np.array([1.0, 2.0, 3.0])


def close_record(check, got, expected, passed=True, rtol=1e-6, atol=1e-8, what=None):
    return {"check": check, "kind": "close", "what": what or f"value of {check}", "passed": passed,
            "message": "ok" if passed else f"{check}: off", "rtol": rtol, "atol": atol, "hint": "",
            "got": encode_array(got), "expected": encode_array(expected)}


def exact_record(check, got, expected, passed=True):
    return {"check": check, "kind": "exact", "what": "the answer", "passed": passed,
            "message": "ok" if passed else "the answer: not the right answer.", "hint": "",
            "got": got, "expected": expected}


def reference_records():
    return [close_record("01.f.1", EXPECTED_A, EXPECTED_A),
            close_record("01.f.2", EXPECTED_B, EXPECTED_B, rtol=1e-4, atol=1e-6),
            exact_record("01.q.1", "B", "B")]


def honest_records():
    return [close_record("01.f.1", EXPECTED_A * (1 + 1e-9), EXPECTED_A),
            close_record("01.f.2", EXPECTED_B + 1e-7, EXPECTED_B, rtol=1e-4, atol=1e-6),
            exact_record("01.q.1", " b ", "B")]


def run_of(status=Status.OK, error="", records=None, exception=""):
    return CellRun(3, status, exception, error, honest_records() if records is None else records)


def judge_it(status=Status.OK, error="", records=None, reference=None, max_score=3.0, exception=""):
    return judge.judge_cell("test_f", max_score, run_of(status, error, records, exception),
                            reference_records() if reference is None else reference)


def test_ok_and_matching_records_earn_full_points():
    verdict = judge_it()
    assert verdict.score == 3.0
    assert verdict.max_score == 3.0
    assert verdict.status is Status.OK
    assert verdict.label == "ok"
    assert verdict.grade_id == "test_f"
    assert verdict.message == "all checks passed"


def test_record_order_does_not_matter_and_extra_records_are_harmless():
    records = list(reversed(honest_records())) + [close_record("01.scratch", [1.0], [2.0], passed=False)]
    assert judge_it(records=records).score == 3.0


def test_a_cell_without_reference_checks_is_decided_by_its_status():
    assert judge_it(records=[], reference=[]).score == 3.0
    verdict = judge_it(status=Status.ERROR, exception="AssertionError", error="boom", records=[], reference=[])
    assert (verdict.score, verdict.label, verdict.message) == (0.0, "error:AssertionError", "boom")


def test_error_check_failed_gives_zero_with_the_error_text():
    error = "CheckFailed: [01.f.1] value: shape (2, 2): 1 of 4 entries are off"
    verdict = judge_it(status=Status.ERROR, exception="CheckFailed", error=error)
    assert verdict.score == 0.0
    assert (verdict.status, verdict.exception, verdict.label) == (Status.ERROR, "CheckFailed", "error:CheckFailed")
    assert verdict.message == error


@pytest.mark.parametrize("status, words", [
    (Status.TIMEOUT, "time limit"),
    (Status.KILLED, "killed"),
    (Status.KERNEL_DIED, "kernel died"),
    (Status.OOM, "memory"),
    (Status.OUTPUT_LIMIT, "output limit"),
    (Status.BUDGET, "budget"),
    (Status.NOT_RUN, "did not run"),
])
def test_abnormal_status_gives_zero_with_an_explanation(status, words):
    verdict = judge_it(status=status, error="Traceback ... irrelevant")
    assert verdict.score == 0.0
    assert verdict.status is status
    assert verdict.label == status.value
    assert words in verdict.message
    assert verdict.message == MEANING[status]


def test_every_status_is_documented():
    assert set(MEANING) == set(Status)
    assert all(len(text) > 15 for text in MEANING.values())


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.OK])
def test_a_run_that_did_not_end_ok_never_scores(status):
    assert judge_it(status=status, exception="X").score == 0.0


def test_missing_reference_check_is_tampered():
    records = [r for r in honest_records() if r["check"] != "01.f.2"]
    verdict = judge_it(records=records)
    assert verdict.score == 0.0
    assert verdict.status is Status.TAMPERED
    assert "01.f.2" in verdict.message


def test_no_records_at_all_is_tampered():
    verdict = judge_it(records=[])
    assert verdict.status is Status.TAMPERED
    assert verdict.score == 0.0


def test_passed_record_with_a_wrong_value_is_tampered():
    records = honest_records()
    records[0] = close_record("01.f.1", EXPECTED_A + 1.0, EXPECTED_A + 1.0, passed=True)
    verdict = judge_it(records=records)
    assert verdict.score == 0.0
    assert verdict.status is Status.TAMPERED
    assert verdict.message.startswith("[01.f.1]")
    assert "123.456" not in verdict.message and "7.891" not in verdict.message


def test_the_reference_tolerance_is_used_not_the_students():
    records = honest_records()
    records[0] = close_record("01.f.1", EXPECTED_A * 1.01, EXPECTED_A, passed=True, rtol=1.0, atol=1.0)
    verdict = judge_it(records=records)
    assert verdict.status is Status.TAMPERED
    assert verdict.score == 0.0


def test_the_reference_tolerance_is_honoured():
    records = honest_records()
    records[1] = close_record("01.f.2", EXPECTED_B * (1 + 5e-5), EXPECTED_B, rtol=1e-4, atol=1e-6)
    assert judge_it(records=records).score == 3.0
    records[1] = close_record("01.f.2", EXPECTED_B * (1 + 5e-3), EXPECTED_B, rtol=1e-4, atol=1e-6, passed=True)
    assert judge_it(records=records).status is Status.TAMPERED


def test_passed_record_with_a_wrong_shape_is_tampered():
    records = honest_records()
    records[1] = close_record("01.f.2", EXPECTED_B.reshape(1, 3), EXPECTED_B.reshape(1, 3))
    verdict = judge_it(records=records)
    assert verdict.status is Status.TAMPERED
    assert "shape" in verdict.message


@pytest.mark.parametrize("got", [None, "a string", [1.0, 2.0, 3.0], 5])
def test_passed_record_without_an_encoded_value_is_tampered(got):
    records = honest_records()
    records[1] = dict(records[1], got=got)
    verdict = judge_it(records=records)
    assert verdict.status is Status.TAMPERED
    assert verdict.score == 0.0


def test_passed_record_with_nan_is_tampered():
    records = honest_records()
    records[1] = close_record("01.f.2", [1.0, np.nan, 3.0], EXPECTED_B, rtol=1e-4, atol=1e-6, passed=True)
    verdict = judge_it(records=records)
    assert verdict.status is Status.TAMPERED
    assert "NaN" in verdict.message


def test_failed_record_with_a_wrong_value_is_failed():
    records = honest_records()
    records[0] = close_record("01.f.1", EXPECTED_A + 1.0, EXPECTED_A, passed=False)
    verdict = judge_it(records=records)
    assert verdict.score == 0.0
    assert verdict.status is Status.FAILED
    assert verdict.message.startswith("[01.f.1]")


def test_failed_record_with_a_right_value_is_still_failed():
    records = honest_records()
    records[0] = dict(records[0], passed=False, message="your own message")
    verdict = judge_it(records=records)
    assert verdict.score == 0.0
    assert verdict.status is Status.FAILED
    assert verdict.message == "your own message"


@pytest.mark.parametrize("passed", ["true", 1, "yes", None])
def test_passed_must_be_literally_true(passed):
    records = honest_records()
    records[0] = dict(records[0], passed=passed)
    verdict = judge_it(records=records)
    assert verdict.score == 0.0
    assert verdict.status is Status.FAILED


def test_exact_kind_with_a_wrong_answer_that_claims_to_pass_is_tampered():
    records = honest_records()
    records[2] = exact_record("01.q.1", "A", "A", passed=True)
    verdict = judge_it(records=records)
    assert verdict.score == 0.0
    assert verdict.status is Status.TAMPERED
    assert verdict.message.startswith("[01.q.1]")
    assert "'B'" not in verdict.message


@pytest.mark.parametrize("got", ["Liar", True, 1, None, ["B"], {"answer": "B"}])
def test_exact_kind_with_a_non_matching_value_is_tampered(got):
    records = honest_records()
    records[2] = dict(records[2], got=got, passed=True)
    verdict = judge_it(records=records)
    assert verdict.status is Status.TAMPERED
    assert verdict.score == 0.0


def test_exact_kind_failed_honestly_is_failed():
    records = honest_records()
    records[2] = exact_record("01.q.1", "A", "B", passed=False)
    verdict = judge_it(records=records)
    assert verdict.status is Status.FAILED
    assert verdict.score == 0.0


def test_exact_kind_int_vs_bool():
    reference = [exact_record("01.q.2", 1, 1)]
    assert judge.judge_cell("q", 1.0, run_of(records=[exact_record("01.q.2", 1, 1)]), reference).score == 1.0
    verdict = judge.judge_cell("q", 1.0, run_of(records=[exact_record("01.q.2", True, True)]), reference)
    assert verdict.status is Status.TAMPERED


def test_reference_without_a_value_fails_the_check():
    reference = [dict(close_record("01.f.1", EXPECTED_A, EXPECTED_A), expected=None)]
    verdict = judge.judge_cell("t", 1.0, run_of(), reference)
    assert verdict.score == 0.0
    assert "reference recorded no value" in verdict.message


@pytest.mark.parametrize("kind, status", [(record.TAMPERED, Status.TAMPERED), (record.DELEGATED, Status.DELEGATED)])
def test_an_integrity_record_decides_the_status(kind, status) -> None:
    event = record.integrity(kind, "ReLU.forward", "ReLU.forward used torch.relu")
    # Whether the cell then raised or even finished cleanly with matching values, the record decides.
    for run in (run_of(Status.ERROR, "CheckFailed: ...", [event], "CheckFailed"),
                run_of(records=honest_records() + [event])):
        verdict = judge.judge_cell("t", 2.0, run, reference_records())
        assert (verdict.status, verdict.score, verdict.message) == (status, 0.0, "ReLU.forward used torch.relu")


def test_the_exception_name_alone_decides_nothing() -> None:
    verdict = judge.judge_cell("t", 2.0, run_of(Status.ERROR, "TamperingDetected: x", [], "TamperingDetected"), [])
    assert (verdict.status, verdict.label) == (Status.ERROR, "error:TamperingDetected")
