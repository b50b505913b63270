"""Train one architecture for real: the protocols, the trainer and its per-epoch record.

The protocols (:class:`~benchbench.protocols.TrainConfig`, the published ones in
:data:`~benchbench.protocols.PROTOCOLS`: ``nb201``, ``nb201-12``, ``nb101``, ``darts``, ``nb301``,
``digits``) live in the torch-free :mod:`benchbench.protocols`, which documents each one with
its reference; they are re-exported here.

Reproducibility: every random choice (initialisation, data order, augmentation) comes from
``torch.Generator`` objects seeded with :func:`benchbench.rng.derive_seed` from the run's seed;
torch's global RNG is never used.  On CPU the trainer runs with ``threads`` intra-op threads
(default 1) and deterministic algorithms, both set only while it trains and restored after,
so the same seed gives the same curve bit for bit in any process.  On CUDA, cuDNN is put in
deterministic mode while training, which makes runs repeatable on the same GPU and software.
"""

from __future__ import annotations

import contextlib
import math
import platform
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchbench.nn._build import count_flops, count_params, get_builder, new_network
from benchbench.nn._data import ImageData
from benchbench.nn._torch import require_torch
from benchbench.protocols import PROTOCOLS, TrainConfig, check_int, get_protocol
from benchbench.rng import derive_seed

torch = require_torch()

__all__ = ["PROTOCOLS", "TrainConfig", "TrainResult", "Trainer", "TrainingRun", "get_protocol"]


@dataclass(frozen=True)
class TrainResult:
    """The record of one training run.

    Attributes:
        arch_id: the cell trained (its space's id).
        dataset: dataset name; ``seed``: the run's seed.
        epochs: ``(E,)`` 1..E, the epochs trained so far.
        values: metric -> ``(E,)``: ``train_acc`` / ``train_loss`` (running average over the
            epoch, train mode, %, nats), ``<split>_acc`` / ``<split>_loss`` after each epoch
            (eval mode), ``params`` (millions), ``flops`` (millions, one image).
        train_s: ``(E,)`` seconds of each epoch's training steps (no evaluation).
        cost_s: ``(E,)`` cumulative ``train_s``, the benchmark cost up to each epoch.
        eval_s: ``(E,)`` seconds of each epoch's evaluation.
        config: the protocol (``TrainConfig.to_dict()``); ``info``: device, versions.
    """

    arch_id: str
    dataset: str
    seed: int
    epochs: np.ndarray
    values: Mapping[str, np.ndarray]
    train_s: np.ndarray
    cost_s: np.ndarray
    eval_s: np.ndarray
    config: Mapping[str, Any]
    info: Mapping[str, Any]

    def at(self, epoch: int) -> dict[str, float]:
        """All metric values after ``epoch`` epochs."""
        if not 1 <= epoch <= len(self.epochs):
            raise ValueError(f"epoch {epoch} not trained; trained: 1..{len(self.epochs)}")
        return {k: float(v[epoch - 1]) for k, v in self.values.items()}


@contextlib.contextmanager
def _scoped_determinism(threads: int | None, device: Any) -> Iterator[None]:
    """Set intra-op threads and deterministic algorithms for the duration of a run."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    old_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        if threads is not None and threads != old_threads:
            torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
        if device.type == "cuda":
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        yield
    finally:
        if torch.get_num_threads() != old_threads:
            torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = old_cudnn


def _random_crop_flip(x: Any, pad: int, flip: bool, g: Any) -> Any:
    """Vectorised random crop (zero padding ``pad``) and horizontal flip of a uint8 batch."""
    b, _, h, w = x.shape
    if pad:
        xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (b,), generator=g)
        ox = torch.randint(0, 2 * pad + 1, (b,), generator=g)
        rows = (oy[:, None] + torch.arange(h))[:, None, :, None]  # (B, 1, H, 1)
        cols = (ox[:, None] + torch.arange(w))[:, None, None, :]  # (B, 1, 1, W)
        bi = torch.arange(b)[:, None, None, None]
        ci = torch.arange(x.shape[1])[None, :, None, None]
        x = xp[bi, ci, rows, cols]
    if flip:
        f = torch.rand(b, generator=g) < 0.5
        x = torch.where(f[:, None, None, None], x.flip(3), x)
    return x


def _cutout(x: Any, size: int, g: Any) -> Any:
    """Zero a ``size`` square (clipped at the border) centred at a random pixel per image."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=g)[:, None, None]
    cx = torch.randint(0, w, (b,), generator=g)[:, None, None]
    ys = torch.arange(h)[None, :, None]
    xs = torch.arange(w)[None, None, :]
    inside = ((ys - cy).abs() * 2 < size) & ((xs - cx).abs() * 2 < size)  # size//2 each side
    return x * (~inside)[:, None].to(x.dtype).to(x.device)


