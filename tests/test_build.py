"""The table builder: a small real build, class filling, resume, parallel = serial, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from benchbench.api import MissingDataError
from benchbench.nn import count_flops, count_params, get_builder
from benchbench.protocols import TrainConfig, get_protocol
from benchbench.spaces import NB201Space
from tabular_data import (
    TabularBenchmark,
    assemble_table,
    build_status,
    build_table,
    make_spec,
    open_benchmark,
    rewrite_network_metrics,
    train_shards,
)

TINY = get_protocol("digits", epochs=2, train_images=64, batch_size=32)
CELLS = list(range(30))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / "small.h5"
    build_table(out, protocol=TINY, seeds=(0, 1), cells=CELLS, chunk_size=8)
    return out


def test_small_table_reads_as_a_normal_table(small: Path) -> None:
    b = TabularBenchmark(small)
    assert b.datasets == ("digits",) and b.fidelity("digits").values == (1, 2)
    assert b.seeds("digits") == (0, 1) and b.source_kind == "training"
    names = [m.name for m in b.metrics("digits")]
    assert names == ["train_acc", "train_loss", "valid_acc", "valid_loss", "test_acc",
                     "test_loss", "params", "flops"]
    assert [m.split.value for m in b.metrics("digits")[:6]] == \
        ["train", "train", "valid", "valid", "test", "test"]
    mask = b.seed_mask("digits")
    assert mask[:30].all() and not mask[30:].any()  # only the asked rows are filled
    with pytest.raises(MissingDataError):
        b.query(30, dataset="digits")
    ev = b.query(7, dataset="digits", data_seed=1)
    assert 0 <= ev["valid_acc"] <= 100 and ev.cost_s > 0 and ev["params"] > 0
    tr = b.trajectory(7, dataset="digits", data_seed=1)
    assert np.all(np.diff(tr.cost_s) > 0)
    assert tr.values["params"][0] == tr.values["params"][1]
    p = b.provenance
    assert p["rows_filled_from"].startswith("functional class representative")
    assert p["protocol"]["train_images"] == 64 and p["seeds"] == [0, 1]
    assert p["trainings"] == 2 * p["trained_cells"] and p["table_rows"] == 30


def test_members_of_a_class_share_their_representative_run(small: Path) -> None:
    cls = NB201Space().class_ids("functional")[:30]
    b = TabularBenchmark(small)
    members = [i for i in range(30) if cls[i] != i]
    assert members, "cells 0..29 include non-representatives"
    for i in members:
        for s in (0, 1):
            a = b.query(i, dataset="digits", data_seed=s)
            r = b.query(int(cls[i]), dataset="digits", data_seed=s)
            trained = [m for m in a.values if m not in ("params", "flops")]
            assert [a[m] for m in trained] == [r[m] for m in trained]
            assert a.cost_s == r.cost_s
    # distinct classes do differ
    reps = sorted(set(cls.tolist()))
    vals = {b.query(r, dataset="digits", data_seed=0)["train_loss"] for r in reps}
    assert len(vals) > len(reps) // 2


def _own_network(index: int, protocol: TrainConfig, num_classes: int = 10,
                 shape: tuple[int, int, int] = (3, 8, 8)) -> tuple[float, float]:
    """(params in millions, MFLOPs) of cell ``index``'s own network, float32-rounded as the
    builder stores values: built on CPU here, independently of the builder's code."""
    net = get_builder("nb201", **protocol.network_options)(NB201Space().from_index(index),
                                                          num_classes=num_classes)
    return (float(np.float32(count_params(net) / 1e6)),
            float(np.float32(count_flops(net, shape))))


