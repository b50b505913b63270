"""Zero-cost proxies: definitions checked against plain re-computations, shared passes equal
separate ones, seeding, NaN/inf kept, the cached sweep, correlations, proxy-guided search,
and the CLI.  Small networks (C=4..8, N=1) and small batches keep it fast."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from algorithms._naswot import NASWOT, ZeroCostWarmStartRE
from algorithms.proxies import (
    DATA_INDEPENDENT,
    IMPLEMENTATION,
    IMPLEMENTATION_CHANGES,
    PASSES,
    PROXIES,
    VARIANTS,
    Proxy,
    ProxyContext,
    ProxyContractError,
    ProxyDefinition,
    ScoreConfig,
    canonical_proxy,
    get_proxy,
    load_scores,
    read_cells,
    sample_cells,
    score_cells,
    write_scores_dir,
)
from benchbench.registry import PROXIES as PROXY_REGISTRY
from benchbench.registry import RegistryError
from benchbench.rng import make_rng
from benchbench.spaces import NB201Space, SearchSpace
from benchbench.trial import TrialValue
from results.correlation import (
    PUBLISHED,
    correlate,
    correlate_scores,
    plot_heatmap,
    plot_scatter,
    published_spearman,
)

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from algorithms.proxies import compute_proxies
from benchbench.nn import (
    build_nb201,
    get_builder,
    load_batch,
    new_network,
    register_builder,
    torch_threads,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    with torch_threads(1):  # small networks: fastest, and kind to a shared machine
        yield
SMALL = {"channels": 4, "cells_per_stage": 1}
CELLS = [("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|"
          "skip_connect~2|"),
         ("|skip_connect~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|"
          "nor_conv_3x3~2|")]
ZERO = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def batch():
    return load_batch("digits", batch_size=8, seed=0)


@pytest.fixture(scope="module")
def builder():
    return get_builder("nb201", **SMALL)


def fresh(builder, cell, seed=0, key=None):
    """The network compute_proxies initialises for (cell, seed)."""
    from benchbench.rng import derive_seed
    g = torch.Generator().manual_seed(derive_seed(seed, "proxy-init", key or cell))
    return new_network(builder, cell, num_classes=10, generator=g)


def layer_weights(net):
    return [m.weight for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


def test_names_and_aliases() -> None:
    assert len(PROXIES) == 12 and set(PROXIES) >= DATA_INDEPENDENT
    assert VARIANTS == ("fisher_channel",) and not set(VARIANTS) & set(PROXIES)
    assert frozenset({"params", "flops", "synflow", "l2_norm", "zen"}) == DATA_INDEPENDENT
    assert canonical_proxy("naswot") == "nwot" and canonical_proxy("jacov") == "jacob_cov"
    with pytest.raises(KeyError, match="synflow"):
        canonical_proxy("synflo")
    with pytest.raises(RegistryError, match="NO_SUCH"):
        canonical_proxy("test_proxies:NO_SUCH")


def test_every_builtin_proxy_has_a_module_a_reference_and_a_description() -> None:
    import importlib

    builtin = [e for e in PROXY_REGISTRY.entries() if e.origin == "builtin"]
    assert sorted(e.name for e in builtin) == sorted(PROXIES + VARIANTS)
    for e in builtin:
        module, _, attr = e.target.partition(":")
        assert module == f"algorithms.proxies.{e.name}", e  # one module per proxy
        d = PROXY_REGISTRY.load(e.name)
        assert getattr(importlib.import_module(module), attr) is d is get_proxy(e.name)
        assert isinstance(d, ProxyDefinition) and d.name == e.name
        desc = PROXY_REGISTRY.description(e.name)
        assert desc == d.description and desc and "\n" not in desc and len(desc) < 160, e.name
        assert "http" in d.reference and any(str(y) in d.reference for y in range(2018, 2023)), \
            e.name
        assert d.needs and set(d.needs) <= set(PASSES) and isinstance(d.data_independent, bool)
        assert (e.name in DATA_INDEPENDENT) == d.data_independent
        assert PROXY_REGISTRY.params(e.name) == ()
        assert (importlib.import_module(module).__doc__ or "").startswith(f"``{e.name}``")


def test_gradient_proxies_match_plain_recomputation(batch, builder) -> None:
    cell = CELLS[0]
    got = compute_proxies(builder, cell, batch, seed=3)
    net = fresh(builder, cell, seed=3)
    loss = torch.nn.functional.cross_entropy(net(batch.x), batch.y)
    loss.backward()
    ws = layer_weights(net)
    assert got["grad_norm"].value == pytest.approx(sum(float(w.grad.norm()) for w in ws), rel=1e-5)
    assert got["snip"].value == pytest.approx(
        sum(float((w.detach() * w.grad).abs().sum()) for w in ws), rel=1e-5)
    assert got["plain"].value == pytest.approx(sum(float((w.detach() * w.grad).sum()) for w in ws),
                                               rel=1e-4, abs=1e-7)
    assert got["l2_norm"].value == pytest.approx(sum(float(w.detach().norm()) for w in ws),
                                                 rel=1e-6)
    assert got["params"].value == sum(p.numel() for p in net.parameters()) / 1e6


def test_grasp_matches_two_pass_reference(batch, builder) -> None:
    """-theta . (H g), against the reference's two-pass recipe (gradient without graph, then
    a second forward with ``create_graph`` and ``z = sum(g * grad)``; ``z.backward()``).

    (A finite difference of the gradient is no check here: ReLU kinks crossed by the step
    add O(1) terms that autograd's Hessian, which is zero at kinks, does not have.)"""
    cell = CELLS[1]
    got = compute_proxies(builder, cell, batch, proxies=["grasp"], seed=1)["grasp"].value
    net = fresh(builder, cell, seed=1)
    ws = layer_weights(net)
    loss = torch.nn.functional.cross_entropy(net(batch.x), batch.y)
    g = [t.detach() for t in torch.autograd.grad(loss, ws)]
    loss2 = torch.nn.functional.cross_entropy(net(batch.x), batch.y)
    gf = torch.autograd.grad(loss2, ws, create_graph=True)
    sum((a * b).sum() for a, b in zip(g, gf)).backward()
    ref = sum(float((-w.detach() * w.grad).sum()) for w in ws)
    assert got == pytest.approx(ref, rel=1e-3, abs=1e-6)


def naslib_fisher(net, x, y):
    """The reference's fisher step re-done (NASLib ``measures/fisher.py``, a copy of
    zero-cost-nas ``foresight/pruners/measures/fisher.py``): per Conv2d / Linear output ``a``
    with loss gradient ``g``, ``del_k = 0.5 mean_n (sum_space a g)_nk^2`` accumulated per
    layer; ``|fisher|`` of each channel filled into a tensor of ``weight.shape[1:]``
    (``p_utils.reshape_elements``; zeros for a layer the loss does not reach) and every
    array summed (``find_measures``' ``sum_arr``).  Returns (the reference's sum, the sum with
    each channel counted once)."""
    mods = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    fisher: dict = {}

    def forward_hook(layer, _inp, out):
        def backward_hook(g):
            a, g = out.detach(), g.detach()
            g_nk = (a * g).sum(tuple(range(2, a.dim()))) if a.dim() > 2 else a * g
            del_k = g_nk.pow(2).mean(0).mul(0.5)
            fisher[layer] = del_k if layer not in fisher else fisher[layer] + del_k
        out.register_hook(backward_hook)

    hooks = [m.register_forward_hook(forward_hook) for m in mods]
    net.train()
    net.zero_grad()
    torch.nn.functional.cross_entropy(net(x), y).backward()
    for h in hooks:
        h.remove()
    per_channel = [fisher[m].abs() if m in fisher else torch.zeros(m.weight.shape[0])
                   for m in mods]
    per_weight = [torch.stack([torch.full(tuple(m.weight.shape[1:]), float(v)) for v in ch])
                  for m, ch in zip(mods, per_channel)]
    return (sum(float(t.double().sum()) for t in per_weight),
            sum(float(ch.double().sum()) for ch in per_channel))


@pytest.mark.parametrize("cell", CELLS)
def test_fisher_matches_the_reference_broadcast(batch, builder, cell) -> None:
    """``fisher`` is the reference's sum (each channel's saliency once per weight of the
    channel); ``fisher_channel`` counts each channel once.  (Implementation 1's ``fisher``
    was the channel count: it fails the first assertion.)"""
    got = compute_proxies(builder, cell, batch, proxies=["fisher", "fisher_channel"], seed=2)
    ref, channel_once = naslib_fisher(fresh(builder, cell, seed=2), batch.x, batch.y)
    assert got["fisher"].value == pytest.approx(ref, rel=1e-5)
    assert got["fisher_channel"].value == pytest.approx(channel_once, rel=1e-5)
    assert ref > 2 * channel_once  # fan-ins >= 4 here: the two definitions are far apart


def tiny_bn_net(arch, *, num_classes):
    """Two conv-BN-ReLU blocks, global pooling, a classifier (a ZenNAS-like plain net)."""
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(6),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(6, num_classes))