class TrainingRun:
    """One training run that can be advanced epoch by epoch (see :meth:`Trainer.start`).

    Advancing a run to epoch ``e`` and later to ``e' > e`` gives exactly the same record as
    training to ``e'`` in one go: the network, optimizer and generators live on.
    """

    def __init__(self, trainer: Trainer, arch: Any, seed: int) -> None:
        self.trainer = trainer
        cfg = trainer.config
        self.seed = int(seed)
        self.arch_id = trainer.space.arch_id(trainer.space.parse(arch))
        data = trainer.data
        self.device = trainer.device
        ds = (trainer.space.name, data.name)
        self._g_init = torch.Generator().manual_seed(derive_seed(self.seed, "init", *ds))
        self._g_order = torch.Generator().manual_seed(derive_seed(self.seed, "order", *ds))
        self._g_aug = torch.Generator().manual_seed(derive_seed(self.seed, "augment", *ds))
        with _scoped_determinism(cfg.threads, self.device):
            net = new_network(trainer.builder, arch, num_classes=data.num_classes,
                              generator=self._g_init, scheme=cfg.init)
            if hasattr(net, "drop_path_generator"):  # DARTS networks: seeded drop-path masks
                net.drop_path_generator = torch.Generator().manual_seed(
                    derive_seed(self.seed, "drop-path", *ds))
            self.params_m = count_params(net) / 1e6
            self.flops_m = count_flops(net, data.input_shape)
        self.net = net.to(self.device)
        params = list(self.net.parameters())
        if cfg.optimizer == "sgd":
            self.opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                                       nesterov=cfg.nesterov and cfg.momentum > 0,
                                       weight_decay=cfg.weight_decay)
        else:
            self.opt = torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.rmsprop_alpha,
                                           eps=cfg.rmsprop_eps, momentum=cfg.momentum,
                                           weight_decay=cfg.weight_decay)
        self.loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.epoch = 0
        self._rows: list[dict[str, float]] = []
        self._train_s: list[float] = []
        self._eval_s: list[float] = []

    # ------------------------------------------------------------------ schedule
    def _lr(self, t: float) -> float:
        """Learning rate at fractional epoch ``t``."""
        cfg = self.trainer.config
        if cfg.warmup_epochs and t < cfg.warmup_epochs:
            return cfg.lr * t / cfg.warmup_epochs
        if cfg.schedule == "constant":
            return cfg.lr
        span = max(cfg.epochs - cfg.warmup_epochs, 1e-12)
        frac = min(max((t - cfg.warmup_epochs) / span, 0.0), 1.0)
        return cfg.lr_min + (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * frac)) / 2

    # ------------------------------------------------------------------ training
    def advance(self, to_epoch: int) -> TrainResult:
        """Train up to ``to_epoch`` epochs (no-op if already there) and return the record."""
        cfg = self.trainer.config
        check_int("epoch", to_epoch, 1)
        if to_epoch > cfg.epochs:
            raise ValueError(f"epoch {to_epoch} is beyond the protocol's schedule of "
                             f"{cfg.epochs} epochs")
        with _scoped_determinism(cfg.threads, self.device):
            while self.epoch < to_epoch:
                self._one_epoch()
        return self.result()

    def _one_epoch(self) -> None:
        cfg = self.trainer.config
        data = self.trainer.data
        net, opt, dev = self.net, self.opt, self.device
        n = int(data.train_y.shape[0])
        steps = math.ceil(n / cfg.batch_size)
        if cfg.drop_path_prob and hasattr(net, "drop_path_prob"):
            net.drop_path_prob = cfg.drop_path_prob * self.epoch / cfg.epochs
        sync = dev.type == "cuda"
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(n, generator=self._g_order)
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        for i in range(steps):
            lr = self._lr(self.epoch + i / steps)
            for group in opt.param_groups:
                group["lr"] = lr
            idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            xb = data.train_x[idx]
            if cfg.augment and (data.crop_padding or data.flip):
                xb = _random_crop_flip(xb, data.crop_padding, data.flip, self._g_aug)
            x = data.normalise(xb, dev)
            if cfg.cutout:
                x = _cutout(x, cfg.cutout, self._g_aug)
            y = data.train_y[idx].to(dev, non_blocking=True)
            out = net(x)
            if isinstance(out, tuple):
                logits, aux = out
                loss = self.loss_fn(logits, y)
                total = loss + cfg.auxiliary_weight * self.loss_fn(aux, y)
            else:
                logits = out
                loss = total = self.loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            total.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            with torch.no_grad():
                loss_sum += loss.detach().double() * len(idx)
                correct += (logits.argmax(1) == y).sum()
        if sync:
            torch.cuda.synchronize(dev)
        train_s = time.perf_counter() - t0
        row = {"train_acc": 100.0 * int(correct) / n, "train_loss": float(loss_sum) / n}
        t1 = time.perf_counter()
        row.update(self._evaluate())
        eval_s = time.perf_counter() - t1
        row["params"] = self.params_m
        row["flops"] = self.flops_m
        self.epoch += 1
        self._rows.append(row)
        self._train_s.append(train_s)
        self._eval_s.append(eval_s)

    def _evaluate(self) -> dict[str, float]:
        data, net, dev = self.trainer.data, self.net, self.device
        bs = self.trainer.config.eval_batch_size
        net.eval()
        out: dict[str, float] = {}
        sums: dict[str, tuple[float, int, int]] = {}
        with torch.inference_mode():
            for split, (x, y) in data.eval_sets.items():
                loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
                correct = torch.zeros((), dtype=torch.int64, device=dev)
                for i in range(0, int(y.shape[0]), bs):
                    logits = net(data.normalise(x[i:i + bs], dev))
                    yb = y[i:i + bs].to(dev)
                    loss_sum += torch.nn.functional.cross_entropy(
                        logits, yb, reduction="sum").double()
                    correct += (logits.argmax(1) == yb).sum()
                sums[split] = (float(loss_sum), int(correct), int(y.shape[0]))
        if "valtest" in data.eval_splits:
            (lv, cv, nv), (lt, ct, nt) = sums["valid"], sums["test"]
            sums["valtest"] = (lv + lt, cv + ct, nv + nt)
        for split, (ls, c, k) in sums.items():
            out[f"{split}_acc"] = 100.0 * c / k
            out[f"{split}_loss"] = ls / k
        net.train()
        return out

    def result(self) -> TrainResult:
        """The record so far (epochs 1..``self.epoch``)."""
        names = list(self._rows[0]) if self._rows else []
        values = {k: np.array([r[k] for r in self._rows], dtype=np.float64) for k in names}
        train_s = np.array(self._train_s, dtype=np.float64)
        return TrainResult(
            arch_id=self.arch_id, dataset=self.trainer.data.name, seed=self.seed,
            epochs=np.arange(1, self.epoch + 1), values=values, train_s=train_s,
            cost_s=np.cumsum(train_s), eval_s=np.array(self._eval_s, dtype=np.float64),
            config=self.trainer.config.to_dict(), info=self.trainer.info())


