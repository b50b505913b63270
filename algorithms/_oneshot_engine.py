"""The torch side of the one-shot searches (imported lazily by :mod:`algorithms._oneshot`).

One :class:`SearchEngine` holds the supernet, the data halves, the optimizers and the seeded
generators of one search; :meth:`SearchEngine.epoch` runs one search epoch of a method
(``"darts-v1"``, ``"darts-v2"``, ``"gdas"``, ``"rsps"``) and returns its running statistics.
The update rules follow D-X-Y/AutoDL-Projects' NB201 search scripts line by line (see
:mod:`algorithms._oneshot` for the references and the documented deviations).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchbench.nn._data import ImageData, load_dataset
from benchbench.nn._supernet import NB201SuperNet, build_supernet
from benchbench.nn._torch import require_torch
from benchbench.nn._train import _random_crop_flip, _scoped_determinism
from benchbench.rng import derive_seed, make_rng
from benchbench.spaces.nb201 import EDGES, OPS

torch = require_torch()
F: Any = torch.nn.functional

__all__ = ["SEARCH_DATASETS", "SearchData", "SearchEngine", "darts_v2_arch_grad",
           "dominant_eigenvalue", "gdas_sample", "gdas_tau", "load_search_data",
           "scoped_determinism"]

scoped_determinism = _scoped_determinism

#: The run's dataset -> the training dataset whose images the search uses.
SEARCH_DATASETS: dict[str, str] = {"digits": "digits", "cifar10": "cifar10-valid",
                                   "cifar10-valid": "cifar10-valid", "cifar100": "cifar100",
                                   "ImageNet16-120": "ImageNet16-120"}
_N_EDGES, _N_OPS = len(EDGES), len(OPS)


@dataclass(frozen=True, eq=False)
class SearchData:
    """The two halves a one-shot search trains on.

    Attributes:
        data: the dataset (its normalisation and augmentation settings).
        w_x, w_y: images (``uint8 (N, C, H, W)``) and labels the network weights train on.
        a_x, a_y: images and labels of the architecture step (the search's own validation
            half).
        description: which images these are, in words.
    """

    data: ImageData
    w_x: Any
    w_y: Any
    a_x: Any
    a_y: Any
    description: str


def load_search_data(dataset: str, data_dir: str | None) -> SearchData:
    """The search's two halves for the run's ``dataset`` (see :mod:`algorithms._oneshot`):
    ``cifar10`` / ``cifar10-valid``: the 25k / 25k halves of the CIFAR-10 train set that
    ``cifar10-valid`` trains / validates on (NB201's ``cifar-split.txt`` setting); the others
    (``digits``, ``cifar100``, ``ImageNet16-120``): the dataset's train split cut in two
    halves by a fixed permutation.  The test split is never used, nor, except on CIFAR-10,
    the table's valid split."""
    if dataset not in SEARCH_DATASETS:
        raise ValueError(f"one-shot search has no images for dataset {dataset!r}; allowed: "
                         f"{sorted(SEARCH_DATASETS)}")
    name = SEARCH_DATASETS[dataset]
    data = load_dataset(name, data_dir)
    if name == "cifar10-valid":
        vx, vy = data.eval_sets["valid"]
        return SearchData(data, data.train_x, data.train_y, vx, vy,
                          "weights: cifar10-valid's 25k train images; architecture: its 25k "
                          "valid images (NB201's cifar-split)")
    n = int(data.train_y.shape[0])
    perm = make_rng(0, "oneshot-halves", name).permutation(n)
    w = torch.from_numpy(np.sort(perm[: n // 2]))
    a = torch.from_numpy(np.sort(perm[n // 2:]))
    return SearchData(data, data.train_x[w], data.train_y[w], data.train_x[a], data.train_y[a],
                      f"{name}'s train split ({n} images) in two fixed halves: {n // 2} for "
                      f"the weights, {n - n // 2} for the architecture")


def gdas_tau(epoch: int, epochs: int, tau_max: float, tau_min: float) -> float:
    """GDAS' temperature at 0-based ``epoch`` of ``epochs``: linear from ``tau_max`` to
    ``tau_min`` (``exps/algos/GDAS.py``: ``tau_max - (tau_max - tau_min) * epoch /
    (total_epoch - 1)``; one epoch: ``tau_max``)."""
    if epochs <= 1:
        return tau_max
    return tau_max - (tau_max - tau_min) * epoch / (epochs - 1)


def gdas_sample(alpha: Any, tau: float, generator: Any) -> tuple[Any, Any]:
    """One GDAS draw (``search_model_gdas.py``): Gumbel noise ``g = -log(Exp(1))`` from
    ``generator`` (on the CPU, moved to ``alpha``'s device), ``probs = softmax((log_softmax
    (alpha) + g) / tau)``, ``index = argmax probs``, ``hard = one_hot(index) - probs.detach() +
    probs`` (straight-through).  Redrawn while the noise or probabilities are not finite, as
    the reference does.  Returns ``(hard, index)``, shapes ``(E, K)`` and ``(E, 1)``."""
    while True:
        expo = torch.empty(tuple(alpha.shape), dtype=alpha.dtype).exponential_(
            generator=generator)
        gumbels = (-expo.log()).to(alpha.device)
        logits = (alpha.log_softmax(dim=1) + gumbels) / tau
        probs = F.softmax(logits, dim=1)
        index = probs.max(-1, keepdim=True)[1]
        one_h = torch.zeros_like(logits).scatter_(-1, index, 1.0)
        hard = one_h - probs.detach() + probs
        if torch.isinf(gumbels).any() or torch.isinf(probs).any() or torch.isnan(probs).any():
            continue
        return hard, index


def dominant_eigenvalue(loss_fn: Callable[[Any], Any], param: Any, *, iters: int,
                        generator: Any) -> float:
    """The dominant (largest in magnitude) eigenvalue of the Hessian of ``loss_fn(param)``
    with respect to ``param``, by power iteration on Hessian-vector products (double
    backward through autograd; the gradient graph is built once).

    The start vector is ``N(0, 1)`` from ``generator`` (CPU); the estimate is the Rayleigh
    quotient ``v . H v`` of the last unit iterate.  NaN if ``iters`` is 0 or the loss is not
    finite.  This is the curvature DARTS-ES / RobustDARTS track (Zela et al., "Understanding
    and Robustifying Differentiable Architecture Search", ICLR 2020): its growth over the
    search epochs signals the collapse to parameter-free cells.
    """
    if iters <= 0:
        return math.nan
    p = param.detach().clone().requires_grad_(True)
    loss = loss_fn(p)
    if not bool(torch.isfinite(loss)):
        return math.nan
    (grad,) = torch.autograd.grad(loss, p, create_graph=True)
    v = torch.randn(tuple(p.shape), generator=generator, dtype=p.dtype).to(p.device)
    v = v / v.norm()
    lam = math.nan
    for _ in range(iters):
        (hv,) = torch.autograd.grad(grad, p, grad_outputs=v, retain_graph=True)
        lam = float((hv * v).sum())
        norm = hv.norm()
        if not bool(norm > 0) or not math.isfinite(lam):
            return lam if math.isfinite(lam) else math.nan
        v = hv / norm
    return lam


def darts_v2_arch_grad(net: Any, alpha: Any, xb: Any, yb: Any, xa: Any, ya: Any, *,
                       lr: float, momentum: float, weight_decay: float,
                       momentum_buffers: list[Any] | None, r: float = 1e-2
                       ) -> tuple[Any, Any, Any]:
    """DARTS' second-order architecture gradient (Liu et al. 2019, eq. 7-8), as
    ``exps/algos/DARTS-V2.py`` (``backward_step_unrolled``) computes it:

    * ``w' = w - lr * (momentum * buf + dL_train/dw + weight_decay * w)`` (one virtual SGD
      step from the momentum buffers, zero when there are none);
    * ``dalpha = dL_val(w', alpha)/dalpha - lr * H`` with the Hessian-vector product
      ``H = (dL_train(w+, alpha)/dalpha - dL_train(w-, alpha)/dalpha) / (2R)``,
      ``w+- = w +- R v``, ``v = dL_val(w', alpha)/dw'``, ``R = r / ||v||``.

    The unrolled forward runs on copies of the BatchNorm buffers (the reference deep-copies
    the network); the two finite-difference forwards run on the network itself in train
    mode (so they update its running statistics, as the reference's do).  The weights are
    restored by copy after the perturbation (the reference adds and subtracts ``R v``).

    Returns ``(dalpha, unrolled_loss, unrolled_logits)``.
    """
    params = dict(net.named_parameters())
    names = list(params)
    theta = [params[k] for k in names]
    loss = F.cross_entropy(net(xb, weights=alpha.softmax(-1).detach()), yb)
    grads = torch.autograd.grad(loss, theta)
    with torch.no_grad():
        unrolled = {}
        for i, k in enumerate(names):
            moment = (momentum * momentum_buffers[i] if momentum_buffers is not None
                      else torch.zeros_like(theta[i]))
            d = grads[i] + weight_decay * theta[i]
            unrolled[k] = (theta[i] - lr * (moment + d)).requires_grad_(True)
    buffers = {k: b.detach().clone() for k, b in net.named_buffers()}
    a = alpha.detach().clone().requires_grad_(True)
    logits_u = torch.func.functional_call(net, {**unrolled, **buffers}, (xa,),
                                          {"weights": a.softmax(-1)})
    loss_u = F.cross_entropy(logits_u, ya)
    out = torch.autograd.grad(loss_u, [a] + [unrolled[k] for k in names])
    dalpha, vec = out[0], out[1:]
    norm = torch.cat([v.reshape(-1) for v in vec]).norm()
    big_r = r / norm
    saved = [t.detach().clone() for t in theta]

    def grad_alpha() -> Any:
        b = alpha.detach().clone().requires_grad_(True)
        lo = F.cross_entropy(net(xb, weights=b.softmax(-1)), yb)
        return torch.autograd.grad(lo, b)[0]

    with torch.no_grad():
        for t, v in zip(theta, vec):
            t.add_(big_r * v)
    g_pos = grad_alpha()
    with torch.no_grad():
        for t, s, v in zip(theta, saved, vec):
            t.copy_(s).sub_(big_r * v)
    g_neg = grad_alpha()
    with torch.no_grad():
        for t, s in zip(theta, saved):
            t.copy_(s)
    implicit = (g_pos - g_neg) / (2 * big_r)
    return dalpha - lr * implicit, loss_u.detach(), logits_u.detach()


class SearchEngine:
    """One supernet search (see the module docstring).

    Args:
        method: ``"darts-v1"``, ``"darts-v2"``, ``"gdas"`` or ``"rsps"``.
        opts: the searcher's hyper-parameters (``get_params()``).
        seed: the root seed of every generator of the search.
        dataset: the run's dataset (see :func:`load_search_data`).
        data: the halves to use instead (timing benchmarks with synthetic images).
    """

    def __init__(self, method: str, opts: Mapping[str, Any], seed: int, dataset: str, *,
                 data: SearchData | None = None) -> None:
        self.method, self.o, self.seed = method, dict(opts), int(seed)
        dev = str(self.o["device"])
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {dev!r} asked for, but torch sees no CUDA device; "
                             f"use device='cpu'")
        self.device = torch.device(dev)
        self.sd = data if data is not None else load_search_data(dataset, self.o["data_dir"])
        images = self.sd.data
        digits = images.name == "digits"
        c = self.o["channels"] if self.o["channels"] is not None else (4 if digits else 16)
        n = (self.o["cells_per_stage"] if self.o["cells_per_stage"] is not None
             else (1 if digits else 5))
        self.channels, self.cells_per_stage = int(c), int(n)

        def gen(*path: object) -> Any:
            return torch.Generator().manual_seed(derive_seed(self.seed, "oneshot", *path))

        self.g_order, self.g_aug = gen("order"), gen("augment")
        self.g_arch, self.g_hess = gen("arch-sample"), gen("hessian")
        with self.determinism():
            self.net: NB201SuperNet = build_supernet(
                num_classes=images.num_classes, channels=self.channels,
                cells_per_stage=self.cells_per_stage,
                track_running_stats=bool(self.o["track_running_stats"]),
                generator=gen("init"), device=self.device)
            alpha0 = 1e-3 * torch.randn((_N_EDGES, _N_OPS), generator=gen("alpha"))
        self.alpha = alpha0.to(self.device).requires_grad_(True)
        self.weights = list(self.net.parameters())
        self.opt_w = torch.optim.SGD(self.weights, lr=self.o["lr"], momentum=self.o["momentum"],
                                     nesterov=bool(self.o["nesterov"]),
                                     weight_decay=self.o["weight_decay"])
        self.opt_a = (torch.optim.Adam([self.alpha], lr=self.o["arch_lr"], betas=(0.5, 0.999),
                                       weight_decay=self.o["arch_weight_decay"])
                      if method != "rsps" else None)
        # the fixed batch of the architecture half the curvature is measured on
        na = int(self.sd.a_y.shape[0])
        k = min(int(self.o["hessian_images"]), na)
        idx = torch.from_numpy(np.sort(make_rng(0, "oneshot-hessian").permutation(na)[:k]))
        self.h_x, self.h_y = self.sd.a_x[idx], self.sd.a_y[idx]
        self.epochs_done = 0

    def determinism(self) -> Any:
        return _scoped_determinism(self.o["threads"], self.device)

    # ------------------------------------------------------------------ data
    def _batch(self, x: Any, y: Any) -> tuple[Any, Any]:
        data = self.sd.data
        if data.crop_padding or data.flip:
            x = _random_crop_flip(x, data.crop_padding, data.flip, self.g_aug)
        return data.normalise(x, self.device), y.to(self.device, non_blocking=True)

    def lr_at(self, epoch: int) -> float:
        """NB201's per-epoch cosine (``CosineAnnealingLR`` of ``lib/procedures``):
        ``lr_min + (lr - lr_min) * (1 + cos(pi * epoch / epochs)) / 2``."""
        o = self.o
        return o["lr_min"] + (o["lr"] - o["lr_min"]) * (
            1 + math.cos(math.pi * epoch / o["epochs"])) / 2

    # ---------------------------------------------------------------- epochs
    def epoch(self) -> dict[str, float]:
        """One search epoch; returns the running statistics (accuracies in %, losses in
        nats) and the epoch's learning rate (and GDAS' temperature)."""
        o, net = self.o, self.net
        e = self.epochs_done
        lr = self.lr_at(e)
        for group in self.opt_w.param_groups:
            group["lr"] = lr
        tau = gdas_tau(e, o["epochs"], o.get("tau_max", 10.0), o.get("tau_min", 0.1))
        n = int(self.sd.w_y.shape[0])
        bs = int(o["batch_size"])
        steps = math.ceil(n / bs)
        if o["max_batches"] is not None:
            steps = min(steps, int(o["max_batches"]))
        # NB201's SearchDataset: every train image once per epoch (shuffled), each paired
        # with a uniformly drawn image of the architecture half
        perm = torch.randperm(n, generator=self.g_order)
        arch_idx = torch.randint(int(self.sd.a_y.shape[0]), (n,), generator=self.g_order)
        st = {"w_loss": 0.0, "w_correct": 0, "w_n": 0, "a_loss": 0.0, "a_correct": 0, "a_n": 0}
        net.train()
        for i in range(steps):
            bi = perm[i * bs:(i + 1) * bs]
            ai = arch_idx[i * bs:(i + 1) * bs]
            xb, yb = self._batch(self.sd.w_x[bi], self.sd.w_y[bi])
            xa, ya = self._batch(self.sd.a_x[ai], self.sd.a_y[ai])
            if self.method == "darts-v2":
                self._arch_step_v2(xb, yb, xa, ya, lr, st)
                self._weight_step(xb, yb, st, weights=self.alpha.softmax(-1).detach())
            elif self.method == "darts-v1":
                self._weight_step(xb, yb, st, weights=self.alpha.softmax(-1).detach())
                self._arch_step(xa, ya, st, lambda x: net(x, weights=self.alpha.softmax(-1)))
            elif self.method == "gdas":
                hard = gdas_sample(self.alpha.detach(), tau, self.g_arch)
                self._weight_step(xb, yb, st, hard=hard)
                self._arch_step(xa, ya, st,
                                lambda x: net(x, hard=gdas_sample(self.alpha, tau, self.g_arch)))
            else:  # rsps: a uniformly random cell per step (RANDOM-NAS.py)
                ops = self.random_cell()
                self._weight_step(xb, yb, st, ops=ops)
        self.epochs_done += 1
        out = {"lr": lr,
               "supernet_train_acc": 100.0 * st["w_correct"] / max(st["w_n"], 1),
               "supernet_train_loss": st["w_loss"] / max(st["w_n"], 1)}
        if st["a_n"]:
            out["supernet_valid_acc"] = 100.0 * st["a_correct"] / st["a_n"]
            out["supernet_valid_loss"] = st["a_loss"] / st["a_n"]
        if self.method == "gdas":
            out["tau"] = tau
        return out

    def random_cell(self) -> tuple[int, ...]:
        """One op per edge, uniformly (``random_genotype``)."""
        return tuple(int(v) for v in torch.randint(0, _N_OPS, (_N_EDGES,),
                                                   generator=self.g_arch))

    def _weight_step(self, x: Any, y: Any, st: dict[str, Any], **mode: Any) -> None:
        self.opt_w.zero_grad(set_to_none=True)
        logits = self.net(x, **mode)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        if self.o["grad_clip"] is not None:
            torch.nn.utils.clip_grad_norm_(self.weights, self.o["grad_clip"])
        self.opt_w.step()
        self._count(st, "w", logits, loss, y)

    def _arch_step(self, x: Any, y: Any, st: dict[str, Any], forward: Callable[[Any], Any]
                   ) -> None:
        assert self.opt_a is not None
        self.opt_a.zero_grad(set_to_none=True)
        logits = forward(x)
        loss = F.cross_entropy(logits, y)
        (g,) = torch.autograd.grad(loss, [self.alpha])
        self.alpha.grad = g
        self.opt_a.step()
        self._count(st, "a", logits, loss, y)

    def _arch_step_v2(self, xb: Any, yb: Any, xa: Any, ya: Any, lr: float,
                      st: dict[str, Any]) -> None:
        assert self.opt_a is not None
        bufs = [self.opt_w.state.get(p, {}).get("momentum_buffer") for p in self.weights]
        buffers = None if any(b is None for b in bufs) else bufs
        self.opt_a.zero_grad(set_to_none=True)
        dalpha, loss_u, logits_u = darts_v2_arch_grad(
            self.net, self.alpha, xb, yb, xa, ya, lr=lr, momentum=self.o["momentum"],
            weight_decay=self.o["weight_decay"], momentum_buffers=buffers)
        self.alpha.grad = dalpha
        self.opt_a.step()
        self._count(st, "a", logits_u, loss_u, ya)

    @staticmethod
    def _count(st: dict[str, Any], key: str, logits: Any, loss: Any, y: Any) -> None:
        n = int(y.shape[0])
        st[f"{key}_loss"] += float(loss.detach()) * n
        st[f"{key}_correct"] += int((logits.detach().argmax(1) == y).sum())
        st[f"{key}_n"] += n

    # ------------------------------------------------------------ selection
    def evaluate_cell(self, ops: tuple[int, ...], images: int | None) -> tuple[float, float]:
        """Accuracy (%) and loss of the supernet restricted to cell ``ops`` on the
        architecture half (its first ``images``; ``None``: all), in eval mode."""
        net, data = self.net, self.sd.data
        x_all, y_all = self.sd.a_x, self.sd.a_y
        if images is not None:
            x_all, y_all = x_all[:images], y_all[:images]
        net.eval()
        correct, loss_sum, n = 0, 0.0, int(y_all.shape[0])
        with torch.no_grad():
            for s in range(0, n, 512):
                x = data.normalise(x_all[s:s + 512], self.device)
                y = y_all[s:s + 512].to(self.device)
                logits = net(x, ops=ops)
                loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(1) == y).sum())
        net.train()
        return 100.0 * correct / n, loss_sum / n

    def select_best(self, n: int, images: int | None) -> tuple[tuple[int, ...], float, float]:
        """RSPS' final selection (``RANDOM-NAS.py``): ``n`` uniformly random cells, the one
        with the highest accuracy on the architecture half (the first on ties)."""
        best: tuple[tuple[int, ...], float, float] | None = None
        for _ in range(n):
            ops = self.random_cell()
            acc, loss = self.evaluate_cell(ops, images)
            if best is None or best[1] < acc:
                best = (ops, acc, loss)
        assert best is not None
        return best

    # ----------------------------------------------------------- diagnostics
    def hessian_eigenvalue(self) -> float:
        """Dominant eigenvalue of the Hessian of the (relaxed, DARTS) loss on the fixed
        architecture-half batch w.r.t. the architecture logits, in train mode (batch
        statistics); the BatchNorm buffers are restored after."""
        iters = int(self.o["hessian_iters"])
        if iters <= 0 or self.method == "rsps":
            return math.nan
        net = self.net
        saved = {k: b.detach().clone() for k, b in net.named_buffers()}
        x = self.sd.data.normalise(self.h_x, self.device)
        y = self.h_y.to(self.device)
        net.train()
        try:
            return dominant_eigenvalue(
                lambda a: F.cross_entropy(net(x, weights=a.softmax(-1)), y), self.alpha,
                iters=iters, generator=self.g_hess)
        finally:
            with torch.no_grad():
                for k, b in net.named_buffers():
                    b.copy_(saved[k])
            net.zero_grad(set_to_none=True)
