"""Faults end to end through ``benchbench.cli.main``: a finished build run again, two builders
on one shard folder, a damaged table at query time, broken NATS / ``.pth`` source files.

Every error is one ``benchbench: error: ...`` line on stderr, exit status 2, no traceback.
"""

from __future__ import annotations

import bz2
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchbench.api import BenchmarkError
from benchbench.cli import main
from tabular_data import TabularBenchmark, import_nb201


def _one_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("benchbench: error:"), err
    assert "Traceback" not in err[0]
    return err[0]


def _build_argv(tmp_path: Path, out: Path) -> list[str]:
    cells = tmp_path / "cells.txt"
    cells.write_text("0\n1\n")
    return ["data", "build", "--protocol", "digits", "--epochs", "2", "--seeds", "0",
            "--cells", str(cells), "--set", "train_images=64", "--set", "network.channels=2",
            "--out", str(out), "--no-progress"]


# ------------------------------------------------------------------ 1. finished build again
def test_rerunning_a_finished_build_is_a_no_op(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    out = tmp_path / "t.h5"
    argv = _build_argv(tmp_path, out)
    assert main(argv) == 0
    capsys.readouterr()
    before = out.stat().st_mtime_ns, out.read_bytes()
    assert main(argv) == 0
    cap = capsys.readouterr()
    assert "already built from the same shards" in cap.out and "nothing to do" in cap.out
    assert (out.stat().st_mtime_ns, out.read_bytes()) == before  # not rewritten
    assert TabularBenchmark(out).seed_mask("digits").sum() == 2
    # another build into the same file is still refused, naming --force
    other = [*argv[:argv.index("--seeds") + 1], "1", *argv[argv.index("--seeds") + 2:]]
    assert "--force" in _one_error(other, capsys)


# ---------------------------------------------------------- 2. two builders on one folder
_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import tabular_data._builder as B
    from benchbench.cli import main

    go, ready = Path(sys.argv[1]), Path(sys.argv[2])
    real = B._run_chunk

    def slow(*args, **kw):
        ready.write_text("training")
        t0 = time.time()
        while not go.exists() and time.time() - t0 < 120:
            time.sleep(0.05)
        return real(*args, **kw)

    B._run_chunk = slow
    sys.exit(main(sys.argv[3:]))
""")


def test_second_builder_on_a_shard_folder_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    out, go, ready = tmp_path / "t.h5", tmp_path / "go", tmp_path / "ready"
    argv = _build_argv(tmp_path, out)
    first = subprocess.Popen([sys.executable, "-c", _HOLDER, str(go), str(ready), *argv],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while not ready.exists():
            assert first.poll() is None, first.communicate()
            assert time.time() - t0 < 120, "first builder never started training"
            time.sleep(0.05)
        second = subprocess.run(
            [sys.executable, "-c", "import sys; from benchbench.cli import main; "
             "sys.exit(main(sys.argv[1:]))", *argv],
            capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second
        err = second.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("benchbench: error:"), err
        assert f"PID {first.pid}" in err[0] and "being built" in err[0]
        assert not out.exists()
        go.write_text("go")
        stdout, stderr = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, stderr
    b = TabularBenchmark(out)  # the first build is intact and complete
    assert b.seed_mask("digits").sum() == 2 and b.provenance["partial"] is None
    assert (tmp_path / "t.h5.shards" / ".lock").read_text() == ""  # released


# ----------------------------------------------------------------- 3. damaged table chunks
def test_damaged_chunk_gives_one_line_at_query_time(
        nats_sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    path = import_nb201(nats_sample_dir, name="s", root=root)
    with TabularBenchmark(path) as b:
        ds = b.datasets[0]
        metric = next(m.name for m in b.metrics(ds) if b.has_seed_values(ds, m.name))
        seed = b.data_seeds(0, ds)[0]
        epoch = b.fidelity(ds).max
        b.query(0, dataset=ds, fidelity=epoch, data_seed=seed)  # reads fine before
    # overwrite the compressed chunk holding row 0 of `metric/seeds` in a copy
    bad = tmp_path / "damaged.h5"
    shutil.copyfile(path, bad)
    with h5py.File(bad, "r") as f:
        dset = f[f"datasets/{ds}/{metric}/seeds"]
        info = dset.id.get_chunk_info_by_coord((0, 0, (epoch - 1) // dset.chunks[2]
                                                * dset.chunks[2]))
    offset, size = int(info.byte_offset), int(info.size)
    assert offset > 0 and offset + size < bad.stat().st_size  # in the middle of the file
    with open(bad, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xff" * size)
    with TabularBenchmark(bad) as b, pytest.raises(BenchmarkError) as e:
        b.query(0, dataset=ds, fidelity=epoch, data_seed=seed)
    msg = str(e.value)
    assert "\n" not in msg and str(bad) in msg and repr(ds) in msg and repr(metric) in msg
    assert "damaged" in msg and "benchbench data import" in msg
    with TabularBenchmark(bad) as b, pytest.raises(BenchmarkError, match="damaged"):
        b.trajectory(0, dataset=ds, data_seed=seed)
    line = _one_error(["query", str(bad), "0", "--dataset", ds, "--epoch", str(epoch),
                       "--seed", str(seed)], capsys)
    assert str(bad) in line and "damaged" in line


# ---------------------------------------------------------- 4. broken NATS / .pth sources
def test_truncated_pbz2_gives_one_line(nats_sample_dir: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "nats"
    shutil.copytree(nats_sample_dir, src)
    os.chmod(src, 0o755)
    for p in src.iterdir():
        os.chmod(p, 0o644)
    victim = src / "000011.pickle.pbz2"
    data = victim.read_bytes()
    victim.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="ended before"):  # it really is truncated
        bz2.decompress(victim.read_bytes())
    line = _one_error(["data", "import", "nb201", str(src), "--name", "t", "--no-progress",
                       "--data-root", str(tmp_path / "root")], capsys)
    assert str(victim) in line
    meta = src / "meta.pickle.pbz2"
    meta.write_bytes(meta.read_bytes()[:100])
    line = _one_error(["data", "import", "nb201", str(src), "--name", "t", "--no-progress",
                       "--data-root", str(tmp_path / "root")], capsys)
    assert str(meta) in line


def test_garbage_pth_gives_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for name, head in (("garbage.pth", b""), ("zipish.pth", b"PK\x03\x04"),
                       ("pickleish.pth", b"\x80\x02")):
        p = tmp_path / name
        p.write_bytes(head + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        for trust in ([], ["--trust-pickle"]):
            line = _one_error(["data", "import", "nb201", str(p), "--name", "g",
                               "--no-progress", "--data-root", str(tmp_path / "root"), *trust],
                              capsys)
            assert str(p) in line


def test_newer_table_format_gives_one_line(nats_sample_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = import_nb201(nats_sample_dir, out=tmp_path / "t.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 99
    line = _one_error(["query", str(path), "11", "--dataset", "cifar10-valid"], capsys)
    assert "table format version 99" in line and "upgrade" in line


def test_infinite_and_missing_values_at_import(nb201_flat: Path, tmp_path: Path) -> None:
    """+inf is outside an accuracy's bounds and refused naming the cell; NaN is 'no value'
    and stays NaN (never replaced), and the CLI says the value is not recorded."""
    import pandas as pd

    df = pd.read_csv(nb201_flat)
    bad = df.copy()
    bad.loc[7, "c10v_valid_acc"] = float("inf")
    bad.to_csv(tmp_path / "inf.csv.gz", index=False)
    with pytest.raises(ValueError, match="inf"):
        import_nb201(tmp_path / "inf.csv.gz", out=tmp_path / "inf.h5")
    gap = df.copy()
    gap.loc[7, "c10v_valid_acc"] = float("nan")
    gap.to_csv(tmp_path / "nan.csv.gz", index=False)
    b = TabularBenchmark(import_nb201(tmp_path / "nan.csv.gz", out=tmp_path / "nan.h5"))
    assert np.isnan(b.query(7, dataset="cifar10-valid")["valid_acc"])
    assert not np.isnan(b.query(8, dataset="cifar10-valid")["valid_acc"])


def test_missing_seed_is_an_error_not_an_invention(nats_sample_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A seed the cell was not trained with is a one-line error listing the seeds it has."""
    path = import_nb201(nats_sample_dir, out=tmp_path / "t.h5")
    b = TabularBenchmark(path)
    have = b.data_seeds(11, "cifar10-valid")
    line = _one_error(["query", str(path), "11", "--dataset", "cifar10-valid", "--seed", "5"],
                      capsys)
    assert "5" in line and str(have[0]) in line
