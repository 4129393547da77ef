"""01_derivations: the reference gets full marks, the release stubs get none, every catalogued bug costs
exactly the points of what it breaks, and other correct solutions keep full marks."""

from __future__ import annotations

import re

import pytest

from tests.notebooks.harness import graded_points, lost_points, nbgrader_meta, run_graded, source_notebook

ASSIGNMENT = "01_derivations"
MC_ANSWERS = {"mc1": "c", "mc2": "b", "mc3": "a", "mc4": "d"}


def solution_cells() -> dict[str, str]:
    """grade_id -> source of every code solution cell of the source notebook."""
    return {nbgrader_meta(c)["grade_id"]: c.source for c in source_notebook(ASSIGNMENT).cells
            if c.cell_type == "code" and nbgrader_meta(c).get("solution")}


def release_stub(grade_id: str, source: str) -> str:
    """What a student starts from: solution blocks become `raise NotImplementedError()` (mc answers: None)."""
    if grade_id in MC_ANSWERS:
        return f"{grade_id} = None"
    return re.sub(r"^( *)### BEGIN SOLUTION\n.*?^ *### END SOLUTION$", r"\1raise NotImplementedError()",
                  source, flags=re.S | re.M)


def test_reference_gets_full_marks():
    outcomes = run_graded(ASSIGNMENT)
    assert outcomes == {grade_id: "ok" for grade_id in graded_points(ASSIGNMENT)}


def test_release_stubs_lose_every_graded_cell():
    stubs = {grade_id: release_stub(grade_id, source) for grade_id, source in solution_cells().items()}
    assert all("def " not in source or "raise NotImplementedError()" in source for source in stubs.values())
    assert lost_points(ASSIGNMENT, stubs) == graded_points(ASSIGNMENT)


def test_points_are_integers_and_ids_as_documented():
    points = graded_points(ASSIGNMENT)
    assert all(p == int(p) for p in points.values())
    assert sum(points.values()) == 23
    assert set(solution_cells()) == {"softmax_jacobian", "softmax_ce_grad", "linear_backward", "leaky_relu_grad",
                                     "batchnorm_backward_dx", "div_backward", "expand_backward",
                                     "row_normalize_backward", *MC_ANSWERS}


def test_written_answers_keep_their_rubric_inside_the_solution_block():
    written = [c for c in source_notebook(ASSIGNMENT).cells
               if c.cell_type == "markdown" and nbgrader_meta(c).get("grade")]
    assert [nbgrader_meta(c)["grade_id"] for c in written] == ["written_batch_size", "written_bn_bias",
                                                              "written_conv_bias"]
    for cell in written:
        assert nbgrader_meta(cell)["points"] == 2 and nbgrader_meta(cell)["solution"]
        body = cell.source.strip()
        assert body.startswith("### BEGIN SOLUTION") and body.endswith("### END SOLUTION") and "Rubric" in body


def test_source_notebook_has_no_outputs():
    for cell in source_notebook(ASSIGNMENT).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


# --------------------------------------------------------------------------- the bug catalogue

def fn(name: str, args: str, body: str) -> str:
    """A replacement solution cell: one function with the given body."""
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return f"def {name}({args}):\n{lines}\n"


def jacobian(body: str) -> str:
    return fn("softmax_jacobian", "z", body)


def ce_grad(body: str) -> str:
    return fn("softmax_ce_grad", "z, t", body)


def linear(dx: str = "dout @ W.T", dW: str = "x.T @ dout", db: str = "dout.sum(axis=0, keepdims=True)") -> str:
    return fn("linear_backward", "x, W, b, dout", f"return {dx}, {dW}, {db}")


def leaky(body: str) -> str:
    return fn("leaky_relu_grad", "z, alpha", body)


