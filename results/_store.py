"""Reading study folders, with every skipped run accounted for.

Every file of a study folder is read through :class:`benchbench.store.StudyStore`, the one
owner of the layout::

    DIR/study.json
    DIR/runs/<algorithm>/seed-<seed:06d>/manifest.json   (RunManifest.to_dict())
    DIR/runs/<algorithm>/seed-<seed:06d>/records.csv     (header = RECORD_FIELDS, or the
                                                          11-column 0.1 RECORD_FIELDS_V1)

A parent folder may hold several studies (e.g. one per dataset); :func:`load_studies` finds
them all.  Only finished runs whose configuration matches the study's (dataset, objective,
test metric, fidelity, noise, budget, search settings, algorithm parameters, benchmark data)
and whose files agree with their manifest (``records_sha256``, final values and incumbent)
are loaded; every other run is listed in :attr:`Study.skipped` with the reason and its
:attr:`Skipped.kind`, and never enters a number.  The study's plan (``study.json``
``algorithms`` × ``seeds``) says which runs should be there: a planned run without a folder is
listed too (kind ``"missing"``), and :attr:`Study.completeness` counts them all, so a report
can say "99 of 100 planned runs".

What is reported for an incumbent: the runner records its seed-mean values (``incumbent_valid``,
``incumbent_test``: the mean over every recorded training run, including the one whose value
selected it — the winner's curse inflates them) and its held-out values
(``incumbent_valid_heldout``, ``incumbent_test_heldout``: the mean over the recorded runs that
did not select it).  :meth:`Study.source` says, per metric, which one tables report: the held-out
value when the study has any, else the seed mean.

Directions (whether larger is better) are never guessed from a metric's name: they are read
from the metrics ``study.json`` records, separately for the objective and the test metric;
when it records none (e.g. there is no ``study.json``), from the run manifests
(``manifest["benchmark"]["metrics"]``, a list of :meth:`benchbench.api.Metric.to_dict`), and
otherwise the study is refused with a :class:`StudyError`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from benchbench.api import Direction
from benchbench.store import STUDY_FILE, RunFiles, StoreError, StudyStore, optimum_value
from benchbench.trial import RECORD_FIELDS, RECORD_FIELDS_V1

if TYPE_CHECKING:
    from benchbench.api import Metric

__all__ = ["HELDOUT", "SEED_MEAN", "SKIP_KINDS", "AlgorithmRuns", "Completeness", "Skipped",
           "Study", "StudyError", "find_study_dirs", "load_studies", "load_study"]

#: Value sources of an incumbent (see :meth:`Study.source`).
HELDOUT = "heldout"
SEED_MEAN = "seed_mean"
_SOURCES = (HELDOUT, SEED_MEAN)
#: Why a run is not in the numbers (:attr:`Skipped.kind`): ``missing`` (planned, but no run
#: folder or no manifest), ``altered`` (its files do not agree with each other or with the
#: manifest: records_sha256, final values or incumbent, a corrupt or truncated file),
#: ``unfinished`` (still running, or failed), ``incomparable`` (another configuration than the
#: study's), ``unplanned`` (an algorithm or seed the study did not plan).
SKIP_KINDS = ("missing", "altered", "unfinished", "incomparable", "unplanned")

#: Config keys that must agree between a run and its study (besides algorithm and seed).
_SHARED_KEYS = ("benchmark", "dataset", "objective", "test_metric", "fidelity", "noise",
                "max_evals", "max_seconds")
#: Search settings (``study.json["search"]``, run config) that must agree too, when recorded.
_SEARCH_KEYS = ("cost", "repeats", "budget_crossing", "allow_test_objective", "protocol")
#: Columns the loader parses (as float64; empty fields are NaN).
_NUMERIC = ("eval", "arch_index", "fidelity", "objective", "cost_s", "sim_time_s",
            "incumbent_index", "incumbent_valid", "incumbent_test", "incumbent_valid_heldout",
            "incumbent_test_heldout")
#: Column dtypes of :meth:`Study.records` (ints that may be empty are nullable ``Int64``).
_RECORD_DTYPES: dict[str, str] = {
    "eval": "int64", "arch_id": "str", "arch_index": "Int64", "fidelity": "int64",
    "data_seed": "Int64", "objective": "float64", "cost_s": "float64",
    "sim_time_s": "float64", "incumbent_index": "Int64", "incumbent_valid": "float64",
    "incumbent_test": "float64", "incumbent_id": "str",
    "incumbent_valid_heldout": "float64", "incumbent_test_heldout": "float64"}
_IDS = ("arch_id", "incumbent_id")
#: What an empty or NaN numeric field looks like in records.csv (Python's csv writes "nan").
_NA = ["", "nan", "NaN", "-nan", "NA", "<NA>"]


class StudyError(ValueError):
    """A folder that holds no usable study (the message says what was expected)."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A run (or file) left out of every number, and why.

    Attributes:
        path: the run folder relative to the study folder (POSIX); for a missing run, where
            its folder should be.
        algorithm: its algorithm label (folder name).
        seed: its seed from the folder name (``None`` if the name is not ``seed-N``).
        reason: one line saying why it was left out.
        kind: one of :data:`SKIP_KINDS`.
    """

    path: str
    algorithm: str | None
    seed: int | None
    reason: str
    kind: str = "altered"


@dataclass(frozen=True)
class Completeness:
    """Which of a study's planned runs are in its numbers.

    Attributes:
        planned: the number of planned runs (``study.json`` ``algorithms`` × ``seeds``);
            ``None`` when the study records no plan (no ``study.json``, or no seeds in it).
        used: runs loaded (every loaded run is a planned one when there is a plan).
        missing / altered / unfinished / incomparable / unplanned: the runs left out, by
            :attr:`Skipped.kind`.
    """

    planned: int | None
    used: int
    missing: tuple[Skipped, ...] = ()
    altered: tuple[Skipped, ...] = ()
    unfinished: tuple[Skipped, ...] = ()
    incomparable: tuple[Skipped, ...] = ()
    unplanned: tuple[Skipped, ...] = ()

    @property
    def partial(self) -> bool:
        """Whether fewer runs are in the numbers than were planned."""
        return self.planned is not None and self.used < self.planned

    def text(self) -> str:
        """One line, e.g. "99 of 100 planned runs (1 missing, 0 altered, 0 unfinished,
        0 incomparable)", or "24 runs (no plan recorded: completeness unknown)"."""
        if self.planned is None:
            return (f"{self.used} runs (the study records no plan of algorithms × seeds: "
                    f"completeness unknown)")
        return (f"{self.used} of {self.planned} planned runs ({len(self.missing)} missing, "
                f"{len(self.altered)} altered, {len(self.unfinished)} unfinished, "
                f"{len(self.incomparable)} incomparable)")


