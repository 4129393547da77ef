"""Hidden tests of 02_activations: each activation against torch.autograd."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from handgrad import checks, oracles

TorchFn = Callable[[torch.Tensor], torch.Tensor]

# Named torch oracles: the student's class name -> the function autograd differentiates.
ORACLES: dict[str, TorchFn] = {
    "Identity": lambda z: z * 1.0,
    "Sigmoid": torch.sigmoid,
    "Tanh": torch.tanh,
    "ReLU": torch.relu,
}


def leaky_relu_oracle(alpha: float) -> TorchFn:
    """torch's LeakyReLU with slope ``alpha`` (its derivative at 0 is alpha, as ours must be)."""
    return lambda z: torch.nn.functional.leaky_relu(z, negative_slope=alpha)


def oracle(z: np.ndarray, torch_fn: TorchFn) -> tuple[np.ndarray, np.ndarray]:
    """Output and elementwise derivative of ``torch_fn`` at ``z`` (autograd of the sum)."""
    return oracles.elementwise(torch_fn, z)


def draw_input(check_id: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A random batch of pre-activations (of ``shape``, else a random one) with exact zeros and a few values
    of size up to 1e3."""
    generator = checks.rng(check_id)
    if shape is None:
        shape = (int(generator.integers(1, 9)), int(generator.integers(1, 13)))
    z = generator.normal(0.0, 3.0, size=shape)
    mask = generator.random(shape)
    z[mask < 0.15] = 0.0                                      # kinks: exactly zero
    z[mask > 0.92] = generator.choice([-1e3, -40.0, 40.0, 1e3], size=int((mask > 0.92).sum()))
    return z


def _forward_and_derivative(check_id: str, name: str, make: Callable[[], Any], z: np.ndarray,
                            torch_fn: TorchFn) -> None:
    """One forward + derivative comparison on ``z``, plus the input-not-mutated check."""
    expected_out, expected_grad = oracle(z, torch_fn)
    activation = checks.call(f"{name}()", make)
    z_given = z.copy()
    out = checks.call(f"{name}.forward(z)", activation.forward, z_given)
    checks.unchanged(f"{check_id}.input", z, z_given, what=f"z after {name}.forward(z)")
    checks.close(f"{check_id}.forward", out, expected_out, what=f"{name}.forward(z) for z of shape {z.shape}",
                 hint="apply the function elementwise and return an array of z's shape")
    grad = checks.call(f"{name}.derivative()", activation.derivative)
    checks.close(f"{check_id}.derivative", grad, expected_grad,
                 what=f"{name}.derivative() after forward(z), z of shape {z.shape}",
                 hint="the elementwise derivative f'(z) at the last input; at an exact 0 follow PyTorch")


def check_activation(notebook: str, name: str, make: Callable[[], Any], torch_fn: TorchFn,
                     cases: int = 4) -> None:
    """Random batches with kinks and extremes, then interleaved calls on inputs of two shapes (stale state)."""
    prefix = f"{notebook}.{name.lower()}"
    for case in range(cases):
        check_id = f"{prefix}.{case}"
        _forward_and_derivative(check_id, name, make, draw_input(check_id), torch_fn)

    check_interleaved(prefix, name, make, torch_fn)


def check_interleaved(prefix: str, name: str, make: Callable[[], Any], torch_fn: TorchFn) -> None:
    """forward(z1), derivative(), forward(z2) with z2 of another shape, derivative(): each answer belongs to
    the input of the forward just before it (nothing kept from an earlier input or an earlier result)."""
    first, second = draw_input(f"{prefix}.stale.first", (3, 5)), draw_input(f"{prefix}.stale.second", (6, 2))
    activation = checks.call(f"{name}()", make)
    calls = f"{name}: forward(z1), derivative(), forward(z2), derivative() with z1 {first.shape}, z2 {second.shape}"
    hint = "derivative() must use the input of the LAST forward call: store it (or f(z)) on every forward, " \
           "and compute the derivative anew on every call"
    checks.call(f"{name}.forward(z1)", activation.forward, first.copy())
    checks.close(f"{prefix}.stale.derivative1", checks.call(f"{name}.derivative()", activation.derivative),
                 oracle(first, torch_fn)[1], what=f"the first derivative() of {calls}", hint=hint)
    out, derivative = oracle(second, torch_fn)
    checks.close(f"{prefix}.stale.forward2", checks.call(f"{name}.forward(z2)", activation.forward, second.copy()),
                 out, what=f"the second forward of {calls}", hint="forward(z) must compute f of the z it is given")
    checks.close(f"{prefix}.stale", checks.call(f"{name}.derivative()", activation.derivative), derivative,
                 what=f"the second derivative() of {calls}", hint=hint)


def check_no_overflow(notebook: str, name: str, make: Callable[[], Any], torch_fn: TorchFn) -> None:
    """Inputs up to |1e3|: the result is right and no numpy operation overflows on the way."""
    check_id = f"{notebook}.{name.lower()}.overflow"
    z = np.array([[-1e3, -710.0, -100.0, 0.0, 100.0, 710.0, 1e3]])
    activation = checks.call(f"{name}()", make)

    def forward_and_derivative() -> tuple[Any, Any, str]:
        """The student's forward and derivative with overflow raising; the overflow's text, if any."""
        with np.errstate(over="raise"):
            try:
                return activation.forward(z.copy()), activation.derivative(), ""
            except FloatingPointError as error:
                return None, None, str(error)

    out, grad, overflow = checks.call(f"{name}.forward(z), {name}.derivative()", forward_and_derivative)
    if overflow:
        raise checks.CheckFailed(
            f"[{check_id}] {name}.forward(z) with |z| up to 1e3 overflowed ({overflow}): exp of a large "
            f"positive number is inf.\n  hint: rewrite so that exp only ever sees non-positive "
            f"numbers, e.g. treat z >= 0 and z < 0 separately (np.where evaluates both branches!)")
    expected_out, expected_grad = oracle(z, torch_fn)
    checks.close(f"{check_id}.forward", out, expected_out, what=f"{name}.forward(z) for z = ±1e3, ±710, ±100, 0")
    checks.close(f"{check_id}.derivative", grad, expected_grad,
                 what=f"{name}.derivative() for z = ±1e3, ±710, ±100, 0")
