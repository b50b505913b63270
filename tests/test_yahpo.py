"""YAHPO Gym's ONNX surrogate of NAS-Bench-301 served as ``nb301-yahpo``: the README's reference
values and cross-check reproduced, batched outputs equal the ORIGINAL file's per-row outputs,
the benchmark contract, the CLI (import, query, studies, report) and bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the YAHPO surrogate needs onnxruntime "
                                          "(pip install 'benchbench[onnx]')")
pytest.importorskip("onnx", reason="importing the YAHPO surrogate needs onnx "
                                   "(pip install 'benchbench[onnx]')")

from benchbench.api import BenchmarkError, MissingDataError
from benchbench.registry import open_benchmark
from benchbench.spaces import DartsSpace
from benchbench.testing import check_benchmark
from surrogates.yahpo import (
    BATCHED_FILE,
    DARTS_V2,
    MODEL_FILE,
    REFERENCE,
    YahpoError,
    YahpoNB301,
    import_yahpo_nb301,
)
from tests.conftest import require

REPO = Path(__file__).resolve().parents[1]
S = DartsSpace()


@pytest.fixture(scope="module")
def source(shared_data: Path) -> Path:
    return require(shared_data / "nb301" / "yahpo_nb301")


@pytest.fixture(scope="module")
def root(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("yahpo")
    import_yahpo_nb301(source, root=r)
    return r


@pytest.fixture(scope="module")
def bench(root: Path) -> Any:
    return open_benchmark("nb301-yahpo", data_root=root)


@pytest.fixture(scope="module")
def cells_725(shared_data: Path) -> dict[str, Any]:
    path = require(shared_data / "nb301" / "darts_725_with_zc.json")
    return json.loads(path.read_text())["cifar10"]  # type: ignore[no-any-return]


def _original_per_row(source: Path, x_cat: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """The file as shipped (batch fixed at 1), one call per row."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(source / MODEL_FILE), so,
                                providers=["CPUExecutionProvider"])
    assert [d for d in sess.get_inputs()[0].shape] == [1, 34]
    return np.concatenate([
        sess.run(None, {"x_cat": x_cat[i:i + 1],
                        "x_cont": np.asarray([[e]], dtype=np.float32)})[0]
        for i, e in enumerate(epochs)])


def test_readme_reference_values(bench: YahpoNB301) -> None:
    """DARTS-V2 at epochs 1/10/50/98 -> the YAHPO folder README's (valid acc %, runtime s)."""
    for epoch, (acc, runtime) in REFERENCE.items():
        ev = bench.query(DARTS_V2, dataset="cifar10", fidelity=epoch)
        assert ev.values["valid_acc"] == pytest.approx(acc, rel=1e-6)
        assert ev.cost_s == pytest.approx(runtime, rel=1e-6)
    tr = bench.trajectory(DARTS_V2, dataset="cifar10")
    assert list(tr.epochs) == list(range(1, 99))
    assert tr.values["valid_acc"][49] == bench.query(DARTS_V2, dataset="cifar10",
                                                     fidelity=50).values["valid_acc"]


def test_batched_equals_the_original_file_per_row_on_725_cells(
        bench: YahpoNB301, source: Path, cells_725: dict[str, Any]) -> None:
    archs = [S.parse(k) for k in cells_725]
    x = bench.encode(archs)
    rng = np.random.default_rng(0)
    epochs = rng.integers(1, 99, size=len(archs))
    epochs[:4] = list(REFERENCE)
    original = _original_per_row(source, x, epochs)
    batched = bench.predict(x, epochs)
    assert np.array_equal(batched, original)  # bit-identical, not only close
    many = bench.query_many(archs, dataset="cifar10", fidelity=98)
    at98 = _original_per_row(source, x[:50], np.full(50, 98))
    assert np.array_equal(many.values["valid_acc"][:50], at98[:, 0].astype(np.float64))
    assert np.array_equal(many.cost_s[:50], at98[:, 1].astype(np.float64))
    m = bench.manifest
    assert m["batching_check"]["max_abs_diff"] == 0.0 and m["batching_check"]["rows"] == 516
    assert m["model_sha256"] != m["batched_sha256"]


def test_readme_cross_check_on_725_cells(bench: YahpoNB301, cells_725: dict[str, Any]) -> None:
    """README: Spearman 0.905 / Kendall 0.734 against the 725 cells' real val_accuracy at
    epoch 98 (NASLib's op codes in the order max, avg, skip, sep3, sep5, dil3, dil5)."""
    from scipy import stats

    pred = bench.query_many(list(cells_725), dataset="cifar10").values["valid_acc"]
    true = np.array([v["val_accuracy"] for v in cells_725.values()])
    assert round(float(stats.spearmanr(pred, true).statistic), 3) == 0.905
    assert round(float(stats.kendalltau(pred, true).statistic), 3) == 0.734


