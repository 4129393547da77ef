"""05_batchnorm's bug catalogue: realistic mistakes in the numpy ``BatchNorm`` and the PyTorch
batch-norm classes, the graded cells each loses, and equivalent answers that keep full marks.
Run by tests/notebooks/test_catalogues.py."""

from __future__ import annotations

from tests.notebooks.catalogue import Alternative, Bug, Catalogue, Edit

INIT, FORWARD, RUNNING, PARAMS, DX, EVAL, STATE = (
    "test_bn_init", "test_bn_forward", "test_bn_running", "test_bn_backward_params", "test_bn_backward_dx",
    "test_bn_eval", "test_bn_state")
T_AUTOGRAD, T_FUNCTION, T_NEEDS, T_MODULE, T_SHAPES = (
    "test_torch_autograd", "test_torch_function", "test_torch_needs_input_grad", "test_torch_module",
    "test_torch_shapes")

# The reference lines the catalogue rewrites: numpy forward (cell "batchnorm")...
AS_ARRAY = "x = np.asarray(x, dtype=np.float64)"
EVAL_STATS = "mean, var = self.running_mean, self.running_var"
BATCH_MEAN = "mean = x.mean(axis=0, keepdims=True)"
BATCH_VAR = "var = x.var(axis=0, keepdims=True)            # biased: 1/B"
RUN_MEAN = "self.running_mean = self.alpha * self.running_mean + (1 - self.alpha) * mean"
RUN_VAR = "self.running_var = self.alpha * self.running_var + (1 - self.alpha) * var"
STD = "self.std = np.sqrt(var + self.eps)"
X_HAT = "self.x_hat = (x - mean) / self.std"
MODE = "self.eval_mode = eval"
BRANCH = """        if eval:
            mean, var = self.running_mean, self.running_var
        else:
            mean = x.mean(axis=0, keepdims=True)
            var = x.var(axis=0, keepdims=True)            # biased: 1/B
            self.running_mean = self.alpha * self.running_mean + (1 - self.alpha) * mean
            self.running_var = self.alpha * self.running_var + (1 - self.alpha) * var
"""
# ... numpy backward (cell "batchnorm_backward") ...
DBETA = "self.dbeta = delta.sum(axis=0, keepdims=True)"
DGAMMA = "self.dgamma = (delta * self.x_hat).sum(axis=0, keepdims=True)"
EVAL_DX = """    if self.eval_mode:
        return dx_hat / self.std
"""
MEAN_TERM = "m * dx_hat - dx_hat.sum(axis=0, keepdims=True)"
VAR_TERM = "\n            - self.x_hat * (dx_hat * self.x_hat).sum(axis=0, keepdims=True)"
DX_END = "/ (m * self.std)"
# ... and PyTorch.
T_VAR = "var = input.var(dim=0, unbiased=False)"
T_GAMMA = "self.gamma = nn.Parameter(torch.ones(n_neurons))"
F_INV_STD = "inv_std = 1.0 / torch.sqrt(var + eps)"
F_GRAD_INPUT = "grad_input = (m * dx_hat - dx_hat.sum(dim=0) - x_hat * (dx_hat * x_hat).sum(dim=0)) * inv_std / m"
F_GRAD_GAMMA = "grad_gamma = (grad_output * x_hat).sum(dim=0)"
F_RETURN = "return grad_input, grad_gamma, grad_beta, None"
M_CHECK = """        if input.dim() != 2 or input.shape[1] != self.n_neurons:
            raise ValueError(f"CustomBatchNormManualModule: expected input of shape (B, {self.n_neurons}), "
                             f"got {tuple(input.shape)}")
"""
M_APPLY = "return CustomBatchNormManualFunction.apply(input, self.gamma, self.beta, self.eps)"


def fwd(old: str, new: str) -> Edit:
    return ("batchnorm", old, new)


def bwd(old: str, new: str) -> Edit:
    return ("batchnorm_backward", old, new)


