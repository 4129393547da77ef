"""handgrad.compare: tolerances, shapes, non-finite values and student-facing messages."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from handgrad import compare

# Distinctive expected values: none of them may ever appear in a message.
SECRET = np.array([[123.456, 7.891], [-0.5432, 42.4242]])
SECRET_STRINGS = ["123.456", "7.891", "0.5432", "42.4242", "[[", "array("]


def assert_no_secret(message: str) -> None:
    for text in SECRET_STRINGS:
        assert text not in message, f"{text!r} leaked into {message!r}"


# --- compare_arrays: tolerance ------------------------------------------------------------


def test_exact_match_passes():
    verdict = compare.compare_arrays("logits", SECRET.copy(), SECRET)
    assert verdict.passed
    assert "logits" in verdict.message


def test_within_tolerance_passes():
    got = SECRET * (1 + 1e-8) + 1e-10
    assert compare.compare_arrays("x", got, SECRET).passed


def test_outside_tolerance_fails():
    got = SECRET * (1 + 1e-4)
    assert not compare.compare_arrays("x", got, SECRET).passed


def test_custom_tolerance_is_used():
    got = SECRET + 1e-3
    assert not compare.compare_arrays("x", got, SECRET).passed
    assert compare.compare_arrays("x", got, SECRET, rtol=0.0, atol=1e-2).passed
    assert compare.compare_arrays("x", got, SECRET, rtol=1e-1, atol=0.0).passed


def test_zero_tolerance_requires_exact_equality():
    assert compare.compare_arrays("x", SECRET.copy(), SECRET, rtol=0.0, atol=0.0).passed
    got = SECRET.copy()
    got[0, 0] = np.nextafter(got[0, 0], np.inf)
    assert not compare.compare_arrays("x", got, SECRET, rtol=0.0, atol=0.0).passed


def test_lists_and_scalars_are_accepted():
    assert compare.compare_arrays("x", SECRET.tolist(), SECRET).passed
    assert compare.compare_arrays("x", 2.5, np.float64(2.5)).passed
    assert compare.compare_arrays("x", np.float32(0.5), 0.5).passed


# --- compare_arrays: the failure message --------------------------------------------------


def test_failure_message_names_what_count_error_index_and_hint():
    got = SECRET.copy()
    got[1, 0] += 0.5
    got[0, 1] += 0.1
    verdict = compare.compare_arrays("the softmax output", got, SECRET, hint="subtract the row max")
    assert not verdict.passed
    message = verdict.message
    assert "the softmax output" in message
    assert "(2, 2)" in message
    assert "2 of 4 entries" in message
    assert "0.5" in message  # the largest error
    assert "index (1, 0)" in message
    assert "hint: subtract the row max" in message
    assert_no_secret(message)


def test_failure_message_of_a_scalar_says_the_scalar():
    verdict = compare.compare_arrays("loss", 1.0, 123.456)
    assert not verdict.passed
    assert "the scalar" in verdict.message
    assert_no_secret(verdict.message)


def test_no_hint_no_hint_line():
    verdict = compare.compare_arrays("x", SECRET + 1, SECRET)
    assert "hint" not in verdict.message


@pytest.mark.parametrize("got_shape, expected_shape", [((3,), (1, 3)), ((1, 3), (3,)), ((3, 1), (1, 3)),
                                                        ((), (1,)), ((2, 2), (4,))])
def test_shape_mismatch_fails_without_broadcasting(got_shape, expected_shape):
    got = np.ones(got_shape)
    expected = np.ones(expected_shape)
    verdict = compare.compare_arrays("W grad", got, expected, hint="check the transpose")
    assert not verdict.passed
    assert "W grad" in verdict.message
    assert "shape" in verdict.message
    assert str(got_shape) in verdict.message
    assert str(expected_shape) in verdict.message
    assert "hint: check the transpose" in verdict.message


def test_shape_mismatch_does_not_leak_values():
    verdict = compare.compare_arrays("x", SECRET.ravel(), SECRET)
    assert not verdict.passed
    assert_no_secret(verdict.message)


# --- compare_arrays: what the student returned is not an array ----------------------------


def test_none_says_returned_none():
    verdict = compare.compare_arrays("forward", None, SECRET, hint="return out")
    assert not verdict.passed
    assert "returned None" in verdict.message
    assert "forward" in verdict.message
    assert "(2, 2)" in verdict.message
    assert "hint: return out" in verdict.message
    assert_no_secret(verdict.message)


class Opaque:
    pass


@pytest.mark.parametrize("got, type_name", [("abc", "str"), ("1.5", "str"), ({"a": 1}, "dict"),
                                            (Opaque(), "Opaque"), (b"12", "bytes")])
def test_non_numeric_gives_a_clear_message(got, type_name):
    verdict = compare.compare_arrays("output", got, SECRET)
    assert not verdict.passed
    assert "numeric" in verdict.message
    assert type_name in verdict.message
    assert "output" in verdict.message
    assert_no_secret(verdict.message)


def test_non_numeric_expected_is_a_test_bug():
    with pytest.raises(TypeError):
        compare.compare_arrays("x", 1.0, "not a number")


# --- compare_arrays: NaN and inf ----------------------------------------------------------


def test_nan_where_finite_expected_is_reported_with_position():
    got = SECRET.copy()
    got[1, 1] = np.nan
    verdict = compare.compare_arrays("probs", got, SECRET)
    assert not verdict.passed
    assert "NaN" in verdict.message
    assert "index (1, 1)" in verdict.message
    assert "1 entries" in verdict.message
    assert_no_secret(verdict.message)


def test_inf_where_finite_expected_is_reported_with_position():
    got = SECRET.copy()
    got[0, 1] = -np.inf
    got[1, 0] = np.inf
    verdict = compare.compare_arrays("probs", got, SECRET)
    assert not verdict.passed
    assert "(inf)" in verdict.message
    assert "index (0, 1)" in verdict.message  # the first one
    assert "2 entries" in verdict.message


def test_nan_scalar_says_the_scalar():
    verdict = compare.compare_arrays("loss", np.nan, 2.0)
    assert not verdict.passed
    assert "NaN" in verdict.message and "the scalar" in verdict.message


def test_inf_expected_must_be_matched_exactly():
    expected = np.array([np.inf, 1.0, -np.inf])
    assert compare.compare_arrays("x", expected.copy(), expected).passed
    for wrong in ([1e308, 1.0, -np.inf], [-np.inf, 1.0, -np.inf], [np.inf, 1.0, np.inf],
                  [np.nan, 1.0, -np.inf]):
        verdict = compare.compare_arrays("x", np.array(wrong), expected)
        assert not verdict.passed, wrong
        assert "index (" in verdict.message


def test_inf_expected_does_not_hide_other_errors():
    expected = np.array([np.inf, 1.0])
    verdict = compare.compare_arrays("x", np.array([np.inf, 2.0]), expected)
    assert not verdict.passed
    assert "index (1,)" in verdict.message


def test_nan_expected_is_matched_by_nan():
    expected = np.array([np.nan, 1.0])
    assert compare.compare_arrays("x", expected.copy(), expected).passed


def test_complex_result_with_wrong_imaginary_part_fails():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verdict = compare.compare_arrays("x", np.array([1.0 + 5.0j]), np.array([1.0]))
    assert not verdict.passed


# --- compare_arrays: empty arrays ---------------------------------------------------------


def test_empty_arrays_of_the_same_shape_pass():
    verdict = compare.compare_arrays("x", np.zeros((0, 3)), np.zeros((0, 3)))
    assert verdict.passed
    assert "empty" in verdict.message
    assert compare.compare_arrays("x", [], np.zeros(0)).passed


def test_empty_arrays_of_different_shapes_fail():
    verdict = compare.compare_arrays("x", np.zeros((0, 3)), np.zeros((3, 0)))
    assert not verdict.passed
    assert "(0, 3)" in verdict.message and "(3, 0)" in verdict.message


# --- compare_exact ------------------------------------------------------------------------


def test_letters_ignore_case_and_whitespace():
    assert compare.compare_exact("answer", " b\n", "B").passed
    assert compare.compare_exact("answer", "B", "b").passed


def test_wrong_letter_fails_without_revealing_it():
    verdict = compare.compare_exact("question 3", "a", "Zebra", hint="reread the definition")
    assert not verdict.passed
    assert "question 3" in verdict.message
    assert "zebra" not in verdict.message.lower()
    assert "hint: reread the definition" in verdict.message


def test_ints():
    assert compare.compare_exact("n", 3, 3).passed
    assert not compare.compare_exact("n", 4, 3).passed
    assert "3" not in compare.compare_exact("count", 4, 3).message


def test_bool_and_int_are_different():
    assert compare.compare_exact("flag", True, True).passed
    assert not compare.compare_exact("flag", 1, True).passed
    assert not compare.compare_exact("flag", True, 1).passed
    assert not compare.compare_exact("flag", 0, False).passed


def test_none_is_a_plain_value():
    assert compare.compare_exact("x", None, None).passed
    assert not compare.compare_exact("x", None, "a").passed


class Liar:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


class LyingMeta(type):
    def __eq__(cls, other):
        return True

    def __ne__(cls, other):
        return False

    __hash__ = type.__hash__


class LiarByMeta(metaclass=LyingMeta):
    pass


class LyingInt(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class LyingStr(str):
    def __eq__(self, other):
        return True

    def strip(self, *args):
        return self

    def lower(self):
        return self

    __hash__ = str.__hash__


@pytest.mark.parametrize("liar", [Liar(), LiarByMeta, LiarByMeta(), LyingInt(0), LyingStr("x")],
                         ids=["eq", "metaclass-eq", "instance-of-meta", "int-subclass", "str-subclass"])
@pytest.mark.parametrize("expected", ["b", 3, True, 2.5])
def test_lying_equality_fails(liar, expected):
    verdict = compare.compare_exact("answer", liar, expected)
    assert not verdict.passed
    assert "plain value" in verdict.message


def test_is_plain():
    for value in ("s", 1, 1.5, True, None):
        assert compare.is_plain(value), value
    for value in (Liar(), LiarByMeta, LyingInt(1), LyingStr("s"), [1], (1,), np.array(1.0), {"a": 1}, b"x"):
        assert not compare.is_plain(value), value


def test_describe_never_shows_contents():
    assert compare.describe(None) == "None"
    assert "(2, 2)" in compare.describe(SECRET)
    assert "float64" in compare.describe(SECRET)
    assert "length 3" in compare.describe([123.456, 1, 2])
    assert "123.456" not in compare.describe([123.456, 1, 2])
    assert compare.describe(Opaque()) == "Opaque"


# --- as_float_array -----------------------------------------------------------------------


class Sub(np.ndarray):
    pass


def test_as_float_array_of_a_subclass_is_a_plain_ndarray():
    sub = np.arange(6.0).reshape(2, 3).view(Sub)
    result = compare.as_float_array(sub)
    assert type(result) is np.ndarray
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, np.arange(6.0).reshape(2, 3))


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_as_float_array_of_a_matrix_is_a_plain_ndarray():
    result = compare.as_float_array(np.matrix([[1, 2]]))
    assert type(result) is np.ndarray
    assert result.shape == (1, 2)


def test_as_float_array_copies():
    source = np.arange(3.0)
    result = compare.as_float_array(source)
    result[0] = 99.0
    assert source[0] == 0.0


def test_as_float_array_converts_ints_and_rejects_non_numbers():
    assert compare.as_float_array([1, 2]).dtype == np.float64
    for value in (None, "1.5", b"1", {"a": 1}, Opaque(), ["a", "b"]):
        assert compare.as_float_array(value) is None, value