def test_benchmark_contract(bench: YahpoNB301) -> None:
    check_benchmark(bench, n=6)
    d = bench.describe()
    assert d.kind == "surrogate" and d.data_sha256 == bench.manifest["model_sha256"]
    assert d.extra["model_id"].startswith("yahpo-nb301@")


def test_bad_queries_get_one_line_errors(bench: YahpoNB301) -> None:
    from benchbench.spaces import NB201Space

    nb201 = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|"
             "avg_pool_3x3~2|")
    cases: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
        (nb201, {}, ValueError, "is not a DARTS id"),
        (NB201Space().from_index(11), {}, BenchmarkError, "DARTS cells only"),
        (DARTS_V2, {"fidelity": 99}, MissingDataError, "1..98"),
        (DARTS_V2, {"fidelity": 0}, MissingDataError, "1..98"),
        (DARTS_V2, {"data_seed": 0}, BenchmarkError, "deterministic"),
    ]
    for arch, kw, exc, words in cases:
        with pytest.raises(exc) as e:
            bench.query(arch, dataset="cifar10", **kw)
        assert words in str(e.value) and "\n" not in str(e.value)


def test_corrupted_or_missing_files(source: Path, root: Path, tmp_path: Path) -> None:
    bad_src = tmp_path / "src"
    shutil.copytree(source, bad_src)
    data = bytearray((bad_src / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad_src / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(YahpoError, match="sha256 .* not the published"):
        import_yahpo_nb301(bad_src, root=tmp_path / "r1")
    (bad_src / "encoding.json").unlink()
    with pytest.raises(YahpoError, match="lacks encoding.json"):
        import_yahpo_nb301(bad_src, root=tmp_path / "r1")
    assert not (tmp_path / "r1" / "yahpo" / "nb301-yahpo").exists()  # nothing half-written

    folder = tmp_path / "copy"
    shutil.copytree(root / "yahpo" / "nb301-yahpo", folder)
    with open(folder / BATCHED_FILE, "r+b") as f:
        f.seek(100)
        f.write(b"\0\0\0\0")
    with pytest.raises(YahpoError, match="corrupted: sha256"):
        YahpoNB301(folder)
    (folder / BATCHED_FILE).unlink()
    with pytest.raises(YahpoError, match="is missing"):
        YahpoNB301(folder)
    with pytest.raises(LookupError, match="nb301-yahpo"):
        open_benchmark("nb301-yahpo", data_root=tmp_path / "empty")


def _bb(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENCHBENCH_DATA": str(root)}
    out = subprocess.run([sys.executable, "-m", "benchbench.cli", *args], capture_output=True,
                         text=True, env=env, cwd=REPO)
    assert out.returncode == 0, f"benchbench {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out


def test_cli_import_studies_and_report(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    out = _bb("data", "import", "nb301-yahpo", str(source), root=root).stdout
    assert "max |diff| 0" in out
    assert "nothing to do" in _bb("data", "import", "nb301-yahpo", str(source), root=root).stdout
    doc = json.loads(_bb("query", "nb301-yahpo", S.arch_id(S.parse(DARTS_V2)), "--dataset",
                         "cifar10", "--epoch", "10", "--json", root=root).stdout)
    assert doc["values"]["valid_acc"] == pytest.approx(REFERENCE[10][0], rel=1e-6)
    study = tmp_path / "study"
    _bb("run", "--benchmark", "nb301-yahpo", "--dataset", "cifar10", "--algorithms",
        "rs,re,reinforce,ls", "--seeds", "0-1", "--max-evals", "20", "--noise", "mean",
        "--test-metric", "", "--workers", "1", "--out", str(study), "--no-progress", root=root)
    _bb("report", str(study), "--no-figures", root=root)
    report = (study / "report" / "report.md").read_text()
    assert "nb301-yahpo" in report and "3c6a6fb3a70998bf" in report
    for algo in ("rs", "re", "reinforce", "ls"):
        assert algo in report


def test_import_does_not_load_onnxruntime() -> None:
    code = ("import sys, benchbench, surrogates.yahpo, benchbench.registry as r; "
            "r.BACKENDS.load('yahpo'); "
            "print('onnxruntime' in sys.modules, 'onnx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.split() == ["False", "False"], out.stderr
