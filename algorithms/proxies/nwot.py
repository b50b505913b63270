"""``nwot``: the NASWOT score of Mellor et al. (ICML 2021), ``log |det K|``.

``c`` = the binary code (``> 0``) of the input of every ``nn.ReLU`` for each image of the
batch; ``K = sum_relus c c^T + (1-c)(1-c)^T`` (``B x B``, the number of units on which two
images agree); score ``log |det K|`` (``-inf`` for a singular ``K``).  As the official
``score_networks.py`` / NASLib ``measures/nwot.py``.  Alias ``naswot``.
"""

from __future__ import annotations

import numpy as np

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["NWOT", "Nwot"]


class Nwot(ProxyDefinition):
    """NASWOT: log-determinant of the Hamming-agreement kernel of the ReLU codes."""

    name = "nwot"
    reference = ("Mellor, Turner, Storkey & Crowley, \"Neural Architecture Search without "
                 "Training\", ICML 2021 (PMLR 139, arXiv:2006.04647), "
                 "https://github.com/BayesWatch/nas-without-training score_networks.py")
    needs = frozenset({"relu_kernel"})
    data_independent = False

    def compute(self, ctx: ProxyContext) -> float:
        return float(np.linalg.slogdet(ctx.relu_kernel.numpy())[1])


NWOT = Nwot()
