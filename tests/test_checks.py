"""handgrad.checks: seeded generators, the check helpers, student-code calls and recording."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from handgrad import checks, record

LIB = str(Path(checks.__file__).resolve().parents[1])


# --- rng ----------------------------------------------------------------------------------


def test_rng_is_deterministic_per_id():
    a = checks.rng("02.sigmoid.forward.1").standard_normal(8)
    b = checks.rng("02.sigmoid.forward.1").standard_normal(8)
    np.testing.assert_array_equal(a, b)


def test_rng_differs_between_ids():
    a = checks.rng("02.sigmoid.forward.1").standard_normal(8)
    b = checks.rng("02.sigmoid.forward.2").standard_normal(8)
    assert not np.array_equal(a, b)


def test_rng_is_independent_of_the_global_rng():
    np.random.seed(0)
    a = checks.rng("03.relu.backward.1").random(5)
    np.random.seed(12345)
    np.random.random(100)
    b = checks.rng("03.relu.backward.1").random(5)
    np.testing.assert_array_equal(a, b)


def test_rng_does_not_touch_the_global_rng():
    np.random.seed(7)
    reference = np.random.random(3)
    np.random.seed(7)
    checks.rng("x").random(1000)
    np.testing.assert_array_equal(np.random.random(3), reference)


def test_rng_returns_a_fresh_generator():
    assert isinstance(checks.rng("x"), np.random.Generator)
    assert checks.rng("x") is not checks.rng("x")


# --- close / same / unchanged -------------------------------------------------------------


def test_check_failed_is_an_assertion_error():
    assert issubclass(checks.CheckFailed, AssertionError)


def test_close_passes_silently():
    assert checks.close("t.close.1", np.ones(3), np.ones(3), what="ones") is None


def test_close_raises_with_the_check_id_and_message():
    expected = np.array([123.456, 1.0])
    with pytest.raises(checks.CheckFailed) as info:
        checks.close("t.close.2", np.array([0.0, 1.0]), expected, what="the thing", hint="a hint")
    message = str(info.value)
    assert message.startswith("[t.close.2] ")
    assert "the thing" in message and "index (0,)" in message and "hint: a hint" in message
    assert "123.456" not in message


def test_close_is_caught_as_assertion_error():
    with pytest.raises(AssertionError, match=r"\[t.close.3\]"):
        checks.close("t.close.3", None, np.ones(2), what="x")


def test_close_uses_the_given_tolerance():
    checks.close("t.tol", 1.001, 1.0, what="x", rtol=1e-2)
    with pytest.raises(checks.CheckFailed):
        checks.close("t.tol", 1.001, 1.0, what="x")


def test_same():
    checks.same("t.same.1", " B ", "b", what="letter")
    checks.same("t.same.2", 3, 3, what="count")
    with pytest.raises(checks.CheckFailed, match=r"\[t.same.3\] letter: not the right answer"):
        checks.same("t.same.3", "a", "b", what="letter")
    with pytest.raises(checks.CheckFailed):
        checks.same("t.same.4", 1, True, what="flag")


def test_unchanged_passes_for_an_untouched_array():
    x = checks.rng("t.unchanged").standard_normal((3, 4))
    original = x.copy()
    checks.unchanged("t.unchanged.1", original, x, what="the input x")


def test_unchanged_detects_in_place_mutation():
    x = checks.rng("t.unchanged").standard_normal((3, 4))
    original = x.copy()

    def student_relu(a):
        a[a < 0] = 0.0
        return a

    student_relu(x)
    with pytest.raises(checks.CheckFailed, match=r"\[t.unchanged.2\] the input x: .*modified .* in place") as info:
        checks.unchanged("t.unchanged.2", original, x, what="the input x")
    assert "hint:" in str(info.value)


def test_unchanged_detects_tiny_and_shape_changes():
    original = np.array([1.0, 2.0, 3.0])
    with pytest.raises(checks.CheckFailed, match="in place"):
        checks.unchanged("t.unchanged.3", original, original + 1e-15, what="x")
    with pytest.raises(checks.CheckFailed, match="in place"):
        checks.unchanged("t.unchanged.4", original, original.reshape(1, 3), what="x")


# --- call ---------------------------------------------------------------------------------


def test_call_returns_the_result_and_passes_arguments():
    assert checks.call("add", lambda a, b=0: a + b, 2, b=3) == 5


def test_call_not_implemented():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(checks.CheckFailed, match="sigmoid: not implemented yet"):
        checks.call("sigmoid", stub, 1.0)


def test_call_other_exception_names_it():
    def broken(x):
        return x @ np.ones((5, 2))

    with pytest.raises(checks.CheckFailed, match=r"linear forward raised ValueError") as info:
        checks.call("linear forward", broken, np.ones((2, 3)))
    assert isinstance(info.value.__cause__, ValueError)


def test_call_lets_check_failed_through():
    def inner():
        raise checks.CheckFailed("[inner] boom")

    with pytest.raises(checks.CheckFailed, match=r"^\[inner\] boom$"):
        checks.call("outer", inner)


def test_call_keeps_warnings_quiet():
    def overflowing():
        warnings.warn("explicit", RuntimeWarning)
        return np.exp(1000) + np.log(np.zeros(1))[0] + np.float64(1.0) / np.float64(0.0)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = checks.call("overflow", overflowing)
    assert not np.isfinite(result)
    assert [w for w in caught if issubclass(w.category, RuntimeWarning)] == []


def test_call_restores_warnings_and_errstate():
    before = np.geterr()
    checks.call("noop", lambda: None)
    assert np.geterr() == before
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(over="warn"):
            np.exp(np.float64(1000.0))
    assert any(issubclass(w.category, RuntimeWarning) for w in caught)


# --- gradients ----------------------------------------------------------------------------


def cube_sum(x):
    return float(np.sum(x ** 3))


def test_gradcheck_passes_for_the_right_gradient():
    x = checks.rng("t.gradcheck").standard_normal(5)
    checks.gradcheck("t.gradcheck.1", cube_sum, x, 3 * x ** 2, what="d cube_sum")


def test_gradcheck_passes_for_a_scalar_input_and_ints_and_large_arrays():
    checks.gradcheck("t.gradcheck.scalar", lambda v: float(v ** 2), np.array(3.0), np.array(6.0), what="d v**2")
    checks.gradcheck("t.gradcheck.ints", lambda v: float(np.sum(v * v)), np.array([1, 2]), np.array([2, 4]),
                     what="d sum v**2")
    x = checks.rng("t.gradcheck").standard_normal((40, 50))
    calls = []
    checks.gradcheck("t.gradcheck.large", lambda v: calls.append(1) or cube_sum(v), x, 3 * x ** 2, what="d cube_sum")
    assert len(calls) == 16   # two evaluations per direction, not two per entry


def test_gradcheck_fails_for_a_wrong_gradient():
    x = checks.rng("t.gradcheck").standard_normal(5)
    with pytest.raises(checks.CheckFailed, match=r"\[t.gradcheck.2\] d cube_sum: analytic . d against central"):
        checks.gradcheck("t.gradcheck.2", cube_sum, x, 2 * x ** 2, what="d cube_sum")


def test_gradcheck_fails_when_one_entry_of_a_large_gradient_is_wrong():
    x = checks.rng("t.gradcheck").standard_normal((20, 30))
    wrong = 3 * x ** 2
    wrong[7, 11] += 1.0
    with pytest.raises(checks.CheckFailed):
        checks.gradcheck("t.gradcheck.one", cube_sum, x, wrong, what="d cube_sum")


def test_gradcheck_leaves_x_alone_when_f_mutates_its_argument():
    x = checks.rng("t.gradcheck").standard_normal(4)
    original = x.copy()

    def mutating(v):
        value = float(np.sum(v ** 2))
        v[...] = 0.0
        return value

    checks.gradcheck("t.gradcheck.mutating", mutating, x, 2 * original, what="d sum v**2")
    np.testing.assert_array_equal(x, original)


def test_gradcheck_fails_for_a_transposed_gradient():
    x = checks.rng("t.gradcheck").standard_normal((2, 3))
    with pytest.raises(checks.CheckFailed, match="wrong shape"):
        checks.gradcheck("t.gradcheck.3", cube_sum, x, (3 * x ** 2).T, what="dx")


# --- recording (the path is read at import: subprocesses) ---------------------------------


def run_python(code: str, **env_vars: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDGRAD_")}
    env["PYTHONPATH"] = LIB + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_vars)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


RECORDING_CODE = """
    import numpy as np
    from handgrad import checks
    checks.close("r.close.pass", np.array([[1.0, 2.0]]), np.array([[1.0, 2.0]]), what="pass", rtol=1e-3, atol=1e-4)
    try:
        checks.close("r.close.fail", np.array([1.0, np.nan]), np.array([1.0, 2.5]), what="fail", hint="h")
    except checks.CheckFailed:
        pass
    else:
        raise SystemExit("no CheckFailed")
    checks.same("r.same", "B", "b", what="letter")
    try:
        checks.same("r.same.object", object(), "b", what="letter")
    except checks.CheckFailed:
        pass
    x = np.arange(3.0)
    original = x.copy()
    x[0] = 5.0
    try:
        checks.unchanged("r.unchanged", original, x, what="x")
    except checks.CheckFailed:
        pass
