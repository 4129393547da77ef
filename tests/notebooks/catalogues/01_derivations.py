"""01_derivations' bug catalogue: wrong closed-form gradients and the graded cells each loses;
differently derived correct answers that keep full marks. Run by tests/notebooks/test_catalogues.py.

Every entry replaces a whole solution cell (``old=None``) by one function written here."""

from __future__ import annotations

from tests.notebooks.catalogue import Alternative, Bug, Catalogue, Edit

MC_ANSWERS = {"mc1": "c", "mc2": "b", "mc3": "b", "mc4": "c"}
JACOBIAN = {"test_softmax_jacobian", "test_softmax_jacobian_stable"}
LINEAR = {"test_linear_dx", "test_linear_dW", "test_linear_db"}
CE, DX, DW, DB = "test_softmax_ce_grad", "test_linear_dx", "test_linear_dW", "test_linear_db"
LEAKY, BATCHNORM, ROW = "test_leaky_relu_grad", "test_batchnorm_backward_dx", "test_row_normalize_backward"
NUMERIC, RELATIVE = "test_numerical_gradient", "test_relative_error"


def fn(name: str, args: str, body: str) -> Edit:
    """Replace the solution cell ``name`` by one function with the given body (lines without indentation)."""
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return (name, None, f"def {name}({args}):\n{lines}\n")


def jacobian(body: str) -> Edit:
    return fn("softmax_jacobian", "z", body)


def ce_grad(body: str) -> Edit:
    return fn("softmax_ce_grad", "z, t", body)


def linear(dx: str = "dout @ W.T", dW: str = "x.T @ dout", db: str = "dout.sum(axis=0, keepdims=True)") -> Edit:
    return fn("linear_backward", "x, W, b, dout", f"return {dx}, {dW}, {db}")


def leaky(body: str) -> Edit:
    return fn("leaky_relu_grad", "z, alpha", body)


def batchnorm(var: str = "x.var(axis=0, keepdims=True)", dx_hat: str = "dy * gamma", axis: int = 0) -> Edit:
    return fn("batchnorm_backward_dx", "dy, x, gamma, eps", f"""
m = x.shape[{axis}]
sigma_hat = np.sqrt({var} + eps)
x_hat = (x - x.mean(axis={axis}, keepdims=True)) / sigma_hat
dx_hat = {dx_hat}
return (m * dx_hat - dx_hat.sum(axis={axis}, keepdims=True)
        - x_hat * (dx_hat * x_hat).sum(axis={axis}, keepdims=True)) / (m * sigma_hat)
""")


def div(dX: str = "dout / Y", dY: str = "-dout * X / Y ** 2") -> Edit:
    return fn("div_backward", "X, Y, dout", f"return {dX}, {dY}")


def expand(body: str) -> Edit:
    return fn("expand_backward", "dout", body)


def row_normalize(body: str) -> Edit:
    return fn("row_normalize_backward", "X, dout", body)


def numeric(body: str) -> Edit:
    return fn("numerical_gradient", "f, x, h", body)


def relative(body: str) -> Edit:
    return fn("relative_error", "a, b", body)


# One loop over the entries of x, the difference quotient given as an expression of f_plus, f_minus, f_x and h.
def numeric_loop(quotient: str) -> Edit:
    return numeric(f"""
grad = np.zeros(x.shape)
for i in np.ndindex(*x.shape):
    plus, minus = x.copy(), x.copy()
    plus[i] += h
    minus[i] -= h
    f_plus, f_minus, f_x = f(plus), f(minus), f(x)
    grad[i] = {quotient}
return grad""")


# Perturbs x itself, then "restores" it with ``restore`` (a line of the loop, or nothing).
def numeric_in_place(restore: str) -> Edit:
    return numeric(f"""
grad = np.zeros(x.shape)
for i in np.ndindex(*x.shape):
    x[i] += h
    f_plus = f(x)
    x[i] -= 2 * h
    grad[i] = (f_plus - f(x)) / (2 * h){restore}
return grad""")


