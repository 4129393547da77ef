"""04_linear's bug catalogue: realistic mistakes in ``Linear`` and the graded cells each loses;
equivalent answers that keep full marks. Run by tests/notebooks/test_catalogues.py."""

from __future__ import annotations

from tests.notebooks.catalogue import Alternative, Bug, Catalogue, Edit, in_cell

INIT, FORWARD, DX, PARAMS, STATE = ("test_linear_init", "test_linear_forward", "test_linear_backward_dx",
                                    "test_linear_backward_params", "test_linear_state")

# The reference lines the catalogue rewrites.
W_INIT = "self.W = np.array(weight_init_fn(in_feature, out_feature), dtype=np.float64)"
B_INIT = "self.b = np.array(bias_init_fn(out_feature), dtype=np.float64).reshape(1, out_feature)"
STORE_X = "self.x = np.array(x, dtype=np.float64)      # a copy"
OUT = "return self.x @ self.W + self.b"
DW = "self.dW = self.x.T @ delta"
DB = "self.db = delta.sum(axis=0, keepdims=True)"
DX_LINE = "return delta @ self.W.T"

linear, backward = in_cell("linear"), in_cell("linear_backward")


def edit(*changes: Edit) -> list[Edit]:
    return list(changes)


# name -> (the submission's changed cells, the graded cells it must lose)
BUGS: dict[str, tuple[list[Edit], set[str]]] = {
    # dW
    "dW transposed (delta.T @ x)": (edit(backward(DW, "self.dW = delta.T @ self.x")), {PARAMS, STATE}),
    "dW from the layer's output instead of its input": (
        edit(linear(OUT, "self.out = self.x @ self.W + self.b\n        return self.out"),
             backward(DW, "self.dW = self.out.T @ delta")), {PARAMS, STATE}),
    "dW with a sign error": (edit(backward(DW, "self.dW = -(self.x.T @ delta)")), {PARAMS, STATE}),
    # db
    "db not summed over the batch (B, out)": (edit(backward(DB, "self.db = delta.copy()")), {PARAMS, STATE}),
    "db of shape (out,) instead of (1, out)": (edit(backward(DB, "self.db = delta.sum(axis=0)")), {PARAMS, STATE}),
    "db as the batch mean": (edit(backward(DB, "self.db = delta.mean(axis=0, keepdims=True)")), {PARAMS, STATE}),
    # the 1/B
    "dW and db divided by B": (
        edit(backward(DW, "self.dW = self.x.T @ delta / delta.shape[0]"),
             backward(DB, "self.db = delta.sum(axis=0, keepdims=True) / delta.shape[0]")), {PARAMS, STATE}),
    "delta divided by B first (dx too)": (
        edit(backward(DW, "delta = delta / delta.shape[0]\n    " + DW)), {DX, PARAMS, STATE}),
    # dx
    "dx = delta @ W (wrong transpose)": (edit(backward(DX_LINE, "return delta @ self.W")), {DX, PARAMS, STATE}),
    "dx summed over the batch": (
        edit(backward(DX_LINE, "return delta.sum(axis=0, keepdims=True) @ self.W.T")), {DX, STATE}),
    # state
    "dW, db accumulated (+=) instead of overwritten": (
        edit(backward(DW, "self.dW += self.x.T @ delta"), backward(DB, "self.db += delta.sum(axis=0, keepdims=True)")),
        {STATE}),
    "x stored on the first forward only (stale input)": (
        edit(linear(STORE_X, "if self.x is None:\n            self.x = np.array(x, dtype=np.float64)")), {STATE}),
    "x never stored; backward reads a global x": (
        edit(linear(STORE_X, "pass"), linear(OUT, "return x @ self.W + self.b"),
             backward(DW, "self.dW = x.T @ delta")), {DX, PARAMS, STATE}),
    "dx computed on the first backward and kept": (
        edit(backward(DX_LINE, "if getattr(self, 'dx', None) is None:\n        self.dx = delta @ self.W.T\n"
                               "    return self.dx")), {STATE}),
    "W updated inside backward": (
        edit(backward(DX_LINE, "dx = delta @ self.W.T\n    self.W = self.W - 0.1 * self.dW\n    return dx")), {STATE}),
    # in place
    "delta modified in place (mean/sum juggling)": (
        edit(backward(DW, "delta *= delta.shape[0]\n    self.dW = self.x.T @ delta / delta.shape[0]"),
             backward(DB, "self.db = delta.sum(axis=0, keepdims=True) / delta.shape[0]"),
             backward(DX_LINE, "return delta @ self.W.T / delta.shape[0]")), {DX}),
    "the caller's x modified in place through the stored reference": (
        edit(linear(STORE_X, "self.x = x"),
             backward(DW, "self.x *= delta.shape[0]\n    self.dW = self.x.T @ delta / delta.shape[0]")), {DX, STATE}),
    # __init__ and forward
    "b stored as (out,)": (edit(linear(B_INIT, B_INIT.replace(".reshape(1, out_feature)", ".reshape(out_feature)"))),
                           {INIT}),
    "b stored as bias_init_fn returns it": (edit(linear(B_INIT, B_INIT.replace(".reshape(1, out_feature)", ""))),
                                            {INIT}),
    "W asked for as (out, in) and transposed": (
        edit(linear(W_INIT, "self.W = np.array(weight_init_fn(out_feature, in_feature), dtype=np.float64).T")),
        {INIT, FORWARD, DX, STATE}),
    "momentum buffers not zeros": (
        edit(linear("self.momentum_W = np.zeros_like(self.W)", "self.momentum_W = None"),
             linear("self.momentum_b = np.zeros_like(self.b)", "self.momentum_b = np.ones_like(self.b)")), {INIT}),
    "dW not initialised": (edit(linear("self.dW = np.zeros_like(self.W)", "self.dW = None")), {INIT}),
    "forward without the bias": (edit(linear(OUT, "return self.x @ self.W")), {FORWARD}),
    "forward uses copies of W, b kept from __init__": (
        edit(linear("self.x = None", "self.x = None\n        self._W0, self._b0 = self.W.copy(), self.b.copy()"),
             linear(OUT, "return self.x @ self._W0 + self._b0")), {FORWARD}),
}

