"""07_momentum's bug catalogue: realistic mistakes in ``SGD`` and ``Adam`` and the graded cells each loses;
equivalent answers that keep full marks. Run by tests/notebooks/test_catalogues.py."""

from __future__ import annotations

from tests.notebooks.catalogue import Alternative, Bug, Catalogue, Edit

PLAIN, MOMENTUM, NESTEROV, SGD_WD, SGD_STATE = ("test_sgd_plain", "test_sgd_momentum", "test_sgd_nesterov",
                                                "test_sgd_weight_decay", "test_sgd_state")
ADAM, ADAM_WD, ADAM_STATE = "test_adam", "test_adam_weight_decay", "test_adam_state"
ALL_SGD = {PLAIN, MOMENTUM, NESTEROV, SGD_WD, SGD_STATE}
SGD_VALUES_WITH_MOMENTUM = {MOMENTUM, NESTEROV, SGD_WD}
ALL_ADAM = {ADAM, ADAM_WD, ADAM_STATE}

# The reference lines the catalogue rewrites.
SGD_DECAY = "d = g + self.weight_decay * p"
SGD_FIRST = "self.buffers[i] = d.copy()"
SGD_BUFFER = "self.buffers[i] = self.momentum * self.buffers[i] + d"
SGD_NESTEROV = "d = d + self.momentum * self.buffers[i]"
SGD_UPDATE = "p -= self.lr * d"
SGD_INIT_BUFFERS = "self.buffers = [None] * len(self.params)     # one momentum buffer per parameter"
SGD_LOOP = "for i, (p, g) in enumerate(zip(self.params, grads)):"
SGD_FIRST_BRANCH = """                if self.buffers[i] is None:
                    self.buffers[i] = d.copy()
                else:
                    self.buffers[i] = self.momentum * self.buffers[i] + d"""

ADAM_T = "        self.t += 1\n"
ADAM_BIASES = "        bias1 = 1 - self.beta1 ** self.t\n        bias2 = 1 - self.beta2 ** self.t\n"
ADAM_DECAY = "g = g + self.weight_decay * p"
ADAM_M_HAT = "m_hat = self.m[i] / bias1"
ADAM_V_HAT = "v_hat = self.v[i] / bias2"
ADAM_UPDATE = "p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)"
ADAM_M = "self.m[i] = self.beta1 * self.m[i] + (1 - self.beta1) * g"
ADAM_V = "self.v[i] = self.beta2 * self.v[i] + (1 - self.beta2) * g * g"
ADAM_LOOP = "for i, (p, g) in enumerate(zip(self.params, grads)):"


def sgd(old: str, new: str) -> Edit:
    return ("sgd", old, new)


def adam(old: str, new: str) -> Edit:
    return ("adam", old, new)


