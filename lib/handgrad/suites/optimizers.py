"""Hidden tests of 07_momentum: numpy ``SGD`` and ``Adam`` against ``torch.optim.SGD`` / ``torch.optim.Adam``.

Each check draws a random list of parameters (several shapes at once, two of them equal,
one parameter whose gradient is exactly zero at every step, one with tiny gradients so
that where ``eps`` sits matters) and a random gradient per parameter and step. The
student's optimizer and torch's, built with the same hyper-parameters, take the same
steps in float64; after every step the change of every parameter since the start is
compared. The student's optimizer gets fresh copies of the gradients at every step and
must update the caller's arrays in place: the test reads the arrays it handed over.

The state checks compare the student's optimizer with itself: a run where the caller
reuses its gradient arrays (overwriting them between steps) and a run interleaved with a
second optimizer must give the same parameters as a plain run; gradients are never
modified; the first step changes the caller's arrays exactly where torch's does (the
zero-gradient parameter aside: how it moves is weight decay's business, graded elsewhere).

Hints name a likely mistake when the student's values match a known wrong variant; every
variant is computed by torch (``nesterov=False``, ``dampening``, ``weight_decay=0``,
``torch.optim.AdamW``, a parameter whose gradient is skipped), never by a numpy solution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from handgrad import checks

MakeOptimizer = Callable[..., Any]      # SGD(params, lr, ...) or Adam(params, ...)
Trajectory = list[list[np.ndarray]]     # [step][parameter] -> the parameter after that step

STEPS = 6
# Rounding differs between correct formulas by ~1e-16 relative; a real mistake is far larger.
RTOL, ATOL = 1e-9, 1e-13

HINT_IN_PLACE = ("the arrays you were given did not change: update them in place (`p -= ...`, "
                 "`p[...] = ...`); `p = p - ...` or `self.params[i] = ...` makes a new array the caller never sees")
HINT_SGD = ("PyTorch's SGD: g = grad + weight_decay*p; buf = g on the first step, then buf = momentum*buf + g; "
            "the step is buf, or g + momentum*buf with nesterov; p -= lr*step (sections 2-5)")
HINT_ADAM = ("PyTorch's Adam: g = grad + weight_decay*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g; with t the "
             "number of steps taken so far (1 on the first step), p -= lr * m_hat / (sqrt(v_hat) + eps), "
             "m_hat = m/(1-b1**t), v_hat = v/(1-b2**t) (section 6)")
HINT_SKIPPED = ("the parameter whose gradient is zero did not move: weight decay still applies to it "
                "(g = 0 + weight_decay*p); only a missing gradient (None in PyTorch) is skipped")


class Problem:
    """A random parameter list and a gradient for every parameter and step."""

    def __init__(self, check_id: str, steps: int = STEPS) -> None:
        generator = checks.rng(check_id)
        count = int(generator.integers(4, 7))
        shapes: list[tuple[int, ...]] = []
        for _ in range(count):
            ndim = int(generator.integers(1, 4))
            shapes.append(tuple(int(n) for n in generator.integers(1, 5, size=ndim)))
        shapes[-1] = shapes[0]                        # two parameters of the same shape
        self.shapes = shapes
        # One parameter's gradient is exactly zero at every step; another's is tiny (so eps matters).
        self.zero, self.tiny = (int(i) for i in generator.permutation(count)[:2])
        scales = [float(generator.uniform(0.3, 3.0)) for _ in shapes]
        scales[self.zero], scales[self.tiny] = 0.0, 1e-5
        self.params = [generator.normal(0.0, 1.0, size=s) for s in shapes]
        self.grads = [[scale * generator.normal(0.0, 1.0, size=s) for scale, s in zip(scales, shapes)]
                      for _ in range(steps)]

    def describe(self) -> str:
        return (f"{len(self.shapes)} parameters of shapes {', '.join(str(s) for s in self.shapes)} "
                f"(the gradient of parameter {self.zero} is exactly zero), {len(self.grads)} steps")


# --------------------------------------------------------------------------- the torch oracle


def torch_run(kind: str, params: Sequence[np.ndarray], grads: Sequence[Sequence[np.ndarray]],
              hyper: dict[str, Any], skip: int | None = None) -> Trajectory:
    """The parameters after every step of torch.optim.<kind> (SGD, Adam, AdamW) in float64.

    ``skip`` gives that parameter no gradient at all (``.grad = None``): torch then skips it.
    """
    tensors = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
    optimizer = getattr(torch.optim, kind)(tensors, foreach=False, **hyper)
    trajectory: Trajectory = []
    for step_grads in grads:
        for index, (tensor, grad) in enumerate(zip(tensors, step_grads)):
            tensor.grad = None if index == skip else torch.tensor(grad, dtype=torch.float64)
        optimizer.step()
        trajectory.append([t.detach().numpy().copy() for t in tensors])
    return trajectory


def _call_text(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}(params{''.join(', ' + s for s in shown)})"


def student_run(make: MakeOptimizer, name: str, params: Sequence[np.ndarray],
                grads: Sequence[Sequence[np.ndarray]], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Trajectory:
    """The caller's arrays after every step of the student's optimizer (fresh gradient copies each step)."""
    arrays = [p.copy() for p in params]
    optimizer = checks.call(_call_text(name, args, kwargs), make, list(arrays), *args, **kwargs)
    trajectory: Trajectory = []
    for step, step_grads in enumerate(grads, start=1):
        checks.call(f"{name}.step(grads) (step {step})", optimizer.step, [g.copy() for g in step_grads])
        trajectory.append([a.copy() for a in arrays])
    return trajectory


# --------------------------------------------------------------------------- comparing


def _compare(check_id: str, problem: Problem, got: Trajectory, expected: Trajectory, what: str, hint: str,
             suspects: Sequence[tuple[Trajectory, str]]) -> None:
    """Compare the change of every parameter since the start, step by step, with the oracle's."""
    for step, (got_step, expected_step) in enumerate(zip(got, expected), start=1):
        for index, (got_p, expected_p) in enumerate(zip(got_step, expected_step)):
            start = problem.params[index]
            moved, expected_moved = got_p - start, expected_p - start
            known = [(trajectory[step - 1][index] - start, text) for trajectory, text in suspects]
            known.append((np.zeros_like(start), HINT_IN_PLACE))
            checks.close(f"{check_id}.step{step}.p{index}", moved, expected_moved,
                         what=(f"change of parameter {index} (shape {start.shape}) after step {step} of {what}; "
                               f"{problem.describe()}"),
                         rtol=RTOL, atol=ATOL, hint=checks.diagnose(moved, hint, known))


