"""03_loss' bug catalogue: wrong logsumexp, softmax and SoftmaxCrossEntropy and the graded cells
each loses; differently written correct answers that keep full marks. Run by
tests/notebooks/test_catalogues.py."""

from __future__ import annotations

from tests.notebooks.catalogue import Alternative, Bug, Catalogue, Edit, in_cell

LSE, SOFTMAX, FORWARD, STABLE, DERIVATIVE, SOFT = ("test_logsumexp", "test_softmax", "test_ce_forward",
                                                    "test_ce_stable", "test_ce_derivative", "test_ce_soft_targets")


def function(name: str, body: str) -> Edit:
    """Replace the cell ``name`` by ``def name(x):`` with the given body (lines without indentation)."""
    return (name, None, f"def {name}(x):\n" + "".join(f"    {line}\n" for line in body.strip("\n").splitlines()))


def criterion(forward: str, derivative: str) -> Edit:
    """Replace the SoftmaxCrossEntropy cell by a class with these method bodies (lines without indentation)."""
    def indent(body: str) -> str:
        return "".join(f"        {line}\n" for line in body.strip("\n").splitlines())
    return ("softmax_cross_entropy", None, "class SoftmaxCrossEntropy(Criterion):\n"
                                           f"    def forward(self, x, y):\n{indent(forward)}\n"
                                           f"    def derivative(self):\n{indent(derivative)}")


# The reference lines the catalogue rewrites.
LSE_MAX = "m = x.max(axis=1, keepdims=True)"
LSE_RETURN = "return m[:, 0] + np.log(np.exp(x - m).sum(axis=1))"
SM_EXP = "e = np.exp(x - x.max(axis=1, keepdims=True))"
SM_RETURN = "return e / e.sum(axis=1, keepdims=True)"
LOG_PROBS = "log_probs = self.logits - logsumexp(self.logits)[:, None]"
LOSS = "self.loss = -np.sum(self.labels * log_probs, axis=1)"
RETURN_LOSS = "return self.loss.copy()"
GRAD = "return (self.probs - self.labels) / self.logits.shape[0]"


lse, sm, ce = in_cell("logsumexp"), in_cell("softmax"), in_cell("softmax_cross_entropy")


# A class that keeps softmax(x) from the student's own softmax (so a softmax bug reaches derivative()).
CE_VIA_SOFTMAX = criterion("""
self.probs = softmax(x)
self.labels = np.array(y, dtype=np.float64)
return logsumexp(x) - np.sum(self.labels * x, axis=1)
""", "return (self.probs - self.labels) / len(self.labels)")

# name -> (the edits, the graded cells it must lose)
BUGS: dict[str, tuple[list[Edit], set[str]]] = {
    # stability
    "naive softmax (no max subtraction)": ([sm(SM_EXP, "e = np.exp(x)")], {STABLE}),
    "naive softmax, also used by the class for derivative()": (
        [sm(SM_EXP, "e = np.exp(x)"), CE_VIA_SOFTMAX], {STABLE, DERIVATIVE}),
    "naive logsumexp (log(sum(exp(x))))": (
        [function("logsumexp", "return np.log(np.sum(np.exp(x), axis=1))")], {STABLE, DERIVATIVE}),
    "logsumexp shifted by the max of the whole batch, not of each row": (
        [lse(LSE_MAX, "m = np.full((len(x), 1), x.max())")], {STABLE, DERIVATIVE}),
    "loss as -log(softmax(x)) (softmax itself stable)": (
        [ce(LOSS, "self.loss = -np.sum(self.labels * np.log(softmax(self.logits)), axis=1)")], {STABLE}),
    "loss as -log(softmax(x) + 1e-12) (the epsilon patch)": (
        [ce(LOSS, "self.loss = -np.sum(self.labels * np.log(softmax(self.logits) + 1e-12), axis=1)")], {STABLE}),
    # the batch mean
    "derivative() without the 1/B": ([ce(GRAD, "return self.probs - self.labels")], {DERIVATIVE}),
    "derivative() divided by C instead of B": (
        [ce(GRAD, "return (self.probs - self.labels) / self.logits.shape[1]")], {DERIVATIVE, SOFT}),
    "forward returns the batch mean instead of per-sample losses": (
        [ce(RETURN_LOSS, "return self.loss.mean()")], {FORWARD, STABLE, SOFT}),
    "forward divides the per-sample losses by B": ([ce(RETURN_LOSS, "return self.loss / len(self.loss)")], {FORWARD}),
    "forward averages over the classes instead of summing": (
        [ce(LOSS, "self.loss = -np.mean(self.labels * log_probs, axis=1)")], {FORWARD, STABLE, SOFT}),
    # axes and shapes
    "logsumexp over the wrong axis (axis=0)": (
        [function("logsumexp", """
m = x.max(axis=0, keepdims=True)
return m[0] + np.log(np.exp(x - m).sum(axis=0))""")], {LSE, FORWARD, STABLE, DERIVATIVE, SOFT}),
    "logsumexp returns (B, 1) (the class copes with reshape)": (
        [lse(LSE_RETURN, "return m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))"),
         ce(LOG_PROBS, "log_probs = self.logits - logsumexp(self.logits).reshape(-1, 1)")], {LSE, STABLE}),
    "forward returns (B, 1) instead of (B,)": (
        [ce(LOSS, "self.loss = -np.sum(self.labels * log_probs, axis=1, keepdims=True)")], {FORWARD, STABLE, SOFT}),
    "softmax without keepdims (divides by a (B,) row of sums)": (
        [sm(SM_RETURN, "return e / e.sum(axis=1)")], {SOFTMAX, STABLE}),
    "softmax over the wrong axis (axis=0)": (
        [sm(SM_EXP, "e = np.exp(x - x.max(axis=0, keepdims=True))"),
         sm(SM_RETURN, "return e / e.sum(axis=0, keepdims=True)")], {SOFTMAX, STABLE}),
    "softmax normalised over the whole batch (np.sum without axis)": (
        [sm(SM_RETURN, "return e / np.sum(e)")], {SOFTMAX, STABLE}),
    # signs and formulas
    "derivative() with the sign flipped (t - softmax)": (
        [ce(GRAD, "return (self.labels - self.probs) / self.logits.shape[0]")], {DERIVATIVE, SOFT}),
    "derivative() from the logits instead of softmax": (
        [ce(GRAD, "return (self.logits - self.labels) / self.logits.shape[0]")], {DERIVATIVE, SOFT}),
    "hard labels only: the target picked with argmax": (
        [criterion("""
self.probs = softmax(x)
self.k = np.argmax(y, axis=1)
rows = np.arange(len(x))
return logsumexp(x) - x[rows, self.k]""", """
grad = self.probs.copy()
grad[np.arange(len(grad)), self.k] -= 1
return grad / len(grad)""")], {SOFT}),
    # inputs modified in place
    "softmax modifies its input (x -= x.max(...))": (
        [function("softmax", """
x -= x.max(axis=1, keepdims=True)
e = np.exp(x)
return e / e.sum(axis=1, keepdims=True)""")], {SOFTMAX}),
    "logsumexp modifies its input": (
        [function("logsumexp", """
m = x.max(axis=1, keepdims=True)
x -= m
return m[:, 0] + np.log(np.exp(x).sum(axis=1))""")], {LSE, FORWARD, STABLE, DERIVATIVE, SOFT}),
    "forward modifies the logits in place": (
        [ce("self.logits = np.array(x, dtype=np.float64)",
            "x -= x.max(axis=1, keepdims=True)\n        self.logits = x")],
        {FORWARD}),
    # state between calls
    "stale state: derivative() computed once and cached": (
        [ce(GRAD, "if getattr(self, 'grad', None) is None:\n"
                  "            self.grad = (self.probs - self.labels) / self.logits.shape[0]\n"
                  "        return self.grad")], {DERIVATIVE}),
    "stale state: softmax stored on the first forward only": (
        [ce("self.probs = np.exp(log_probs)",
            "if getattr(self, 'probs', None) is None:\n            self.probs = np.exp(log_probs)")], {DERIVATIVE}),
    "derivative() updates the stored softmax in place (p -= y)": (
        [ce(GRAD, "grad = self.probs\n        grad -= self.labels\n        grad /= len(grad)\n        return grad")],
        {DERIVATIVE}),
}

