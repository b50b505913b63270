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
from benchbench.protocols import get_protocol
from benchbench.spaces import NB201Space
from tabular_data import (
    TabularBenchmark,
    assemble_table,
    build_status,
    build_table,
    make_spec,
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
            assert a.values == r.values and a.cost_s == r.cost_s
    # distinct classes do differ
    reps = sorted(set(cls.tolist()))
    vals = {b.query(r, dataset="digits", data_seed=0)["train_loss"] for r in reps}
    assert len(vals) > len(reps) // 2


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
