"""Images for the networks, from one place: the training datasets of the trainer
(:func:`load_dataset` -> :class:`ImageData`) and single batches for the zero-cost proxies
(:func:`load_batch` -> :class:`Batch`).  Nothing is ever downloaded.

**Formats.**  Each file format has one reader (:func:`_read`, :func:`_read_digits`) and one
row of :data:`_FORMATS` (its folder, files, label key, image side, classes kept, NB201's
per-channel normalisation and the crop padding of its augmentation); the datasets and the
batches are both cut from what those readers return.  ``root`` may be the folder holding
the format's folder or that folder itself.

==============  ====================  ====================================  =================
format          folder under root     train files / test files              images
==============  ====================  ====================================  =================
digits          none (scikit-learn)   the 1,797 bundled 8x8 digits          1x8x8, 0..16
cifar10         cifar-10-batches-py   ``data_batch_1..5`` / ``test_batch``  3x32x32, 0..255
cifar100        cifar-100-python      ``train`` / ``test`` (fine labels)    3x32x32, 0..255
imagenet16      ImageNet16            ``train_data_batch_1..10`` /          3x16x16, 0..255
                                      ``val_data``; classes 1..120 only,
                                      shifted to 0..119
==============  ====================  ====================================  =================

**Training datasets** (:data:`TRAIN_DATASETS`, for :class:`~benchbench.nn.Trainer`):

=================  ==============================================================
dataset            train / valid / test
=================  ==============================================================
``digits``         a fixed permutation gives valid = 400, test = 400 images, train =
                   the other 997
``cifar10-valid``  train: 25k of the 50k train images; valid: the other 25k; test:
                   the 10k test set
``cifar10``        train: all 50k; test: the 10k test set (no valid split, as in NB201)
``cifar100``       train: 50k; valid / test: the two 5k halves of the test set;
                   valtest: the whole test set
``ImageNet16-120`` train: the train images of classes 1..120; valid / test: two halves
                   of its validation images; valtest: all of them
=================  ==============================================================

The 25k/25k and half/half splits are fixed seeded permutations (``benchbench.rng``), not
NB201's own split files, which are not distributed with the datasets: numbers are comparable
in distribution, not image for image.  Images are kept as ``uint8`` ``(N, C, H, W)`` and
standardised per batch by :meth:`ImageData.normalise` (NB201's per-channel mean / std;
digits: the pixel mean / std of the whole digits set).

**Batch sources** (:data:`BATCH_SOURCES`, for :func:`load_batch`):

* ``"digits"`` (default, offline): the whole digits set, scaled to [0, 1], standardised by
  its pixel mean / std, bilinearly upsampled to ``image_size`` and repeated over 3 channels.
* ``"random"``: ``x ~ N(0, 1)`` of shape ``(B, 3, image_size, image_size)``, labels uniform
  in ``0..num_classes-1``, both from the seed.
* ``"cifar10"`` / ``"cifar100"``: the train files of the format, 32x32.
* ``"imagenet16-120"``: only ``train_data_batch_1`` (about 1/10 of the train split, to keep a
  batch cheap), 16x16, classes 1..120 shifted to 0..119.

Batch images are drawn uniformly without replacement with a generator seeded by ``seed``:
the same seed always gives the same batch.
"""

from __future__ import annotations

import functools
import hashlib
import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchbench import _safe_pickle
from benchbench.api import Direction, Metric, accuracy_metric, loss_metric, unknown
from benchbench.nn._torch import require_torch
from benchbench.protocols import check_int
from benchbench.rng import make_rng

torch = require_torch()

__all__ = ["BATCH_SOURCES", "EVAL_SPLITS", "TRAIN_DATASETS", "Batch", "ImageData",
           "dataset_metrics", "load_batch", "load_dataset"]

#: Training datasets of :func:`load_dataset`.
TRAIN_DATASETS: tuple[str, ...] = ("digits", "cifar10-valid", "cifar10", "cifar100",
                                   "ImageNet16-120")
