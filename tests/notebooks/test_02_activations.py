"""02_activations beyond its catalogue: a failing check explains the mistake without revealing the solution."""

from __future__ import annotations

from tests.notebooks import catalogue, harness

ASSIGNMENT = "02_activations"


def test_failure_message_explains_without_revealing() -> None:
    bug = catalogue.load(ASSIGNMENT).bug("relu derivative 1 at zero")
    message = harness.run_graded(ASSIGNMENT, catalogue.apply(ASSIGNMENT, bug.edits))["test_relu"]
    assert "ReLU.derivative()" in message and "largest error" in message and "hint" in message
    assert "np.maximum" not in message and "> 0" not in message