# Equivalent solutions: full marks.
ALTERNATIVES: dict[str, list[Edit]] = {
    "db = ones(1, B) @ delta": edit(backward(DB, "self.db = np.ones((1, delta.shape[0])) @ delta")),
    "dW via np.einsum": edit(backward(DW, "self.dW = np.einsum('bi,bo->io', self.x, delta)")),
    "dW as a sum of per-sample outer products": edit(
        backward(DW, "self.dW = sum(np.outer(xn, dn) for xn, dn in zip(self.x, delta))")),
    "dx = (W @ delta.T).T": edit(backward(DX_LINE, "return (self.W @ delta.T).T")),
    "forward via np.dot": edit(linear(OUT, "return np.dot(x, self.W) + self.b")),
    "x stored without a copy": edit(linear(STORE_X, "self.x = x")),
    "b via np.atleast_2d, W via np.asarray": edit(
        linear(B_INIT, "self.b = np.atleast_2d(bias_init_fn(out_feature)).astype(np.float64)"),
        linear(W_INIT, "self.W = np.asarray(weight_init_fn(in_feature, out_feature), dtype=np.float64)")),
    "db summed then reshaped": edit(backward(DB, "self.db = delta.sum(axis=0).reshape(1, -1)")),
}


SAYS = {
    "dW transposed (delta.T @ x)": "transposed",
    "dW from the layer's output instead of its input": "layer's output",
    "dW and db divided by B": "divided by B",
    "dW, db accumulated (+=) instead of overwritten": "must overwrite",
    "db of shape (out,) instead of (1, out)": "keepdims",
    "db not summed over the batch (B, out)": "sum delta over the batch",
    "x stored on the first forward only (stale input)": "FIRST forward",
    "dx computed on the first backward and kept": "compute it anew",
    "delta modified in place (mean/sum juggling)": "modified an array it was given",
    "forward without the bias": "bias is missing",
    "b stored as (out,)": "(1, out)",
}

CATALOGUE = Catalogue(
    assignment="04_linear",
    bugs=[Bug(name, edits, loses, says=SAYS.get(name, "")) for name, (edits, loses) in BUGS.items()],
    alternatives=[Alternative(name, edits) for name, edits in ALTERNATIVES.items()],
    buggy_sample=("forward without the bias", "dW, db accumulated (+=) instead of overwritten"),
)