#: Sources of :func:`load_batch`.
BATCH_SOURCES: tuple[str, ...] = ("digits", "random", "cifar10", "cifar100", "imagenet16-120")


# ----------------------------------------------------------------------------- formats
@dataclass(frozen=True)
class _Format:
    """One python-pickle file format (see the module docstring's table).

    Attributes:
        folder: the format's folder under ``root``.
        train, test: its file names of the train and test splits.
        labels: the key of the labels in each file.
        side: images are ``3 x side x side``, stored row-major as ``(n, 3*side*side)``.
        classes: labels kept: ``first .. first + classes - 1``, shifted to ``0..classes-1``.
        first: the first label kept.
        mean, std: NB201's per-channel mean / std on 0..255 pixel values.
        crop_padding: zero padding of the standard random-crop augmentation.
        batch_files: how many of the train files :func:`load_batch` reads.
    """

    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    labels: str
    side: int
    classes: int
    first: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_padding: int
    batch_files: int


#: The one table of file formats and their normalisation.
_FORMATS: dict[str, _Format] = {
    "cifar10": _Format("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)),
                       ("test_batch",), "labels", 32, 10, 0,
                       (125.3, 123.0, 113.9), (63.0, 62.1, 66.7), 4, 5),
    "cifar100": _Format("cifar-100-python", ("train",), ("test",), "fine_labels", 32, 100, 0,
                        (129.3, 124.1, 112.4), (68.2, 65.4, 70.4), 4, 1),
    "imagenet16": _Format("ImageNet16", tuple(f"train_data_batch_{i}" for i in range(1, 11)),
                          ("val_data",), "labels", 16, 120, 1,
                          (122.68, 116.66, 104.01), (63.22, 61.26, 65.09), 2, 1),
}
#: The file format of each local training dataset and batch source.
_FORMAT_OF: dict[str, str] = {"cifar10-valid": "cifar10", "cifar10": "cifar10",
                              "cifar100": "cifar100", "ImageNet16-120": "imagenet16",
                              "imagenet16-120": "imagenet16"}

_Split = tuple[np.ndarray, np.ndarray]  # uint8 images (N, C, H, W), int64 labels (N,)


def _unpickle(path: Path) -> dict[Any, Any]:
    """A python-pickle batch file, through the restricted unpickler (plain data and numpy
    arrays only: a file naming any other global is refused, nothing of it runs)."""
    with path.open("rb") as f:
        try:
            d = _safe_pickle.load(f, path, encoding="bytes")
        except _safe_pickle.UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, AttributeError, IndexError,
                TypeError) as e:
            raise ValueError(f"{path}: not a readable python-pickle batch "
                             f"({type(e).__name__}: {e})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: not a python-pickle batch (holds a {type(d).__name__}, "
                         f"not a dict)")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}


def _find(root: Path, folder: str, names: Sequence[str], what: str) -> list[Path]:
    for base in (root / folder, root):
        if all((base / n).is_file() for n in names):
            return [base / n for n in names]
    missing = [n for n in names if not (root / folder / n).is_file()]
    raise FileNotFoundError(
        f"{what}: missing {', '.join(missing)} under {root / folder} (or {root}); expected "
        f"the standard python-pickle files {', '.join(names)} - nothing is downloaded")


def _read(fmt: str, root: Path, names: Sequence[str], what: str) -> list[_Split]:
    """The reader of a pickle format: per file ``names[i]``, its images ``uint8
    (n, 3, side, side)`` and labels ``int64 (n,)`` (only the format's classes, shifted to
    start at 0).  ``what`` (the dataset or source asked for) names it in errors."""
    f = _FORMATS[fmt]
    out = []
    for path in _find(root, f.folder, names, what):
        d = _unpickle(path)
        x = np.asarray(d["data"], dtype=np.uint8)
        y = np.asarray(d[f.labels]).astype(np.int64)
        if f.first:
            keep = (y >= f.first) & (y < f.first + f.classes)
            x, y = x[keep], y[keep] - f.first
        out.append((x.reshape(-1, 3, f.side, f.side), y))
    return out


