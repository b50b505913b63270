"""``flops``: multiply-accumulates of one forward pass of one image, in millions.

NAS-Bench-201's counting (:func:`benchbench.nn.count_flops`, checked against the official
NATS-Bench files): convolutions and the classifier only.  NASLib's ``flops`` proxy
(``model_stats.py``) also counts BN and ReLU elements, so its values are slightly larger but
in the same order.  Data-independent (only the input shape is used).
"""

from __future__ import annotations

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["FLOPS", "Flops"]


class Flops(ProxyDefinition):
    """Multiply-accumulates of one image, in millions (NAS-Bench-201's ``flop``)."""

    name = "flops"
    reference = ("Dong & Yang, \"NAS-Bench-201: Extending the Scope of Reproducible Neural "
                 "Architecture Search\", ICLR 2020 (arXiv:2001.00326), "
                 "https://github.com/D-X-Y/NAS-Bench-201 (its flop column); as a proxy: "
                 "Krishnakumar et al., \"NAS-Bench-Suite-Zero\", NeurIPS 2022 Datasets and "
                 "Benchmarks, https://github.com/automl/NASLib "
                 "naslib/predictors/utils/pruners/measures/model_stats.py")
    needs = frozenset({"network"})
    data_independent = True

    def compute(self, ctx: ProxyContext) -> float:
        from benchbench.nn import count_flops

        c, h, w = ctx.input_shape
        return count_flops(ctx.net, (c, h, w))


FLOPS = Flops()