@dataclass(frozen=True)
class AlgorithmRuns:
    """The comparable, finished runs of one algorithm in one study, as dense arrays.

    ``n`` runs, padded to ``L`` = the longest run's number of evaluations; entries past a run's
    end are NaN (a run's value after its end is its final value: see :mod:`results._aggregate`).
    Values are on the study's report benchmark at its :attr:`Study.report_fidelity`: seed
    means (``valid``, ``test``: over every recorded training run of the incumbent, including
    the one whose value selected it) and held-out means (``valid_heldout``, ``test_heldout``:
    over the recorded runs that did not select it; NaN when there are none).  :meth:`values`
    and :meth:`final` pick one by source (:data:`HELDOUT` or :data:`SEED_MEAN`).

    Attributes:
        algorithm: name as in the study.
        params: the algorithm's hyper-parameters.
        seeds: ``(n,)`` int64 run seeds, ascending.
        n_evals: ``(n,)`` evaluations each run made.
        valid: ``(n, L)`` incumbent's seed-mean objective (validation) value after each evaluation.
        test: ``(n, L)`` incumbent's seed-mean test-metric value after each evaluation.
        sim_time_s: ``(n, L)`` simulated clock (seconds) after each evaluation.
        incumbent_index: ``(n,)`` index of the final incumbent in the space (-1 if none, or if
            the space is not enumerable).
        wall_s: ``(n,)`` real seconds each run took.
        transfer: per run, ``{dataset: {metric: value}}`` of the final incumbent on other
            datasets, when the runner recorded it (``manifest.result["transfer"]``), else ``{}``.
        incumbent_id: ``(n,)`` str, canonical id of the final incumbent ("" if none).  Runs
            of 0.1 have no ``incumbent_id`` column: their manifest's ``result["incumbent_id"]``
            is used.
        enumerable: whether every record of these runs has an ``arch_index`` (the space is
            enumerable); see :attr:`incumbent_key`.
        valid_heldout: ``(n, L)`` incumbent's held-out objective value after each evaluation
            (NaN where not recorded: runs written before it existed, seed-mean noise, a cell
            with one recorded seed).
        test_heldout: ``(n, L)`` the same for the test metric.
        distinct_cells: ``(n,)`` distinct cells each run evaluated (``manifest.result
            ["distinct_cells"]``; NaN when not recorded).
        stopped: ``(n,)`` bool, whether the run stopped before an evaluation that would have
            crossed the time budget (``manifest.result["stopped"]``, budget crossing
            ``drop``).
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
    incumbent_id: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.str_))
    enumerable: bool = True
    # Not recorded (None): filled by __post_init__ with NaN / no stop, so always arrays.
    valid_heldout: np.ndarray = None  # type: ignore[assignment]
    test_heldout: np.ndarray = None  # type: ignore[assignment]
    distinct_cells: np.ndarray = None  # type: ignore[assignment]
    stopped: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        # not recorded: NaN of the seed-mean arrays' shape (and NaN cells, no stop)
        for name, like in (("valid_heldout", self.valid), ("test_heldout", self.test)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.full(np.shape(like), np.nan))
        if self.distinct_cells is None:
            object.__setattr__(self, "distinct_cells", np.full(self.seeds.size, np.nan))
        if self.stopped is None:
            object.__setattr__(self, "stopped", np.zeros(self.seeds.size, dtype=bool))

    @property
    def n(self) -> int:
        return int(self.seeds.size)

    def values(self, metric: str, source: str) -> np.ndarray:
        """``(n, L)`` the incumbent's ``metric`` (``"valid"`` or ``"test"``) after each
        evaluation, from ``source`` (:data:`HELDOUT` or :data:`SEED_MEAN`)."""
        if metric not in ("valid", "test"):
            raise ValueError(f"metric must be 'valid' or 'test', got {metric!r}")
        if source not in _SOURCES:
            raise ValueError(f"source must be one of {_SOURCES}, got {source!r}")
        a = (self.valid if metric == "valid" else self.test) if source == SEED_MEAN else (
            self.valid_heldout if metric == "valid" else self.test_heldout)
        assert a is not None
        return a

    def final(self, metric: str, source: str) -> np.ndarray:
        """``(n,)`` the final incumbent's ``metric`` from ``source`` (see :meth:`values`)."""
        return self._last(self.values(metric, source))

    @property
    def incumbent_key(self) -> np.ndarray:
        """``(n,)`` the final incumbents as keys: ``incumbent_index`` (int64) when the space is
        enumerable, else ``incumbent_id`` (str)."""
        key: np.ndarray = self.incumbent_index if self.enumerable else self.incumbent_id
        return key

    def _last(self, a: np.ndarray) -> np.ndarray:
        if self.n == 0:
            return np.empty(0)
        last: np.ndarray = a[np.arange(self.n), np.maximum(self.n_evals - 1, 0)]
        return last

    @property
    def final_valid(self) -> np.ndarray:
        """``(n,)`` final incumbent's seed-mean validation value."""
        return self._last(self.valid)

    @property
    def final_test(self) -> np.ndarray:
        """``(n,)`` final incumbent's seed-mean test value."""
        return self._last(self.test)

    @property
    def final_valid_heldout(self) -> np.ndarray:
        """``(n,)`` final incumbent's held-out validation value (NaN where not recorded)."""
        return self.final("valid", HELDOUT)

    @property
    def final_test_heldout(self) -> np.ndarray:
        """``(n,)`` final incumbent's held-out test value (NaN where not recorded)."""
        return self.final("test", HELDOUT)

    @property
    def final_sim_time_s(self) -> np.ndarray:
        """``(n,)`` simulated seconds each run used in all."""
        return self._last(self.sim_time_s)


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A loaded run's records file, as it was read (for :meth:`Study.records`)."""

    run: RunFiles
    sha256: str


