"""``params``: the number of parameters of the network, in millions.

Counted as NAS-Bench-201's ``params`` column (every parameter tensor, BN affine included);
the baseline of every zero-cost study (Abdelfattah et al. 2021; NAS-Bench-Suite-Zero,
Krishnakumar et al. 2022, NASLib ``naslib/predictors/utils/pruners/measures/model_stats.py``).
Data-independent.
"""

from __future__ import annotations

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["PARAMS", "Params"]


class Params(ProxyDefinition):
    """Number of parameters of the network, in millions (NAS-Bench-201's ``params``)."""

    name = "params"
    reference = ("Dong & Yang, \"NAS-Bench-201: Extending the Scope of Reproducible Neural "
                 "Architecture Search\", ICLR 2020 (arXiv:2001.00326), "
                 "https://github.com/D-X-Y/NAS-Bench-201 (its params column); as a proxy: "
                 "Krishnakumar et al., \"NAS-Bench-Suite-Zero\", NeurIPS 2022 Datasets and "
                 "Benchmarks, https://github.com/automl/NASLib "
                 "naslib/predictors/utils/pruners/measures/model_stats.py")
    needs = frozenset({"network"})
    data_independent = True

    def compute(self, ctx: ProxyContext) -> float:
        from benchbench.nn import count_params

        return count_params(ctx.net) / 1e6


PARAMS = Params()