"""


def test_checks_record_what_they_saw(tmp_path):
    path = tmp_path / "records.jsonl"
    run_python(RECORDING_CODE, HANDGRAD_RECORD=str(path))
    records = list(record.read(path))
    assert [r["check"] for r in records] == ["r.close.pass", "r.close.fail", "r.same", "r.same.object",
                                             "r.unchanged"]
    by_id = {r["check"]: r for r in records}
    assert [r["passed"] for r in records] == [True, False, True, False, False]
    assert [r["kind"] for r in records] == ["close", "close", "exact", "exact", "close"]

    passing = by_id["r.close.pass"]
    np.testing.assert_array_equal(record.decode_array(passing["got"]), [[1.0, 2.0]])
    np.testing.assert_array_equal(record.decode_array(passing["expected"]), [[1.0, 2.0]])
    assert passing["rtol"] == 1e-3 and passing["atol"] == 1e-4 and passing["what"] == "pass"

    failing = by_id["r.close.fail"]
    np.testing.assert_array_equal(record.decode_array(failing["got"]), [1.0, np.nan])
    np.testing.assert_array_equal(record.decode_array(failing["expected"]), [1.0, 2.5])
    assert "NaN" in failing["message"] and failing["hint"] == "h"

    assert by_id["r.same"]["got"] == "B" and by_id["r.same"]["expected"] == "b"
    assert by_id["r.same.object"]["got"] == "object"  # described, never pickled

    unchanged = by_id["r.unchanged"]
    assert unchanged["rtol"] == 0.0 and unchanged["atol"] == 0.0
    assert "in place" in unchanged["message"]
    np.testing.assert_array_equal(record.decode_array(unchanged["got"]), [5.0, 1.0, 2.0])
    np.testing.assert_array_equal(record.decode_array(unchanged["expected"]), [0.0, 1.0, 2.0])
    # Every line is plain JSON.
    for line in path.read_text().splitlines():
        assert isinstance(json.loads(line), dict)


def test_no_record_without_the_variable_and_path_is_taken_at_import(tmp_path):
    path = tmp_path / "records.jsonl"
    run_python(f"""
        import os
        import numpy as np
        from handgrad import checks
        os.environ["HANDGRAD_RECORD"] = {str(path)!r}
        checks.close("late", np.ones(2), np.ones(2), what="x")
    """)
    assert not path.exists()


SALT_CODE = """
    import json
    from handgrad import checks
    print(json.dumps(checks.rng("02.sigmoid.forward.1").random(4).tolist()))
