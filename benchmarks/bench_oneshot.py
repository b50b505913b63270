"""One-shot search (DARTS-V1 / V2, GDAS, RSPS on the NB201 supernet): cost per search epoch,
a short DARTS search on digits, and a many-seed comparison with RS / RE on nb201-digits.

    python benchmarks/bench_oneshot.py epoch  [--steps 3]
    python benchmarks/bench_oneshot.py darts  [--epochs 50]
    python benchmarks/bench_oneshot.py study  [--seeds 10] [--scale 1.0] [--out DIR]

``epoch``: measured seconds of one search epoch on CPU (one intra-op thread):

* digits (the embedded table's setting: 498 + 499 images of 8x8, ``C=4, N=1``, batch 64),
  a whole epoch per method;
* the NB201 CIFAR-10 setting (25k + 25k images of 32x32, ``C=16, N=5``, batch 64 -> 391
  steps per epoch), from ``--steps`` timed steps on synthetic images (timing does not depend
  on the pixels; no CIFAR files are needed), extrapolated to an epoch; RSPS' per-epoch
  selection (100 cells x 25k images) is estimated from timed forward passes;
* on CUDA the same when a GPU is visible (else the column says so).

The reference measured in the same run: one epoch of a *standalone* NB201 network (the cell
of all ``nor_conv_3x3``, same ``C, N``, same images and batch size, SGD); the ratio column is
supernet epoch / standalone epoch.  The projection columns multiply by the epochs of the
NB201 scripts (DARTS 50, GDAS 240 per ``GDAS.config`` and 250 per the paper's text, RSPS 250).

``darts``: a DARTS-V1 search on digits with the scripts' hyper-parameters (50 epochs by
default; ``--arch-lr`` overrides the architecture learning rate), printing every 5th epoch:
the softmax of each edge's largest weight, the mean entropy, the cell, its parameter-free
edges, the dominant Hessian eigenvalue.

``study``: ``--seeds`` seeds of DARTS-V1, DARTS-V2, GDAS and RSPS through
:func:`benchbench.runner.run_study` on ``nb201-digits`` (epochs x ``--scale``: 1.0 = the
scripts' 50 / 50 / 240 / 250), then RS and RE with ``max_seconds`` = the median measured
search time of the one-shot runs (equal search time; the table's ``cost_s`` are the measured
training seconds of the table build on this kind of machine), and prints per method the
final cell's table test accuracy (one-shot: the last cell; RS/RE: the incumbent) as mean ±
95% bootstrap CI, parameter-free edges and collapsed runs, and paired Wilcoxon tests (Holm)
of each one-shot method against RS and RE (:mod:`results._stats`).  The full size is long
(hours on 2 cores); ``--scale`` shrinks every method's epochs and RSPS' ``select_num``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PAPER_EPOCHS = {"darts-v1": (50,), "darts-v2": (50,), "gdas": (240, 250), "rsps": (250,)}
METHODS = ("darts-v1", "darts-v2", "gdas", "rsps")


# ------------------------------------------------------------------------------ epoch
def _params(method: str, **kw: Any) -> dict[str, Any]:
    from benchbench.optimizer import make_optimizer

    return {**make_optimizer(method).get_params(), **kw}


def _synthetic(n_w: int, n_a: int, side: int, device: str) -> Any:
    import torch

    from algorithms._oneshot_engine import SearchData
    from benchbench.nn._data import ImageData

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n_w + n_a, 3, side, side), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (n_w + n_a,), generator=g)
    data = ImageData("cifar10-valid", 10, x[:n_w], y[:n_w], {"valid": (x[n_w:], y[n_w:])},
                     255.0, (0.49, 0.48, 0.45), (0.25, 0.24, 0.26), 4, True, "synthetic")
    return SearchData(data, x[:n_w], y[:n_w], x[n_w:], y[n_w:], "synthetic")


def _time_engine(method: str, data: Any, steps: int | None, c: int, n: int,
                 device: str) -> tuple[float, int]:
    """Seconds of ``steps`` search steps (None: a whole epoch) and the steps per epoch."""
    import torch

    from algorithms._oneshot_engine import SearchEngine

    p = _params(method, max_batches=steps, channels=c, cells_per_stage=n, device=device,
                hessian_iters=0)
    eng = SearchEngine(method, p, 0, "digits", data=data)
    per_epoch = math.ceil(int(eng.sd.w_y.shape[0]) / p["batch_size"])
    with eng.determinism():
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        eng.epoch()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0, per_epoch


def _time_select(data: Any, c: int, n: int, device: str, batches: int = 2) -> float:
    """Seconds of RSPS' per-epoch selection (100 cells x the architecture half), from
    ``batches`` timed forward passes of 512 images."""
    import torch

    from algorithms._oneshot_engine import SearchEngine

    p = _params("rsps", max_batches=1, channels=c, cells_per_stage=n, device=device)
    eng = SearchEngine("rsps", p, 0, "digits", data=data)
    n_a = int(data.a_y.shape[0])
    with eng.determinism():
        t0 = time.perf_counter()
        if n_a <= 512 * batches:  # small: the real selection
            eng.select_best(p["select_num"], None)
            scale = 1.0
        else:
            eng.evaluate_cell((3,) * 6, 512 * batches)
            scale = (n_a / (512 * batches)) * p["select_num"]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) * scale


def _time_standalone(data: Any, steps: int | None, c: int, n: int, device: str) -> float:
    """Seconds of ``steps`` SGD steps (None: an epoch) of the standalone all-conv3x3 cell."""
    import torch

    from benchbench.nn import build_nb201, init_network
    from benchbench.nn._train import _random_crop_flip, _scoped_determinism

    dev = torch.device(device)
    with _scoped_determinism(1, dev):
        net = init_network(build_nb201("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|"
                                       "nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
                                       channels=c, cells_per_stage=n),
                           torch.Generator().manual_seed(0)).to(dev).train()
        opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, nesterov=True,
                              weight_decay=5e-4)
        g = torch.Generator().manual_seed(0)
        nw = int(data.w_y.shape[0])
        k = math.ceil(nw / 64) if steps is None else steps
        perm = torch.randperm(nw, generator=g)
        t0 = time.perf_counter()
        for i in range(k):
            idx = perm[(i * 64) % nw:(i * 64) % nw + 64]
            xb = data.w_x[idx]
            if data.data.crop_padding:
                xb = _random_crop_flip(xb, data.data.crop_padding, data.data.flip, g)
            x = data.data.normalise(xb, dev)
            loss = torch.nn.functional.cross_entropy(net(x), data.w_y[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5)
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0


def part_epoch(args: argparse.Namespace) -> None:
    import torch

    from algorithms._oneshot_engine import load_search_data

    torch.set_num_threads(1)
    cuda = (f"available: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available()
            else "not available in this session (no GPU): CUDA rows not measured")
    print(f"torch {torch.__version__}, 1 intra-op thread; CUDA {cuda}")
    settings = [("digits (8x8, C=4 N=1, 498+499 images)", load_search_data("digits", None),
                 None, 4, 1, "cpu")]
    cifar = _synthetic(25_000, 25_000, 32, "cpu")
    settings.append(("NB201 CIFAR-10 (32x32, C=16 N=5, 25k+25k, synthetic pixels)", cifar,
                     args.steps, 16, 5, "cpu"))
    if torch.cuda.is_available():
        settings.append(("NB201 CIFAR-10 on CUDA", cifar, args.steps * 5, 16, 5, "cuda"))
    head = (f"{'setting':<62} {'method':<9} {'s/epoch':>9} {'x standalone':>12} "
            f"{'paper epochs':>13} {'projected':>12}")
    print(head)
    print("-" * len(head))
    for label, data, steps, c, n, dev in settings:
        ref = _time_standalone(data, steps, c, n, dev)
        per_epoch = math.ceil(int(data.w_y.shape[0]) / 64)
        ref_epoch = ref if steps is None else ref * per_epoch / steps
        print(f"{label:<62} {'standalone':<9} {ref_epoch:>9.2f} {1.0:>12.2f} {'':>13} "
              f"{'':>12}")
        for m in METHODS:
            secs, per_epoch = _time_engine(m, data, steps, c, n, dev)
            epoch_s = secs if steps is None else secs * per_epoch / steps
            rows = [(m, epoch_s, 0.0)]
            if m == "rsps":
                sel = _time_select(data, c, n, dev)
                rows = [("rsps/end", epoch_s, sel), ("rsps/ep", epoch_s + sel, 0.0)]
            for name, es, once in rows:
                for e in PAPER_EPOCHS[m]:
                    proj = es * e + once
                    unit = f"{proj / 3600:.2f} h" if proj >= 3600 else f"{proj:.0f} s"
                    print(f"{label:<62} {name:<9} {es:>9.2f} {es / ref_epoch:>12.2f} "
                          f"{e:>13} {unit:>12}")
        sys.stdout.flush()
    print("Standalone: one epoch of the all-nor_conv_3x3 cell as an ordinary NB201 network "
          "(same C, N, images, batch 64). Extrapolated rows: --steps timed steps x steps per "
          "epoch. RSPS: rsps/end selects once after the last epoch (RANDOM-NAS.py; the "
          "projection adds one selection), rsps/ep after every epoch (benchbench's default "
          "select_every=1: the selection is in s/epoch); a selection = 100 cells on the "
          "architecture half (CIFAR: from timed forward passes of 1024 images).")


# ------------------------------------------------------------------------------ darts
def part_darts(args: argparse.Namespace) -> None:
    import torch

    from benchbench.optimizer import make_optimizer
    from benchbench.rng import make_rng
    from benchbench.spaces import get_space

    torch.set_num_threads(1)
    extra = {} if args.arch_lr is None else {"arch_lr": args.arch_lr}
    opt = make_optimizer("darts-v1", epochs=args.epochs, **extra)
    opt.setup(get_space("nb201"), make_rng(0, "bench-oneshot"))
    t0 = time.perf_counter()
    first = None
    print(f"DARTS-V1 on digits, {args.epochs} epochs, seed 0, "
          + ("the scripts' hyper-parameters" if not extra else f"arch_lr={args.arch_lr} "
             "(deviation; else the scripts' hyper-parameters)"))
    print(f"{'epoch':>5} {'s':>6} {'max softmax/edge':<36} {'H':>6} {'pf':>3} {'eig':>8} "
          f"{'tr acc':>6} {'va acc':>6}  cell")
    for s in opt.steps():  # type: ignore[union-attr]
        i = s.info
        a = np.array(i["alpha_softmax"])
        if first is None:
            first = a
        if i["epoch"] % 5 == 0 or i["epoch"] == 1:
            print(f"{i['epoch']:>5} {i['search_s_total']:>6.1f} "
                  f"{' '.join(f'{v:.3f}' for v in a.max(1)):<36} {i['entropy_mean']:>6.3f} "
                  f"{i['param_free_ops']:>3} {i['hessian_eig'] or math.nan:>8.4f} "
                  f"{i['supernet_train_acc']:>6.1f} {i['supernet_valid_acc']:>6.1f}  "
                  f"{i['cell']}")
    assert first is not None
    print(f"max |softmax change| over the search: {np.abs(a - first).max():.4f} "
          f"(uniform = 0.2); wall {time.perf_counter() - t0:.0f} s")


# ------------------------------------------------------------------------------ study
def part_study(args: argparse.Namespace) -> None:
    import pandas as pd

    from benchbench.registry import open_benchmark
    from benchbench.rng import make_rng
    from benchbench.runner import run_study
    from benchbench.store import StudyStore
    from results._stats import bootstrap_mean_ci, holm, wilcoxon_paired

    out = Path(args.out or tempfile.mkdtemp(prefix="bench-oneshot-"))
    seeds = list(range(args.seeds))
    sc = args.scale
    algos = {
        "darts-v1": {"epochs": max(1, round(50 * sc)), "hessian_iters": args.hessian_iters},
        "darts-v2": {"epochs": max(1, round(50 * sc)), "hessian_iters": args.hessian_iters},
        "gdas": {"epochs": max(1, round(240 * sc)), "hessian_iters": args.hessian_iters},
        "rsps": {"epochs": max(1, round(250 * sc)), "select_num": max(1, round(100 * sc)),
                 "select_every": max(1, round(250 * sc))},  # one selection at the end
    }
    print(f"study folder {out}; seeds {len(seeds)}; scale {sc}: "
          + ", ".join(f"{k} {v['epochs']} epochs" for k, v in algos.items())
          + f", rsps select_num {algos['rsps']['select_num']}")
    t0 = time.perf_counter()
    with open_benchmark("nb201-digits") as bench:
        run_study(bench, out / "oneshot", dataset="digits",
                  algorithms={k: {"algorithm": k, **v} for k, v in algos.items()},
                  seeds=seeds, max_evals=10_000, workers=args.workers)
        store = StudyStore(out / "oneshot")
        total: dict[str, np.ndarray] = {}
        final: dict[str, np.ndarray] = {}
        pf: dict[str, np.ndarray] = {}
        for k in algos:
            t, f, p = [], [], []
            for s in seeds:
                rows = store.read_diagnostics(k, s)
                man = json.loads((store.run_path(k, s) / "manifest.json").read_text())
                t.append(rows[-1]["search_s_total"])
                f.append(man["result"]["final_cell"]["test_heldout"])
                p.append(rows[-1]["param_free_ops"])
            total[k], final[k], pf[k] = np.array(t), np.array(f, float), np.array(p, float)
        budget = float(np.median(np.concatenate(list(total.values()))))
        print(f"one-shot searches done in {time.perf_counter() - t0:.0f} s; median measured "
              f"search time {budget:.1f} s -> RS / RE budget max_seconds={budget:.1f}")
        run_study(bench, out / "blackbox", dataset="digits",
                  algorithms={"rs": {"algorithm": "rs"}, "re": {"algorithm": "re"}},
                  seeds=seeds, max_seconds=budget, workers=1)
        bstore = StudyStore(out / "blackbox")
        for k in ("rs", "re"):
            vals = []
            n_evals = []
            for s in seeds:
                rec = pd.read_csv(bstore.run_path(k, s) / "records.csv")
                vals.append(rec["incumbent_test_heldout"].iloc[-1])
                n_evals.append(len(rec))
            final[k] = np.array(vals, float)
            total[k] = np.full(len(seeds), budget)
            pf[k] = np.full(len(seeds), math.nan)
            print(f"{k}: {np.mean(n_evals):.1f} table evaluations within {budget:.1f} s")
    print()
    print(f"{'method':<9} {'search s':>9} {'final test (held-out seeds)':>30} "
          f"{'param-free':>10} {'collapsed':>9}")
    for k in (*algos, "rs", "re"):
        lo, hi = bootstrap_mean_ci(final[k][:, None], make_rng(0, "bench-oneshot", k))
        coll = int(np.sum(pf[k] >= 5)) if np.all(np.isfinite(pf[k])) else -1
        print(f"{k:<9} {np.mean(total[k]):>9.1f} {np.mean(final[k]):>12.2f} "
              f"[{float(lo[0]):.2f}, {float(hi[0]):.2f}]{'':>6} "
              f"{np.nanmean(pf[k]) if coll >= 0 else math.nan:>10.1f} "
              f"{(str(coll) + '/' + str(len(seeds))) if coll >= 0 else '–':>9}")
    print()
    names, ps = [], []
    for k in algos:
        for b in ("rs", "re"):
            r = wilcoxon_paired(final[k], final[b])
            names.append(f"{k} vs {b}")
            ps.append(r.pvalue)
    adj = holm(np.array(ps))
    for nme, p, a in zip(names, ps, adj):
        d = nme.split(" vs ")
        diff = float(np.mean(final[d[0]] - final[d[1]]))
        print(f"{nme:<16} mean diff {diff:>+7.2f} pts  Wilcoxon p {p:.3g}  Holm {a:.3g}")
    print(f"wall {time.perf_counter() - t0:.0f} s; report: benchbench report {out}/oneshot")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="part", required=True)
    e = sub.add_parser("epoch")
    e.add_argument("--steps", type=int, default=3)
    d = sub.add_parser("darts")
    d.add_argument("--epochs", type=int, default=50)
    d.add_argument("--arch-lr", type=float, default=None)
    s = sub.add_parser("study")
    s.add_argument("--seeds", type=int, default=10)
    s.add_argument("--scale", type=float, default=1.0)
    s.add_argument("--hessian-iters", type=int, default=20)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--out", type=str, default=None)
    args = ap.parse_args()
    {"epoch": part_epoch, "darts": part_darts, "study": part_study}[args.part](args)


if __name__ == "__main__":
    main()
