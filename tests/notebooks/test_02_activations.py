"""02_activations: the reference passes, stubs fail, every catalogued bug loses its points,
and differently written correct answers keep full marks."""

from __future__ import annotations

import pytest

from tests.notebooks.harness import graded_points, lost_points, run_graded

ID = "02_activations"


def cls(name: str, forward: str, derivative: str, init: str = "") -> str:
    """Source of an activation class with the given method bodies (4-space indented lines)."""
    return (f"class {name}(Activation):\n{init}"
            f"    def forward(self, z):\n{forward}\n"
            f"    def derivative(self):\n{derivative}\n")


LEAKY_INIT = "    def __init__(self, alpha=0.01):\n        super().__init__()\n        self.alpha = alpha\n"

# Realistic mistakes: (solution cell, its replacement) -> the graded cells that must lose points.
BUGS = {
    "identity derivative is a scalar 1": (
        "identity", cls("Identity", "        self.state = z\n        return z", "        return 1.0"),
        {"test_identity"}),
    "identity derivative of one row's shape (d,)": (
        "identity", cls("Identity", "        self.state = z\n        return z", "        return np.ones(self.state.shape[1])"),
        {"test_identity"}),
    "naive sigmoid overflows": (
        "sigmoid", cls("Sigmoid", "        self.state = 1 / (1 + np.exp(-z))\n        return self.state",
                       "        return self.state * (1 - self.state)"),
        {"test_sigmoid_stable"}),
    "sigmoid with np.where still overflows in the unused branch": (
        "sigmoid", cls("Sigmoid", "        self.state = np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))\n"
                                  "        return self.state", "        return self.state * (1 - self.state)"),
        {"test_sigmoid_stable"}),
    "sigmoid derivative from the input instead of the output": (
        "sigmoid", cls("Sigmoid", "        self.z = z\n        self.state = 0.5 * (1 + np.tanh(z / 2))\n        return self.state",
                       "        return self.z * (1 - self.z)"),
        {"test_sigmoid", "test_sigmoid_stable"}),
    "sigmoid state cached from the first call only (stale)": (
        "sigmoid", cls("Sigmoid", "        s = 0.5 * (1 + np.tanh(z / 2))\n        if self.state is None:\n            self.state = s\n        return s",
                       "        return self.state * (1 - self.state)"),
        {"test_sigmoid"}),
    "tanh derivative 1 - tanh (forgot the square)": (
        "tanh", cls("Tanh", "        self.state = np.tanh(z)\n        return self.state", "        return 1 - self.state"),
        {"test_tanh"}),
    "tanh computed in place on the input": (
        "tanh", cls("Tanh", "        np.tanh(z, out=z)\n        self.state = z\n        return z", "        return 1 - self.state ** 2"),
        {"test_tanh"}),
    "relu derivative 1 at zero": (
        "relu", cls("ReLU", "        self.state = z\n        return np.maximum(z, 0)",
                    "        return (self.state >= 0).astype(float)"),
        {"test_relu"}),
    "relu zeroes negatives in place": (
        "relu", cls("ReLU", "        z[z < 0] = 0\n        self.state = z\n        return z",
                    "        return (self.state > 0).astype(float)"),
        {"test_relu"}),
    "relu derivative returns a bool array shape (B,) summed": (
        "relu", cls("ReLU", "        self.state = z\n        return np.maximum(z, 0)",
                    "        return (self.state > 0).sum(axis=1)"),
        {"test_relu"}),
    "leaky relu derivative 0 at zero": (
        "leaky_relu", cls("LeakyReLU", "        self.state = z\n        return np.where(z > 0, z, self.alpha * z)",
                          "        return np.where(self.state >= 0, 1.0, self.alpha)", LEAKY_INIT),
        {"test_leaky_relu"}),
    "leaky relu ignores alpha (hard-coded 0.01)": (
        "leaky_relu", cls("LeakyReLU", "        self.state = z\n        return np.where(z > 0, z, 0.01 * z)",
                          "        return np.where(self.state > 0, 1.0, 0.01)", LEAKY_INIT),
        {"test_leaky_relu"}),
}

# Correct answers written differently: full marks.
ALTERNATIVES = {
    "sigmoid via tanh": ("sigmoid", cls(
        "Sigmoid", "        self.state = 0.5 * (1.0 + np.tanh(0.5 * z))\n        return self.state",
        "        return self.state - self.state ** 2")),
    "sigmoid via exp(-|z|)": ("sigmoid", cls(
        "Sigmoid", "        e = np.exp(-np.abs(z))\n        self.state = np.where(z >= 0, 1 / (1 + e), e / (1 + e))\n        return self.state",
        "        return self.state * (1 - self.state)")),
    "relu via masking": ("relu", cls(
        "ReLU", "        self.mask = z > 0\n        self.state = z * self.mask\n        return z * self.mask",
        "        return self.mask * 1.0")),
    "relu via np.maximum and np.heaviside": ("relu", cls(
        "ReLU", "        self.state = np.array(z)\n        return np.maximum(0, z)", "        return np.heaviside(self.state, 0.0)")),
    "tanh via sigmoid identity": ("tanh", cls(
        "Tanh", "        self.state = 2 / (1 + np.exp(-2 * np.clip(z, -300, 300))) - 1\n        return self.state",
        "        return (1 - self.state) * (1 + self.state)")),
    "leaky relu via np.maximum": ("leaky_relu", cls(
        "LeakyReLU", "        self.state = z.copy()\n        return np.maximum(z, 0) + self.alpha * np.minimum(z, 0)",
        "        return np.where(self.state > 0, 1.0, self.alpha)", LEAKY_INIT)),
    "identity returning the same object": ("identity", cls(
        "Identity", "        self.state = z\n        return z", "        return np.ones(self.state.shape)")),
}

# The buggy sample submission (submitted/buggy): two classic mistakes.
BUGGY_SUBMISSION = {grade_id: source for grade_id, source, _ in
                    (BUGS["naive sigmoid overflows"], BUGS["relu derivative 1 at zero"])}

STUBS = {
    "identity": cls("Identity", "        raise NotImplementedError()", "        raise NotImplementedError()"),
    "sigmoid": cls("Sigmoid", "        raise NotImplementedError()", "        raise NotImplementedError()"),
    "tanh": cls("Tanh", "        raise NotImplementedError()", "        raise NotImplementedError()"),
    "relu": cls("ReLU", "        raise NotImplementedError()", "        raise NotImplementedError()"),
    "leaky_relu": cls("LeakyReLU", "        raise NotImplementedError()", "        raise NotImplementedError()", LEAKY_INIT),
}


def test_reference_solution_gets_full_marks() -> None:
    assert run_graded(ID) == {grade_id: "ok" for grade_id in graded_points(ID)}


def test_release_stubs_lose_every_graded_cell() -> None:
    assert lost_points(ID, STUBS) == graded_points(ID)


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_bug_loses_points(bug: str) -> None:
    grade_id, source, cells = BUGS[bug]
    points = graded_points(ID)
    assert lost_points(ID, {grade_id: source}) == {cell: points[cell] for cell in cells}


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_alternative_solution_keeps_full_marks(name: str) -> None:
    grade_id, source = ALTERNATIVES[name]
    assert lost_points(ID, {grade_id: source}) == {}


def test_failure_message_explains_without_revealing() -> None:
    grade_id, source, _ = BUGS["relu derivative 1 at zero"]
    message = run_graded(ID, {grade_id: source})["test_relu"]
    assert "ReLU.derivative()" in message and "largest error" in message and "hint" in message
    assert "np.maximum" not in message and "> 0" not in message
