"""The model card: how far a surrogate can be trusted, measured on cells it did not see.

Statistics (held-out cells of the table the model was fitted on, the metric's last epoch):

* R², Kendall τ, Spearman ρ of the mean prediction against the held-out seed means;
* sparse Kendall τ: Kendall τ after rounding both to the noise level (multiples of the pooled
  seed-to-seed std), after NAS-Bench-301's sKT (Zela et al., ICLR 2022, section 4.1, which
  rounds to 0.1 %: differences below the noise are not ranks);
* τ among the top 10 % of held-out cells (by their seed mean): the ranking a search needs;
* the **noise ceiling**: the same statistics for one recorded seed against the mean of the
  other seeds of the same cell (cells with >= 2 runs).  A surrogate compared with one seed
  cannot do better than another training run does; the model's statistics against the same
  single seed are reported beside it;
* calibration: the share of held-out per-seed values inside the model's 90 % prediction
  interval (target 85-95 %), and the modelled noise std against the recorded one;
* a baseline: plain XGBoost on the one-hot categorical encoding, fitted on the same cells.

Files written next to the model: ``card.json``, ``card.md``, ``card_scatter.png``,
``card_calibration.png`` (plots need matplotlib; without it the card says so).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import BenchmarkError
from surrogates._model import SurrogateModel, TrainingData, _write_json, xgboost

__all__ = ["baseline_predictions", "card_stats", "rank_stats", "write_card"]


def _kendall(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    if len(a) < 3:
        return math.nan
    return float(kendalltau(a, b)[0])


def rank_stats(pred: np.ndarray, true: np.ndarray, *, noise: float,
               maximize: bool = True) -> dict[str, float]:
    """R², Kendall τ, Spearman ρ, sparse Kendall τ (rounded to ``noise``) and τ among the top
    10 % of ``true`` (by direction), of ``pred`` against ``true``."""
    from scipy.stats import spearmanr

    ok = np.isfinite(pred) & np.isfinite(true)
    p, t = pred[ok], true[ok]
    r2 = 1.0 - float(np.sum((t - p) ** 2) / max(float(np.sum((t - t.mean()) ** 2)), 1e-300))
    step = noise if noise > 0 else 1e-9
    top = t >= np.quantile(t, 0.9) if maximize else t <= np.quantile(t, 0.1)
    return {"n": int(len(t)), "r2": r2, "kendall_tau": _kendall(p, t),
            "spearman_rho": float(spearmanr(p, t)[0]),
            "sparse_kendall_tau": _kendall(np.round(p / step), np.round(t / step)),
            "top10_kendall_tau": _kendall(p[top], t[top])}


def baseline_predictions(data: TrainingData, train: np.ndarray, test: np.ndarray,
                         metric: str, *, seed: int = 0, n_jobs: int = 1) -> np.ndarray:
    """The issue's baseline: one XGBoost model (the surrogate's tree settings) on the plain
    one-hot categorical encoding, fitted on ``train`` rows, predicting the last epoch of
    ``metric`` on ``test`` rows."""
    from surrogates._features import get_layout
    from surrogates._model import FitOptions

    xgb = xgboost()
    lay = get_layout("categorical")
    space = data.space
    x = lay.encode(space, [data.arch_ids[i] for i in np.concatenate([train, test]).tolist()])
    y = np.asarray(data.means[metric])[:, -1]
    ok = np.isfinite(y[train])
    m = xgb.XGBRegressor(random_state=seed, **{**FitOptions().xgb_params(), "n_jobs": n_jobs})
    m.fit(x[: len(train)][ok], y[train][ok])
    return np.asarray(m.predict(x[len(train):]), dtype=np.float64)


def _target_metric(model: SurrogateModel, metric: str | None) -> str:
    if metric is not None:
        if metric not in model.metrics:
            raise BenchmarkError(f"metric {metric!r} is not modelled; modelled: "
                                 f"{', '.join(model.metrics)}")
        return metric
    for n, mm in model.metrics.items():
        if mm.metric.split is not None and mm.metric.split.value == "valid":
            return n
    return next(iter(model.metrics))


def card_stats(model: SurrogateModel, data: TrainingData, *, metric: str | None = None,
               baseline: bool = True, n_draws: int = 20) -> dict[str, Any]:
    """Model-card statistics of ``model`` on the cells of ``data`` it was not fitted on.

    Args:
        data: the whole table's data for the model's dataset (training cells are left out
            by id).
        metric: the metric judged (default: the first validation metric).
        n_draws: noise draws per held-out cell for the spread check.
    """
    from surrogates._benchmark import SurrogateBenchmark

    name = _target_metric(model, metric)
    mm = model.metrics[name]
    maximize = mm.metric.direction.value == "max"
    train_set = set(model.train_ids)
    all_rows = np.arange(len(data.arch_ids))
    is_train = np.array([a in train_set for a in data.arch_ids])
    test = all_rows[~is_train]
    train = all_rows[is_train]
    if len(test) < 10:
        raise BenchmarkError(f"the model was fitted on {len(train)} of {len(all_rows)} cells: "
                             f"fewer than 10 held out, no card statistics")
    bench = SurrogateBenchmark(model)
    archs = [data.arch_ids[i] for i in test.tolist()]
    block = bench._compute([model.space.parse(a) for a in archs])
    epochs = [int(e) for e in mm.epochs]
    mean_curves = block.mean(name)  # (n, E)
    sigma = block.sigma(name)  # (n, E)
    true_curves = np.asarray(data.means[name])[test]
    noise = float(np.sqrt(np.mean(mm.noise**2))) if mm.noise is not None else 0.0
    last = -1
    out: dict[str, Any] = {
        "metric": name, "epoch": epochs[last], "n_train": int(len(train)),
        "n_heldout": int(len(test)), "noise_std": noise,
        "model": rank_stats(mean_curves[:, last], true_curves[:, last], noise=noise,
                            maximize=maximize)}
    if len(epochs) > 1:
        out["per_epoch"] = {str(e): rank_stats(mean_curves[:, i], true_curves[:, i],
                                               noise=float(mm.noise[i]) if mm.noise is not None
                                               else 0.0, maximize=maximize)["kendall_tau"]
                            for i, e in enumerate(epochs)}
        err = np.abs(mean_curves - true_curves)
        out["curve_mae"] = float(np.nanmean(err))
    if baseline:
        bp = baseline_predictions(data, train, test, name, seed=model.options.seed,
                                  n_jobs=model.options.n_jobs)
        out["baseline"] = rank_stats(bp, true_curves[:, last], noise=noise, maximize=maximize)
    if name in data.seeds:
        ys = np.asarray(data.seeds[name])[test]  # (n, S, E)
        have = np.isfinite(ys[:, :, last])
        multi = have.sum(axis=1) >= 2
        first = np.argmax(have, axis=1)  # the first recorded seed of each cell
        one = ys[np.arange(len(ys)), first, last]
        rest = ys[:, :, last].copy()
        rest[np.arange(len(ys)), first] = np.nan
        with np.errstate(invalid="ignore"):
            rest_mean = np.nanmean(np.where(have, rest, np.nan), axis=1)
        out["noise_ceiling"] = rank_stats(one[multi], rest_mean[multi], noise=noise,
                                          maximize=maximize)
        out["model_vs_one_seed"] = rank_stats(mean_curves[multi, last], one[multi],
                                              noise=noise, maximize=maximize)
        # calibration: 90 % intervals against every held-out recorded run
        if mm.noise is not None and math.isfinite(mm.q90):
            half = mm.q90 * sigma  # (n, E)
            inside = np.abs(ys - mean_curves[:, None, :]) <= half[:, None, :]
            rec = np.isfinite(ys)
            out["calibration"] = {
                "nominal": 0.9, "coverage": float(inside[rec].mean()),
                "coverage_last_epoch": float(inside[:, :, last][rec[:, :, last]].mean()),
                "coverage_top10": float(inside[:, :, last][
                    rec[:, :, last] & _top(true_curves[:, last], maximize)[:, None]].mean()),
                "mean_halfwidth": float(np.mean(half[:, last])), "q90": mm.q90}
            # noise: recorded per-cell seed std vs the std of the surrogate's draws
            dev = ys[:, :, last] - np.nanmean(ys[:, :, last], axis=1, keepdims=True)
            n_s = have.sum(axis=1)
            rec_var = np.nansum(dev**2, axis=1)[multi] / (n_s[multi] - 1)
            rows = np.arange(len(archs))
            draws = np.stack([bench._values(block, rows, archs, name, epochs[last], s)
                              for s in range(n_draws)])  # = query_many(..., data_seed=s)
            draw_sd = draws.std(axis=0, ddof=1)
            # cells selected by the PREDICTION: selecting by the recorded mean would favour
            # cells whose recorded runs happen to agree (and hit the 100 % ceiling)
            top = _top(mean_curves[:, last], maximize)
            calm = rec_var <= np.quantile(rec_var, 0.99)  # without the 1 % most diverged
            out["noise"] = {
                "recorded_seed_std_rms_trim1": float(np.sqrt(np.mean(rec_var[calm]))),
                "draw_std_rms_trim1": float(np.sqrt(np.mean(draw_sd[multi][calm] ** 2))),
                "recorded_seed_std_rms": float(np.sqrt(np.mean(rec_var))),
                "draw_std_rms": float(np.sqrt(np.mean(draw_sd[multi] ** 2))),
                "recorded_seed_std_rms_top10": float(np.sqrt(np.mean(
                    rec_var[top[multi]]))) if top[multi].any() else math.nan,
                "draw_std_rms_top10": float(np.sqrt(np.mean(draw_sd[multi & top] ** 2)))
                if (multi & top).any() else math.nan,
                "draws_per_cell": n_draws}
    if model.cost is not None and data.cost is not None:
        c_true = np.asarray(data.cost)[test, -1]
        c_pred = block.cost()[:, -1]  # type: ignore[index]
        ok = np.isfinite(c_true) & (c_true > 0)
        out["cost"] = {"r2_log": rank_stats(np.log(c_pred[ok]), np.log(c_true[ok]),
                                            noise=0.0)["r2"],
                       "spearman_rho": rank_stats(c_pred[ok], c_true[ok],
                                                  noise=0.0)["spearman_rho"],
                       "median_abs_rel_error": float(np.median(np.abs(c_pred[ok] / c_true[ok]
                                                                      - 1)))}
    flags = model.flags(archs, block.x)
    out["ood_heldout_share"] = float(np.mean([bool(f) for f in flags]))
    out["_plot"] = {"pred": mean_curves[:, last], "true": true_curves[:, last]}
    return out


def _top(values: np.ndarray, maximize: bool) -> np.ndarray:
    return values >= np.quantile(values, 0.9) if maximize else values <= np.quantile(values, 0.1)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.3f}"
    return str(v)


def _table(stats: Mapping[str, Any]) -> list[str]:
    rows = [("surrogate (mean prediction) vs held-out seed mean", stats.get("model")),
            ("baseline: plain XGBoost on one-hot, same cells", stats.get("baseline")),
            ("surrogate vs one recorded seed", stats.get("model_vs_one_seed")),
            ("noise ceiling: one seed vs mean of the others", stats.get("noise_ceiling"))]
    out = ["| predictor | n | R² | Kendall τ | Spearman ρ | sparse τ | top-10 % τ |",
           "|---|---|---|---|---|---|---|"]
    for label, s in rows:
        if s:
            out.append(f"| {label} | {s['n']} | {_fmt(s['r2'])} | {_fmt(s['kendall_tau'])} | "
                       f"{_fmt(s['spearman_rho'])} | {_fmt(s['sparse_kendall_tau'])} | "
                       f"{_fmt(s['top10_kendall_tau'])} |")
    return out


def write_card(model: SurrogateModel, data: TrainingData, *, metric: str | None = None,
               out: str | Path | None = None, plots: bool = True) -> dict[str, Any]:
    """Compute :func:`card_stats` and write ``card.json``, ``card.md`` and the plots into
    ``out`` (default: the model's directory); also store the summary in the model's
    manifest (``card``, outside the model's sha256).  Returns the statistics."""
    stats = card_stats(model, data, metric=metric)
    plot = stats.pop("_plot")
    folder = Path(out) if out is not None else model.path
    if folder is None:
        raise BenchmarkError("the model is not saved: give out= for the card")
    folder.mkdir(parents=True, exist_ok=True)
    card = {"model_id": model.model_id, "model_sha256": model.model_sha256,
            "training": model.training, "options": model.options.__dict__,
            "layout": model.layout.name, "fit_seconds": model.fit_seconds, "stats": stats}
    _write_json(folder / "card.json", card)
    figs = _plots(folder, plot, stats) if plots else []
    lines = [f"# Model card: {model.model_id}", "",
             f"- space `{model.space.name}`, dataset `{model.dataset}`, feature layout "
             f"`{model.layout.name}` v{model.layout.version}, {model.options.members} members",
             f"- fitted on {stats['n_train']} cells of table `{model.training.get('table')}` "
             f"(table sha256 `{model.training.get('table_sha256')}`); training data sha256 "
             f"`{model.training.get('training_data_sha256')}`",
             f"- model sha256 `{model.model_sha256}`; fit {_fmt(model.fit_seconds)} s",
             f"- judged on the {stats['n_heldout']} held-out cells, metric `{stats['metric']}` "
             f"at epoch {stats['epoch']}; noise level (pooled seed std) "
             f"{_fmt(stats['noise_std'])} (sparse τ rounds to it)", "",
             *_table(stats), ""]
    cal = stats.get("calibration")
    if cal:
        lines += [f"Calibration: {100 * cal['coverage']:.1f} % of held-out recorded runs lie "
                  f"in the 90 % prediction interval (target 85-95 %; last epoch "
                  f"{100 * cal['coverage_last_epoch']:.1f} %, top 10 % of cells "
                  f"{100 * cal['coverage_top10']:.1f} %); mean half-width "
                  f"{_fmt(cal['mean_halfwidth'])}.", ""]
    nz = stats.get("noise")
    if nz:
        lines += [f"Noise: recorded seed std (RMS over held-out cells) "
                  f"{_fmt(nz['recorded_seed_std_rms'])}, surrogate draws "
                  f"{_fmt(nz['draw_std_rms'])} ({nz['draws_per_cell']} seeds per cell); top 10 %"
                  f" of cells: {_fmt(nz['recorded_seed_std_rms_top10'])} vs "
                  f"{_fmt(nz['draw_std_rms_top10'])}; without the 1 % most diverged cells: "
                  f"{_fmt(nz['recorded_seed_std_rms_trim1'])} vs "
                  f"{_fmt(nz['draw_std_rms_trim1'])}.", ""]
    if "per_epoch" in stats:
        lines += ["Kendall τ by epoch: " + ", ".join(f"{e}: {_fmt(t)}" for e, t in
                                                     stats["per_epoch"].items())
                  + f"; mean absolute curve error {_fmt(stats['curve_mae'])}.", ""]
    if "cost" in stats:
        c = stats["cost"]
        lines += [f"Cost model: R² of log time {_fmt(c['r2_log'])}, Spearman "
                  f"{_fmt(c['spearman_rho'])}, median relative error "
                  f"{_fmt(c['median_abs_rel_error'])}.", ""]
    lines += [f"Out of distribution: {100 * stats['ood_heldout_share']:.1f} % of held-out "
              f"cells are flagged.", ""]
    lines += [f"![{f}]({f})" for f in figs] or ["(no plots: matplotlib is not installed)"]
    (folder / "card.md").write_text("\n".join(lines) + "\n")
    if model.path is not None and (model.path / "manifest.json").is_file():
        man = json.loads((model.path / "manifest.json").read_text())
        summary = {k: stats.get(k) for k in ("metric", "epoch", "n_train", "n_heldout",
                                             "noise_std", "model", "baseline",
                                             "noise_ceiling", "model_vs_one_seed",
                                             "calibration", "noise", "cost")}
        man["card"] = {"summary": summary, "files": ["card.json", "card.md", *figs]}
        _write_json(model.path / "manifest.json", man)
        model.card = man["card"]
    return stats


def _plots(folder: Path, plot: Mapping[str, np.ndarray], stats: Mapping[str, Any]) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(plot["true"], plot["pred"], s=2, alpha=0.3)
    lo = float(np.nanmin(plot["true"]))
    hi = float(np.nanmax(plot["true"]))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel(f"held-out seed mean {stats['metric']}")
    ax.set_ylabel("surrogate mean prediction")
    ax.set_title(f"τ {stats['model']['kendall_tau']:.3f}, top-10 % τ "
                 f"{stats['model']['top10_kendall_tau']:.3f}")
    fig.tight_layout()
    fig.savefig(folder / "card_scatter.png", dpi=110)
    plt.close(fig)
    return ["card_scatter.png"]
