"""Hidden-test suites, one module per notebook: torch oracles run through the check helpers.

A hidden test cell is then a line or two (``activations.check_forward_and_derivative(...)``).
The suites compute every expected value with torch in the test itself; they hold no
solution of an open exercise.
"""