def zennas_reference(model, pre_gap, x, mixup_x):
    """ZenNAS ``ZeroShotProxy/compute_zen_score.py`` ``compute_nas_score``, one repeat, on
    the given inputs, re-done: forward ``input`` then ``mixup_input`` (no grad, the model as
    built: train mode), ``log mean_n sum |f - f'|`` plus, over every BatchNorm2d module,
    ``log sqrt(mean(running_var))`` read after both passes."""
    with torch.no_grad():
        out, mixup_out = pre_gap(x), pre_gap(mixup_x)
        score = torch.mean(torch.sum(torch.abs(out - mixup_out), dim=[1, 2, 3]))
        log_bn = 0.0
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                log_bn += torch.log(torch.sqrt(torch.mean(m.running_var)))
        return float(torch.log(score) + log_bn)


def zen_inputs(shape, seed, key):
    """The engine's Gaussian input and its mixup (``input + 0.01 * input2``)."""
    from benchbench.rng import derive_seed
    g = torch.Generator().manual_seed(derive_seed(seed, "zen-input", key))
    x = torch.randn(shape, generator=g)
    return x, x + 0.01 * torch.randn(shape, generator=g)


def zen_network(builder, arch, seed, key, num_classes=10):
    from benchbench.rng import derive_seed
    g = torch.Generator().manual_seed(derive_seed(seed, "zen-init", key))
    net = new_network(builder, arch, num_classes=num_classes, generator=g, scheme="gaussian")
    assert net.training  # as ZenNAS's freshly built model
    for m in net.modules():  # ZenNAS's network_weight_gaussian_init on a fresh model
        if isinstance(m, torch.nn.BatchNorm2d):
            assert (m.weight == 1).all() and (m.bias == 0).all() and (m.running_var == 1).all()
            assert m.momentum == 0.1
    return net