@dataclass
class Study:
    """One study: its specification (``study.json``), its loaded runs and what was skipped.

    Attributes:
        path: the study folder.
        spec: the parsed ``study.json``, migrated to the current schema (if the folder had
            none: a specification rebuilt from the configuration most finished runs share,
            and ``notes`` says so).
        runs: algorithm -> its comparable runs, in the order of ``spec["algorithms"]``.
        skipped: every run left out, with the reason.
        maximize: whether larger values of the objective (``valid``) are better.
        data_sha256: sha256 over what was read, in path order: ``study.json`` and each
            manifest (path, NUL, bytes) and each records file (path, NUL, its sha256 in hex).
        label: short name for tables (the dataset, or the relative path when ambiguous).
        notes: remarks on how the study was read.
        elapsed_s: real seconds from the first loaded run's start to the last one's finish
            (NaN when the manifests do not say).
        maximize_test: whether larger values of the test metric (``test``) are better (its
            own recorded direction, not the objective's).
        enumerable: whether every loaded record has an ``arch_index`` (the space is
            enumerable); incumbents are keyed by index then, by id otherwise.
        planned: the planned runs, ``(algorithm, seed)`` for every algorithm × seed of
            ``study.json``; ``None`` when it records no plan.
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
    maximize_test: bool = True
    enumerable: bool = True
    planned: tuple[tuple[str, int], ...] | None = None
    _files: dict[str, tuple[_Loaded, ...]] = field(default_factory=dict, repr=False,
                                                   compare=False)

    @property
    def dataset(self) -> str:
        return str(self.spec.get("dataset") or "")

    @property
    def objective(self) -> str:
        """Name of the objective metric (a validation metric, as recorded)."""
        return str(self.spec.get("objective") or "")

    @property
    def test_metric(self) -> str:
        """Name of the test metric ("" if the study has none)."""
        return str(self.spec.get("test_metric") or "")

    @property
    def fidelity(self) -> int | None:
        """The search fidelity (epochs): what the optimizer's evaluations were trained for."""
        f = self.spec.get("fidelity")
        return None if f is None else int(f)

    @property
    def report_fidelity(self) -> int | None:
        """The fidelity (epochs) of every reported seed-mean value (``incumbent_valid``,
        ``incumbent_test``, the optimum): the search fidelity unless the study reports
        another one (e.g. NB201's paper protocol: search at 12 epochs, report at 200)."""
        f = (self.spec.get("search") or {}).get("report_fidelity")
        return self.fidelity if f is None else int(f)

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self.runs)

    @property
    def budget(self) -> dict[str, Any]:
        return dict(self.spec.get("budget") or {})

    @property
    def directions(self) -> dict[str, bool]:
        """``{"valid": maximize, "test": maximize_test}``: whether larger is better for the
        objective and for the test metric."""
        return {"valid": self.maximize, "test": self.maximize_test}

    def maximizes(self, metric: str) -> bool:
        """Whether larger values are better for ``metric``: ``"valid"`` (the objective) or
        ``"test"`` (the test metric)."""
        if metric not in ("valid", "test"):
            raise ValueError(f"metric must be 'valid' or 'test', got {metric!r}")
        return self.maximize if metric == "valid" else self.maximize_test

    # ------------------------------------------------------------- what is reported
    def has_heldout(self, metric: str) -> bool:
        """Whether any loaded record holds a held-out value of ``metric`` (``"valid"`` or
        ``"test"``)."""
        self.maximizes(metric)  # validates the name
        return any(bool(np.any(~np.isnan(r.values(metric, HELDOUT))))
                   for r in self.runs.values())

    def source(self, metric: str) -> str:
        """Which value tables report for ``metric``: :data:`HELDOUT` (the mean over the
        incumbent's recorded runs that did not select it, free of the winner's curse) when the
        study has any held-out value of it, else :data:`SEED_MEAN`."""
        return HELDOUT if self.has_heldout(metric) else SEED_MEAN

    def source_label(self, metric: str, source: str | None = None) -> str:
        """What a column of ``metric`` from ``source`` (default :meth:`source`) holds, in
        words: "held-out seeds", "seed mean incl. selecting run", or (noise ``mean``: the
        optimizer saw the seed mean itself) "seed mean (seen by the optimizer)"."""
        source = self.source(metric) if source is None else source
        if source == HELDOUT:
            return "held-out seeds"
        if source != SEED_MEAN:
            raise ValueError(f"source must be one of {_SOURCES}, got {source!r}")
        if self.spec.get("noise") == "mean":
            return "seed mean (seen by the optimizer)"
        return "seed mean incl. selecting run"

    # ------------------------------------------------------------------ completeness
    def _kind(self, kind: str) -> tuple[Skipped, ...]:
        return tuple(k for k in self.skipped if k.kind == kind)

    @property
    def missing(self) -> tuple[Skipped, ...]:
        """Planned runs with no run folder or no manifest."""
        return self._kind("missing")

    @property
    def altered(self) -> tuple[Skipped, ...]:
        """Runs whose files do not agree with their manifest (records_sha256, final values,
        incumbent) or are corrupt."""
        return self._kind("altered")

    @property
    def unfinished(self) -> tuple[Skipped, ...]:
        """Runs still running, or failed."""
        return self._kind("unfinished")

    @property
    def incomparable(self) -> tuple[Skipped, ...]:
        """Runs made with another configuration than the study's."""
        return self._kind("incomparable")

    @property
    def completeness(self) -> Completeness:
        """How many planned runs are in the numbers, and why the others are not."""
        return Completeness(None if self.planned is None else len(self.planned),
                            sum(r.n for r in self.runs.values()), self.missing, self.altered,
                            self.unfinished, self.incomparable, self._kind("unplanned"))

    def planned_runs(self, algorithm: str) -> int | None:
        """How many runs of ``algorithm`` the study planned (``None``: no plan recorded)."""
        if self.planned is None:
            return None
        return sum(1 for a, _ in self.planned if a == algorithm)

    def metric_info(self, which: str = "objective") -> Metric | None:
        """The recorded :class:`~benchbench.api.Metric` (split, direction, unit) of the
        objective (``"objective"``) or of the test metric (``"test_metric"``); ``None`` when
        ``study.json`` does not record it."""
        if which not in ("objective", "test_metric"):
            raise ValueError(f"which must be 'objective' or 'test_metric', got {which!r}")
        name = self.objective if which == "objective" else self.test_metric
        return StudyStore(self.path).metric(name, self.spec) if name else None

    def optimum(self, which: str = "objective") -> float:
        """The benchmark's true seed-mean optimum of the objective (``"objective"``) or of the
        test metric (``"test_metric"``) at :attr:`report_fidelity`; NaN when ``study.json`` does
        not record it."""
        if which not in ("objective", "test_metric"):
            raise ValueError(f"which must be 'objective' or 'test_metric', got {which!r}")
        return optimum_value(self.spec, which)

    def records(self) -> pd.DataFrame:
        """Every loaded run's records, one row per evaluation, as one DataFrame.

        Rows are ordered by algorithm (as in :attr:`runs`), seed, then ``eval``.  Columns:
        ``algorithm`` (str) and ``seed`` (int64), then :data:`benchbench.trial.RECORD_FIELDS`:

        - ``eval`` (int64): 0-based evaluation counter of the run.
        - ``arch_id`` (str): canonical id of the evaluated cell.
        - ``arch_index`` (Int64): its index in the space; NA for a space that is not
          enumerable.
        - ``fidelity`` (int64): epochs of this evaluation.
        - ``data_seed`` (Int64): the recorded training run that answered (NA: the seed mean,
          ``noise="mean"``).
        - ``objective`` (float64): what the optimizer saw: the objective metric
          (:attr:`objective`, a validation-split metric, see :meth:`metric_info`) of that
          one training run, at the row's ``fidelity``.
        - ``cost_s`` (float64): simulated seconds of this evaluation; ``sim_time_s``
          (float64): the simulated clock after it.
        - ``incumbent_index`` (Int64), ``incumbent_id`` (str): the best cell so far by what
          the optimizer saw (NA / "" before the first finite objective; ``incumbent_id`` is
          "" in every row of a 0.1 run, which did not record it; ``incumbent_index`` is NA
          for a space that is not enumerable).
        - ``incumbent_valid`` / ``incumbent_test`` (float64): the incumbent's seed-mean
          objective (validation split) and test-metric (:attr:`test_metric`, test split)
          values on the report benchmark at :attr:`report_fidelity`.
        - ``incumbent_valid_heldout`` / ``incumbent_test_heldout`` (float64): the same, mean
          over the recorded seeds that did not select the incumbent (free of the winner's
          curse; NaN when there are none, and in runs written before they existed).
        - any other column of ``RECORD_FIELDS``: as pandas infers it (numbers: float64).

        A column a run's layout lacks (0.1 runs: ``incumbent_id``) is "" for an id and NaN
        otherwise.  Files are read again through the store and must be the bytes that were loaded.

        Raises:
            StudyError: a records file changed since the study was loaded.
        """
        cols = ["algorithm", "seed", *RECORD_FIELDS]
        store = StudyStore(self.path)
        groups: dict[tuple[str, ...], list[tuple[str, int, bytes]]] = {}
        for alg, r in self.runs.items():
            for ld, seed in zip(self._files.get(alg, ()), r.seeds.tolist()):
                try:
                    fields, body, raw = store.read_records_raw(ld.run)
                except StoreError as e:
                    raise StudyError(f"{ld.run.rel}: {e} (it changed since the study was "
                                     f"loaded: load it again)") from None
                if hashlib.sha256(raw).hexdigest() != ld.sha256:
                    raise StudyError(f"{ld.run.rel}/records.csv changed since the study was "
                                     f"loaded: load it again")
                groups.setdefault(fields, []).append((alg, seed, body))
        frames = [_records_frame(fields, runs) for fields, runs in groups.items()]
        df: pd.DataFrame
        if not frames:
            empty = {"algorithm": "str", "seed": "int64", **_RECORD_DTYPES}
            df = pd.DataFrame({c: pd.Series(dtype=empty.get(c, "float64")) for c in cols})
        elif len(frames) == 1:
            df = frames[0][cols]
        else:  # runs of both layouts (0.1 and current): back to algorithm, seed, eval order
            df = pd.concat(frames, ignore_index=True)
            order = df["algorithm"].map({a: i for i, a in enumerate(self.runs)}).to_numpy()
            df = df.iloc[np.lexsort((df["eval"].to_numpy(), df["seed"].to_numpy(), order))]
            df = df.reset_index(drop=True)[cols]
        return df

    def summary(self) -> pd.DataFrame:
        """The per-algorithm summary that :func:`results.write_summary` writes, for this study.

        One row per algorithm (columns :data:`results.SUMMARY_COLUMNS`): ``study``
        (:attr:`label`), ``algorithm``, ``runs`` (loaded runs), ``planned`` (planned runs);
        ``valid_values`` (what ``valid_*`` holds: :meth:`source_label`), ``valid_n``,
        ``valid_mean`` / ``valid_std`` (ddof 1) / ``valid_median`` of the final incumbent's
        reported objective value (:attr:`objective`, validation split: held-out seeds when the
        study has them, see :meth:`source`) and ``valid_seedmean_*`` of its seed mean incl.
        the selecting run; the same ``test_*`` for the test metric (:attr:`test_metric`, test
        split); ``distinct_cells_mean``.  All at :attr:`report_fidelity`, NaNs left out.
        """
        from results._analysis import summary_frame

        return summary_frame([self])