def _concat(parts: Sequence[_Split]) -> _Split:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@functools.lru_cache(maxsize=1)
def _read_digits() -> _Split:
    """The reader of the bundled digits: images ``uint8 (1797, 1, 8, 8)`` (values 0..16) and
    labels ``int64 (1797,)`` in scikit-learn's order (read-only arrays, cached)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the bundled 'digits' dataset needs scikit-learn: "
                          "pip install 'benchbench[torch]'") from e
    d = load_digits()
    x = d.images.astype(np.uint8)[:, None]
    y = d.target.astype(np.int64)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def _root(root: str | Path | None, what: str, kind: str, offline: str) -> Path:
    """``root`` as a path; a one-line error when a local dataset is asked for without one."""
    if root is None:
        raise ValueError(f"{kind} {what!r} needs root=<folder holding its files>; nothing is "
                         f"downloaded (use {offline} offline)")
    return Path(root).expanduser()


# ---------------------------------------------------------------------------- datasets
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
    """A training dataset held in memory.

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


def _make(name: str, num_classes: int, train: _Split, evals: dict[str, _Split], scale: float,
          mean: tuple[float, ...], std: tuple[float, ...], crop: int, flip: bool) -> ImageData:
    sha = _sha(train[0], train[1], *(a for xy in evals.values() for a in xy))

    def t(x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        return (torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)),
                torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)))

    tx, ty = t(*train)
    return ImageData(name, num_classes, tx, ty, {k: t(*v) for k, v in evals.items()}, scale,
                     mean, std, crop, flip, sha)