def test_every_row_has_its_own_params_and_flops(small: Path) -> None:
    """Params / FLOPs are the row's own network's, not its class representative's (cells 9,
    12 and 29 differ from theirs); the provenance says what a member row carries."""
    b = TabularBenchmark(small)
    cls = NB201Space().class_ids("functional")
    differ = 0
    builder = get_builder("nb201", **TINY.network_options)
    for i in range(30):
        params, flops = _own_network(i, TINY)
        for s, e in ((0, 1), (0, 2), (1, 1), (1, 2)):
            ev = b.query(i, dataset="digits", fidelity=e, data_seed=s)
            assert (ev["params"], ev["flops"]) == (params, flops), i
        rep = builder(NB201Space().from_index(int(cls[i])), num_classes=10)
        differ += params != float(np.float32(count_params(rep) / 1e6))
    assert differ == 3
    p = b.provenance
    assert "own network" in p["rows_filled_from"] and "trained values and cost_s" in \
        p["rows_filled_from"]
    assert p["assembly_revision"] == 2 and b.version.endswith("-asm2")


def test_rewrite_network_metrics_fixes_an_old_table(small: Path, tmp_path: Path) -> None:
    """A table assembled the old way (member rows holding the representative's params and
    flops) is fixed without retraining; every other dataset and attribute is unchanged."""
    cls = NB201Space().class_ids("functional")
    old = tmp_path / "old.h5"
    old.write_bytes(small.read_bytes())
    with h5py.File(old, "r+") as f:  # make it a revision-1 table
        g = f["datasets/digits"]
        for m in ("params", "flops"):
            for k in ("seeds", "mean"):
                a = g[f"{m}/{k}"][()]
                a[:30] = a[cls[:30]]
                g[f"{m}/{k}"][...] = a
        f.attrs["version"] = str(f.attrs["version"]).removesuffix("-asm2")
        prov = json.loads(f.attrs["provenance"])
        for key in ("assembly_revision", "network_metrics"):
            del prov[key]
        f.attrs["provenance"] = json.dumps(prov, sort_keys=True)
    assert TabularBenchmark(old).query(9, dataset="digits")["params"] != \
        _own_network(9, TINY)[0]
    res = rewrite_network_metrics(old, out=tmp_path / "fixed.h5")
    assert res["written"] and res["rows_changed"] == {"params": 3, "flops": 3}
    with h5py.File(small) as f, h5py.File(tmp_path / "fixed.h5") as g:
        def items(h: h5py.File) -> list[str]:
            out: list[str] = []
            h.visit(out.append)
            return out

        assert items(f) == items(g)
        for key in items(f):  # the fixed table holds what a fresh assembly writes
            if isinstance(f[key], h5py.Dataset):
                np.testing.assert_array_equal(f[key][()], g[key][()], err_msg=key)
        assert g.attrs["version"] == f.attrs["version"]
        prov = json.loads(g.attrs["provenance"])
        assert prov["revisions"][-1]["rows_changed"] == {"params": 3, "flops": 3}
        assert prov["revisions"][-1]["previous_version"] == f.attrs["version"].removesuffix(
            "-asm2")
    # idempotent: nothing to change, nothing written
    again = rewrite_network_metrics(tmp_path / "fixed.h5")
    assert not again["written"] and again["rows_changed"] == {"params": 0, "flops": 0}


def test_embedded_table_rows_have_their_own_params() -> None:
    """The embedded nb201-digits table: random rows (and cell 4246, whose representative 118
    is smaller) hold their own network's params and FLOPs."""
    b = open_benchmark("nb201-digits")
    cfg = TrainConfig.from_dict(b.provenance["protocol"])
    cls = NB201Space().class_ids("functional")
    rows = [4246, *np.random.default_rng(0).choice(15625, size=40, replace=False).tolist()]
    assert cls[4246] == 118
    for i in rows:
        params, flops = _own_network(int(i), cfg)
        for s in (0, 1):
            ev = b.query(int(i), dataset="digits", data_seed=s)
            assert (ev["params"], ev["flops"]) == (params, flops), i
    assert b.query(4246, dataset="digits")["params"] == pytest.approx(0.011054, abs=1e-9)
    assert b.query(118, dataset="digits")["params"] == pytest.approx(0.004894, abs=1e-9)
    # its trained values are still the representative's run
    a, r = (b.query(c, dataset="digits", data_seed=1) for c in (4246, 118))
    assert a["valid_acc"] == r["valid_acc"] and a.cost_s == r.cost_s


