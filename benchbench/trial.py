"""Records exchanged between the runner, the optimizers and the run store."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["EXTRA_FIELDS", "EXTRA_METRIC_PREFIX", "RECORD_FIELDS", "RECORD_FIELDS_V1",
           "RunManifest", "TrialInfo", "TrialRecord", "TrialValue"]


@dataclass(frozen=True, slots=True)
class TrialInfo:
    """What an optimizer asks to evaluate.

    Attributes:
        arch: an arch record of the run's search space.
        fidelity: epochs to train; ``None`` for the run's fidelity.
        trial_id: the optimizer's own counter (0, 1, ...).
        resume: continue the cell's training from the highest epoch this run has already
            trained it to (pause and resume): only the extra epochs are charged (the table's
            cumulative cost at ``fidelity`` minus that at the earlier epoch) and the record
            says from which epoch it resumed.  ``False``: trained from scratch (charged the
            full cost).  Only for optimizers with ``Capabilities(multi_fidelity=True)``.
    """

    arch: Any
    fidelity: int | None = None
    trial_id: int = 0
    resume: bool = False


@dataclass(frozen=True, slots=True)
class TrialValue:
    """What an optimizer is told: the VALIDATION objective and the cost, nothing else.

    Attributes:
        objective: the run's objective metric (a validation metric) at the trial's fidelity;
            NaN if the source has no value.
        cost_s: simulated seconds the evaluation took.
        maximize: whether larger objective values are better.
        metrics: the run's recorded metrics (``record_metrics`` and every constrained
            metric; validation and cost metrics only, never a test metric) at the trial's
            fidelity: name -> value (NaN where the source has none).
        directions: name -> ``True`` if larger is better, for every key of ``metrics``.
        feasible: whether the evaluation meets every constraint of the run (``True`` when
            the run has none).
        fidelity: the epochs the objective was read at.
    """

    objective: float
    cost_s: float
    maximize: bool = True
    metrics: Mapping[str, float] = field(default_factory=dict)
    directions: Mapping[str, bool] = field(default_factory=dict)
    feasible: bool = True
    fidelity: int | None = None

    def score(self) -> float:
        """The objective oriented so that larger is better (NaN stays NaN)."""
        return self.objective if self.maximize else -self.objective


#: Columns of a run's ``records.csv``, one row per evaluation (study schema 2).
RECORD_FIELDS: tuple[str, ...] = (
    "eval",             # 0-based evaluation counter within the run
    "arch_id",          # canonical cell id (NB201: official cell string)
    "arch_index",       # index in the space; "" for a space that is not enumerable
    "fidelity",         # epochs
    "data_seed",        # recorded run that answered ("" for the seed mean)
    "objective",        # what the optimizer saw (validation metric, that seed)
    "cost_s",           # simulated seconds of this evaluation
    "sim_time_s",       # simulated clock after this evaluation
    "incumbent_index",  # index of the best by what the optimizer saw so far ("" if none)
    "incumbent_valid",  # incumbent's seed-mean value of the objective metric
    "incumbent_test",   # incumbent's seed-mean value of the test metric (reporting only)
    "incumbent_id",     # id of the incumbent ("" before the first finite objective)
    "incumbent_valid_heldout",  # incumbent's objective metric, mean over the recorded seeds
                                # that did not select it (NaN when there are none)
    "incumbent_test_heldout",   # the same for the test metric (reporting only)
)

#: Fixed leading columns of a run's optional ``evals.csv`` (one row per evaluation, same
#: order as ``records.csv``), written when the run records more than the objective: metrics
#: (``record_metrics`` / constraints), simulated parallel workers or resumed trainings.
#: Each recorded metric follows as a column ``metric:<name>``.
EXTRA_FIELDS: tuple[str, ...] = (
    "eval",          # the evaluation counter of records.csv
    "start_s",       # simulated clock when the evaluation started (its worker took it)
    "worker",        # simulated worker (0-based) that ran it
    "resumed_from",  # epoch the cell's training resumed from ("" when trained from scratch)
    "feasible",      # 1 if every constraint holds, else 0
)
#: Prefix of the metric columns of ``evals.csv``.
EXTRA_METRIC_PREFIX = "metric:"

#: The columns benchbench 0.1 wrote (study schema 1): no ``incumbent_id``.
RECORD_FIELDS_V1: tuple[str, ...] = RECORD_FIELDS[:11]


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One row of ``records.csv`` (see :data:`RECORD_FIELDS` for meanings)."""

    eval: int
    arch_id: str
    arch_index: int | None
    fidelity: int
    data_seed: int | None
    objective: float
    cost_s: float
    sim_time_s: float
    incumbent_index: int | None
    incumbent_valid: float
    incumbent_test: float
    incumbent_id: str = ""
    incumbent_valid_heldout: float = math.nan
    incumbent_test_heldout: float = math.nan

    def row(self) -> tuple[Any, ...]:
        """The CSV row (``None`` written as an empty field)."""
        return tuple("" if v is None else v for v in (
            self.eval, self.arch_id, self.arch_index, self.fidelity, self.data_seed,
            self.objective, self.cost_s, self.sim_time_s, self.incumbent_index,
            self.incumbent_valid, self.incumbent_test, self.incumbent_id,
            self.incumbent_valid_heldout, self.incumbent_test_heldout))


@dataclass
class RunManifest:
    """``manifest.json`` of one run: its full configuration, provenance and outcome.

    ``status`` is ``"running"`` while the run executes, then ``"done"`` or ``"failed"``
    (with ``error``).  ``config_hash`` identifies the configuration; a study refuses to mix
    runs of different configurations under one name.
    """

    run_id: str
    config: dict[str, Any]
    config_hash: str
    benchmark: dict[str, Any]
    versions: dict[str, str]
    seeds: dict[str, int]
    status: str = "running"
    error: str | None = None
    started: str = ""
    finished: str = ""
    wall_s: float = math.nan
    result: dict[str, Any] = field(default_factory=dict)
    #: sha256 of the run's ``records.csv`` as written (empty for 0.1 manifests).
    records_sha256: str = ""
    #: sha256 of the run's ``evals.csv`` (empty when the run wrote none).
    extras_sha256: str = ""
    #: sha256 of the run's ``diagnostics.jsonl`` (one-shot searches; empty when none).
    diagnostics_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        # shallow (dataclasses.asdict deep-copies every nested dict: measurable per run)
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunManifest:
        known = {f for f in cls.__dataclass_fields__}
        unknown_keys = set(d) - known
        if unknown_keys:
            raise ValueError(f"unknown manifest keys {sorted(unknown_keys)}; "
                             f"allowed: {sorted(known)}")
        return cls(**dict(d))
