"""Figures (matplotlib, imported lazily: ``pip install benchbench[plot]``).

Every figure uses the Okabe-Ito colour-blind-safe palette together with distinct line styles
and markers, so it stays readable in grayscale.  Figures are built with the object-oriented
API (``matplotlib.figure.Figure``), never pyplot: no global state, no backend switching.
Each function writes ``<stem>.<fmt>`` for every format asked and returns the paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Band", "Panel", "PALETTE", "plot_anytime", "plot_cd", "plot_ecdf", "plot_final",
           "plot_ranks", "style"]

#: Okabe & Ito (2008), ordered so that neighbours differ strongly in lightness too.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442")
_LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2)),
               (0, (3, 1, 1, 1)))
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")


def _figure(**kw: Any) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("figures need matplotlib: pip install 'benchbench[plot]'") from e
    return Figure(**kw)


def style(i: int) -> dict[str, Any]:
    """Colour, line style, marker and hatch of the ``i``-th method (cycling)."""
    return {"color": PALETTE[i % len(PALETTE)], "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
            "marker": _MARKERS[i % len(_MARKERS)], "hatch": _HATCHES[i % len(_HATCHES)]}


def _save(fig: Any, stem: Path, formats: Sequence[str]) -> list[Path]:
    allowed = ("png", "pdf", "svg")
    out = []
    for f in formats:
        if f not in allowed:
            raise ValueError(f"figure format {f!r} not supported; allowed: {allowed}")
        p = stem.with_suffix(f".{f}")
        fig.savefig(p, dpi=150 if f == "png" else None,
                    metadata={"CreationDate": None} if f == "pdf" else None)
        out.append(p)
    return out


@dataclass(frozen=True)
class Band:
    """A mean curve with its confidence band, all ``(G,)``."""

    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


@dataclass(frozen=True)
class Panel:
    """One subplot of an anytime figure.

    ``bands``: method -> :class:`Band` on ``grid``; ``logy``: log scale on y (chosen by the
    caller when every plotted value is positive)."""

    title: str
    grid: np.ndarray
    bands: Mapping[str, Band]
    ylabel: str
    logy: bool = False


def plot_anytime(panels: Sequence[Panel], stem: Path, *, xlabel: str, xlog: bool = False,
                 formats: Sequence[str] = ("png", "pdf"), suptitle: str = "") -> list[Path]:
    """Mean anytime curves with shaded confidence bands, one subplot per panel."""
    fig = _figure(figsize=(4.2 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, p in zip(axes, panels):
        for i, (name, b) in enumerate(p.bands.items()):
            st = style(i)
            lo, hi = b.lo, b.hi
            if p.logy:
                floor = np.nanmin(b.mean[b.mean > 0]) / 10 if np.any(b.mean > 0) else 1e-6
                lo = np.maximum(lo, floor)
            ax.fill_between(p.grid, lo, hi, color=st["color"], alpha=0.18, linewidth=0,
                            hatch=None)
            ax.plot(p.grid, b.mean, color=st["color"], linestyle=st["linestyle"],
                    marker=st["marker"], markevery=max(1, len(p.grid) // 8), markersize=4,
                    linewidth=1.6, label=name)
        if p.logy:
            ax.set_yscale("log")
        if xlog and any(np.any(np.isfinite(b.mean)) for b in p.bands.values()):
            ax.set_xscale("log")  # (an empty panel, e.g. no test metric, keeps a linear axis)
        ax.set_title(p.title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(p.ylabel)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize=8, frameon=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return _save(fig, stem, formats)


def plot_final(samples: Sequence[tuple[str, Mapping[str, np.ndarray]]], stem: Path, *,
               rng: np.random.Generator, formats: Sequence[str] = ("png", "pdf"),
               suptitle: str = "") -> list[Path]:
    """Box plots of final values with every run drawn as a jittered point (strip).

    ``samples``: (panel title / y label, method -> values) per subplot.  ``rng`` jitters the
    points horizontally (seeded, so the figure is reproducible)."""
    fig = _figure(figsize=(1.2 + 1.1 * max(len(s) for _, s in samples) * len(samples), 3.6),
                  layout="constrained")
    axes = fig.subplots(1, len(samples), squeeze=False)[0]
    for ax, (title, data) in zip(axes, samples):
        names = list(data)
        vals = [np.asarray(data[n], float)[~np.isnan(np.asarray(data[n], float))] for n in names]
        bp = ax.boxplot(vals, widths=0.55, patch_artist=True, showfliers=False,
                        medianprops={"color": "black", "linewidth": 1.5})
        for i, box in enumerate(bp["boxes"]):
            st = style(i)
            box.set_facecolor("white")
            box.set_edgecolor(st["color"])
            box.set_hatch(st["hatch"])
            box.set_linewidth(1.4)
        for i, v in enumerate(vals):
            st = style(i)
            x = i + 1 + rng.uniform(-0.2, 0.2, v.size)
            ax.scatter(x, v, s=6, color=st["color"], marker=st["marker"], alpha=0.45,
                       linewidths=0, zorder=3)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(title)
        ax.grid(True, axis="y", alpha=0.3)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return _save(fig, stem, formats)


def plot_ecdf(samples: Sequence[tuple[str, Mapping[str, np.ndarray]]], stem: Path, *,
              formats: Sequence[str] = ("png", "pdf"), suptitle: str = "") -> list[Path]:
    """Empirical CDF of final values over runs, one subplot per (x label, method -> values)."""
    fig = _figure(figsize=(4.2 * len(samples), 3.4), layout="constrained")
    axes = fig.subplots(1, len(samples), squeeze=False)[0]
    for ax, (title, data) in zip(axes, samples):
        for i, (name, v) in enumerate(data.items()):
            v = np.sort(np.asarray(v, float)[~np.isnan(np.asarray(v, float))])
            if v.size == 0:
                continue
            st = style(i)
            y = np.arange(1, v.size + 1) / v.size
            ax.step(np.r_[v[0], v], np.r_[0.0, y], where="post", color=st["color"],
                    linestyle=st["linestyle"], linewidth=1.6, label=name)
        ax.set_xlabel(title)
        ax.set_ylabel("fraction of runs ≤ x")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8, frameon=False, loc="upper left")
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return _save(fig, stem, formats)


def plot_ranks(panels: Sequence[tuple[str, np.ndarray, Mapping[str, np.ndarray], bool]],
               stem: Path, *, formats: Sequence[str] = ("png", "pdf"),
               suptitle: str = "") -> list[Path]:
    """Average rank (1 = best) over time; panels of (x label, grid, method -> ranks, log x)."""
    fig = _figure(figsize=(4.2 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (xlabel, grid, ranks, xlog) in zip(axes, panels):
        k = len(ranks)
        for i, (name, r) in enumerate(ranks.items()):
            st = style(i)
            ax.plot(grid, r, color=st["color"], linestyle=st["linestyle"], marker=st["marker"],
                    markevery=max(1, len(grid) // 8), markersize=4, linewidth=1.6, label=name)
        ax.set_ylim(k + 0.2, 0.8)
        ax.set_yticks(range(1, k + 1))
        if xlog:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("average rank (1 = best)")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8, frameon=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return _save(fig, stem, formats)


def cliques(avg_ranks: Mapping[str, float], cd: float) -> list[tuple[int, int]]:
    """Maximal runs ``(i, j)`` (positions in rank order, inclusive) of methods whose average
    ranks differ by less than ``cd`` (not significantly different), of length >= 2."""
    r = np.sort(np.asarray(list(avg_ranks.values()), float))
    out: list[tuple[int, int]] = []
    for i in range(r.size):
        j = int(np.searchsorted(r, r[i] + cd, side="left")) - 1
        if j > i and not any(a <= i and j <= b for a, b in out):
            out.append((i, j))
    return out


def plot_cd(avg_ranks: Mapping[str, float], cd: float, stem: Path, *,
            formats: Sequence[str] = ("png", "pdf"), title: str = "") -> list[Path]:
    """Critical-difference diagram (Demšar, 2006): methods on an average-rank axis (1 = best,
    at the left); thick bars join methods whose ranks differ by less than the Nemenyi ``cd``."""
    names = sorted(avg_ranks, key=lambda n: avg_ranks[n])
    ranks = [avg_ranks[n] for n in names]
    k = len(names)
    half = (k + 1) // 2
    rows = max(half, k - half)
    groups = cliques(avg_ranks, cd)
    top = -0.3 - 0.18 * len(groups)  # first label row, below the clique bars
    bottom = top - 0.5 * (rows - 1) - 0.4
    fig = _figure(figsize=(6.4, 0.9 + 0.75 * (1.7 - bottom)), layout="constrained")
    ax = fig.subplots()
    lo, hi = 1, max(k, 2)
    ax.set_xlim(lo - 0.1 - 0.45 * hi, hi + 0.1 + 0.45 * hi)
    ax.set_ylim(bottom, 1.6)
    ax.axis("off")
    ax.hlines(0, lo, hi, color="black", linewidth=1)
    for t in range(lo, hi + 1):
        ax.vlines(t, 0, 0.12, color="black", linewidth=1)
        ax.text(t, 0.2, str(t), ha="center", va="bottom", fontsize=9)
    ax.hlines(1.05, lo, lo + cd, color="black", linewidth=2)
    ax.vlines([lo, lo + cd], 0.97, 1.13, color="black", linewidth=1)
    ax.text(lo + cd / 2, 1.2, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9)
    for i, (n, r) in enumerate(zip(names, ranks)):
        st = style(list(avg_ranks).index(n))
        left = i < half
        y = top - 0.5 * (i if left else k - 1 - i)
        x_end = lo - 0.3 if left else hi + 0.3
        ax.plot([r, r, x_end], [0, y, y], color=st["color"], linewidth=1.2)
        ax.plot(r, 0, marker=st["marker"], color=st["color"], markersize=5)
        ax.text(x_end - 0.05 if left else x_end + 0.05, y,
                f"{n} ({r:.2f})" if left else f"({r:.2f}) {n}",
                ha="right" if left else "left", va="center", fontsize=9)
    for g, (i, j) in enumerate(groups):
        y = -0.15 - 0.18 * g
        ax.hlines(y, ranks[i] - 0.04, ranks[j] + 0.04, color="black", linewidth=3.5, zorder=4)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, stem, formats)
