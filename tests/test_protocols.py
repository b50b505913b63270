"""The ``nb201-paper`` search protocol on the official NATS-Bench sample files, checked against
NB201's reference step re-implemented here from the official pickles (never through our
tables):

NB201's search scripts (``exps/algos/R_EA.py``, ``RANDOM.py``, ``reinforce.py``, ``BOHB.py`` of
D-X-Y/AutoDL-Projects) evaluate a cell with
``info = api.get_more_info(index, 'cifar10-valid', None, hp='12', is_random=True)``: one seed
drawn uniformly from the cell's recorded hp-12 seeds (``random.choice``), the objective
``info['valid-accuracy']`` (x-valid after the 12th epoch) and the cost
``info['train-all-time'] + info['valid-per-time']``, where (``ArchResults.get_metrics`` /
``ResultsCount.get_train`` / ``get_eval`` of the official API)

* ``train-all-time`` = ``sum(train_times[i] for i in 0..11)`` of that seed's run, and
* ``valid-per-time`` = ``sum(eval_times['x-valid@i'] for i in 0..11) / 12``.

A query that would take the clock past ``--time_budget 12000`` ends the search and is not
counted; the best cell by what the search saw is reported with its 200-epoch results.

The sample holds 3 of the 15,625 cells (0, 11, 284), so the searched benchmark's space is
restricted to them (:class:`SampleSpace`: uniform samples of, and mutations between, those
cells); everything else is the registered ``rs`` / ``re`` and the runner as shipped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchbench.api import BenchmarkError
from benchbench.runner import plan_study, run_study
from benchbench.spaces import NB201Space
from benchbench.store import StudyStore
from tabular_data import TabularBenchmark, import_nb201, open_benchmark
from tabular_data._import_nb201 import _load_pbz2

CELLS = (0, 11, 284)
BUDGET = 12000.0
DATASET = "cifar10-valid"


class SampleSpace(NB201Space):
    """NB201 restricted to the cells of the official sample: ``sample`` draws one of them
    uniformly, ``mutate`` / ``neighbours`` give the other ones.  Ids, indices and parsing are
    NB201's own, so records and tables are unaffected."""

    def sample(self, rng: np.random.Generator) -> Any:
        return self.from_index(CELLS[int(rng.integers(len(CELLS)))])

    def neighbours(self, arch: Any) -> list[Any]:
        return [self.from_index(i) for i in CELLS if i != self.index(arch)]

    def mutate(self, arch: Any, rng: np.random.Generator, **_: Any) -> Any:
        others = self.neighbours(arch)
        return others[int(rng.integers(len(others)))]


# ----------------------------------------------------------------- the reference
class Reference:
    """NB201's numbers for the sample cells, read straight from the official pickles with
    the importer's own loader (``tabular_data._import_nb201._load_pbz2``)."""

    def __init__(self, sample_dir: Path) -> None:
        self.raw = {i: _load_pbz2(sample_dir / f"{i:06d}.pickle.pbz2") for i in CELLS}

    def run(self, index: int, hp: str, seed: int, dataset: str = DATASET) -> dict[str, Any]:
        return self.raw[index][hp]["all_results"][(dataset, seed)]

    def seeds(self, index: int, hp: str, dataset: str = DATASET) -> list[int]:
        return [int(s) for s in self.raw[index][hp]["dataset_seed"][dataset]]

    def get_more_info(self, index: int, seed: int, hp: str = "12") -> dict[str, float]:
        """``get_more_info(index, 'cifar10-valid', None, hp, is_random=seed)``: the keys the
        search scripts use, at the last epoch."""
        r = self.run(index, hp, seed)
        last = int(r["epochs"]) - 1
        total = last + 1
        return {
            "valid-accuracy": float(r["eval_acc1es"][f"x-valid@{last}"]),
            "train-all-time": sum(float(r["train_times"][i]) for i in range(last + 1)),
            "valid-per-time": sum(float(r["eval_times"][f"x-valid@{i}"])
                                  for i in range(last + 1)) / total,
        }

    def final(self, index: int, seeds: list[int], key: str) -> float:
        """Mean over ``seeds`` of the hp-200 value at epoch 200 (``key``: an eval set)."""
        return float(np.mean([float(self.run(index, "200", s)["eval_acc1es"][f"{key}@199"])
                              for s in seeds]))


@pytest.fixture(scope="module")
def ref(nats_sample_dir: Path) -> Reference:
    return Reference(nats_sample_dir)


