"""Zero-cost proxies: training-free scores of freshly initialised networks.

``import algorithms.proxies`` does not import torch; computing a score does (the ``torch``
extra).  One module per proxy (``algorithms.proxies.synflow``, ``.snip``, ...) holds its
:class:`ProxyDefinition`: name, one-line description, reference (paper and official code),
the engine passes it needs, whether it is data-independent, and its computation.  The shared
pass engine (:mod:`algorithms.proxies._engine`) runs each pass once per (network, batch).

* :func:`compute_proxies` - several proxies of one architecture, sharing passes;
* :class:`Proxy` - one proxy as ``score(arch, rng) -> (value, seconds)``;
* :func:`score_cells` - a cached, resumable, parallel sweep over many cells
  (``benchbench proxies score``); :func:`load_scores` reads one back;
* :func:`load_naslib_scores` - another implementation's scores (NASLib files) to cross-check;
  :func:`import_naslib_scores` / :func:`write_scores_dir` write such scores as a score
  directory (for ``NASWOT(scores=...)`` and the other proxy-guided optimizers).

Every built-in proxy (:data:`PROXIES`, each following its reference) and every named variant
(:data:`VARIANTS`, each deviating from its reference on purpose, computed only when asked for
by name) is registered in :data:`benchbench.registry.PROXIES`; a proxy of your
own is a :class:`ProxyDefinition` used by import path (``Proxy("mypkg.zc:MY_PROXY")``) or
registered under the entry-point group ``benchbench.proxies``.
"""

from __future__ import annotations

from algorithms.proxies._engine import (
    DATA_PASSES,
    IMPLEMENTATION,
    IMPLEMENTATION_CHANGES,
    PASSES,
    PROXIES,
    VARIANTS,
    PassInfo,
    ProxyContext,
    ProxyContractError,
    ProxyDefinition,
    ProxyScore,
    canonical_proxy,
    check_definition,
    compute_proxies,
    get_proxy,
    pass_closure,
)
from algorithms.proxies._external import (
    import_naslib_scores,
    load_naslib_scores,
    naslib_nb201_cell,
    write_scores_dir,
)
from algorithms.proxies._score import (
    SCORE_FIELDS,
    Proxy,
    ScoreConfig,
    load_scores,
    num_classes_for,
    read_cells,
    sample_cells,
    score_cells,
)

#: Built-in proxies that do not look at the data batch (only at its shape), read from their
#: definitions.
DATA_INDEPENDENT: frozenset[str] = frozenset(p for p in PROXIES
                                             if get_proxy(p).data_independent)

__all__ = [
    "DATA_INDEPENDENT",
    "DATA_PASSES",
    "IMPLEMENTATION",
    "IMPLEMENTATION_CHANGES",
    "PASSES",
    "PROXIES",
    "SCORE_FIELDS",
    "VARIANTS",
    "PassInfo",
    "Proxy",
    "ProxyContext",
    "ProxyContractError",
    "ProxyDefinition",
    "ProxyScore",
    "ScoreConfig",
    "canonical_proxy",
    "check_definition",
    "compute_proxies",
    "get_proxy",
    "import_naslib_scores",
    "load_naslib_scores",
    "load_scores",
    "naslib_nb201_cell",
    "num_classes_for",
    "pass_closure",
    "read_cells",
    "sample_cells",
    "score_cells",
    "write_scores_dir",
]
