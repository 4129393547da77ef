"""Hidden tests of 05_batchnorm: numpy ``BatchNorm`` and the three PyTorch batch-norm classes.

Every oracle is torch.autograd in float64 on the textbook formula
``out = gamma * (x - mean) / sqrt(var + eps) + beta`` with the biased batch variance
(training mode) or constant running statistics (eval mode), so every gradient is a
vector-Jacobian product ``torch.autograd.grad(out, (x, gamma, beta), grad_outputs=delta)``.
``torch.nn.functional.batch_norm`` is not used: it refuses a batch of one in training mode,
which the course defines (section "batch of 1" of the notebook): the normalised value is
0, the output is beta, dx is 0, dgamma is 0 and dbeta is delta.

Inputs have per-feature means and spreads far from (0, 1), and some cases hold a feature of
tiny variance (about eps for numpy) or a constant feature, where the place of eps matters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from handgrad import checks

MakeBN = Callable[..., Any]      # BatchNorm(in_feature, alpha=0.9)
NUMPY_EPS = 1e-8
TORCH_EPS = 1e-5

HINT_DIV_B = ("it looks divided by B: delta already is the gradient of the MEAN loss, so the layer must "
              "not divide by B again")
HINT_DBETA = "dbeta (1, D) sums delta over the batch: every sample's output used the same beta"
HINT_DGAMMA = "dgamma (1, D) sums delta * x_hat over the batch (keepdims=True): all samples share gamma"
HINT_DX = ("dx (B, D): in training mode every x_i also moves the batch mean and variance; the closed form of "
           "section 4 has three terms")
HINT_OUT = "out = gamma * (x - mean) / sqrt(var + eps) + beta, mean and biased variance (1/B) over axis 0"
TORCH_HINTS = {"dx": HINT_DX.replace("section 4", "section 4 of the numpy part"),
               "dgamma": "the gradient of gamma (D,) sums grad_output * x_hat over the batch (dim=0)",
               "dbeta": "the gradient of beta (D,) sums grad_output over the batch (dim=0)"}
HINT_TORCH_OUT = HINT_OUT + "; torch.var is unbiased unless you pass unbiased=False (or correction=0)"
HINT_UNBIASED = "it looks like the unbiased variance (1/(B-1)): batch norm uses the biased one, x.var(axis=0)"


# --------------------------------------------------------------------------- oracles


def _t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def oracle(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, delta: np.ndarray, eps: float,
           mean: np.ndarray | None = None, var: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Output, gradients and batch statistics; training mode unless ``mean``/``var`` (eval constants) are given."""
    xt, gt, bt = _t(x, True), _t(gamma, True), _t(beta, True)
    if mean is None or var is None:
        mu = xt.mean(dim=0, keepdim=True)
        v = xt.var(dim=0, unbiased=False, keepdim=True)
    else:
        mu, v = _t(mean), _t(var)
    out = gt * (xt - mu) / torch.sqrt(v + eps) + bt
    dx, dgamma, dbeta = torch.autograd.grad(out, (xt, gt, bt), grad_outputs=_t(delta))
    return {"out": out.detach().numpy(), "dx": dx.numpy(), "dgamma": dgamma.numpy(), "dbeta": dbeta.numpy(),
            "mean": mu.detach().numpy(), "var": v.detach().numpy()}


def batch_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batch mean and biased batch variance (1, D), by torch."""
    xt = _t(x)
    return (xt.mean(dim=0, keepdim=True).numpy(), xt.var(dim=0, unbiased=False, keepdim=True).numpy())


# --------------------------------------------------------------------------- drawing inputs


def draw_x(generator: np.random.Generator, batch: int, features: int, tiny: bool = False) -> np.ndarray:
    """(B, D), per-feature means in [-3, 3], spreads in [0.3, 3]; ``tiny``: a tiny-variance and a constant feature."""
    loc = generator.uniform(-3.0, 3.0, size=(1, features))
    scale = generator.uniform(0.3, 3.0, size=(1, features))
    if tiny and features >= 2:
        scale[0, 0] = 1e-4          # variance about 1e-8: the place of eps matters
        scale[0, 1] = 0.0           # a constant feature: variance 0, x_hat 0
    return loc + scale * generator.normal(size=(batch, features))


class Case:
    """One layer's worth of inputs: x (B, D), gamma and beta (1, D), delta (B, D), and the training-mode oracle."""

    def __init__(self, check_id: str, sizes: tuple[int, int] | None = None, tiny: bool = False,
                 eps: float = NUMPY_EPS) -> None:
        generator = checks.rng(check_id)
        if sizes is None:
            while True:
                batch, features = (int(n) for n in generator.integers(2, 10, size=2))
                if batch != features:
                    break
            sizes = (batch, features)
        self.batch, self.features = sizes
        self.eps = eps
        self.x = draw_x(generator, self.batch, self.features, tiny)
        self.gamma = 1.0 + 0.5 * generator.normal(size=(1, self.features))
        self.beta = generator.normal(size=(1, self.features))
        self.delta = generator.normal(size=(self.batch, self.features)) / self.batch
        self.expected = oracle(self.x, self.gamma, self.beta, self.delta, eps)

    @property
    def x_hat(self) -> np.ndarray:
        """The normalised input of training mode, (B, D)."""
        return (self.x - self.expected["mean"]) / np.sqrt(self.expected["var"] + self.eps)

    @property
    def shapes(self) -> str:
        return f"x {self.x.shape}, gamma and beta {self.gamma.shape}, delta {self.delta.shape}"


