"""``fisher_channel``: a named variant of ``fisher`` that counts each output channel's Fisher
saliency once, ``sum_layers sum_k F_k``, ``F_k = 0.5 * mean_batch (sum_space a_k *
dL/da_k)^2``.

Deviation from the reference (Abdelfattah et al. 2021, ``foresight/pruners/measures/
fisher.py``; NASLib ``measures/fisher.py``), which broadcasts ``F_k`` over the ``fan_in``
weights of channel ``k`` before summing (a step its own comment calls a compatibility shim
for per-parameter pruning code) and so weights every channel by its layer's fan-in: here
each channel, the unit Fisher pruning (Theis et al. 2018; Turner et al. 2020) scores, counts
once.  It ranks NB201 cells differently from the reference and from NASLib's scores, and
no published correlation belongs beside it.  This was ``fisher`` in implementation 1.
"""

from __future__ import annotations

from algorithms.proxies._engine import ProxyContext, ProxyDefinition
from algorithms.proxies.fisher import REFERENCE, channel_fisher

__all__ = ["FISHER_CHANNEL", "FisherChannel"]


class FisherChannel(ProxyDefinition):
    """Variant of fisher: each channel's saliency counted once, not once per weight (the
    reference); no published number applies."""

    name = "fisher_channel"
    reference = ("deviates on purpose from: " + REFERENCE)
    needs = frozenset({"act_grads"})
    data_independent = False

    def compute(self, ctx: ProxyContext) -> float:
        return float(sum(float(f.sum()) for _, f in channel_fisher(ctx)))


FISHER_CHANNEL = FisherChannel()