# Correct solutions written differently: full marks.
ALTERNATIVES: dict[str, list[Edit]] = {
    "softmax as exp(x - logsumexp(x)[:, None])": [function("softmax", "return np.exp(x - logsumexp(x)[:, None])")],
    "logsumexp with a (B,) max, np.log(np.sum(...)) + m": [function("logsumexp", """
m = np.max(x, axis=1)
return np.log(np.sum(np.exp(x - m[:, None]), axis=1)) + m""")],
    "logsumexp via np.logaddexp.reduce": [function("logsumexp", "return np.logaddexp.reduce(x, axis=1)")],
    "softmax dividing by sums[:, None]": [sm(SM_RETURN, "return e / np.sum(e, axis=1)[:, None]")],
    "class from softmax(): (softmax - y) / len(y), loss = lse - sum(y * x)": [CE_VIA_SOFTMAX],
    "class keeping references to x and y (no copies)": [criterion("""
self.x, self.y = x, y
return -np.sum(y * (x - logsumexp(x)[:, None]), axis=1)""", "return (softmax(self.x) - self.y) / len(self.y)")],
    "class storing the log-probabilities, loss via einsum": [criterion("""
self.log_p = x - logsumexp(x).reshape(-1, 1)
self.t = np.asarray(y, dtype=float)
return -np.einsum('bc,bc->b', self.t, self.log_p)""", "return (np.exp(self.log_p) - self.t) / self.t.shape[0]")],
}

# Words the failure message must contain (of any lost cell).
SAYS = {
    "derivative() without the 1/B": "gradient of the SUM",
    "derivative() with the sign flipped (t - softmax)": "sign is flipped",
    "derivative() divided by C instead of B": "divided by C",
    "forward divides the per-sample losses by B": "divided by B",
    "forward averages over the classes instead of summing": "mean over the classes",
    "forward returns the batch mean instead of per-sample losses": "wrong shape",
    "forward returns (B, 1) instead of (B,)": "wrong shape",
    "naive softmax (no max subtraction)": "NaN or inf",
    "loss as -log(softmax(x)) (softmax itself stable)": "never as log(softmax(x))",
    "softmax modifies its input (x -= x.max(...))": "modified an array it was given",
    "stale state: derivative() computed once and cached": "LAST forward",
    "derivative() updates the stored softmax in place (p -= y)": "second of two",
    "hard labels only: the target picked with argmax": "soft labels",
}

CATALOGUE = Catalogue(
    assignment="03_loss",
    bugs=[Bug(name, edits, loses, says=SAYS.get(name, "")) for name, (edits, loses) in BUGS.items()],
    alternatives=[Alternative(name, edits) for name, edits in ALTERNATIVES.items()],
    # submitted/buggy: two typical mistakes.
    buggy_sample=("naive softmax (no max subtraction)", "derivative() without the 1/B"),
)