def test_zen_matches_the_zennas_reference_step(batch) -> None:
    """On a tiny plain network and on a small NB201 network, ``zen`` equals ZenNAS's score
    for the same weights and inputs: the BN term reads the running variance after the two
    train-mode passes (``0.81 + 0.09 v + 0.1 v'``).  (Implementation 1 used the batch
    variance ``v`` of the first pass: off by several units here.)"""
    shape = tuple(batch.x.shape)
    got = compute_proxies(tiny_bn_net, "tiny", batch, proxies=["zen"], seed=4)["zen"].value
    net = zen_network(tiny_bn_net, "tiny", 4, "tiny")
    ref = zennas_reference(net, net[:6], *zen_inputs(shape, 4, "tiny"))
    assert got == pytest.approx(ref, rel=1e-6, abs=1e-6)

    builder = get_builder("nb201", **SMALL)
    got = compute_proxies(builder, CELLS[0], batch, proxies=["zen"], seed=4)["zen"].value
    net = zen_network(builder, CELLS[0], 4, CELLS[0])
    pool = [m for m in net.modules() if isinstance(m, torch.nn.AdaptiveAvgPool2d)][-1]

    def pre_gap(x):  # NB201's features before the global average pooling
        seen = []
        h = pool.register_forward_hook(lambda m, i, o: seen.append(i[0]))
        net(x)
        h.remove()
        return seen[0]

    ref = zennas_reference(net, pre_gap, *zen_inputs(shape, 4, CELLS[0]))
    assert got == pytest.approx(ref, rel=1e-6, abs=1e-6)


def test_zen_refuses_bn_without_running_statistics(batch) -> None:
    def untracked(arch, *, num_classes):
        net = tiny_bn_net(arch, num_classes=num_classes)
        net[1] = torch.nn.BatchNorm2d(4, track_running_stats=False)
        return net

    with pytest.raises(ValueError, match="running_var, as ZenNAS does; 1 BatchNorm2d"):
        compute_proxies(untracked, "tiny", batch, proxies=["zen"])


def test_nwot_and_jacob_cov_match_their_definitions(batch, builder) -> None:
    cell = CELLS[0]
    got = compute_proxies(builder, cell, batch, proxies=["nwot", "jacob_cov"], seed=0)
    net = fresh(builder, cell)
    codes = []
    hooks = [m.register_forward_hook(lambda m, i, o: codes.append(
        (i[0].detach().reshape(len(batch.x), -1) > 0).double()))
        for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    x = batch.x.clone().requires_grad_(True)
    net(x).sum().backward()
    for h in hooks:
        h.remove()
    k = sum(c @ c.T + (1 - c) @ (1 - c).T for c in codes)
    assert got["nwot"].value == pytest.approx(float(np.linalg.slogdet(k.numpy())[1]), rel=1e-9)
    j = x.grad.reshape(len(x), -1).numpy().astype(np.float64)
    v = np.linalg.eigvals(np.corrcoef(j)).real
    assert got["jacob_cov"].value == pytest.approx(
        float(-np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5))), rel=1e-4)


def test_shared_passes_equal_separate_ones(batch, builder) -> None:
    together = compute_proxies(builder, CELLS[1], batch, seed=7)
    for p in PROXIES:
        alone = compute_proxies(builder, CELLS[1], batch, proxies=[p], seed=7)[p]
        assert alone.value == pytest.approx(together[p].value, rel=1e-5, abs=1e-9), p
        assert together[p].seconds > 0


def test_seeds_reproduce_and_differ(batch, builder) -> None:
    a = compute_proxies(builder, CELLS[0], batch, seed=0)
    b = compute_proxies(builder, CELLS[0], batch, seed=0)
    c = compute_proxies(builder, CELLS[0], batch, seed=1)
    assert all(a[p].value == b[p].value for p in PROXIES)
    for p in ("grad_norm", "snip", "synflow", "nwot", "l2_norm", "zen", "jacob_cov"):
        assert a[p].value != c[p].value, p
    assert a["params"].value == c["params"].value and a["flops"].value == c["flops"].value


def test_same_scores_in_a_fresh_process(batch, builder) -> None:
    here = compute_proxies(builder, CELLS[0], batch, proxies=["synflow", "snip", "nwot"],
                           seed=2)
    code = (
        "import json; from benchbench.nn import get_builder, load_batch;"
        "from algorithms.proxies import compute_proxies;"
        f"r = compute_proxies(get_builder('nb201', **{SMALL!r}), {CELLS[0]!r},"
        " load_batch('digits', batch_size=8, seed=0), proxies=['synflow', 'snip', 'nwot'],"
        " seed=2); print(json.dumps({k: v.value for k, v in r.items()}))")
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO,
                         capture_output=True, text=True).stdout
    there = json.loads(out.strip().splitlines()[-1])
    for p, v in there.items():
        assert v == pytest.approx(here[p].value, rel=1e-6), p


def test_nan_and_inf_are_kept(batch, builder) -> None:
    """The all-'none' cell's output ignores the input: jacob_cov is NaN (zero Jacobian),
    every ReLU sees zeros so the NASWOT kernel is singular (log det = -inf)."""
    r = compute_proxies(builder, ZERO, batch, proxies=["jacob_cov", "nwot", "grad_norm"])
    assert math.isnan(r["jacob_cov"].value)
    assert r["nwot"].value == -math.inf
    assert math.isfinite(r["grad_norm"].value)