STABLE_SOFTMAX = "e = np.exp(z - np.max(z))\ns = e / e.sum()\n"
UNSTABLE_SOFTMAX = "e = np.exp(z)\ns = e / e.sum()\n"

# name -> (the one replaced cell, the graded cells it must lose)
BUGS: dict[str, tuple[Edit, set[str]]] = {
    # softmax Jacobian
    "jacobian: only the diagonal s_i (1 - s_i)": (jacobian(STABLE_SOFTMAX + "return np.diag(s * (1 - s))"), JACOBIAN),
    "jacobian: off-diagonal +s_i s_j (minus sign lost)": (
        jacobian(STABLE_SOFTMAX + "J = np.outer(s, s)\nnp.fill_diagonal(J, s * (1 - s))\nreturn J"), JACOBIAN),
    "jacobian: diagonal counted twice, diag(s (1 - s)) - s s^T": (
        jacobian(STABLE_SOFTMAX + "return np.diag(s * (1 - s)) - np.outer(s, s)"), JACOBIAN),
    "jacobian: no max shift, overflows for logits of 1e3": (
        jacobian(UNSTABLE_SOFTMAX + "return np.diag(s) - np.outer(s, s)"), {"test_softmax_jacobian_stable"}),
    "jacobian: shifts z in place": (
        jacobian("z -= np.max(z)\ne = np.exp(z)\ns = e / e.sum()\nreturn np.diag(s) - np.outer(s, s)"), JACOBIAN),
    # softmax + cross-entropy
    "ce grad: t - s (sign)": (ce_grad(STABLE_SOFTMAX + "return t - s"), {CE}),
    "ce grad: no max shift": (ce_grad(UNSTABLE_SOFTMAX + "return s - t"), {CE}),
    "ce grad: gradient with respect to s, -t / s": (ce_grad(STABLE_SOFTMAX + "return -t / s"), {CE}),
    # linear layer
    "linear: dW transposed": (linear(dW="dout.T @ x"), {DW}),
    "linear: dx transposed, W @ dout.T of shape (in, B)": (linear(dx="W @ dout.T"), {DX}),
    # A function that raises for most shapes returns no dW or db to grade either.
    "linear: dx = dout @ W, crashes unless in = out": (linear(dx="dout @ W"), LINEAR),
    "linear: db not summed, (B, out)": (linear(db="dout"), {DB}),
    "linear: db summed to (out,)": (linear(db="dout.sum(axis=0)"), {DB}),
    "linear: db is the batch mean": (linear(db="dout.mean(axis=0, keepdims=True)"), {DB}),
    "linear: dW and db divided by B": (
        linear(dW="x.T @ dout / len(x)", db="dout.sum(axis=0, keepdims=True) / len(x)"), {DW, DB}),
    # leaky ReLU
    "leaky: f'(0) = 1": (leaky("return np.where(z >= 0, 1.0, alpha)"), {LEAKY}),
    "leaky: alpha hard-coded to 0.01": (leaky("return np.where(z > 0, 1.0, 0.01)"), {LEAKY}),
    "leaky: returns f(z), not f'(z)": (leaky("return np.where(z > 0, z, alpha * z)"), {LEAKY}),
    "leaky: writes into z": (leaky("z[z > 0] = 1.0\nz[z <= 0] = alpha\nreturn z"), {LEAKY}),
    # batch normalisation
    "batchnorm: mean terms missing (dy * gamma / sigma)": (
        fn("batchnorm_backward_dx", "dy, x, gamma, eps",
           "return dy * gamma / np.sqrt(x.var(axis=0, keepdims=True) + eps)"), {BATCHNORM}),
    "batchnorm: unbiased variance": (batchnorm(var="x.var(axis=0, ddof=1, keepdims=True)"), {BATCHNORM}),
    "batchnorm: gamma forgotten": (batchnorm(dx_hat="dy"), {BATCHNORM}),
    "batchnorm: statistics over features (axis 1)": (batchnorm(axis=1), {BATCHNORM}),
    # division, expansion, row normalisation
    "div: dY without the minus": (div(dY="dout * X / Y ** 2"), {"test_div_backward_dY"}),
    "div: dY without the square": (div(dY="-dout * X / Y"), {"test_div_backward_dY"}),
    "div: dX = dout * Y": (div(dX="dout * Y"), {"test_div_backward_dX"}),
    "expand: mean instead of sum": (expand("return dout.mean(axis=1, keepdims=True)"), {"test_expand_backward"}),
    "expand: sum without keepdims, (n,)": (expand("return dout.sum(axis=1)"), {"test_expand_backward"}),
    "expand: sum over the wrong axis": (expand("return dout.sum(axis=0, keepdims=True)"), {"test_expand_backward"}),
    "row normalise: denominator treated as a constant": (
        row_normalize("return dout / X.sum(axis=1, keepdims=True)"), {ROW}),
    "row normalise: column sums": (
        row_normalize("s = X.sum(axis=0, keepdims=True)\nY = X / s\n"
                      "return (dout - (dout * Y).sum(axis=0, keepdims=True)) / s"), {ROW}),
    "row normalise: correction not weighted by Y": (
        row_normalize("s = X.sum(axis=1, keepdims=True)\nreturn (dout - dout.sum(axis=1, keepdims=True)) / s"), {ROW}),
    # gradient check
    "numerical gradient: forward difference (f(x + h) - f(x)) / h": (numeric_loop("(f_plus - f_x) / h"), {NUMERIC}),
    "numerical gradient: h not divided by 2": (numeric_loop("(f_plus - f_minus) / h"), {NUMERIC}),
    "numerical gradient: perturbs x in place, never restores it": (numeric_in_place(""), {NUMERIC}),
    "numerical gradient: restores x by adding h back (off in the last bit)": (
        numeric_in_place("\n    x[i] += h"), {NUMERIC}),
    "numerical gradient: perturbs every entry at once": (numeric(
        "return np.full(x.shape, (f(x + h) - f(x - h)) / (2 * h))"), {NUMERIC}),
    "numerical gradient: loops over rows only (right for 1-d x)": (numeric("""
grad = np.zeros(x.shape)
for i in range(len(x)):
    plus, minus = x.copy(), x.copy()
    plus[i] += h
    minus[i] -= h
    grad[i] = (f(plus) - f(minus)) / (2 * h)
return grad"""), {NUMERIC}),
    "relative error: no guard, |a - b| / |b|": (relative("return float(np.max(np.abs(a - b) / np.abs(b)))"), {RELATIVE}),
    "relative error: mean over entries, not the worst": (relative("""
scale = np.maximum(np.abs(a), np.abs(b))
return float(np.mean(np.abs(a - b) / np.where(scale > 0, scale, 1.0)))"""), {RELATIVE}),
    "relative error: absolute values forgotten, (a - b) / max(a, b)": (relative("""
scale = np.maximum(a, b)
return float(np.max((a - b) / np.where(scale != 0, scale, 1.0)))"""), {RELATIVE}),
    "relative error: returns the entrywise array": (relative("""
scale = np.maximum(np.abs(a), np.abs(b))
return np.abs(a - b) / np.where(scale > 0, scale, 1.0)"""), {RELATIVE}),
    # multiple choice
    **{f"{mc}: wrong letter": ((mc, None, f'{mc} = "{"b" if answer != "b" else "a"}"'), {f"test_{mc}"})
       for mc, answer in MC_ANSWERS.items()},
}