def _make(make: MakeBN, features: int, alpha: float | None = None) -> Any:
    if alpha is None:
        return checks.call(f"BatchNorm({features})", make, features)
    return checks.call(f"BatchNorm({features}, alpha={alpha})", make, features, alpha)


def _layer(make: MakeBN, case: Case) -> Any:
    """A fresh layer with the case's gamma and beta assigned (as an optimizer would)."""
    layer = _make(make, case.features)
    layer.gamma, layer.beta = case.gamma.copy(), case.beta.copy()
    return layer


def _forward(layer: Any, x: np.ndarray, eval: bool = False) -> Any:
    if eval:
        return checks.call("layer.forward(x, eval=True)", layer.forward, x, eval=True)
    return checks.call("layer.forward(x)", layer.forward, x)


def _check_grads(check_id: str, layer: Any, dx: Any, expected: dict[str, np.ndarray], batch: int, what: str,
                 only: Sequence[str] = ("dx", "dgamma", "dbeta"), extra: Sequence[tuple[str, np.ndarray, str]] = (),
                 dx_default: str = HINT_DX) -> None:
    """Compare dx (returned), layer.dgamma and layer.dbeta with the oracle, with hints for the usual mistakes."""
    got = {"dx": dx, "dgamma": getattr(layer, "dgamma", None), "dbeta": getattr(layer, "dbeta", None)}
    defaults = {"dx": dx_default, "dgamma": HINT_DGAMMA, "dbeta": HINT_DBETA}
    for name in only:
        suspects = [(candidate, hint) for target, candidate, hint in extra if target == name]
        if name == "dbeta":
            suspects.append((expected["dbeta"] / batch, "dbeta is the SUM of delta over the batch, not its mean"))
        suspects.append((expected[name] / batch, HINT_DIV_B))
        if name == "dgamma" and "dgamma_terms" in expected:
            suspects.append((expected["dgamma_terms"],
                             "dgamma must be summed over the batch (axis 0, keepdims=True): shape (1, D)"))
        hint = checks.diagnose(got[name], defaults[name], suspects)
        label = "dx = layer.backward(delta)" if name == "dx" else f"layer.{name}"
        checks.close(f"{check_id}.{name}", got[name], expected[name], what=f"{label} after {what}", hint=hint)


def _with_terms(case: Case) -> dict[str, np.ndarray]:
    """The oracle plus the per-sample terms of dgamma, for the diagnosis of a forgotten sum."""
    return {**case.expected, "dgamma_terms": case.delta * case.x_hat}


# --------------------------------------------------------------------------- numpy: the graded checks


def check_init(notebook: str, make: MakeBN) -> None:
    """gamma ones, beta zeros, dgamma and dbeta zeros, running_mean zeros, running_var ones, all (1, D); eps 1e-8."""
    prefix = f"{notebook}.bn.init"
    for case_number, features in enumerate((3, 7, 1)):
        check_id = f"{prefix}.{case_number}"
        layer = _make(make, features, alpha=None if case_number != 1 else 0.8)
        shape = (1, features)
        expected = {"gamma": np.ones(shape), "beta": np.zeros(shape), "dgamma": np.zeros(shape),
                    "dbeta": np.zeros(shape), "running_mean": np.zeros(shape), "running_var": np.ones(shape)}
        for name, value in expected.items():
            checks.close(f"{check_id}.{name}", getattr(layer, name, None), value,
                         what=f"layer.{name} after BatchNorm({features})",
                         hint=f"{name} starts as {'ones' if value.any() else 'zeros'} of shape (1, in_feature)")
        checks.close(f"{check_id}.eps", getattr(layer, "eps", None), np.float64(NUMPY_EPS),
                     what=f"layer.eps after BatchNorm({features})", rtol=0.0, atol=0.0,
                     hint="the course's numpy BatchNorm uses eps = 1e-8")


