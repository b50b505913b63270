"""One-shot (weight-sharing) search on NB201: DARTS-V1 / V2, GDAS, RSPS.

Each search trains an NB201 supernet (:class:`benchbench.nn._supernet.NB201SuperNet`: every
edge holds all five ops) for real and, after every search epoch, yields a
:class:`~benchbench.optimizer.OneShotStep` with the discretised cell, the epoch's measured
search seconds and the epoch's diagnostics (see :data:`DIAGNOSTIC_KEYS`).  The runner looks
each cell up in the benchmark and records it like an evaluation (the search is never told a
table value) and stores the diagnostics with the run (``diagnostics.jsonl``).

References (the NB201 paper's own search code, D-X-Y/AutoDL-Projects):

* DARTS (Liu, Simonyan & Yang, ICLR 2019): ``exps/algos/DARTS-V1.py`` (first order: a weight
  step on a train batch, then an architecture step on a validation batch) and
  ``exps/algos/DARTS-V2.py`` (second order: first the architecture step with the unrolled
  model and the finite-difference Hessian-vector product of the DARTS paper, eq. 7-8,
  ``backward_step_unrolled``; then the weight step), ``scripts-search/algos/DARTS-V1.sh``;
* GDAS (Dong & Yang, CVPR 2019): ``exps/algos/GDAS.py`` with ``search_model_gdas.py``
  (Gumbel-softmax with hard one-hot forward and straight-through gradient, a new sample at
  every forward, temperature linear from ``tau_max`` 10 to ``tau_min`` 0.1 over the epochs,
  ``scripts-search/algos/GDAS.sh``);
* RSPS, random search with parameter sharing (Li & Talwalkar, UAI 2019):
  ``exps/algos/RANDOM-NAS.py`` (a uniformly random cell per training step; the result is the
  best of ``select_num`` = 100 random cells by the supernet's validation accuracy,
  ``scripts-search/algos/RANDOM-NAS.sh``).

Hyper-parameters (``configs/nas-benchmark/algos/DARTS.config``, ``GDAS.config``,
``RANDOM.config`` and the scripts' flags): weights by SGD, lr 0.025 with NB201's per-epoch
cosine to 0.001, momentum 0.9, Nesterov, weight decay 5e-4 (the configs' ``decay``), batch 64,
gradient-norm clipping 5; architecture logits ``1e-3 * N(0, 1)``, Adam lr 3e-4, betas
(0.5, 0.999), weight decay 1e-3.  Epochs: DARTS 50, GDAS 240 (``GDAS.config``; the NB201
paper's text says 250), RSPS 250 (``RANDOM.config``).  Network: NB201's ``C=16, N=5`` on
CIFAR / ImageNet16-120; on the bundled digits the embedded ``nb201-digits`` table's network
``C=4, N=1`` (``PROTOCOLS["digits"]``).

Data (which images the search sees).  DARTS splits the training data in two halves: weights
on one, architecture on the other.  The search never sees a test split.  Datasets:

* ``digits``: the digits train split (997 images; the table's networks trained on 384 of
  them) in two fixed halves (498 / 499).  The table's ``valid`` (400 images) and ``test``
  (400) splits are never used by the search, so the table's validation accuracy of a found
  cell is as held out as it is for black-box methods;
* ``cifar10`` / ``cifar10-valid``: the CIFAR-10 train set in the 25k / 25k halves of
  ``cifar10-valid``, as NB201's ``cifar-split.txt``: there the architecture half *is* the
  table's ``cifar10-valid`` valid split (NB201's own setting; report test values);
* ``cifar100``, ``ImageNet16-120``: their train split in two fixed halves (NB201's split
  files do the same; the table's valid / test halves of the test set are never used).

The supernet's ``valid`` numbers in the diagnostics are on the architecture half.

How the search gets its data and device: the hyper-parameters ``dataset`` (``None``: the
run's dataset, given by the runner through :meth:`~benchbench.optimizer.OneShotSearch.
set_dataset`; outside the runner ``"digits"``), ``data_dir`` (the folder holding the
CIFAR / ImageNet16 files, as for :func:`benchbench.nn.load_dataset`) and ``device``
(``"cpu"``, ``"cuda"``, ``"cuda:1"``).

Reproducibility: every random choice (initialisation, architecture logits, data order,
augmentation, Gumbel noise, sampled cells, the power iteration's start vector) comes from
``torch.Generator`` objects seeded from the generator handed to ``setup``; on CPU with
``threads=1`` and deterministic algorithms (set only while a search epoch runs) the same
seed gives bit-identical architecture weights, cells and diagnostics in any process.  The
measured seconds are measurements, not reproducible: a run's ``cost_s`` / ``sim_time_s``
differ between repeats, and so may the number of steps that fit a ``max_seconds`` budget.

Deviations from the reference scripts (also in README's "Protocols and deviations"):

* gradient clipping covers the network weights only (the scripts clip
  ``network.parameters()``, whose norm also counts the architecture logits' leftover
  gradient);
* the relaxed forward skips the ``none`` op's ``w * 0`` term (same value and gradients);
* DARTS-V2 restores the weights by copy after the finite-difference perturbation (the
  script adds and subtracts ``R v``, leaving rounding residue);
* RSPS selects after every ``select_every`` epochs (default 1: every epoch, so that its
  anytime curve exists; ``select_every=epochs`` selects once at the end, as the script) and
  its cost is part of the step's measured seconds; it scores each candidate cell itself:
  ``RANDOM-NAS.py``'s ``valid_func`` re-samples a random cell for every batch, so its
  "accuracy of the selected cell" belongs to other cells;
  ``select_images`` caps the images per candidate (default all of the architecture half);
* the per-epoch validation pass of the scripts (``valid_func``, reporting only) is not run:
  the supernet's valid numbers are the running averages of the epoch's architecture steps
  (DARTS-V2: of the unrolled model, as the script logs them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from benchbench.optimizer import Capabilities, OneShotSearch, OneShotStep, check_param

__all__ = ["DARTSV1", "DARTSV2", "DIAGNOSTIC_KEYS", "GDAS", "RSPS", "PARAM_FREE_OPS"]

#: Ops without parameters: a cell made of them is the DARTS collapse (Zela et al. 2020).
PARAM_FREE_OPS: tuple[str, ...] = ("none", "skip_connect", "avg_pool_3x3")

#: The keys of each step's ``info`` (``diagnostics.jsonl``), with units and splits.
DIAGNOSTIC_KEYS: dict[str, str] = {
    "epoch": "search epochs done (1-based)",
    "search_s": "measured seconds of the search since the previous step (training, selection;"
                " not the diagnostics)",
    "search_s_total": "measured search seconds so far",
    "lr": "weight learning rate of the epoch",
    "tau": "GDAS' Gumbel-softmax temperature of the epoch (GDAS only)",
    "cell": "the discretised cell (NB201 string)",
    "ops": "its op index per edge (benchbench.spaces.nb201.OPS order)",
    "param_free_ops": "edges of the cell holding none / skip_connect / avg_pool_3x3 (0..6)",
    "op_counts": "edges per op name in the cell",
    "alpha_softmax": "softmax of the architecture logits per edge, 6 x 5 (None for RSPS)",
    "entropy": "entropy (nats) of each edge's softmax, 6 values (None for RSPS)",
    "entropy_mean": "their mean (max ln 5 = 1.609)",
    "supernet_train_acc": "running accuracy (%) of the epoch's weight steps, weight half",
    "supernet_train_loss": "their mean cross-entropy (nats)",
    "supernet_valid_acc": "accuracy (%) on the architecture half: running average of the "
                          "architecture steps (DARTS, GDAS) or the selected cell's (RSPS)",
    "supernet_valid_loss": "the matching cross-entropy (nats)",
    "hessian_eig": "dominant eigenvalue of the Hessian of the relaxed validation loss w.r.t. "
                   "the architecture logits (fixed architecture-half batch; None for RSPS "
                   "or hessian_iters=0)",
}


def _finite(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


class _SupernetSearch(OneShotSearch):
    """Shared loop of the NB201 supernet searches (see the module docstring)."""

    name: ClassVar[str]
    method: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities(spaces=("nb201",))
    _run_dataset: str | None = None

    def _keep(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            if k not in ("self", "__class__"):
                setattr(self, k, v)

    # ---------------------------------------------------------------- checks
    def _validate(self) -> None:
        p = self.get_params()
        check_param("epochs", p["epochs"], kind=int, low=1)
        check_param("batch_size", p["batch_size"], kind=int, low=1)
        for k in ("lr", "lr_min", "weight_decay", "momentum"):
            check_param(k, p[k], kind=(int, float), low=0)
        check_param("nesterov", p["nesterov"], kind=bool)
        if p["grad_clip"] is not None:
            check_param("grad_clip", p["grad_clip"], kind=(int, float), low=0, low_open=True)
        for k in ("arch_lr", "arch_weight_decay"):
            if k in p:
                check_param(k, p[k], kind=(int, float), low=0)
        for k in ("channels", "cells_per_stage", "max_batches"):
            if p[k] is not None:
                check_param(k, p[k], kind=int, low=1)
        check_param("track_running_stats", p["track_running_stats"], kind=bool)
        if p["threads"] is not None:
            check_param("threads", p["threads"], kind=int, low=1)
        check_param("hessian_iters", p["hessian_iters"], kind=int, low=0)
        check_param("hessian_images", p["hessian_images"], kind=int, low=1)
        if p["dataset"] is not None:
            from_ = ("digits", "cifar10", "cifar10-valid", "cifar100", "ImageNet16-120")
            if p["dataset"] not in from_:
                raise ValueError(f"dataset must be one of {list(from_)} or None (the run's), "
                                 f"got {p['dataset']!r}")
        if p["data_dir"] is not None and not isinstance(p["data_dir"], str):
            raise ValueError(f"data_dir must be a folder path (str) or None, "
                             f"got {p['data_dir']!r}")
        dev = p["device"]
        if not isinstance(dev, str) or not (dev == "cpu" or dev == "cuda"
                                            or (dev.startswith("cuda:")
                                                and dev[5:].isdigit())):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {dev!r}")
        self._validate_method(p)

    def _validate_method(self, p: dict[str, Any]) -> None:
        """Method-specific checks (hook)."""

    def set_dataset(self, dataset: str) -> None:
        self._run_dataset = dataset

    def search_dataset(self) -> str:
        """The dataset whose images the search trains on (hyper-parameter ``dataset``, else
        the run's, else ``"digits"``)."""
        p = self.get_params()
        return p["dataset"] or self._run_dataset or "digits"

    # ------------------------------------------------------------------ loop
    def steps(self) -> Iterator[OneShotStep]:
        from algorithms._oneshot_engine import SearchEngine

        p = self.get_params()
        seed = int(self.rng.integers(2**62))
        eng = SearchEngine(self.method, p, seed, self.search_dataset())
        total = 0.0
        secs = 0.0
        for e in range(p["epochs"]):
            with eng.determinism():
                sync = eng.device.type == "cuda"
                t0 = time.perf_counter()
                stats = eng.epoch()
                step = self._step_after(e)
                if step:
                    ops, extra = self._discretise(eng)
                if sync:
                    import torch

                    torch.cuda.synchronize(eng.device)
                secs += time.perf_counter() - t0
                if not step:
                    continue
                eig = eng.hessian_eigenvalue()
                alpha = eng.alpha.detach().softmax(-1).cpu().double().numpy()
            total += secs
            yield OneShotStep(self.space.parse(self._arch(ops)), secs,
                              self._info(eng, stats, extra, ops, alpha, eig, secs, total))
            secs = 0.0

    def _step_after(self, epoch: int) -> bool:
        """Whether a step (a discretised cell) follows the 0-based search ``epoch``."""
        return True

    @staticmethod
    def _arch(ops: tuple[int, ...]) -> Any:
        from benchbench.spaces.nb201 import NB201Arch

        return NB201Arch(tuple(int(o) for o in ops))

    def _discretise(self, eng: Any) -> tuple[tuple[int, ...], dict[str, float]]:
        """Argmax of the architecture logits per edge (``genotype()``)."""
        return tuple(int(i) for i in eng.alpha.detach().argmax(-1).cpu()), {}

    def _info(self, eng: Any, stats: dict[str, float], extra: dict[str, float],
              ops: tuple[int, ...], alpha: np.ndarray, eig: float, secs: float,
              total: float) -> dict[str, Any]:
        from benchbench.spaces.nb201 import OPS

        arch = self.space.parse(self._arch(ops))
        names = [OPS[o] for o in ops]
        info: dict[str, Any] = {"epoch": eng.epochs_done, "search_s": secs,
                                "search_s_total": total}
        info.update({k: _finite(v) for k, v in stats.items()})
        info.update({k: _finite(v) for k, v in extra.items()})
        info["cell"] = self.space.arch_id(arch)
        info["ops"] = list(ops)
        info["param_free_ops"] = sum(n in PARAM_FREE_OPS for n in names)
        info["op_counts"] = {o: names.count(o) for o in OPS}
        if self.method == "rsps":
            info["alpha_softmax"] = info["entropy"] = info["entropy_mean"] = None
        else:
            ent = -(alpha * np.log(np.clip(alpha, 1e-300, None))).sum(axis=1)
            info["alpha_softmax"] = [[float(v) for v in row] for row in alpha]
            info["entropy"] = [float(v) for v in ent]
            info["entropy_mean"] = float(ent.mean())
        info["hessian_eig"] = _finite(eig)
        return info


class DARTSV1(_SupernetSearch):
    """DARTS, first order (NB201's ``DARTS-V1``); see :mod:`algorithms._oneshot`.

    Args:
        epochs: search epochs (``DARTS.config``: 50).
        batch_size: images per weight step and per architecture step (64).
        lr, lr_min: weight learning rate, cosine per epoch from ``lr`` to ``lr_min``
            (0.025 -> 0.001).
        momentum, nesterov, weight_decay: SGD of the weights (0.9, True, 5e-4).
        grad_clip: weight-gradient norm clipping (5; ``None``: none).
        arch_lr, arch_weight_decay: Adam of the architecture logits (3e-4, 1e-3; betas
            (0.5, 0.999)).
        channels, cells_per_stage: supernet ``C`` and ``N`` (``None``: 4 and 1 on digits,
            the nb201-digits table's network; 16 and 5 otherwise, NB201's search).
        track_running_stats: BatchNorm running statistics in the search cells (NB201's
            scripts: ``True``; see :mod:`benchbench.nn._supernet`).
        max_batches: cap on the steps per epoch (``None``: every weight-half image once;
            for tests and smoke runs).
        dataset: the images to search on (``None``: the run's dataset; see the module
            docstring).
        data_dir: folder with the CIFAR / ImageNet16 files (``None``: digits need none).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        threads: intra-op CPU threads while searching (1: reproducible; ``None``: leave
            torch's setting).
        hessian_iters: power-iteration steps of the curvature diagnostic (0: not computed).
        hessian_images: images of the fixed architecture-half batch it is measured on.
    """

    name: ClassVar[str] = "darts-v1"
    method: ClassVar[str] = "darts-v1"

    def __init__(self, *, epochs: int = 50, batch_size: int = 64, lr: float = 0.025,
                 lr_min: float = 0.001, momentum: float = 0.9, nesterov: bool = True,
                 weight_decay: float = 5e-4, grad_clip: float | None = 5.0,
                 arch_lr: float = 3e-4, arch_weight_decay: float = 1e-3,
                 channels: int | None = None, cells_per_stage: int | None = None,
                 track_running_stats: bool = True, max_batches: int | None = None,
                 dataset: str | None = None, data_dir: str | None = None,
                 device: str = "cpu", threads: int | None = 1, hessian_iters: int = 20,
                 hessian_images: int = 64) -> None:
        self._keep(locals())


class DARTSV2(DARTSV1):
    """DARTS, second order (NB201's ``DARTS-V2``: the unrolled architecture gradient with
    the finite-difference Hessian-vector product, eq. 7-8 of the DARTS paper; see
    :func:`algorithms._oneshot_engine.darts_v2_arch_grad`).  Arguments as
    :class:`DARTSV1`."""

    name: ClassVar[str] = "darts-v2"
    method: ClassVar[str] = "darts-v2"


class GDAS(_SupernetSearch):
    """GDAS (Dong & Yang, CVPR 2019) as NB201's ``GDAS.py``; see :mod:`algorithms._oneshot`.

    The discretised cell is the argmax of the sampling distribution ``softmax(alpha)`` per
    edge.  Arguments as :class:`DARTSV1` (``epochs`` default 240, ``GDAS.config``), plus:

    Args:
        tau_max, tau_min: the Gumbel-softmax temperature, linear from ``tau_max`` at the
            first epoch to ``tau_min`` at the last (10 -> 0.1, ``GDAS.sh``).
    """

    name: ClassVar[str] = "gdas"
    method: ClassVar[str] = "gdas"

    def __init__(self, *, epochs: int = 240, batch_size: int = 64, lr: float = 0.025,
                 lr_min: float = 0.001, momentum: float = 0.9, nesterov: bool = True,
                 weight_decay: float = 5e-4, grad_clip: float | None = 5.0,
                 arch_lr: float = 3e-4, arch_weight_decay: float = 1e-3,
                 tau_max: float = 10.0, tau_min: float = 0.1,
                 channels: int | None = None, cells_per_stage: int | None = None,
                 track_running_stats: bool = True, max_batches: int | None = None,
                 dataset: str | None = None, data_dir: str | None = None,
                 device: str = "cpu", threads: int | None = 1, hessian_iters: int = 20,
                 hessian_images: int = 64) -> None:
        self._keep(locals())

    def _validate_method(self, p: dict[str, Any]) -> None:
        check_param("tau_max", p["tau_max"], kind=(int, float), low=0, low_open=True)
        check_param("tau_min", p["tau_min"], kind=(int, float), low=0, low_open=True)
        if p["tau_min"] > p["tau_max"]:
            raise ValueError(f"tau_min {p['tau_min']} must be <= tau_max {p['tau_max']}")


class RSPS(_SupernetSearch):
    """Random search with parameter sharing (Li & Talwalkar 2019) as NB201's
    ``RANDOM-NAS.py``; see :mod:`algorithms._oneshot`.

    Every weight step trains one uniformly random cell of the supernet; after every
    ``select_every`` epochs (and after the last) the step's cell is the best of
    ``select_num`` random cells by accuracy on the architecture half (eval mode).
    No architecture weights (the diagnostics' ``alpha`` / ``entropy`` / ``hessian_eig``
    are ``None``).  Arguments as :class:`DARTSV1` without the
    architecture optimizer (``epochs`` default 250, ``RANDOM.config``), plus:

    Args:
        select_num: random cells scored at each selection (``RANDOM-NAS.sh``: 100).
        select_images: images of the architecture half each candidate is scored on
            (``None``: all of them).
        select_every: epochs between selections (1: a step after every epoch; ``epochs``:
            one selection at the end, as ``RANDOM-NAS.py`` does).
    """

    name: ClassVar[str] = "rsps"
    method: ClassVar[str] = "rsps"

    def __init__(self, *, epochs: int = 250, batch_size: int = 64, lr: float = 0.025,
                 lr_min: float = 0.001, momentum: float = 0.9, nesterov: bool = True,
                 weight_decay: float = 5e-4, grad_clip: float | None = 5.0,
                 select_num: int = 100, select_images: int | None = None,
                 select_every: int = 1, channels: int | None = None,
                 cells_per_stage: int | None = None,
                 track_running_stats: bool = True, max_batches: int | None = None,
                 dataset: str | None = None, data_dir: str | None = None,
                 device: str = "cpu", threads: int | None = 1, hessian_iters: int = 20,
                 hessian_images: int = 64) -> None:
        self._keep(locals())

    def _validate_method(self, p: dict[str, Any]) -> None:
        check_param("select_num", p["select_num"], kind=int, low=1)
        if p["select_images"] is not None:
            check_param("select_images", p["select_images"], kind=int, low=1)
        check_param("select_every", p["select_every"], kind=int, low=1)

    def _step_after(self, epoch: int) -> bool:
        p = self.get_params()
        return (epoch + 1) % p["select_every"] == 0 or epoch + 1 == p["epochs"]

    def _discretise(self, eng: Any) -> tuple[tuple[int, ...], dict[str, float]]:
        p = self.get_params()
        ops, acc, loss = eng.select_best(p["select_num"], p["select_images"])
        return ops, {"supernet_valid_acc": acc, "supernet_valid_loss": loss}
