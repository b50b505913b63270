"""One-shot search (DARTS-V1/V2, GDAS, RSPS on the NB201 supernet): the reference steps
re-implemented independently, reproducibility in a fresh process, diagnostics stored and
read back, a tiny study through the CLI and its report.  Real data (the bundled digits),
real training, tiny settings."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from algorithms._oneshot import DARTSV1, DARTSV2, GDAS, RSPS
from algorithms._oneshot_engine import (
    darts_v2_arch_grad,
    dominant_eigenvalue,
    gdas_sample,
    gdas_tau,
    load_search_data,
)
from benchbench.nn._supernet import build_supernet
from benchbench.optimizer import make_optimizer
from benchbench.rng import make_rng
from benchbench.spaces import get_space
from benchbench.store import StoreError, StudyStore

F = torch.nn.functional
TINY = {"epochs": 2, "max_batches": 2, "hessian_iters": 3}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """One intra-op thread (the machine is shared; results do not depend on it)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _tiny_net(dtype: Any = None, track: bool = True) -> Any:
    g = torch.Generator().manual_seed(0)
    net = build_supernet(num_classes=10, channels=2, cells_per_stage=1,
                         track_running_stats=track, generator=g)
    return net.to(dtype or torch.float32)


def _digits(n: int, offset: int = 0, dtype: Any = torch.float32) -> tuple[Any, Any]:
    sd = load_search_data("digits", None)
    x = sd.data.normalise(sd.w_x[offset:offset + n]).to(dtype)
    return x, sd.w_y[offset:offset + n]


# ------------------------------------------------------------------ DARTS-V2 hypergradient
def _v2_setup() -> tuple[Any, ...]:
    net = _tiny_net(torch.float64)
    xb, yb = _digits(6, 0, torch.float64)
    xa, ya = _digits(6, 6, torch.float64)
    g = torch.Generator().manual_seed(1)
    alpha = (0.5 * torch.randn((6, 5), generator=g, dtype=torch.float64)).requires_grad_(True)
    bufs = [0.1 * torch.randn(p.shape, generator=g, dtype=torch.float64)
            for p in net.parameters()]
    return net, xb, yb, xa, ya, alpha, bufs


LR, MOM, WD = 0.05, 0.9, 5e-4


def _unrolled_val_loss(net: Any, a: Any, xb: Any, yb: Any, xa: Any, ya: Any,
                       bufs: list[Any], *, create_graph: bool) -> Any:
    """L_val(w'(a), a), w'(a) = w - xi (momentum buf + dL_train(w, a)/dw + wd w), from
    scratch on copies of the weights and BatchNorm buffers."""
    names = [k for k, _ in net.named_parameters()]
    theta = {k: p.detach().clone() for k, p in net.named_parameters()}
    buffers = {k: b.detach().clone() for k, b in net.named_buffers()}
    w = {k: theta[k].clone().requires_grad_(True) for k in names}
    lt = F.cross_entropy(torch.func.functional_call(
        net, {**w, **{k: b.clone() for k, b in buffers.items()}}, (xb,),
        {"weights": a.softmax(-1)}), yb)
    grads = torch.autograd.grad(lt, [w[k] for k in names], create_graph=create_graph)
    w2 = {k: theta[k] - LR * (MOM * b + gk + WD * theta[k])
          for k, b, gk in zip(names, bufs, grads)}
    return F.cross_entropy(torch.func.functional_call(
        net, {**w2, **{k: b.clone() for k, b in buffers.items()}}, (xa,),
        {"weights": a.softmax(-1)}), ya)