def check_forward(notebook: str, make: MakeBN, cases: int = 4) -> None:
    """Training-mode output against torch: random shapes, gamma and beta set, B = 1, tiny and constant features."""
    prefix = f"{notebook}.bn.forward"
    for case_number in range(cases + 3):
        check_id = f"{prefix}.{case_number}"
        sizes = {cases: (1, 4), cases + 1: (6, 3), cases + 2: (2, 5)}.get(case_number)
        case = Case(check_id, sizes=sizes, tiny=case_number >= cases + 1)
        layer = _layer(make, case)
        x_given = case.x.copy()
        out = _forward(layer, x_given)
        checks.unchanged(f"{check_id}.input", case.x, x_given, what="x after layer.forward(x)")
        x_hat = case.x_hat
        suspects: list[tuple[np.ndarray, str]] = [
            (x_hat, "gamma and beta are missing: out = gamma * x_hat + beta"),
            (case.expected["out"] - case.beta, "beta is missing: out = gamma * x_hat + beta")]
        if case.batch > 1:
            mean, var = batch_stats(case.x)
            unbiased = var * case.batch / (case.batch - 1)
            suspects.append((case.gamma * (case.x - mean) / np.sqrt(unbiased + case.eps) + case.beta, HINT_UNBIASED))
            suspects.append((case.gamma * (case.x - mean) / (np.sqrt(var) + case.eps) + case.beta,
                             "eps belongs inside the square root: sqrt(var + eps), not sqrt(var) + eps"))
        note = " (a batch of one: x_hat is 0, out is beta)" if case.batch == 1 else ""
        checks.close(f"{check_id}.out", out, case.expected["out"],
                     what=f"layer.forward(x) in training mode with {case.shapes}{note}",
                     hint=checks.diagnose(out, HINT_OUT, suspects))


def check_running(notebook: str, make: MakeBN) -> None:
    """running_mean and running_var after each of several training batches, for alpha 0.9 (default) and others."""
    prefix = f"{notebook}.bn.running"
    for label, alpha, batches in (("default", None, (5, 8, 3, 6)), ("alpha_0.7", 0.7, (4, 1, 7)),
                                  ("alpha_0.25", 0.25, (9, 2))):
        check_id = f"{prefix}.{label}"
        generator = checks.rng(check_id)
        features = 4
        a = 0.9 if alpha is None else alpha
        layer = _make(make, features, alpha)
        mean_run, var_run = np.zeros((1, features)), np.ones((1, features))
        for step, batch in enumerate(batches):
            x = draw_x(generator, batch, features)
            mean, var = batch_stats(x)
            previous = (mean_run, var_run)
            mean_run = a * mean_run + (1 - a) * mean
            var_run = a * var_run + (1 - a) * var
            _forward(layer, x.copy())
            what = (f"after {step + 1} training batch(es) of shapes {[(b, features) for b in batches[:step + 1]]} "
                    f"with alpha = {a}")
            got_mean, got_var = getattr(layer, "running_mean", None), getattr(layer, "running_var", None)
            swapped = "alpha and 1 - alpha are swapped: the OLD running value keeps the weight alpha"
            rule = "running_mean = alpha * running_mean + (1 - alpha) * batch mean"
            checks.close(f"{check_id}.{step}.mean", got_mean, mean_run, what=f"layer.running_mean {what}",
                         hint=checks.diagnose(got_mean, rule,
                                              [((1 - a) * previous[0] + a * mean, swapped),
                                               (previous[0], "running_mean did not change in training mode")]))
            suspects = [((1 - a) * previous[1] + a * var, swapped),
                        (previous[1], "running_var did not change in training mode"),
                        (a * previous[1] + (1 - a) * np.sqrt(var), "running_var averages the variance, not the std")]
            if batch > 1:
                suspects.append((a * previous[1] + (1 - a) * var * batch / (batch - 1),
                                 ("running_var is updated with the unbiased variance; the course (COURSE.md) uses the "
                                 "biased batch variance, the one forward normalises with")))
            checks.close(f"{check_id}.{step}.var", got_var, var_run, what=f"layer.running_var {what}",
                         hint=checks.diagnose(got_var, "running_var = alpha * running_var + (1 - alpha) * batch "
                                              "variance (biased)", suspects))


