"""Reading study folders: manifests and records, with every skipped run accounted for.

A study folder, as :mod:`benchbench.runner` writes it::

    DIR/study.json
    DIR/runs/<algorithm>/seed-<seed:06d>/manifest.json   (RunManifest.to_dict())
    DIR/runs/<algorithm>/seed-<seed:06d>/records.csv     (header = RECORD_FIELDS)

A parent folder may hold several studies (e.g. one per dataset); :func:`load_studies` finds
them all.  Only finished runs whose configuration matches the study's (dataset, objective,
test metric, fidelity, noise, budget, algorithm parameters, benchmark data) are loaded; every
other run is listed in :attr:`Study.skipped` with the reason, and never enters a number.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchbench.trial import RECORD_FIELDS

__all__ = ["AlgorithmRuns", "Skipped", "Study", "StudyError", "find_study_dirs", "load_studies",
           "load_study"]

#: Config keys that must agree between a run and its study (besides algorithm and seed).
_SHARED_KEYS = ("benchmark", "dataset", "objective", "test_metric", "fidelity", "noise",
                "max_evals", "max_seconds")
_NUMERIC = ("eval", "arch_index", "fidelity", "objective", "cost_s", "sim_time_s",
            "incumbent_index", "incumbent_valid", "incumbent_test")
_HEADER = ",".join(RECORD_FIELDS).encode()


class StudyError(ValueError):
    """A folder that holds no usable study (the message says what was expected)."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A run (or file) left out of every number, and why."""

    path: str
    algorithm: str | None
    seed: int | None
    reason: str


@dataclass(frozen=True)
class AlgorithmRuns:
    """The comparable, finished runs of one algorithm in one study, as dense arrays.

    ``n`` runs, padded to ``L`` = the longest run's number of evaluations; entries past a run's
    end are NaN (a run's value after its end is its final value: see :mod:`results._aggregate`).

    Attributes:
        algorithm: name as in the study.
        params: the algorithm's hyper-parameters.
        seeds: ``(n,)`` int64 run seeds, ascending.
        n_evals: ``(n,)`` evaluations each run made.
        valid: ``(n, L)`` incumbent's seed-mean objective (validation) value after each evaluation.
        test: ``(n, L)`` incumbent's seed-mean test-metric value after each evaluation.
        sim_time_s: ``(n, L)`` simulated clock (seconds) after each evaluation.
        incumbent_index: ``(n,)`` official index of the final incumbent (-1 if none).
        wall_s: ``(n,)`` real seconds each run took.
        transfer: per run, ``{dataset: {metric: value}}`` of the final incumbent on other
            datasets, when the runner recorded it (``manifest.result["transfer"]``), else ``{}``.
    """

    algorithm: str
    params: Mapping[str, Any]
    seeds: np.ndarray
    n_evals: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    sim_time_s: np.ndarray
    incumbent_index: np.ndarray
    wall_s: np.ndarray
    transfer: tuple[Mapping[str, Mapping[str, float]], ...] = ()

    @property
    def n(self) -> int:
        return int(self.seeds.size)

    def _last(self, a: np.ndarray) -> np.ndarray:
        if self.n == 0:
            return np.empty(0)
        return a[np.arange(self.n), np.maximum(self.n_evals - 1, 0)]

    @property
    def final_valid(self) -> np.ndarray:
        """``(n,)`` final incumbent's seed-mean validation value."""
        return self._last(self.valid)

    @property
    def final_test(self) -> np.ndarray:
        """``(n,)`` final incumbent's seed-mean test value."""
        return self._last(self.test)

    @property
    def final_sim_time_s(self) -> np.ndarray:
        """``(n,)`` simulated seconds each run used in all."""
        return self._last(self.sim_time_s)


