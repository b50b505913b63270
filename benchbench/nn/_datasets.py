"""Full training datasets for the trainer: the bundled digits, CIFAR-10 (and NB201's
``cifar10-valid`` split), CIFAR-100 and ImageNet16-120 from a local folder.  Nothing is
ever downloaded.

=================  ==============================================  =========================
dataset            train / valid / test                            files (under ``root``)
=================  ==============================================  =========================
``digits``         scikit-learn's 1,797 8x8 grey handwritten       none (ships with
                   digits, 10 classes; a fixed permutation gives   scikit-learn)
                   valid = 400, test = 400, train = the other 997
``cifar10-valid``  train: 25k of the 50k train images; valid: the  ``cifar-10-batches-py/``
                   other 25k; test: the 10k test set               ``data_batch_1..5``,
                                                                   ``test_batch``
``cifar10``        train: all 50k; test: the 10k test set          same
                   (no valid split, as in NB201)
``cifar100``       train: 50k; valid / test: the two 5k halves of  ``cifar-100-python/``
                   the test set; valtest: the whole test set       ``train``, ``test``
``ImageNet16-120`` train: the 16x16 down-sampled ImageNet train    ``ImageNet16/``
                   images of classes 1..120 (shifted to 0..119);   ``train_data_batch_1..10``,
                   valid / test: two halves of its validation      ``val_data``
                   images; valtest: all of them
=================  ==============================================  =========================

The standard python-pickle formats are read (``root`` may also be the inner folder).
The 25k/25k and half/half splits are fixed seeded permutations (``benchbench.rng``), not
NB201's own split files, which are not distributed with the datasets: numbers are
comparable in distribution, not image for image.

Images are kept as ``uint8`` (``(N, C, H, W)``) and standardised per batch with
:meth:`ImageData.normalise` (the per-channel mean / std NB201 used; digits: the pixel mean /
std of the whole digits set).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import Direction, Metric, accuracy_metric, loss_metric, unknown
from benchbench.nn._data import _find, _unpickle
from benchbench.nn._torch import require_torch
from benchbench.rng import make_rng

torch = require_torch()

__all__ = ["TRAIN_DATASETS", "ImageData", "dataset_metrics", "load_dataset"]

TRAIN_DATASETS: tuple[str, ...] = ("digits", "cifar10-valid", "cifar10", "cifar100",
                                   "ImageNet16-120")

_NORM = {  # NB201's per-channel mean / std (on 0..255 pixel values)
    "cifar10": ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7)),
    "cifar100": ((129.3, 124.1, 112.4), (68.2, 65.4, 70.4)),
    "ImageNet16-120": ((122.68, 116.66, 104.01), (63.22, 61.26, 65.09)),
}
#: Which evaluation splits each dataset has (``valtest`` is computed from valid + test).
EVAL_SPLITS: dict[str, tuple[str, ...]] = {
    "digits": ("valid", "test"),
    "cifar10-valid": ("valid", "test"),
    "cifar10": ("test",),
    "cifar100": ("valid", "test", "valtest"),
    "ImageNet16-120": ("valid", "test", "valtest"),
}
_SPLIT_DESC = {
    ("digits", "train"): "the digits train split (first n of 997 fixed images)",
    ("digits", "valid"): "400 fixed held-out digits images",
    ("digits", "test"): "400 other fixed held-out digits images",
    ("cifar10-valid", "train"): "25k of the CIFAR-10 train set",
    ("cifar10-valid", "valid"): "the other 25k of the CIFAR-10 train set",
    ("cifar10-valid", "test"): "the 10k CIFAR-10 test set",
    ("cifar10", "train"): "all 50k CIFAR-10 train images",
    ("cifar10", "test"): "the 10k CIFAR-10 test set (trained on all 50k)",
    ("cifar100", "train"): "the 50k CIFAR-100 train images",
    ("cifar100", "valid"): "a fixed 5k half of the CIFAR-100 test set",
    ("cifar100", "test"): "the other 5k half of the CIFAR-100 test set",
    ("cifar100", "valtest"): "the whole 10k CIFAR-100 test set (valid + test)",
    ("ImageNet16-120", "train"): "ImageNet16 train images of classes 1..120",
    ("ImageNet16-120", "valid"): "a fixed half of the ImageNet16-120 validation images",
    ("ImageNet16-120", "test"): "the other half",
    ("ImageNet16-120", "valtest"): "all ImageNet16-120 validation images (valid + test)",
}


def dataset_metrics(dataset: str) -> tuple[Metric, ...]:
    """Metrics the trainer records on ``dataset``, named as in the NB201 tables:
    ``train_acc/loss`` (running average over each epoch, in train mode), ``<split>_acc/loss``
    for each evaluation split (after each epoch, in eval mode), ``params`` and ``flops``."""
    if dataset not in EVAL_SPLITS:
        raise unknown("training dataset", dataset, TRAIN_DATASETS)
    out: list[Metric] = []
    for split in ("train", *EVAL_SPLITS[dataset]):
        desc = _SPLIT_DESC[dataset, split]
        if split == "train":
            desc += ", running average over the epoch"
        out += [accuracy_metric(split, desc), loss_metric(split, desc)]
    out.append(Metric("params", None, Direction.MINIMIZE, 0.0, math.inf, "M",
                      "parameters, millions"))
    out.append(Metric("flops", None, Direction.MINIMIZE, 0.0, math.inf, "MFLOPs",
                      "multiply-accumulates of one forward pass of one image, millions"))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class ImageData:
    """A dataset held in memory.

    Attributes:
        name: one of :data:`TRAIN_DATASETS`.
        num_classes: labels are ``0..num_classes-1``.
        train_x: ``uint8`` tensor ``(N, C, H, W)`` (C = 1 for digits, 3 otherwise).
        train_y: ``int64`` tensor ``(N,)``.
        eval_sets: split name (``"valid"``, ``"test"``) -> ``(x, y)`` as above.
        scale: pixel values are divided by this before standardising (255, digits 16).
        mean, std: per-channel standardisation of the scaled values.
        crop_padding: zero padding of the standard random-crop augmentation (0: none).
        flip: whether the standard augmentation flips horizontally.
        sha256: checksum of the images and labels (all splits), identifies the data.
    """

    name: str
    num_classes: int
    train_x: Any
    train_y: Any
    eval_sets: Mapping[str, tuple[Any, Any]]
    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: int
    flip: bool
    sha256: str
    _norm: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(3, H, W)``: what a network sees (grey images are repeated over 3 channels)."""
        return (3, int(self.train_x.shape[2]), int(self.train_x.shape[3]))

    @property
    def eval_splits(self) -> tuple[str, ...]:
        """Splits recorded after each epoch (including the derived ``valtest``)."""
        return EVAL_SPLITS[self.name]

    def subset(self, n_train: int | None) -> ImageData:
        """The same data with the first ``n_train`` images of a fixed permutation of the
        train split (``None``: all of them)."""
        n = int(self.train_y.shape[0])
        if n_train is None or n_train == n:
            return self
        if isinstance(n_train, bool) or not isinstance(n_train, int) or not 1 <= n_train <= n:
            raise ValueError(f"train_images must be an int in 1..{n} for {self.name!r}, "
                             f"got {n_train!r}")
        idx = np.sort(make_rng(0, "train-subset", self.name).permutation(n)[:n_train])
        t = torch.from_numpy(idx)
        return ImageData(self.name, self.num_classes, self.train_x[t], self.train_y[t],
                         self.eval_sets, self.scale, self.mean, self.std, self.crop_padding,
                         self.flip, self.sha256)

    def normalise(self, x: Any, device: Any = None) -> Any:
        """``uint8 (B, C, H, W)`` -> standardised ``float32 (B, 3, H, W)`` on ``device``."""
        dev = torch.device("cpu") if device is None else torch.device(device)
        key = str(dev)
        ms = self._norm.get(key)
        if ms is None:
            c = len(self.mean)
            m = torch.tensor(self.mean, dtype=torch.float32).reshape(1, c, 1, 1)
            s = torch.tensor(self.std, dtype=torch.float32).reshape(1, c, 1, 1)
            ms = self._norm[key] = ((m * self.scale).to(dev), (s * self.scale).to(dev))
        x = x.to(dev, non_blocking=True)
        out = (x.to(torch.float32) - ms[0]) / ms[1]
        if out.shape[1] == 1:
            out = out.expand(-1, 3, -1, -1).contiguous()
        return out