def auto(old: str, new: str) -> Edit:
    return ("torch_autograd", old, new)


def func(old: str, new: str) -> Edit:
    return ("torch_function", old, new)


def mod(old: str, new: str) -> Edit:
    return ("torch_module", old, new)


def edit(*changes: Edit) -> list[Edit]:
    return list(changes)


# name -> (the submission's changed cells, the graded cells it must lose, words its first failure says)
BUGS: dict[str, tuple[list[Edit], set[str], str]] = {
    # ---- the ones issue 10 names first
    "unbiased variance (ddof=1)": (
        edit(fwd(BATCH_VAR, "var = x.var(axis=0, ddof=1, keepdims=True)")),
        {FORWARD, RUNNING, PARAMS, DX, STATE}, "unbiased"),
    "running statistics updated in eval mode too": (
        edit(fwd(BRANCH, """        batch_mean, batch_var = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)
        self.running_mean = self.alpha * self.running_mean + (1 - self.alpha) * batch_mean
        self.running_var = self.alpha * self.running_var + (1 - self.alpha) * batch_var
        if eval:
            mean, var = self.running_mean, self.running_var
        else:
            mean, var = batch_mean, batch_var
""")), {EVAL}, "unchanged"),
    "momentum sign flipped: alpha and 1 - alpha swapped": (
        edit(fwd(RUN_MEAN, "self.running_mean = (1 - self.alpha) * self.running_mean + self.alpha * mean"),
             fwd(RUN_VAR, "self.running_var = (1 - self.alpha) * self.running_var + self.alpha * var")),
        {RUNNING}, "swapped"),
    "dx without the mean term": (edit(bwd(MEAN_TERM, "m * dx_hat")), {DX, STATE}, "mean term is missing"),
    "dgamma not summed over the batch": (
        edit(bwd(DGAMMA, "self.dgamma = delta * self.x_hat")), {PARAMS, EVAL, STATE}, "summed over the batch"),
    # ---- running statistics
    "running variance from the unbiased variance": (
        edit(fwd(RUN_VAR, "self.running_var = self.alpha * self.running_var + (1 - self.alpha) * x.var(axis=0, ddof=1, "
                          "keepdims=True)")), {RUNNING}, "unbiased variance"),
    "running variance averages the std": (
        edit(fwd(RUN_VAR, "self.running_var = self.alpha * self.running_var + (1 - self.alpha) * np.sqrt(var)")),
        {RUNNING}, "not the std"),
    "running_var starts at zeros": (
        edit(fwd("self.running_var = np.ones((1, in_feature))", "self.running_var = np.zeros((1, in_feature))")),
        {INIT, RUNNING}, "ones"),
    # ---- eval mode
    "eval mode normalises with the batch statistics": (
        edit(fwd(EVAL_STATS, "mean, var = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)")),
        {EVAL}, "not with the statistics of the batch"),
    "backward after eval uses the training formula": (edit(bwd(EVAL_DX, "")), {EVAL}, "constants"),
    "eval flag set but never reset (stale mode)": (
        edit(fwd(MODE, "if eval:\n            self.eval_mode = True")), {STATE}, "record the mode"),
    # ---- parameter gradients
    "dbeta as the batch mean": (
        edit(bwd(DBETA, "self.dbeta = delta.mean(axis=0, keepdims=True)")), {PARAMS, EVAL, STATE}, "not its mean"),
    "dgamma and dbeta accumulated (+=)": (
        edit(bwd(DBETA, "self.dbeta += delta.sum(axis=0, keepdims=True)"),
             bwd(DGAMMA, "self.dgamma += (delta * self.x_hat).sum(axis=0, keepdims=True)")), {STATE},
        "must overwrite"),
    "gamma and beta updated inside backward": (
        edit(bwd("    dx_hat = delta * self.gamma\n",
                 "    dx_hat = delta * self.gamma\n    self.gamma = self.gamma - 0.1 * self.dgamma\n"
                 "    self.beta = self.beta - 0.1 * self.dbeta\n")), {STATE}, "optimizer"),
    # ---- dx
    "dx without the variance term": (edit(bwd(VAR_TERM, "")), {DX, STATE}, "variance term is missing"),
    "dx divided by B again": (edit(bwd(DX_END, "/ (m * m * self.std)")), {DX, STATE}, "divided by B"),
    # ---- eps, shapes, in place
    "eps outside the square root": (edit(fwd(STD, "self.std = np.sqrt(var) + self.eps")), {FORWARD, PARAMS, DX},
                                    "inside the square root"),
    "gamma stored as (D,)": (edit(fwd("self.gamma = np.ones((1, in_feature))", "self.gamma = np.ones(in_feature)")),
                             {INIT}, "(1, in_feature)"),
    "the caller's x centred in place": (
        edit(fwd(X_HAT, "x -= mean\n        self.x_hat = x / self.std")), {FORWARD, DX, EVAL},
        "modified an array it was given"),
    # ---- PyTorch
    "torch.var is unbiased by default (autograd module)": (
        edit(auto(T_VAR, "var = input.var(dim=0)")), {T_AUTOGRAD, T_SHAPES}, "unbiased"),
    "gamma of shape (1, n_neurons) in the autograd module": (
        edit(auto(T_GAMMA, "self.gamma = nn.Parameter(torch.ones(1, n_neurons))")), {T_AUTOGRAD}, ""),
    "gamma and beta as plain tensors, not nn.Parameter": (
        edit(auto(T_GAMMA, "self.gamma = torch.ones(n_neurons, requires_grad=True)"),
             auto("self.beta = nn.Parameter(torch.zeros(n_neurons))",
                  "self.beta = torch.zeros(n_neurons, requires_grad=True)")), {T_AUTOGRAD}, "nn.Parameter"),
    "Function backward returns no gradient for eps": (
        edit(func(F_RETURN, "return grad_input, grad_gamma, grad_beta")), {T_FUNCTION, T_MODULE}, "4-tuple"),
    "ctx.needs_input_grad ignored": (
        edit(func("        if ctx.needs_input_grad[0]:\n            m", "        if True:\n            m"),
             func("if ctx.needs_input_grad[1]:", "if True:"), func("if ctx.needs_input_grad[2]:", "if True:")),
        {T_NEEDS}, "yours: input: a gradient, gamma: a gradient"),
    "Function grad_gamma not summed over the batch": (
        # autograd's engine sums a (B, D) gradient down to gamma's (D,) by itself: the module still trains.
        edit(func(F_GRAD_GAMMA, "grad_gamma = grad_output * x_hat")), {T_FUNCTION, T_NEEDS}, "(D,)"),
    "Function grad_input without the mean term": (
        edit(func(F_GRAD_INPUT, "grad_input = (m * dx_hat - x_hat * (dx_hat * x_hat).sum(dim=0)) * inv_std / m")),
        {T_FUNCTION, T_NEEDS, T_MODULE}, ""),
    "Function ignores its eps argument (1e-5 hard-coded)": (
        edit(func(F_INV_STD, "inv_std = 1.0 / torch.sqrt(var + 1e-5)")), {T_FUNCTION, T_MODULE}, ""),
    "manual module does not check the input shape": (edit(mod(M_CHECK, "")), {T_SHAPES}, "ValueError"),
    "ValueError without the actual shape": (
        edit(mod('got {tuple(input.shape)}")', 'check your input")')), {T_SHAPES}, "both shapes"),
    "manual module computes with autograd, not the Function": (
        edit(mod(M_APPLY, "mean, var = input.mean(dim=0), input.var(dim=0, unbiased=False)\n        "
                          "return self.gamma * (input - mean) / torch.sqrt(var + self.eps) + self.beta")),
        {T_MODULE}, "hand-written backward"),
}

