"""The fitted surrogate: per-metric learning-curve ensembles, a cost model, a noise model, the
out-of-distribution reference, and their portable save / load.

References (the methods this follows, and where it deviates):

* Ensembles of gradient-boosted trees per objective, members differing in seed and bootstrap:
  Zela, Siems, Zimmer, Lukasik, Keuper & Hutter, "Surrogate NAS Benchmarks: Going Beyond the
  Limited Search Spaces of Tabular NAS Benchmarks", ICLR 2022 (NAS-Bench-301; automl/nasbench301,
  ``surrogate_models/ensemble.py`` and ``xgb.py``): an ensemble of XGBoost models, its mean the
  prediction.  NB301's members differ in seed only; here they are also bagged (bootstrap rows),
  which makes the members' disagreement an uncertainty and gives out-of-bag residuals.
* Whole learning curves on a low-rank basis: Yan, White, Savani & Hutter, "NAS-Bench-x11 and the
  Power of Learning Curves", NeurIPS 2021 (automl/nas-bench-x11, ``svd_lgb`` models): SVD of the
  training curves, a tree model regresses the first coefficients, the curve is the basis
  combination, so a query at any recorded epoch and a whole trajectory agree by construction.
  NB-x11 uses LightGBM; here XGBoost (one library, one file format).
* Noise: NB-x11 draws a noise vector from a density fitted to the residuals of the training
  curves.  Here the residuals are the table's own seed-to-seed deviations (each recorded seed
  minus its cell's seed mean, scaled by ``sqrt(n/(n-1))`` so their variance is the per-seed
  variance), standardised by a heteroscedastic scale ``sigma(x)`` (an XGBoost model of the
  squared deviations, so top and failing cells get their own spread) and kept as a pool of
  whole vectors (every noisy metric at every epoch of one recorded run), so a draw keeps the
  correlations across epochs and metrics that real runs show.  A draw for (cell, seed) picks
  pool row ``stable_hash(cell id, seed) mod N``: deterministic, no RNG held.
* 90 % prediction intervals: locally weighted split conformal prediction (Lei, G'Sell,
  Rinaldo, Tibshirani & Wasserman, JASA 2018, section 5.2) on out-of-bag residuals (Kim, Xu &
  Barber, "Predictive inference is free with the jackknife+-after-bootstrap", NeurIPS 2020):
  the 90 % quantile ``q`` of ``|y_seed - oob_mean| / sigma(x)`` over the training cells'
  recorded runs; the interval is ``mean(x) +- q sigma(x)``.

File layout of a saved model (``save``): ``manifest.json`` (format, version, feature layout,
metrics, bases, scalers, versions, training-data sha256, model card, sha256 of every file),
``models/*.ubj`` (XGBoost's own UBJSON), ``arrays.npz`` (numpy arrays, read with
``allow_pickle=False``), ``train_cells.txt``.  No pickle anywhere.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import BenchmarkError, Metric
from benchbench.rng import derive_seed, make_rng, stable_hash
from benchbench.spaces import SearchSpace, get_space
from surrogates._features import FeatureLayout, get_layout

__all__ = ["FORMAT", "FORMAT_VERSION", "FitOptions", "MetricModel", "SurrogateModel",
           "SurrogateModelError", "TrainingData", "fit_model", "load_model", "xgboost"]

FORMAT = "benchbench-surrogate"
#: Bumped when the saved layout changes; a model of another version is refused.
FORMAT_VERSION = 1
_Z_EPS = 0.01
_OOD_DISTANCE = "ood:distance"
_OOD_DISAGREE = "ood:disagreement"


class SurrogateModelError(BenchmarkError):
    """A surrogate directory that cannot be used (missing / corrupted file, other format
    version or feature layout); the message is one line naming the file and the fix."""


def xgboost() -> Any:
    """The ``xgboost`` module, or a one-line error naming the extra to install."""
    try:
        import xgboost as xgb
    except ImportError:
        raise SurrogateModelError("surrogates need xgboost: pip install 'benchbench[surrogate]'"
                                  ) from None
    return xgb


# ---------------------------------------------------------------------------------- data
@dataclass
class TrainingData:
    """What a surrogate is fitted on: one dataset of a table (or any set of evaluated cells).

    Attributes:
        space: the search space of ``arch_ids``.
        dataset: the dataset name the model answers for.
        arch_ids: ``n`` cell ids (the space's :meth:`~SearchSpace.arch_id`).
        metrics: the metrics modelled, in order.
        epochs: per metric, the recorded epochs (ascending).
        means: per metric, seed-mean curves ``(n, E_m)``; NaN where missing.
        seeds: per metric with per-seed values, ``(n, S, E_m)``; NaN where a run is missing.
        cost_epochs / cost: cumulative training seconds of the seed mean, ``(n, E_c)``
            (``cost`` ``None`` when the source records no time).
        source: provenance (table name, sha256 of the table data, path ...).
    """

    space: SearchSpace[Any]
    dataset: str
    arch_ids: list[str]
    metrics: tuple[Metric, ...]
    epochs: dict[str, tuple[int, ...]]
    means: dict[str, np.ndarray]
    seeds: dict[str, np.ndarray] = field(default_factory=dict)
    cost_epochs: tuple[int, ...] = ()
    cost: np.ndarray | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def subset(self, rows: np.ndarray) -> TrainingData:
        """The same data restricted to ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        return TrainingData(
            space=self.space, dataset=self.dataset,
            arch_ids=[self.arch_ids[i] for i in rows.tolist()], metrics=self.metrics,
            epochs=self.epochs, means={k: v[rows] for k, v in self.means.items()},
            seeds={k: v[rows] for k, v in self.seeds.items()}, cost_epochs=self.cost_epochs,
            cost=None if self.cost is None else self.cost[rows], source=dict(self.source))

    def sha256(self) -> str:
        """Hash of the training cells and their values (what the model saw)."""
        h = hashlib.sha256()
        h.update("\n".join(self.arch_ids).encode())
        for m in self.metrics:
            h.update(m.name.encode())
            h.update(np.ascontiguousarray(self.means[m.name], dtype=np.float64).tobytes())
            if m.name in self.seeds:
                h.update(np.ascontiguousarray(self.seeds[m.name], dtype=np.float64).tobytes())
        if self.cost is not None:
            h.update(np.ascontiguousarray(self.cost, dtype=np.float64).tobytes())
        return h.hexdigest()


@dataclass(frozen=True)
class FitOptions:
    """Hyper-parameters of a fit (recorded in the manifest).

    Attributes:
        members: ensemble members per metric (each bagged, own seed).
        seed: root seed (bootstrap rows and XGBoost seeds derive from it).
        layout: feature layout name (``None``: the space's own, else ``"categorical"``).
        n_estimators, learning_rate, max_depth, subsample, colsample_bytree: XGBoost's
            (the cost model uses ``cost_members`` models of ``cost_estimators`` trees: log
            training time is smooth and nearly a function of the cell, and ``cost_s`` is
            computed for every batch, so it is kept cheap).
        bootstrap: bag the members' rows (the default); off, members differ in seed only
            (NB301's ensemble).
        max_rank: most SVD components per learning curve.
        explained: components kept until they explain this share of the curves' variance.
        n_jobs: XGBoost threads.
    """

    members: int = 5
    seed: int = 0
    layout: str | None = None
    n_estimators: int = 200
    learning_rate: float = 0.1
    max_depth: int = 6
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    cost_estimators: int = 100
    cost_members: int = 1
    bootstrap: bool = True
    max_rank: int = 4
    explained: float = 0.999
    n_jobs: int = 1

    def xgb_params(self) -> dict[str, Any]:
        return {"n_estimators": self.n_estimators, "learning_rate": self.learning_rate,
                "max_depth": self.max_depth, "subsample": self.subsample,
                "colsample_bytree": self.colsample_bytree, "n_jobs": self.n_jobs,
                "tree_method": "hist"}


# ---------------------------------------------------------------------------------- model
@dataclass
class MetricModel:
    """One metric's curve model: ``curve = center + scale * (coef * coef_scale) @ basis``.

    Attributes:
        metric: what it predicts.
        epochs: the epochs of the curve, ``(E,)``.
        center: ``(E,)`` mean curve of the training cells; scale: their overall std.
        basis: ``(r, E)`` SVD components; coef_scale: ``(r,)`` std of each coefficient.
        boosters: one XGBoost booster per member, predicting the ``r`` scaled coefficients.
        noise: per-epoch pooled seed std ``(E,)`` (``None``: the metric has no seed values).
        noise_booster: log of the heteroscedastic factor: ``h(x) = noise_factor *
            exp(booster(x))`` clipped to ``h_clip``, ``sigma(x)^2 = noise^2 h(x)``.
        pool_cols: columns of this metric in the residual pool.
        q90: half-width of the 90 % interval in units of ``sigma(x)`` (or absolute units
            when the metric has no noise).
        disagreement_ref: ensemble std at the last epoch (scaled units) that flags a cell as
            out of distribution.
    """

    metric: Metric
    epochs: np.ndarray
    center: np.ndarray
    scale: float
    basis: np.ndarray
    coef_scale: np.ndarray
    boosters: list[Any]
    explained: float = 1.0
    noise: np.ndarray | None = None
    noise_booster: Any = None
    pool_cols: tuple[int, int] = (0, 0)
    q90: float = math.nan
    disagreement_ref: float = math.inf
    h_clip: tuple[float, float] = (0.01, 100.0)
    noise_factor: float = 1.0

    @property
    def rank(self) -> int:
        return int(self.basis.shape[0])

    def member_curves(self, x: np.ndarray) -> np.ndarray:
        """``(K, n, E)`` curves of every member."""
        out = np.empty((len(self.boosters), len(x), len(self.epochs)))
        for k, b in enumerate(self.boosters):
            c = np.asarray(b.inplace_predict(x), dtype=np.float64).reshape(len(x), self.rank)
            out[k] = (c * self.coef_scale) @ self.basis
        out *= self.scale
        out += self.center
        return out

    def sigma(self, x: np.ndarray) -> np.ndarray:
        """``(n, E)`` per-seed noise std (zeros for a metric without seed values)."""
        if self.noise is None:
            return np.zeros((len(x), len(self.epochs)))
        g = np.asarray(self.noise_booster.inplace_predict(x), dtype=np.float64)
        h = np.clip(np.exp(g) * self.noise_factor, *self.h_clip)
        return np.sqrt(h)[:, None] * self.noise[None, :]


@dataclass
class CostModel:
    """Training time: ``cost(e) = exp(log_T(x)) * frac(e)``, ``log_T`` the ensemble mean
    of the log of the seed-mean time at the last recorded epoch, ``frac`` the median share
    of that time spent by epoch ``e`` (monotone by construction)."""

    epochs: np.ndarray
    frac: np.ndarray
    center: float
    scale: float
    boosters: list[Any]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(n, E_c)`` seconds."""
        logt = np.mean([np.asarray(b.inplace_predict(x), dtype=np.float64)
                        for b in self.boosters], axis=0) * self.scale + self.center
        return np.exp(logt)[:, None] * self.frac[None, :]


@dataclass
class SurrogateModel:
    """A fitted surrogate of one dataset (see the module docstring)."""

    name: str
    space: SearchSpace[Any]
    dataset: str
    layout: FeatureLayout
    metrics: dict[str, MetricModel]
    cost: CostModel | None
    pool: np.ndarray  # (N, D) standardised residual vectors
    train_ids: list[str]
    train_codes: np.ndarray  # (n, V) categorical codes of the training cells
    distance_ref: int
    options: FitOptions
    training: dict[str, Any]
    card: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    model_sha256: str = ""
    fit_seconds: float = math.nan

    @property
    def model_id(self) -> str:
        return f"{self.name}-{self.model_sha256[:12]}" if self.model_sha256 else self.name

    # ---------------------------------------------------------------- features / OOD
    def features(self, archs: Sequence[Any]) -> np.ndarray:
        return self.layout.encode(self.space, archs)

    def codes(self, archs: Sequence[Any]) -> np.ndarray:
        return np.array([self.space.to_categorical(a) for a in archs],
                        dtype=np.int16).reshape(len(archs), -1)

    def nearest_distance(self, codes: np.ndarray) -> np.ndarray:
        """Hamming distance (categorical variables that differ) of each row of ``codes`` to
        the nearest training cell, ``(n,)``."""
        out = np.empty(len(codes), dtype=np.int64)
        tc = self.train_codes
        step = max(1, 4_000_000 // max(1, tc.size))
        for i in range(0, len(codes), step):
            blk = codes[i:i + step]
            out[i:i + step] = (blk[:, None, :] != tc[None, :, :]).sum(axis=2).min(axis=1)
        return out

    def flags(self, archs: Sequence[Any], x: np.ndarray | None = None,
              last_std: Mapping[str, np.ndarray] | None = None) -> list[frozenset[str]]:
        """Out-of-distribution flags of each arch: ``"ood"`` plus the reasons.

        * ``"ood:distance"``: the cell is farther (Hamming distance over the space's
          categorical variables, i.e. the number of single-variable mutations) from every
          training cell than any training cell is from its nearest other one: it lies in a
          region the training data do not reach.
        * ``"ood:disagreement"``: the members disagree more on some metric's last epoch
          than on 99 % of cells one random mutation away from a training cell: the model
          is less sure than it is next to its data.

        ``last_std`` (per metric, the members' std at the last epoch in scaled units) may be
        given when already computed.
        """
        archs = [self.space.parse(a) for a in archs]
        far = self.nearest_distance(self.codes(archs)) > self.distance_ref
        dis = np.zeros(len(archs), dtype=bool)
        for name, mm in self.metrics.items():
            if not math.isfinite(mm.disagreement_ref):
                continue
            if last_std is not None and name in last_std:
                sd = last_std[name]
            else:
                x = self.features(archs) if x is None else x
                sd = _last_std(mm, x)
            dis |= sd > mm.disagreement_ref
        out = []
        for f, d in zip(far.tolist(), dis.tolist()):
            s = ({_OOD_DISTANCE} if f else set()) | ({_OOD_DISAGREE} if d else set())
            out.append(frozenset(s | {"ood"}) if s else frozenset())
        return out

    # ------------------------------------------------------------------- prediction
    def predict(self, x: np.ndarray, names: Sequence[str] | None = None
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per metric: (mean curve ``(n, E)``, ensemble std ``(n, E)``)."""
        out = {}
        for n in (names if names is not None else list(self.metrics)):
            mc = self.metrics[n].member_curves(x)
            out[n] = (mc.mean(axis=0), mc.std(axis=0))
        return out

    def noise_draw(self, arch_ids: Sequence[str], data_seed: int) -> np.ndarray:
        """Pool rows for ``(arch_id, data_seed)`` pairs, ``(n, D)``."""
        n_pool = len(self.pool)
        if n_pool == 0:
            return np.zeros((len(arch_ids), 0))
        k = np.fromiter((stable_hash("surrogate-noise", a, data_seed) % n_pool
                         for a in arch_ids), dtype=np.int64, count=len(arch_ids))
        return self.pool[k]

    # ------------------------------------------------------------------------- save
    def save(self, out: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model to the directory ``out`` (see the module docstring); returns it."""
        out = Path(out)
        if (out / "manifest.json").exists() and not overwrite:
            raise SurrogateModelError(f"{out} already holds a surrogate; choose another --out "
                                      f"or pass overwrite")
        (out / "models").mkdir(parents=True, exist_ok=True)
        files: dict[str, str] = {}

        def booster(b: Any, rel: str) -> str:
            b.save_model(str(out / rel))
            files[rel] = _sha256_file(out / rel)
            return rel

        arrays: dict[str, np.ndarray] = {"pool": self.pool.astype(np.float32),
                                         "train_codes": self.train_codes}
        mspec = []
        for i, (name, mm) in enumerate(self.metrics.items()):
            rels = [booster(b, f"models/m{i}_{name}_member{k}.ubj")
                    for k, b in enumerate(mm.boosters)]
            nrel = (booster(mm.noise_booster, f"models/m{i}_{name}_noise.ubj")
                    if mm.noise_booster is not None else None)
            for key in ("epochs", "center", "basis", "coef_scale"):
                arrays[f"{name}/{key}"] = np.asarray(getattr(mm, key))
            if mm.noise is not None:
                arrays[f"{name}/noise"] = mm.noise
            mspec.append({"metric": mm.metric.to_dict(), "scale": mm.scale, "rank": mm.rank,
                          "explained": mm.explained, "members": rels, "noise_model": nrel,
                          "pool_cols": list(mm.pool_cols), "q90": _num(mm.q90),
                          "disagreement_ref": _num(mm.disagreement_ref),
                          "h_clip": list(mm.h_clip), "noise_factor": mm.noise_factor})
        cspec = None
        if self.cost is not None:
            c = self.cost
            cspec = {"center": c.center, "scale": c.scale,
                     "members": [booster(b, f"models/cost_member{k}.ubj")
                                 for k, b in enumerate(c.boosters)]}
            arrays["cost/epochs"] = c.epochs
            arrays["cost/frac"] = c.frac
        np.savez(out / "arrays.npz", **arrays)  # type: ignore[arg-type]
        files["arrays.npz"] = _sha256_file(out / "arrays.npz")
        (out / "train_cells.txt").write_text("\n".join(self.train_ids) + "\n")
        files["train_cells.txt"] = _sha256_file(out / "train_cells.txt")
        model = {
            "name": self.name, "space": self.space.name, "dataset": self.dataset,
            "layout": {"name": self.layout.name, "version": self.layout.version,
                       "columns_sha256": self.layout.columns_sha256(self.space),
                       "n_columns": len(self.layout.columns(self.space))},
            "metrics": mspec, "cost": cspec, "distance_ref": self.distance_ref,
            "options": self.options.__dict__, "training": self.training,
        }
        sha = _model_sha256(model, files)
        self.model_sha256 = sha
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_id": self.model_id,
                    "model_sha256": sha, "model": model, "files": files,
                    "versions": _versions(), "fit_seconds": _num(self.fit_seconds),
                    "card": self.card}
        _write_json(out / "manifest.json", manifest)
        self.path = out
        return out


def _last_std(mm: MetricModel, x: np.ndarray) -> np.ndarray:
    """Members' std at the last epoch, in units of the metric's scale, ``(n,)``."""
    return np.asarray(mm.member_curves(x)[:, :, -1].std(axis=0) / max(mm.scale, 1e-12))


def _num(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _versions() -> dict[str, str]:
    import benchbench

    return {"python": platform.python_version(), "numpy": np.__version__,
            "xgboost": xgboost().__version__, "benchbench": benchbench.__version__,
            "format_version": str(FORMAT_VERSION)}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _model_sha256(model: Mapping[str, Any], files: Mapping[str, str]) -> str:
    """sha256 of the model's definition and every model file's sha256 (not of the card,
    which can be rewritten)."""
    text = json.dumps({"model": model, "files": dict(sorted(files.items()))}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=False, default=_json_default) + "\n")
    tmp.replace(path)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ------------------------------------------------------------------------------------ fit
def _svd_basis(y: np.ndarray, opts: FitOptions) -> tuple[np.ndarray, np.ndarray, float,
                                                          np.ndarray, float]:
    """(center, basis (r, E), scale, coefficients (n, r), explained share) of curves ``y``."""
    center = y.mean(axis=0)
    scale = float(y.std()) or 1.0
    yc = (y - center) / scale
    if y.shape[1] == 1:
        return center, np.ones((1, 1)), scale, yc.copy(), 1.0
    _, s, vt = np.linalg.svd(yc, full_matrices=False)
    share = np.cumsum(s**2) / max(float(np.sum(s**2)), 1e-300)
    r = int(min(opts.max_rank, len(s), np.searchsorted(share, opts.explained) + 1))
    basis = vt[:r]
    return center, basis, scale, yc @ basis.T, float(share[r - 1])


def _fit_members(xgb: Any, x: np.ndarray, y: np.ndarray, bags: list[np.ndarray],
                 opts: FitOptions, tag: str, n_estimators: int | None = None) -> list[Any]:
    out = []
    params = opts.xgb_params()
    if n_estimators is not None:
        params["n_estimators"] = n_estimators
    for k, rows in enumerate(bags):
        seed = derive_seed(opts.seed, "surrogate", tag, k) % (2**31)
        ok = rows[np.isfinite(y[rows]).all(axis=1)] if y.ndim == 2 else rows[
            np.isfinite(y[rows])]
        m = xgb.XGBRegressor(random_state=seed, **params)
        m.fit(x[ok], y[ok])
        out.append(m.get_booster())
    return out


def fit_model(data: TrainingData, *, name: str = "surrogate",
              options: FitOptions | None = None) -> SurrogateModel:
    """Fit a surrogate on ``data`` (every row a training cell).

    Per metric: SVD basis of the seed-mean curves, an ensemble of ``options.members`` bagged
    XGBoost models of the basis coefficients; a noise model where the metric has per-seed
    values; out-of-bag 90 % interval widths; out-of-distribution references.  Then a cost
    model of the training time.  Deterministic for a given ``options.seed``.
    """
    xgb = xgboost()
    opts = options or FitOptions()
    if opts.members < 1:
        raise BenchmarkError(f"members must be >= 1, got {opts.members}")
    t0 = time.perf_counter()
    space = data.space
    layout = get_layout(opts.layout or _default_layout(space))
    if not layout.applies_to(space):
        raise BenchmarkError(f"feature layout {layout.name!r} does not apply to space "
                             f"{space.name!r}")
    archs = [space.parse(a) for a in data.arch_ids]
    n = len(archs)
    if n < 10:
        raise BenchmarkError(f"a surrogate needs at least 10 training cells, got {n}")
    x = layout.encode(space, archs)
    rng = make_rng(opts.seed, "surrogate", "bootstrap")
    bags = [(rng.integers(0, n, n) if opts.bootstrap else np.arange(n)) for _ in
            range(opts.members)]
    in_bag = np.zeros((opts.members, n), dtype=bool)
    for k, rows in enumerate(bags):
        in_bag[k, rows] = True
    oob = ~in_bag
    has_oob: np.ndarray = np.asarray(oob.any(axis=0))

    metrics: dict[str, MetricModel] = {}
    noisy: list[tuple[MetricModel, np.ndarray, np.ndarray]] = []
    for m in data.metrics:
        y = np.asarray(data.means[m.name], dtype=np.float64)
        ok = np.isfinite(y).all(axis=1)
        if ok.sum() < 10:
            continue  # nothing to learn (e.g. a metric the dataset does not record)
        center, basis, scale, _, explained = _svd_basis(y[ok], opts)
        coef = ((y - center) / scale) @ basis.T
        coef_scale = coef[ok].std(axis=0)
        coef_scale[coef_scale == 0] = 1.0
        target = coef / coef_scale
        target[~ok] = np.nan
        boosters = _fit_members(xgb, x, target, bags, opts, m.name)
        mm = MetricModel(metric=m, epochs=np.asarray(data.epochs[m.name]), center=center,
                         scale=scale, basis=basis, coef_scale=coef_scale, boosters=boosters,
                         explained=explained)
        metrics[m.name] = mm
        if m.name in data.seeds:
            noisy.append((mm, np.asarray(data.seeds[m.name], dtype=np.float64), y))
    if not metrics:
        raise BenchmarkError(f"no metric of dataset {data.dataset!r} has values on 10 cells")

    pool = _fit_noise(xgb, x, noisy, opts)
    for mm in metrics.values():
        member = mm.member_curves(x)  # (K, n, E)
        mm.q90 = _oob_q90(mm, member, oob, has_oob, x, data)
        mm.disagreement_ref = _disagreement_ref(mm, space, archs, layout, opts)

    cost = None
    if data.cost is not None and np.isfinite(data.cost).all(axis=1).sum() >= 10:
        c = np.asarray(data.cost, dtype=np.float64)
        okc = np.isfinite(c).all(axis=1) & (c[:, -1] > 0)
        logt = np.full(n, np.nan)
        logt[okc] = np.log(c[okc, -1])
        center_c, scale_c = float(np.mean(logt[okc])), float(np.std(logt[okc])) or 1.0
        frac = np.median(c[okc] / c[okc, -1:], axis=0)
        frac = np.maximum.accumulate(np.clip(frac, 0, None))
        cost = CostModel(epochs=np.asarray(data.cost_epochs), frac=frac, center=center_c,
                         scale=scale_c,
                         boosters=_fit_members(xgb, x, (logt - center_c) / scale_c,
                                               bags[:max(1, opts.cost_members)], opts, "cost",
                                               opts.cost_estimators))

    train_codes = np.array([space.to_categorical(a) for a in archs], dtype=np.int16)
    model = SurrogateModel(
        name=name, space=space, dataset=data.dataset, layout=layout, metrics=metrics,
        cost=cost, pool=pool, train_ids=list(data.arch_ids), train_codes=train_codes,
        distance_ref=_distance_ref(train_codes, opts), options=opts,
        training={**data.source, "dataset": data.dataset, "n_train": n,
                  "training_data_sha256": data.sha256(),
                  "train_cells_sha256": hashlib.sha256(
                      "\n".join(data.arch_ids).encode()).hexdigest()})
    model.fit_seconds = time.perf_counter() - t0
    return model


def _default_layout(space: SearchSpace[Any]) -> str:
    from surrogates._features import layouts_for

    return layouts_for(space)[0]


def _fit_noise(xgb: Any, x: np.ndarray,
               noisy: list[tuple[MetricModel, np.ndarray, np.ndarray]],
               opts: FitOptions) -> np.ndarray:
    """Fit each noisy metric's per-epoch pooled std and heteroscedastic factor; return the
    pool of standardised residual vectors (one row per recorded run of a cell with >= 2
    runs, every noisy metric's epochs side by side)."""
    if not noisy:
        return np.zeros((0, 0), dtype=np.float32)
    blocks = []
    col = 0
    valid = None
    for mm, ys, _ in noisy:
        n_seeds = np.isfinite(ys).all(axis=2).sum(axis=1)  # (n,)
        cell_mean = np.nanmean(np.where(np.isfinite(ys), ys, np.nan), axis=1, keepdims=True)
        fac = np.sqrt(n_seeds / np.maximum(n_seeds - 1, 1))[:, None, None]
        e = (ys - cell_mean) * fac  # (n, S, E)
        usable = (n_seeds >= 2)[:, None] & np.isfinite(e).all(axis=2)  # (n, S)
        if usable.sum() < 10:
            continue
        s_e = np.sqrt(np.mean(e[usable] ** 2, axis=0))  # (E,)
        if float(s_e.max()) <= 1e-9 * max(mm.scale, 1e-12):
            continue  # equal in every run (params, flops): no noise to model
        s_e[s_e == 0] = 1e-12
        # the heteroscedastic factor is fitted at the last epoch (the fidelity a search is
        # judged at; earlier epochs share it)
        z = np.where(usable[:, :, None], (e / s_e) ** 2, np.nan)[:, :, -1]
        with np.errstate(invalid="ignore"):
            z_cell = np.nanmean(z, axis=1)  # (n,)
        cells = np.nonzero(n_seeds >= 2)[0]
        seed = derive_seed(opts.seed, "surrogate", "noise", mm.metric.name) % (2**31)
        # multiplicative heteroscedasticity (Harvey, Econometrica 1976): regress the log of
        # the squared deviations (robust to the heavy tail of diverged runs), then scale
        # exp(prediction) so that its mean over the training cells is the mean of z
        reg = xgb.XGBRegressor(n_estimators=200, learning_rate=0.05, max_depth=4,
                               subsample=0.8, n_jobs=opts.n_jobs, tree_method="hist",
                               random_state=seed)
        reg.fit(x[cells], np.log(z_cell[cells] + _Z_EPS))
        g = np.exp(np.asarray(reg.predict(x[cells]), dtype=np.float64))
        mm.noise_factor = float(np.mean(z_cell[cells]) / max(float(np.mean(g)), 1e-300))
        mm.noise = s_e
        mm.noise_booster = reg.get_booster()
        sig = mm.sigma(x)  # (n, E)
        u = e / sig[:, None, :]
        mm.pool_cols = (col, col + u.shape[2])
        col += u.shape[2]
        blocks.append(u)
        valid = usable if valid is None else valid & usable
    if not blocks or valid is None:
        return np.zeros((0, 0), dtype=np.float32)
    pool = np.concatenate([b[valid] for b in blocks], axis=1)  # (N, D)
    rms = np.sqrt(np.mean(pool**2, axis=0))
    rms[rms == 0] = 1.0
    pool /= rms  # unit mean square per column: sigma(x) is the draw's std
    return pool.astype(np.float32)


def _oob_q90(mm: MetricModel, member: np.ndarray, oob: np.ndarray, has_oob: np.ndarray,
             x: np.ndarray, data: TrainingData) -> float:
    """90 % quantile of the out-of-bag normalised residuals (see the module docstring)."""
    w = oob[:, :, None].astype(float)
    cnt = w.sum(axis=0)
    pred = (member * w).sum(axis=0) / np.maximum(cnt, 1)  # (n, E) OOB mean
    name = mm.metric.name
    if mm.noise is not None and name in data.seeds:
        ys = np.asarray(data.seeds[name], dtype=np.float64)  # (n, S, E)
        sig = mm.sigma(x)[:, None, :]
        r = np.abs(ys - pred[:, None, :]) / sig
        r = r[has_oob][np.isfinite(r[has_oob])]
    else:
        y = np.asarray(data.means[name], dtype=np.float64)
        r = np.abs(y - pred)[has_oob]
        r = r[np.isfinite(r)]
    return float(np.quantile(r, 0.9)) if r.size else math.nan


def _disagreement_ref(mm: MetricModel, space: SearchSpace[Any], archs: list[Any],
                      layout: FeatureLayout, opts: FitOptions) -> float:
    """The members' std (last epoch, scaled units) exceeded by only 1 % of cells one random
    mutation away from a training cell: the disagreement the model shows next to its data."""
    if len(mm.boosters) < 2:
        return math.inf
    rng = make_rng(opts.seed, "surrogate", "ood-reference")
    pick = rng.choice(len(archs), size=min(len(archs), 2000), replace=False)
    near = [space.mutate(archs[i], rng) for i in pick.tolist()]
    return float(np.quantile(_last_std(mm, layout.encode(space, near)), 0.99))


def _distance_ref(codes: np.ndarray, opts: FitOptions) -> int:
    """The largest nearest-neighbour Hamming distance among (up to 2,000 sampled) training
    cells: how far apart the training data lie at most."""
    n = len(codes)
    if n < 2:
        return 0
    rng = make_rng(opts.seed, "surrogate", "distance-reference")
    pick = rng.choice(n, size=min(n, 2000), replace=False)
    best = np.full(len(pick), np.iinfo(np.int64).max)
    for i in range(0, n, 2000):
        d = (codes[pick][:, None, :] != codes[None, i:i + 2000, :]).sum(axis=2)
        same = pick[:, None] == np.arange(i, min(n, i + 2000))[None, :]
        d[same] = np.iinfo(np.int16).max
        best = np.minimum(best, d.min(axis=1))
    return int(best.max())


# ----------------------------------------------------------------------------------- load
def load_model(path: str | Path, *, threads: int = 1) -> SurrogateModel:
    """Read a surrogate saved by :meth:`SurrogateModel.save`.

    Args:
        threads: XGBoost threads per prediction (1: reproducible timing on shared CPUs; more
            speeds up large batches).

    Raises:
        SurrogateModelError: no such directory / manifest, a file missing or not matching its
            recorded sha256, another format version, a feature layout the code does not
            have (or whose columns changed), a space that is not registered.
    """
    xgb = xgboost()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise SurrogateModelError(f"threads must be an int >= 1, got {threads!r}")
    root = Path(path)
    mpath = root / "manifest.json"
    if not root.is_dir():
        raise SurrogateModelError(f"no surrogate directory at {root}")
    if not mpath.is_file():
        raise SurrogateModelError(f"{root} is not a surrogate: manifest.json is missing "
                                  f"(fit one with `benchbench surrogate fit`)")
    try:
        man = json.loads(mpath.read_text())
    except (OSError, ValueError) as e:
        raise SurrogateModelError(f"{mpath} is not readable JSON ({type(e).__name__}: "
                                  f"{' '.join(str(e).split())[:120]}): the file is corrupted; "
                                  f"re-fit the surrogate") from None
    fmt = man.get("format") if isinstance(man, dict) else None
    if not isinstance(man, dict) or fmt != FORMAT:
        raise SurrogateModelError(f"{mpath} is not a benchbench surrogate manifest "
                                  f"(format {fmt!r})")
    if man.get("format_version") != FORMAT_VERSION:
        raise SurrogateModelError(
            f"{root}: surrogate format version {man.get('format_version')!r}, this benchbench "
            f"reads version {FORMAT_VERSION} only: re-fit it with this version")
    try:
        model = man["model"]
        files: dict[str, str] = man["files"]
        lay = model["layout"]
    except (KeyError, TypeError) as e:
        raise SurrogateModelError(f"{mpath}: manifest lacks {e}: the file is corrupted; "
                                  f"re-fit the surrogate") from None
    for rel, sha in files.items():
        fp = root / rel
        if not fp.is_file():
            raise SurrogateModelError(f"{root}: model file {rel} is missing (the manifest "
                                      f"lists it): copy the whole directory or re-fit")
        if _sha256_file(fp) != sha:
            raise SurrogateModelError(f"{root}: model file {rel} does not match its sha256 in "
                                      f"manifest.json (corrupted or altered): re-fit or "
                                      f"restore it")
    if _model_sha256(model, files) != man.get("model_sha256"):
        raise SurrogateModelError(f"{mpath}: the model section does not match model_sha256 "
                                  f"(altered manifest): re-fit the surrogate")
    try:
        space = get_space(model["space"])
    except Exception as e:
        raise SurrogateModelError(f"{root}: space {model['space']!r} is not available "
                                  f"({' '.join(str(e).split())[:100]})") from None
    try:
        layout = get_layout(lay["name"])
    except BenchmarkError:
        raise SurrogateModelError(f"{root}: feature layout {lay['name']!r} is unknown to this "
                                  f"benchbench; re-fit the surrogate") from None
    if (layout.version != lay["version"]
            or layout.columns_sha256(space) != lay["columns_sha256"]):
        raise SurrogateModelError(
            f"{root}: saved with feature layout {lay['name']!r} version {lay['version']} "
            f"(columns {lay['columns_sha256'][:12]}), this benchbench has version "
            f"{layout.version} (columns {layout.columns_sha256(space)[:12]}): the trees would "
            f"read the wrong columns; re-fit the surrogate")
    with np.load(root / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}

    def booster(rel: str) -> Any:
        b = xgb.Booster()
        try:
            b.load_model(str(root / rel))
        except Exception as e:  # xgboost raises XGBoostError with a long C++ trace
            raise SurrogateModelError(f"{root}: cannot read XGBoost model {rel} "
                                      f"({str(e).splitlines()[0][:100]})") from None
        b.set_param({"nthread": threads})
        return b

    metrics: dict[str, MetricModel] = {}
    for spec in model["metrics"]:
        met = Metric.from_dict(spec["metric"])
        nm = met.name
        metrics[nm] = MetricModel(
            metric=met, epochs=arrays[f"{nm}/epochs"], center=arrays[f"{nm}/center"],
            scale=float(spec["scale"]), basis=arrays[f"{nm}/basis"],
            coef_scale=arrays[f"{nm}/coef_scale"],
            boosters=[booster(r) for r in spec["members"]], explained=spec["explained"],
            noise=arrays.get(f"{nm}/noise"),
            noise_booster=booster(spec["noise_model"]) if spec["noise_model"] else None,
            pool_cols=(int(spec["pool_cols"][0]), int(spec["pool_cols"][1])),
            q90=math.nan if spec["q90"] is None else float(spec["q90"]),
            disagreement_ref=(math.inf if spec["disagreement_ref"] is None
                              else float(spec["disagreement_ref"])),
            h_clip=(float(spec["h_clip"][0]), float(spec["h_clip"][1])),
            noise_factor=float(spec["noise_factor"]))
    cost = None
    if model.get("cost"):
        c = model["cost"]
        cost = CostModel(epochs=arrays["cost/epochs"], frac=arrays["cost/frac"],
                         center=float(c["center"]), scale=float(c["scale"]),
                         boosters=[booster(r) for r in c["members"]])
    opts = FitOptions(**model["options"])
    train_ids = (root / "train_cells.txt").read_text().split()
    out = SurrogateModel(
        name=model["name"], space=space, dataset=model["dataset"], layout=layout,
        metrics=metrics, cost=cost, pool=arrays["pool"].astype(np.float64),
        train_ids=train_ids, train_codes=arrays["train_codes"],
        distance_ref=int(model["distance_ref"]), options=opts, training=model["training"],
        card=man.get("card") or {}, path=root, model_sha256=man["model_sha256"],
        fit_seconds=float(man.get("fit_seconds") or math.nan))
    return out