def test_resume_trains_only_missing_chunks(small: Path, tmp_path: Path) -> None:
    shards = small.with_name(small.name + ".shards")
    assert build_status(shards)["chunks_done"] == build_status(shards)["chunks"]
    spec = make_spec(protocol=TINY, seeds=(0, 1), rows=CELLS)
    # copy the shards, drop one chunk: only its trainings are redone, with the same numbers
    copy = tmp_path / "shards"
    copy.mkdir()
    for f in shards.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    (copy / "chunk-00001.npz").unlink()
    assert train_shards(spec, copy, chunk_size=8) == 8
    assert train_shards(spec, copy, chunk_size=8) == 0
    again = assemble_table(copy, tmp_path / "again.h5")
    with h5py.File(small) as f, h5py.File(again) as g:
        for m in ("train_loss", "valid_acc", "test_loss", "params"):
            np.testing.assert_array_equal(f[f"datasets/digits/{m}/seeds"][:30],
                                          g[f"datasets/digits/{m}/seeds"][:30])
    sessions = (copy / "sessions.jsonl").read_text().splitlines()
    assert json.loads(sessions[-1])["tasks_trained"] == 8


def test_shards_of_another_build_are_refused(small: Path) -> None:
    shards = small.with_name(small.name + ".shards")
    other = make_spec(protocol=TINY, seeds=(0, 2), rows=CELLS)
    with pytest.raises(FileExistsError, match="another build"):
        train_shards(other, shards, chunk_size=8)


def test_unfinished_build_cannot_be_assembled(tmp_path: Path) -> None:
    spec = make_spec(protocol=TINY, seeds=(0,), rows=[0, 1, 2])
    train_shards(spec, tmp_path / "s", chunk_size=2)
    (tmp_path / "s" / "chunk-00000.npz").unlink()
    with pytest.raises(FileNotFoundError, match="not finished: 1 of 2 chunks"):
        assemble_table(tmp_path / "s", tmp_path / "t.h5")
    preview = TabularBenchmark(assemble_table(tmp_path / "s", tmp_path / "p.h5", partial=True))
    assert preview.provenance["partial"] == "unfinished build: 1 of 3 trainings"
    assert preview.seed_mask("digits")[:3, 0].tolist() == [False, False, True]


@pytest.mark.slow  # spawning two torch processes takes ~15 s on a loaded 2-core machine
def test_parallel_workers_give_the_serial_numbers(small: Path, tmp_path: Path) -> None:
    out = build_table(tmp_path / "par.h5", protocol=TINY, seeds=(0, 1), cells=CELLS[:2],
                      workers=2, chunk_size=2)
    with h5py.File(small) as f, h5py.File(out) as g:
        for m in ("train_loss", "valid_loss", "test_acc"):
            np.testing.assert_array_equal(f[f"datasets/digits/{m}/seeds"][:2],
                                          g[f"datasets/digits/{m}/seeds"][:2])


def test_cli_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchbench.cli import main

    cells = tmp_path / "cells.txt"
    cells.write_text("# two cells\n0\n|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
                     "|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|\n")
    out = tmp_path / "cli.h5"
    assert main(["data", "build", "--epochs", "1", "--seeds", "3", "--cells", str(cells),
                 "--set", "train_images=64", "--set", "network.channels=2",
                 "--out", str(out), "--no-progress"]) == 0
    b = TabularBenchmark(out)
    assert b.seeds("digits") == (3,) and b.provenance["protocol"]["network"] == \
        {"channels": 2, "cells_per_stage": 1}
    assert b.seed_mask("digits").sum() == 2
    assert b.provenance["command"].startswith("benchbench ")
    capsys.readouterr()
    assert main(["data", "build", "--epochs", "1", "--out", str(out), "--no-progress"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["data", "build", "--set", "lr", "--out", str(tmp_path / "x.h5")]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