def _records_frame(fields: tuple[str, ...], runs: list[tuple[str, int, bytes]]
                   ) -> pd.DataFrame:
    """Records of many runs with one header layout, parsed in one pass, typed."""
    body = b"".join(b for _, _, b in runs)
    dtypes = {c: _RECORD_DTYPES[c] for c in fields if c in _RECORD_DTYPES}
    df = pd.read_csv(io.BytesIO(body), header=None, names=list(fields), dtype=dtypes,
                     keep_default_na=False, engine="c",
                     na_values={c: _NA for c in fields if c not in _IDS})
    if fields == RECORD_FIELDS_V1:
        # 0.1 wrote -1 as the incumbent index before the first finite objective
        df.loc[df["incumbent_index"] == -1, "incumbent_index"] = pd.NA
    for c in RECORD_FIELDS:
        if c not in df:
            df[c] = (pd.Series("", index=df.index, dtype="str") if c in _IDS
                     else pd.Series(np.nan, index=df.index, dtype="float64"))
    lens = [b.count(b"\n") for _, _, b in runs]
    df.insert(0, "seed", np.repeat(np.array([s for _, s, _ in runs], np.int64), lens))
    df.insert(0, "algorithm", pd.Series(np.repeat(np.array([a for a, _, _ in runs], object),
                                                  lens), dtype="str"))
    return df