# name -> (the submission's changed cells, the graded cells it must lose)
BUGS: dict[str, tuple[list[Edit], set[str]]] = {
    # ---------------------------------------------------------------- SGD
    "momentum sign flipped (buf = momentum*buf - g)": (
        [sgd(SGD_BUFFER, "self.buffers[i] = self.momentum * self.buffers[i] - d")], SGD_VALUES_WITH_MOMENTUM),
    "gradient ascent (p += lr*step)": ([sgd(SGD_UPDATE, "p += self.lr * d")], {PLAIN, MOMENTUM, NESTEROV, SGD_WD}),
    "dampening applied (buf = momentum*buf + (1 - momentum)*g)": (
        [sgd(SGD_BUFFER, "self.buffers[i] = self.momentum * self.buffers[i] + (1 - self.momentum) * d")],
        SGD_VALUES_WITH_MOMENTUM),
    "Nesterov applied like plain momentum": ([sgd(SGD_NESTEROV, "d = self.buffers[i]")], {NESTEROV, SGD_WD}),
    "weight decay added after momentum": (
        [sgd(SGD_DECAY, "d = g + 0.0"), sgd(SGD_UPDATE, "p -= self.lr * (d + self.weight_decay * p)")], {SGD_WD}),
    "SGD weight decay ignored": ([sgd(SGD_DECAY, "d = g + 0.0")], {SGD_WD}),
    "SGD skips a parameter whose gradient is zero": (
        [sgd(SGD_LOOP, SGD_LOOP + "\n            if not np.any(g):\n                continue")], {SGD_WD}),
    "SGD: a new array assigned instead of updating in place (p = p - ...)": (
        [sgd(SGD_UPDATE, "p = p - self.lr * d")], ALL_SGD),
    "SGD: new arrays stored in the optimizer's list (self.params[i] = ...)": (
        [sgd(SGD_UPDATE, "self.params[i] = p - self.lr * d")], ALL_SGD),
    "SGD state shared between parameters of the same shape": (
        [sgd(SGD_INIT_BUFFERS, "self.buffers = {}"), sgd("self.buffers[i]", "self.buffers[p.shape]"),
         sgd("if self.buffers[p.shape] is None:", "if p.shape not in self.buffers:")], SGD_VALUES_WITH_MOMENTUM),
    "SGD state in a class attribute, shared by every optimizer": (
        [sgd("    def __init__(self, params, lr", "    buffers = {}\n\n    def __init__(self, params, lr"),
         sgd(SGD_INIT_BUFFERS, "pass"),
         sgd("if self.buffers[i] is None:", "if i not in self.buffers:")], SGD_VALUES_WITH_MOMENTUM | {SGD_STATE}),
    "the caller's gradient modified in place by weight decay (g += wd*p)": (
        [sgd(SGD_DECAY, "d = g\n            d += self.weight_decay * p")], {SGD_STATE}),
    "the momentum buffer is the caller's gradient array (no copy, updated in place)": (
        [sgd(SGD_DECAY, "d = g if self.weight_decay == 0 else g + self.weight_decay * p"),
         sgd(SGD_FIRST, "self.buffers[i] = d"),
         sgd(SGD_BUFFER, "self.buffers[i] *= self.momentum\n                    self.buffers[i] += d")],
        {SGD_STATE}),
    # ---------------------------------------------------------------- Adam
    "no bias correction": ([adam(ADAM_M_HAT, "m_hat = self.m[i]"), adam(ADAM_V_HAT, "v_hat = self.v[i]")],
                           {ADAM, ADAM_WD}),
    "bias correction with t = 0 on the first step (t incremented after the update)": (
        [adam(ADAM_T, ""), adam(ADAM_UPDATE, ADAM_UPDATE + "\n        self.t += 1")], {ADAM, ADAM_WD}),
    "step count never incremented (t stays 1)": (
        [adam(ADAM_T, ""), adam("self.t = 0 ", "self.t = 1 ")], {ADAM, ADAM_WD}),
    "step count incremented once per parameter": (
        [adam(ADAM_T + ADAM_BIASES, ""),
         adam(ADAM_LOOP, ADAM_LOOP + "\n" + (ADAM_T + ADAM_BIASES).replace("        ", "            "))],
        {ADAM, ADAM_WD}),
    "eps inside the square root": (
        [adam(ADAM_UPDATE, "p -= self.lr * m_hat / np.sqrt(v_hat + self.eps)")], {ADAM, ADAM_WD}),
    "eps added before the bias correction (the paper's 'efficient' form)": (
        [adam(ADAM_UPDATE, "p -= self.lr * np.sqrt(bias2) / bias1 * self.m[i] / (np.sqrt(self.v[i]) + self.eps)")],
        {ADAM, ADAM_WD}),
    "beta1 and beta2 swapped": ([adam("self.beta1, self.beta2 = betas", "self.beta2, self.beta1 = betas")],
                                {ADAM, ADAM_WD}),
    "AdamW-style decoupled weight decay": (
        [adam(ADAM_DECAY, "p *= 1 - self.lr * self.weight_decay")], {ADAM_WD}),
    "Adam skips a parameter whose gradient is zero": (
        [adam(ADAM_LOOP, ADAM_LOOP + "\n            if not np.any(g):\n                continue")], {ADAM_WD}),
    "Adam state shared between parameters of the same shape": (
        [adam("self.m = [np.zeros_like(p) for p in self.params]",
              "self.m = {p.shape: np.zeros_like(p) for p in self.params}"),
         adam("self.v = [np.zeros_like(p) for p in self.params]",
              "self.v = {p.shape: np.zeros_like(p) for p in self.params}"),
         adam("self.m[i]", "self.m[p.shape]"), adam("self.v[i]", "self.v[p.shape]")], {ADAM, ADAM_WD}),
    "Adam: a new array assigned instead of updating in place (p = p - ...)": (
        [adam(ADAM_UPDATE, "p = p - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)")], ALL_ADAM),
    "Adam modifies the caller's gradient in place (g += wd*p)": (
        [adam(ADAM_DECAY, "g += self.weight_decay * p")], {ADAM_STATE}),
}

# Equivalent solutions: full marks.
VELOCITY_SGD = '''
class SGD:
    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.nesterov, self.weight_decay = nesterov, weight_decay
        self.velocity = [np.zeros_like(p) for p in params]

    def step(self, grads):
        # 06's formula, v = momentum*v - lr*dW; W += v: the same method while lr is constant (section 3).
        for p, g, v in zip(self.params, grads, self.velocity):
            d = g + self.weight_decay * p
            v *= self.momentum
            v -= self.lr * d
            if self.nesterov:
                p += self.momentum * v - self.lr * d
            else:
                p += v
'''