@pytest.fixture(scope="module")
def root(nats_sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("protocols")
    import_nb201(nats_sample_dir, name="s12", root=root, hp="12")
    import_nb201(nats_sample_dir, name="s200", root=root, hp="200")
    return root


def _search(root: Path) -> TabularBenchmark:
    b = open_benchmark("s12", root=root)
    b.space = SampleSpace()  # the runner searches bench.space (workers=1: no pickling)
    return b


@pytest.fixture(scope="module")
def study(root: Path) -> Path:
    out = root / "study"
    res = run_study(_search(root), out, dataset=DATASET, algorithms={"rs": {}, "re": {}},
                    seeds=range(3), report=open_benchmark("s200", root=root),
                    protocol="nb201-paper")
    assert (res.done, res.failed) == (6, 0), res.failures
    return out


def _runs(study: Path) -> list[tuple[str, int, Any, dict[str, Any]]]:
    store = StudyStore(study)
    out = []
    for run in store.iter_runs():
        _, man = store.read_manifest(run)
        out.append((run.label, run.seed, store.read_records(run), man))
    assert len(out) == 6
    return out


# ------------------------------------------------------------------------ tests
def test_eval_seconds_are_the_official_per_time(root: Path, ref: Reference) -> None:
    """``valid_eval_s`` at the queried epoch is ``valid-per-time`` of that seed's run, and
    ``cost_s`` is ``train-all-time``."""
    b = open_benchmark("s12", root=root)
    for i in CELLS:
        for s in ref.seeds(i, "12"):
            info = ref.get_more_info(i, s)
            ev = b.query(i, dataset=DATASET, fidelity=12, data_seed=s)
            assert ev["valid_eval_s"] == pytest.approx(info["valid-per-time"], rel=1e-12)
            assert ev.cost_s == pytest.approx(info["train-all-time"], rel=1e-12)
            assert ev["valid_acc"] == info["valid-accuracy"]
            # valid-per-time at an earlier epoch: the mean over the epochs up to it
            r = ref.run(i, "12", s)
            want = sum(float(r["eval_times"][f"x-valid@{e}"]) for e in range(5)) / 5
            assert b.query(i, dataset=DATASET, fidelity=5, data_seed=s)["valid_eval_s"] == \
                pytest.approx(want, rel=1e-12)


def test_study_follows_nb201s_reference_step(study: Path, ref: Reference) -> None:
    space = NB201Space()
    seen_repeats = 0
    for label, seed, rec, man in _runs(study):
        assert man["status"] == "done", man.get("error")
        cfg = man["config"]
        assert (cfg["protocol"], cfg["noise"], cfg["cost"], cfg["budget_crossing"],
                cfg["fidelity"], cfg["report_fidelity"], cfg["max_seconds"]) == \
            ("nb201-paper", "fresh", "train+eval", "drop", 12, 200, BUDGET)
        clock = 0.0
        by_cell: dict[int, list[int]] = {}
        for row in rec.itertuples(index=False):
            i, s = int(row.arch_index), int(row.data_seed)
            assert row.arch_id == space.arch_id(space.from_index(i))
            assert int(row.fidelity) == 12
            assert s in ref.seeds(i, "12")  # a recorded hp-12 run of that cell
            info = ref.get_more_info(i, s)
            assert row.objective == info["valid-accuracy"]
            cost = info["train-all-time"] + info["valid-per-time"]
            assert row.cost_s == pytest.approx(cost, rel=1e-12)
            clock += cost
            assert row.sim_time_s == pytest.approx(clock, rel=1e-12)
            by_cell.setdefault(i, []).append(s)
        # the budget: never crossed, and the run stopped only because the next query would
        # have crossed it (the crossing query is dropped, not charged)
        assert clock <= BUDGET
        assert man["result"]["sim_time_s"] == pytest.approx(clock, rel=1e-12)
        assert "crossed max_seconds (dropped)" in man["result"]["stopped"]
        max_cost = max(ref.get_more_info(i, s)["train-all-time"]
                       + ref.get_more_info(i, s)["valid-per-time"]
                       for i in CELLS for s in ref.seeds(i, "12"))
        assert BUDGET - clock < max_cost
        # fresh noise: repeated queries of one cell are answered by changing recorded runs
        for i, seeds in by_cell.items():
            if len(seeds) >= 10:
                seen_repeats += 1
                assert set(seeds) == set(ref.seeds(i, "12")), (label, seed, i)
                assert any(a != b for a, b in zip(seeds, seeds[1:]))
    assert seen_repeats >= 6


def test_reported_values_are_200_epoch_and_held_out(study: Path, ref: Reference) -> None:
    """Incumbent = best objective seen so far (the first of ties, as ``max(history)``);
    reported: its hp-200 seed mean at epoch 200, and the mean over its hp-200 seeds other than
    the data seed of the query that made it the incumbent."""
    for _, _, rec, man in _runs(study):
        best, inc, sel = -math.inf, -1, -1
        for row in rec.itertuples(index=False):
            if row.objective > best:
                best, inc, sel = row.objective, int(row.arch_index), int(row.data_seed)
            seeds = ref.seeds(inc, "200")
            held = [s for s in seeds if s != sel]
            assert int(row.incumbent_index) == inc
            assert row.incumbent_valid == pytest.approx(ref.final(inc, seeds, "x-valid"),
                                                        rel=1e-12)
            assert row.incumbent_test == pytest.approx(ref.final(inc, seeds, "ori-test"),
                                                       rel=1e-12)
            assert row.incumbent_valid_heldout == pytest.approx(
                ref.final(inc, held, "x-valid"), rel=1e-12)
            assert row.incumbent_test_heldout == pytest.approx(
                ref.final(inc, held, "ori-test"), rel=1e-12)
        res = man["result"]
        last = rec.iloc[-1]
        assert res["incumbent_index"] == inc
        assert res["final_valid"] == last["incumbent_valid"]
        assert res["final_test"] == last["incumbent_test"]
        assert res["final_valid_heldout"] == pytest.approx(
            ref.final(inc, [s for s in ref.seeds(inc, "200") if s != sel], "x-valid"),
            rel=1e-12)


def test_study_records_the_report_benchmark(study: Path) -> None:
    spec = json.loads((study / "study.json").read_text())
    assert spec["search"]["protocol"] == "nb201-paper"
    assert spec["search"]["report_benchmark"]["name"] == "s200"
    assert spec["search"]["report_fidelity"] == 200 and spec["fidelity"] == 12


def test_train_eval_cost_needs_eval_times(nb201_flat: Path, tmp_path: Path) -> None:
    """The flat export has no evaluation times: ``cost="train+eval"`` is refused up front."""
    flat = TabularBenchmark(import_nb201(nb201_flat, out=tmp_path / "flat.h5"))
    assert not any(m.name.endswith("_eval_s") for m in flat.metrics(DATASET))
    with pytest.raises(BenchmarkError, match=r"cost 'train\+eval' needs the evaluation time "
                                             r"of the 'valid' split \(metric 'valid_eval_s'\)"
                                             r".*flat export"):
        plan_study(flat, dataset=DATASET, algorithms={"rs": {}}, seeds=[0], max_evals=3,
                   cost="train+eval")
    plan_study(flat, dataset=DATASET, algorithms={"rs": {}}, seeds=[0], max_evals=3)


def test_valid_objective_against_valtest_is_refused(root: Path) -> None:
    """On cifar100 x-valid is half of ori-test: reporting ``valtest_acc`` for a search on
    ``valid_acc`` shares images, refused unless allowed (and then recorded)."""
    kw: dict[str, Any] = dict(dataset="cifar100", algorithms={"rs": {}}, seeds=[0],
                              report=open_benchmark("s200", root=root),
                              protocol="nb201-paper", max_evals=5, test_metric="valtest_acc")
    with pytest.raises(BenchmarkError, match="shares images"):
        run_study(_search(root), root / "c100-refused", **kw)
    assert not (root / "c100-refused" / "study.json").exists()
    res = run_study(_search(root), root / "c100", allow_test_objective=True, **kw)
    assert (res.done, res.failed) == (1, 0), res.failures
    spec = json.loads((root / "c100" / "study.json").read_text())
    assert spec["search"]["allow_test_objective"] is True


def test_missing_eval_time_is_not_charged_zero(nats_sample_dir: Path, root: Path,
                                               tmp_path: Path) -> None:
    import bz2
    import pickle

    src = tmp_path / "src"
    src.mkdir()
    for f in nats_sample_dir.iterdir():
        (src / f.name).write_bytes(f.read_bytes())
    d = _load_pbz2(src / "000011.pickle.pbz2")
    d["12"]["all_results"][(DATASET, 777)]["eval_times"] = {}  # no times for this run
    with bz2.BZ2File(src / "000011.pickle.pbz2", "wb") as fh:
        pickle.dump(d, fh)
    b = TabularBenchmark(import_nb201(src, out=tmp_path / "s12.h5", hp="12"))
    assert math.isnan(b.query(11, dataset=DATASET, fidelity=12, data_seed=777)["valid_eval_s"])
    b.space = SampleSpace()
    run_study(b, tmp_path / "study", dataset=DATASET, algorithms={"rs": {}}, seeds=[0],
              report=open_benchmark("s200", root=root), protocol="nb201-paper", max_evals=40)
    store = StudyStore(tmp_path / "study")
    (run,) = store.iter_runs()
    man = store.read_manifest(run)[1]
    # the run met cell 11 answered by seed 777, whose evaluation time is missing: it is
    # recorded as failed with the reason, never charged 0 s
    assert man["status"] == "failed"
    assert "valid_eval_s" in man["error"] and "|" in man["error"]