# ----------------------------------------------------------------------------------- discovery
def find_study_dirs(root: str | Path) -> list[Path]:
    """Study folders at or below ``root``: those with a ``study.json``, or with a ``runs/``
    folder of ``<algorithm>/seed-*`` runs when none has a ``study.json``.  Sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise StudyError(f"results folder {str(root)!r} does not exist or is not a folder")
    found = sorted({p.parent for p in root.rglob(STUDY_FILE)})
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
    run: RunFiles
    manifest: dict[str, Any]
    fields: tuple[str, ...] = RECORD_FIELDS
    body: bytes = b""
    n_lines: int = 0
    sha256: str = ""
    final_id: str | None = None

    @property
    def algorithm(self) -> str:
        return self.run.label

    @property
    def seed(self) -> int | None:
        return self.run.seed

    def skip(self, reason: str, kind: str = "altered") -> Skipped:
        return Skipped(self.run.rel, self.run.label, self.run.seed, reason, kind)


def _read_manifests(store: StudyStore, runs: Iterable[RunFiles], hasher: Any,
                    skipped: list[Skipped]) -> list[_Candidate]:
    cands: list[_Candidate] = []
    for run in runs:
        try:
            raw, manifest = store.read_manifest(run)
        except StoreError as e:
            kind = "missing" if not run.manifest.is_file() else "altered"
            skipped.append(Skipped(run.rel, run.label, run.seed, str(e), kind))
            continue
        c = _Candidate(run, manifest)
        status = manifest.get("status")
        if status == "running":
            skipped.append(c.skip("still running (status 'running')", "unfinished"))
            continue
        if status == "failed":
            err = str(manifest.get("error") or "no error message").strip().splitlines()
            skipped.append(c.skip(f"failed: {err[-1] if err else ''}"[:300], "unfinished"))
            continue
        if status != "done":
            skipped.append(c.skip(f"unknown status {status!r} (allowed: 'running', 'failed', "
                                  f"'done')"))
            continue
        _update(hasher, run.rel, raw)
        cands.append(c)
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
        search = spec.get("search")
        if isinstance(search, Mapping):  # studies written since the runner has settings
            report = search.get("report_benchmark")
            ref.update({k: search.get(k) for k in _SEARCH_KEYS},
                       report_benchmark=report.get("name") if isinstance(report, Mapping)
                       else report,
                       report_fidelity=search.get("report_fidelity") or spec.get("fidelity"))
        return ref, {a: dict(p or {}) for a, p in (spec.get("algorithms") or {}).items()}

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
    if any(k in cfg for k in _SEARCH_KEYS):
        out.update({k: cfg.get(k) for k in _SEARCH_KEYS},
                   report_benchmark=cfg.get("report_benchmark"),
                   report_fidelity=cfg.get("report_fidelity") or cfg.get("fidelity"))
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal, counting two float NaNs as equal."""
    return bool(a == b) or (isinstance(a, float) and isinstance(b, float)
                            and math.isnan(a) and math.isnan(b))