def test_darts_v2_hypergradient_is_the_papers_equation_7() -> None:
    """DARTS eq. 7 is the total derivative of a -> L_val(w'(a), a); eq. 8 approximates its
    second-order term by finite differences.  With a small perturbation radius the
    implementation equals the exact total derivative (double backward, spot-checked by
    central differences), and the first-order gradient alone does not."""
    net, xb, yb, xa, ya, alpha, bufs = _v2_setup()
    a = alpha.detach().clone().requires_grad_(True)
    exact = torch.autograd.grad(_unrolled_val_loss(net, a, xb, yb, xa, ya, bufs,
                                                   create_graph=True), a)[0]
    h = 1e-5
    for i, k in ((0, 1), (5, 4)):
        e = torch.zeros((6, 5), dtype=torch.float64)
        e[i, k] = h
        fd = (float(_unrolled_val_loss(net, alpha.detach() + e, xb, yb, xa, ya, bufs,
                                       create_graph=False))
              - float(_unrolled_val_loss(net, alpha.detach() - e, xb, yb, xa, ya, bufs,
                                         create_graph=False))) / (2 * h)
        assert fd == pytest.approx(float(exact[i, k]), rel=1e-5, abs=1e-9)
    theta = [p.detach().clone() for p in net.parameters()]
    got, _, _ = darts_v2_arch_grad(net, alpha, xb, yb, xa, ya, lr=LR, momentum=MOM,
                                   weight_decay=WD, momentum_buffers=bufs, r=1e-6)
    assert all(torch.equal(p.detach(), t) for p, t in zip(net.parameters(), theta))
    rel = float((got - exact).norm() / exact.norm())
    assert rel < 1e-6, rel
    b = alpha.detach().clone().requires_grad_(True)
    first = torch.autograd.grad(F.cross_entropy(net(xa, weights=b.softmax(-1)), ya), b)[0]
    assert float((first - exact).norm() / exact.norm()) > 1e-2