# Correct answers derived differently: full marks.
ALTERNATIVES: dict[str, Edit] = {
    "jacobian with broadcasting": jacobian(STABLE_SOFTMAX + "return np.diag(s) - s[:, None] * s[None, :]"),
    "jacobian with two loops and the two cases": jacobian(STABLE_SOFTMAX + """
J = np.empty((len(z), len(z)))
for i in range(len(z)):
    for j in range(len(z)):
        J[i, j] = s[i] * (1 - s[i]) if i == j else -s[i] * s[j]
return J"""),
    "jacobian from log-softmax": jacobian("""
m = z.max()
s = np.exp(z - m - np.log(np.exp(z - m).sum()))
return np.diag(s) - np.outer(s, s)"""),
    "ce grad on a shifted copy": ce_grad("""
shifted = z - z.max()
probabilities = np.exp(shifted) / np.exp(shifted).sum()
return probabilities - t"""),
    "linear with ones @ dout and einsum": linear(dx="(W @ dout.T).T", dW='np.einsum("bi,bj->ij", x, dout)',
                                                 db="np.ones((1, len(dout))) @ dout"),
    "leaky from booleans": leaky("return (z > 0) + alpha * (z <= 0)"),
    "leaky on a copy": leaky("g = np.ones_like(z, dtype=float)\ng[z <= 0] = alpha\nreturn g"),
    "batchnorm step by step (dvar, dmu, dx)": fn("batchnorm_backward_dx", "dy, x, gamma, eps", """
m = x.shape[0]
mu = x.mean(axis=0)
var = ((x - mu) ** 2).mean(axis=0)
dx_hat = dy * gamma
dvar = np.sum(dx_hat * (x - mu), axis=0) * -0.5 * (var + eps) ** -1.5
dmu = -np.sum(dx_hat, axis=0) / np.sqrt(var + eps)
return dx_hat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / m + dmu / m"""),
    "div with X / Y reused": div(dY="-(dout * (X / Y)) / Y"),
    "expand as a matrix product": expand("return dout @ np.ones((dout.shape[1], 1))"),
    "row normalise through div_backward and expand_backward": row_normalize("""
S = np.repeat(X.sum(axis=1, keepdims=True), X.shape[1], axis=1)
dX, dS = div_backward(X, S, dout)
return dX + expand_backward(dS)"""),
    "row normalise with the square of the sum": row_normalize("""
s = X.sum(axis=1, keepdims=True)
return dout / s - (dout * X).sum(axis=1, keepdims=True) / s ** 2"""),
    "numerical gradient on a flat copy": numeric("""
flat = x.astype(float).ravel()
grad = np.zeros(flat.size)
for i in range(flat.size):
    step = np.zeros(flat.size)
    step[i] = h
    grad[i] = (f((flat + step).reshape(x.shape)) - f((flat - step).reshape(x.shape))) / (2 * h)
return grad.reshape(x.shape)"""),
    "numerical gradient in place, restoring the saved value": numeric("""
grad = np.zeros_like(x, dtype=float)
for i in np.ndindex(*x.shape):
    saved = x[i]
    try:
        x[i] = saved + h
        f_plus = f(x)
        x[i] = saved - h
        f_minus = f(x)
    finally:
        x[i] = saved
    grad[i] = (f_plus - f_minus) / (2 * h)
return grad"""),
    "relative error with a small constant in the denominator": relative(
        "return float((np.abs(a - b) / (np.maximum(np.abs(a), np.abs(b)) + 1e-12)).max())"),
    "relative error with np.divide(where=...)": relative("""
scale = np.fmax(np.abs(a), np.abs(b))
ratio = np.divide(np.abs(a - b), scale, out=np.zeros(np.shape(a)), where=scale != 0)
return ratio.max()"""),
    "mc answers in capitals": ("mc1", None, 'mc1 = "C"'),
}

CATALOGUE = Catalogue(
    assignment="01_derivations",
    bugs=[Bug(name, [edit], loses) for name, (edit, loses) in BUGS.items()],
    alternatives=[Alternative(name, [edit]) for name, edit in ALTERNATIVES.items()],
    no_stub_loss=frozenset(f"test_{mc}" for mc in MC_ANSWERS),
    # submitted/buggy: four classic mistakes.
    buggy_sample=("jacobian: no max shift, overflows for logits of 1e3", "linear: db summed to (out,)",
                  "expand: mean instead of sum", "numerical gradient: forward difference (f(x + h) - f(x)) / h"),
)