def check_eval(notebook: str, make: MakeBN) -> None:
    """Eval mode normalises with the running statistics, leaves them unchanged; backward treats them as constants."""
    prefix = f"{notebook}.bn.eval"
    for case_number, sizes in enumerate(((6, 4), (1, 5), (3, 3))):
        check_id = f"{prefix}.{case_number}"
        case = Case(check_id, sizes=sizes)
        generator = checks.rng(f"{check_id}.running")
        layer = _layer(make, case)
        # Two training batches first, so that eval follows training as in use...
        for batch in (5, 7):
            _forward(layer, draw_x(generator, batch, case.features))
        # ...then running statistics set by hand, so that this check does not depend on their update.
        running_mean = generator.uniform(-2.0, 2.0, size=(1, case.features))
        running_var = generator.uniform(0.2, 4.0, size=(1, case.features))
        layer.running_mean, layer.running_var = running_mean.copy(), running_var.copy()
        expected = oracle(case.x, case.gamma, case.beta, case.delta, NUMPY_EPS, mean=running_mean, var=running_var)
        x_given = case.x.copy()
        out = _forward(layer, x_given, eval=True)
        checks.unchanged(f"{check_id}.input", case.x, x_given, what="x after layer.forward(x, eval=True)")
        a = 0.9   # the default alpha of BatchNorm(D)
        updated = oracle(case.x, case.gamma, case.beta, case.delta, NUMPY_EPS,
                         mean=a * running_mean + (1 - a) * case.expected["mean"],
                         var=a * running_var + (1 - a) * case.expected["var"])["out"]
        suspects = [(updated, ("the running statistics were updated by this eval-mode forward before normalising: "
                              "eval mode must leave them unchanged"))]
        if case.batch > 1:
            suspects.append((case.expected["out"], ("eval mode must normalise with running_mean and running_var, "
                                                   "not with the statistics of the batch")))
        checks.close(f"{check_id}.out", out, expected["out"],
                     what=f"layer.forward(x, eval=True) with {case.shapes}",
                     hint=checks.diagnose(out, "eval: out = gamma * (x - running_mean) / sqrt(running_var + eps) "
                                               "+ beta", suspects))
        unchanged_hint = "eval mode must leave running_mean and running_var unchanged: only training updates them"
        checks.close(f"{check_id}.running_mean", getattr(layer, "running_mean", None), running_mean,
                     what="layer.running_mean after forward(x, eval=True)", hint=unchanged_hint)
        checks.close(f"{check_id}.running_var", getattr(layer, "running_var", None), running_var,
                     what="layer.running_var after forward(x, eval=True)", hint=unchanged_hint)
        delta_given = case.delta.copy()
        dx = checks.call("layer.backward(delta)", layer.backward, delta_given)
        checks.unchanged(f"{check_id}.delta", case.delta, delta_given, what="delta after layer.backward(delta)")
        _check_grads(f"{check_id}.backward", layer, dx, expected, case.batch,
                     what=f"forward(x, eval=True), backward(delta) with {case.shapes}",
                     dx_default="after an eval-mode forward the running statistics are constants: "
                                "dx = gamma * delta / sqrt(running_var + eps)")


def _train_step(case: Case, make: MakeBN) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    """A fresh layer, forward(x) then backward(delta) on copies; returns (layer, dx, x copy, delta copy)."""
    layer = _layer(make, case)
    x_given, delta_given = case.x.copy(), case.delta.copy()
    _forward(layer, x_given)
    dx = checks.call("layer.backward(delta)", layer.backward, delta_given)
    return layer, dx, x_given, delta_given


def check_backward_params(notebook: str, make: MakeBN, cases: int = 4) -> None:
    """dgamma and dbeta against autograd: random shapes, B = 1, tiny and constant features."""
    prefix = f"{notebook}.bn.params"
    for case_number in range(cases + 2):
        check_id = f"{prefix}.{case_number}"
        sizes = {cases: (1, 3), cases + 1: (5, 4)}.get(case_number)
        case = Case(check_id, sizes=sizes, tiny=case_number == cases + 1)
        layer, *_ = _train_step(case, make)
        _check_grads(check_id, layer, None, _with_terms(case), case.batch, what=f"forward(x), backward(delta) "
                     f"with {case.shapes}", only=("dgamma", "dbeta"))


def check_backward_dx(notebook: str, make: MakeBN, cases: int = 4) -> None:
    """dx against autograd (training mode): random shapes, B = 1, tiny and constant features; x, delta unchanged."""
    prefix = f"{notebook}.bn.dx"
    for case_number in range(cases + 3):
        check_id = f"{prefix}.{case_number}"
        sizes = {cases: (1, 4), cases + 1: (7, 3), cases + 2: (2, 6)}.get(case_number)
        case = Case(check_id, sizes=sizes, tiny=case_number >= cases + 1)
        _, dx, x_given, delta_given = _train_step(case, make)
        checks.unchanged(f"{check_id}.delta", case.delta, delta_given, what="delta after layer.backward(delta)")
        checks.unchanged(f"{check_id}.input", case.x, x_given, what="x after forward(x), backward(delta)")
        std = np.sqrt(case.expected["var"] + case.eps)
        local = case.gamma * case.delta / std
        extra = [("dx", local, ("dx looks like gamma * delta / sqrt(var + eps) alone: the batch mean and variance "
                               "depend on x too (section 4)"))]
        if case.batch > 1:
            x_hat = (case.x - case.expected["mean"]) / std
            no_mean = local - x_hat * (case.gamma * case.delta * x_hat).sum(axis=0, keepdims=True) / (case.batch * std)
            no_var = local - (case.gamma * case.delta).sum(axis=0, keepdims=True) / (case.batch * std)
            extra.append(("dx", no_var, "the variance term is missing from dx: subtract x_hat times the batch mean of "
                                        "gamma * delta * x_hat (the path through sigma^2)"))
            extra.append(("dx", no_mean, ("the mean term is missing from dx: subtract the batch mean of gamma * delta "
                                         "(the path through mu)")))
        _check_grads(check_id, _NoParams(), dx, case.expected, case.batch, what=f"forward(x) with {case.shapes}",
                     only=("dx",), extra=extra)


class _NoParams:
    """Stands for a layer when only dx is compared."""


