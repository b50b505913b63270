"""Image batches for proxies (and the trainer): a bundled dataset, local CIFAR / ImageNet16,
or seeded Gaussian noise.  Nothing is ever downloaded.

Sources (``load_batch(source, ...)``):

* ``"digits"`` (default, offline): scikit-learn's bundled handwritten digits (1,797 8x8
  grey images, 10 classes), scaled to [0, 1], bilinearly upsampled to ``image_size`` and
  repeated over 3 channels, then standardised by the dataset's pixel mean / std.
* ``"random"``: ``x ~ N(0, 1)`` of shape ``(B, 3, image_size, image_size)``, labels uniform
  in ``0..num_classes-1``, both from the seed.
* ``"cifar10"``: ``ROOT/cifar-10-batches-py/data_batch_{1..5}`` (the standard python pickle
  batches; ``ROOT`` may also be that folder itself), 32x32.
* ``"cifar100"``: ``ROOT/cifar-100-python/train`` (fine labels), 32x32.
* ``"imagenet16-120"``: ``ROOT/train_data_batch_1`` (also looked for under
  ``ROOT/ImageNet16``), the down-sampled ImageNet 16x16 pickle; as NB201 does, only labels
  1..120 are kept and shifted to 0..119.  Only the first training file (about 1/10 of the
  training set) is read, to keep a batch cheap.

The real datasets are normalised with the per-channel mean / std NB201 used.  Images are
drawn uniformly without replacement from the training split with a generator seeded by
``seed``: the same seed always gives the same batch.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import unknown
from benchbench.nn._torch import require_torch
from benchbench.rng import make_rng

torch = require_torch()

__all__ = ["BATCH_SOURCES", "Batch", "load_batch"]

BATCH_SOURCES: tuple[str, ...] = ("digits", "random", "cifar10", "cifar100", "imagenet16-120")

_NORM = {  # NB201's per-channel mean / std (on 0..255 pixel values)
    "cifar10": ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7)),
    "cifar100": ((129.3, 124.1, 112.4), (68.2, 65.4, 70.4)),
    "imagenet16-120": ((122.68, 116.66, 104.01), (63.22, 61.26, 65.09)),
}
_CLASSES = {"digits": 10, "cifar10": 10, "cifar100": 100, "imagenet16-120": 120}


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
        image_size: side of the images; default 32 (16 for ImageNet16-120, its native size;
            only ``"digits"`` and ``"random"`` may be resized).
        num_classes: ``"random"`` only: label range (default 10).

    Raises:
        FileNotFoundError: a local dataset's files are missing (the message names them).
    """
    if source not in BATCH_SOURCES:
        raise unknown("batch source", source, BATCH_SOURCES)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    rng = make_rng(seed, "batch", source)
    if source == "random":
        size = 32 if image_size is None else image_size
        k = 10 if num_classes is None else num_classes
        g = torch.Generator().manual_seed(int(rng.integers(2**63)))
        x = torch.randn((batch_size, 3, size, size), generator=g)
        y = torch.randint(0, k, (batch_size,), generator=g)
        return Batch(x, y, k, source, seed)
    if num_classes is not None:
        raise ValueError(f"num_classes is fixed by the source {source!r}; give it only for "
                         f"source 'random'")
    if source == "digits":
        return _digits(batch_size, rng, 32 if image_size is None else image_size, seed)
    if root is None:
        raise ValueError(f"source {source!r} needs root=<folder holding the dataset>; "
                         f"nothing is downloaded (use source='digits' or 'random' offline)")
    native = 16 if source == "imagenet16-120" else 32
    if image_size not in (None, native):
        raise ValueError(f"{source} images are {native}x{native}; got image_size={image_size}")
    images, labels = _read_local(source, Path(root))
    if len(images) < batch_size:
        raise ValueError(f"batch_size {batch_size} > {len(images)} images in {source}")
    idx = np.sort(rng.choice(len(images), size=batch_size, replace=False))
    mean, std = (np.asarray(v, dtype=np.float32).reshape(1, 3, 1, 1) / 255.0
                 for v in _NORM[source])
    x = (images[idx].reshape(-1, 3, native, native).astype(np.float32) / 255.0 - mean) / std
    return Batch(torch.from_numpy(x), torch.from_numpy(labels[idx].astype(np.int64)),
                 _CLASSES[source], source, seed)


def _digits(batch_size: int, rng: np.random.Generator, size: int, seed: int) -> Batch:
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the bundled 'digits' batches need scikit-learn: "
                          "pip install 'benchbench[torch]'") from e
    d = load_digits()
    images = d.images.astype(np.float32) / 16.0
    if batch_size > len(images):
        raise ValueError(f"batch_size {batch_size} > {len(images)} digits images")
    idx = np.sort(rng.choice(len(images), size=batch_size, replace=False))
    x = torch.from_numpy((images[idx] - images.mean()) / images.std())[:, None]
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                        align_corners=False).expand(-1, 3, -1, -1)
    return Batch(x.contiguous(), torch.from_numpy(d.target[idx].astype(np.int64)), 10,
                 "digits", seed)


def _unpickle(path: Path) -> dict[Any, Any]:
    with path.open("rb") as f:
        d = pickle.load(f, encoding="bytes")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}


def _find(root: Path, folder: str, names: list[str], source: str) -> list[Path]:
    for base in (root / folder, root):
        if all((base / n).is_file() for n in names):
            return [base / n for n in names]
    missing = [n for n in names if not (root / folder / n).is_file()]
    raise FileNotFoundError(
        f"{source}: missing {', '.join(missing)} under {root / folder} (or {root}); expected "
        f"the standard python-pickle files {', '.join(names)} - nothing is downloaded")


def _read_local(source: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    """All training images ``(n, 3*H*W)`` uint8 and labels ``(n,)`` of a local dataset."""
    if source == "cifar10":
        files = _find(root, "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)],
                      source)
        parts = [_unpickle(p) for p in files]
        return (np.concatenate([np.asarray(p["data"]) for p in parts]),
                np.concatenate([np.asarray(p["labels"]) for p in parts]))
    if source == "cifar100":
        (path,) = _find(root, "cifar-100-python", ["train"], source)
        d = _unpickle(path)
        return np.asarray(d["data"]), np.asarray(d["fine_labels"])
    (path,) = _find(root, "ImageNet16", ["train_data_batch_1"], source)
    d = _unpickle(path)
    labels = np.asarray(d["labels"])
    keep = (labels >= 1) & (labels <= 120)
    return np.asarray(d["data"])[keep], labels[keep] - 1
