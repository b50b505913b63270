"""``zen``: the Zen-score of Lin et al. (ICCV 2021).

A separate network with Zen-NAS's Gaussian initialisation, Gaussian inputs ``x`` and
``x' = x + 0.01 eps`` of the batch's shape; ``f`` = the map entering the global average
pooling; ``log(mean_batch sum |f(x) - f(x')|) + sum_BN log sqrt(mean_c var_c)`` with the
batch variance of every BN's input.  One repeat (the paper averages 32: average over seeds
for that).  Data-independent.  The definition is kept as it is here; whether it should follow
the official script more closely is an open question of the project.
"""

from __future__ import annotations

import math

import numpy as np

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["ZEN", "Zen"]


class Zen(ProxyDefinition):
    """Zen-score: log of the pre-pooling feature change under a small input perturbation,
    plus the BN log standard deviations."""

    name = "zen"
    reference = ("Lin, Wang, Sun, Chen, Sun, Qian, Li & Jin, \"Zen-NAS: A Zero-Shot NAS for "
                 "High-Performance Image Recognition\", ICCV 2021 (arXiv:2102.01063), "
                 "https://github.com/idstcv/ZenNAS ZeroShotProxy/compute_zen_score.py")
    needs = frozenset({"perturbed_features"})
    data_independent = True

    def compute(self, ctx: ProxyContext) -> float:
        f1, f2 = ctx.features
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = float((f1 - f2).abs().sum((1, 2, 3)).mean())
            log_bn = float(sum(0.5 * math.log(float(v)) if float(v) > 0 else
                               (-math.inf if float(v) == 0 else math.nan)
                               for v in ctx.bn_variances))
            return ((math.log(diff) if diff > 0 else (-math.inf if diff == 0 else math.nan))
                    + log_bn)


ZEN = Zen()