def _halves(name: str, x: np.ndarray, y: np.ndarray) -> dict[str, _Split]:
    perm = make_rng(0, "valid-test-split", name).permutation(len(y))
    a, b = np.sort(perm[: len(y) // 2]), np.sort(perm[len(y) // 2:])
    return {"valid": (x[a], y[a]), "test": (x[b], y[b])}


def load_dataset(name: str, root: str | Path | None = None) -> ImageData:
    """Load a training dataset (see the module docstring for its splits and files).

    Args:
        name: one of :data:`TRAIN_DATASETS`.
        root: folder holding the local dataset files (not needed for ``"digits"``).

    Raises:
        FileNotFoundError: a local dataset's files are missing (the message names them).
    """
    if name not in TRAIN_DATASETS:
        raise unknown("training dataset", name, TRAIN_DATASETS)
    if name == "digits":
        return _digits_dataset()
    path = _root(root, name, "dataset", "'digits'")
    fmt = _FORMATS[_FORMAT_OF[name]]
    parts = _read(_FORMAT_OF[name], path, fmt.train + fmt.test, name)
    train, test = _concat(parts[:len(fmt.train)]), _concat(parts[len(fmt.train):])
    if name == "cifar10":
        evals = {"test": test}
    elif name == "cifar10-valid":
        h = _halves("cifar10-train", *train)
        train, evals = h["valid"], {"valid": h["test"], "test": test}
    else:
        evals = _halves(name, *test)
    return _make(name, fmt.classes, train, evals, 255.0,
                 tuple(v / 255.0 for v in fmt.mean), tuple(v / 255.0 for v in fmt.std),
                 fmt.crop_padding, True)


@functools.lru_cache(maxsize=1)
def _digits_dataset() -> ImageData:
    x, y = _read_digits()
    perm = make_rng(0, "digits-split").permutation(len(y))
    va, te, tr = (np.sort(perm[:400]), np.sort(perm[400:800]), np.sort(perm[800:]))
    scaled = x.astype(np.float64) / 16.0
    mean, std = float(scaled.mean()), float(scaled.std())
    return _make("digits", 10, (x[tr], y[tr]), {"valid": (x[va], y[va]), "test": (x[te], y[te])},
                 16.0, (mean,), (std,), 0, False)


# ----------------------------------------------------------------------------- batches
@dataclass(frozen=True)
class Batch:
    """One batch of images.

    Attributes:
        x: float32 tensor ``(B, 3, H, W)``, standardised.
        y: int64 tensor ``(B,)`` of class labels.
        num_classes: classes of the source (labels are in ``0..num_classes-1``).
        source: the source name; ``seed``: the seed that drew it.
    """

    x: Any
    y: Any
    num_classes: int
    source: str
    seed: int


def load_batch(source: str = "digits", *, batch_size: int = 64, seed: int = 0,
               root: str | Path | None = None, image_size: int | None = None,
               num_classes: int | None = None) -> Batch:
    """Draw one training batch (see the module docstring for the sources).

    Args:
        source: one of :data:`BATCH_SOURCES`.
        batch_size: images in the batch.
        seed: seed of the draw.
        root: folder holding the dataset (CIFAR / ImageNet16 only).
        image_size: side of the images in pixels; default 32 (16 for ImageNet16-120, its
            native size; only ``"digits"`` and ``"random"`` may be resized).
        num_classes: ``"random"`` only: label range (default 10).

    Raises:
        FileNotFoundError: a local dataset's files are missing (the message names them).
    """
    if source not in BATCH_SOURCES:
        raise unknown("batch source", source, BATCH_SOURCES)
    check_int("batch_size", batch_size, 1)
    if image_size is not None:
        check_int("image_size", image_size, 1)
    rng = make_rng(seed, "batch", source)
    if source == "random":
        size = 32 if image_size is None else image_size
        k = 10 if num_classes is None else num_classes
        check_int("num_classes", k, 1)
        g = torch.Generator().manual_seed(int(rng.integers(2**63)))
        x = torch.randn((batch_size, 3, size, size), generator=g)
        y = torch.randint(0, k, (batch_size,), generator=g)
        return Batch(x, y, k, source, seed)
    if num_classes is not None:
        raise ValueError(f"num_classes is fixed by the source {source!r}; give it only for "
                         f"source 'random'")
    if source == "digits":
        return _digits_batch(batch_size, rng, 32 if image_size is None else image_size, seed)
    path = _root(root, source, "source", "source='digits' or 'random'")
    fmt = _FORMATS[_FORMAT_OF[source]]
    if image_size not in (None, fmt.side):
        raise ValueError(f"{source} images are {fmt.side}x{fmt.side}; got "
                         f"image_size={image_size}")
    images, labels = _concat(_read(_FORMAT_OF[source], path, fmt.train[:fmt.batch_files],
                                   source))
    if len(images) < batch_size:
        raise ValueError(f"batch_size {batch_size} > {len(images)} images in {source}")
    idx = np.sort(rng.choice(len(images), size=batch_size, replace=False))
    mean, std = (np.asarray(v, dtype=np.float32).reshape(1, 3, 1, 1) / 255.0
                 for v in (fmt.mean, fmt.std))
    x = (images[idx].astype(np.float32) / 255.0 - mean) / std
    return Batch(torch.from_numpy(x), torch.from_numpy(labels[idx]), fmt.classes, source, seed)


def _digits_batch(batch_size: int, rng: np.random.Generator, size: int, seed: int) -> Batch:
    raw, labels = _read_digits()
    images = raw[:, 0].astype(np.float32) / 16.0
    if batch_size > len(images):
        raise ValueError(f"batch_size {batch_size} > {len(images)} digits images")
    idx = np.sort(rng.choice(len(images), size=batch_size, replace=False))
    x = torch.from_numpy((images[idx] - images.mean()) / images.std())[:, None]
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                        align_corners=False).expand(-1, 3, -1, -1)
    return Batch(x.contiguous(), torch.from_numpy(labels[idx]), 10, "digits", seed)