def check_state(notebook: str, make: MakeBN) -> None:
    """Interleaved calls: backward uses the last forward (of another batch size); a second backward overwrites;
    train after eval; gamma and beta untouched by forward and backward."""
    prefix = f"{notebook}.bn.state"

    # The layer computes gradients; updating gamma and beta is the optimizer's job.
    check_id = f"{prefix}.parameters_untouched"
    case = Case(check_id, sizes=(5, 4))
    layer, *_ = _train_step(case, make)
    for name, value in (("gamma", case.gamma), ("beta", case.beta)):
        checks.close(f"{check_id}.{name}", getattr(layer, name, None), value,
                     what=f"layer.{name} after forward(x) and backward(delta)",
                     hint="forward and backward must not change gamma and beta: the optimizer updates them later")

    # forward(x1), backward(d1), forward(x2) of another batch size, backward(d2): the second pair counts.
    check_id = f"{prefix}.interleaved"
    first = Case(f"{check_id}.first", sizes=(5, 3))
    second = Case(f"{check_id}.second", sizes=(8, 3))
    second.gamma, second.beta = first.gamma, first.beta
    second.expected = oracle(second.x, first.gamma, first.beta, second.delta, NUMPY_EPS)
    layer = _layer(make, first)
    _forward(layer, first.x.copy())
    checks.call("layer.backward(delta1)", layer.backward, first.delta.copy())
    out = _forward(layer, second.x.copy())
    checks.close(f"{check_id}.out", out, second.expected["out"], what="forward(x2) after forward(x1), backward(d1)",
                 hint=HINT_OUT)
    dx = checks.call("layer.backward(delta2)", layer.backward, second.delta.copy())
    summed = "backward adds to dgamma/dbeta: it must overwrite them (one backward, one batch's gradient)"
    _check_grads(check_id, layer, dx, second.expected, second.batch,
                 what="forward(x1 (5, 3)), backward(d1), forward(x2 (8, 3)), backward(d2)",
                 extra=[("dgamma", first.expected["dgamma"] + second.expected["dgamma"], summed),
                        ("dbeta", first.expected["dbeta"] + second.expected["dbeta"], summed)])

    # Two forwards, then one backward: the last input counts.
    check_id = f"{prefix}.last_input"
    first = Case(f"{check_id}.first", sizes=(4, 5))
    second = Case(f"{check_id}.second", sizes=(4, 5))
    expected = oracle(second.x, first.gamma, first.beta, second.delta, NUMPY_EPS)
    layer = _layer(make, first)
    _forward(layer, first.x.copy())
    _forward(layer, second.x.copy())
    dx = checks.call("layer.backward(delta)", layer.backward, second.delta.copy())
    _check_grads(check_id, layer, dx, expected, second.batch, what="forward(x1), forward(x2), backward(delta)")

    # Backward twice after one forward: the second call's gradients replace the first's.
    check_id = f"{prefix}.overwrite"
    case = Case(f"{check_id}.first", sizes=(6, 2))
    delta2 = checks.rng(f"{check_id}.delta2").normal(size=case.delta.shape) / case.batch
    expected = oracle(case.x, case.gamma, case.beta, delta2, NUMPY_EPS)
    layer = _layer(make, case)
    _forward(layer, case.x.copy())
    checks.call("layer.backward(delta1)", layer.backward, case.delta.copy())
    dx = checks.call("layer.backward(delta2)", layer.backward, delta2.copy())
    _check_grads(check_id, layer, dx, expected, case.batch, what="forward(x), backward(delta1), backward(delta2)",
                 extra=[("dgamma", case.expected["dgamma"] + expected["dgamma"], summed),
                        ("dbeta", case.expected["dbeta"] + expected["dbeta"], summed)])

    # An eval forward, then a training forward and backward: training mode again.
    check_id = f"{prefix}.train_after_eval"
    case = Case(check_id, sizes=(7, 4))
    layer = _layer(make, case)
    _forward(layer, draw_x(checks.rng(f"{check_id}.eval"), 3, case.features), eval=True)
    _forward(layer, case.x.copy())
    dx = checks.call("layer.backward(delta)", layer.backward, case.delta.copy())
    eval_formula = case.gamma * case.delta / np.sqrt(case.expected["var"] + case.eps)
    _check_grads(check_id, layer, dx, case.expected, case.batch,
                 what="forward(x_eval, eval=True), forward(x), backward(delta)",
                 extra=[("dx", eval_formula, "backward used the eval-mode formula after a training-mode forward: "
                                             "record the mode on every forward call")])

# --------------------------------------------------------------------------- PyTorch helpers


def _np(value: Any) -> Any:
    """A float64 numpy copy of a tensor (detached); anything else as it is."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float64).cpu().numpy().copy()
    return value


def _set_params(check_id: str, module: Any, case: Case) -> None:
    """module.double(), then gamma and beta (n,) set to the case's values; checked to be nn.Parameters."""
    checks.call_torch("module.double()", module.double)
    for name in ("gamma", "beta"):
        param = getattr(module, name, None)
        checks.same(f"{check_id}.{name}_is_parameter", isinstance(param, torch.nn.Parameter), True,
                    what=f"module.{name} is a torch.nn.Parameter",
                    hint=f"self.{name} = nn.Parameter(...) registers it, so that optimizers and .double() see it")

    def assign() -> None:
        with torch.no_grad():
            module.gamma.copy_(torch.tensor(case.gamma.reshape(-1)))
            module.beta.copy_(torch.tensor(case.beta.reshape(-1)))

    checks.call_torch(f"setting module.gamma and module.beta to tensors of shape ({case.features},)", assign)


