"""Lecture mode: JupyterLab on a lecture folder whose first page runs every lecture demo.

    handgrad-lecture [--course DIR] [--out DIR] [--port N] [--build-only]

The lecture folder (default ``.handgrad/lecture``) holds a copy of the release notebooks (a
class can run and edit them without touching ``release/``) and ``LECTURE.ipynb``, which
JupyterLab opens first: one cell per demo of the lib, each runnable on its own without any
exercise solved (reference blocks, torch.optim and small torch models stand in for the
students' code). The widgets are live (``HANDGRAD_HEADLESS=0``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

NAME = "LECTURE.ipynb"

SETUP = """import numpy as np
import torch
from IPython.display import display

from handgrad import blocks, data, live
from handgrad.demos import bn_histograms, conv_filters, jacobian, mlp_units, optimizer_paths

class_names = data.CLASS_NAMES["fashion-mnist"]
n = data.grading_limit("train") or 6000       # small under NBGRADER_EXECUTION (tests), 6000 otherwise
X, y = data.load_arrays("fashion-mnist", split="train", limit=n)
print(f"Fashion-MNIST: {X.shape[0]} images of {X.shape[1]} pixels")"""

# (title, notebook it belongs to, what to show, code): each code cell needs only SETUP. A ";" ends the
# calls whose show() displays the widget and returns it too (else the widget would be shown twice).
DEMOS = [
    ("The softmax Jacobian while one logit moves", "01_derivations",
     "Slide one logit: the probabilities (left) and the Jacobian (right; its column framed).",
     "jacobian.show();"),
    ("Activations of a deep sigmoid network, without and with BatchNorm", "05_batchnorm",
     "Sliders: depth and weight scale. Top row saturates, bottom row (BatchNorm) does not.",
     "bn_histograms.show(X[:512], depth=10, weight_scale=1.0);"),
    ("Live training curves and what the first layer of an MLP learns", "06_mlp",
     "A small torch MLP trains with live curves; then a slider over its first-layer units.",
     """torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
Xt, yt, split = torch.tensor(X, dtype=torch.float32), torch.tensor(y), int(0.8 * len(X))
epochs = 4
with live.LiveCurves(total_epochs=epochs, title="MLP 784-64-10 (torch, Adam)") as curves:
    for epoch in range(epochs):
        order = torch.randperm(split)
        for start in live.progress(range(0, split, 64), desc=f"epoch {epoch + 1}", leave=False):
            batch = order[start:start + 64]
            loss = torch.nn.functional.cross_entropy(net(Xt[batch]), yt[batch])
            opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad():
            logits = net(Xt[split:])
            val_loss = torch.nn.functional.cross_entropy(logits, yt[split:]).item()
            val_error = (logits.argmax(1) != yt[split:]).float().mean().item()
        curves.update(epoch + 1, train_loss=loss.item(), val_loss=val_loss, val_error=val_error)
W, b = net[0].weight.detach().numpy().T, net[0].bias.detach().numpy()
mlp_units.show(W, b, X[split:], y[split:], class_names);"""),
    ("Optimizer paths on 2-D loss surfaces", "07_momentum",
     "Dropdowns: surface and optimizer; sliders: learning rate, momentum (Adam's beta1), steps.",
     "optimizer_paths.show();"),
    ("What a convolutional layer learned", "08_cnn",
     "A small torch CNN trains for one epoch; its filters, and a slider over images and their feature maps.",
     """torch.manual_seed(0)
conv = torch.nn.Conv2d(1, 8, 5, padding=2)
cnn = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.MaxPool2d(4), torch.nn.Flatten(), torch.nn.Linear(392, 10))
opt = torch.optim.Adam(cnn.parameters(), lr=2e-3)
images = torch.tensor(X, dtype=torch.float32).reshape(-1, 1, 28, 28)
for start in live.progress(range(0, len(images), 64), desc="one epoch"):
    loss = torch.nn.functional.cross_entropy(cnn(images[start:start + 64]), torch.tensor(y[start:start + 64]))
    opt.zero_grad(); loss.backward(); opt.step()
conv_filters.show(conv.weight, images[:50].numpy(), lambda batch: torch.relu(conv(torch.tensor(batch).float())),
                  labels=[class_names[c] for c in y[:50]])"""),
]

# Widgets written inside the notebooks themselves (they use the student's code of that notebook).
IN_NOTEBOOKS = [
    ("02_activations", "the depth × activation slider (vanishing gradients)"),
    ("03_loss", "softmax and the loss as one logit and the temperature move"),
    ("04_linear", "which pixels made the linear classifier decide, image by image"),
]


def notebook(release: list[str]) -> nbformat.NotebookNode:
    """The lecture page: a table of contents, the setup cell, then one markdown and one code cell per demo."""
    links = "\n".join(f"- [{course_id}]({course_id}/{course_id}.ipynb)" for course_id in release)
    own = "\n".join(f"- [{course_id}]({course_id}/{course_id}.ipynb): {what} (needs that notebook's exercises)"
                    for course_id, what in IN_NOTEBOOKS if course_id in release)
    cells = [nbformat.v4.new_markdown_cell(
        "# Lecture demos\n\nRun the setup cell, then any demo cell on its own (Shift+Enter): none needs a solved "
        "exercise. Widgets inside the notebooks:\n\n" + own + "\n\nThe notebooks (copies: edit freely):\n\n" + links),
        nbformat.v4.new_code_cell(SETUP)]
    for title, course_id, what, code in DEMOS:
        cells.append(nbformat.v4.new_markdown_cell(f"## {title}\n\nFrom [{course_id}]({course_id}/{course_id}.ipynb). "
                                                   f"{what}"))
        cells.append(nbformat.v4.new_code_cell(code))
    page = nbformat.v4.new_notebook(cells=cells)
    page.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return page


def build(course: Path, out: Path) -> Path:
    """Write the lecture folder: copies of release/<id>/ and LECTURE.ipynb; return the page's path."""
    release = sorted(p.name for p in (course / "release").iterdir() if (p / f"{p.name}.ipynb").is_file())
    if not release:
        raise SystemExit(f"no release notebooks under {course / 'release'} (run `make release`)")
    out.mkdir(parents=True, exist_ok=True)
    for course_id in release:
        shutil.copytree(course / "release" / course_id, out / course_id, dirs_exist_ok=True)
    page = out / NAME
    nbformat.write(notebook(release), page)
    return page


def main(argv: list[str] | None = None) -> int:
    """Build the lecture folder and start JupyterLab on it with LECTURE.ipynb open."""
    parser = argparse.ArgumentParser(prog="handgrad-lecture", description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=Path("."), help="the course folder (default: here)")
    parser.add_argument("--out", type=Path, default=None, help="the lecture folder (default: COURSE/.handgrad/lecture)")
    parser.add_argument("--port", type=int, default=8888, help="JupyterLab's port (default 8888)")
    parser.add_argument("--build-only", action="store_true", help="write the lecture folder, start nothing")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    out = (args.out or course / ".handgrad" / "lecture").resolve()
    page = build(course, out)
    print(f"lecture folder: {out} (open {page.name} first)")
    if args.build_only:
        return 0
    env = dict(os.environ, HANDGRAD_HEADLESS="0")
    command = [str(Path(sys.executable).parent / "jupyter"), "lab", f"--port={args.port}",
               f"--ServerApp.root_dir={out}", f"--LabApp.default_url=/lab/tree/{NAME}"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        command.append("--allow-root")
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