def _sgd_suspects(problem: Problem, hyper: dict[str, Any]) -> list[tuple[Trajectory, str]]:
    """Wrong variants of SGD that torch can compute, with what they look like."""
    suspects: list[tuple[Trajectory, str]] = []
    momentum, wd = hyper.get("momentum", 0.0), hyper.get("weight_decay", 0.0)
    if hyper.get("nesterov"):
        suspects.append((torch_run("SGD", problem.params, problem.grads, {**hyper, "nesterov": False}),
                         ("this is plain momentum: with nesterov=True the step is g + momentum*buf, not buf "
                         "(section 4)")))
    if momentum and not hyper.get("nesterov"):     # torch refuses dampening with Nesterov
        suspects.append((torch_run("SGD", problem.params, problem.grads, {**hyper, "dampening": momentum}),
                         ("the gradient looks scaled by (1 - momentum) in the buffer (dampening): PyTorch's "
                         "default is buf = momentum*buf + g (section 3)")))
    if wd:   # the skipped parameter first: with weight decay missing it does not move either
        suspects.append((torch_run("SGD", problem.params, problem.grads, hyper, skip=problem.zero), HINT_SKIPPED))
        suspects.append((torch_run("SGD", problem.params, problem.grads, {**hyper, "weight_decay": 0.0}),
                         "weight decay is missing: add weight_decay*p to the gradient (section 5)"))
    return suspects


def _adam_suspects(problem: Problem, hyper: dict[str, Any]) -> list[tuple[Trajectory, str]]:
    """Wrong variants of Adam that torch can compute, with what they look like."""
    suspects: list[tuple[Trajectory, str]] = []
    if hyper.get("weight_decay", 0.0):
        suspects.append((torch_run("AdamW", problem.params, problem.grads, hyper),
                         ("this is AdamW (decoupled decay, p -= lr*weight_decay*p): torch.optim.Adam adds "
                         "weight_decay*p to the gradient before the moments (section 5)")))
        suspects.append((torch_run("Adam", problem.params, problem.grads, hyper, skip=problem.zero), HINT_SKIPPED))
        suspects.append((torch_run("Adam", problem.params, problem.grads, {**hyper, "weight_decay": 0.0}),
                         "weight decay is missing: add weight_decay*p to the gradient (section 5)"))
    return suspects


# --------------------------------------------------------------------------- SGD