def test_proxy_contract_score_arch_rng() -> None:
    p = Proxy("naswot", config=ScoreConfig(batch_size=8, builder_options=SMALL))
    v1, s1 = p.score(CELLS[0], make_rng(0, "x"))
    v2, _ = p.score(NB201Space().parse(CELLS[0]), make_rng(0, "x"))
    v3, _ = p.score(CELLS[0], make_rng(1, "x"))
    assert v1 == v2 and v1 != v3 and s1 > 0 and p.name == "nwot"


# --------------------------------------------------------- definitions by import path
class LogitSpread(ProxyDefinition):
    """Standard deviation of the logits of the batch (a toy proxy of this test module)."""

    name = "logit_spread"
    reference = "this test module (not a published proxy)"
    needs = frozenset({"forward"})

    def compute(self, ctx: ProxyContext) -> float:
        return float(ctx.logits.detach().std())


LOGIT_SPREAD = LogitSpread()


class _Bad(ProxyDefinition):
    """A definition that breaks the contract (see the test)."""

    name = "bad"
    reference = "this test module"
    needs = frozenset({"network"})

    def compute(self, ctx: ProxyContext) -> float:
        return 0.0


class ReadsUndeclared(_Bad):
    def compute(self, ctx: ProxyContext) -> float:
        return float(ctx.logits.sum())  # made by 'forward', which it does not declare


class UnknownPass(_Bad):
    needs = frozenset({"forwrd"})


class IndependentButForward(_Bad):
    needs = frozenset({"loss_grads"})
    data_independent = True


class IndependentReadsBatch(_Bad):
    data_independent = True

    def compute(self, ctx: ProxyContext) -> float:
        return float(ctx.batch.x.sum())


class NotAFloat(_Bad):
    def compute(self, ctx: ProxyContext) -> float:
        return "high"  # type: ignore[return-value]


class NoReference(_Bad):
    reference = ""


def test_definition_by_import_path_in_compute_proxies_and_proxy(batch, builder) -> None:
    path = "test_proxies:LOGIT_SPREAD"
    got = compute_proxies(builder, CELLS[0], batch, proxies=["synflow", path], seed=4)
    assert list(got) == ["synflow", path] and got[path].proxy == path
    net = fresh(builder, CELLS[0], seed=4)
    assert got[path].value == pytest.approx(float(net(batch.x).detach().std()), rel=1e-6)
    assert got["synflow"].value == compute_proxies(builder, CELLS[0], batch, proxies=["synflow"],
                                                   seed=4)["synflow"].value
    assert got[path].seconds > 0
    by_class = compute_proxies(builder, CELLS[0], batch, proxies=["test_proxies:LogitSpread"],
                               seed=4)  # a class is instantiated
    assert by_class["test_proxies:LogitSpread"].value == got[path].value

    p = Proxy(path, config=ScoreConfig(batch_size=8, builder_options=SMALL))
    assert p.name == path and canonical_proxy(path) == path
    v1, s1 = p.score(CELLS[0], make_rng(0, "x"))
    v2, _ = p.score(CELLS[0], make_rng(0, "x"))
    v3, _ = p.score(CELLS[0], make_rng(1, "x"))
    assert v1 == v2 != v3 and s1 > 0


@pytest.mark.parametrize(("definition", "match"), [
    ("ReadsUndeclared", "reads ctx.logits, made by pass 'forward'"),
    ("UnknownPass", "unknown engine pass 'forwrd'; known passes: network"),
    ("IndependentButForward", "data_independent but needs pass"),
    ("IndependentReadsBatch", "data_independent but reads ctx.batch"),
    ("NotAFloat", "returned 'high'"),
    ("NoReference", "reference must be a non-empty str"),
])
def test_contract_violations_are_named(batch, builder, definition, match) -> None:
    with pytest.raises(ProxyContractError, match=match):
        compute_proxies(builder, CELLS[0], batch, proxies=[f"test_proxies:{definition}"])


def test_each_pass_runs_once_when_proxies_share_it(batch, builder, monkeypatch) -> None:
    """All twelve proxies together: two networks built (the default one and zen's Gaussian
    one), one forward pass of the batch through the first, two (x and x') through the second,
    three autograd.grad calls (input gradient, loss gradient, Hessian-vector product) and one
    backward (synflow's).  Computed alone, the seven data-dependent proxies would need seven
    forward passes."""
    forwards: dict[int, int] = {}
    built: list[int] = []

    def counting_builder(arch, *, num_classes):
        net = builder(arch, num_classes=num_classes)
        built.append(id(net))

        def count(module, inp):  # the batch's forwards only (not flops' / synflow's (1, ...))
            if inp[0].shape[0] == len(batch.x) and inp[0].dtype == torch.float32:
                forwards[id(module)] = forwards.get(id(module), 0) + 1
        net.register_forward_pre_hook(count)
        return net

    calls = {"grad": 0, "backward": 0}
    grad, backward = torch.autograd.grad, torch.Tensor.backward

    def counting_grad(*a, **k):
        calls["grad"] += 1
        return grad(*a, **k)

    def counting_backward(self, *a, **k):
        calls["backward"] += 1
        return backward(self, *a, **k)

    alone = {p: compute_proxies(builder, CELLS[1], batch, proxies=[p], seed=5)[p].value
             for p in PROXIES}
    monkeypatch.setattr(torch.autograd, "grad", counting_grad)
    monkeypatch.setattr(torch.Tensor, "backward", counting_backward)
    together = compute_proxies(counting_builder, CELLS[1], batch, seed=5)
    monkeypatch.undo()
    assert len(built) == 2
    assert [forwards.get(i, 0) for i in built] == [1, 2]
    assert calls == {"grad": 3, "backward": 1}
    for p in PROXIES:
        assert together[p].value == pytest.approx(alone[p], rel=1e-5, abs=1e-9), p


