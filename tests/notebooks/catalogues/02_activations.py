"""02_activations' bug catalogue: wrong activation classes and the graded cells each loses;
differently written correct classes that keep full marks. Run by tests/notebooks/test_catalogues.py.

Every entry replaces a whole solution cell (``old=None``) by a class written here."""

from __future__ import annotations

from tests.notebooks.catalogue import Alternative, Bug, Catalogue, Edit

LEAKY_INIT = "    def __init__(self, alpha=0.01):\n        super().__init__()\n        self.alpha = alpha\n"
CELLS = {"Identity": "identity", "Sigmoid": "sigmoid", "Tanh": "tanh", "ReLU": "relu", "LeakyReLU": "leaky_relu"}


def cls(name: str, forward: str, derivative: str) -> Edit:
    """Replace the cell of activation ``name`` by a class with these method bodies (4-space indented lines)."""
    init = LEAKY_INIT if name == "LeakyReLU" else ""
    return (CELLS[name], None, f"class {name}(Activation):\n{init}"
                               f"    def forward(self, z):\n{forward}\n"
                               f"    def derivative(self):\n{derivative}\n")


# name -> (the one replaced cell, the graded cells it must lose)
BUGS: dict[str, tuple[Edit, set[str]]] = {
    "identity derivative is a scalar 1": (
        cls("Identity", "        self.state = z\n        return z", "        return 1.0"), {"test_identity"}),
    "identity derivative of one row's shape (d,)": (
        cls("Identity", "        self.state = z\n        return z", "        return np.ones(self.state.shape[1])"),
        {"test_identity"}),
    "naive sigmoid overflows": (
        cls("Sigmoid", "        self.state = 1 / (1 + np.exp(-z))\n        return self.state",
            "        return self.state * (1 - self.state)"), {"test_sigmoid_stable"}),
    "sigmoid with np.where still overflows in the unused branch": (
        cls("Sigmoid", "        self.state = np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))\n"
                       "        return self.state", "        return self.state * (1 - self.state)"),
        {"test_sigmoid_stable"}),
    "sigmoid derivative from the input instead of the output": (
        cls("Sigmoid", "        self.z = z\n        self.state = 0.5 * (1 + np.tanh(z / 2))\n        return self.state",
            "        return self.z * (1 - self.z)"), {"test_sigmoid", "test_sigmoid_stable"}),
    "sigmoid state cached from the first call only (stale)": (
        cls("Sigmoid", "        s = 0.5 * (1 + np.tanh(z / 2))\n        if self.state is None:\n"
                       "            self.state = s\n        return s",
            "        return self.state * (1 - self.state)"), {"test_sigmoid"}),
    "tanh derivative 1 - tanh (forgot the square)": (
        cls("Tanh", "        self.state = np.tanh(z)\n        return self.state", "        return 1 - self.state"),
        {"test_tanh"}),
    "tanh computed in place on the input": (
        cls("Tanh", "        np.tanh(z, out=z)\n        self.state = z\n        return z",
            "        return 1 - self.state ** 2"), {"test_tanh"}),
    "relu derivative 1 at zero": (
        cls("ReLU", "        self.state = z\n        return np.maximum(z, 0)",
            "        return (self.state >= 0).astype(float)"), {"test_relu"}),
    "relu zeroes negatives in place": (
        cls("ReLU", "        z[z < 0] = 0\n        self.state = z\n        return z",
            "        return (self.state > 0).astype(float)"), {"test_relu"}),
    "relu derivative returns a bool array shape (B,) summed": (
        cls("ReLU", "        self.state = z\n        return np.maximum(z, 0)",
            "        return (self.state > 0).sum(axis=1)"), {"test_relu"}),
    # stale state: each is caught only by interleaved calls (forward, derivative, forward of another shape, ...)
    "identity derivative: ones of the first input's shape, kept": (
        cls("Identity", "        self.state = z\n        return z.copy()",
            "        if getattr(self, 'ones', None) is None:\n            self.ones = np.ones_like(self.state)\n"
            "        return self.ones"), {"test_identity"}),
    "sigmoid derivative computed once and cached": (
        cls("Sigmoid", "        self.state = 0.5 * (1 + np.tanh(z / 2))\n        return self.state.copy()",
            "        if getattr(self, 'grad', None) is None:\n            self.grad = self.state * (1 - self.state)\n"
            "        return self.grad"), {"test_sigmoid"}),
    "relu derivative mask computed once and cached": (
        cls("ReLU", "        self.state = np.maximum(z, 0.0)\n        return self.state.copy()",
            "        if getattr(self, 'mask', None) is None:\n            self.mask = (self.state > 0) * 1.0\n"
            "        return self.mask"), {"test_relu"}),
    "tanh forward returns its first output again": (
        cls("Tanh", "        if self.state is None:\n            self.state = np.tanh(z)\n"
                    "        return self.state.copy()",
            "        return 1 - self.state ** 2"), {"test_tanh"}),
    # a numpy exercise that hands its work to torch (here through the course's own oracles) scores 0
    "sigmoid delegated to torch through handgrad.oracles": (
        cls("Sigmoid", "        from handgrad import oracles\n        import torch\n"
                       "        self.state, self.grad = oracles.elementwise(torch.sigmoid, z)\n"
                       "        return self.state.copy()", "        return self.grad"),
        {"test_sigmoid", "test_sigmoid_stable"}),
    "leaky relu derivative 0 at zero": (
        cls("LeakyReLU", "        self.state = z\n        return np.where(z > 0, z, self.alpha * z)",
            "        return np.where(self.state >= 0, 1.0, self.alpha)"), {"test_leaky_relu"}),
    "leaky relu ignores alpha (hard-coded 0.01)": (
        cls("LeakyReLU", "        self.state = z\n        return np.where(z > 0, z, 0.01 * z)",
            "        return np.where(self.state > 0, 1.0, 0.01)"), {"test_leaky_relu"}),
}