# Equivalent solutions: full marks.
ALTERNATIVES: dict[str, list[Edit]] = {
    "variance written out": edit(fwd(BATCH_VAR, "var = ((x - mean) ** 2).mean(axis=0, keepdims=True)")),
    "x copied, then centred in place": edit(
        fwd(AS_ARRAY, "x = np.array(x, dtype=np.float64, copy=True)"),
        fwd(X_HAT, "x -= mean\n        self.x_hat = x / self.std")),
    "running statistics as a step towards the batch value": edit(
        fwd(RUN_MEAN, "self.running_mean = self.running_mean + (1 - self.alpha) * (mean - self.running_mean)"),
        fwd(RUN_VAR, "self.running_var = self.running_var + (1 - self.alpha) * (var - self.running_var)")),
    "dx by the staged chain rule (dvar, dmean)": edit(bwd(
        """    m = delta.shape[0]
    return (m * dx_hat - dx_hat.sum(axis=0, keepdims=True)
            - self.x_hat * (dx_hat * self.x_hat).sum(axis=0, keepdims=True)) / (m * self.std)""",
        """    m = delta.shape[0]
    x_mu = self.x_hat * self.std
    dvar = (dx_hat * x_mu).sum(axis=0, keepdims=True) * -0.5 * self.std ** -3
    dmean = -dx_hat.sum(axis=0, keepdims=True) / self.std + dvar * (-2.0 * x_mu).mean(axis=0, keepdims=True)
    return dx_hat / self.std + dvar * 2.0 * x_mu / m + dmean / m""")),
    "dgamma via einsum, dbeta as ones @ delta": edit(
        bwd(DGAMMA, "self.dgamma = np.einsum('bd,bd->d', delta, self.x_hat).reshape(1, -1)"),
        bwd(DBETA, "self.dbeta = np.ones((1, delta.shape[0])) @ delta")),
    "autograd module with correction=0 and rsqrt": edit(
        auto("return self.gamma * (input - mean) / torch.sqrt(var + self.eps) + self.beta",
             "return (input - mean) * torch.rsqrt(var + self.eps) * self.gamma + self.beta"),
        auto(T_VAR, "var = input.var(dim=0, correction=0)")),
    "Function computes all gradients, then masks them": edit(
        func("""        grad_input = grad_gamma = grad_beta = None
        if ctx.needs_input_grad[0]:
            m = grad_output.shape[0]""", """        m = grad_output.shape[0]
        if True:"""),
        func("if ctx.needs_input_grad[1]:", "if True:"), func("if ctx.needs_input_grad[2]:", "if True:"),
        func(F_RETURN, "grads = (grad_input, grad_gamma, grad_beta)\n        return tuple(g if need else None "
                       "for g, need in zip(grads, ctx.needs_input_grad[:3])) + (None,)")),
    "Function saves the input and recomputes in backward": edit(
        func("ctx.save_for_backward(gamma, x_hat, inv_std)",
             "ctx.save_for_backward(input, gamma)\n        ctx.eps = eps"),
        func("gamma, x_hat, inv_std = ctx.saved_tensors",
             "input, gamma = ctx.saved_tensors\n        mean = input.mean(dim=0)\n        "
             "inv_std = (((input - mean) ** 2).mean(dim=0) + ctx.eps) ** -0.5\n        "
             "x_hat = (input - mean) * inv_std")),
    "shape check via gamma.numel() and a list in the message": edit(mod(
        M_CHECK, """        if input.ndim != 2 or input.size(1) != self.gamma.numel():
            raise ValueError(f"expected a (B, {self.gamma.numel()}) input, got shape {list(input.shape)}")
""")),
}

CATALOGUE = Catalogue(
    assignment="05_batchnorm",
    bugs=[Bug(name, edits, loses, says=says) for name, (edits, loses, says) in BUGS.items()],
    alternatives=[Alternative(name, edits) for name, edits in ALTERNATIVES.items()],
    buggy_sample=("momentum sign flipped: alpha and 1 - alpha swapped", "dx without the mean term",
                  "ctx.needs_input_grad ignored"),
)
