"""The run loop's extensions: recorded metrics, constraints, simulated parallel workers and
resumed trainings, on the embedded nb201-digits table (12 epochs, 2 seeds, every cell)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchbench.api import BenchmarkError
from benchbench.optimizer import Capabilities, Optimizer
from benchbench.registry import open_benchmark
from benchbench.runner import execute_run_full, plan_study, run_study
from benchbench.store import StudyStore
from benchbench.trial import EXTRA_FIELDS, TrialInfo, TrialValue


@pytest.fixture(scope="module")
def digits() -> Any:
    return open_benchmark("nb201-digits")


def _one(bench: Any, algo: str = "rs", **kw: Any) -> Any:
    cfg = plan_study(bench, dataset="digits", algorithms={algo: {}}, seeds=[3],
                     **({"max_evals": 40} | kw))[0]
    return cfg, execute_run_full(bench, cfg)


def test_record_metrics_and_constraints(digits: Any) -> None:
    cfg, out = _one(digits, record_metrics=("params",), constraints=("flops<=0.066",))
    assert out.extras_columns == EXTRA_FIELDS + ("metric:params", "metric:flops")
    feas = [bool(r[4]) for r in out.extras]
    flops = [r[6] for r in out.extras]
    assert feas == [f <= 0.066 for f in flops]
    assert not all(feas) and any(feas)  # the bound splits this run
    assert out.result["n_infeasible"] == feas.count(False)
    # the incumbent is the best FEASIBLE cell, by what the optimizer saw
    best = max((r[5], r[1]) for r, ok in zip(out.records, feas) if ok)
    assert out.result["incumbent_id"] == best[1]
    # the values are the table's, at the run's fidelity and answered seed
    r0, e0 = out.records[0], out.extras[0]
    ev = digits.query(r0[1], dataset="digits", fidelity=r0[3], data_seed=r0[4])
    assert e0[5] == ev.values["params"] and e0[6] == ev.values["flops"]


def test_test_metrics_never_reach_the_optimizer(digits: Any) -> None:
    with pytest.raises(BenchmarkError, match="test images"):
        plan_study(digits, dataset="digits", algorithms={"rs": {}}, seeds=[0], max_evals=5,
                   record_metrics=("test_acc",))
    with pytest.raises(BenchmarkError, match="not on dataset"):
        plan_study(digits, dataset="digits", algorithms={"rs": {}}, seeds=[0], max_evals=5,
                   constraints=("latency_ms<=5",))
    with pytest.raises(ValueError, match="bad constraint 'flops=<3'"):
        plan_study(digits, dataset="digits", algorithms={"rs": {}}, seeds=[0], max_evals=5,
                   constraints=("flops=<3",))


def test_simulated_workers_event_order(digits: Any) -> None:
    _, seq = _one(digits, "re", max_evals=60)
    _, par = _one(digits, "re", max_evals=60, sim_workers=4)
    cols = par.extras_columns
    start = np.array([r[cols.index("start_s")] for r in par.extras])
    finish = np.array([r[7] for r in par.records])
    cost = np.array([r[6] for r in par.records])
    workers = [r[cols.index("worker")] for r in par.extras]
    assert np.all(np.diff(finish) >= 0)              # records come back in finish order
    np.testing.assert_allclose(finish - start, cost)  # each took its cost
    assert set(workers) == {0, 1, 2, 3}
    for t in finish:                                  # never more than 4 running at once
        assert np.sum((start < t) & (finish > t)) <= 4
    # 4 workers: the same number of evaluations in much less simulated time
    assert len(par.records) == len(seq.records) == 60
    assert finish[-1] < 0.5 * seq.records[-1][7]
    # one worker through the event loop gives the sequential run exactly
    cfg1 = plan_study(digits, dataset="digits", algorithms={"re": {}}, seeds=[3],
                      max_evals=60)[0]
    import dataclasses

    from benchbench._run import _drive_workers, _Loop, optimizer_rng
    from benchbench.optimizer import make_optimizer

    opt = make_optimizer("re")
    opt.setup(digits.space, optimizer_rng(3, "digits"))
    loop = _Loop(digits, dataclasses.replace(cfg1, sim_workers=1), None)
    _drive_workers(opt, loop, cfg1)
    assert loop.records == seq.records


def test_simulated_sync_batches(digits: Any) -> None:
    _, out = _one(digits, "rs", max_evals=24, sim_workers=4, sim_mode="sync")
    cols = out.extras_columns
    start = [r[cols.index("start_s")] for r in out.extras]
    finish = [r[7] for r in out.records]
    for b in range(6):  # batch b starts when the slowest of batch b-1 is done
        batch = slice(4 * b, 4 * b + 4)
        assert len(set(start[batch])) == 1
        if b:
            assert start[batch][0] == pytest.approx(max(finish[4 * (b - 1): 4 * b]))


def test_time_budget_with_workers(digits: Any) -> None:
    _, keep = _one(digits, "rs", max_evals=None, max_seconds=20.0, sim_workers=4)
    _, drop = _one(digits, "rs", max_evals=None, max_seconds=20.0, sim_workers=4,
                   budget_crossing="drop")
    assert max(r[7] for r in drop.records) <= 20.0
    assert max(r[7] for r in keep.records) > 20.0
    assert len(drop.records) < len(keep.records)


class _Ladder(Optimizer):
    """Test optimizer: trains a few cells to 4 epochs, then resumes each to 12."""

    name = "ladder"
    capabilities = Capabilities(multi_fidelity=True)

    def setup(self, space: Any, rng: np.random.Generator) -> None:
        super().setup(space, rng)
        self.cells = [space.sample(rng) for _ in range(3)]
        self.n = 0

    def ask(self) -> TrialInfo:
        i, self.n = self.n, self.n + 1
        cell = self.cells[i % 3]
        return TrialInfo(cell, 4, i) if i < 3 else TrialInfo(cell, 12, i, resume=True)

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        assert value.fidelity == trial.fidelity


def test_resume_charges_only_the_extra_epochs(digits: Any, tmp_path: Path) -> None:
    path = f"{__name__}:_Ladder"
    run_study(digits, tmp_path, dataset="digits", algorithms={"ladder": {"algorithm": path}},
              seeds=[0], max_evals=6)
    store = StudyStore(tmp_path)
    run = next(store.iter_runs())
    rec = store.read_records(run)
    ext = store.read_extras(run)
    man = json.loads(run.manifest.read_text())
    assert man["status"] == "done", man.get("error")
    assert man["result"]["n_resumed"] == 3
    assert list(ext["resumed_from"].iloc[3:]) == [4, 4, 4]
    assert ext["resumed_from"].iloc[:3].isna().all()
    for i in range(3):
        first, later = rec.iloc[i], rec.iloc[i + 3]
        seed = int(first["data_seed"])
        c4 = digits.query(first["arch_id"], dataset="digits", fidelity=4, data_seed=seed).cost_s
        c12 = digits.query(first["arch_id"], dataset="digits", fidelity=12,
                           data_seed=seed).cost_s
        assert first["cost_s"] == pytest.approx(c4)
        assert later["cost_s"] == pytest.approx(c12 - c4)


def test_resume_needs_multi_fidelity(digits: Any) -> None:
    class NoMF(_Ladder):
        capabilities = Capabilities()

    cfg = plan_study(digits, dataset="digits", algorithms={"x": {"algorithm": "rs"}},
                     seeds=[0], max_evals=6)[0]
    import dataclasses

    from benchbench import _run

    opt = NoMF()
    opt.setup(digits.space, _run.optimizer_rng(0, "digits"))
    with pytest.raises(BenchmarkError, match="multi_fidelity"):
        _run._check_trial(TrialInfo(opt.cells[0], 12, 0, resume=True), False,
                          dataclasses.replace(cfg))