def batchnorm(var: str = "x.var(axis=0, keepdims=True)", dx_hat: str = "dy * gamma", axis: int = 0) -> str:
    return fn("batchnorm_backward_dx", "dy, x, gamma, eps", f"""
m = x.shape[{axis}]
sigma_hat = np.sqrt({var} + eps)
x_hat = (x - x.mean(axis={axis}, keepdims=True)) / sigma_hat
dx_hat = {dx_hat}
return (m * dx_hat - dx_hat.sum(axis={axis}, keepdims=True)
        - x_hat * (dx_hat * x_hat).sum(axis={axis}, keepdims=True)) / (m * sigma_hat)
""")


def div(dX: str = "dout / Y", dY: str = "-dout * X / Y ** 2") -> str:
    return fn("div_backward", "X, Y, dout", f"return {dX}, {dY}")


def expand(body: str) -> str:
    return fn("expand_backward", "dout", body)


def row_normalize(body: str) -> str:
    return fn("row_normalize_backward", "X, dout", body)


STABLE_SOFTMAX = "e = np.exp(z - np.max(z))\ns = e / e.sum()\n"
UNSTABLE_SOFTMAX = "e = np.exp(z)\ns = e / e.sum()\n"
JACOBIAN = {"test_softmax_jacobian": 3, "test_softmax_jacobian_stable": 1}
LINEAR = {"test_linear_dx": 1, "test_linear_dW": 2, "test_linear_db": 1}

