"""Importers execute nothing from a data file, concurrent imports of one table never leave an
unreadable table, impossible values are refused, and bad inputs give one-line errors."""

from __future__ import annotations

import bz2
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from benchbench.cli import main
from tabular_data import TabularBenchmark, import_nb201

REPO = Path(__file__).resolve().parents[1]


class _Evil:
    """Unpickling this runs ``os.system`` to create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return os.system, (f"touch {self.marker}",)


def _refused(exc: pytest.ExceptionInfo[BaseException], path: Path) -> None:
    msg = str(exc.value)
    assert "\n" not in msg
    assert str(path) in msg
    assert "refused" in msg and ("posix.system" in msg or "os.system" in msg), msg


def _nats_copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


# ----------------------------------------------------------------- 1. nothing executed
def test_crafted_pbz2_runs_nothing(nats_sample_dir: Path, tmp_path: Path) -> None:
    src = _nats_copy(nats_sample_dir, tmp_path / "src")
    marker = tmp_path / "MARKER"
    with bz2.BZ2File(src / "000011.pickle.pbz2", "wb") as f:
        pickle.dump({"200": _Evil(marker)}, f)
    with pytest.raises(ValueError) as e:
        import_nb201(src, out=tmp_path / "t.h5")
    _refused(e, src / "000011.pickle.pbz2")
    assert "--trust-pickle" in str(e.value)
    assert not marker.exists()
    assert not (tmp_path / "t.h5").exists()
    assert not list(tmp_path.glob(".*partial"))
    # the meta file too
    with bz2.BZ2File(src / "meta.pickle.pbz2", "wb") as f:
        pickle.dump(_Evil(marker), f, protocol=2)
    with pytest.raises(ValueError) as e:
        import_nb201(src, out=tmp_path / "t.h5")
    _refused(e, src / "meta.pickle.pbz2")
    assert not marker.exists()


def test_crafted_pth_runs_nothing(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    marker = tmp_path / "MARKER"
    for name, kw in (("evil.pth", {}), ("evil-noext", {"_use_new_zipfile_serialization": False})):
        p = tmp_path / name
        torch.save({"meta_archs": [], "arch2infos": _Evil(marker)}, p, **kw)
        with pytest.raises(ValueError) as e:
            import_nb201(p, out=tmp_path / "t.h5")
        _refused(e, p)
        assert not marker.exists()
    raw = tmp_path / "rawpickle"  # no extension, starts with the pickle byte
    raw.write_bytes(pickle.dumps(_Evil(marker), protocol=2))
    with pytest.raises(ValueError):
        import_nb201(raw, out=tmp_path / "t.h5")
    assert not marker.exists()


def test_crafted_image_batch_runs_nothing(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from benchbench.nn import load_batch

    marker = tmp_path / "MARKER"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        with (folder / f"data_batch_{i}").open("wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8),
                         b"labels": [int(v) for v in rng.integers(0, 10, 20)]}, f, protocol=2)
    assert load_batch("cifar10", batch_size=4, root=tmp_path).x.shape == (4, 3, 32, 32)
    with (folder / "data_batch_3").open("wb") as f:
        pickle.dump({b"data": _Evil(marker), b"labels": [0]}, f)
    with pytest.raises(ValueError) as e:
        load_batch("cifar10", batch_size=4, root=tmp_path)
    _refused(e, folder / "data_batch_3")
    assert not marker.exists()


def _arrays(path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
            for k, v in obj.attrs.items():
                if k not in ("created", "provenance"):
                    out[f"{name}@{k}"] = v
        f.visititems(visit)
        prov = json.loads(f.attrs["provenance"])
    out["@provenance"] = prov
    return out


def test_real_sample_imports_identically_and_trust_is_recorded(nats_sample_dir: Path,
                                                                tmp_path: Path) -> None:
    safe = _arrays(import_nb201(nats_sample_dir, out=tmp_path / "safe.h5"))
    trusted = _arrays(import_nb201(nats_sample_dir, out=tmp_path / "trusted.h5",
                                   trust_pickle=True))
    assert "trust_pickle" not in safe.pop("@provenance")
    assert trusted.pop("@provenance")["trust_pickle"] is True
    assert safe.keys() == trusted.keys()
    for k in safe:
        np.testing.assert_array_equal(safe[k], trusted[k], err_msg=k)


def test_cli_trust_pickle_flag(nats_sample_dir: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    src = _nats_copy(nats_sample_dir, tmp_path / "src")
    assert main(["data", "import", "nb201", str(src), "--name", "t", "--data-root",
                 str(tmp_path / "root"), "--trust-pickle"]) == 0
    with h5py.File(tmp_path / "root" / "tables" / "t.h5", "r") as f:
        assert json.loads(f.attrs["provenance"])["trust_pickle"] is True


# ----------------------------------------------------------------- 2. concurrent imports
_IMPORT = ("import sys\nfrom tabular_data import import_nb201\n"
           "try:\n    import_nb201(sys.argv[1], name='t', root=sys.argv[2])\n"
           "except Exception as e:\n    print(e, file=sys.stderr); sys.exit(3)\n")


def test_two_processes_importing_one_table(nats_sample_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for i in range(10):
        root = tmp_path / f"root{i}"
        procs = [subprocess.Popen([sys.executable, "-c", _IMPORT, str(nats_sample_dir),
                                   str(root)], stderr=subprocess.PIPE, text=True, env=env)
                 for _ in range(2)]
        results = [(p.wait(120), p.stderr.read() if p.stderr else "") for p in procs]
        assert any(rc == 0 for rc, _ in results), results
        for rc, err in results:
            assert rc == 0 or "being imported by PID" in err, results
        table = root / "tables" / "t.h5"
        b = TabularBenchmark(table)
        assert b.query(11, dataset="cifar10-valid")["valid_acc"] > 0
        assert not list((root / "tables").glob("*partial"))


def test_unreadable_table_of_same_source_is_reimported(nats_sample_dir: Path,
                                                        tmp_path: Path) -> None:
    out = import_nb201(nats_sample_dir, out=tmp_path / "t.h5")
    with h5py.File(out, "a") as f:  # readable header, broken content
        del f["datasets/cifar10-valid/valid_acc/mean"]
    assert import_nb201(nats_sample_dir, out=out) == out
    TabularBenchmark(out).query(11, dataset="cifar10-valid")


# ----------------------------------------------------------------- 3. impossible values
def test_out_of_bounds_value_is_refused(nb201_flat: Path, tmp_path: Path) -> None:
    import pandas as pd

    df = pd.read_csv(nb201_flat)
    df.loc[7, "c10v_valid_acc"] = 1e9
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"^cifar10-valid: cell 7 \(.*\).*valid_acc = "
                                         r"1000000000\.0 is outside its bounds \[0") as e:
        import_nb201(bad, out=tmp_path / "t.h5")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "t.h5").exists()
    assert not list(tmp_path.glob(".*partial"))


# ----------------------------------------------------------------- 4. one-line errors
def _one_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("benchbench: error:"), err
    return err[0]


def test_bad_name_and_bad_csv_give_one_line(nb201_flat: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    root = ["--data-root", str(tmp_path / "root")]
    assert "x.h5" in _one_error(["data", "import", "nb201", str(nb201_flat), "--name", "x.h5",
                                 *root], capsys)
    truncated = tmp_path / "trunc.csv.gz"
    truncated.write_bytes(nb201_flat.read_bytes()[:5000])
    assert "trunc.csv.gz" in _one_error(["data", "import", "nb201", str(truncated), *root],
                                        capsys)
    garbage = tmp_path / "garbage.csv.gz"
    garbage.write_bytes(os.urandom(3000))
    assert "garbage.csv.gz" in _one_error(["data", "import", "nb201", str(garbage), *root],
                                          capsys)
