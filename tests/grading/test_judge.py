"""handgrad.grading.judge: scores decided outside the kernel from the run status and the records."""

from __future__ import annotations

import numpy as np
import pytest

from handgrad.grading import judge
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


def judge_it(status="ok", error="", records=None, reference=None, max_score=3.0):
    return judge.judge_cell("test_f", max_score, status, error,
                            honest_records() if records is None else records,
                            reference_records() if reference is None else reference)


def test_ok_and_matching_records_earn_full_points():
    verdict = judge_it()
    assert verdict.score == 3.0
    assert verdict.max_score == 3.0
    assert verdict.status == "ok"
    assert verdict.grade_id == "test_f"
    assert verdict.message == "all checks passed"
    assert verdict.as_dict() == {"grade_id": "test_f", "max_score": 3.0, "score": 3.0, "status": "ok",
                                 "message": "all checks passed"}


def test_record_order_does_not_matter_and_extra_records_are_harmless():
    records = list(reversed(honest_records())) + [close_record("01.scratch", [1.0], [2.0], passed=False)]
    assert judge_it(records=records).score == 3.0


def test_a_cell_without_reference_checks_is_decided_by_its_status():
    assert judge_it(records=[], reference=[]).score == 3.0
    assert judge_it(status="error:AssertionError", error="boom", records=[], reference=[]).score == 0.0


def test_error_check_failed_gives_zero_with_the_error_text():
    error = "CheckFailed: [01.f.1] value: shape (2, 2): 1 of 4 entries are off"
    verdict = judge_it(status="error:CheckFailed", error=error)
    assert verdict.score == 0.0
    assert verdict.status == "error:CheckFailed"
    assert verdict.message == error


@pytest.mark.parametrize("status, words", [
    ("timeout", "time limit"),
    ("killed", "killed"),
    ("kernel_died", "kernel died"),
    ("oom", "memory"),
    ("output_limit", "output limit"),
    ("budget", "budget"),
    ("not_run", "did not run"),
])
def test_abnormal_status_gives_zero_with_an_explanation(status, words):
    verdict = judge_it(status=status, error="Traceback ... irrelevant")
    assert verdict.score == 0.0
    assert verdict.status == status
    assert words in verdict.message
    assert verdict.message == judge.STATUS_MESSAGES[status]


def test_unknown_status_gives_zero():
    verdict = judge_it(status="something_new")
    assert verdict.score == 0.0
    assert verdict.message == "something_new"


def test_missing_reference_check_is_tampered():
    records = [r for r in honest_records() if r["check"] != "01.f.2"]
    verdict = judge_it(records=records)
    assert verdict.score == 0.0
    assert verdict.status == "tampered"
    assert "01.f.2" in verdict.message


def test_no_records_at_all_is_tampered():
    verdict = judge_it(records=[])
    assert verdict.status == "tampered"
    assert verdict.score == 0.0


def test_passed_record_with_a_wrong_value_is_tampered():
    records = honest_records()
    records[0] = close_record("01.f.1", EXPECTED_A + 1.0, EXPECTED_A + 1.0, passed=True)
    verdict = judge_it(records=records)
    assert verdict.score == 0.0
    assert verdict.status == "tampered"
    assert verdict.message.startswith("[01.f.1]")
    assert "123.456" not in verdict.message and "7.891" not in verdict.message


def test_the_reference_tolerance_is_used_not_the_students():
    records = honest_records()
    records[0] = close_record("01.f.1", EXPECTED_A * 1.01, EXPECTED_A, passed=True, rtol=1.0, atol=1.0)
    verdict = judge_it(records=records)
    assert verdict.status == "tampered"
    assert verdict.score == 0.0


def test_the_reference_tolerance_is_honoured():
    records = honest_records()
    records[1] = close_record("01.f.2", EXPECTED_B * (1 + 5e-5), EXPECTED_B, rtol=1e-4, atol=1e-6)
    assert judge_it(records=records).score == 3.0
    records[1] = close_record("01.f.2", EXPECTED_B * (1 + 5e-3), EXPECTED_B, rtol=1e-4, atol=1e-6, passed=True)
    assert judge_it(records=records).status == "tampered"