@dataclass
class Study:
    """One study: its specification (``study.json``), its loaded runs and what was skipped.

    Attributes:
        path: the study folder.
        spec: the parsed ``study.json`` (``{}`` if the folder had none: then the reference
            configuration is the one most finished runs share, and ``notes`` says so).
        runs: algorithm -> its comparable runs, in the order of ``spec["algorithms"]``.
        skipped: every run left out, with the reason.
        maximize: whether larger objective (and test-metric) values are better.
        data_sha256: sha256 over every manifest and record file that was read, in path order.
        label: short name for tables (the dataset, or the relative path when ambiguous).
        notes: remarks on how the study was read.
        elapsed_s: real seconds from the first loaded run's start to the last one's finish
            (NaN when the manifests do not say).
    """

    path: Path
    spec: dict[str, Any]
    runs: dict[str, AlgorithmRuns]
    skipped: list[Skipped] = field(default_factory=list)
    maximize: bool = True
    data_sha256: str = ""
    label: str = ""
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = math.nan

    @property
    def dataset(self) -> str:
        return str(self.spec.get("dataset", ""))

    @property
    def objective(self) -> str:
        return str(self.spec.get("objective", "valid"))

    @property
    def test_metric(self) -> str:
        return str(self.spec.get("test_metric", "test"))

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self.runs)

    @property
    def budget(self) -> dict[str, Any]:
        return dict(self.spec.get("budget") or {})

    def optimum(self, which: str = "objective") -> float:
        """The benchmark's true seed-mean optimum of the objective (``"objective"``) or of the
        test metric (``"test_metric"``); NaN when ``study.json`` does not record it."""
        if which not in ("objective", "test_metric"):
            raise ValueError(f"which must be 'objective' or 'test_metric', got {which!r}")
        entry = (self.spec.get("optimum") or {}).get(which) or {}
        value = entry.get("value") if isinstance(entry, Mapping) else None
        return math.nan if value is None else float(value)


# ----------------------------------------------------------------------------------- discovery
def find_study_dirs(root: str | Path) -> list[Path]:
    """Study folders at or below ``root``: those with a ``study.json``, or with a ``runs/``
    folder of ``<algorithm>/seed-*`` runs when none has a ``study.json``.  Sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise StudyError(f"results folder {str(root)!r} does not exist or is not a folder")
    found = sorted({p.parent for p in root.rglob("study.json")})
    if not found:
        found = sorted({p.parent.parent.parent for p in root.rglob("runs/*/seed-*")
                        if p.is_dir()})
    if not found:
        raise StudyError(f"no study found under {str(root)!r}: expected DIR/study.json and "
                         f"DIR/runs/<algorithm>/seed-<seed>/ (as `benchbench run` writes)")
    return found


def load_studies(root: str | Path) -> list[Study]:
    """Every study at or below ``root`` (see :func:`find_study_dirs`), labelled for tables by
    dataset, or by relative path where two studies share a dataset."""
    root = Path(root)
    studies = [load_study(d) for d in find_study_dirs(root)]
    counts = Counter(s.dataset for s in studies)
    for s in studies:
        rel = s.path.relative_to(root).as_posix() if s.path != root else s.path.name
        s.label = s.dataset if s.dataset and counts[s.dataset] == 1 else (rel or s.dataset)
    return studies


# ------------------------------------------------------------------------------------ loading
@dataclass
class _Candidate:
    path: Path
    algorithm: str
    seed: int | None
    manifest: dict[str, Any]
    body: bytes = b""
    n_lines: int = 0


def _seed_of(name: str) -> int | None:
    try:
        return int(name.removeprefix("seed-"))
    except ValueError:
        return None


def _read_manifests(study_dir: Path, hasher: Any,
                    skipped: list[Skipped]) -> list[_Candidate]:
    cands: list[_Candidate] = []
    runs_dir = study_dir / "runs"
    if not runs_dir.is_dir():
        return cands
    for alg_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        for run_dir in sorted(p for p in alg_dir.iterdir() if p.is_dir()):
            seed = _seed_of(run_dir.name)
            rel = run_dir.relative_to(study_dir).as_posix()

            def skip(reason: str, *, _rel: str = rel, _alg: str = alg_dir.name,
                     _seed: int | None = seed) -> None:
                skipped.append(Skipped(_rel, _alg, _seed, reason))

            mpath = run_dir / "manifest.json"
            if not mpath.is_file():
                skip("no manifest.json")
                continue
            raw = mpath.read_bytes()
            try:
                manifest = json.loads(raw)
                if not isinstance(manifest, dict):
                    raise ValueError("not a JSON object")
            except ValueError as e:
                skip(f"corrupt manifest.json ({e})")
                continue
            status = manifest.get("status")
            if status == "running":
                skip("still running (status 'running')")
                continue
            if status == "failed":
                err = str(manifest.get("error") or "no error message").strip().splitlines()
                skip(f"failed: {err[-1] if err else ''}"[:300])
                continue
            if status != "done":
                skip(f"unknown status {status!r} (allowed: 'running', 'failed', 'done')")
                continue
            hasher.update(rel.encode() + b"\0" + raw)
            cands.append(_Candidate(run_dir, alg_dir.name, seed, manifest))
    return cands


def _reference(spec: Mapping[str, Any], cands: list[_Candidate],
               notes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(shared config, algorithm -> params) every run must match."""
    if spec:
        budget = spec.get("budget") or {}
        bench = spec.get("benchmark") or {}
        ref = {"benchmark": bench.get("name") if isinstance(bench, Mapping) else bench,
               "dataset": spec.get("dataset"), "objective": spec.get("objective"),
               "test_metric": spec.get("test_metric"), "fidelity": spec.get("fidelity"),
               "noise": spec.get("noise"), "max_evals": budget.get("max_evals"),
               "max_seconds": budget.get("max_seconds"),
               "data_sha256": bench.get("data_sha256") if isinstance(bench, Mapping) else None}
        params = {a: dict(p or {}) for a, p in (spec.get("algorithms") or {}).items()}
        return ref, params
    # No study.json: the configuration most finished runs share is the reference.
    def key(c: _Candidate) -> str:
        return json.dumps(_run_shared(c.manifest), sort_keys=True, default=str)

    common = Counter(key(c) for c in cands).most_common(1)
    ref = json.loads(common[0][0]) if common else {}
    params: dict[str, Any] = {}
    for alg in sorted({c.algorithm for c in cands}):
        ps = Counter(json.dumps({"algorithm": (c.manifest.get("config") or {}).get(
            "algorithm", alg), **((c.manifest.get("config") or {}).get("params") or {})},
            sort_keys=True) for c in cands if c.algorithm == alg)
        params[alg] = json.loads(ps.most_common(1)[0][0])
    notes.append("no study.json: the reference configuration is the one most finished runs "
                 "share; the benchmark optimum is unknown, so regret is not reported")
    return ref, params


