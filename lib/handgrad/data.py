"""Find and load the course datasets (Fashion-MNIST, MNIST, CIFAR-10) in torchvision's layout.

``find`` looks for the data in this order: the ``root`` argument, the ``HANDGRAD_DATA``
folder, the known folders (``KNOWN_FOLDERS``), Debian's ``dataset-fashion-mnist`` package
(``DEBIAN_FOLDERS``), and finally torchvision's download. When nothing works it raises
``DataNotFoundError`` saying what it tried and how to fix it; it never makes up data.

The loaders return plain numpy arrays (float64 images, int64 labels). Under nbgrader
(``NBGRADER_EXECUTION`` set) they return small deterministic subsets so a notebook grades
in seconds.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

# Dataset name -> the torchvision class that downloads it (torchvision is imported only to download or to read
# CIFAR-10: it costs about 1.2 s, and the idx files of the MNIST family are read here directly).
DATASETS: dict[str, str] = {"fashion-mnist": "FashionMNIST", "mnist": "MNIST", "cifar10": "CIFAR10"}

CLASS_NAMES: dict[str, list[str]] = {
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "mnist": [str(digit) for digit in range(10)],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"],
}

# Per-channel mean and std of the pixels scaled to [0, 1], over each official training
# split. MNIST: the values of PyTorch's examples/mnist. Fashion-MNIST: computed here over
# all 60000 training images (0.28604, 0.35302). CIFAR-10: the per-channel pixel mean and
# std over the 50000 training images (not the smaller "average per-image std" that
# circulates as 0.2023, 0.1994, 0.2010).
MEAN: dict[str, tuple[float, ...]] = {
    "fashion-mnist": (0.2860,),
    "mnist": (0.1307,),
    "cifar10": (0.4914, 0.4822, 0.4465),
}
STD: dict[str, tuple[float, ...]] = {
    "fashion-mnist": (0.3530,),
    "mnist": (0.3081,),
    "cifar10": (0.2470, 0.2435, 0.2616),
}

# The files torchvision reads, relative to the root folder it is given.
_IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
REQUIRED_FILES: dict[str, list[str]] = {
    "fashion-mnist": [f"FashionMNIST/raw/{f}" for f in _IDX_FILES],
    "mnist": [f"MNIST/raw/{f}" for f in _IDX_FILES],
    "cifar10": [f"cifar-10-batches-py/{f}" for f in
                [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]],
}

ENV_VAR = "HANDGRAD_DATA"
# Where a download or the unpacked Debian files go when HANDGRAD_DATA is not set.
CACHE_DIR = Path("~/.cache/handgrad/data").expanduser()
# Folders searched after HANDGRAD_DATA; "data" is relative to the current folder.
KNOWN_FOLDERS: list[Path] = [CACHE_DIR, Path("data")]
# Debian/Ubuntu's `dataset-fashion-mnist` ships the four gzipped idx files here.
DEBIAN_FOLDERS: dict[str, Path] = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}

# Under grading: subset sizes per split, and the seed of the permutation that picks them.
GRADING_SIZES: dict[str, int] = {"train": 2000, "val": 500, "test": 500}
GRADING_SEED = 0


class DataNotFoundError(FileNotFoundError):
    """Raised when a dataset is in none of the places looked at and cannot be downloaded."""


def _check_name(name: str) -> None:
    """Raise ValueError for a dataset name the course does not know."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")


def _missing(name: str, folder: Path) -> str | None:
    """Return why torchvision cannot read `name` from `folder`, or None if it can."""
    if not folder.is_dir():
        return "folder does not exist"
    for rel in REQUIRED_FILES[name]:
        if not (folder / rel).is_file():
            return f"missing {rel}"
    return None


def _writable_root(tried: list[str]) -> Path | None:
    """Return the folder data is written into (HANDGRAD_DATA, else CACHE_DIR) if writable."""
    env = os.environ.get(ENV_VAR)
    folder = Path(env).expanduser() if env else CACHE_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        tried.append(f"{folder} (to write into): cannot create it: {err}")
        return None
    if not os.access(folder, os.W_OK):
        tried.append(f"{folder} (to write into): not writable")
        return None
    return folder


