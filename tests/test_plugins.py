"""A third party's plug-ins, defined here and used by import path only: a space that cannot be
enumerated, a benchmark on it, a black-box optimizer and a one-shot search.  The contract
suites pass on them, and a study and a report run through the CLI with no change to the
package (issue 8's "done when")."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchbench.api import (
    ArchLike,
    Benchmark,
    BenchmarkCapabilities,
    Description,
    Evaluation,
    Fidelity,
    Metric,
    accuracy_metric,
)
from benchbench.optimizer import OneShotSearch, OneShotStep, Optimizer, check_param
from benchbench.rng import stable_hash
from benchbench.spaces import CategoricalSpace, SearchSpace, is_enumerable
from benchbench.testing import check_benchmark, check_optimizer, check_space
from benchbench.trial import TrialInfo, TrialValue

HERE = Path(__file__).resolve().parent
MODULE = Path(__file__).stem  # importable as a top-level module when tests/ is on sys.path

OPS = ("a", "b", "c", "d")
N_VARS = 24  # 4**24 ~ 2.8e14 cells: not enumerable
_WEIGHT = {"a": 0.2, "b": 0.5, "c": 0.8, "d": 1.0}


@dataclass(frozen=True, slots=True)
class ToyArch:
    ops: tuple[str, ...]


class ToySpace(SearchSpace[ToyArch]):
    """24 categorical choices of 4 ops; about 2.8e14 cells, so no enumeration."""

    name = "toy"

    def parse(self, arch: Any) -> ToyArch:
        if isinstance(arch, ToyArch):
            return arch
        if not isinstance(arch, str):
            raise TypeError(f"a toy cell is a ToyArch or a 'toy:...' string, got {arch!r}")
        body = arch.removeprefix("toy:")
        if not arch.startswith("toy:") or len(body) != N_VARS or set(body) - set(OPS):
            raise ValueError(f"bad toy cell {arch!r}: 'toy:' + {N_VARS} letters of {OPS}")
        return ToyArch(tuple(body))

    def arch_id(self, arch: ToyArch) -> str:
        return "toy:" + "".join(arch.ops)

    def sample(self, rng: np.random.Generator) -> ToyArch:
        return ToyArch(tuple(OPS[i] for i in rng.integers(len(OPS), size=N_VARS)))

    def mutate(self, arch: ToyArch, rng: np.random.Generator) -> ToyArch:
        i = int(rng.integers(N_VARS))
        new = OPS[(OPS.index(arch.ops[i]) + 1 + int(rng.integers(len(OPS) - 1))) % len(OPS)]
        return ToyArch(arch.ops[:i] + (new,) + arch.ops[i + 1:])

    def neighbours(self, arch: ToyArch) -> list[ToyArch]:
        return [ToyArch(arch.ops[:i] + (o,) + arch.ops[i + 1:])
                for i in range(N_VARS) for o in OPS if o != arch.ops[i]]

    def encode(self, arch: ToyArch) -> np.ndarray:
        x = np.zeros(N_VARS * len(OPS))
        x[np.arange(N_VARS) * len(OPS) + [OPS.index(o) for o in arch.ops]] = 1.0
        return x

    def as_categorical(self) -> CategoricalSpace:
        return CategoricalSpace(tuple(f"v{i}" for i in range(N_VARS)), (OPS,) * N_VARS)

    def from_categorical(self, values: Sequence[int]) -> ToyArch:
        return ToyArch(tuple(OPS[int(v)] for v in values))

    def to_categorical(self, arch: ToyArch) -> tuple[int, ...]:
        return tuple(OPS.index(o) for o in arch.ops)


class ToyBenchmark(Benchmark):
    """valid/test accuracy rising with 'heavier' ops and with epochs, 3 noisy seeds."""

    capabilities = BenchmarkCapabilities(data_seeds=True, trajectories=True, optimum=False,
                                         cost_model=True, enumerable=False)
    SEEDS = (0, 1, 2)

    def __init__(self, epochs: int = 5) -> None:
        self.space = ToySpace()
        self.epochs = epochs
        self._metrics = (accuracy_metric("valid", "toy"), accuracy_metric("test", "toy"))

    @property
    def name(self) -> str:
        return "toy-bench"

    @property
    def datasets(self) -> tuple[str, ...]:
        return ("toy",)

    def metrics(self, dataset: str) -> tuple[Metric, ...]:
        self.check_dataset(dataset)
        return self._metrics

    def fidelity(self, dataset: str) -> Fidelity:
        self.check_dataset(dataset)
        return Fidelity(tuple(range(1, self.epochs + 1)))

    def data_seeds(self, arch: ArchLike, dataset: str) -> tuple[int, ...]:
        self.check_dataset(dataset)
        return self.SEEDS

    def describe(self) -> Description:
        return Description(name=self.name, version="1", kind="tabular", space="toy",
                           data_sha256="0" * 64, datasets={"toy": self._metrics})

    def _value(self, arch: ToyArch, split: str, epoch: int, seed: int) -> float:
        base = 100.0 * float(np.mean([_WEIGHT[o] for o in arch.ops]))
        noise = (stable_hash("toy", split, seed, "".join(arch.ops)) % 1000) / 500.0 - 1.0
        return min(100.0, max(0.0, base * (1 - 0.5**epoch) + 2 * noise))

    def _query(self, arch: ArchLike, dataset: str, fidelity: int,
               data_seed: int | None) -> Evaluation:
        a = self.space.parse(arch)
        if data_seed is not None and data_seed not in self.SEEDS:
            raise ValueError(f"toy seeds are {self.SEEDS}, got {data_seed}")
        seeds = self.SEEDS if data_seed is None else (data_seed,)
        values = {f"{s}_acc": float(np.mean([self._value(a, s, fidelity, x) for x in seeds]))
                  for s in ("valid", "test")}
        cost = float(fidelity * (1 + a.ops.count("d")))
        return Evaluation(self.space.arch_id(a), dataset, fidelity, data_seed, values, cost)


class ToyOptimizer(Optimizer):
    """Hill climbing: mutate the best cell so far (first ask: a sample)."""

    name = "toy-hill"

    def __init__(self, *, patience: int = 5) -> None:
        self.patience = patience

    def _validate(self) -> None:
        check_param("patience", self.patience, kind=int, low=1)

    def _setup(self) -> None:
        self._best: tuple[float, Any] | None = None
        self._stale = 0

    def ask(self) -> TrialInfo:
        if self._best is None or self._stale >= self.patience:
            self._stale = 0
            arch = self.space.sample(self.rng)
        else:
            arch = self.space.mutate(self._best[1], self.rng)
        return TrialInfo(arch, trial_id=self._next_id())

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        s = value.score()
        if self._best is None or (not math.isnan(s) and s > self._best[0]):
            self._best, self._stale = (s, trial.arch), 0
        else:
            self._stale += 1


class ToyOneShot(OneShotSearch):
    """A stand-in one-shot search: after each 'epoch' the discretised cell moves one
    mutation, at a fixed search cost per epoch."""

    name = "toy-shot"

    def __init__(self, *, epochs: int = 8, seconds_per_epoch: float = 3.0) -> None:
        self.epochs = epochs
        self.seconds_per_epoch = seconds_per_epoch

    def steps(self) -> Iterator[OneShotStep]:
        arch = self.space.sample(self.rng)
        for e in range(self.epochs):
            arch = self.space.mutate(arch, self.rng)
            yield OneShotStep(arch, self.seconds_per_epoch, {"epoch": e})


# ------------------------------------------------------------------------------- tests
def test_toy_space_is_not_enumerable_and_honours_the_contract() -> None:
    space = ToySpace()
    assert not is_enumerable(space)
    check_space(space)


def test_toy_benchmark_honours_the_contract() -> None:
    check_benchmark(ToyBenchmark())


@pytest.mark.parametrize("name", [f"{MODULE}:ToyOptimizer", f"{MODULE}:ToyOneShot", "rs",
                                  "re", "reinforce", "ls"])
def test_optimizers_on_a_space_that_cannot_be_enumerated(name: str) -> None:
    check_optimizer(name, ToySpace())


def test_contract_suite_catches_a_broken_space() -> None:
    class Broken(ToySpace):
        def mutate(self, arch: ToyArch, rng: np.random.Generator) -> ToyArch:
            return arch  # breaks "mutate() always changes the cell"

    with pytest.raises(AssertionError, match="mutate"):
        check_space(Broken())


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE),
                                                        os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "benchbench.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_plugins_run_a_study_and_a_report_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "study"
    r = _cli("run", "--benchmark", f"{MODULE}:ToyBenchmark", "--dataset", "toy",
             "--algorithms", f"rs,re,mine={MODULE}:ToyOptimizer,shot={MODULE}:ToyOneShot",
             "--param", "mine.patience=3", "--seeds", "0-3", "--max-evals", "12",
             "--out", str(out), "--workers", "2", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "16 runs done" in r.stdout
    spec = json.loads((out / "study.json").read_text())
    assert spec["schema"] == 2
    assert spec["algorithms"]["mine"] == {"algorithm": f"{MODULE}:ToyOptimizer", "patience": 3}
    records = pd.read_csv(out / "runs" / "mine" / "seed-000000" / "records.csv",
                          keep_default_na=False)
    assert len(records) == 12
    assert (records["arch_index"] == "").all()  # a space that cannot be enumerated
    assert records["arch_id"].str.startswith("toy:").all()
    assert records["incumbent_id"].iloc[-1].startswith("toy:")
    shot = pd.read_csv(out / "runs" / "shot" / "seed-000000" / "records.csv")
    assert len(shot) == 8 and np.allclose(shot["cost_s"], 3.0)  # one row per search epoch
    rep = _cli("report", str(out), "--no-figures", cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["algorithm"]) == {"rs", "re", "mine", "shot"}
    assert (out / "report" / "report.md").is_file()