def _run_shared(manifest: Mapping[str, Any]) -> dict[str, Any]:
    cfg = manifest.get("config") or {}
    bench = manifest.get("benchmark") or {}
    out = {k: cfg.get(k) for k in _SHARED_KEYS}
    if isinstance(out["benchmark"], Mapping):
        out["benchmark"] = out["benchmark"].get("name")
    out["data_sha256"] = bench.get("data_sha256") if isinstance(bench, Mapping) else None
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def _config_mismatch(c: _Candidate, ref: Mapping[str, Any],
                     params: Mapping[str, Any], seeds: set[int] | None) -> str | None:
    cfg = c.manifest.get("config") or {}
    label = cfg.get("label", cfg.get("algorithm"))
    if label not in (None, c.algorithm):
        return f"manifest label {label!r} != folder name {c.algorithm!r}"
    if c.seed is None or (cfg.get("seed") is not None and cfg.get("seed") != c.seed):
        return f"run seed {cfg.get('seed')!r} does not match folder name"
    if seeds is not None and c.seed not in seeds:
        return f"seed {c.seed} is not among the study's seeds"
    if c.algorithm not in params:
        return f"algorithm {c.algorithm!r} is not among the study's algorithms {sorted(params)}"
    run = _run_shared(c.manifest)
    for k, want in ref.items():
        if want is None and k in ("benchmark", "data_sha256"):
            continue
        if not _same(run.get(k), want):
            return f"incomparable: {k} {run.get(k)!r} != study's {want!r}"
    want = dict(params[c.algorithm])
    name = want.pop("algorithm", c.algorithm)
    if cfg.get("algorithm") not in (None, name):
        return f"incomparable: algorithm {cfg.get('algorithm')!r} != study's {name!r}"
    got = cfg.get("params") or {}
    if got != want:
        return f"incomparable: params {got!r} != study's {want!r}"
    return None


def _read_bodies(cands: list[_Candidate], study_dir: Path, hasher: Any,
                 skipped: list[Skipped]) -> list[_Candidate]:
    kept = []
    for c in cands:
        rel = c.path.relative_to(study_dir).as_posix()
        rpath = c.path / "records.csv"
        if not rpath.is_file():
            skipped.append(Skipped(rel, c.algorithm, c.seed, "no records.csv"))
            continue
        raw = rpath.read_bytes()
        head, sep, body = raw.partition(b"\n")
        if head.rstrip(b"\r") != _HEADER:
            skipped.append(Skipped(rel, c.algorithm, c.seed,
                                   "corrupt records.csv: header is not RECORD_FIELDS"))
            continue
        if body and not body.endswith(b"\n"):
            body += b"\n"
        c.body, c.n_lines = body, body.count(b"\n")
        hasher.update(rel.encode() + b"\0" + raw)
        kept.append(c)
    return kept