BUGS = {
    # softmax Jacobian
    "jacobian: only the diagonal s_i (1 - s_i)": (
        "softmax_jacobian", jacobian(STABLE_SOFTMAX + "return np.diag(s * (1 - s))"), JACOBIAN),
    "jacobian: off-diagonal +s_i s_j (minus sign lost)": (
        "softmax_jacobian", jacobian(STABLE_SOFTMAX + "J = np.outer(s, s)\nnp.fill_diagonal(J, s * (1 - s))\n"
                                                      "return J"), JACOBIAN),
    "jacobian: diagonal counted twice, diag(s (1 - s)) - s s^T": (
        "softmax_jacobian", jacobian(STABLE_SOFTMAX + "return np.diag(s * (1 - s)) - np.outer(s, s)"), JACOBIAN),
    "jacobian: no max shift, overflows for logits of 1e3": (
        "softmax_jacobian", jacobian(UNSTABLE_SOFTMAX + "return np.diag(s) - np.outer(s, s)"),
        {"test_softmax_jacobian_stable": 1}),
    "jacobian: shifts z in place": (
        "softmax_jacobian", jacobian("z -= np.max(z)\ne = np.exp(z)\ns = e / e.sum()\n"
                                     "return np.diag(s) - np.outer(s, s)"), JACOBIAN),
    # softmax + cross-entropy
    "ce grad: t - s (sign)": ("softmax_ce_grad", ce_grad(STABLE_SOFTMAX + "return t - s"),
                              {"test_softmax_ce_grad": 2}),
    "ce grad: no max shift": ("softmax_ce_grad", ce_grad(UNSTABLE_SOFTMAX + "return s - t"),
                              {"test_softmax_ce_grad": 2}),
    "ce grad: gradient with respect to s, -t / s": ("softmax_ce_grad", ce_grad(STABLE_SOFTMAX + "return -t / s"),
                                                    {"test_softmax_ce_grad": 2}),
    # linear layer
    "linear: dW transposed": ("linear_backward", linear(dW="dout.T @ x"), {"test_linear_dW": 2}),
    "linear: dx transposed, W @ dout.T of shape (in, B)": ("linear_backward", linear(dx="W @ dout.T"),
                                                            {"test_linear_dx": 1}),
    # A function that raises for most shapes returns no dW or db to grade either.
    "linear: dx = dout @ W, crashes unless in = out": ("linear_backward", linear(dx="dout @ W"), LINEAR),
    "linear: db not summed, (B, out)": ("linear_backward", linear(db="dout"), {"test_linear_db": 1}),
    "linear: db summed to (out,)": ("linear_backward", linear(db="dout.sum(axis=0)"), {"test_linear_db": 1}),
    "linear: db is the batch mean": ("linear_backward", linear(db="dout.mean(axis=0, keepdims=True)"),
                                     {"test_linear_db": 1}),
    "linear: dW and db divided by B": (
        "linear_backward", linear(dW="x.T @ dout / len(x)", db="dout.sum(axis=0, keepdims=True) / len(x)"),
        {"test_linear_dW": 2, "test_linear_db": 1}),
    # leaky ReLU
    "leaky: f'(0) = 1": ("leaky_relu_grad", leaky("return np.where(z >= 0, 1.0, alpha)"),
                         {"test_leaky_relu_grad": 1}),
    "leaky: alpha hard-coded to 0.01": ("leaky_relu_grad", leaky("return np.where(z > 0, 1.0, 0.01)"),
                                        {"test_leaky_relu_grad": 1}),
    "leaky: returns f(z), not f'(z)": ("leaky_relu_grad", leaky("return np.where(z > 0, z, alpha * z)"),
                                       {"test_leaky_relu_grad": 1}),
    "leaky: writes into z": ("leaky_relu_grad", leaky("z[z > 0] = 1.0\nz[z <= 0] = alpha\nreturn z"),
                             {"test_leaky_relu_grad": 1}),
    # batch normalisation
    "batchnorm: mean terms missing (dy * gamma / sigma)": (
        "batchnorm_backward_dx", fn("batchnorm_backward_dx", "dy, x, gamma, eps",
                                    "return dy * gamma / np.sqrt(x.var(axis=0, keepdims=True) + eps)"),
        {"test_batchnorm_backward_dx": 3}),
    "batchnorm: unbiased variance": ("batchnorm_backward_dx", batchnorm(var="x.var(axis=0, ddof=1, keepdims=True)"),
                                     {"test_batchnorm_backward_dx": 3}),
    "batchnorm: gamma forgotten": ("batchnorm_backward_dx", batchnorm(dx_hat="dy"), {"test_batchnorm_backward_dx": 3}),
    "batchnorm: statistics over features (axis 1)": ("batchnorm_backward_dx", batchnorm(axis=1),
                                                     {"test_batchnorm_backward_dx": 3}),
    # division, expansion, row normalisation
    "div: dY without the minus": ("div_backward", div(dY="dout * X / Y ** 2"), {"test_div_backward_dY": 1}),
    "div: dY without the square": ("div_backward", div(dY="-dout * X / Y"), {"test_div_backward_dY": 1}),
    "div: dX = dout * Y": ("div_backward", div(dX="dout * Y"), {"test_div_backward_dX": 1}),
    "expand: mean instead of sum": ("expand_backward", expand("return dout.mean(axis=1, keepdims=True)"),
                                    {"test_expand_backward": 1}),
    "expand: sum without keepdims, (n,)": ("expand_backward", expand("return dout.sum(axis=1)"),
                                           {"test_expand_backward": 1}),
    "expand: sum over the wrong axis": ("expand_backward", expand("return dout.sum(axis=0, keepdims=True)"),
                                        {"test_expand_backward": 1}),
    "row normalise: denominator treated as a constant": (
        "row_normalize_backward", row_normalize("return dout / X.sum(axis=1, keepdims=True)"),
        {"test_row_normalize_backward": 2}),
    "row normalise: column sums": (
        "row_normalize_backward", row_normalize("s = X.sum(axis=0, keepdims=True)\nY = X / s\n"
                                                "return (dout - (dout * Y).sum(axis=0, keepdims=True)) / s"),
        {"test_row_normalize_backward": 2}),
    "row normalise: correction not weighted by Y": (
        "row_normalize_backward", row_normalize("s = X.sum(axis=1, keepdims=True)\n"
                                                "return (dout - dout.sum(axis=1, keepdims=True)) / s"),
        {"test_row_normalize_backward": 2}),
    # multiple choice
    **{f"{mc}: wrong letter": (mc, f'{mc} = "{"b" if answer != "b" else "a"}"', {f"test_{mc}": 1})
       for mc, answer in MC_ANSWERS.items()},
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_bug_costs_exactly_the_points_of_what_it_breaks(bug):
    grade_id, source, expected = BUGS[bug]
    assert lost_points(ASSIGNMENT, {grade_id: source}) == expected


# --------------------------------------------------------------------------- other correct solutions

ALTERNATIVES = {
    "jacobian with broadcasting": ("softmax_jacobian", jacobian(
        STABLE_SOFTMAX + "return np.diag(s) - s[:, None] * s[None, :]")),
    "jacobian with two loops and the two cases": ("softmax_jacobian", jacobian(STABLE_SOFTMAX + """
J = np.empty((len(z), len(z)))
for i in range(len(z)):
    for j in range(len(z)):
        J[i, j] = s[i] * (1 - s[i]) if i == j else -s[i] * s[j]
return J""")),
    "jacobian from log-softmax": ("softmax_jacobian", jacobian("""
m = z.max()
s = np.exp(z - m - np.log(np.exp(z - m).sum()))
return np.diag(s) - np.outer(s, s)""")),
    "ce grad on a shifted copy": ("softmax_ce_grad", ce_grad("""
shifted = z - z.max()
probabilities = np.exp(shifted) / np.exp(shifted).sum()
return probabilities - t""")),
    "linear with ones @ dout and einsum": ("linear_backward", linear(
        dx="(W @ dout.T).T", dW='np.einsum("bi,bj->ij", x, dout)', db="np.ones((1, len(dout))) @ dout")),
    "leaky from booleans": ("leaky_relu_grad", leaky("return (z > 0) + alpha * (z <= 0)")),
    "leaky on a copy": ("leaky_relu_grad", leaky("g = np.ones_like(z, dtype=float)\ng[z <= 0] = alpha\nreturn g")),
    "batchnorm step by step (dvar, dmu, dx)": ("batchnorm_backward_dx", fn(
        "batchnorm_backward_dx", "dy, x, gamma, eps", """
m = x.shape[0]
mu = x.mean(axis=0)
var = ((x - mu) ** 2).mean(axis=0)
dx_hat = dy * gamma
dvar = np.sum(dx_hat * (x - mu), axis=0) * -0.5 * (var + eps) ** -1.5
dmu = -np.sum(dx_hat, axis=0) / np.sqrt(var + eps)
return dx_hat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / m + dmu / m""")),
    "div with X / Y reused": ("div_backward", div(dY="-(dout * (X / Y)) / Y")),
    "expand as a matrix product": ("expand_backward", expand("return dout @ np.ones((dout.shape[1], 1))")),
    "row normalise through div_backward and expand_backward": ("row_normalize_backward", row_normalize("""
S = np.repeat(X.sum(axis=1, keepdims=True), X.shape[1], axis=1)
dX, dS = div_backward(X, S, dout)
return dX + expand_backward(dS)""")),
    "row normalise with the square of the sum": ("row_normalize_backward", row_normalize("""
s = X.sum(axis=1, keepdims=True)
return dout / s - (dout * X).sum(axis=1, keepdims=True) / s ** 2""")),
    "mc answers in capitals": ("mc1", 'mc1 = "C"'),
}


@pytest.mark.parametrize("alternative", list(ALTERNATIVES))
def test_other_correct_solutions_keep_full_marks(alternative):
    grade_id, source = ALTERNATIVES[alternative]
    assert lost_points(ASSIGNMENT, {grade_id: source}) == {}

# The buggy sample submission (submitted/buggy): three classic mistakes.
BUGGY_SUBMISSION = {grade_id: source for grade_id, source, _ in (
    BUGS["jacobian: no max shift, overflows for logits of 1e3"], BUGS["linear: db summed to (out,)"],
    BUGS["expand: mean instead of sum"])}
