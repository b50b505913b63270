"""``benchbench data latency`` (issue 14): real timings of the embedded nb201-digits networks
(a few classes, few repeats, so the tests stay fast), written to a copy of the table; the
class grouping against NB201's functional classes, resuming, the refusal to mix machines,
and the embedded file left untouched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

pytest.importorskip("torch")

from benchbench.cli import main
from benchbench.registry import open_benchmark
from benchbench.spaces import NB201Space
from tabular_data import resolve_table
from tabular_data._latency import (
    MachineMismatchError,
    add_latency,
    machine_description,
    measure_noise,
    table_classes,
)

#: Rows whose functional classes are measured: 0..39 (classes of NB201's functional
#: equivalence, some with several members among them).
ROWS = range(40)
FAST = {"batches": (1, 4), "repeats": 3, "warmup": 1, "rows": ROWS}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("lat") / "digits-lat.h5"
    src = resolve_table("nb201-digits")
    before = _sha(src)
    res = add_latency("nb201-digits", out, **FAST)
    assert _sha(src) == before  # the embedded table is package data: never written
    return res


def test_one_network_per_functional_class(measured: dict[str, Any]) -> None:
    space = NB201Space()
    cid = space.class_ids("functional")
    cls = measured["class_of_row"]
    reps = sorted({int(cid[r]) for r in ROWS})
    assert measured["classes"] == len(reps)
    # the measured network of every class is its representative (smallest official index)
    assert measured["cells"] == [space.arch_id(space.from_index(r)) for r in reps]
    assert (cls[list(ROWS)] >= 0).all() and (cls[40:] == -1).all()
    bench = open_benchmark(measured["out"])
    lat = bench.values("digits", "latency_ms_b1", epoch=12)
    for r in ROWS:  # members share their class's value
        assert lat[r] == lat[int(cid[r])] if cid[r] in ROWS else np.isfinite(lat[r])
    assert np.isnan(lat[40:]).all()
    assert (lat[list(ROWS)] > 0).all()


def test_metrics_queries_and_provenance(measured: dict[str, Any]) -> None:
    bench = open_benchmark(measured["out"])
    names = [m.name for m in bench.metrics("digits")]
    for b in (1, 4):
        assert f"latency_ms_b{b}" in names and f"latency_ms_b{b}_iqr" in names
    m = bench.metric("digits", "latency_ms_b4")
    assert m.split is None and m.unit == "ms" and m.direction.value == "min"
    ev = bench.query(3, dataset="digits", fidelity=4, data_seed=1)  # any epoch, any seed
    assert ev.values["latency_ms_b4"] == bench.query(3, dataset="digits").values["latency_ms_b4"]
    # everything the source had is unchanged
    src = open_benchmark("nb201-digits")
    assert ev.values["valid_acc"] == src.query(3, dataset="digits", fidelity=4,
                                               data_seed=1).values["valid_acc"]
    prov = bench.provenance["latency"][-1]
    here = machine_description("cpu", 1)
    for key in ("cpu_model", "logical_cpus", "threads", "torch", "device"):
        assert prov["machine"][key] == here[key]
    assert prov["repeats"] == 3 and prov["warmup"] == 1 and prov["batches"] == [1, 4]
    # a batch of 4 takes longer than a batch of 1 for most classes
    med = measured["median_ms"]["digits"]
    assert np.mean(med[:, 1] > med[:, 0]) > 0.5


def test_resume_reuses_the_shards(measured: dict[str, Any], tmp_path: Path) -> None:
    out = Path(measured["out"])
    again = add_latency("nb201-digits", tmp_path / "again.h5",
                        shards=out.with_name(out.name + ".latency-shards"), **FAST)
    assert again["measured_now_s"] < 0.5  # nothing measured: every chunk is there
    np.testing.assert_array_equal(again["median_ms"]["digits"], measured["median_ms"]["digits"])


def test_refuses_to_mix_machines(measured: dict[str, Any], tmp_path: Path) -> None:
    out = Path(measured["out"])
    other = tmp_path / "other-machine.h5"
    other.write_bytes(out.read_bytes())
    with h5py.File(other, "r+") as f:
        prov = json.loads(f.attrs["provenance"])
        prov["latency"][-1]["machine"]["cpu_model"] = "Some Other CPU"
        f.attrs["provenance"] = json.dumps(prov)
    with pytest.raises(MachineMismatchError, match="latency_ms_b1 was measured on another "
                                                   "machine.*Some Other CPU"):
        add_latency(other, tmp_path / "mixed.h5", **FAST)
    # another prefix is another metric: allowed
    add_latency(other, tmp_path / "ok.h5", metric_prefix="lat_here_ms",
                **{**FAST, "rows": [0, 1]})
    # a shard folder begun on another machine
    shards = out.with_name(out.name + ".latency-shards")
    doc = json.loads((shards / "latency.json").read_text())
    doc["machine"]["torch"] = "0.0"
    bad = tmp_path / "bad-shards"
    bad.mkdir()
    (bad / "latency.json").write_text(json.dumps(doc))
    with pytest.raises(MachineMismatchError, match="torch"):
        add_latency("nb201-digits", tmp_path / "x.h5", shards=bad, **FAST)


def test_noise_and_cli(measured: dict[str, Any], tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    nz = measure_noise(measured, n=8)
    assert len(nz["classes"]) == 8 and set(nz["spearman"]) == {1, 4}
    assert all(-1 <= r <= 1 for r in nz["spearman"].values())
    cells = tmp_path / "cells.txt"
    cells.write_text("0\n1\n2\n")
    rc = main(["data", "latency", "--benchmark", "nb201-digits", "--out",
               str(tmp_path / "cli.h5"), "--batch", "1", "--repeats", "2", "--warmup", "1",
               "--cells", str(cells), "--noise-sample", "2"])
    err = capsys.readouterr()
    assert rc == 0, err.err
    assert "Spearman between two passes" in err.err and "latency_ms_b1" in err.out
    assert main(["data", "latency", "--benchmark", "nb201-digits", "--out",
                 str(resolve_table("nb201-digits"))]) == 2
    assert "is the source table itself" in capsys.readouterr().err
    assert main(["data", "latency", "--benchmark", "nb201-digits", "--out",
                 str(tmp_path / "y.h5"), "--batch", "0"]) == 2
    assert "--batch must be distinct integers >= 1" in capsys.readouterr().err


def test_table_classes_of_a_keyed_table(tmp_path: Path) -> None:
    """A table keyed by cell id groups its rows by the space's canonical id."""
    import pandas as pd

    from tabular_data._import_table import import_table

    f = tmp_path / "t.csv"
    pd.DataFrame({"a": ["x", "y", "x"], "b": ["1", "1", "2"],
                  "acc": [1.0, 2.0, 3.0]}).to_csv(f, index=False)
    import_table(f, arch_columns=["a", "b"], metrics=["acc=acc:valid:max"], name="t",
                 root=tmp_path)
    bench = open_benchmark("t", data_root=tmp_path)
    cls, reps = table_classes(bench)
    assert cls.tolist() == [0, 1, 2] and reps == bench.arch_ids()