def _sha(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _make(name: str, num_classes: int, train: tuple[np.ndarray, np.ndarray],
          evals: dict[str, tuple[np.ndarray, np.ndarray]], scale: float,
          mean: tuple[float, ...], std: tuple[float, ...], crop: int, flip: bool) -> ImageData:
    arrays = [train[0], train[1]] + [a for xy in evals.values() for a in xy]
    sha = _sha(*arrays)

    def t(x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        return (torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)),
                torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)))

    tx, ty = t(*train)
    return ImageData(name, num_classes, tx, ty, {k: t(*v) for k, v in evals.items()}, scale,
                     mean, std, crop, flip, sha)


def _halves(name: str, x: np.ndarray, y: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    perm = make_rng(0, "valid-test-split", name).permutation(len(y))
    a, b = np.sort(perm[: len(y) // 2]), np.sort(perm[len(y) // 2:])
    return {"valid": (x[a], y[a]), "test": (x[b], y[b])}


def load_dataset(name: str, root: str | Path | None = None) -> ImageData:
    """Load a training dataset (see the module docstring for splits and files).

    Args:
        name: one of :data:`TRAIN_DATASETS`.
        root: folder holding the local dataset files (not needed for ``"digits"``).

    Raises:
        FileNotFoundError: a local dataset's files are missing (the message names them).
    """
    if name not in TRAIN_DATASETS:
        raise unknown("training dataset", name, TRAIN_DATASETS)
    if name == "digits":
        return _digits()
    if root is None:
        raise ValueError(f"dataset {name!r} needs a folder holding its files (root=...); "
                         f"nothing is downloaded (use 'digits' offline)")
    root = Path(root).expanduser()
    if name in ("cifar10", "cifar10-valid"):
        files = _find(root, "cifar-10-batches-py",
                      [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], name)
        parts = [_unpickle(p) for p in files]
        x = np.concatenate([np.asarray(p["data"], dtype=np.uint8) for p in parts[:5]])
        y = np.concatenate([np.asarray(p["labels"]) for p in parts[:5]])
        tx = np.asarray(parts[5]["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        ty = np.asarray(parts[5]["labels"])
        x = x.reshape(-1, 3, 32, 32)
        if name == "cifar10":
            return _make(name, 10, (x, y), {"test": (tx, ty)}, 255.0, *_norm("cifar10"), 4,
                         True)
        h = _halves("cifar10-train", x, y)
        return _make(name, 10, h["valid"], {"valid": h["test"], "test": (tx, ty)}, 255.0,
                     *_norm("cifar10"), 4, True)
    if name == "cifar100":
        tr, te = (_unpickle(p) for p in _find(root, "cifar-100-python", ["train", "test"], name))
        x = np.asarray(tr["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        tx = np.asarray(te["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        return _make(name, 100, (x, np.asarray(tr["fine_labels"])),
                     _halves(name, tx, np.asarray(te["fine_labels"])), 255.0,
                     *_norm(name), 4, True)
    files = _find(root, "ImageNet16", [f"train_data_batch_{i}" for i in range(1, 11)]
                  + ["val_data"], name)
    xs, ys = [], []
    for p in files[:10]:
        d = _unpickle(p)
        lab = np.asarray(d["labels"])
        keep = (lab >= 1) & (lab <= 120)
        xs.append(np.asarray(d["data"], dtype=np.uint8)[keep])
        ys.append(lab[keep] - 1)
    v = _unpickle(files[10])
    vl = np.asarray(v["labels"])
    keep = (vl >= 1) & (vl <= 120)
    vx = np.asarray(v["data"], dtype=np.uint8)[keep].reshape(-1, 3, 16, 16)
    return _make(name, 120, (np.concatenate(xs).reshape(-1, 3, 16, 16), np.concatenate(ys)),
                 _halves(name, vx, vl[keep] - 1), 255.0, *_norm(name), 2, True)


def _norm(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    m, s = _NORM[name]
    return tuple(v / 255.0 for v in m), tuple(v / 255.0 for v in s)


_DIGITS: list[ImageData] = []


def _digits() -> ImageData:
    if _DIGITS:
        return _DIGITS[0]
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the bundled 'digits' dataset needs scikit-learn: "
                          "pip install 'benchbench[torch]'") from e
    d = load_digits()
    x = d.images.astype(np.uint8)[:, None]  # values 0..16
    y = d.target.astype(np.int64)
    perm = make_rng(0, "digits-split").permutation(len(y))
    va, te, tr = (np.sort(perm[:400]), np.sort(perm[400:800]), np.sort(perm[800:]))
    scaled = x.astype(np.float64) / 16.0
    mean, std = float(scaled.mean()), float(scaled.std())
    data = _make("digits", 10, (x[tr], y[tr]), {"valid": (x[va], y[va]), "test": (x[te], y[te])},
                 16.0, (mean,), (std,), 0, False)
    _DIGITS.append(data)
    return data