def test_darts_v2_step_equals_a_direct_reimplementation_of_equation_8() -> None:
    """The reference's radius r = 0.01: compare with eq. 8 written out on deep copies of the
    network (DARTS-V2.py's ``backward_step_unrolled``, without the in-place add/subtract)."""
    import copy

    net, xb, yb, xa, ya, alpha, bufs = _v2_setup()
    ref_net = copy.deepcopy(net)
    got, loss_u, _ = darts_v2_arch_grad(net, alpha, xb, yb, xa, ya, lr=LR, momentum=MOM,
                                        weight_decay=WD, momentum_buffers=bufs)
    # eq. 8 by hand
    params = list(ref_net.parameters())
    lt = F.cross_entropy(ref_net(xb, weights=alpha.detach().softmax(-1)), yb)
    grads = torch.autograd.grad(lt, params)
    unrolled = copy.deepcopy(ref_net)
    with torch.no_grad():
        for q, p, gk, b in zip(unrolled.parameters(), params, grads, bufs):
            q.copy_(p - LR * (MOM * b + gk + WD * p))
    a = alpha.detach().clone().requires_grad_(True)
    lv = F.cross_entropy(unrolled(xa, weights=a.softmax(-1)), ya)
    out = torch.autograd.grad(lv, [a, *unrolled.parameters()])
    dalpha, v = out[0], out[1:]
    big_r = 0.01 / torch.cat([t.reshape(-1) for t in v]).norm()

    def grad_at(sign: float) -> Any:
        moved = copy.deepcopy(ref_net)
        with torch.no_grad():
            for q, p, d in zip(moved.parameters(), params, v):
                q.copy_(p + sign * big_r * d)
        c = alpha.detach().clone().requires_grad_(True)
        return torch.autograd.grad(F.cross_entropy(moved(xb, weights=c.softmax(-1)), yb), c)[0]

    want = dalpha - LR * (grad_at(1.0) - grad_at(-1.0)) / (2 * big_r)
    assert float(loss_u) == pytest.approx(float(lv.detach()), rel=1e-12)
    assert torch.allclose(got, want, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- GDAS
def test_gdas_temperature_schedule_is_the_scripts_formula() -> None:
    for e in range(240):
        assert gdas_tau(e, 240, 10.0, 0.1) == pytest.approx(10 - 9.9 * e / 239)
    assert gdas_tau(0, 240, 10, 0.1) == 10 and gdas_tau(239, 240, 10, 0.1) == pytest.approx(0.1)
    assert gdas_tau(0, 1, 10, 0.1) == 10


def test_gdas_sample_is_gumbel_max_with_a_straight_through_gradient() -> None:
    g = torch.Generator().manual_seed(3)
    alpha = torch.tensor([[1.0, 0.0, -1.0, 0.5, 2.0]] * 6, requires_grad=True)
    # the formula, with the same noise
    g2 = torch.Generator().manual_seed(3)
    hard, index = gdas_sample(alpha, 0.7, g)
    expo = torch.empty((6, 5)).exponential_(generator=g2)
    logits = (alpha.detach().log_softmax(1) - expo.log()) / 0.7
    assert torch.equal(index[:, 0], logits.argmax(1))
    onehot = F.one_hot(logits.argmax(1), 5).double()
    assert torch.allclose(hard.detach().double(), onehot, atol=1e-6)
    c = torch.randn((6, 5), generator=g)
    (gh,) = torch.autograd.grad((hard * c).sum(), alpha)
    b = alpha.detach().clone().requires_grad_(True)
    probs = F.softmax((b.log_softmax(1) - expo.log()) / 0.7, dim=1)
    (gp,) = torch.autograd.grad((probs * c).sum(), b)
    assert torch.allclose(gh, gp, atol=1e-6)
    # Gumbel-max: the sampled op is distributed as softmax(alpha), whatever tau
    counts = np.zeros(5)
    for _ in range(150):  # 6 edges x 150 draws
        _, idx = gdas_sample(alpha.detach(), 5.0, g)
        counts += np.bincount(idx[:, 0].numpy(), minlength=5)
    p = torch.softmax(alpha.detach()[0], 0).numpy()
    n = counts.sum()
    assert np.all(np.abs(counts / n - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-3)


# ----------------------------------------------------------------------- power iteration
def test_power_iteration_finds_the_hessians_dominant_eigenvalue() -> None:
    net = _tiny_net(torch.float64, track=False)
    x, y = _digits(4, 0, torch.float64)
    g = torch.Generator().manual_seed(2)
    alpha = torch.randn((6, 5), generator=g, dtype=torch.float64)

    def loss(a: Any) -> Any:
        return F.cross_entropy(net(x, weights=a.softmax(-1)), y)

    h = torch.autograd.functional.hessian(lambda a: loss(a.reshape(6, 5)), alpha.reshape(-1))
    eig = torch.linalg.eigvalsh(h)
    top = float(eig[eig.abs().argmax()])
    got = dominant_eigenvalue(loss, alpha, iters=60, generator=torch.Generator().manual_seed(0))
    assert got == pytest.approx(top, rel=1e-3)
    assert math.isnan(dominant_eigenvalue(loss, alpha, iters=0, generator=g))


# --------------------------------------------------------------------------- searches
def _steps(name: str, seed: int, **params: Any) -> list[Any]:
    opt = make_optimizer(name, **{**TINY, **params})
    opt.setup(get_space("nb201"), make_rng(seed, "test-oneshot"))
    return list(opt.steps())  # type: ignore[union-attr]


def _without_time(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k not in ("search_s", "search_s_total")}


@pytest.mark.parametrize("name", ["darts-v1", "darts-v2", "gdas", "rsps"])
def test_each_search_yields_a_cell_and_diagnostics_per_epoch(name: str) -> None:
    extra = {"select_num": 3} if name == "rsps" else {}
    if name == "rsps":
        extra["hessian_iters"] = 0
    steps = _steps(name, 0, **extra)
    assert len(steps) == 2
    for e, s in enumerate(steps, 1):
        info = s.info
        assert info["epoch"] == e and s.cost_s > 0 and info["search_s"] == s.cost_s
        assert info["cell"] == str(s.arch)
        assert 0 <= info["param_free_ops"] <= 6
        assert sum(info["op_counts"].values()) == 6
        assert 0 <= info["supernet_train_acc"] <= 100
        if name == "rsps":
            assert info["alpha_softmax"] is None and info["hessian_eig"] is None
        else:
            a = np.array(info["alpha_softmax"])
            assert a.shape == (6, 5) and np.allclose(a.sum(1), 1)
            # the cell is the argmax per edge of the architecture weights
            assert list(a.argmax(1)) == info["ops"]
            assert 0 < info["entropy_mean"] <= math.log(5) + 1e-9
            assert info["hessian_eig"] is not None and math.isfinite(info["hessian_eig"])
    assert steps[1].info["search_s_total"] == pytest.approx(
        steps[0].cost_s + steps[1].cost_s)


def test_same_seed_same_search_other_seed_differs_also_in_a_fresh_process() -> None:
    a = [_without_time(dict(s.info)) for s in _steps("darts-v1", 5)]
    b = [_without_time(dict(s.info)) for s in _steps("darts-v1", 5)]
    assert a == b
    c = [_without_time(dict(s.info)) for s in _steps("darts-v1", 6)]
    assert [r["alpha_softmax"] for r in c] != [r["alpha_softmax"] for r in a]
    code = (
        "import json, sys\n"
        "from benchbench.optimizer import make_optimizer\n"
        "from benchbench.rng import make_rng\n"
        "from benchbench.spaces import get_space\n"
        f"o = make_optimizer('darts-v1', **{TINY!r})\n"
        "o.setup(get_space('nb201'), make_rng(5, 'test-oneshot'))\n"
        "rows = [{k: v for k, v in s.info.items() if k not in ('search_s', 'search_s_total')}"
        " for s in o.steps()]\n"
        "json.dump(rows, sys.stdout)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    fresh = json.loads(r.stdout)
    assert fresh == json.loads(json.dumps(a))  # bit-identical weights and diagnostics


def test_track_running_stats_is_a_setting_that_changes_the_search() -> None:
    on = [_without_time(dict(s.info)) for s in _steps("rsps", 0, select_num=4)]
    off = [_without_time(dict(s.info)) for s in _steps("rsps", 0, select_num=4,
                                                        track_running_stats=False)]
    assert [r["supernet_valid_acc"] for r in on] != [r["supernet_valid_acc"] for r in off]


@pytest.mark.parametrize(("params", "match"), [
    ({"device": "gpu"}, "device must be 'cpu'"),
    ({"dataset": "mnist"}, "dataset must be one of"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"tau_min": 20.0}, "tau_min 20.0 must be <= tau_max"),
])
def test_bad_hyper_parameters_are_one_line_errors(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match) as e:
        make_optimizer("gdas", **params)
    assert "\n" not in str(e.value)


def test_local_datasets_without_their_files_say_which_files() -> None:
    opt = DARTSV1(dataset="cifar100", data_dir="/nonexistent", **TINY)
    opt.setup(get_space("nb201"), make_rng(0, "x"))
    with pytest.raises(FileNotFoundError, match="cifar-100"):
        next(opt.steps())


def test_search_halves_never_touch_the_tables_valid_or_test_images() -> None:
    from benchbench.nn import load_dataset

    sd = load_search_data("digits", None)
    data = load_dataset("digits")
    n = int(data.train_y.shape[0])
    assert sd.w_y.shape[0] + sd.a_y.shape[0] == n
    keys = {bytes(x.numpy().tobytes()) for x in torch.cat([sd.w_x, sd.a_x])}
    assert keys == {bytes(x.numpy().tobytes()) for x in data.train_x}
    for split in ("valid", "test"):
        held = {bytes(x.numpy().tobytes()) for x in data.eval_sets[split][0]}
        assert not (held & keys) or len(held & keys) < 5  # digits has a few duplicate images


def test_registered_classes() -> None:
    from benchbench.registry import OPTIMIZERS

    for name, cls in (("darts-v1", DARTSV1), ("darts-v2", DARTSV2), ("gdas", GDAS),
                      ("rsps", RSPS)):
        assert OPTIMIZERS.load(name) is cls


# ------------------------------------------------------------------ runner and store
def test_diagnostics_store_round_trip(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    rows = [{"eval": 0, "hessian_eig": math.nan, "alpha_softmax": [[0.2] * 5] * 6},
            {"eval": 1, "hessian_eig": 1.5, "alpha_softmax": None}]
    sha = store.write_diagnostics(rows, "darts-v1", 3)
    back = store.read_diagnostics("darts-v1", 3, expect_sha256=sha)
    assert back[0]["hessian_eig"] is None and back[1]["hessian_eig"] == 1.5
    assert back[0]["alpha_softmax"] == [[0.2] * 5] * 6
    assert store.read_diagnostics("darts-v1", 4) == []
    p = store.run_path("darts-v1", 3) / "diagnostics.jsonl"
    p.write_text(p.read_text().replace("1.5", "2.5"))
    with pytest.raises(StoreError, match="does not match"):
        store.read_diagnostics("darts-v1", 3, expect_sha256=sha)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "benchbench.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_cli_study_stores_diagnostics_and_the_report_names_the_one_shot_runs(
        tmp_path: Path) -> None:
    out = tmp_path / "study"
    r = _cli("run", "--benchmark", "nb201-digits", "--dataset", "digits",
             "--algorithms", "rs,darts-v1,rsps", "--param", "darts-v1.epochs=2",
             "--param", "darts-v1.max_batches=2", "--param", "darts-v1.hessian_iters=2",
             "--param", "rsps.epochs=2", "--param", "rsps.max_batches=2",
             "--param", "rsps.select_num=2", "--seeds", "0-1", "--max-evals", "10",
             "--out", str(out), "--workers", "1", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    store = StudyStore(out)
    import pandas as pd

    for seed in (0, 1):
        man = json.loads((store.run_path("darts-v1", seed) / "manifest.json").read_text())
        rows = store.read_diagnostics("darts-v1", seed, expect_sha256=man["diagnostics_sha256"])
        rec = pd.read_csv(store.run_path("darts-v1", seed) / "records.csv")
        assert len(rows) == len(rec) == 2
        assert [d["eval"] for d in rows] == list(rec["eval"])
        assert [d["cell"] for d in rows] == list(rec["arch_id"])
        assert np.allclose(rec["cost_s"], [d["search_s"] for d in rows])
        assert man["result"]["final_cell"]["arch_id"] == rec["arch_id"].iloc[-1]
        # a black-box run writes none
        assert store.read_diagnostics("rs", seed) == []
        assert json.loads((store.run_path("rs", seed) / "manifest.json").read_text())[
            "diagnostics_sha256"] == ""
    rep = _cli("report", str(out), "--no-figures", cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    text = (out / "report" / "report.md").read_text()
    assert "### One-shot searches on digits" in text
    assert "- darts-v1 (2 runs, 2 epochs):" in text and "- rsps (2 runs, 2 epochs):" in text
    summary = pd.read_csv(out / "summary.csv")
    assert {"rs", "darts-v1", "rsps"} <= set(summary["algorithm"])


def test_collapse_is_named_on_an_all_skip_final_cell() -> None:
    from results._oneshot import OneShotRun, collapse_text

    def run(seed: int, pf: int, eig: list[float]) -> OneShotRun:
        rows = [{"param_free_ops": pf, "op_counts": {"skip_connect": pf}, "hessian_eig": e}
                for e in eig]
        return OneShotRun(seed, rows, {})

    grow = [1.0] * 5 + [2.0] * 5
    t = collapse_text("darts-v1", [run(0, 6, grow), run(1, 6, grow)])
    assert "COLLAPSE" in t and "parameter-free collapse in 2 of 2 runs" in t
    assert "grew at least 1.33x" in t
    t = collapse_text("gdas", [run(0, 2, [1.0] * 10)])
    assert t.startswith("gdas (1 runs, 10 epochs): no collapse")


def test_rsps_select_every_steps_only_after_selections() -> None:
    steps = _steps("rsps", 0, epochs=3, select_every=2, select_num=2, max_batches=1)
    assert [s.info["epoch"] for s in steps] == [2, 3]
    assert steps[-1].info["search_s_total"] == pytest.approx(sum(s.cost_s for s in steps))
