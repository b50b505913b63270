"""Zero-cost proxies, computed together on one freshly initialised network.

Definitions (``W`` = the weights of every Conv2d / Linear layer, as in Abdelfattah et al.
2021; ``L`` = cross-entropy of the batch; BN in train mode, i.e. batch statistics):

* ``params``: parameters, in millions.  ``flops``: multiply-accumulates of one image, in
  millions (NB201's counting, see :func:`benchbench.nn.count_flops`).
* ``l2_norm``: ``sum_layers ||W||_2`` at initialisation.
* ``grad_norm``: ``sum_layers ||dL/dW||_2``.
* ``snip``: ``sum |W * dL/dW|`` (Lee et al. 2019).  ``plain``: ``sum W * dL/dW`` (signed).
* ``grasp``: ``sum -W * (H g)``, ``g = dL/dW``, ``H`` the Hessian of ``L`` (Wang et al.
  2020), via a double backward.
* ``fisher``: for every Conv2d / Linear output ``a`` with gradient ``dL/da``:
  ``0.5 * mean_batch (sum_space a * dL/da)^2``, summed over channels and layers
  (Turner et al. 2020, as in Abdelfattah et al.).
* ``jacob_cov``: ``J = dsum(logits)/dx`` per image, ``C = corrcoef(J)`` (``B x B``), eigenvalues
  ``v``: ``-sum(log(v + 1e-5) + 1/(v + 1e-5))`` (Mellor et al. 2020, v1).
* ``nwot`` (NASWOT, Mellor et al. 2021): binary codes ``c`` of the input of every ``nn.ReLU``;
  ``K = sum_relus c c^T + (1-c)(1-c)^T``; score ``log|det K|``.
* ``synflow`` (Tanaka et al. 2020): a float64 copy with ``|W|`` for every parameter, BN in eval
  mode with its fresh running statistics (mean 0, var 1, i.e. the identity up to
  ``1/sqrt(1+eps)``: the reference removes BN), input all ones ``(1, 3, H, W)``;
  ``sum_layers |W * dsum(out)/dW|``.  Data-independent.
* ``zen`` (Lin et al. 2021): a separate network with Zen-NAS's Gaussian initialisation,
  Gaussian inputs ``x`` and ``x' = x + 0.01 eps`` of the batch's shape; ``f`` = the map entering
  the global average pooling; ``log(mean_batch sum |f(x) - f(x')|) + sum_BN log sqrt(mean_c
  var_c)`` with the batch variance of every BN's input.  One repeat (the paper averages 32:
  average over seeds for that).  Data-independent.

Shared passes: one forward with hooks (``nwot`` codes, ``fisher`` activations), one backward
of ``sum(logits)`` w.r.t. the input (``jacob_cov``), one backward of ``L`` w.r.t. ``W``
(``grad_norm``, ``snip``, ``plain``, ``fisher``; with ``create_graph`` if ``grasp`` is asked)
and one double backward (``grasp``).  NaN and inf are returned as they come out.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchbench.api import unknown
from benchbench.rng import derive_seed

__all__ = ["DATA_INDEPENDENT", "IMPLEMENTATION", "PROXIES", "ProxyScore", "canonical_proxy",
           "compute_proxies"]

#: Version of these definitions and of the networks' numerics; a score cache records it and
#: refuses to mix scores of different versions.
IMPLEMENTATION = "1"

#: Every proxy, in report order.
PROXIES: tuple[str, ...] = ("params", "flops", "grad_norm", "snip", "grasp", "fisher",
                            "jacob_cov", "synflow", "nwot", "l2_norm", "plain", "zen")
#: Proxies that do not look at the data batch (only at its shape).
DATA_INDEPENDENT: frozenset[str] = frozenset({"params", "flops", "synflow", "l2_norm", "zen"})
_ALIASES = {"naswot": "nwot", "jacov": "jacob_cov", "jacobcov": "jacob_cov"}

# Which timed stages each proxy needs (its ``seconds`` is their sum).
_NEEDS: dict[str, tuple[str, ...]] = {
    "params": ("init", "params"), "l2_norm": ("init", "l2_norm"), "flops": ("init", "flops"),
    "synflow": ("init", "synflow"), "zen": ("zen",),
    "nwot": ("init", "forward", "nwot"),
    "jacob_cov": ("init", "forward", "jacob_bwd", "jacob_cov"),
    "grad_norm": ("init", "forward", "loss_bwd", "grad_norm"),
    "snip": ("init", "forward", "loss_bwd", "snip"),
    "plain": ("init", "forward", "loss_bwd", "plain"),
    "fisher": ("init", "forward", "loss_bwd", "fisher"),
    "grasp": ("init", "forward", "loss_bwd", "grasp"),
}


@dataclass(frozen=True, slots=True)
class ProxyScore:
    """One proxy's value for one network.

    Attributes:
        proxy: the proxy's name (see :data:`PROXIES`).
        value: the score (NaN / inf kept as computed).
        seconds: CPU seconds (``time.process_time``: robust to other load on the machine;
            with several torch threads it sums their time) of the passes this proxy needs, as
            if computed alone (shared passes counted in full for every proxy using them).
    """

    proxy: str
    value: float
    seconds: float


def canonical_proxy(name: str) -> str:
    """The canonical name of a proxy (accepts ``naswot`` for ``nwot``, ``jacov`` for
    ``jacob_cov``); raises ``UnknownNameError`` otherwise."""
    n = _ALIASES.get(name, name)
    if n not in PROXIES:
        raise unknown("proxy", name, PROXIES)
    return n


def _layers(net: Any) -> list[Any]:
    from torch import nn
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


class _Timer:
    def __init__(self) -> None:
        self.t: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.t[stage] = self.t.get(stage, 0.0) + seconds

    def run(self, stage: str, fn: Callable[[], Any]) -> Any:
        t0 = time.process_time()
        try:
            return fn()
        finally:
            self.add(stage, time.process_time() - t0)


def compute_proxies(builder: Callable[..., Any], arch: Any, batch: Any, *,
                    proxies: Iterable[str] = PROXIES, seed: int = 0,
                    arch_key: str | None = None) -> dict[str, ProxyScore]:
    """Compute ``proxies`` for ``arch`` on a network freshly initialised from ``seed``.

    Args:
        builder: ``builder(arch, num_classes=...) -> nn.Module`` (see
            :func:`benchbench.nn.get_builder`).
        arch: what ``builder`` takes (NB201: an arch record, cell string or index).
        batch: a :class:`benchbench.nn.Batch` (``x`` ``(B, 3, H, W)``, ``y`` ``(B,)``).
        proxies: names (see :data:`PROXIES`; aliases ``naswot``, ``jacov``).
        seed: initialisation seed; the weights are drawn from
            ``derive_seed(seed, "proxy-init", arch_key)``.
        arch_key: the arch's id for seeding (default ``str(arch)``).

    Returns:
        ``{proxy: ProxyScore}`` in the order asked.
    """
    import torch

    from benchbench.nn import count_flops, count_params, new_network

    names = list(dict.fromkeys(canonical_proxy(p) for p in proxies))
    want = set(names)
    key = str(arch) if arch_key is None else arch_key
    timer = _Timer()
    values: dict[str, float] = {}

    def gen(tag: str) -> Any:
        return torch.Generator().manual_seed(derive_seed(seed, tag, key))

    needs_net = want - {"zen"}
    if needs_net:
        net = timer.run("init", lambda: new_network(builder, arch, num_classes=batch.num_classes,
                                                    generator=gen("proxy-init")))
        layers = _layers(net)
        if "params" in want:
            values["params"] = timer.run("params", lambda: count_params(net) / 1e6)
        if "l2_norm" in want:
            values["l2_norm"] = timer.run("l2_norm", lambda: float(
                sum(m.weight.detach().norm() for m in layers)))
        if "flops" in want:
            values["flops"] = timer.run("flops", lambda: count_flops(net,
                                                                     tuple(batch.x.shape[1:])))
        if "synflow" in want:
            values["synflow"] = timer.run("synflow", lambda: _synflow(net, batch.x.shape[1:]))
        if want & {"nwot", "jacob_cov", "grad_norm", "snip", "plain", "fisher", "grasp"}:
            values.update(_shared_passes(net, layers, batch, want, timer))
    if "zen" in want:
        values["zen"] = timer.run("zen", lambda: _zen(builder, arch, batch, gen("zen-init"),
                                                      gen("zen-input")))
    return {p: ProxyScore(p, float(values[p]), sum(timer.t.get(s, 0.0) for s in _NEEDS[p]))
            for p in names}


def _synflow(net: Any, shape: Sequence[int]) -> float:
    import torch
    dnet = copy.deepcopy(net).double().eval()
    with torch.no_grad():
        for p in dnet.parameters():
            p.abs_()
    out = dnet(torch.ones((1, *shape), dtype=torch.float64))
    out.sum().backward()
    return float(sum((m.weight.detach() * m.weight.grad).abs().sum() for m in _layers(dnet)
                     if m.weight.grad is not None))


def _shared_passes(net: Any, layers: list[Any], batch: Any, want: set[str],
                   timer: _Timer) -> dict[str, float]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    out: dict[str, float] = {}
    n = batch.x.shape[0]
    handles: list[Any] = []
    state = {"fisher_on": False}
    kernel = torch.zeros((n, n), dtype=torch.float64)
    fisher_sum = [0.0]

    def relu_hook(module: Any, inp: Any, _out: Any) -> None:
        t0 = time.process_time()
        c = (inp[0].detach().reshape(n, -1) > 0).to(torch.float32)
        d = c.shape[1]
        ones = c.sum(1, dtype=torch.float64)
        # c c^T + (1-c)(1-c)^T = 2 c c^T + d - n_i - n_j  (one matmul; exact in float32
        # while d < 2^24)
        kernel.add_((c @ c.T).to(torch.float64).mul_(2).add_(d)
                    .sub_(ones[:, None]).sub_(ones[None, :]))
        timer.add("nwot", time.process_time() - t0)

    def layer_hook(module: Any, _inp: Any, act: Any) -> None:
        def grad_hook(g: Any) -> None:
            if not state["fisher_on"]:
                return
            t0 = time.process_time()
            prod = act.detach() * g.detach()
            g_nk = prod.sum((2, 3)) if prod.dim() == 4 else prod
            fisher_sum[0] += float(g_nk.double().pow(2).mean(0).mul(0.5).sum())
            timer.add("fisher", time.process_time() - t0)
        if act.requires_grad:
            act.register_hook(grad_hook)

    if "nwot" in want:
        handles += [m.register_forward_hook(relu_hook) for m in net.modules()
                    if isinstance(m, nn.ReLU)]
    if "fisher" in want:
        handles += [m.register_forward_hook(layer_hook) for m in layers]
    x = batch.x.clone().requires_grad_("jacob_cov" in want)
    try:
        logits = timer.run("forward", lambda: net(x))
    finally:
        for h in handles:
            h.remove()
    timer.t["forward"] -= timer.t.get("nwot", 0.0)  # hook time is nwot's own
    if "nwot" in want:
        out["nwot"] = timer.run("nwot", lambda: float(np.linalg.slogdet(kernel.numpy())[1]))

    grad_proxies = want & {"grad_norm", "snip", "plain", "fisher", "grasp"}
    if "jacob_cov" in want:
        (gx,) = timer.run("jacob_bwd", lambda: torch.autograd.grad(
            logits.sum(), x, retain_graph=bool(grad_proxies)))
        out["jacob_cov"] = timer.run("jacob_cov", lambda: _jacob_cov(gx))
    if not grad_proxies:
        return out

    weights = [m.weight for m in layers]
    state["fisher_on"] = True
    grads = timer.run("loss_bwd", lambda: torch.autograd.grad(
        F.cross_entropy(logits, batch.y), weights, create_graph="grasp" in want,
        allow_unused=True))
    state["fisher_on"] = False
    timer.t["loss_bwd"] -= timer.t.get("fisher", 0.0)
    pairs = [(w.detach(), g) for w, g in zip(weights, grads) if g is not None]
    if "fisher" in want:
        out["fisher"] = fisher_sum[0]
    if "grad_norm" in want:
        out["grad_norm"] = timer.run("grad_norm", lambda: float(
            sum(g.detach().norm() for _, g in pairs)))
    if "snip" in want:
        out["snip"] = timer.run("snip", lambda: float(
            sum((w * g.detach()).abs().sum() for w, g in pairs)))
    if "plain" in want:
        out["plain"] = timer.run("plain", lambda: float(
            sum((w * g.detach()).sum() for w, g in pairs)))
    if "grasp" in want:
        out["grasp"] = timer.run("grasp", lambda: _grasp(weights, grads))
    return out


def _grasp(weights: list[Any], grads: Sequence[Any]) -> float:
    import torch
    live = [(w, g) for w, g in zip(weights, grads) if g is not None and g.requires_grad]
    if not live:
        return math.nan
    z = sum((g.detach() * g).sum() for _, g in live)
    hg = torch.autograd.grad(z, [w for w, _ in live], allow_unused=True)
    return float(sum((-w.detach() * h).sum() for (w, _), h in zip(live, hg) if h is not None))


def _jacob_cov(gx: Any) -> float:
    j = gx.detach().reshape(gx.shape[0], -1).double().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.corrcoef(j)
    if not np.all(np.isfinite(corr)):
        return math.nan
    v = np.linalg.eigvalsh(corr)
    k = 1e-5
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


def _zen(builder: Callable[..., Any], arch: Any, batch: Any, init_gen: Any,
         input_gen: Any) -> float:
    import torch
    from torch import nn

    from benchbench.nn import new_network

    net = new_network(builder, arch, num_classes=batch.num_classes, generator=init_gen,
                      scheme="gaussian")
    pools = [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    if not pools:
        raise ValueError("zen needs a network with a global nn.AdaptiveAvgPool2d "
                         "(its input is the feature map Zen-NAS scores)")
    feats: list[Any] = []
    bn_vars: list[Any] = []
    def pool_hook(m: Any, inp: Any, _out: Any) -> None:
        feats.append(inp[0])

    def bn_hook(m: Any, inp: Any, _out: Any) -> None:
        if not feats:  # the unperturbed pass only
            bn_vars.append(inp[0].var(dim=(0, 2, 3), unbiased=True).mean())

    handles = [pools[-1].register_forward_hook(pool_hook)]
    handles += [m.register_forward_hook(bn_hook) for m in net.modules()
                if isinstance(m, nn.BatchNorm2d)]
    shape = tuple(batch.x.shape)
    x = torch.randn(shape, generator=input_gen)
    x2 = x + 0.01 * torch.randn(shape, generator=input_gen)
    try:
        with torch.no_grad():
            net(x)
            net(x2)
    finally:
        for h in handles:
            h.remove()
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = float((feats[0] - feats[1]).abs().sum((1, 2, 3)).mean())
        log_bn = float(sum(0.5 * math.log(float(v)) if float(v) > 0 else
                           (-math.inf if float(v) == 0 else math.nan) for v in bn_vars))
        return (math.log(diff) if diff > 0 else (-math.inf if diff == 0 else math.nan)) + log_bn
