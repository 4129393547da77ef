"""`handgrad-handout`: build what an instructor gives students, in ``dist/student/``.

The hand-out holds the release notebooks (one folder per assignment, nbgrader's layout),
the student-facing part of the lib as a wheel named ``handgrad`` (the modules the release
notebooks import and whatever those import in turn), the pinned student requirements for
pip (``requirements.txt``) and conda (``environment.yml``), and a README. It never holds
``source/``, ``submitted/``, the hidden-test suites, the grader or this builder: the build
stops with :class:`HandoutError` rather than write a hand-out that would.
"""

from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import io
import json
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

# Modules a student must never receive: hidden tests, the grader, this builder.
FORBIDDEN = ("handgrad.suites", "handgrad.grading", "handgrad.handout")
# What the release notebooks need to run in JupyterLab / Notebook 7 (no nbgrader: students
# only fill in and run notebooks; an nbgrader exchange installs it separately).
STUDENT_PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "tqdm", "ipywidgets", "ipykernel",
                    "jupyterlab", "notebook")
# The distributions the lib itself imports at run time (the wheel's Requires-Dist).
LIB_PACKAGES = ("numpy", "torch", "torchvision", "matplotlib", "tqdm", "ipywidgets")
# Markers that only instructor notebooks carry.
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
# A fixed timestamp so that the same tree always builds the same wheel.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)
# Names the builder writes at the top of the output folder (anything else there: refuse to clear it).
OWN_FILES = re.compile(r"(README\.md|requirements\.txt|environment\.yml|handgrad-.*\.whl|\d\d_\w+)")
# Kept across rebuilds and never part of the hand-out: the folder may be a git repository of its own.
KEEP = ".git"


class HandoutError(RuntimeError):
    """The hand-out cannot be built without leaking instructor material (or the tree is incomplete)."""


@dataclass(frozen=True)
class Handout:
    """What was written: the output folder, the wheel, the lib modules in it and the notebooks."""

    folder: Path
    wheel: Path
    modules: tuple[str, ...]
    notebooks: tuple[Path, ...]

    def files(self) -> list[tuple[str, int]]:
        """Every file of the hand-out as (path relative to the folder, size in bytes), sorted."""
        return [(p.relative_to(self.folder).as_posix(), p.stat().st_size) for p in handout_files(self.folder)]


def handout_files(folder: Path) -> list[Path]:
    """The files of a hand-out folder, sorted (a git repository kept in it is not part of it)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and KEEP not in p.relative_to(folder).parts)


def code_cells(notebook: Path) -> list[str]:
    """The sources of a notebook's code cells, in order."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "code"]


def imported_names(code: str, package: str | None = None) -> set[str]:
    """Dotted names that `code` imports or mentions under ``handgrad`` (``from handgrad import x`` -> handgrad.x)."""
    # Drop IPython magics and shell escapes, which are not Python.
    python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return set(re.findall(r"\bhandgrad(?:\.\w+)*", python))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and package:  # a relative import inside the lib
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}".rstrip(".")
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Attribute):
            parts: list[str] = []
            value: ast.expr = node
            while isinstance(value, ast.Attribute):
                parts.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name):
                names.add(".".join([value.id, *reversed(parts)]))
    return {name for name in names if name == "handgrad" or name.startswith("handgrad.")}


def module_file(lib: Path, name: str) -> Path | None:
    """The file of module `name` under the lib folder (a .py file or a package's __init__.py), if any."""
    path = lib.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def forbidden(name: str) -> bool:
    """Whether module `name` is instructor-only (hidden tests, grader, builder)."""
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def student_modules(lib: Path, notebooks: list[Path]) -> list[str]:
    """The lib modules the notebooks import, with their parent packages and everything they import in turn."""
    wanted: list[tuple[str, str]] = [("handgrad", "the hand-out")]
    wanted += [(name, notebook.name) for notebook in notebooks
               for code in code_cells(notebook) for name in imported_names(code)]
    found: set[str] = set()
    while wanted:
        name, importer = wanted.pop()
        # `handgrad.a.b.attr`: keep the dotted prefixes that are modules.
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            if forbidden(prefix):
                raise HandoutError(f"{importer} imports {prefix}, which students must not receive")
            path = module_file(lib, prefix)
            if path is None or prefix in found:
                continue
            found.add(prefix)
            package = prefix if path.name == "__init__.py" else prefix.rpartition(".")[0]
            wanted.extend((child, prefix) for child in imported_names(path.read_text(encoding="utf-8"), package))
    if "handgrad" not in found:
        raise HandoutError(f"no handgrad package under {lib}")
    return sorted(found)