def test_networks_and_graphs_are_freed_after_a_run(batch, builder) -> None:
    """Nothing of a run outlives it: the activation-gradient hooks (fisher) are removed, so
    no reference cycle through autograd keeps the networks and graphs alive (implementation
    1 kept every fisher network: ~300 MB per NB201 cell at C=16, batch 64)."""
    import gc
    import weakref

    nets = []

    def recording_builder(arch, *, num_classes):
        net = builder(arch, num_classes=num_classes)
        nets.append(weakref.ref(net))
        return net

    compute_proxies(recording_builder, CELLS[0], batch, seed=1,
                    proxies=[*PROXIES, *VARIANTS])
    gc.collect()
    assert len(nets) == 2 and all(r() is None for r in nets)


def test_proxies_of_a_pass_see_the_network_before_the_forward_pass(batch, builder) -> None:
    """A definition that needs only ``network`` is computed before any pass uses the network
    (so BN running statistics are still fresh when synflow copies it), whatever else is
    asked."""
    only = compute_proxies(builder, CELLS[0], batch, proxies=["synflow", "l2_norm"], seed=6)
    mixed = compute_proxies(builder, CELLS[0], batch,
                            proxies=["grasp", "nwot", "synflow", "l2_norm"], seed=6)
    assert only["synflow"].value == mixed["synflow"].value
    assert only["l2_norm"].value == mixed["l2_norm"].value


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A small cached sweep: 12 cells (plus the all-zero cell) x 1 seed, C=4, N=1, batch 8."""
    d = tmp_path_factory.mktemp("zc")
    cfg = ScoreConfig(benchmark="nb201", dataset="cifar10-valid", batch_size=8,
                      builder_options=SMALL)
    cells = sample_cells(12, seed=0) + [NB201Space().parse(ZERO)]
    df = score_cells(cells, d, config=cfg, proxies=["params", "synflow", "nwot", "jacob_cov"])
    return d, cfg, cells, df


def test_sweep_writes_one_row_per_cell_seed_proxy(sweep) -> None:
    d, cfg, _, df = sweep
    assert len(df) == 13 * 4 and set(df["proxy"]) == {"params", "synflow", "nwot", "jacob_cov"}
    assert (df["error"] == "").all()
    zero = df[df["arch_id"] == ZERO].set_index("proxy")["value"]
    assert math.isnan(zero["jacob_cov"]) and zero["nwot"] == -math.inf  # written, read back
    cfg2, df2 = load_scores(d)
    assert cfg2 == cfg and len(df2) == len(df)


def test_sweep_resumes_and_refuses_other_config(sweep) -> None:
    d, cfg, cells, df = sweep
    before = (d / "scores.csv").read_text()
    with (d / "scores.csv").open("a") as f:
        f.write("|none~0|+|none~0|none~1")  # a crash mid-line: ignored on read
    df2 = score_cells(cells[:5] + [sample_cells(13, seed=0)[-1]], d, config=cfg,
                      proxies=["params", "synflow", "nwot", "jacob_cov"])
    assert (d / "scores.csv").read_text().startswith(before)
    new = sample_cells(13, seed=0)[-1]
    assert len(df2) == len(df) + (0 if new in cells else 4)  # nothing lost, nothing redone
    assert len(df2) == len(df2.drop_duplicates(["arch_id", "seed", "proxy"]))
    with pytest.raises(ValueError, match="another configuration"):
        score_cells(cells[:1], d, config=ScoreConfig(batch_size=16, builder_options=SMALL),
                    proxies=["params"])


def test_a_folder_of_another_implementation_is_not_resumed(tmp_path) -> None:
    """Scores of implementation 1 (e.g. its channel-counted fisher) are never mixed with
    this implementation's: resuming such a folder is refused, saying why and what to do."""
    assert IMPLEMENTATION == "2" and "fisher" in IMPLEMENTATION_CHANGES["2"]
    assert "zen" in IMPLEMENTATION_CHANGES["2"]
    cfg = ScoreConfig(batch_size=8, builder_options=SMALL)
    d = tmp_path / "zc"
    score_cells(CELLS[:1], d, config=cfg, proxies=["params"])
    meta = json.loads((d / "config.json").read_text())
    assert meta["config"]["implementation"] == IMPLEMENTATION
    meta["config"]["implementation"] = "1"  # as implementation 1 wrote it
    (d / "config.json").write_text(json.dumps(meta))
    before = (d / "scores.csv").read_text()
    with pytest.raises(ValueError, match=r"made by proxy implementation '1'; this code is "
                                         r"implementation '2'.*2: fisher broadcasts.*another "
                                         r"--out directory"):
        score_cells(CELLS, d, config=cfg, proxies=["params", "fisher"])
    assert (d / "scores.csv").read_text() == before
    assert load_scores(d)[0].implementation == "1"  # still readable, and says what it is
    imported = write_scores_dir(  # NASLib's scores, as `proxies import-naslib` writes them
        pd.DataFrame({"arch_id": [CELLS[0]], "proxy": ["params"], "value": [0.1]}),
        tmp_path / "imported", config=ScoreConfig(batch_size=8, builder_options=SMALL,
                                                  implementation="naslib"))
    with pytest.raises(ValueError, match="made by proxy implementation 'naslib'"):
        score_cells(CELLS[:1], imported, config=cfg, proxies=["params"])