LR_IN_BUFFER_SGD = '''
class SGD:
    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.params = params
        self.lr, self.momentum, self.nesterov, self.weight_decay = lr, momentum, nesterov, weight_decay
        self.state = {}

    def step(self, grads):
        for k, (p, g) in enumerate(zip(self.params, grads)):
            d = np.add(g, self.weight_decay * p)
            buf = self.momentum * self.state.get(k, 0.0) + self.lr * d      # lr folded into the buffer
            self.state[k] = buf
            np.subtract(p, self.lr * d + self.momentum * buf if self.nesterov else buf, out=p)
'''

TORCH_STYLE_ADAM = '''
class Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params = params
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.state = [dict(step=0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p)) for p in params]

    def step(self, grads):
        for p, g, s in zip(self.params, grads, self.state):
            s["step"] += 1                                      # a step count per parameter
            if self.wd != 0:
                g = g + self.wd * p
            s["exp_avg"] += (1 - self.b1) * (g - s["exp_avg"])  # lerp form
            s["exp_avg_sq"] *= self.b2
            s["exp_avg_sq"] += (1 - self.b2) * g ** 2
            step_size = self.lr / (1 - self.b1 ** s["step"])
            denom = np.sqrt(s["exp_avg_sq"]) / np.sqrt(1 - self.b2 ** s["step"]) + self.eps
            p[...] = p - step_size * s["exp_avg"] / denom
'''

ALTERNATIVES: dict[str, list[Edit]] = {
    "SGD in 06's velocity form (v = momentum*v - lr*g; p += v)": [("sgd", None, VELOCITY_SGD)],
    "SGD buffer starting at zeros (not g)": [
        sgd(SGD_INIT_BUFFERS, "self.buffers = [np.zeros_like(p) for p in self.params]"),
        sgd(SGD_FIRST_BRANCH, "                " + SGD_BUFFER)],
    "SGD with lr folded into the buffer, state in a dict, np.subtract(out=p)": [("sgd", None, LR_IN_BUFFER_SGD)],
    "SGD momentum 0 through the buffer too (no special case)": [
        sgd("if self.momentum != 0:", "if True:"),
        sgd("if self.nesterov:", "if self.nesterov and self.momentum != 0:")],
    "SGD in place with p[...] =": [sgd(SGD_UPDATE, "p[...] = p - self.lr * d")],
    "Adam as torch.optim writes it (lerp, step size lr/bias1, per-parameter counts)": [
        ("adam", None, TORCH_STYLE_ADAM)],
    "Adam moments updated in place, g**2, np.divide": [
        adam(ADAM_M, "self.m[i] *= self.beta1\n            self.m[i] += (1 - self.beta1) * g"),
        adam(ADAM_V, "self.v[i] *= self.beta2\n            self.v[i] += (1 - self.beta2) * g ** 2"),
        adam(ADAM_UPDATE, "p -= np.divide(self.lr * m_hat, np.sqrt(v_hat) + self.eps)")],
    "Adam with bias-corrected lr and sqrt(bias2) in the denominator": [
        adam(ADAM_UPDATE, "p -= (self.lr / bias1) * self.m[i] / (np.sqrt(self.v[i]) / np.sqrt(bias2) + self.eps)")],
}

SAYS = {
    "SGD: a new array assigned instead of updating in place (p = p - ...)": "in place",
    "SGD: new arrays stored in the optimizer's list (self.params[i] = ...)": "in place",
    "Adam: a new array assigned instead of updating in place (p = p - ...)": "in place",
    "Nesterov applied like plain momentum": "plain momentum",
    "dampening applied (buf = momentum*buf + (1 - momentum)*g)": "dampening",
    "SGD weight decay ignored": "weight decay is missing",
    "SGD skips a parameter whose gradient is zero": "still applies",
    "Adam skips a parameter whose gradient is zero": "still applies",
    "AdamW-style decoupled weight decay": "AdamW",
    "the caller's gradient modified in place by weight decay (g += wd*p)": "modified an array it was given",
    "Adam modifies the caller's gradient in place (g += wd*p)": "modified an array it was given",
    "the momentum buffer is the caller's gradient array (no copy, updated in place)": "copy what you keep",
}

CATALOGUE = Catalogue(
    assignment="07_momentum",
    bugs=[Bug(name, edits, loses, says=SAYS.get(name, "")) for name, (edits, loses) in BUGS.items()],
    alternatives=[Alternative(name, edits) for name, edits in ALTERNATIVES.items()],
    buggy_sample=("Nesterov applied like plain momentum", "no bias correction"),
)