def _module_step(check_id: str, module: Any, case: Case, what: str) -> None:
    """Output and the gradients of input, gamma, beta for a float64 module, against the oracle."""
    _set_params(check_id, module, case)
    x = _t(case.x, True)
    out = checks.call_torch(f"{what}(x)", module, x)
    checks.unchanged(f"{check_id}.input", case.x, _np(x), what=f"x after {what}(x)")
    note = " (a batch of one: out is beta)" if case.batch == 1 else ""
    hint = HINT_TORCH_OUT
    checks.close(f"{check_id}.out", _np(out), case.expected["out"],
                 what=f"{what}(x) with {case.shapes}, eps = {case.eps}{note}", hint=hint)
    grad_output = _t(case.delta)
    grads = checks.call_torch("torch.autograd.grad(out, (x, gamma, beta), grad_output)", torch.autograd.grad,
                              out, (x, module.gamma, module.beta), grad_output)
    checks.unchanged(f"{check_id}.grad_output", case.delta, _np(grad_output), what="grad_output after backward")
    for name, got, key in zip(("input", "gamma", "beta"), grads, ("dx", "dgamma", "dbeta")):
        checks.close(f"{check_id}.grad_{name}", _np(got), case.expected[key].reshape(-1) if key != "dx"
                     else case.expected[key], what=f"gradient of {name} through {what} with {case.shapes}",
                     hint=TORCH_HINTS[key])


def _torch_cases(check_id: str) -> list[Case]:
    """Random shapes, B = 1, a larger eps, tiny and constant features."""
    return [Case(f"{check_id}.0", eps=TORCH_EPS), Case(f"{check_id}.1", sizes=(9, 4), eps=TORCH_EPS),
            Case(f"{check_id}.batch_of_one", sizes=(1, 3), eps=TORCH_EPS),
            Case(f"{check_id}.eps", sizes=(6, 5), eps=0.5),
            Case(f"{check_id}.tiny", sizes=(5, 3), tiny=True, eps=TORCH_EPS)]


def _make_module(make: Callable[..., Any], name: str, features: int, eps: float) -> Any:
    if eps == TORCH_EPS:
        return checks.call_torch(f"{name}({features})", make, features)
    return checks.call_torch(f"{name}({features}, eps={eps})", make, features, eps)


def _check_module_init(check_id: str, make: Callable[..., Any], name: str) -> None:
    module = _make_module(make, name, 6, TORCH_EPS)
    checks.same(f"{check_id}.is_module", isinstance(module, torch.nn.Module), True, what=f"{name}(6) is an nn.Module",
                hint="subclass torch.nn.Module and call super().__init__() first")
    registered = {n for n, _ in module.named_parameters()} if isinstance(module, torch.nn.Module) else set()
    for param, value in (("gamma", np.ones(6)), ("beta", np.zeros(6))):
        checks.same(f"{check_id}.{param}_registered", param in registered, True,
                    what=f"{param} among {name}(6).named_parameters()",
                    hint=f"self.{param} = nn.Parameter(...): a plain tensor is not trained by an optimizer")
        checks.close(f"{check_id}.{param}", _np(getattr(module, param, None)), value,
                     what=f"module.{param} after {name}(6)",
                     hint="gamma: ones, beta: zeros, both of shape (n_neurons,)")


def _check_float32(check_id: str, make: Callable[..., Any], name: str) -> None:
    """The default float32 module on a float32 input: the everyday use."""
    case = Case(check_id, sizes=(16, 5), eps=TORCH_EPS)
    module = _make_module(make, name, 5, TORCH_EPS)
    x = torch.tensor(case.x, dtype=torch.float32)
    out = checks.call_torch(f"{name}(5)(x)", module, x)
    expected = oracle(x.double().numpy(), np.ones((1, 5)), np.zeros((1, 5)), case.delta, TORCH_EPS)["out"]
    checks.close(f"{check_id}.out", _np(out), expected, what=f"{name}(5) on a float32 input of shape (16, 5)",
                 rtol=1e-4, atol=1e-4, hint=HINT_TORCH_OUT)


# --------------------------------------------------------------------------- PyTorch: the graded checks


def _check_module(prefix: str, make: Callable[..., Any], name: str) -> None:
    """A BatchNorm module: its parameters, float32 use, and outputs and gradients on every torch case."""
    _check_module_init(f"{prefix}.init", make, name)
    _check_float32(f"{prefix}.float32", make, name)
    for case in _torch_cases(prefix):
        check_id = f"{prefix}.{case.batch}x{case.features}.{case.eps:g}"
        module = _make_module(make, name, case.features, case.eps)
        _module_step(check_id, module, case, what=f"{name}({case.features})")