def test_parallel_workers_give_the_same_scores(sweep, tmp_path) -> None:
    _, cfg, cells, df = sweep
    par = score_cells(cells[:3], tmp_path, config=cfg, proxies=["synflow", "nwot"], workers=2)
    ser = df.set_index(["arch_id", "proxy"])["value"]
    for r in par.itertuples():
        assert r.value == pytest.approx(ser[(r.arch_id, r.proxy)], rel=1e-6)


class UnindexedNB201(SearchSpace):
    """NB201 without its enumerable part (as a DARTS-sized space would be)."""

    name = "nb201-unindexed"

    def __init__(self) -> None:
        self._nb = NB201Space()

    def parse(self, arch):
        if isinstance(arch, (int, np.integer)):
            raise ValueError(f"space {self.name!r} has no indices, got {arch!r}")
        return self._nb.parse(arch)

    def arch_id(self, arch):
        return self._nb.arch_id(arch)

    def sample(self, rng):
        return self._nb.sample(rng)

    def mutate(self, arch, rng):
        return self._nb.mutate(arch, rng)

    def neighbours(self, arch):
        return self._nb.neighbours(arch)

    def encode(self, arch):
        return self._nb.encode(arch)

    def as_categorical(self):
        return self._nb.as_categorical()

    def from_categorical(self, values):
        return self._nb.from_categorical(values)

    def to_categorical(self, arch):
        return self._nb.to_categorical(arch)


def test_sweep_on_a_space_that_cannot_be_enumerated(tmp_path) -> None:
    register_builder(UnindexedNB201.name, build_nb201)
    space = "test_proxies:UnindexedNB201"
    cells = sample_cells(4, space=space, seed=3)
    assert len(set(cells)) == 4 and cells == sample_cells(4, space=space, seed=3)
    assert cells != sample_cells(4, space=space, seed=4)
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        sample_cells(0, space=space)
    cfg = ScoreConfig(space=space, batch_size=8, builder_options=SMALL)
    df = score_cells(cells, tmp_path / "zc", config=cfg, proxies=["params", "nwot"])
    assert len(df) == 8 and df["arch_index"].isna().all() and (df["error"] == "").all()
    lines = (tmp_path / "zc" / "scores.csv").read_text().splitlines()
    assert all(line.split(",")[1] == "" for line in lines[1:])
    same = score_cells(cells, tmp_path / "nb201", proxies=["params", "nwot"],
                       config=ScoreConfig(batch_size=8, builder_options=SMALL))
    assert same["arch_index"].notna().all()
    key = ["arch_id", "seed", "proxy"]
    assert (df.sort_values(key)["value"].to_numpy()
            == same.sort_values(key)["value"].to_numpy()).all()
    out = write_scores_dir(df[["arch_id", "proxy", "value"]], tmp_path / "w", config=cfg)
    back = load_scores(out)[1]
    assert back["arch_index"].isna().all() and len(back) == 8
    assert list(back["arch_id"]) == sorted(back["arch_id"])


def test_read_cells(tmp_path) -> None:
    f = tmp_path / "cells.txt"
    f.write_text(f"# a comment\n{CELLS[0]}\n\n17\n")
    assert [NB201Space().index(c) for c in read_cells(f)][1] == 17
    f.write_text("|nope~0|\n")
    with pytest.raises(ValueError, match="cells.txt:1"):
        read_cells(f)


def test_correlate_signed_nan_inf_topk() -> None:
    t = np.arange(20.0)
    c = correlate(t * 2, t, n_boot=200, rng=make_rng(0, "b"))
    assert c.spearman == pytest.approx(1) and c.kendall == pytest.approx(1)
    assert c.top_k_overlap == 1 and c.spearman_lo <= c.spearman <= c.spearman_hi
    r = correlate(-t, t, n_boot=0)
    assert r.spearman == pytest.approx(-1) and r.kendall == pytest.approx(-1)  # signed
    s = t.copy()
    s[0], s[1], s[19] = np.nan, -np.inf, np.inf
    m = correlate(s, t, n_boot=0)
    assert (m.n, m.n_nan, m.n_inf) == (19, 1, 2) and m.spearman == pytest.approx(1)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    g = correlate(a, b, n_boot=0)
    assert g.spearman == pytest.approx(stats.spearmanr(a, b).statistic)
    assert g.kendall == pytest.approx(stats.kendalltau(a, b).statistic)
    top = correlate(np.array([5, 4, 0, 0, 0, 0, 0, 0, 3, 2.0]), np.arange(10.0)[::-1],
                    top_k=0.2, n_boot=0)
    assert top.top_k_overlap == 1.0
    with pytest.raises(ValueError, match="rng"):
        correlate(a, b, n_boot=10)


def test_correlate_scores_against_the_table(sweep, nb201_flat, tmp_path) -> None:
    df = sweep[3]
    table = pd.read_csv(nb201_flat, usecols=["arch_str", "c10v_valid_acc"])
    tgt = table.set_index("arch_str")["c10v_valid_acc"]
    out = correlate_scores(df, tgt, n_boot=100)
    assert list(out["proxy"]) == list(dict.fromkeys(df["proxy"]))
    row = out.set_index("proxy").loc["jacob_cov"]
    assert row["n"] == 12 and row["n_nan"] == 1
    nw = out.set_index("proxy").loc["nwot"]
    assert nw["n"] == 13 and nw["n_inf"] == 1
    params = df[df.proxy == "params"].set_index("arch_id")["value"]
    assert out.set_index("proxy").loc["params", "spearman"] == pytest.approx(
        stats.spearmanr(params, tgt.loc[params.index]).statistic)
    pytest.importorskip("matplotlib")
    paths = plot_scatter(df, tgt, tmp_path / "plots")
    assert len(paths) == 4 and all(p.stat().st_size > 1000 for p in paths)
    hm = plot_heatmap(out.assign(dataset="cifar10-valid"), tmp_path / "h.png")
    assert hm.stat().st_size > 1000