# Correct answers written differently: full marks.
ALTERNATIVES: dict[str, Edit] = {
    "sigmoid via tanh": cls("Sigmoid", "        self.state = 0.5 * (1.0 + np.tanh(0.5 * z))\n        return self.state",
                            "        return self.state - self.state ** 2"),
    "sigmoid via exp(-|z|)": cls(
        "Sigmoid", "        e = np.exp(-np.abs(z))\n        self.state = np.where(z >= 0, 1 / (1 + e), e / (1 + e))\n"
                   "        return self.state", "        return self.state * (1 - self.state)"),
    "relu via masking": cls("ReLU", "        self.mask = z > 0\n        self.state = z * self.mask\n"
                                    "        return z * self.mask", "        return self.mask * 1.0"),
    "relu via np.maximum and np.heaviside": cls(
        "ReLU", "        self.state = np.array(z)\n        return np.maximum(0, z)",
        "        return np.heaviside(self.state, 0.0)"),
    "tanh via sigmoid identity": cls(
        "Tanh", "        self.state = 2 / (1 + np.exp(-2 * np.clip(z, -300, 300))) - 1\n        return self.state",
        "        return (1 - self.state) * (1 + self.state)"),
    "leaky relu via np.maximum": cls(
        "LeakyReLU", "        self.state = z.copy()\n        return np.maximum(z, 0) + self.alpha * np.minimum(z, 0)",
        "        return np.where(self.state > 0, 1.0, self.alpha)"),
    "identity returning the same object": cls("Identity", "        self.state = z\n        return z",
                                              "        return np.ones(self.state.shape)"),
}

SAYS = {"relu derivative 1 at zero": "ReLU.derivative()",
        "sigmoid derivative computed once and cached": "LAST forward",
        "relu derivative mask computed once and cached": "LAST forward",
        "tanh forward returns its first output again": "the second forward",
        "sigmoid delegated to torch through handgrad.oracles": "written with numpy"}

CATALOGUE = Catalogue(
    assignment="02_activations",
    bugs=[Bug(name, [edit], loses, says=SAYS.get(name, "")) for name, (edit, loses) in BUGS.items()],
    alternatives=[Alternative(name, [edit]) for name, edit in ALTERNATIVES.items()],
    # submitted/buggy: two classic mistakes.
    buggy_sample=("naive sigmoid overflows", "relu derivative 1 at zero"),
)