"""


def test_seed_salt_changes_the_draws(tmp_path):
    def draws(**env):
        return json.loads(run_python(SALT_CODE, **env).stdout)

    plain = draws()
    salted = draws(HANDGRAD_SEED_SALT="round-7")
    assert plain != salted
    assert draws(HANDGRAD_SEED_SALT="round-7") == salted
    assert draws(HANDGRAD_SEED_SALT="round-8") != salted
    if not os.environ.get("HANDGRAD_SEED_SALT"):
        assert plain == checks.rng("02.sigmoid.forward.1").random(4).tolist()


def test_call_refuses_a_result_when_student_code_swaps_a_helper() -> None:
    original = checks.close

    def cheat(x):
        checks.close = lambda check_id, got, expected, *a, **k: original(check_id, expected, expected, *a, **k)
        return x * 2

    try:
        with pytest.raises(checks.TamperingDetected, match="handgrad.checks.close"):
            checks.call("f(x)", cheat, np.ones(3))
    finally:
        checks.close = original


def test_call_accepts_student_code_that_leaves_helpers_alone() -> None:
    assert np.array_equal(checks.call("f(x)", lambda x: x * 2, np.ones(3)), 2 * np.ones(3))


CONSISTENT_CODE = """
    import numpy as np
    from handgrad import checks
    checks.consistent("r.consistent.pass", np.array([3.0, 4.0 + 1e-12]), np.array([3.0, 4.0]), what="own")
    try:
        checks.consistent("r.consistent.fail", np.array([3.0, 5.0]), np.array([3.0, 4.0]), what="own")
    except checks.CheckFailed:
        pass
    try:
        checks.consistent("r.consistent.shape", np.array([3.0]), np.array([3.0, 4.0]), what="own")
    except checks.CheckFailed:
        pass
"""


def test_consistent_records_the_deviation_not_the_students_own_value(tmp_path):
    """A check against the student's own result is judged outside by its deviation, which any run shares."""
    from handgrad import compare

    path = tmp_path / "records.jsonl"
    run_python(CONSISTENT_CODE, HANDGRAD_RECORD=str(path))
    by_id = {r["check"]: r for r in record.read(path)}
    passing, failing, shape = by_id["r.consistent.pass"], by_id["r.consistent.fail"], by_id["r.consistent.shape"]
    assert passing["passed"] and not failing["passed"] and not shape["passed"]
    np.testing.assert_array_equal(record.decode_array(passing["expected"]), [0.0, 0.0])
    np.testing.assert_allclose(record.decode_array(failing["got"]), [0.0, 1.0])
    # The judge's comparison (against the reference's zeros) reaches the same verdicts.
    for entry in (passing, failing, shape):
        outside = compare.compare_arrays("own", record.decode_array(entry["got"]), np.zeros(2),
                                         rtol=entry["rtol"], atol=entry["atol"])
        assert outside.passed == entry["passed"]