def test_published_numbers_only_for_definitions_that_follow_them() -> None:
    """``PUBLISHED`` (Abdelfattah et al. 2021, zero-cost-nas) is attached by proxy name: every
    name in it is a built-in proxy whose definition follows that code, and no named variant
    (a deliberate deviation) is in it."""
    for dataset, table in PUBLISHED.items():
        assert set(table) <= set(PROXIES), dataset
        assert not set(table) & set(VARIANTS), dataset
        for p in table:
            assert "zero-cost-nas" in get_proxy(p).reference, p
    for v in VARIANTS:
        assert "deviates on purpose" in get_proxy(v).reference
        assert "no published number" in get_proxy(v).description
        assert math.isnan(published_spearman(v, "cifar10-valid"))
    assert published_spearman("fisher", "cifar10-valid") == 0.36
    assert published_spearman("fisher", "cifar100", IMPLEMENTATION) == 0.39
    assert published_spearman("fisher", "ImageNet16-120", "naslib") == 0.33
    # a folder scored by implementation 1, whose fisher counted each channel once
    assert math.isnan(published_spearman("fisher", "cifar10-valid", "1"))
    assert published_spearman("synflow", "cifar10-valid", "1") == 0.74
    assert math.isnan(published_spearman("nwot", "cifar10"))


def test_data_independent_proxies_agree_with_independent_implementation(shared_data) -> None:
    """synflow, params, flops at NB201's C=16, N=5 on 8 cells of the zc file: params exact,
    synflow and flops in the same rank order (the file's flops also count BN / ReLU)."""
    from algorithms.proxies import naslib_nb201_cell as zc_cell

    zc = json.loads((shared_data / "nb201" / "zc_scores_725.json").read_text())["cifar10"]
    keys = sorted(zc)
    pick = [keys[int(i)] for i in make_rng(0, "zc-check").choice(len(keys), 8, replace=False)]
    b = load_batch("random", batch_size=2, seed=0)
    ours = {p: [] for p in ("params", "flops", "synflow")}
    for k in pick:
        r = compute_proxies(get_builder("nb201"), zc_cell(k), b, proxies=list(ours))
        for p, values in ours.items():
            values.append(r[p].value)
    theirs = {p: [zc[k][p]["score"] for k in pick] for p in ours}
    assert ours["params"] == pytest.approx(theirs["params"], abs=5e-7)
    assert stats.spearmanr(ours["flops"], theirs["flops"]).statistic > 0.95
    assert stats.spearmanr(ours["synflow"], theirs["synflow"]).statistic > 0.95


def _naslib_fisher(shared_data) -> dict:
    """NASLib's fisher score of each of the 725 cells (CIFAR-10), by arch id."""
    from algorithms.proxies import load_naslib_scores

    zc = load_naslib_scores(shared_data / "nb201" / "zc_scores_725.json", "cifar10")
    return zc[zc["proxy"] == "fisher"].set_index("arch_id")["value"].to_dict()


def _fisher_agreement(theirs, scores, cells):
    """Spearman of our fisher / fisher_channel with NASLib's fisher over ``cells``."""
    return {p: stats.spearmanr([scores[(c, p)] for c in cells],
                               [theirs[c] for c in cells]).statistic
            for p in ("fisher", "fisher_channel")}


def test_fisher_ranks_cells_as_naslib(shared_data) -> None:
    """Rank agreement with NASLib's independent fisher scores (NAS-Bench-Suite-Zero, CIFAR-10
    batches) at NB201's C=16, N=5, on 24 of the 725 cells (our digits batch of 64, seed 0):
    the reference sum 0.94, the channel count (implementation 1's fisher) 0.81.  All 725
    cells: ``test_fisher_ranks_all_725_cells_as_naslib`` (slow): 0.959 and 0.882."""
    theirs = _naslib_fisher(shared_data)
    keys = sorted(theirs)
    cells = [keys[int(i)] for i in sorted(make_rng(0, "zc-fisher").choice(len(keys), 24,
                                                                           replace=False))]
    b = load_batch("digits", batch_size=64, seed=0)
    scores = {}
    for c in cells:
        r = compute_proxies(get_builder("nb201"), c, b, proxies=["fisher", "fisher_channel"],
                            arch_key=c)
        scores.update({(c, p): v.value for p, v in r.items()})
    rho = _fisher_agreement(theirs, scores, cells)
    assert rho["fisher"] == pytest.approx(0.9435, abs=0.01)
    assert rho["fisher_channel"] == pytest.approx(0.8096, abs=0.02)


