"""One-shot (weight-sharing) runs in the report: the final cells, the collapse, the figures.

A one-shot run (DARTS, GDAS, RSPS: :mod:`algorithms._oneshot`) records one evaluation per
search epoch and its diagnostics (``runs/<label>/seed-N/diagnostics.jsonl``, read through
:meth:`benchbench.store.StudyStore.read_diagnostics`, checked against the manifest's
``diagnostics_sha256``).  This module finds such runs in a study and writes:

* a table per study: per one-shot algorithm, the search epochs, the measured search seconds,
  the *last* cell's table values (``manifest.result["final_cell"]``: what the NB201 paper
  reports for weight-sharing methods) beside the runner's incumbent (the best by validation
  among the epochs' cells), the final cell's parameter-free edges, and the collapse verdict;
* figures: the architecture weights (softmax per edge) over the epochs of the first seed,
  and the diagnostics over epochs (mean over seeds): entropy, parameter-free edges of the
  discretised cell, dominant Hessian eigenvalue, supernet accuracies;
* a sentence per algorithm that names a collapse when there is one.

Collapse, as named here (documented thresholds, not tuned):

* **parameter-free collapse**: the final cell has at least :data:`COLLAPSE_PARAM_FREE` of its
  6 edges parameter-free (``none``, ``skip_connect``, ``avg_pool_3x3``; a uniformly random
  cell has 3.6 on average).  DARTS on NB201 ends in the all-skip cell (NB201 paper, Table 5:
  DARTS-V1 / V2 54.30 % CIFAR-10 test accuracy);
* **curvature growth**: the dominant eigenvalue of the validation loss' Hessian w.r.t. the
  architecture logits, averaged over the last :data:`EIGEN_WINDOW` epochs, is at least
  :data:`EIGEN_GROWTH` times its average over the first ones (DARTS-ES, Zela et al. ICLR
  2020, stops the search when the eigenvalue averaged over a window 5 epochs earlier is below
  0.75 of the current one, i.e. a 1.33x growth); runs shorter than two windows get no
  verdict on this criterion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from results._stats import bootstrap_mean_ci
from results._tables import Table, fmt, fmt_pm

__all__ = ["COLLAPSE_PARAM_FREE", "EIGEN_GROWTH", "EIGEN_WINDOW", "OneShotRun", "collapse_text",
           "load_oneshot_runs", "oneshot_table", "plot_oneshot"]

#: Parameter-free edges (of 6) from which a final cell counts as collapsed.
COLLAPSE_PARAM_FREE = 5
#: Growth of the dominant Hessian eigenvalue (mean of the last window / first window) that
#: counts as a collapse signal (DARTS-ES' 1 / 0.75).
EIGEN_GROWTH = 1.0 / 0.75
#: Epochs averaged at each end (DARTS-ES' k = 5).
EIGEN_WINDOW = 5
_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
_EDGES = ("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2")


@dataclass(frozen=True)
class OneShotRun:
    """One one-shot run: its seed, diagnostics rows (one per recorded epoch) and manifest
    ``result``."""

    seed: int
    diagnostics: list[dict[str, Any]]
    result: Mapping[str, Any]

    def series(self, key: str) -> np.ndarray:
        """``key`` over the recorded epochs (NaN where missing / null)."""
        return np.array([math.nan if r.get(key) is None else float(r[key])
                         for r in self.diagnostics], dtype=float)

    @property
    def epochs(self) -> int:
        """Search epochs done (the last step's ``epoch``; a step may follow several)."""
        return int(self.diagnostics[-1].get("epoch", len(self.diagnostics)))

    @property
    def final_param_free(self) -> float:
        return float(self.diagnostics[-1].get("param_free_ops", math.nan))

    @property
    def eigen_growth(self) -> float:
        """Mean dominant eigenvalue over the last :data:`EIGEN_WINDOW` epochs / over the
        first ones (NaN for runs shorter than two windows or without eigenvalues)."""
        e = self.series("hessian_eig")
        k = EIGEN_WINDOW
        if len(e) < 2 * k or not np.all(np.isfinite(e[:k])) or not np.all(np.isfinite(e[-k:])):
            return math.nan
        first = float(np.mean(e[:k]))
        return float(np.mean(e[-k:]) / first) if first > 0 else math.nan


def load_oneshot_runs(study: Any) -> dict[str, list[OneShotRun]]:
    """algorithm -> its runs that wrote diagnostics (only one-shot algorithms appear).  A
    diagnostics file that does not match its manifest's sha256 raises
    :class:`~benchbench.store.StoreError` (the report must not show altered data)."""
    import json

    from benchbench.store import StudyStore

    store = StudyStore(study.path)
    out: dict[str, list[OneShotRun]] = {}
    for alg, runs in study.runs.items():
        got = []
        for seed in runs.seeds:
            man_path = store.run_path(alg, int(seed)) / "manifest.json"
            man = json.loads(man_path.read_text())
            sha = man.get("diagnostics_sha256") or ""
            rows = store.read_diagnostics(alg, int(seed), expect_sha256=sha or None)
            if rows:
                got.append(OneShotRun(int(seed), rows, man.get("result") or {}))
        if got:
            out[alg] = got
    return out


def _collapsed(r: OneShotRun) -> tuple[bool, bool]:
    pf = r.final_param_free >= COLLAPSE_PARAM_FREE
    g = r.eigen_growth
    return pf, (not math.isnan(g) and g >= EIGEN_GROWTH)


def collapse_text(alg: str, runs: Sequence[OneShotRun]) -> str:
    """One sentence on ``alg``'s runs: whether (and in how many runs) the search collapsed,
    by the module's two criteria, with the numbers."""
    n = len(runs)
    pf = np.array([r.final_param_free for r in runs])
    skip = np.array([float((r.diagnostics[-1].get("op_counts") or {}).get("skip_connect",
                                                                         math.nan))
                     for r in runs])
    flags = [_collapsed(r) for r in runs]
    n_pf = sum(a for a, _ in flags)
    n_eig = sum(b for _, b in flags)
    growth = np.array([r.eigen_growth for r in runs])
    has_eig = bool(np.any(np.isfinite(growth)))
    epochs = int(np.median([r.epochs for r in runs]))
    parts = []
    if n_pf:
        parts.append(f"**parameter-free collapse in {n_pf} of {n} runs**: the final cell has "
                     f"{np.mean(pf):.1f} of 6 parameter-free edges on average "
                     f"(skip_connect {np.nanmean(skip):.1f}; a random cell has 3.6; "
                     f"collapse = at least {COLLAPSE_PARAM_FREE})")
    else:
        parts.append(f"no parameter-free collapse (final cells: {np.mean(pf):.1f} of 6 "
                     f"parameter-free edges on average, skip_connect {np.nanmean(skip):.1f}; "
                     f"collapse = at least {COLLAPSE_PARAM_FREE})")
    if has_eig:
        med = float(np.nanmedian(growth))
        if n_eig:
            parts.append(f"**the dominant Hessian eigenvalue grew at least {EIGEN_GROWTH:.2f}x "
                         f"(DARTS-ES' signal) in {n_eig} of {n} runs** (median growth "
                         f"{med:.2f}x, last {EIGEN_WINDOW} epochs over first {EIGEN_WINDOW})")
        else:
            parts.append(f"the dominant Hessian eigenvalue did not grow "
                         f"{EIGEN_GROWTH:.2f}x in any run (median growth {med:.2f}x)")
    verdict = "COLLAPSE" if (n_pf or n_eig) else "no collapse"
    return f"{alg} ({n} runs, {epochs} epochs): {verdict}; " + "; ".join(parts) + "."


def oneshot_table(study: Any, runs: Mapping[str, Sequence[OneShotRun]], *,
                  seed: int = 0, n_boot: int = 2000) -> Table:
    """The one-shot table of ``study`` (see the module docstring)."""
    import pandas as pd

    from benchbench.rng import make_rng

    cols = ["algorithm", "runs", "epochs", "search s (measured)", "final cell valid",
            "final cell test", "incumbent test", "param-free edges", "eig. growth",
            "collapsed runs"]
    rows, data = [], []
    sources: set[str] = set()
    for alg, rs in runs.items():
        fc = [r.result.get("final_cell") or {} for r in rs]
        src = "heldout" if any(f.get("test_heldout") is not None and
                               math.isfinite(float(f["test_heldout"])) for f in fc) else ""
        key_v, key_t = ("valid_heldout", "test_heldout") if src else ("valid", "test")
        sources.add("held-out seeds" if src else "seed mean")
        fv = np.array([float(f.get(key_v, math.nan) if f.get(key_v) is not None else math.nan)
                       for f in fc])
        ft = np.array([float(f.get(key_t, math.nan) if f.get(key_t) is not None else math.nan)
                       for f in fc])
        a = study.runs[alg]
        inc = np.asarray(a.final_test_heldout if src else a.final_test, dtype=float)
        secs = np.array([r.series("search_s_total")[-1] for r in rs])
        pf = np.array([r.final_param_free for r in rs])
        growth = np.array([r.eigen_growth for r in rs])
        ncol = sum(any(_collapsed(r)) for r in rs)
        rng = make_rng(seed, "oneshot-table", study.label, alg)
        lo_a, hi_a = bootstrap_mean_ci(ft[:, None], rng, n_boot=n_boot)
        lo, hi = float(lo_a[0]), float(hi_a[0])
        ci = (hi - lo) / 2 if np.isfinite(lo) and np.isfinite(hi) else math.nan
        rows.append([alg, str(len(rs)), str(int(np.median([r.epochs for r in rs]))),
                     fmt(float(np.nanmean(secs)), 1), fmt(float(np.nanmean(fv))),
                     fmt_pm(float(np.nanmean(ft)), float(ci)),
                     fmt(float(np.nanmean(inc))), fmt(float(np.mean(pf)), 1),
                     fmt(float(np.nanmedian(growth))) if np.any(np.isfinite(growth)) else "–",
                     f"{ncol} of {len(rs)}"])
        data.append({"algorithm": alg, "runs": len(rs), "search_s": float(np.nanmean(secs)),
                     "final_valid": float(np.nanmean(fv)), "final_test": float(np.nanmean(ft)),
                     "final_test_ci_lo": lo, "final_test_ci_hi": hi,
                     "incumbent_test": float(np.nanmean(inc)),
                     "param_free_edges": float(np.mean(pf)),
                     "eigen_growth_median": float(np.nanmedian(growth))
                     if np.any(np.isfinite(growth)) else math.nan,
                     "collapsed_runs": ncol})
    note = ("Final cell: the search's last discretised cell (what NB201 reports), values "
            f"({' / '.join(sorted(sources))}) from the table at the report fidelity; "
            "test column: mean ± half-width of the 95% bootstrap CI over runs. Incumbent "
            "test: the runner's incumbent (best table validation among the epochs' cells, "
            "which the search itself never sees). Search seconds are measured wall seconds "
            "of the supernet search on this machine (not simulated). Eig. growth: median "
            f"over runs of the dominant Hessian eigenvalue's mean over the last {EIGEN_WINDOW} "
            f"epochs / over the first {EIGEN_WINDOW} (– : shorter runs or no eigenvalue). "
            f"Collapsed: >= {COLLAPSE_PARAM_FREE} of 6 parameter-free edges in the final "
            f"cell or eigenvalue growth >= {EIGEN_GROWTH:.2f}x.")
    return Table(f"One-shot searches on {study.label}", cols, rows,
                 data=pd.DataFrame(data), note=note)


def plot_oneshot(alg: str, runs: Sequence[OneShotRun], stem: Path, *,
                 formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Architecture weights over epochs (first seed; one panel per edge, one line per op)
    and the diagnostics over epochs (mean over seeds) of one algorithm."""
    from results._plots import _figure, _save, style

    first = runs[0]
    has_alpha = first.diagnostics[0].get("alpha_softmax") is not None
    fig = _figure(figsize=(13, 6.2 if has_alpha else 3.4), layout="constrained")
    nrows = 2 if has_alpha else 1
    axes = fig.subplots(nrows, 6, squeeze=False)
    ep = np.arange(1, len(first.diagnostics) + 1)
    if has_alpha:
        alpha = np.array([r["alpha_softmax"] for r in first.diagnostics], dtype=float)
        for e in range(6):
            ax = axes[0][e]
            for k, op in enumerate(_OPS):
                st = style(k)
                ax.plot(ep, alpha[:, e, k], color=st["color"], linestyle=st["linestyle"],
                        label=op, linewidth=1.4)
            ax.set_title(f"edge {_EDGES[e]}", fontsize=9)
            ax.set_xlabel("epoch", fontsize=8)
            ax.grid(True, alpha=0.3)
        axes[0][0].set_ylabel(f"softmax(alpha), seed {first.seed}")
        axes[0][5].legend(fontsize=7, loc="best")
    diag = axes[-1]
    width = max(len(r.diagnostics) for r in runs)

    def mean_of(key: str) -> np.ndarray:
        m = np.full((len(runs), width), np.nan)
        for i, r in enumerate(runs):
            s = r.series(key)
            m[i, :len(s)] = s
        with np.errstate(all="ignore"):
            return np.asarray(np.nanmean(m, axis=0)) if np.any(np.isfinite(m)) else m[0]

    xs = np.arange(1, width + 1)
    panels = [("entropy_mean", "mean edge entropy (nats)"),
              ("param_free_ops", "parameter-free edges (of 6)"),
              ("hessian_eig", "dominant Hessian eigenvalue"),
              ("supernet_train_acc", "supernet train acc (%)"),
              ("supernet_valid_acc", "supernet valid acc (%)"),
              ("search_s_total", "search seconds (measured)")]
    for ax, (key, label) in zip(diag, panels):
        ax.plot(xs, mean_of(key), color=style(0)["color"], marker="o", markersize=2.5)
        if key == "param_free_ops":
            ax.axhline(COLLAPSE_PARAM_FREE, color="grey", linestyle=":", linewidth=1)
            ax.set_ylim(-0.2, 6.2)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{alg}: architecture weights (seed {first.seed}) and diagnostics "
                 f"(mean over {len(runs)} runs)", fontsize=11)
    return _save(fig, stem, formats)
