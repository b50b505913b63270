"""``benchbench data import table`` (issue 14): small CSV files written here, and the real
NB201 flat table converted to a CSV with one column per edge, imported as any table; the
search space is the product of the columns restricted to the rows, and every optimizer runs
on it unchanged."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchbench.api import MissingDataError
from benchbench.cli import main
from benchbench.registry import open_benchmark
from benchbench.rng import make_rng
from benchbench.spaces import RestrictedSpace
from benchbench.spaces.categorical import CategoricalProductSpace
from benchbench.testing import check_benchmark, check_space
from tabular_data._import_table import import_table, parse_metric_column

#: A small table: 3 x 2 x 2 = 12 combinations, 5 present, 2 seeds, 2 fidelities.
ROWS = [  # depth, act, kernel, seed, epoch, acc, lat
    ("2", "relu", "3", 0, 5, 70.0, 1.5), ("2", "relu", "3", 1, 5, 72.0, 1.5),
    ("2", "relu", "3", 0, 10, 80.0, 1.5), ("2", "relu", "3", 1, 10, 82.0, 1.5),
    ("4", "relu", "3", 0, 10, 85.0, 2.5),
    ("4", "gelu", "5", 0, 10, 88.0, 4.0), ("4", "gelu", "5", 1, 10, 86.0, 4.0),
    ("8", "gelu", "5", 0, 10, 90.0, 9.0),
    ("10", "relu", "5", 0, 10, 60.0, 0.5),
]
METRICS = ["valid_acc=acc:valid:max", "latency_ms=lat::min:ms"]


def _csv(tmp_path: Path, rows: list[tuple[Any, ...]] | None = None,
         name: str = "small.csv") -> Path:
    df = pd.DataFrame(rows or ROWS, columns=["depth", "act", "kernel", "seed", "epoch",
                                             "acc", "lat"])
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


def _import(tmp_path: Path, path: Path, **kw: Any) -> Any:
    args: dict[str, Any] = {"arch_columns": ["depth", "act", "kernel"], "metrics": METRICS,
                            "name": "small", "root": tmp_path, "seed_column": "seed",
                            "fidelity_column": "epoch"}
    import_table(path, **{**args, **kw})
    return open_benchmark(kw.get("name", "small"), data_root=tmp_path)


def test_values_space_and_contracts(tmp_path: Path) -> None:
    bench = _import(tmp_path, _csv(tmp_path))
    space = bench.space
    assert isinstance(space, RestrictedSpace) and isinstance(space.base, CategoricalProductSpace)
    base = space.base
    assert base.names == ("depth", "act", "kernel")
    assert base.choices == (("2", "4", "8", "10"), ("gelu", "relu"), ("3", "5"))  # numeric
    assert space.size == 5 and base.size == 16
    cell = {"depth": "2", "act": "relu", "kernel": "3"}
    ev = bench.query(base.arch_id(base.parse(cell)), dataset="small", fidelity=5, data_seed=1)
    assert ev.values == {"valid_acc": 72.0, "latency_ms": 1.5}
    mean = bench.query(base.parse(cell), dataset="small")  # epoch 10, seed mean
    assert mean.values["valid_acc"] == pytest.approx(81.0)
    assert bench.fidelity("small").values == (5, 10) and bench.seeds("small") == (0, 1)
    m = bench.metric("small", "latency_ms")
    assert m.split is None and m.direction.value == "min" and m.unit == "ms"
    assert bench.optimum("valid_acc", dataset="small").value == 90.0
    # a valid combination that is not a row: a clear error
    with pytest.raises(MissingDataError, match="not in this table"):
        bench.query({"depth": "8", "act": "relu", "kernel": "3"}, dataset="small")
    # sample / mutate / neighbours stay inside the table
    rng = make_rng(0, "t")
    ids = set(bench.arch_ids())
    for _ in range(50):
        a = space.sample(rng)
        assert space.arch_id(a) in ids and space.arch_id(space.mutate(a, rng)) in ids
        assert all(space.arch_id(n) in ids for n in space.neighbours(a))
    check_space(space)
    check_space(base)
    check_benchmark(bench, n=4)


def test_every_optimizer_runs_on_it(tmp_path: Path) -> None:
    from benchbench.runner import run_study
    from results import load_mo_study, load_study

    bench = _import(tmp_path, _csv(tmp_path))
    algos = ["rs", "re", "ls", "reinforce", "mo-re", "parego-re"]  # ls: 5 cells, 5 asks
    res = run_study(bench, tmp_path / "study", dataset="small",
                    algorithms={a: {} for a in algos}, seeds=[0, 1], max_evals=5,
                    test_metric=None, record_metrics=("latency_ms",))
    assert res.done == 12 and res.failed == 0, res.failures
    st = load_study(tmp_path / "study")
    ids = set(bench.arch_ids())
    for a in algos:
        assert st.runs[a].n == 2
    assert set(st.records()["arch_id"]) <= ids
    mo = load_mo_study(st)
    assert mo.objectives == ("valid_acc", "latency_ms")


def test_errors_are_one_line(tmp_path: Path) -> None:
    good = _csv(tmp_path)
    with pytest.raises(ValueError, match=r"data rows 1 and 2 are the same evaluation "
                                         r"\(depth='2', act='relu', kernel='3'"):
        _import(tmp_path, good, seed_column=None, fidelity_column=None, name="dup")
    missing = _csv(tmp_path, [*ROWS[:3], ("4", "", "3", 0, 10, 85.0, 2.5)], "missing.csv")
    with pytest.raises(ValueError, match="missing value in column 'act' at data row 4"):
        _import(tmp_path, missing, name="m")
    nan_metric = _csv(tmp_path, [*ROWS[:3], ("4", "relu", "3", 0, 10, math.nan, 2.5)],
                      "nan.csv")
    with pytest.raises(ValueError, match="missing value in column 'acc' at data row 4"):
        _import(tmp_path, nan_metric, name="n")
    with pytest.raises(ValueError, match="column 'width' is not in the table; its columns: "
                                         "depth, act, kernel"):
        _import(tmp_path, good, arch_columns=["depth", "width"], name="w")
    with pytest.raises(ValueError, match="metric 'valid_acc' .* has no direction"):
        parse_metric_column("valid_acc=acc:valid")
    with pytest.raises(ValueError, match="has no direction"):
        parse_metric_column("valid_acc=acc:valid:")
    with pytest.raises(ValueError, match="has split 'validation'"):
        parse_metric_column("valid_acc=acc:validation:max")
    with pytest.raises(ValueError, match="given twice"):
        _import(tmp_path, good, metrics=[*METRICS, "valid_acc=lat::min"], name="t")
    bad_num = _csv(tmp_path, [*ROWS[:2], ("4", "relu", "3", 0, 10, "abc", 2.5)], "bad.csv")
    with pytest.raises(ValueError, match="column 'acc', data row 3: 'abc' is not a number"):
        _import(tmp_path, bad_num, name="b")
    parquet = tmp_path / "t.parquet"
    parquet.write_bytes(b"PAR1")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="needs a Parquet engine: pip install pyarrow"):
            _import(tmp_path, parquet, name="p")
    else:
        with pytest.raises(ValueError, match="not a readable Parquet file"):
            _import(tmp_path, parquet, name="p")


def test_reimport_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _csv(tmp_path)
    argv = ["data", "import", "table", str(p), "--arch-columns", "depth,act,kernel",
            "--metric", METRICS[0], "--metric", METRICS[1], "--seed-column", "seed",
            "--fidelity-column", "epoch", "--name", "small", "--data-root", str(tmp_path)]
    assert main(argv) == 0
    assert "imported" in capsys.readouterr().out
    assert main(argv) == 0  # the same file and mapping: nothing to do
    assert main([*argv[:-4], "--name", "small", "--data-root", str(tmp_path), "--metric",
                 "lat2=lat::min"]) == 2  # another mapping under the same name
    assert "already exists" in capsys.readouterr().err
    assert main(["data", "import", "table", str(p), "--metric", METRICS[0], "--data-root",
                 str(tmp_path)]) == 2
    assert "needs --arch-columns" in capsys.readouterr().err
    assert main(["data", "import", "table", str(p), "--arch-columns", "depth", "--metric",
                 "valid_acc=acc:valid", "--data-root", str(tmp_path)]) == 2
    assert "has no direction" in capsys.readouterr().err


def test_nb201_flat_as_any_table(nb201_flat: Path, tmp_path: Path) -> None:
    """The real NB201 table, one column per edge: every one of the 15,625 cells, NB201's
    optimum, and the same values as the NB201 importer gives."""
    from tabular_data import import_nb201

    df = pd.read_csv(nb201_flat)
    ops = df["arch_str"].str.findall(r"([a-z_0-9]+)~\d")
    table = pd.DataFrame({f"edge{i}": [o[i] for o in ops] for i in range(6)})
    table["valid"] = df["c10v_valid_acc"]
    table["params"] = df["c10v_params_mb"]
    csv = tmp_path / "nb201.csv"
    table.to_csv(csv, index=False)
    import_table(csv, arch_columns=[f"edge{i}" for i in range(6)],
                 metrics=["valid_acc=valid:valid:max", "params=params::min"],
                 name="nb201csv", root=tmp_path, dataset="cifar10-valid")
    bench = open_benchmark("nb201csv", data_root=tmp_path)
    assert bench.space.size == 15625 == bench.space.base.size
    opt = bench.optimum("valid_acc", dataset="cifar10-valid")
    assert opt.value == pytest.approx(91.607, abs=1e-3)  # NB201 paper: 91.61
    import_nb201(nb201_flat, name="nb201", root=tmp_path)
    ref = open_benchmark("nb201", data_root=tmp_path)
    base = bench.space.base
    rng = np.random.default_rng(0)
    for i in rng.integers(0, 15625, 20).tolist():
        cell = ref.space.from_index(i)
        mine = base.parse({f"edge{k}": op for k, op in enumerate(cell.op_names)})
        a = bench.query(mine, dataset="cifar10-valid").values
        b = ref.query(i, dataset="cifar10-valid").values
        assert a["valid_acc"] == pytest.approx(b["valid_acc"])
        assert a["params"] == pytest.approx(b["params"])


def test_reinforce_on_the_factorised_view_stays_inside(tmp_path: Path) -> None:
    """With the columns as the policy's variables (``categorical="base"``, as for tables of
    more than 4,096 cells), REINFORCE redraws combinations that are not rows."""
    from algorithms import Reinforce
    from benchbench.trial import TrialValue

    bench = _import(tmp_path, _csv(tmp_path))
    space = RestrictedSpace(bench.space.base, bench.arch_ids(), categorical="base")
    opt = Reinforce(learning_rate=0.1)
    opt.setup(space, make_rng(0, "rf"))
    ids = set(bench.arch_ids())
    for _ in range(100):
        t = opt.ask()
        assert space.arch_id(t.arch) in ids
        opt.tell(t, TrialValue(bench.query(t.arch, dataset="small").values["valid_acc"], 1.0))
    assert opt.n_rejected > 0 and opt.n_uniform == 0