def lib_version(lib: Path) -> str:
    """The ``__version__`` written in handgrad/__init__.py."""
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""",
                      (lib / "handgrad" / "__init__.py").read_text(encoding="utf-8"), re.MULTILINE)
    if match is None:
        raise HandoutError("lib/handgrad/__init__.py has no __version__")
    return match.group(1)


def pins(requirements: Path, names: tuple[str, ...]) -> list[str]:
    """The lines of `requirements` that pin the given packages, in the order of `names`."""
    found: dict[str, str] = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#")[0].strip()
        match = re.match(r"([A-Za-z0-9_.-]+)\s*={2,3}", requirement)
        if match:
            found[match.group(1).lower()] = requirement.replace(" ", "")
    missing = [name for name in names if name not in found]
    if missing:
        raise HandoutError(f"{requirements} pins none of {missing}")
    return [found[name] for name in names]


def _record_hash(data: bytes) -> str:
    """A RECORD entry's hash: sha256, urlsafe base64 without padding."""
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(lib: Path, modules: list[str], version: str, requires: list[str], folder: Path) -> Path:
    """Write a pure-Python wheel of the given modules (nothing else from lib/) into `folder`."""
    info = f"handgrad-{version}.dist-info"
    members: dict[str, bytes] = {}
    for name in modules:
        path = module_file(lib, name)
        assert path is not None
        members[path.relative_to(lib).as_posix()] = path.read_bytes()
    metadata = [
        "Metadata-Version: 2.1", "Name: handgrad", f"Version: {version}",
        "Summary: Deep learning by hand: the student part of the course library",
        "Requires-Python: >=3.11", *[f"Requires-Dist: {r}" for r in requires], "",
    ]
    members[f"{info}/METADATA"] = "\n".join(metadata).encode()
    members[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: handgrad.handout\n"
                                b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    members[f"{info}/top_level.txt"] = b"handgrad\n"
    record = [f"{name},{_record_hash(data)},{len(data)}" for name, data in members.items()]
    members[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = folder / f"handgrad-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            entry = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    return wheel


def python_version(environment: Path) -> str:
    """The ``python=X.Y`` the course's environment.yml asks conda for (3.11 if it names none)."""
    match = re.search(r"^\s*-\s*python\s*=\s*([0-9.]+)", environment.read_text(encoding="utf-8"), re.MULTILINE)
    return match.group(1) if match else "3.11"


def environment_yml(python: str, requirements: list[str], wheel: str) -> str:
    """A conda environment with the student pins and the course wheel (pip runs in this file's folder)."""
    lines = ["# conda env create -f environment.yml && conda activate handgrad-student",
             "# (the same packages and versions as requirements.txt, plus the course library)",
             "name: handgrad-student", "channels:", "  - conda-forge", "dependencies:",
             f"  - python={python}", "  - pip", "  - pip:"]
    lines += [f"      - {r}" for r in requirements] + [f"      - ./{wheel}"]
    return "\n".join(lines) + "\n"


def requirements_txt(requirements: list[str]) -> str:
    """The pinned student requirements for pip."""
    header = ["# pip install -r requirements.txt handgrad-*.whl   (the versions the notebooks are tested with)",
              "# Three '=' on torch/torchvision: exactly the registry builds."]
    return "\n".join(header + requirements) + "\n"


def readme(version: str, wheel: str, notebooks: list[str]) -> str:
    """The hand-out's README: what is in it, how to install with pip or conda, how to open a notebook, data."""
    first = notebooks[0] if notebooks else "01_derivations/01_derivations.ipynb"
    listing = "\n".join(f"- `{n}`" for n in notebooks)
    return f"""# handgrad: deep learning by hand (student hand-out)

In these notebooks you write the forward and backward passes of a neural network yourself
in numpy, check them against PyTorch, and train them on real data.

## What is here
{listing}
- `{wheel}`: the course library `handgrad` {version} that the notebooks import
  (`from handgrad import checks, data, live, ...`): visible checks, data loading, live
  training curves, lecture demos and the reference blocks later notebooks build on.
- `requirements.txt` (pip) and `environment.yml` (conda): the versions of Python packages
  the notebooks are tested with (torch, numpy, matplotlib, JupyterLab, ...).

## Install (once)
With pip (Python 3.11 or newer), in this folder:

```bash
python3 -m venv .venv
source .venv/bin/activate          # Windows: .venv\\Scripts\\activate
pip install -r requirements.txt {wheel}
```

With conda, in this folder:

```bash
conda env create -f environment.yml
conda activate handgrad-student
```

torch is large: the first install takes a few minutes.

## Open a notebook
```bash
jupyter lab                        # or: jupyter notebook
```
then open `{first}`. Run the setup cell first (it imports the library), read the
explanation, fill in every `# YOUR CODE HERE` (delete the `raise NotImplementedError()`)
and run the **visible check** below each exercise. Until you have written an exercise, its
check stops with `NotImplementedError` / "not implemented yet"; once it is wrong it says
what was compared, the shapes, the largest error and where, and a hint. The read-only
**graded cells** only hold a comment here: the hidden tests run when your instructor
grades your notebook. Do not rename, delete or copy cells, and hand in the `.ipynb` the
way your instructor says.

## Data
The experiments use Fashion-MNIST (about 30 MB to download), found in this order: the folder named by
the `HANDGRAD_DATA` environment variable, `~/.cache/handgrad/data`, `./data`, Debian's
`/usr/share/datasets/fashion-mnist` (`apt install dataset-fashion-mnist`), and otherwise a
download through torchvision on first use. Offline, put the four unpacked idx files
(`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
`t10k-labels-idx1-ubyte`) into `$HANDGRAD_DATA/FashionMNIST/raw/`. If nothing works, the
error lists what was tried and how to fix it.

Widgets (sliders, live curves) need JupyterLab or Notebook 7; set `HANDGRAD_HEADLESS=1`
for text output only.
"""


def leaks(folder: Path) -> list[str]:
    """Files under `folder` (wheel members included) that carry an instructor marker or an instructor module."""
    found: list[str] = []

    def look(name: str, text: str) -> None:
        for marker in MARKERS:
            if marker in text:
                found.append(f"{name}: contains {marker!r}")

    for path in handout_files(folder):
        name = path.relative_to(folder).as_posix()
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    module = member.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
                    if forbidden(module):
                        found.append(f"{name}: holds {member}")
                    look(f"{name}:{member}", archive.read(member).decode("utf-8", "replace"))
        else:
            look(name, path.read_text(encoding="utf-8", errors="replace"))
    return found


def clear(folder: Path) -> None:
    """Empty an earlier hand-out folder (keeping its .git); refuse one that holds anything the builder did not write."""
    if not folder.exists():
        return
    entries = [p for p in folder.iterdir() if p.name != KEEP]
    strangers = [p.name for p in entries if not OWN_FILES.fullmatch(p.name)]
    if strangers:
        raise HandoutError(f"{folder} holds files that are not a hand-out ({', '.join(sorted(strangers)[:5])}): "
                           "choose an empty or new folder")
    for path in entries:
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def build(course: Path, out: Path) -> Handout:
    """Write the hand-out of the course in `course` into the folder `out` (replacing an earlier one)."""
    course, lib = course.resolve(), course.resolve() / "lib"
    assignments = sorted(p for p in (course / "release").iterdir() if (p / f"{p.name}.ipynb").is_file())
    if not assignments:
        raise HandoutError(f"no release notebooks in {course / 'release'}: run `make release` first")
    modules = student_modules(lib, [a / f"{a.name}.ipynb" for a in assignments])
    version = lib_version(lib)
    student = pins(course / "requirements.txt", STUDENT_PACKAGES)
    lib_requires = [re.sub(r"={2,3}", ">=", r) for r in pins(course / "requirements.txt", LIB_PACKAGES)]

    clear(out)
    out.mkdir(parents=True, exist_ok=True)
    notebooks: list[Path] = []
    for assignment in assignments:
        for source in sorted(p for p in assignment.rglob("*") if p.is_file()):
            relative = source.relative_to(assignment)
            if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
                continue
            target = out / assignment.name / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            if target.suffix == ".ipynb":
                notebooks.append(target)
    wheel = build_wheel(lib, modules, version, lib_requires, out)
    (out / "requirements.txt").write_text(requirements_txt(student), encoding="utf-8")
    (out / "environment.yml").write_text(
        environment_yml(python_version(course / "environment.yml"), student, wheel.name), encoding="utf-8")
    (out / "README.md").write_text(
        readme(version, wheel.name, [n.relative_to(out).as_posix() for n in notebooks]), encoding="utf-8")

    problems = leaks(out)
    if problems:
        clear(out)
        raise HandoutError("the hand-out would leak instructor material, nothing written:\n  " + "\n  ".join(problems))
    return Handout(out, wheel, tuple(modules), tuple(notebooks))


def main(argv: list[str] | None = None) -> int:
    """Build the hand-out and print what it holds; exit 1 with the reason when it cannot be built."""
    parser = argparse.ArgumentParser(prog="handgrad-handout", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--course", default=".", help="the course folder (default: the current one)")
    parser.add_argument("--out", default=None, help="output folder (default: COURSE/dist/student)")
    args = parser.parse_args(argv)
    course = Path(args.course)
    out = Path(args.out) if args.out else course / "dist" / "student"
    try:
        handout = build(course, out)
    except HandoutError as error:
        print(f"handgrad-handout: {error}", file=sys.stderr)
        return 1
    files = handout.files()
    stream = io.StringIO()
    for name, size in files:
        stream.write(f"  {size:>9,d}  {name}\n")
    print(f"hand-out written to {handout.folder}: {len(files)} files, {sum(s for _, s in files):,d} bytes")
    print(stream.getvalue(), end="")
    print(f"lib modules in the wheel: {', '.join(handout.modules)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
