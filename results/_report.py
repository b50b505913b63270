"""``benchbench report DIR``: summary.csv, and the full report (tables, figures, provenance)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import platform
import re
import shlex
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from results._aggregate import final_values
from results._analysis import (
    METRICS,
    across_studies_ranks,
    completeness_table,
    compute_table,
    curves_regret,
    final_table,
    nb201_table,
    pairwise_table,
    partial_note,
    rank_over_time,
    rank_table,
    skipped_table,
    study_rng,
    summary_frame,
    transfer_table,
    within_study_ranks,
)
from results._simtime import sim_workers
from results._stats import bootstrap_mean_ci
from results._store import Study, load_studies
from results._tables import Table, to_csv, to_latex, to_markdown

__all__ = ["PartialResultsWarning", "build_report", "write_summary"]


class PartialResultsWarning(UserWarning):
    """Fewer runs are in the numbers than the study planned."""


def write_summary(directory: str | Path) -> Any:
    """Write ``DIR/summary.csv`` (one row per study and algorithm: runs in the numbers and
    planned, then mean, std and median of the final incumbent's reported validation and test
    values — held-out seeds when the study has them, ``*_values`` says — and of its seed mean
    incl. the selecting run; see :func:`results.summary_frame`) and return it as a
    ``pandas.DataFrame``.  Runs that failed, are still running, are missing, altered or do not
    match their study's configuration are left out (see :func:`build_report` for the list);
    when any planned run is left out, ``df.attrs["partial"]`` holds one line per such study
    and a :class:`PartialResultsWarning` says the numbers are partial."""
    directory = Path(directory)
    df = summary_frame(load_studies(directory))
    df.to_csv(directory / "summary.csv", index=False, float_format="%.10g")
    if df.attrs.get("partial"):
        warnings.warn("the numbers are PARTIAL: " + "; ".join(df.attrs["partial"]),
                      PartialResultsWarning, stacklevel=2)
    return df


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "study"


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("benchbench", "numpy", "scipy", "pandas", "matplotlib"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


class _Writer:
    """Collects the Markdown and writes tables (md, tex, csv) and figures."""

    def __init__(self, out: Path, formats: Sequence[str]) -> None:
        self.out = out
        self.formats = tuple(formats)
        self.lines: list[str] = []
        self.files: list[Path] = []
        (out / "tables").mkdir(parents=True, exist_ok=True)
        if self.formats:
            (out / "figures").mkdir(parents=True, exist_ok=True)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(self, t: Table, name: str) -> None:
        stem = self.out / "tables" / name
        md = to_markdown(t)
        for ext, text in (("md", md), ("tex", to_latex(t, label=f"tab:{name}")),
                          ("csv", to_csv(t))):
            p = stem.with_suffix(f".{ext}")
            p.write_text(text, encoding="utf-8")
            self.files.append(p)
        self.add(md, f"Files: `tables/{name}.md`, `tables/{name}.tex`, `tables/{name}.csv`.", "")

    def figure(self, paths: list[Path], caption: str) -> None:
        self.files.extend(paths)
        if not paths:
            return
        png = next((p for p in paths if p.suffix == ".png"), paths[0])
        rel = png.relative_to(self.out).as_posix()
        others = ", ".join(f"`{p.relative_to(self.out).as_posix()}`" for p in paths)
        if png.suffix == ".pdf":
            self.add(f"{caption} ({others})", "")
        else:
            self.add(f"![{caption}]({rel})", "", f"*{caption}* ({others})", "")


def _bands(study: Study, metric: str, axis: str, seed: int, n_boot: int) -> tuple[Any, Any]:
    from results._plots import Band

    c = curves_regret(study, metric, axis)
    bands = {}
    for a, v in c.values.items():
        lo, hi = bootstrap_mean_ci(v, study_rng(seed, study, a, metric, axis, "curve"),
                                   n_boot=n_boot)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(v, axis=0)
        bands[a] = Band(mean, lo, hi)
    return c, bands


def _study_figures(w: _Writer, study: Study, seed: int, n_boot: int) -> None:
    from results._plots import Panel, plot_anytime, plot_ecdf, plot_final, plot_ranks

    slug = _slug(study.label)
    fdir = w.out / "figures"
    ylabel = "normalised regret" if not math.isnan(study.optimum()) else "value"
    rank_panels = []
    k, mode = sim_workers(study)
    time_label = ("simulated time (GPU-hours)" if k == 1
                  else f"simulated wall clock (hours, {k} {mode} workers)")
    for axis, xlabel in (("evals", "evaluations"), ("time", time_label)):
        panels = []
        for metric, title in METRICS:
            c, bands = _bands(study, metric, axis, seed, n_boot)
            grid = c.grid / 3600 if axis == "time" else c.grid
            positive = (any(np.any(~np.isnan(b.mean)) for b in bands.values())  # log scale
                        and all(np.all(b.mean[~np.isnan(b.mean)] > 0) for b in bands.values()))
            name = study.objective if metric == "valid" else study.test_metric
            panels.append(Panel(f"{title} ({name}, {study.source_label(metric)})", grid, bands,
                                ylabel if c.kind != "value" else "value",
                                logy=c.kind != "value" and positive))
            if metric == "valid":
                rank_panels.append((xlabel, grid, rank_over_time(c, maximize=study.maximize),
                                    axis == "time"))
        w.figure(plot_anytime(panels, fdir / f"anytime_{axis}_{slug}", xlabel=xlabel,
                              xlog=axis == "time", formats=w.formats,
                              suptitle=f"{study.label}: anytime regret (mean, 95% bootstrap CI)"),
                 f"{study.label}: anytime normalised regret of the incumbent vs {xlabel} "
                 f"(mean over runs, 95% bootstrap CI band; validation: "
                 f"{study.source_label('valid')}, test: {study.source_label('test')})")
    finals = [(f"final {title.lower()} {study.objective if m == 'valid' else study.test_metric}"
               f" ({study.source_label(m)})",
               {a: v for a, (_, v) in final_values(study, m).items()}) for m, title in METRICS]
    w.figure(plot_final(finals, fdir / f"final_{slug}", rng=study_rng(seed, study, "jitter"),
                        formats=w.formats, suptitle=f"{study.label}: final values per run"),
             f"{study.label}: final values (box: median and IQR; points: runs)")
    w.figure(plot_ecdf(finals, fdir / f"ecdf_{slug}", formats=w.formats,
                       suptitle=f"{study.label}: ECDF of final values"),
             f"{study.label}: empirical CDF of the final values over runs")
    w.figure(plot_ranks(rank_panels, fdir / f"ranks_{slug}", formats=w.formats,
                        suptitle=f"{study.label}: average rank of validation regret"),
             f"{study.label}: average rank over time (validation, shared seeds)")


def _ood_counts(study: Study) -> dict[str, tuple[int, int, int, int, int]]:
    """algorithm -> (flagged evaluations, evaluations, flagged incumbents, incumbents, runs
    whose final incumbent is flagged), summed over its runs, from the manifests'
    ``result["ood"]`` (written for surrogate benchmarks); empty when no run has it."""
    from benchbench.store import StudyStore

    store = StudyStore(study.path)
    out: dict[str, tuple[int, int, int, int, int]] = {}
    for alg, files in study._files.items():
        tot = [0, 0, 0, 0, 0]
        seen = False
        for ld in files:
            _, man = store.read_manifest(ld.run)
            res = man.get("result") or {}
            o = res.get("ood")
            if not isinstance(o, dict):
                continue
            seen = True
            tot[0] += int(o.get("evaluations") or 0)
            tot[1] += int(res.get("n_evals") or 0)
            tot[2] += int(o.get("incumbents_flagged") or 0)
            tot[3] += int(o.get("incumbents") or 0)
            tot[4] += int(bool(o.get("final_incumbent_flagged")))
        if seen:
            out[alg] = (tot[0], tot[1], tot[2], tot[3], tot[4])
    return out


def _fmt1(v: np.ndarray) -> str:
    """Mean of ``v`` with one decimal ("–" when it holds no number)."""
    ok = np.asarray(v, float)
    ok = ok[~np.isnan(ok)]
    return f"{ok.mean():.1f}" if ok.size else "–"


def _cd_figure(w: _Writer, name: str, res: Any, title: str) -> None:
    from results._plots import plot_cd

    if len(res.methods) < 2 or res.n_blocks < 2:
        return
    ranks = dict(zip(res.methods, res.avg_ranks.tolist()))
    w.figure(plot_cd(ranks, res.cd, w.out / "figures" / f"cd_{name}", formats=w.formats,
                     title=title),
             f"Critical-difference diagram: {title}")


def _search_text(spec: dict[str, Any]) -> str:
    """The study's search settings (cost, repeats, budget crossing, protocol, report
    benchmark) for the report, "" when the study records none (written before they
    existed)."""
    search = spec.get("search")
    if not isinstance(search, dict):
        return ""
    parts = [f"{k.replace('_', ' ')} `{search[k]}`" for k in
             ("cost", "repeats", "budget_crossing", "protocol") if search.get(k) is not None]
    if search.get("repeats") is not None:
        parts[parts.index(f"repeats `{search['repeats']}`")] += (
            " (a re-queried cell is paid again)" if search["repeats"] == "charge"
            else " (a re-queried cell is answered from the first query, free)"
            if search["repeats"] == "cache" else "")
    if int(search.get("sim_workers", 1)) != 1:
        parts.append(f"simulated workers `{search['sim_workers']}` "
                     f"(`{search.get('sim_mode', 'async')}`; the time axis and `sim_time_s` "
                     f"are the simulated wall clock: each evaluation's finish time)")
    rb = search.get("report_benchmark")
    if isinstance(rb, dict):
        parts.append(f"reported on `{rb.get('name')}` (data sha256 "
                     f"`{rb.get('data_sha256', '?')}`)")
    return "; " + ", ".join(parts) if parts else ""


def _study_section(w: _Writer, study: Study, studies: Sequence[Study], seed: int, n_boot: int,
                   figures: bool) -> None:
    slug = _slug(study.label)
    w.add(f"## Study: {study.label}", "")
    spec = study.spec
    bench = spec.get("benchmark") or {}
    w.add(f"- folder: `{study.path}`",
          f"- benchmark: {bench.get('name', '?')} {bench.get('version', '')} "
          f"({bench.get('kind', '?')}), data sha256 `{bench.get('data_sha256', '?')}`",
          f"- dataset `{study.dataset}`, objective `{study.objective}` "
          f"({'maximised' if study.maximize else 'minimised'}), test metric "
          f"`{study.test_metric or 'none'}` "
          f"({'maximised' if study.maximize_test else 'minimised'}), fidelity "
          f"{spec.get('fidelity')} (reported at {study.report_fidelity}), noise "
          f"`{spec.get('noise')}`" + _search_text(spec),
          f"- budget: {json.dumps(study.budget)}; seeds in the study: "
          f"{len(spec.get('seeds') or [])}",
          "- command(s) that produced the runs: " + (", ".join(
              f"`{c}`" for c in (spec.get("commands") or [spec.get("command")]) if c)
              or "not recorded"),
          f"- versions recorded by the study: `{json.dumps(spec.get('versions') or {})}`",
          f"- results sha256 (study.json, manifests and records read): `{study.data_sha256}`",
          f"- runs in the numbers: {study.completeness.text()}; left out in all: "
          f"{len(study.skipped)} (see Completeness)",
          f"- values reported: validation {study.source_label('valid')}, test "
          f"{study.source_label('test')} (see the final table's note)",
          "- distinct cells per run (mean): " + ", ".join(
              f"{a} {_fmt1(r.distinct_cells)}" for a, r in study.runs.items()), "")
    ood = _ood_counts(study)
    if ood:
        w.add("- out-of-distribution answers of the surrogate (cells far from its training "
              "data, `Evaluation.flags`): " + "; ".join(
                  f"{a}: {e} of {n} evaluations, {i} of {k} incumbents, final incumbent of "
                  f"{f} runs" for a, (e, n, i, k, f) in ood.items()), "")
    if study.completeness.partial:
        w.add(f"> **PARTIAL: {study.completeness.text()}.** Every number of this study is over "
              f"the runs that are there.", "")
    stopped = sum(int(np.sum(r.stopped)) for r in study.runs.values())
    if stopped:
        w.add(f"> Note: {stopped} runs stopped before the evaluation that would have crossed "
              f"the time budget (budget crossing `drop`).", "")
    for n in study.notes:
        w.add(f"> Note: {n}", "")
    if not study.runs:
        w.add("No usable run in this study.", "")
        return
    w.table(final_table(study, bootstrap_seed=seed, n_boot=n_boot), f"final_{slug}")
    if len(study.runs) >= 2:
        w.table(pairwise_table(study, bootstrap_seed=seed, n_boot=max(200, n_boot // 2)),
                f"pairwise_{slug}")
        results = within_study_ranks(study)
        w.table(rank_table(results, f"Average ranks on {study.label}",
                           note=partial_note(study)), f"ranks_{slug}")
    if figures:
        _study_figures(w, study, seed, n_boot)
        if len(study.runs) >= 2:
            _cd_figure(w, slug, results[0][1],
                       f"{study.label}, final validation, {study.source_label('valid')} "
                       f"({results[0][1].n_blocks} seeds)")
    _oneshot_section(w, study, seed, n_boot, figures)
    if (spec.get("search") or {}).get("constraints"):  # constrained search (issue 14)
        from results._pareto import infeasible_counts

        w.add(f"Constraints {', '.join(spec['search']['constraints'])}: infeasible "
              f"evaluations per run (mean; they never become the incumbent): " + ", ".join(
                  f"{a} {v.mean():.1f}" for a, v in infeasible_counts(study).items()
                  if v.size) + ".", "")
    if (spec.get("search") or {}).get("record_metrics"):  # multi-objective (issue 14)
        from results._pareto import report_section

        report_section(w, study, seed, n_boot, figures)
    t = transfer_table(study, studies)
    if t is not None:
        w.table(t, f"transfer_{slug}")
    elif spec.get("transfer"):
        w.add(f"> Note: the study asks for transfer to {spec['transfer']}, but no run recorded "
              f"transfer values (manifest result['transfer']); no transfer table.", "")


def _oneshot_section(w: _Writer, study: Study, seed: int, n_boot: int,
                     figures: bool) -> None:
    """One-shot runs (diagnostics.jsonl): table, collapse verdicts, figures
    (:mod:`results._oneshot`); nothing when the study has none."""
    from results._oneshot import collapse_text, load_oneshot_runs, oneshot_table, plot_oneshot

    runs = load_oneshot_runs(study)
    if not runs:
        return
    slug = _slug(study.label)
    w.add(f"### One-shot searches on {study.label}", "",
          "Weight-sharing searches record one evaluation per search epoch (the discretised "
          "cell looked up in the table) at their measured search seconds; their rows in the "
          "tables and curves above use the runner's incumbent (the best table validation "
          "among the epochs' cells). The table below also gives the last cell, which is what "
          "the search itself returns.", "")
    w.table(oneshot_table(study, runs, seed=seed, n_boot=n_boot), f"oneshot_{slug}")
    for alg, rs in runs.items():
        w.add(f"- {collapse_text(alg, rs)}")
    w.add("")
    if figures:
        for alg, rs in runs.items():
            w.figure(plot_oneshot(alg, rs, w.out / "figures" / f"oneshot_{_slug(alg)}_{slug}",
                                  formats=w.formats),
                     f"{study.label}, {alg}: architecture weights over the search epochs "
                     f"(softmax per edge, seed {rs[0].seed}) and diagnostics (mean over runs)")


def _across(w: _Writer, studies: Sequence[Study], figures: bool) -> None:
    """Ranks, Friedman and CD with one block per study (Demšar 2006), for the methods every
    study has."""
    got = across_studies_ranks(studies, "valid")
    if got is None:
        return
    common, res = got
    sources = "; ".join(f"{s.label}: {s.source_label('valid')}" for s in studies)
    text = (f"One block per study (Demšar 2006): each of the {len(common)} common methods' mean "
            f"final validation value over the seeds they all share in that study ({sources}), "
            f"ranked within the study; N = {res.n_blocks} studies. Seeds are not pooled across "
            f"studies: (study, seed) pairs are not independent blocks, and counting them would "
            f"inflate N and shrink the critical difference. ")
    partial = [s.label for s in studies if s.completeness.partial]
    if partial:
        text = f"PARTIAL studies: {', '.join(partial)}. " + text
    w.add("## Across studies", "")
    w.table(rank_table([("final validation, all studies", res)],
                       "Average ranks across studies", note=text), "ranks_all")
    if figures:
        _cd_figure(w, "all", res, f"all studies, final validation (N = {res.n_blocks} "
                                  f"studies)")


def build_report(directory: str | Path, out: str | Path | None = None, *,
                 formats: Sequence[str] = ("png", "pdf"), bootstrap_seed: int = 0,
                 n_boot: int = 2000, command: str | None = None) -> Path:
    """Write ``OUT/report.md`` with every table (also as ``tables/*.md|tex|csv``) and figure
    (``figures/*.png|pdf``), the commands and versions that produced them and the data
    checksums, plus ``OUT/summary.csv``.  Returns the path of ``report.md``.

    What it reports: per metric the final incumbent's held-out value (the mean over its
    recorded training runs that did not select it) when the study recorded one, with the seed
    mean incl. the selecting run beside it, else the seed mean; every table says which.  The
    Completeness section lists every planned run (``study.json`` algorithms × seeds) that is
    missing, altered (files that disagree with the manifest's ``records_sha256``, final values
    or incumbent), unfinished or incomparable; when any is, the report opens with "PARTIAL
    RESULTS: k of n planned runs" and every table note of that study repeats it.

    Args:
        directory: a study folder or a parent folder of several studies.
        out: output folder (default ``DIR/report``).
        formats: figure formats (``"png"``, ``"pdf"``, ``"svg"``); empty for no figures (then
            matplotlib is not needed).
        bootstrap_seed: root seed of every bootstrap draw (reports are reproducible).
        n_boot: bootstrap resamples for confidence intervals.
        command: the command line to record (default: the equivalent ``benchbench report``).
    """
    t0 = time.perf_counter()
    directory = Path(directory)
    out = Path(out) if out is not None else directory / "report"
    if isinstance(formats, str):
        formats = (formats,)
    bad = [f for f in formats if f not in ("png", "pdf", "svg")]
    if bad:
        raise ValueError(f"figure formats {bad} not supported; allowed: 'png', 'pdf', 'svg'")
    if isinstance(bootstrap_seed, bool) or not isinstance(bootstrap_seed, (int, np.integer)):
        raise TypeError(f"bootstrap_seed must be an int, got {bootstrap_seed!r}")
    studies = load_studies(directory)
    out.mkdir(parents=True, exist_ok=True)
    figures = bool(formats)
    fig_note = ""
    if figures:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            figures, fig_note = False, ("Figures skipped: matplotlib is not installed "
                                        "(pip install 'benchbench[plot]').")
            warnings.warn(fig_note, stacklevel=2)
    w = _Writer(out, formats if figures else ())
    versions = _versions()
    cmd = command or (f"benchbench report {shlex.quote(str(directory))} --out "
                      f"{shlex.quote(str(out))}")
    total = hashlib.sha256("".join(s.data_sha256 for s in studies).encode()).hexdigest()
    w.add("# benchbench report", "",
          f"Produced by `{cmd}` (bootstrap seed {bootstrap_seed}, {n_boot} resamples).", "",
          "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".", "",
          f"Results sha256 (every study.json, manifest and record read, in path order): "
          f"`{total}`. Studies: {len(studies)}.", "")
    data_shas = sorted({str((s.spec.get("benchmark") or {}).get("data_sha256"))
                        for s in studies})
    w.add("Benchmark data sha256: " + ", ".join(f"`{d}`" for d in data_shas) + ".", "")
    if fig_note:
        w.add(f"> {fig_note}", "")
    partial = [s for s in studies if s.completeness.partial]
    if partial:
        planned_studies = [s.completeness for s in studies if s.planned is not None]
        used = sum(c.used for c in planned_studies)
        planned = sum(c.planned or 0 for c in planned_studies)
        w.add(f"> **PARTIAL RESULTS: {used} of {planned} planned runs are in the numbers.** "
              + " ".join(f"{s.label}: {s.completeness.text()}." for s in partial)
              + " Every run left out is listed under Completeness.", "")
    w.add("Conventions: the incumbent of a run is the best configuration by the validation "
          "objective the optimizer observed. Tables report, per metric, its held-out value "
          "(\"held-out seeds\": the mean over its recorded training runs that did not select "
          "it, free of the winner's curse) when the study recorded one, with its seed mean "
          "incl. the selecting run (inflated by the winner's curse) beside it; a study without "
          "held-out values reports the seed mean and says so. Column headers and notes say "
          "which. Regret is measured against the benchmark's true optimum (never against the "
          "best method) and normalised by |optimum|. Runs that are missing, altered, "
          "unfinished, or were run with another configuration than their study's are listed "
          "under Completeness and enter no number.", "")
    w.add("## Completeness", "")
    w.table(completeness_table(studies), "completeness")
    skipped = skipped_table(studies)
    if skipped.rows:
        w.table(skipped, "skipped")
    else:
        w.add("Every planned run is in the numbers; no other run was found.", "")
    w.add("## Main table", "")
    w.table(nb201_table(studies), "main")
    for s in studies:
        _study_section(w, s, studies, bootstrap_seed, n_boot, figures)
    _across(w, studies, figures)
    w.add("## Compute accounting", "")
    w.table(compute_table(studies), "compute")
    summary = summary_frame(studies)
    summary.to_csv(out / "summary.csv", index=False, float_format="%.10g")
    w.add("## Files", "", "`summary.csv` (one row per study and algorithm: runs, planned, the "
          "reported values and the seed means, distinct cells), `tables/` "
          "(Markdown, LaTeX booktabs, CSV), `figures/` (" + (", ".join(w.formats) or "none")
          + f"). Built in {time.perf_counter() - t0:.1f} s.", "")
    report = out / "report.md"
    report.write_text("\n".join(w.lines), encoding="utf-8")
    return report
