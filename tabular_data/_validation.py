"""Validate a table by retraining: :func:`validate_table` (``benchbench validate``).

Chosen cells are retrained with the table's own protocol (or a given one) and compared, per
cell, with the table's seed mean in units of the table's pooled seed-to-seed standard
deviation (:func:`pooled_seed_std`), and over all cells by rank correlation; the result is a
:class:`ValidationReport` of :class:`CellCheck` rows.  With a seed the table recorded, a CPU
retraining must reproduce that seed's curve exactly (compared at float32 precision, as the
builder stores it).  Cells to validate can be read with :func:`tabular_data.read_cells` or
:func:`tabular_data.incumbents_from_runs`.

torch is imported only inside the functions that train (the ``torch`` extra).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchbench._procs import die_with_parent
from benchbench.protocols import TrainConfig, check_int, get_protocol
from tabular_data._builder import NETWORK_METRICS, class_ids, filled_from_classes

if TYPE_CHECKING:
    from tabular_data._benchmark import TabularBenchmark

__all__ = ["CellCheck", "ValidationReport", "pooled_seed_std", "validate_table"]

#: One TrainingBenchmark per process and validation (keyed by protocol, space, data, device).
_BENCHES: dict[str, Any] = {}


def pooled_seed_std(bench: TabularBenchmark, dataset: str, metric: str, epoch: int) -> float:
    """The table's pooled seed-to-seed standard deviation of ``metric`` at ``epoch``, in the
    metric's unit: ``sqrt(mean over cells with >= 2 seeds of the unbiased per-cell
    variance)``.  For a table filled from functional classes, each class counts once.

    Raises:
        ValueError: no cell has two or more seeds of ``metric`` at ``epoch``.
    """
    vals = np.column_stack([bench.values(dataset, metric, epoch=epoch, data_seed=s)
                            for s in bench.seeds(dataset)])
    if filled_from_classes(bench.provenance):
        vals = vals[np.unique(class_ids(bench.space.name))]
    ok = np.sum(~np.isnan(vals), axis=1) >= 2
    if not ok.any():
        raise ValueError(f"{bench.name!r} has no cell with two or more seeds of {metric!r} at "
                         f"epoch {epoch}: no seed-to-seed deviation to compare with")
    return float(np.sqrt(np.mean(np.nanvar(vals[ok], axis=1, ddof=1))))


def _retrain(protocol: Mapping[str, Any], space: str, dataset: str, data_dir: str | None,
             device: str, cell: int, seed: int, epoch: int) -> dict[str, np.ndarray]:
    """Train ``cell`` with ``seed`` up to ``epoch`` through a TrainingBenchmark."""
    from benchbench.nn._training_benchmark import TrainingBenchmark

    key = json.dumps([protocol, space, dataset, data_dir, device], sort_keys=True, default=str)
    tb = _BENCHES.get(key)
    if tb is None:
        tb = TrainingBenchmark(space, protocol=TrainConfig.from_dict(protocol),
                               datasets=[dataset], data_dir=data_dir, device=device,
                               max_live_runs=0)
        _BENCHES.clear()
        _BENCHES[key] = tb
    tr = tb.trajectory(cell, dataset=dataset, max_fidelity=epoch, data_seed=seed)
    return {**tr.values, "cost_s": tr.cost_s}


@dataclass(frozen=True)
class CellCheck:
    """One retrained cell against the table (``metric`` at ``epoch``).

    Attributes:
        index, arch_id: the cell asked for.  trained_index: the cell actually retrained
            (its functional class representative when the table was filled from classes).
        retrained: the retrained value; table_mean: the table's seed mean; table_seed: the
            table's value for the retraining seed (NaN if that seed is not in the table).
        z: ``(retrained - table_mean) / sigma``; within: ``|z| <= threshold``.
        exact: with a table seed, whether the retrained curve (every metric but time, epochs
            1..epoch, float32-rounded) equals the table's exactly; ``None`` otherwise.  The
            network's own ``params`` / ``flops`` are compared on the row of the cell that was
            retrained (a class member's row holds its own network's, not the retrained
            representative's).
        max_abs_diff: the largest absolute curve difference behind ``exact`` (NaN if None).
        train_s: measured training seconds of the retraining (up to ``epoch``).
    """

    index: int
    arch_id: str
    trained_index: int
    retrained: float
    table_mean: float
    table_seed: float
    z: float
    within: bool
    exact: bool | None
    max_abs_diff: float
    train_s: float


@dataclass(frozen=True)
class ValidationReport:
    """Result of :func:`validate_table` (``to_dict`` for JSON, ``text`` for people)."""

    benchmark: str
    dataset: str
    metric: str
    epoch: int
    seed: int
    seed_in_table: bool
    sigma: float
    threshold: float
    cells: tuple[CellCheck, ...]
    spearman: float
    kendall: float
    fraction_within: float
    n_exact: int
    n_compared_exact: int

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cells"] = [asdict(c) for c in self.cells]
        out: dict[str, Any] = json.loads(json.dumps(d, default=float).replace("NaN", "null"))
        return out

    def text(self) -> str:
        lines = [f"validation of {self.benchmark} on {self.dataset}: {self.metric} at epoch "
                 f"{self.epoch}, retrained with seed {self.seed} "
                 f"({'a table seed' if self.seed_in_table else 'a new seed'}); "
                 f"pooled seed-to-seed sigma = {self.sigma:.4g}",
                 f"{'index':>6} {'trained':>7} {'retrained':>10} {'table mean':>10} "
                 f"{'table seed':>10} {'z':>6}  within  exact"]
        for c in self.cells:
            ex = "-" if c.exact is None else ("yes" if c.exact else f"no ({c.max_abs_diff:.2g})")
            lines.append(f"{c.index:>6} {c.trained_index:>7} {c.retrained:>10.4g} "
                         f"{c.table_mean:>10.4g} {c.table_seed:>10.4g} {c.z:>6.2f}  "
                         f"{'yes' if c.within else 'NO':6s}  {ex}")
        lines.append(f"{len(self.cells)} cells: {100 * self.fraction_within:.1f}% within "
                     f"{self.threshold:g} sigma; Spearman {self.spearman:.3f}, Kendall tau-b "
                     f"{self.kendall:.3f} (retrained vs table mean, signed)")
        if self.n_compared_exact:
            lines.append(f"exact reproduction of the table's seed-{self.seed} curve: "
                         f"{self.n_exact} of {self.n_compared_exact} cells")
        return "\n".join(lines)


def validate_table(bench: TabularBenchmark, cells: Sequence[Any], *, dataset: str | None = None,
                   epoch: int | None = None, seed: int | None = None,
                   metric: str = "valid_acc", protocol: Any = None,
                   data_dir: str | Path | None = None, device: str = "cpu", workers: int = 1,
                   threshold: float = 2.5, progress: Callable[[int], None] | None = None
                   ) -> ValidationReport:
    """Retrain ``cells`` and compare them with the table ``bench`` (a TabularBenchmark).

    Args:
        cells: cells (records, strings or official indices).
        dataset: the table's dataset (default: its only one).
        epoch: fidelity compared (default: the table's largest).
        seed: retraining seed (default: one more than the table's largest, a new seed).
        metric: the metric compared per cell (default ``valid_acc``).
        protocol: the training protocol (default: the one in the table's provenance; needed
            for tables not built by benchbench, e.g. ``"nb201"`` for the official NB201).
        data_dir: folder of a local dataset (CIFAR / ImageNet16).
        device: ``"cpu"`` or ``"cuda"`` (exact reproduction is only expected on CPU).
        workers: local processes (spawned).  threshold: a cell is ``within`` when
            ``|z| <= threshold``, in units of the pooled seed sigma.
        progress: called with 1 after each retrained cell.
    """
    from scipy import stats

    check_int("workers", workers, 1)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not threshold > 0:
        raise ValueError(f"threshold must be a number > 0 (in pooled seed sigmas), "
                         f"got {threshold!r}")

    if dataset is None:
        if len(bench.datasets) != 1:
            raise ValueError(f"{bench.name!r} has datasets {list(bench.datasets)}: name one")
        dataset = bench.datasets[0]
    bench.check_dataset(dataset)
    m = bench.metric(dataset, metric)
    if protocol is None:
        p = bench.provenance.get("protocol")
        if not isinstance(p, Mapping):
            raise ValueError(f"{bench.name!r} was not built by benchbench (no protocol in its "
                             f"provenance): give the training protocol, e.g. 'nb201'")
        cfg = TrainConfig.from_dict(p)
    else:
        cfg = protocol if isinstance(protocol, TrainConfig) else get_protocol(protocol)
    epoch = bench.check_fidelity(dataset, epoch)
    if epoch > cfg.epochs:
        raise ValueError(f"epoch {epoch} is beyond the protocol's {cfg.epochs} epochs")
    table_seeds = bench.seeds(dataset)
    if seed is None:
        seed = max(table_seeds, default=-1) + 1
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    sp = bench.space
    idx = [sp.index(sp.parse(c)) for c in cells]
    if not idx:
        raise ValueError("no cells to validate")
    cls = class_ids(sp.name) if filled_from_classes(bench.provenance) else np.arange(sp.size)
    trained = [int(cls[i]) for i in idx]
    todo = sorted(set(trained))
    sigma = pooled_seed_std(bench, dataset, m.name, epoch)
    args = (cfg.to_dict(), sp.name, dataset, None if data_dir is None else str(data_dir),
            device)
    curves: dict[int, dict[str, np.ndarray]] = {}
    if workers == 1 or len(todo) == 1:
        for c in todo:
            curves[c] = _retrain(*args, c, int(seed), epoch)
            if progress is not None:
                progress(1)
    else:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                    initializer=die_with_parent,
                                    initargs=(os.getpid(),)) as pool:
            futs = {pool.submit(_retrain, *args, c, int(seed), epoch): c for c in todo}
            for fut in cf.as_completed(futs):
                curves[futs[fut]] = fut.result()
                if progress is not None:
                    progress(1)
    in_table = int(seed) in table_seeds
    checks: list[CellCheck] = []
    for i, t in zip(idx, trained, strict=True):
        cur = curves[t]
        mean = bench.query(i, dataset=dataset, fidelity=epoch)[m.name]
        table_seed, exact, diff = math.nan, None, math.nan
        if in_table and int(seed) in bench.data_seeds(i, dataset):
            table_seed = bench.query(i, dataset=dataset, fidelity=epoch, data_seed=int(seed))[
                m.name]
            ref = bench.trajectory(i, dataset=dataset, max_fidelity=epoch, data_seed=int(seed))
            ref_t = (ref if t == i else
                     bench.trajectory(t, dataset=dataset, max_fidelity=epoch, data_seed=int(seed)))
            diffs = []
            for name, v in ref.values.items():
                if name in NETWORK_METRICS:  # the retrained network is row t's
                    v = ref_t.values[name]
                mine = np.asarray(cur[name], dtype=np.float32).astype(np.float64)
                theirs = np.asarray(v, dtype=np.float64)
                both_nan = np.isnan(mine) & np.isnan(theirs)
                d = np.where(both_nan, 0.0, np.abs(mine - theirs))
                diffs.append(float(np.max(d)) if d.size else 0.0)
            diff = max(diffs)
            exact = bool(diff == 0.0)
        value = float(cur[m.name][epoch - 1])
        z = (value - mean) / sigma if sigma > 0 else math.nan
        checks.append(CellCheck(
            index=int(i), arch_id=sp.arch_id(sp.from_index(i)), trained_index=t,
            retrained=value, table_mean=float(mean), table_seed=float(table_seed), z=float(z),
            within=bool(abs(z) <= threshold), exact=exact, max_abs_diff=float(diff),
            train_s=float(cur["cost_s"][epoch - 1])))
    r = np.array([c.retrained for c in checks])
    t_ = np.array([c.table_mean for c in checks])
    if len(checks) >= 3 and np.ptp(r) > 0 and np.ptp(t_) > 0:
        rho, tau = float(stats.spearmanr(r, t_)[0]), float(stats.kendalltau(r, t_)[0])
    else:
        rho = tau = math.nan
    compared = [c for c in checks if c.exact is not None]
    return ValidationReport(
        benchmark=bench.name, dataset=dataset, metric=m.name, epoch=epoch, seed=int(seed),
        seed_in_table=in_table, sigma=sigma, threshold=float(threshold), cells=tuple(checks),
        spearman=rho, kendall=tau,
        fraction_within=float(np.mean([c.within for c in checks])),
        n_exact=sum(bool(c.exact) for c in compared), n_compared_exact=len(compared))