# (positional args after params, keyword args); torch gets the same as keywords.
SGD_PLAIN: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((0.1,), {}),
    ((), {"lr": 0.03, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0}),
]
SGD_MOMENTUM: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {"lr": 0.05, "momentum": 0.9}),
    ((0.1,), {"momentum": 0.5, "nesterov": False}),
]
SGD_NESTEROV: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ((0.02,), {"momentum": 0.6, "nesterov": True, "weight_decay": 0.0}),
]
SGD_WEIGHT_DECAY: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {"lr": 0.1, "weight_decay": 0.05}),
    ((), {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    ((), {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
]
ADAM_PLAIN: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),
    ((), {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    ((0.05,), {"betas": (0.5, 0.9), "eps": 0.1}),
    ((), {"lr": 0.002, "betas": (0.0, 0.999), "eps": 1e-8, "weight_decay": 0.0}),
]
ADAM_WEIGHT_DECAY: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {"lr": 0.01, "weight_decay": 0.1}),
    ((), {"lr": 0.005, "betas": (0.85, 0.995), "eps": 1e-3, "weight_decay": 0.02}),
]


def _torch_hyper(kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The same hyper-parameters as keywords for torch (the only positional one is lr)."""
    hyper = dict(kwargs)
    if args:
        hyper["lr"] = args[0]
    if kind == "SGD" and "lr" not in hyper:
        raise ValueError("SGD cases must give lr")
    return hyper


def _check_cases(prefix: str, kind: str, make: MakeOptimizer,
                 cases: Sequence[tuple[tuple[Any, ...], dict[str, Any]]], hint: str) -> None:
    for number, (args, kwargs) in enumerate(cases):
        check_id = f"{prefix}.{number}"
        problem = Problem(check_id)
        hyper = _torch_hyper(kind, args, kwargs)
        expected = torch_run(kind, problem.params, problem.grads, hyper)
        got = student_run(make, kind, problem.params, problem.grads, args, kwargs)
        suspects = _sgd_suspects(problem, hyper) if kind == "SGD" else _adam_suspects(problem, hyper)
        _compare(check_id, problem, got, expected, _call_text(kind, args, kwargs), hint, suspects)


def check_sgd_plain(notebook: str, make: MakeOptimizer) -> None:
    """Plain gradient descent (momentum 0, no weight decay) against torch.optim.SGD."""
    _check_cases(f"{notebook}.sgd.plain", "SGD", make, SGD_PLAIN, HINT_SGD)


def check_sgd_momentum(notebook: str, make: MakeOptimizer) -> None:
    """Heavy-ball momentum (nesterov off, no weight decay) against torch.optim.SGD."""
    _check_cases(f"{notebook}.sgd.momentum", "SGD", make, SGD_MOMENTUM, HINT_SGD)


def check_sgd_nesterov(notebook: str, make: MakeOptimizer) -> None:
    """Nesterov momentum (no weight decay) against torch.optim.SGD."""
    _check_cases(f"{notebook}.sgd.nesterov", "SGD", make, SGD_NESTEROV, HINT_SGD)


def check_sgd_weight_decay(notebook: str, make: MakeOptimizer) -> None:
    """Weight decay with momentum 0, heavy ball and Nesterov against torch.optim.SGD."""
    _check_cases(f"{notebook}.sgd.weight_decay", "SGD", make, SGD_WEIGHT_DECAY, HINT_SGD)


def check_adam(notebook: str, make: MakeOptimizer) -> None:
    """Adam (defaults, several betas, eps and lr; no weight decay) against torch.optim.Adam."""
    _check_cases(f"{notebook}.adam.plain", "Adam", make, ADAM_PLAIN, HINT_ADAM)


def check_adam_weight_decay(notebook: str, make: MakeOptimizer) -> None:
    """Adam with L2 weight decay added to the gradient against torch.optim.Adam."""
    _check_cases(f"{notebook}.adam.weight_decay", "Adam", make, ADAM_WEIGHT_DECAY, HINT_ADAM)


# --------------------------------------------------------------------------- state

SGD_STATE: list[dict[str, Any]] = [
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
]
ADAM_STATE: list[dict[str, Any]] = [
    {"lr": 0.01},
    {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.05},
]

HINT_SHARED = ("two optimizers disturb each other: keep every buffer and step count in the instance "
               "(created in __init__), not in a class attribute or a global")
HINT_REUSED = ("your optimizer keeps a reference to a gradient array and reads it again later, after the caller "
               "has overwritten it: copy what you keep (buf = g.copy(), or build it with out-of-place operations)")


def _run_own(make: MakeOptimizer, name: str, kwargs: dict[str, Any], params: Sequence[np.ndarray],
             grads: Sequence[Sequence[np.ndarray]]) -> tuple[Any, list[np.ndarray]]:
    """A fresh optimizer on copies of ``params`` and the caller's arrays it updates."""
    arrays = [p.copy() for p in params]
    return checks.call(_call_text(name, (), kwargs), make, list(arrays), **kwargs), arrays


def _check_state(prefix: str, kind: str, make: MakeOptimizer, configs: Sequence[dict[str, Any]]) -> None:
    for number, kwargs in enumerate(configs):
        check_id = f"{prefix}.{number}"
        problem = Problem(check_id)
        other = Problem(f"{check_id}.other")          # the second optimizer's list: other shapes and values
        what = _call_text(kind, (), kwargs)
        expected = torch_run(kind, problem.params, problem.grads, kwargs)

        # 1. The caller's arrays change where torch's change, already on the first step (the parameter whose
        #    gradient is zero aside); gradients stay as given.
        optimizer, arrays = _run_own(make, kind, kwargs, problem.params, problem.grads)
        for step, step_grads in enumerate(problem.grads, start=1):
            given = [g.copy() for g in step_grads]
            checks.call(f"{kind}.step(grads) (step {step})", optimizer.step, given)
            for index, (original, after) in enumerate(zip(step_grads, given)):
                checks.unchanged(f"{check_id}.grads.step{step}.p{index}", original, after,
                                 what=f"gradient {index} (shape {original.shape}) after step {step} of {what}",
                                 hint="an optimizer reads the gradients and never writes to them: compute "
                                      "g + weight_decay*p and the buffers with out-of-place operations or copies")
            if step == 1:
                for index, after in enumerate(arrays):
                    if index == problem.zero:        # how it moves is weight decay's business (graded there)
                        continue
                    changed = (after != problem.params[index]).astype(np.float64)
                    torch_changed = (expected[0][index] != problem.params[index]).astype(np.float64)
                    checks.close(f"{check_id}.in_place.p{index}", changed, torch_changed,
                                 what=(f"which entries of the caller's parameter {index} (shape "
                                       f"{after.shape}) changed in the first step of {what} (1 = changed)"),
                                 rtol=0.0, atol=0.0, hint=HINT_IN_PLACE)
        alone = [a.copy() for a in arrays]

        # 2. The caller keeps one gradient array per parameter and overwrites it before each step.
        optimizer, arrays = _run_own(make, kind, kwargs, problem.params, problem.grads)
        buffers = [np.zeros_like(p) for p in problem.params]
        for step, step_grads in enumerate(problem.grads, start=1):
            for buffer, grad in zip(buffers, step_grads):
                np.copyto(buffer, grad)
            checks.call(f"{kind}.step(grads) (step {step})", optimizer.step, list(buffers))
        for index, (got, own) in enumerate(zip(arrays, alone)):
            checks.consistent(f"{check_id}.reused_grads.p{index}", got, own,
                         what=(f"parameter {index} after {len(problem.grads)} steps of {what} when the caller "
                               f"refills the same gradient arrays before every step, against your own result "
                               f"with fresh gradient arrays"),
                         rtol=RTOL, atol=ATOL, hint=HINT_REUSED)

        # 3. Two optimizers stepped in turn, each on its own list: neither may see the other's state.
        other_alone = _own_trajectory_end(make, kind, kwargs, other)
        first, first_arrays = _run_own(make, kind, kwargs, problem.params, problem.grads)
        second, second_arrays = _run_own(make, kind, kwargs, other.params, other.grads)
        for step, (grads_a, grads_b) in enumerate(zip(problem.grads, other.grads), start=1):
            checks.call(f"first {kind}.step(grads) (step {step})", first.step, [g.copy() for g in grads_a])
            checks.call(f"second {kind}.step(grads) (step {step})", second.step, [g.copy() for g in grads_b])
        for label, arrays_now, reference in (("first", first_arrays, alone), ("second", second_arrays, other_alone)):
            for index, (now, value) in enumerate(zip(arrays_now, reference)):
                checks.consistent(f"{check_id}.interleaved.{label}.p{index}", now, value,
                             what=(f"parameter {index} of the {label} of two {kind} optimizers stepped in turn, "
                                   f"against your own result for that optimizer alone"),
                             rtol=RTOL, atol=ATOL, hint=HINT_SHARED)


def _own_trajectory_end(make: MakeOptimizer, kind: str, kwargs: dict[str, Any], problem: Problem) -> list[np.ndarray]:
    """The caller's arrays after all steps of one student optimizer running alone."""
    optimizer, arrays = _run_own(make, kind, kwargs, problem.params, problem.grads)
    for step, step_grads in enumerate(problem.grads, start=1):
        checks.call(f"{kind}.step(grads) (step {step})", optimizer.step, [g.copy() for g in step_grads])
    return [a.copy() for a in arrays]


def check_sgd_state(notebook: str, make: MakeOptimizer) -> None:
    """SGD updates the caller's arrays in place, never writes to gradients, keeps its state to itself."""
    _check_state(f"{notebook}.sgd.state", "SGD", make, SGD_STATE)


def check_adam_state(notebook: str, make: MakeOptimizer) -> None:
    """Adam updates the caller's arrays in place, never writes to gradients, keeps its state to itself."""
    _check_state(f"{notebook}.adam.state", "Adam", make, ADAM_STATE)
