"""``jacob_cov``: the Jacobian-covariance score of Mellor et al. (2020, v1 of "Neural
Architecture Search without Training").

``J = d sum(logits) / dx`` per image, ``C = corrcoef(J)`` (``B x B``) with eigenvalues ``v``:
``-sum(log(v + 1e-5) + 1 / (v + 1e-5))``.  NaN when a row of ``J`` is constant (e.g. a cell
whose output ignores its input).  As Abdelfattah et al. 2021
(``foresight/pruners/measures/jacob_cov.py``; NASLib ``measures/jacov.py``).
"""

from __future__ import annotations

import math

import numpy as np

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["JACOB_COV", "JacobCov"]


class JacobCov(ProxyDefinition):
    """Jacobian covariance, ``-sum(log(v + k) + 1/(v + k))`` over the eigenvalues of
    ``corrcoef(dy/dx)``."""

    name = "jacob_cov"
    reference = ("Mellor, Turner, Storkey & Crowley, \"Neural Architecture Search without "
                 "Training\", arXiv:2006.04647 v1 (2020), https://github.com/BayesWatch/"
                 "nas-without-training; as a proxy: Abdelfattah et al., ICLR 2021, "
                 "https://github.com/SamsungLabs/zero-cost-nas "
                 "foresight/pruners/measures/jacob_cov.py")
    needs = frozenset({"input_grad"})
    data_independent = False

    def compute(self, ctx: ProxyContext) -> float:
        gx = ctx.input_grad
        j = gx.detach().reshape(gx.shape[0], -1).double().numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = np.corrcoef(j)
        if not np.all(np.isfinite(corr)):
            return math.nan
        v = np.linalg.eigvalsh(corr)
        k = 1e-5
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


JACOB_COV = JacobCov()