def _config_mismatch(c: _Candidate, ref: Mapping[str, Any], params: Mapping[str, Any],
                     seeds: set[int] | None) -> tuple[str, str] | None:
    """(reason, kind) why run ``c`` does not belong to the study, or None."""
    cfg = c.manifest.get("config") or {}
    label = cfg.get("label", cfg.get("algorithm"))
    if label not in (None, c.algorithm):
        return f"manifest label {label!r} != folder name {c.algorithm!r}", "altered"
    if c.seed is None or (cfg.get("seed") is not None and cfg.get("seed") != c.seed):
        return f"run seed {cfg.get('seed')!r} does not match folder name", "altered"
    if seeds is not None and c.seed not in seeds:
        return f"seed {c.seed} is not among the study's seeds", "unplanned"
    if c.algorithm not in params:
        return (f"algorithm {c.algorithm!r} is not among the study's algorithms "
                f"{sorted(params)}", "unplanned")
    run = _run_shared(c.manifest)
    for k, want in ref.items():
        if want is None and k in ("benchmark", "data_sha256"):
            continue
        if not _same(run.get(k), want):
            return f"incomparable: {k} {run.get(k)!r} != study's {want!r}", "incomparable"
    want = dict(params[c.algorithm])
    name = want.pop("algorithm", c.algorithm)
    if cfg.get("algorithm") not in (None, name):
        return (f"incomparable: algorithm {cfg.get('algorithm')!r} != study's {name!r}",
                "incomparable")
    got = cfg.get("params") or {}
    if got != want:
        return f"incomparable: params {got!r} != study's {want!r}", "incomparable"
    return None


def _direction(store: StudyStore, spec: Mapping[str, Any], name: str, role: str,
               has_spec: bool, cands: list[_Candidate], notes: list[str]) -> bool:
    """Whether larger values of metric ``name`` (the study's ``role``) are better: as
    ``study.json`` records it, else as the run manifests record it, else refused."""
    try:
        return store.maximize(name, spec)
    except StoreError:
        pass
    where = ("there is no study.json" if not has_spec
             else f"study.json records no direction for the {role} {name!r}")
    seen: dict[str, str] = {}
    for c in cands:
        bench = c.manifest.get("benchmark")
        metrics = bench.get("metrics") if isinstance(bench, Mapping) else None
        for m in metrics if isinstance(metrics, list) else ():
            if isinstance(m, Mapping) and m.get("name") == name:
                try:
                    seen.setdefault(Direction(m.get("direction")).value, c.run.rel)
                except ValueError:
                    continue
    if len(seen) > 1:
        raise StudyError(f"{str(store.path)!r}: {where}, and the run manifests disagree on "
                         f"it ({'; '.join(f'{d!r} in {p}' for d, p in seen.items())})")
    if not seen:
        raise StudyError(f"{str(store.path)!r}: {where}, and no run manifest records the "
                         f"direction of {name!r}; refusing to guess whether larger is better")
    maximize = next(iter(seen)) == Direction.MAXIMIZE.value
    notes.append(f"{where}: the direction of the {role} {name!r} "
                 f"({'maximised' if maximize else 'minimised'}) is read from the run "
                 f"manifests")
    return maximize


def _test_objective_note(store: StudyStore, spec: Mapping[str, Any]) -> str | None:
    """The note every report carries when the study let the optimizer see test images."""
    if not (spec.get("search") or {}).get("allow_test_objective"):
        return None
    obj = store.metric(str(spec.get("objective")), spec)
    test = store.metric(str(spec.get("test_metric")), spec) if spec.get("test_metric") else None
    if obj is not None and obj.split is not None:
        shares = obj.split.is_test_data or (test is not None and test.split is not None
                                            and obj.split.shares_images(test.split))
        if not shares:
            return None
    split = f" (split {obj.split.value!r})" if obj is not None and obj.split else ""
    return (f"the objective {spec.get('objective')!r}{split} shares images with the test "
            f"split (allow_test_objective): the optimizer saw test-image numbers, so the "
            f"test values are not held-out estimates")


def _read_bodies(store: StudyStore, cands: list[_Candidate], hasher: Any,
                 skipped: list[Skipped]) -> list[_Candidate]:
    """Read every candidate's records through the store and hash them into ``hasher`` in
    path order."""
    kept = []
    for c in cands:
        try:
            c.fields, body, raw = store.read_records_raw(c.run)
        except StoreError as e:
            skipped.append(c.skip(str(e)))
            continue
        c.sha256 = hashlib.sha256(raw).hexdigest()
        c.body, c.n_lines = body, body.count(b"\n")
        c.final_id = _final_id(c)
        _update(hasher, c.run.rel, c.sha256.encode())  # each file is hashed once
        kept.append(c)
    return kept


