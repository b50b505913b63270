"""``zen``: the Zen-score of Lin et al. (ICCV 2021), as ZenNAS computes it.

Follows ``ZeroShotProxy/compute_zen_score.py`` of https://github.com/idstcv/ZenNAS
(``compute_nas_score``) as its evolutionary search calls it (``evolution_search.py``:
a freshly built network, hence train mode, ``repeat=1``, ``mixup_gamma=1e-2``): a separate
network with ZenNAS's Gaussian initialisation (``network_weight_gaussian_init``: Conv2d /
Linear weights ``N(0, 1)``, biases 0, BN weight 1, bias 0), Gaussian inputs ``x`` and
``x' = x + 0.01 eps`` of the batch's shape, forwarded in that order without gradients in
train mode; ``f`` = the map entering the global average pooling (``forward_pre_GAP``);
score ``log(mean_batch sum |f(x) - f(x')|) + sum_BN log sqrt(mean_c running_var)`` over every
BatchNorm2d module, read after both passes: the passes update the running variance from its
fresh value 1 with the module's momentum (PyTorch's default 0.1, as ZenNAS's BN), so each BN
contributes ``log sqrt(mean_c (0.81 + 0.09 v(x) + 0.1 v(x')))``, ``v`` the unbiased batch
variance of its input - the reference's number, not the batch variance alone.  ``-inf`` when
the features do not change (``log 0``, as the reference); data-independent.

Settings, not deviations: one repeat per seed (average over seeds for more; the stand-alone
script's 32 repeats carry the BN running variance from repeat to repeat, which separate seeds
do not); NB201 cells are scored as they are, skip edges included (ZenNAS scores its own
MasterNet with ``no_reslink=True``, which has no NB201 counterpart).  Test:
``tests/test_proxies.py::test_zen_matches_the_zennas_reference_step``.
"""

from __future__ import annotations

import math

import numpy as np

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["ZEN", "Zen"]


class Zen(ProxyDefinition):
    """Zen-score: log of the pre-pooling feature change under a small input perturbation,
    plus the BN log running standard deviations (as ZenNAS)."""

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
