"""Per ask+tell overhead of the black-box optimizers on NB201 (microseconds).

    python benchmarks/bench_algorithms.py

Synthetic objective values (seeded uniform) so only the optimizers are timed; best of 3.
"""
from __future__ import annotations

import time

import numpy as np

from algorithms import OPTIMIZERS, get_optimizer
from benchbench.rng import make_rng
from benchbench.spaces import NB201Space
from benchbench.trial import TrialValue

space = NB201Space()
values = make_rng(0, "values").random(space.size) * 100  # objective by official index
tv = [TrialValue(float(v), 1.0) for v in values]
N = 10_000
print(f"{'optimizer':<22}{'us/ask+tell':>12}")
for name, params in [(n, {}) for n in OPTIMIZERS] + [("rs", {"dedup": True}),
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
    label = name + ("" if not params else f" {params}")
    print(f"{label:<40}{best:>8.2f}")