def _update(hasher: Any, name: str, raw: bytes) -> None:
    """Feed ``name NUL raw`` to ``hasher`` (without copying ``raw``)."""
    hasher.update(name.encode())
    hasher.update(b"\0")
    hasher.update(raw)


#: One run's records: column name -> (n,) float64 array.
_Records = dict[str, np.ndarray]


def _parse(body: bytes, fields: tuple[str, ...]) -> _Records:
    """The numeric columns of records.csv rows (no header) as float64 arrays (a column the
    layout lacks, e.g. the held-out values of 0.1 runs, is NaN)."""
    if not body:
        return {k: np.empty(0) for k in _NUMERIC}
    cols = [k for k in _NUMERIC if k in fields]
    df = pd.read_csv(io.BytesIO(body), header=None, names=list(fields),
                     usecols=cols, dtype=dict.fromkeys(cols, "float64"),
                     engine="c", na_filter=True)
    n = len(df)
    return {k: df[k].to_numpy() if k in fields else np.full(n, np.nan) for k in _NUMERIC}


def _same_float(a: float, b: Any) -> bool:
    try:
        b = float(b)
    except (TypeError, ValueError):
        return False
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _final_id(c: _Candidate) -> str | None:
    """The last record's ``incumbent_id`` (0.1 runs: the manifest's), or None if the last
    line is not a row of the header's width."""
    if "incumbent_id" not in c.fields:
        return str((c.manifest.get("result") or {}).get("incumbent_id") or "")
    body = c.body
    end = len(body) - 1 if body.endswith(b"\n") else len(body)
    if body[end - 1:end] == b"\r":
        end -= 1
    last = body[body.rfind(b"\n", 0, end) + 1:end].decode("utf-8", "replace")
    row = last.split(",") if '"' not in last else next(csv.reader([last]), [])
    return row[c.fields.index("incumbent_id")] if len(row) == len(c.fields) else None


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
    if not np.all(np.isfinite(rec["fidelity"])):
        return "corrupt records.csv: a fidelity is empty or not a number"
    t = rec["sim_time_s"]
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        return "corrupt records.csv: sim_time_s is not a finite non-decreasing clock"
    for col, key in (("incumbent_valid", "final_valid"), ("incumbent_test", "final_test"),
                     ("incumbent_valid_heldout", "final_valid_heldout"),
                     ("incumbent_test_heldout", "final_test_heldout")):
        last, want = float(rec[col][-1]), result.get(key)
        if want is not None and not _same_float(last, want):
            return f"corrupt records.csv: final {col} {last!r} != manifest {key} {want!r}"
    inc_id = c.final_id
    if inc_id is None:
        return "corrupt records.csv: the last row does not have the header's columns"
    want_id = result.get("incumbent_id")
    if "incumbent_id" in c.fields and want_id is not None and str(want_id) != inc_id:
        return (f"corrupt records.csv: final incumbent_id {inc_id!r} != manifest "
                f"incumbent_id {want_id!r}")
    want_sha = c.manifest.get("records_sha256")
    if want_sha and want_sha != c.sha256:
        return (f"corrupt records.csv: sha256 {c.sha256[:12]}... != the manifest's "
                f"records_sha256 {str(want_sha)[:12]}... (changed after the run)")
    return None


def _parse_all(cands: list[_Candidate], skipped: list[Skipped]
               ) -> list[tuple[_Candidate, _Records]]:
    """Parse all bodies of one header layout in one pass (fast); on a parse error fall back
    to one file at a time to find the corrupt ones."""
    out: list[tuple[_Candidate, _Records]] = []
    groups: dict[tuple[str, ...], list[_Candidate]] = {}
    for c in cands:
        groups.setdefault(c.fields, []).append(c)
    for fields, group in groups.items():
        try:
            big = _parse(b"".join(c.body for c in group), fields)
            if len(big["eval"]) != sum(c.n_lines for c in group):
                raise ValueError("row count")
            start = 0
            for c in group:
                out.append((c, {k: v[start:start + c.n_lines] for k, v in big.items()}))
                start += c.n_lines
        except (ValueError, pd.errors.ParserError):
            for c in group:
                try:
                    rec = _parse(c.body, fields)
                    if len(rec["eval"]) != c.n_lines:
                        raise ValueError(f"{len(rec['eval'])} rows parsed from {c.n_lines} "
                                         f"lines")
                except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
                    msg = str(e).strip().splitlines()
                    skipped.append(c.skip(f"corrupt records.csv ({msg[0] if msg else e})"))
                    continue
                out.append((c, rec))
    good = []
    for c, rec in out:
        why = _check_run(rec, c)
        if why:
            skipped.append(c.skip(why))
        else:
            good.append((c, rec))
    return good


