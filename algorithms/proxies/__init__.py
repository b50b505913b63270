"""Zero-cost proxies: training-free scores of freshly initialised networks.

``import algorithms.proxies`` does not import torch; computing a score does (the ``torch``
extra).  See :mod:`algorithms.proxies._compute` for the exact definitions.

* :func:`compute_proxies` - several proxies of one architecture, sharing passes;
* :class:`Proxy` - one proxy as ``score(arch, rng) -> (value, seconds)``;
* :func:`score_cells` - a cached, resumable, parallel sweep over many cells
  (``benchbench proxies score``); :func:`load_scores` reads one back;
* :func:`load_naslib_scores` - another implementation's scores (NASLib files) to cross-check;
  :func:`import_naslib_scores` / :func:`write_scores_dir` write such scores as a score
  directory (for ``NASWOT(scores=...)`` and the other proxy-guided optimizers).
"""

from __future__ import annotations

from algorithms.proxies._compute import (
    DATA_INDEPENDENT,
    IMPLEMENTATION,
    PROXIES,
    ProxyScore,
    canonical_proxy,
    compute_proxies,
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

__all__ = [
    "DATA_INDEPENDENT",
    "IMPLEMENTATION",
    "PROXIES",
    "SCORE_FIELDS",
    "Proxy",
    "ProxyScore",
    "ScoreConfig",
    "canonical_proxy",
    "compute_proxies",
    "import_naslib_scores",
    "load_naslib_scores",
    "load_scores",
    "naslib_nb201_cell",
    "num_classes_for",
    "read_cells",
    "sample_cells",
    "score_cells",
    "write_scores_dir",
]
