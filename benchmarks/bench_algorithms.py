"""Per ask+tell overhead of the black-box optimizers on NB201 (microseconds).

    python benchmarks/bench_algorithms.py

Synthetic objective values (seeded uniform) so only the optimizers are timed; best of 3.
The proxy-guided optimizers (naswot, re-zc) read the real NASLib scores of
../shared/data/nb201/zc_scores_725.json (skipped when it is absent), never live torch scoring.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from algorithms import OPTIMIZERS, get_optimizer
from algorithms.proxies import import_naslib_scores
from benchbench.rng import make_rng
from benchbench.spaces import NB201Space
from benchbench.trial import TrialValue

space = NB201Space()
values = make_rng(0, "values").random(space.size) * 100  # objective by official index
tv = [TrialValue(float(v), 1.0) for v in values]
N = 10_000
zc_file = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb201" / "zc_scores_725.json"
needs_scores = {"naswot", "re-zc"}
base: dict[str, dict] = {n: {} for n in OPTIMIZERS if n not in needs_scores}
if zc_file.is_file():
    zc_dir = import_naslib_scores(zc_file, "cifar10", Path(tempfile.mkdtemp()) / "zc")
    base.update({n: {"scores": str(zc_dir)} for n in needs_scores})
else:
    print(f"({zc_file} absent: naswot and re-zc not timed)")
print(f"{'optimizer':<22}{'us/ask+tell':>12}")
for name, params in list(base.items()) + [("rs", {"dedup": True}),
                                                      ("ls", {"first_improvement": True}),
                                                      ("reinforce", {"optimizer": "sgd"})]:
    best = np.inf
    for rep in range(3):
        opt = get_optimizer(name, **params)
        opt.setup(space, make_rng(rep, name))
        idx = space.index
        t0 = time.perf_counter()
        for _ in range(N):
            t = opt.ask()
            opt.tell(t, tv[idx(t.arch)])
        best = min(best, (time.perf_counter() - t0) / N * 1e6)
    label = name + ("" if not params or "scores" in params else f" {params}")
    print(f"{label:<40}{best:>8.2f}")
