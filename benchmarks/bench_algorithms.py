"""Search results of the black-box optimizers on NB201 CIFAR-10-valid: each default beside
its named reference variants; optionally the per-ask overhead.

    python benchmarks/bench_algorithms.py [--seeds 200] [--evals 150] [--workers 2]
                                          [--overhead]

Every variant is one label of one :func:`benchbench.runner.run_study` on the real NB201
table (``../shared/data/nb201/nb201_table.csv.gz``, imported into a temporary data root):
dataset ``cifar10-valid``, objective ``valid_acc``, test metric ``test_acc``, the runner's
default noise (each query answers with one recorded training run chosen by the seed, the same
run for every algorithm under that seed).  Printed per variant, mean ± standard error over
the seeds, of the final incumbent (the best cell by what the optimizer saw):

* valid / test: its seed-mean validation / test accuracy (%), as the NB201 paper reports;
* valid held-out: its validation accuracy averaged over the recorded training runs that did
  not select it (``incumbent_valid_heldout``), which removes the selection bias of the seed
  it was picked on;
* test held-out: the same for the test accuracy (``incumbent_test_heldout``); the flat NB201
  table has no per-run test accuracies, so it is n/a here;
* Δ valid: the variant's final seed-mean validation accuracy minus its algorithm's default's
  (Δ vs rs: minus random search's), paired by seed (common random numbers make the pairs
  comparable).

The variants, with their references (see each optimizer's docstring for the exact settings):

=================== ==================================================================
rs                  default: NATS-Bench ``random_wo_share.py`` / NB201 ``RANDOM`` (repeats)
rs dedup            naszilla's ``random_search`` (White et al. 2020): no repeats
re                  default: NB201 / NATS-Bench R-EA, node-then-input mutation
re uniform          ``mutation="uniform-neighbour"``: uniform edge (benchbench < issue 9)
reinforce           default: NATS-Bench ``reinforce.py``, learning rate 0.01
reinforce lr=0.5    NB201's README reproduction command
reinforce lr=0.001  NB201 ``REINFORCE.sh`` header (benchbench < issue 9)
ls                  default: naszilla ``local_search`` (best of 10, first improvement)
ls best-impr.       naszilla ``query_full_nbhd=True`` (best improvement)
ls random start     ``n_init=1`` (one uniform cell per start), otherwise the reference
ls old              ``n_init=1, step="best-improvement", known_neighbours="reuse"``
                    (benchbench < issue 9)
=================== ==================================================================

``--overhead`` also prints the optimizers' own cost per ask + tell (synthetic objective, best
of 3, 10,000 asks; the proxy-guided ones read NASLib's scores of
``../shared/data/nb201/zc_scores_725.json``).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import tabular_data
from benchbench.registry import open_benchmark
from benchbench.runner import run_study
from benchbench.store import StudyStore

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb201"
TABLE = SHARED / "nb201_table.csv.gz"
ZC_FILE = SHARED / "zc_scores_725.json"
DATASET = "cifar10-valid"

#: (label, algorithm, params, reference), defaults first within each algorithm.
VARIANTS: list[tuple[str, str, dict[str, Any], str]] = [
    ("rs", "rs", {}, "default (NATS-Bench / NB201 RANDOM)"),
    ("rs-dedup", "rs", {"dedup": True}, "naszilla random_search"),
    ("re", "re", {}, "default (NB201 R-EA, node mutation)"),
    ("re-uniform", "re", {"mutation": "uniform-neighbour"}, "uniform edge (old)"),
    ("reinforce", "reinforce", {}, "default (NATS-Bench, lr 0.01)"),
    ("reinforce-lr0.5", "reinforce", {"learning_rate": 0.5}, "NB201 README, lr 0.5"),
    ("reinforce-lr0.001", "reinforce", {"learning_rate": 0.001}, "NB201 .sh, lr 0.001 (old)"),
    ("ls", "ls", {}, "default (naszilla, first impr.)"),
    ("ls-best", "ls", {"step": "best-improvement"}, "naszilla query_full_nbhd"),
    ("ls-random-start", "ls", {"n_init": 1}, "n_init=1"),
    ("ls-old", "ls", {"n_init": 1, "step": "best-improvement", "known_neighbours": "reuse"},
     "old: 1 start, best impr., reuse"),
]


def study_settings(store: StudyStore) -> str:
    """The search settings the study ran with, as ``study.json`` records them."""
    spec = store.read_spec()
    search = {k: v for k, v in spec.get("search", {}).items() if isinstance(v, (str, bool))}
    return ", ".join(f"{k} {v}" for k, v in {"noise": spec.get("noise"), **search}.items())


def mean_se(x: np.ndarray) -> str:
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return "n/a"
    se = x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else float("nan")
    return f"{x.mean():.3f} ± {se:.3f}"


def search_results(seeds: int, evals: int, workers: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-algorithms-"))
    tabular_data.import_nb201(TABLE, name="nb201-flat", root=tmp)
    bench = open_benchmark("nb201-flat", data_root=tmp)
    algos = {label: {"algorithm": name, **params} for label, name, params, _ in VARIANTS}
    t0 = time.perf_counter()
    res = run_study(bench, tmp / "study", dataset=DATASET, algorithms=algos,
                    seeds=range(seeds), max_evals=evals, workers=workers)
    wall = time.perf_counter() - t0
    if res.failed:
        sys.exit(f"{res.failed} runs failed: {res.failures[:3]}")
    store = StudyStore(tmp / "study")
    settings = study_settings(store)
    cols = ("incumbent_valid", "incumbent_valid_heldout", "incumbent_test",
            "incumbent_test_heldout")
    finals: dict[str, dict[int, list[float]]] = {label: {} for label in algos}
    for run in store.iter_runs():
        last = store.read_records(run).iloc[-1]
        finals[run.label][run.seed] = [float(last[c]) for c in cols]
    v_opt = bench.optimum("valid_acc", dataset=DATASET)
    t_opt = bench.optimum("test_acc", dataset=DATASET)
    print(f"NB201 {DATASET}, {evals} evaluations, {seeds} seeds ({settings}); final "
          f"incumbent, mean ± s.e. over seeds (%)")
    print(f"optimum: valid {v_opt.value:.3f}, test {t_opt.value:.3f} (best test cell)")
    head = ("variant", "valid", "valid held-out", "test", "test held-out", "Δ valid",
            "Δ valid vs rs", "reference")
    print(f"{head[0]:<19}{head[1]:>16}{head[2]:>16}{head[3]:>16}{head[4]:>15}{head[5]:>17}"
          f"{head[6]:>17}  {head[7]}")
    rs = np.array([finals["rs"][s][0] for s in range(seeds)])
    order = range(seeds)
    for label, name, _, ref in VARIANTS:
        a = np.array([finals[label][s] for s in order])
        default = np.array([finals[name][s] for s in order])  # the label of a default is its name
        delta = "" if label == name else mean_se(a[:, 0] - default[:, 0])
        vs_rs = "" if label == "rs" else mean_se(a[:, 0] - rs)
        print(f"{label:<19}" + "".join(f"{mean_se(a[:, i]):>16}" for i in range(3))
              + f"{mean_se(a[:, 3]):>15}{delta:>17}{vs_rs:>17}  {ref}")
    print("Δ valid: the variant minus its algorithm's default (vs rs: minus random search), seed "
          "by seed\n(paired: under one seed every algorithm sees the same recorded training run "
          "of a cell)")
    no_test_ho = all(np.isnan(v[3]) for f in finals.values() for v in f.values())
    print(f"({len(VARIANTS) * seeds} runs in {wall:.0f} s with {workers} workers"
          + ("; test held-out is n/a: the table has no per-run test accuracies)"
             if no_test_ho else ")"))


def overhead() -> None:
    from algorithms import OPTIMIZERS, get_optimizer
    from algorithms.proxies import import_naslib_scores
    from benchbench.rng import make_rng
    from benchbench.spaces import NB201Space
    from benchbench.trial import TrialValue

    space = NB201Space()
    values = make_rng(0, "values").random(space.size) * 100  # objective by official index
    tv = [TrialValue(float(v), 1.0) for v in values]
    n = 10_000
    needs_scores = {"naswot", "re-zc"}
    base: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in OPTIMIZERS
                                              if name not in needs_scores]
    if ZC_FILE.is_file():
        zc_dir = import_naslib_scores(ZC_FILE, "cifar10", Path(tempfile.mkdtemp()) / "zc")
        base += [(name, {"scores": str(zc_dir)}) for name in sorted(needs_scores)]
    else:
        print(f"({ZC_FILE} absent: naswot and re-zc not timed)")
    extra = [(name, params) for _, name, params, _ in VARIANTS if params]
    print(f"\n{'optimizer':<76}{'us/ask+tell':>12}")
    for name, params in base + extra:
        best = np.inf
        for rep in range(3):
            opt = get_optimizer(name, **params)
            opt.setup(space, make_rng(rep, name))
            idx = space.index
            t0 = time.perf_counter()
            for _ in range(n):
                t = opt.ask()
                opt.tell(t, tv[idx(t.arch)])
            best = min(best, (time.perf_counter() - t0) / n * 1e6)
        label = name + ("" if not params or "scores" in params else f" {params}")
        print(f"{label:<76}{best:>12.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--evals", type=int, default=150)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--overhead", action="store_true", help="also time ask + tell")
    args = ap.parse_args()
    if not TABLE.is_file():
        sys.exit(f"{TABLE} not found (the real NB201 table, ../shared/data beside the repo)")
    search_results(args.seeds, args.evals, args.workers)
    if args.overhead:
        overhead()


if __name__ == "__main__":
    main()