def _stack(alg: str, params: Mapping[str, Any],
           runs: list[tuple[_Candidate, _Records]]) -> AlgorithmRuns:
    runs = sorted(runs, key=lambda r: r[0].seed or 0)
    n = len(runs)
    lens = np.array([len(rec["eval"]) for _, rec in runs], dtype=np.int64)
    width = int(lens.max()) if n else 0
    arrays = {k: np.full((n, width), np.nan) for k in (
        "incumbent_valid", "incumbent_test", "sim_time_s", "incumbent_valid_heldout",
        "incumbent_test_heldout")}
    for i, (_, rec) in enumerate(runs):
        for k, a in arrays.items():
            a[i, :lens[i]] = rec[k]
    inc = np.array([rec["incumbent_index"][-1] for _, rec in runs])
    inc = np.where(np.isfinite(inc), inc, -1).astype(np.int64)
    wall = np.array([math.nan if c.manifest.get("wall_s") is None else float(c.manifest["wall_s"])
                     for c, _ in runs])
    transfer = tuple(dict((c.manifest.get("result") or {}).get("transfer") or {})
                     for c, _ in runs)
    ids = np.array([c.final_id or "" for c, _ in runs], dtype=np.str_)
    enumerable = all(bool(np.isfinite(rec["arch_index"]).all()) for _, rec in runs)
    results = [c.manifest.get("result") or {} for c, _ in runs]
    distinct = np.array([math.nan if r.get("distinct_cells") is None
                         else float(r["distinct_cells"]) for r in results])
    stopped = np.array([bool(r.get("stopped")) for r in results], dtype=bool)
    return AlgorithmRuns(alg, dict(params), np.array([c.seed for c, _ in runs], np.int64), lens,
                         arrays["incumbent_valid"], arrays["incumbent_test"],
                         arrays["sim_time_s"], inc, wall, transfer, ids, enumerable,
                         arrays["incumbent_valid_heldout"], arrays["incumbent_test_heldout"],
                         distinct, stopped)


def _rebuilt_spec(ref: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A specification from the reference configuration of a folder without study.json."""
    return {"dataset": ref.get("dataset"), "objective": ref.get("objective"),
            "test_metric": ref.get("test_metric"), "fidelity": ref.get("fidelity"),
            "noise": ref.get("noise"), "budget": {"max_evals": ref.get("max_evals"),
                                                  "max_seconds": ref.get("max_seconds")},
            "algorithms": dict(params), "benchmark": {"name": ref.get("benchmark"),
                                                      "data_sha256": ref.get("data_sha256")}}


def load_study(path: str | Path) -> Study:
    """Load one study folder (see the module docstring).

    Raises:
        StudyError: ``path`` is not a study folder, its ``study.json`` is unreadable, it
            names no objective, or the direction of its objective or test metric is recorded
            neither in ``study.json`` nor in the run manifests.
    """
    path = Path(path)
    store = StudyStore(path)
    try:
        spec = store.read_spec()
    except StoreError as e:
        raise StudyError(str(e)) from None
    has_spec = store.exists()
    run_files = list(store.iter_runs())
    if not has_spec and not run_files:
        raise StudyError(f"{str(path)!r} is not a study folder: no {STUDY_FILE} and no "
                         f"runs/<algorithm>/<run>/ folders")
    hasher = hashlib.sha256()
    if has_spec:
        _update(hasher, STUDY_FILE, store.spec_bytes())
    skipped: list[Skipped] = []
    notes: list[str] = []
    cands = _read_manifests(store, run_files, hasher, skipped)
    ref, params = _reference(spec if has_spec else {}, cands, notes)
    if not has_spec:
        spec = _rebuilt_spec(ref, params)
    seeds = set(spec["seeds"]) if spec.get("seeds") else None
    ok = []
    for c in cands:
        why = _config_mismatch(c, ref, params, seeds)
        if why:
            skipped.append(c.skip(*why))
        else:
            ok.append(c)
    objective, test_metric = spec.get("objective"), spec.get("test_metric")
    if not objective:
        raise StudyError(f"{str(path)!r}: the study names no objective metric (study.json "
                         f"'objective', or the runs' config)")
    maximize = _direction(store, spec, str(objective), "objective", has_spec, ok, notes)
    if test_metric:
        maximize_test = _direction(store, spec, str(test_metric), "test metric", has_spec, ok,
                                   notes)
    else:
        maximize_test = maximize
        notes.append("the study has no test metric: test values are NaN")
    note = _test_objective_note(store, spec)
    if note:
        notes.append(note)
    ok = _read_bodies(store, ok, hasher, skipped)
    parsed = _parse_all(ok, skipped)
    by_alg: dict[str, list[tuple[_Candidate, _Records]]] = {}
    for c, rec in parsed:
        by_alg.setdefault(c.algorithm, []).append((c, rec))
    order = list(params) + sorted(set(by_alg) - set(params))
    runs = {a: _stack(a, params.get(a, {}), by_alg[a]) for a in order if a in by_alg}
    files = {a: tuple(_Loaded(c.run, c.sha256)
                      for c, _ in sorted(by_alg[a], key=lambda r: r[0].seed or 0))
             for a in runs}
    for a in order:
        if a not in runs and a in params:
            notes.append(f"algorithm {a!r} has no usable run")
    planned = None
    if has_spec and seeds is not None and params:
        planned = tuple((a, s) for a in params for s in sorted(seeds))
        found = {(r.label, r.seed) for r in run_files}
        plan = set(planned)
        skipped[:] = [k if k.kind != "missing" or (k.algorithm, k.seed) in plan
                      else Skipped(k.path, k.algorithm, k.seed, k.reason, "unplanned")
                      for k in skipped]
        for a, s in planned:
            if (a, s) not in found:
                skipped.append(Skipped(f"runs/{a}/seed-{s:06d}", a, s,
                                       "planned in study.json, but there is no run folder",
                                       "missing"))
    skipped.sort(key=lambda s: s.path)
    return Study(path=path, spec=spec, runs=runs, skipped=skipped, maximize=maximize,
                 data_sha256=hasher.hexdigest(), label=str(spec.get("dataset") or path.name),
                 notes=notes, elapsed_s=_elapsed([c.manifest for c, _ in parsed]),
                 maximize_test=maximize_test,
                 enumerable=all(r.enumerable for r in runs.values()), planned=planned,
                 _files=files)


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