def test_passed_record_with_a_wrong_shape_is_tampered():
    records = honest_records()
    records[1] = close_record("01.f.2", EXPECTED_B.reshape(1, 3), EXPECTED_B.reshape(1, 3))
    verdict = judge_it(records=records)
    assert verdict.status == "tampered"
    assert "shape" in verdict.message


@pytest.mark.parametrize("got", [None, "a string", [1.0, 2.0, 3.0], 5])
def test_passed_record_without_an_encoded_value_is_tampered(got):
    records = honest_records()
    records[1] = dict(records[1], got=got)
    verdict = judge_it(records=records)
    assert verdict.status == "tampered"
    assert verdict.score == 0.0


def test_passed_record_with_nan_is_tampered():
    records = honest_records()
    records[1] = close_record("01.f.2", [1.0, np.nan, 3.0], EXPECTED_B, rtol=1e-4, atol=1e-6, passed=True)
    verdict = judge_it(records=records)
    assert verdict.status == "tampered"
    assert "NaN" in verdict.message


def test_failed_record_with_a_wrong_value_is_failed():
    records = honest_records()
    records[0] = close_record("01.f.1", EXPECTED_A + 1.0, EXPECTED_A, passed=False)
    verdict = judge_it(records=records)
    assert verdict.score == 0.0
    assert verdict.status == "failed"
    assert verdict.message.startswith("[01.f.1]")


def test_failed_record_with_a_right_value_is_still_failed():
    records = honest_records()
    records[0] = dict(records[0], passed=False, message="your own message")
    verdict = judge_it(records=records)
    assert verdict.score == 0.0
    assert verdict.status == "failed"
    assert verdict.message == "your own message"


@pytest.mark.parametrize("passed", ["true", 1, "yes", None])
def test_passed_must_be_literally_true(passed):
    records = honest_records()
    records[0] = dict(records[0], passed=passed)
    verdict = judge_it(records=records)
    assert verdict.score == 0.0
    assert verdict.status == "failed"


def test_exact_kind_with_a_wrong_answer_that_claims_to_pass_is_tampered():
    records = honest_records()
    records[2] = exact_record("01.q.1", "A", "A", passed=True)
    verdict = judge_it(records=records)
    assert verdict.score == 0.0
    assert verdict.status == "tampered"
    assert verdict.message.startswith("[01.q.1]")
    assert "'B'" not in verdict.message


@pytest.mark.parametrize("got", ["Liar", True, 1, None, ["B"], {"answer": "B"}])
def test_exact_kind_with_a_non_matching_value_is_tampered(got):
    records = honest_records()
    records[2] = dict(records[2], got=got, passed=True)
    verdict = judge_it(records=records)
    assert verdict.status == "tampered"
    assert verdict.score == 0.0


def test_exact_kind_failed_honestly_is_failed():
    records = honest_records()
    records[2] = exact_record("01.q.1", "A", "B", passed=False)
    verdict = judge_it(records=records)
    assert verdict.status == "failed"
    assert verdict.score == 0.0


def test_exact_kind_int_vs_bool():
    reference = [exact_record("01.q.2", 1, 1)]
    assert judge.judge_cell("q", 1.0, "ok", "", [exact_record("01.q.2", 1, 1)], reference).score == 1.0
    verdict = judge.judge_cell("q", 1.0, "ok", "", [exact_record("01.q.2", True, True)], reference)
    assert verdict.status == "tampered"


def test_reference_without_a_value_fails_the_check():
    reference = [dict(close_record("01.f.1", EXPECTED_A, EXPECTED_A), expected=None)]
    verdict = judge.judge_cell("t", 1.0, "ok", "", honest_records(), reference)
    assert verdict.score == 0.0
    assert "reference recorded no value" in verdict.message


def test_tampering_detected_inside_is_status_tampered() -> None:
    verdict = judge.judge_cell("t", 2.0, "error:TamperingDetected", "TamperingDetected: replaced close", [], [])
    assert (verdict.status, verdict.score) == ("tampered", 0.0)