def check_torch_autograd(notebook: str, make: Callable[..., Any]) -> None:
    """CustomBatchNormAutograd: parameters, float32 use, outputs and autograd gradients in float64."""
    prefix = f"{notebook}.torch.autograd"
    _check_module(prefix, make, "CustomBatchNormAutograd")


def _apply(function: Any, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> Any:
    if eps == TORCH_EPS:  # the default eps of forward is used
        return checks.call_torch("CustomBatchNormManualFunction.apply(x, gamma, beta)", function.apply, x, gamma, beta)
    return checks.call_torch(f"CustomBatchNormManualFunction.apply(x, gamma, beta, {eps})", function.apply,
                             x, gamma, beta, eps)


def _raw_backward(out: Any, grad_output: torch.Tensor) -> Any:
    """What the student's backward(ctx, grad_output) returns, as it returns it (grad_fn.apply calls it)."""
    node = getattr(out, "grad_fn", None)
    if node is None:
        raise checks.CheckFailed("the output of CustomBatchNormManualFunction.apply has no grad_fn: did forward "
                                 "detach it, or is it not a torch.autograd.Function?")
    return checks.call_torch("CustomBatchNormManualFunction.backward(ctx, grad_output)", node.apply, grad_output)


def describe_count(raw: Any) -> str:
    """How many values a backward returned, in words."""
    return f"{len(raw)} values" if isinstance(raw, (tuple, list)) else f"a single {type(raw).__name__}"


def check_torch_function(notebook: str, function: Any) -> None:
    """CustomBatchNormManualFunction: outputs, one gradient per input (None for eps), vjps, gradcheck."""
    prefix = f"{notebook}.torch.function"
    for case in _torch_cases(prefix):
        check_id = f"{prefix}.{case.batch}x{case.features}.{case.eps:g}"
        x, gamma, beta = _t(case.x, True), _t(case.gamma.reshape(-1), True), _t(case.beta.reshape(-1), True)
        out = _apply(function, x, gamma, beta, case.eps)
        checks.unchanged(f"{check_id}.input", case.x, _np(x), what="x after apply(x, gamma, beta)")
        checks.close(f"{check_id}.out", _np(out), case.expected["out"],
                     what=f"CustomBatchNormManualFunction.apply with {case.shapes}, eps = {case.eps}", hint=HINT_OUT)
        grad_output = _t(case.delta)
        raw = _raw_backward(out, grad_output)
        count = len(raw) if isinstance(raw, (tuple, list)) else -1
        checks.same(f"{check_id}.count", count, 4,
                    what=f"the number of values backward returns (yours returned {describe_count(raw)})",
                    hint="one gradient per input of forward (input, gamma, beta, eps): return a 4-tuple, "
                         "None for eps")
        checks.same(f"{check_id}.eps_none", raw[3] is None, True, what="the gradient backward returns for eps",
                    hint="eps is a float, not a tensor: its gradient is None")
        for name, got, key in zip(("input", "gamma", "beta"), raw[:3], ("dx", "dgamma", "dbeta")):
            expected = case.expected[key] if key == "dx" else case.expected[key].reshape(-1)
            checks.close(f"{check_id}.grad_{name}", _np(got), expected,
                         what=f"the gradient of {name} from backward with {case.shapes}",
                         hint=TORCH_HINTS[key])
        checks.unchanged(f"{check_id}.grad_output", case.delta, _np(grad_output),
                         what="grad_output after backward")

    # torch.autograd.gradcheck: finite differences of forward against backward, in float64.
    for label, sizes, eps in (("gradcheck.0", (4, 3), TORCH_EPS), ("gradcheck.1", (3, 5), 0.1),
                              ("gradcheck.batch_of_one", (1, 2), TORCH_EPS)):
        check_id = f"{prefix}.{label}"
        case = Case(check_id, sizes=sizes, eps=eps)
        inputs = (_t(case.x, True), _t(case.gamma.reshape(-1), True), _t(case.beta.reshape(-1), True))

        def run(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = eps) -> Any:
            return function.apply(x, gamma, beta, eps)

        passed = checks.call_torch("torch.autograd.gradcheck(CustomBatchNormManualFunction.apply, ...)",
                                   torch.autograd.gradcheck, run, inputs, raise_exception=False)
        checks.same(f"{check_id}.passed", bool(passed), True,
                    what=f"torch.autograd.gradcheck of the Function in float64 with {case.shapes}, eps = {eps}",
                    hint="your backward disagrees with finite differences of your forward")


def check_torch_needs_input_grad(notebook: str, function: Any) -> None:
    """backward returns None exactly for the inputs that need no gradient, and correct gradients for the others."""
    prefix = f"{notebook}.torch.needs_input_grad"
    for flags in ((True, False, False), (False, True, True), (False, True, False), (True, True, True),
                  (False, False, True)):
        label = "".join("xgb"[i] if f else "-" for i, f in enumerate(flags))
        check_id = f"{prefix}.{label}"
        case = Case(check_id, eps=TORCH_EPS)
        x = _t(case.x, flags[0])
        gamma, beta = _t(case.gamma.reshape(-1), flags[1]), _t(case.beta.reshape(-1), flags[2])
        out = _apply(function, x, gamma, beta, TORCH_EPS)
        raw = _raw_backward(out, _t(case.delta))
        if not isinstance(raw, (tuple, list)) or len(raw) < 3:
            raise checks.CheckFailed(f"[{check_id}] backward must return one gradient per input of forward (4)")
        which = ", ".join(n for n, f in zip(("input", "gamma", "beta"), flags) if f)
        what = f"which gradients backward returns when only {which} require(s) grad"
        names = ("input", "gamma", "beta")
        returned = ", ".join(f"{n}: {'None' if g is None else 'a gradient'}" for n, g in zip(names, raw[:3]))
        wanted = ", ".join(f"{n}: {'a gradient' if f else 'None'}" for n, f in zip(names, flags))
        checks.same(f"{check_id}.none", returned, wanted, what=f"{what} (yours: {returned})",
                    hint="ctx.needs_input_grad[i] says whether input i needs a gradient: return None (and skip the "
                         "work) for the others")
        for name, flag, got, key in zip(("input", "gamma", "beta"), flags, raw[:3], ("dx", "dgamma", "dbeta")):
            if flag:
                expected = case.expected[key] if key == "dx" else case.expected[key].reshape(-1)
                checks.close(f"{check_id}.grad_{name}", _np(got), expected,
                             what=f"the gradient of {name} when only {which} require(s) grad", hint=TORCH_HINTS[key])


def check_torch_manual_module(notebook: str, make: Callable[..., Any]) -> None:
    """CustomBatchNormManualModule: parameters, float32 use, outputs and gradients, and that it runs the Function."""
    prefix = f"{notebook}.torch.module"
    name = "CustomBatchNormManualModule"
    _check_module(prefix, make, name)
    check_id = f"{prefix}.uses_function"
    module = _make_module(make, name, 3, TORCH_EPS)
    out = checks.call_torch(f"{name}(3)(x)", module, _t(np.arange(12.0).reshape(4, 3) ** 1.5, True))
    node = type(getattr(out, "grad_fn", None)).__name__
    checks.same(f"{check_id}", node.startswith("CustomBatchNormManualFunction"), True,
                what=f"the autograd node of {name}'s output",
                hint="forward must return CustomBatchNormManualFunction.apply(input, self.gamma, self.beta, self.eps), "
                     "so that your hand-written backward runs")


WRONG_SHAPES = ((4, 7), (6,), (3, 2, 4), (2, 8))


def _shape_texts(shape: tuple[int, ...]) -> tuple[str, ...]:
    """Ways a message may write a shape: (4, 7), [4, 7], torch.Size([4, 7]), 4x7, 4 x 7."""
    return (str(shape), str(list(shape)), "x".join(map(str, shape)), " x ".join(map(str, shape)),
            str(shape).replace(",)", ")"))


def check_torch_shapes(notebook: str, *makers: tuple[str, Callable[..., Any]]) -> None:
    """Both modules raise ValueError for inputs other than (B, n_neurons), naming both shapes; B = 1 is accepted."""
    prefix = f"{notebook}.torch.shapes"
    features = 5
    for name, make in makers:
        module = _make_module(make, name, features, TORCH_EPS)
        for shape in WRONG_SHAPES:
            check_id = f"{prefix}.{name}.{'x'.join(map(str, shape))}"
            x = torch.ones(shape, dtype=torch.float32)

            def attempt(module: Any = module, x: torch.Tensor = x) -> tuple[str, str]:
                try:
                    module(x)
                except ValueError as error:
                    return "ValueError", str(error)
                except NotImplementedError:
                    raise
                except Exception as error:  # noqa: BLE001 - any other error is the student's answer here
                    return type(error).__name__, str(error)
                return "no error", ""

            kind, message = checks.call_torch(f"{name}({features})(x)", attempt)
            what = f"{name}({features}) called on an input of shape {shape}"
            checks.same(f"{check_id}.raises", kind, "ValueError", what=f"the exception raised when {what}",
                        hint=f"check input.dim() == 2 and input.shape[1] == n_neurons first, and raise ValueError "
                             f"naming the expected shape (B, {features}) and the actual one")
            named = str(features) in message and any(text in message for text in _shape_texts(shape))
            checks.same(f"{check_id}.message", named, True, what=f"the ValueError's message when {what}",
                        hint=f"say both shapes, e.g. 'expected input of shape (B, {features}), got {shape}'")
        check_id = f"{prefix}.{name}.batch_of_one"
        out = checks.call_torch(f"{name}({features})(x) for x of shape (1, {features})", module,
                                torch.ones((1, features)))
        checks.close(f"{check_id}.out", _np(out), np.zeros((1, features)),
                     what=f"{name}({features}) on a batch of one (x_hat = 0, so out = beta = 0)",
                     hint="a batch of one is a valid input: do not reject B = 1")
