"""Training protocols: :class:`TrainConfig` and the published ones in :data:`PROTOCOLS`.

Torch-free (the trainer that runs them is :class:`benchbench.nn.Trainer`).  Each protocol is
registered in :data:`benchbench.registry.PROTOCOLS`:

* ``"nb201"``: NAS-Bench-201 (Dong & Yang 2020): SGD, Nesterov momentum 0.9, lr 0.1 with a
  cosine decay to 0 (updated every step), weight decay 5e-4 on every parameter, batch 256,
  200 epochs, random crop (padding 4, ImageNet16: 2) + horizontal flip, network ``C=16, N=5``.
  ``"nb201-12"`` is its 12-epoch schedule (NB201's ``hp=12``).
* ``"nb101"``: NAS-Bench-101 (Ying et al. 2019): RMSProp (lr 0.2, decay 0.9, momentum 0.9,
  epsilon 1.0), cosine decay, weight decay 1e-4, batch 256, 108 epochs, crop + flip.  (NB101
  used TensorFlow's RMSProp, whose epsilon sits inside the square root; PyTorch's is outside.)
* ``"darts"``: the DARTS evaluation protocol (Liu et al. 2019): SGD momentum 0.9, lr 0.025
  cosine, weight decay 3e-4, batch 96, 600 epochs, cutout 16, drop-path 0.2 (linearly
  increased), auxiliary head weight 0.4, gradient clipping 5; network ``C=36``, 20 cells,
  auxiliary head, affine BatchNorms.
* ``"nb301"``: NAS-Bench-301's training of every cell (Siems et al. 2020; the configuration
  of ``nasbench301/data_generation/configs/config_0.json`` of automl/nasbench301, run through
  Auto-PyTorch): SGD momentum 0.9, lr 0.025 cosine to 1e-8 over 100 epochs, weight decay 3e-4,
  batch 96, cutout 16, drop-path 0.2, auxiliary head, network ``C=32``, 8 cells.  Named
  deviations: NB301 also trained with mixup (alpha 0.2), which the trainer does not do; the
  auxiliary weight (0.4) and gradient clipping (5) are DARTS's, the config does not state
  them; NB301 validated on 20 % of the CIFAR-10 training images.
* ``"digits"``: the protocol of the embedded ``nb201-digits`` table (see
  ``tabular_data/embedded/BUILD.md``): NB201's optimiser and schedule on the bundled 8x8
  digits with a small network, few images and 12 epochs, so that the whole space trains in
  about an hour on two CPU cores.

Every field can be overridden: ``PROTOCOLS["nb201"].replace(epochs=50, batch_size=128)``.

Reproducibility: every random choice (initialisation, data order, augmentation) comes from
``torch.Generator`` objects seeded with :func:`benchbench.rng.derive_seed` from the run's seed;
torch's global RNG is never used.  On CPU the trainer runs with ``threads`` intra-op threads
(default 1) and deterministic algorithms, both set only while it trains and restored after,
so the same seed gives the same curve bit for bit in any process.  On CUDA, cuDNN is put in
deterministic mode while training, which makes runs repeatable on the same GPU and software.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from benchbench.api import unknown

__all__ = ["PROTOCOLS", "PROTOCOL_DESCRIPTIONS", "TrainConfig", "check_int", "get_protocol"]


def _network_items(v: Any) -> tuple[tuple[str, Any], ...]:
    if isinstance(v, Mapping):
        v = v.items()
    return tuple(sorted((str(k), x) for k, x in v))


@dataclass(frozen=True)
class TrainConfig:
    """A training protocol.  All fields keyword-only; every one can be overridden.

    Attributes:
        epochs: length of the schedule (the learning-rate curve spans it); a run may stop
            earlier, and epoch ``e`` of it is the fidelity ``e``.
        batch_size: training images per step.
        optimizer: ``"sgd"`` or ``"rmsprop"``.
        lr: peak learning rate; ``lr_min``: where the cosine ends.
        schedule: ``"cosine"`` (per step, over ``epochs``) or ``"constant"``.
        warmup_epochs: linear warm-up from 0 (per step).
        momentum, nesterov: SGD / RMSProp momentum.
        rmsprop_alpha, rmsprop_eps: RMSProp smoothing constant and epsilon.
        weight_decay: L2 penalty on every parameter.
        grad_clip: clip the gradient norm to this (``None``: no clipping).
        label_smoothing: of the cross-entropy.
        augment: apply the dataset's standard augmentation (random crop with its padding,
            horizontal flip); the digits have none.
        cutout: side of the Cutout square (0: none).
        drop_path_prob: final drop-path probability (networks with a ``drop_path_prob``
            attribute; increased linearly over the epochs, as DARTS does).
        auxiliary_weight: weight of the auxiliary head's loss (networks that return
            ``(logits, aux_logits)`` in train mode).
        train_images: train on the first N images of a fixed permutation of the train split
            (``None``: all).
        network: options of the space's network builder (NB201: ``channels``,
            ``cells_per_stage``).
        eval_batch_size: images per evaluation forward pass.
        threads: intra-op CPU threads while training (1 makes CPU runs reproducible across
            machines with different core counts; ``None``: leave torch's setting).
        init: ``"default"`` (PyTorch's scheme) or ``"gaussian"`` (see ``init_network``).
    """

    epochs: int = 200
    batch_size: int = 256
    optimizer: Literal["sgd", "rmsprop"] = "sgd"
    lr: float = 0.1
    lr_min: float = 0.0
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: int = 0
    momentum: float = 0.9
    nesterov: bool = True
    rmsprop_alpha: float = 0.9
    rmsprop_eps: float = 1.0
    weight_decay: float = 5e-4
    grad_clip: float | None = None
    label_smoothing: float = 0.0
    augment: bool = True
    cutout: int = 0
    drop_path_prob: float = 0.0
    auxiliary_weight: float = 0.0
    train_images: int | None = None
    network: tuple[tuple[str, Any], ...] = (("cells_per_stage", 5), ("channels", 16))
    eval_batch_size: int = 1024
    threads: int | None = 1
    init: Literal["default", "gaussian"] = "default"

    def __post_init__(self) -> None:
        object.__setattr__(self, "network", _network_items(self.network))
        for name in ("epochs", "batch_size", "eval_batch_size"):
            check_int(name, getattr(self, name), 1)
        for name in ("warmup_epochs", "cutout"):
            check_int(name, getattr(self, name), 0)
        if self.train_images is not None:
            check_int("train_images", self.train_images, 1)
        if self.threads is not None:
            check_int("threads", self.threads, 1)
        if self.optimizer not in ("sgd", "rmsprop"):
            raise ValueError(f"optimizer must be 'sgd' or 'rmsprop', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.init not in ("default", "gaussian"):
            raise ValueError(f"init must be 'default' or 'gaussian', got {self.init!r}")
        for name in ("lr", "lr_min", "momentum", "weight_decay", "label_smoothing",
                     "drop_path_prob", "auxiliary_weight", "rmsprop_eps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")
        if not 0 <= self.rmsprop_alpha < 1:
            raise ValueError(f"rmsprop_alpha must be in [0, 1), got {self.rmsprop_alpha!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip!r}")
        if self.warmup_epochs > self.epochs:
            raise ValueError(f"warmup_epochs {self.warmup_epochs} > epochs {self.epochs}")

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` (unknown field names raise ``TypeError``)."""
        return dataclasses.replace(self, **changes)

    @property
    def network_options(self) -> dict[str, Any]:
        return dict(self.network)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["network"] = dict(self.network)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise ValueError(f"unknown training setting(s) {bad}; allowed: {sorted(known)}")
        return cls(**dict(d))


def check_int(name: str, v: Any, lo: int) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")


PROTOCOLS: dict[str, TrainConfig] = {
    "nb201": TrainConfig(),
    "nb201-12": TrainConfig(epochs=12),
    "nb101": TrainConfig(epochs=108, batch_size=256, optimizer="rmsprop", lr=0.2,
                         momentum=0.9, nesterov=False, rmsprop_alpha=0.9, rmsprop_eps=1.0,
                         weight_decay=1e-4,
                         network=(("modules_per_stack", 3), ("stacks", 3),
                                  ("stem_channels", 128))),
    "darts": TrainConfig(epochs=600, batch_size=96, lr=0.025, nesterov=False,
                         weight_decay=3e-4, grad_clip=5.0, cutout=16, drop_path_prob=0.2,
                         auxiliary_weight=0.4,
                         network=(("affine", True), ("auxiliary", True), ("channels", 36),
                                  ("layers", 20))),
    "nb301": TrainConfig(epochs=100, batch_size=96, lr=0.025, lr_min=1e-8, nesterov=False,
                         weight_decay=3e-4, grad_clip=5.0, cutout=16, drop_path_prob=0.2,
                         auxiliary_weight=0.4,
                         network=(("affine", True), ("auxiliary", True), ("channels", 32),
                                  ("layers", 8))),
    "digits": TrainConfig(epochs=12, batch_size=128, train_images=384, eval_batch_size=1024,
                          network=(("cells_per_stage", 1), ("channels", 4))),
}


def get_protocol(name: str, **overrides: Any) -> TrainConfig:
    """The published protocol ``name`` (see :data:`PROTOCOLS`) with ``overrides``."""
    try:
        cfg = PROTOCOLS[name]
    except KeyError:
        raise unknown("training protocol", name, sorted(PROTOCOLS)) from None
    return cfg.replace(**overrides) if overrides else cfg

#: One line per published protocol (shown by ``benchbench list protocols``).
PROTOCOL_DESCRIPTIONS: dict[str, str] = {
    "nb201": "NAS-Bench-201 (Dong & Yang 2020): SGD Nesterov 0.9, lr 0.1 cosine, wd 5e-4, "
             "batch 256, 200 epochs, crop+flip, C=16 N=5",
    "nb201-12": "NAS-Bench-201's 12-epoch schedule (hp=12), otherwise as nb201",
    "nb101": "NAS-Bench-101 (Ying et al. 2019): RMSProp lr 0.2 cosine, wd 1e-4, batch 256, "
             "108 epochs",
    "darts": "DARTS evaluation (Liu et al. 2019): SGD lr 0.025 cosine, wd 3e-4, batch 96, "
             "600 epochs, cutout 16, drop-path 0.2, auxiliary 0.4",
    "nb301": "NAS-Bench-301 (Siems et al. 2020): DARTS's pipeline with C=32, 8 cells, 100 "
             "epochs, lr 0.025 cosine, batch 96, cutout 16, drop-path 0.2, auxiliary "
             "(NB301's mixup omitted)",
    "digits": "the embedded nb201-digits table's protocol: NB201's optimiser and schedule on "
              "8x8 digits, C=4 N=1, 384 images, 12 epochs",
}