@pytest.mark.slow  # 725 cells at C=16, N=5: ~11 min on 2 cores
def test_fisher_ranks_all_725_cells_as_naslib(shared_data, tmp_path) -> None:
    """Spearman with NASLib's fisher over all 725 cells, scored as ``benchbench proxies score
    --benchmark nb201 --cells <the 725> --proxies fisher,fisher_channel`` does (digits batch
    of 64, seed 0): 0.959 for the reference sum (fisher), 0.882 for the channel count."""
    theirs = _naslib_fisher(shared_data)
    keys = sorted(theirs)
    cfg = ScoreConfig(benchmark="nb201", dataset="cifar10-valid", batch_size=64)
    df = score_cells(keys, tmp_path / "zc", config=cfg, proxies=["fisher", "fisher_channel"],
                     workers=2)
    scores = df.set_index(["arch_id", "proxy"])["value"].to_dict()
    rho = _fisher_agreement(theirs, scores, keys)
    assert rho["fisher"] == pytest.approx(0.9593, abs=0.005)
    assert rho["fisher_channel"] == pytest.approx(0.8823, abs=0.005)


def test_naswot_and_warm_started_re(sweep) -> None:
    d = sweep[0]
    df = load_scores(d)[1]  # other tests may have added cells
    n = df["arch_id"].nunique()
    space = NB201Space()
    vals = vals_all = df[df.proxy == "nwot"].set_index("arch_id")["value"]
    opt = NASWOT(scores=str(d), proxy="nwot", n_samples=5)
    opt.setup(space, make_rng(0, "naswot"))
    asked = [opt.ask() for _ in range(5)]
    got = [vals[space.arch_id(t.arch)] for t in asked]
    assert got == sorted(got, reverse=True) and len({t.arch for t in asked}) == 5
    assert opt.proxy_seconds > 0
    opt.tell(asked[0], TrialValue(90.0, 1.0))
    opt2 = NASWOT(scores=str(d / "scores.csv"), proxy="nwot", n_samples=5)
    opt2.setup(space, make_rng(0, "naswot"))
    assert [opt2.ask().arch for _ in range(5)] == [t.arch for t in asked]
    assert NASWOT(scores=str(d), n_samples=13).get_params() == {
        "scores": str(d), "proxy": "nwot", "n_samples": 13}
    full = NASWOT(scores=str(d), n_samples=n)
    full.setup(space, make_rng(1, "naswot"))
    order = [full.ask().arch for _ in range(n)]
    scores = [vals_all[space.arch_id(a)] for a in order]
    assert scores == sorted(scores, reverse=True) and scores[-1] == -math.inf  # ZERO's -inf
    assert full.n_nan_scores == 0

    re = ZeroCostWarmStartRE(scores=str(d), proxy="synflow", population_size=4, sample_size=2,
                             warmup_pool=n)
    re.setup(space, make_rng(0, "re"))
    syn = df[df.proxy == "synflow"].set_index("arch_id")["value"]
    warm = [re.ask() for _ in range(4)]
    assert [space.arch_id(t.arch) for t in warm] == list(syn.sort_values(ascending=False)
                                                         .index[:4])
    for i, t in enumerate(warm):
        re.tell(t, TrialValue(80.0 + i, 1.0))
    child = re.ask()  # evolution from here on: a mutation of a population member
    assert any(child.arch in space.neighbours(t.arch) for t in warm)
    for bad, match in (({"proxy": "nope"}, "nope"), ({"n_samples": 0}, "n_samples"),
                       ({"scores": 3}, "scores")):
        with pytest.raises((ValueError, KeyError), match=match):
            NASWOT(**bad).setup(space, make_rng(0))
    with pytest.raises(ValueError, match="warmup_pool"):
        ZeroCostWarmStartRE(scores=str(d), warmup_pool=0).setup(space, make_rng(0))


def test_cli_score_and_correlate(nb201_flat, tmp_path, monkeypatch, capsys) -> None:
    from benchbench.cli import build_parser, main
    from benchbench.cli import proxies as cli_proxies

    a = build_parser().parse_args(["proxies", "correlate", "x", "--dataset",
                                   "cifar100,cifar10-valid"])
    assert a.func is cli_proxies.cmd_correlate

    monkeypatch.setenv("BENCHBENCH_DATA", str(tmp_path / "data"))
    assert main(["data", "import", "nb201", str(nb201_flat), "--no-progress"]) == 0
    cells = tmp_path / "cells.txt"
    cells.write_text("\n".join(CELLS + [ZERO]) + "\n")
    out = tmp_path / "zc"
    common = ["--benchmark", "nb201", "--channels", "4", "--cells-per-stage", "1",
              "--batch-size", "8", "--out", str(out), "--no-progress"]
    assert main(["proxies", "score", "--cells", str(cells), "--proxies", "params,nwot",
                 "synflow,fisher,fisher_channel", *common]) == 0
    assert main(["proxies", "score", "--sample", "5", "--proxies",
                 "params,nwot,synflow,fisher,fisher_channel", *common]) == 0
    assert "nwot=1" in capsys.readouterr().out  # the -inf of the all-zero cell is counted
    assert main(["proxies", "correlate", str(out), "--n-boot", "50"]) == 0
    csv = pd.read_csv(out / "correlation_cifar10-valid_valid_acc.csv")
    assert list(csv["proxy"]) == ["params", "nwot", "synflow", "fisher", "fisher_channel"]
    assert (csv["n"] >= 7).all()
    # published numbers sit beside the definitions that follow them, by name only: the
    # reference fisher gets Abdelfattah et al.'s 0.36, its variant none
    pub = csv.set_index("proxy")["published_spearman"]
    assert pub["fisher"] == PUBLISHED["cifar10"]["fisher"] == 0.36
    assert pub["synflow"] == PUBLISHED["cifar10"]["synflow"]
    assert pub[["params", "nwot", "fisher_channel"]].isna().all()
    assert main(["proxies", "correlate", str(out), "--dataset", "cifar100",
                 "--metric", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