def _gunzip_debian(source: Path, root: Path) -> None:
    """Gunzip Debian's Fashion-MNIST idx files into `root`/FashionMNIST/raw/, atomically."""
    # torchvision's checksums are those of its own .gz files, which differ from Debian's,
    # but it accepts the unpacked idx files without a checksum.
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in _IDX_FILES:
        target = raw / name
        if target.is_file():
            continue
        # Unpack to a private temp name, then rename: a process racing us never sees a
        # half-written file, and both renames put the same bytes in place.
        fd, tmp = tempfile.mkstemp(dir=raw, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out, gzip.open(source / f"{name}.gz", "rb") as src:
                shutil.copyfileobj(src, out)
            os.chmod(tmp, 0o644)  # mkstemp makes it private; the data is for every user
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


def _fix_hint(name: str) -> str:
    """Return the ways to make `name` available, as lines of text."""
    files = ", ".join(f"<folder>/{rel}" for rel in REQUIRED_FILES[name][:2]) + ", ..."
    lines = [f"  - set {ENV_VAR} to a folder holding torchvision's layout ({files})"]
    if name in DEBIAN_FOLDERS:
        lines.append("  - on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist")
    lines.append("  - connect to the internet so torchvision can download it")
    return "\n".join(lines)


def find(name: str = "fashion-mnist", root: str | os.PathLike | None = None,
         download: bool = True) -> Path:
    """Return the root folder torchvision can read dataset `name` from (see module doc)."""
    _check_name(name)
    tried: list[str] = []
    env = os.environ.get(ENV_VAR)
    candidates: list[tuple[Path, str]] = []
    if root is not None:
        candidates.append((Path(root).expanduser(), "root argument"))
    else:
        tried.append("root argument: not given")
    if env:
        candidates.append((Path(env).expanduser(), ENV_VAR))
    else:
        tried.append(f"{ENV_VAR}: not set")
    candidates += [(folder, "known folder") for folder in KNOWN_FOLDERS]

    for folder, label in candidates:
        reason = _missing(name, folder)
        if reason is None:
            return folder
        tried.append(f"{folder.absolute()} ({label}): {reason}")

    # Debian's folder is a source to unpack from, not a folder torchvision can read.
    debian = DEBIAN_FOLDERS.get(name)
    if debian is not None:
        gone = [f"{f}.gz" for f in _IDX_FILES if not (debian / f"{f}.gz").is_file()]
        if gone:
            reason = "folder does not exist" if not debian.is_dir() else f"missing {gone[0]}"
            tried.append(f"{debian} (Debian package dataset-fashion-mnist): {reason}")
            debian = None
    # Both the Debian files and a download are written into the one writable root.
    target = _writable_root(tried) if debian is not None or download else None

    if debian is not None and target is not None:
        try:
            _gunzip_debian(debian, target)
            return target
        except OSError as err:
            tried.append(f"{debian} (Debian package): unpacking into {target} failed: {err}")

    if download and target is not None:
        try:
            _torchvision_class(name)(str(target), train=False, download=True)
        except (RuntimeError, OSError) as err:
            tried.append(f"download into {target}: {type(err).__name__}: {err}".rstrip())
        else:
            reason = _missing(name, target)
            if reason is None:
                return target
            tried.append(f"download into {target}: finished but {reason}")
    if not download:
        tried.append("download: not attempted (download=False)")

    raise DataNotFoundError(
        f"Could not find the {name} dataset. Tried:\n"
        # Indent the continuation lines of multi-line errors (torchvision's download).
        + "\n".join("  - " + line.replace("\n", "\n      ") for line in tried)
        + "\nTo fix it, do one of:\n" + _fix_hint(name))


def grading_limit(split: str) -> int | None:
    """Return the subset size for `split` under nbgrader (NBGRADER_EXECUTION set), else None."""
    if split not in GRADING_SIZES:
        raise ValueError(f"unknown split {split!r}; choose one of {sorted(GRADING_SIZES)}")
    return GRADING_SIZES[split] if os.environ.get("NBGRADER_EXECUTION") else None


def _grading_indices(n_total: int, split: str) -> np.ndarray:
    """Return the indices to keep of `split`: all of them, or under grading a fixed subset."""
    limit = grading_limit(split)
    if limit is None:
        return np.arange(n_total)
    # The first n of a fixed-seed permutation: the same samples on every run, about n/C
    # of each class.
    return np.random.default_rng(GRADING_SEED).permutation(n_total)[:limit]


def _torchvision_class(name: str) -> Any:
    """The torchvision dataset class of `name`."""
    import torchvision

    return getattr(torchvision.datasets, DATASETS[name])


def read_idx(path: Path) -> np.ndarray:
    """The array stored in an (uncompressed) idx file of unsigned bytes: MNIST's format."""
    raw = path.read_bytes()
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an idx file of unsigned bytes (its first bytes are {raw[:4]!r})")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    values = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {values.size} values, its header says {shape}")
    return values.reshape(shape)