_Records = dict  # column name -> (n,) float64 array, one run's records


def _parse(body: bytes) -> _Records:
    """The numeric columns of records.csv rows (no header) as float64 arrays."""
    if not body:
        return {k: np.empty(0) for k in _NUMERIC}
    df = pd.read_csv(io.BytesIO(body), header=None, names=list(RECORD_FIELDS),
                     usecols=list(_NUMERIC), dtype=dict.fromkeys(_NUMERIC, "float64"),
                     engine="c", na_filter=True)
    return {k: df[k].to_numpy() for k in _NUMERIC}


def _same_float(a: float, b: Any) -> bool:
    try:
        b = float(b)
    except (TypeError, ValueError):
        return False
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _check_run(rec: _Records, c: _Candidate) -> str | None:
    """Why this run's records cannot be used, or None."""
    result = c.manifest.get("result") or {}
    n = len(rec["eval"])
    want_n = result.get("n_evals")
    if want_n is not None and want_n != n:
        return f"corrupt records.csv: {n} rows but the manifest says n_evals={want_n}"
    if n == 0:
        return "no evaluations recorded"
    if not np.array_equal(rec["eval"], np.arange(n)):
        return "corrupt records.csv: eval column is not 0, 1, 2, ..."
    t = rec["sim_time_s"]
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        return "corrupt records.csv: sim_time_s is not a finite non-decreasing clock"
    for col, key in (("incumbent_valid", "final_valid"), ("incumbent_test", "final_test")):
        last, want = float(rec[col][-1]), result.get(key)
        if want is not None and not _same_float(last, want):
            return f"corrupt records.csv: final {col} {last!r} != manifest {key} {want!r}"
    return None


def _parse_all(cands: list[_Candidate], study_dir: Path,
               skipped: list[Skipped]) -> list[tuple[_Candidate, _Records]]:
    """Parse all bodies in one pass (fast); on a parse error fall back to one file at a time
    to find the corrupt ones."""
    out: list[tuple[_Candidate, _Records]] = []
    try:
        big = _parse(b"".join(c.body for c in cands))
        if len(big["eval"]) != sum(c.n_lines for c in cands):
            raise ValueError("row count")
        start = 0
        for c in cands:
            out.append((c, {k: v[start:start + c.n_lines] for k, v in big.items()}))
            start += c.n_lines
    except (ValueError, pd.errors.ParserError):
        out = []
        for c in cands:
            try:
                rec = _parse(c.body)
                if len(rec["eval"]) != c.n_lines:
                    raise ValueError(f"{len(rec['eval'])} rows parsed from {c.n_lines} lines")
            except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
                msg = str(e).strip().splitlines()
                skipped.append(Skipped(c.path.relative_to(study_dir).as_posix(), c.algorithm,
                                       c.seed, f"corrupt records.csv ({msg[0] if msg else e})"))
                continue
            out.append((c, rec))
    good = []
    for c, rec in out:
        why = _check_run(rec, c)
        if why:
            skipped.append(Skipped(c.path.relative_to(study_dir).as_posix(), c.algorithm,
                                   c.seed, why))
        else:
            good.append((c, rec))
    return good


def _stack(alg: str, params: Mapping[str, Any],
           runs: list[tuple[_Candidate, _Records]]) -> AlgorithmRuns:
    runs = sorted(runs, key=lambda r: r[0].seed)
    n = len(runs)
    lens = np.array([len(rec["eval"]) for _, rec in runs], dtype=np.int64)
    width = int(lens.max()) if n else 0
    arrays = {k: np.full((n, width), np.nan) for k in ("incumbent_valid", "incumbent_test",
                                                          "sim_time_s")}
    for i, (_, rec) in enumerate(runs):
        for k, a in arrays.items():
            a[i, :lens[i]] = rec[k]
    inc = np.array([rec["incumbent_index"][-1] for _, rec in runs])
    inc = np.where(np.isfinite(inc), inc, -1).astype(np.int64)
    wall = np.array([math.nan if c.manifest.get("wall_s") is None else float(c.manifest["wall_s"])
                     for c, _ in runs])
    transfer = tuple(dict((c.manifest.get("result") or {}).get("transfer") or {})
                     for c, _ in runs)
    return AlgorithmRuns(alg, dict(params), np.array([c.seed for c, _ in runs], np.int64), lens,
                         arrays["incumbent_valid"], arrays["incumbent_test"],
                         arrays["sim_time_s"], inc, wall, transfer)