class Trainer:
    """Trains architectures of one space on one dataset with one protocol.

    Args:
        space: the search space (``benchbench.spaces`` name or object).
        data: the dataset (:func:`benchbench.nn.load_dataset`); the protocol's
            ``train_images`` is applied here.
        config: the protocol (a :class:`TrainConfig` or a :data:`PROTOCOLS` name).
        device: ``"cpu"`` (default) or ``"cuda"`` / ``"cuda:N"``.
    """

    def __init__(self, space: Any, data: ImageData, config: TrainConfig | str = "nb201", *,
                 device: str = "cpu") -> None:
        from benchbench.spaces import get_space

        self.space = get_space(space) if isinstance(space, str) else space
        self.config = get_protocol(config) if isinstance(config, str) else config
        if not isinstance(self.config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig or a protocol name, "
                            f"got {config!r}")
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for but CUDA is not available; "
                             f"use device='cpu'")
        self.data = data.subset(self.config.train_images)
        self.builder = get_builder(self.space.name, **self.config.network_options)

    def start(self, arch: Any, seed: int) -> TrainingRun:
        """A fresh run of ``arch`` with ``seed`` (nothing trained yet)."""
        check_int("seed", seed, 0)
        return TrainingRun(self, arch, int(seed))

    def train(self, arch: Any, seed: int, epochs: int | None = None) -> TrainResult:
        """Train ``arch`` with ``seed`` for ``epochs`` (default: the whole schedule)."""
        return self.start(arch, seed).advance(self.config.epochs if epochs is None else epochs)

    def info(self) -> dict[str, Any]:
        return {"device": str(self.device), "torch": torch.__version__,
                "threads": self.config.threads, "machine": platform.machine(),
                "python": platform.python_version(), "data_sha256": self.data.sha256}