def _raw(name: str, split: str, root: str | os.PathLike | None) -> tuple[np.ndarray, np.ndarray]:
    """Return the whole official `split` as uint8 images (N, C, H, W) and int64 labels (N,)."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    folder = find(name, root)  # first: it also rejects an unknown name
    if name in ("fashion-mnist", "mnist"):   # the files torchvision reads, read the way it reads them
        prefix = "train" if split == "train" else "t10k"
        raw = (folder / REQUIRED_FILES[name][0]).parent
        images = read_idx(raw / f"{prefix}-images-idx3-ubyte")[:, None, :, :]
        return images, read_idx(raw / f"{prefix}-labels-idx1-ubyte").astype(np.int64)
    dataset = _torchvision_class(name)(str(folder), train=split == "train", download=False)
    # Whole tensors at once: going through __getitem__ builds one PIL image per sample. CIFAR-10: (N, H, W, C).
    images = np.asarray(dataset.data, dtype=np.uint8).transpose(0, 3, 1, 2)
    return images, np.asarray(dataset.targets, dtype=np.int64)


def _to_float(images: np.ndarray, name: str, flatten: bool, normalize: bool) -> np.ndarray:
    """Scale uint8 (N, C, H, W) images to float64 in [0, 1], standardise, maybe flatten."""
    # In place on the fresh copy: a full training set is 376 MB of float64 per temporary.
    x = images.astype(np.float64)
    x /= 255.0
    if normalize:
        x -= np.array(MEAN[name]).reshape(1, -1, 1, 1)
        x /= np.array(STD[name]).reshape(1, -1, 1, 1)
    return x.reshape(len(x), -1) if flatten else x


def load_arrays(name: str = "fashion-mnist", split: str = "train",
                root: str | os.PathLike | None = None, flatten: bool = True,
                normalize: bool = True, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (X, y) of the official `split` ("train"/"test"): X float64, y int64."""
    # `limit` keeps the first `limit` samples; without it, grading takes its fixed subset.
    # Images flatten in (C, H, W) order.
    images, labels = _raw(name, split, root)
    if limit is not None:
        index = np.arange(min(limit, len(labels)))
    else:
        index = _grading_indices(len(labels), split)
    return _to_float(images[index], name, flatten, normalize), labels[index]


def load_splits(name: str = "fashion-mnist", val_size: int = 10000,
                root: str | os.PathLike | None = None, flatten: bool = True,
                normalize: bool = True, seed: int = 0,
                ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray],
                           tuple[np.ndarray, np.ndarray]]:
    """Return (train, val, test) as (X, y) pairs; val is carved from the official train split."""
    images, labels = _raw(name, "train", root)
    if not 0 <= val_size < len(labels):
        raise ValueError(f"val_size must be in [0, {len(labels)}), got {val_size}")
    order = np.random.default_rng(seed).permutation(len(labels))
    val_index, train_index = order[:val_size], order[val_size:]
    # Both parts are already in random order, so their first n are a fair subset
    # (a limit of None, outside grading, keeps them whole).
    train_index = train_index[:grading_limit("train")]
    val_index = val_index[:grading_limit("val")]
    test_images, test_labels = _raw(name, "test", root)
    test_index = _grading_indices(len(test_labels), "test")
    return ((_to_float(images[train_index], name, flatten, normalize), labels[train_index]),
            (_to_float(images[val_index], name, flatten, normalize), labels[val_index]),
            (_to_float(test_images[test_index], name, flatten, normalize), test_labels[test_index]))


def loaders(name: str = "fashion-mnist", batch_size: int = 128,
            root: str | os.PathLike | None = None, val_size: int = 10000, seed: int = 0,
            normalize: bool = True) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Return (train, val, test) DataLoaders of float32 (N, C, H, W) images and int64 labels."""
    splits = load_splits(name, val_size=val_size, root=root, flatten=False,
                         normalize=normalize, seed=seed)
    datasets = [TensorDataset(torch.from_numpy(x).float(), torch.from_numpy(y)) for x, y in splits]
    # A seeded generator makes the shuffling order reproducible run to run.
    train = DataLoader(datasets[0], batch_size=batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(seed))
    return (train, DataLoader(datasets[1], batch_size=batch_size),
            DataLoader(datasets[2], batch_size=batch_size))