def _maximize(spec: Mapping[str, Any], objective: str) -> bool:
    bench = spec.get("benchmark") or {}
    for ms in ((bench.get("datasets") or {}) if isinstance(bench, Mapping) else {}).values():
        for m in ms or []:
            if isinstance(m, Mapping) and m.get("name") == objective and m.get("direction"):
                return m["direction"] == "max"
    name = objective.lower()
    return not any(w in name for w in ("loss", "error", "err", "regret", "latency", "time"))


def load_study(path: str | Path) -> Study:
    """Load one study folder (see the module docstring).

    Raises:
        StudyError: ``path`` is not a study folder or its ``study.json`` is unreadable.
    """
    path = Path(path)
    spec_path = path / "study.json"
    hasher = hashlib.sha256()
    spec: dict[str, Any] = {}
    if spec_path.is_file():
        raw = spec_path.read_bytes()
        try:
            spec = json.loads(raw)
        except ValueError as e:
            raise StudyError(f"corrupt study.json in {str(path)!r}: {e}") from e
        if not isinstance(spec, dict):
            raise StudyError(f"study.json in {str(path)!r} is not a JSON object")
        hasher.update(b"study.json\0" + raw)
    elif not (path / "runs").is_dir():
        raise StudyError(f"{str(path)!r} is not a study folder: no study.json and no runs/")
    skipped: list[Skipped] = []
    notes: list[str] = []
    cands = _read_manifests(path, hasher, skipped)
    ref, params = _reference(spec, cands, notes)
    if not spec and cands:
        cfg0 = ref
        spec = {"dataset": cfg0.get("dataset"), "objective": cfg0.get("objective"),
                "test_metric": cfg0.get("test_metric"), "fidelity": cfg0.get("fidelity"),
                "noise": cfg0.get("noise"), "budget": {"max_evals": cfg0.get("max_evals"),
                                                       "max_seconds": cfg0.get("max_seconds")},
                "algorithms": params, "benchmark": {"name": cfg0.get("benchmark"),
                                                    "data_sha256": cfg0.get("data_sha256")}}
    seeds = set(spec["seeds"]) if spec.get("seeds") else None
    ok = []
    for c in cands:
        why = _config_mismatch(c, ref, params, seeds)
        if why:
            skipped.append(Skipped(c.path.relative_to(path).as_posix(), c.algorithm, c.seed, why))
        else:
            ok.append(c)
    ok = _read_bodies(ok, path, hasher, skipped)
    parsed = _parse_all(ok, path, skipped)
    by_alg: dict[str, list[tuple[_Candidate, _Records]]] = {}
    for c, rec in parsed:
        by_alg.setdefault(c.algorithm, []).append((c, rec))
    order = list(params) + sorted(set(by_alg) - set(params))
    runs = {a: _stack(a, params.get(a, {}), by_alg[a]) for a in order if a in by_alg}
    for a in order:
        if a not in runs and a in params:
            notes.append(f"algorithm {a!r} has no usable run")
    skipped.sort(key=lambda s: s.path)
    return Study(path=path, spec=spec, runs=runs, skipped=skipped,
                 maximize=_maximize(spec, str(spec.get("objective", ""))),
                 data_sha256=hasher.hexdigest(), label=str(spec.get("dataset") or path.name),
                 notes=notes, elapsed_s=_elapsed([c.manifest for c, _ in parsed]))


def _elapsed(manifests: list[dict[str, Any]]) -> float:
    starts, ends = [], []
    for m in manifests:
        try:
            starts.append(datetime.fromisoformat(str(m["started"])))
            ends.append(datetime.fromisoformat(str(m["finished"])))
        except (KeyError, ValueError, TypeError):
            return math.nan
    if not starts:
        return math.nan
    try:
        return (max(ends) - min(starts)).total_seconds()
    except TypeError:  # naive and aware times mixed
        return math.nan
