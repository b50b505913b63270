"""The command line, end to end, on the real NB201 export (in fresh processes)."""

from __future__ import annotations

import bz2
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


def bb(*args: str, root: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCHBENCH_DATA": str(root)}
    out = subprocess.run([sys.executable, "-m", "benchbench.cli", *args], capture_output=True,
                         text=True, env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"benchbench {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out


@pytest.fixture(scope="module")
def root(nb201_flat: Path, nats_sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("root")
    bb("data", "import", "nb201", str(nb201_flat), root=r)
    bb("data", "import", "nb201", str(nats_sample_dir), "--name", "nats", root=r)
    return r


def test_data_list_and_refused_overwrite(root: Path, nb201_flat: Path) -> None:
    out = bb("data", "list", root=root).stdout
    assert "nb201" in out and "nats" in out
    again = bb("data", "import", "nb201", str(nb201_flat), "--name", "nats", root=root,
               check=False)
    assert again.returncode == 2 and "--force" in again.stderr
    assert "already imported" in bb("data", "import", "nb201", str(nb201_flat), root=root).stdout
    desc = json.loads(bb("data", "describe", "nats", root=root).stdout)
    assert desc["kind"] == "tabular" and len(desc["data_sha256"]) == 64


def test_query_json(root: Path, nats_sample_dir: Path) -> None:
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|"
    doc = json.loads(bb("query", "nb201", cell, "--dataset", "cifar10-valid", "--json",
                        root=root).stdout)
    assert doc["index"] == 11 and doc["values"]["valid_acc"] == 87.94
    doc = json.loads(bb("query", "nats", "11", "--dataset", "cifar10-valid", "--metric",
                        "valid_acc", "--epoch", "12", "--seed", "888", "--json", root=root).stdout)
    raw = pickle.load(bz2.BZ2File(nats_sample_dir / "000011.pickle.pbz2"))["200"]
    r = raw["all_results"][("cifar10-valid", 888)]
    assert doc["values"] == {"valid_acc": r["eval_acc1es"]["x-valid@11"]} and doc["epoch"] == 12
    assert doc["cost_s"] == pytest.approx(sum(r["train_times"][e] for e in range(12)))


@pytest.mark.parametrize("args, msg", [
    (("query", "nb201", "11", "--dataset", "cifar100", "--metric", "valid_acc"),
     "unknown metric 'valid_acc' on dataset 'cifar100'"),
    (("query", "nb201", "11", "--dataset", "cifar10-valid", "--seed", "888", "--metric",
      "test_acc"), "no recorded value.*seed means only"),
    (("query", "nats", "11", "--dataset", "cifar10-valid", "--epoch", "0"), "epoch 0 is not"),
    (("query", "nope", "11", "--dataset", "cifar10"), "unknown benchmark.*'nats', 'nb201'"),
    (("run", "--benchmark", "nb201", "--dataset", "cifar10-valid", "--algorithms", "rs",
      "--seeds", "5-1", "--max-evals", "3", "--out", "x"), "bad seed list '5-1'"),
    (("run", "--benchmark", "nb201", "--dataset", "cifar10-valid", "--algorithms", "rs",
      "--seeds", "0", "--max-evals", "3", "--out", "x", "--param", "re.sample_size=2"),
     "names algorithm 're', which is not in --algorithms"),
])
def test_errors_are_one_clear_line(root: Path, args: tuple[str, ...], msg: str) -> None:
    out = bb(*args, root=root, check=False)
    assert out.returncode == 2, out.stderr
    import re

    assert re.search(msg, out.stderr), out.stderr
    assert "Traceback" not in out.stderr


def test_run_resume_and_report(root: Path, tmp_path: Path) -> None:
    study = tmp_path / "study"
    args = ("run", "--benchmark", "nb201", "--dataset", "cifar10-valid", "--algorithms",
            "rs,re,reinforce,ls", "--seeds", "0-9", "--max-evals", "25", "--out", str(study),
            "--workers", "2", "--param", "re.population_size=5")
    assert "40 runs done" in bb(*args, root=root).stdout
    assert "0 runs done, 40 already done" in bb(*args, root=root).stdout
    man = json.loads((study / "runs" / "re" / "seed-000003" / "manifest.json").read_text())
    assert man["result"]["params"]["population_size"] == 5
    s = json.loads((study / "study.json").read_text())
    assert s["command"].startswith("benchbench run --benchmark nb201")
    bb("report", str(study), "--summary-only", root=root)
    summary = pd.read_csv(study / "summary.csv")
    assert sorted(summary["algorithm"]) == ["ls", "re", "reinforce", "rs"]
    assert (summary["runs"] == 10).all()


def test_proxies_import_naslib_and_correlate(root: Path, shared_data: Path, tmp_path: Path) -> None:
    zc = shared_data / "nb201" / "zc_scores_725.json"
    if not zc.is_file():
        pytest.skip(f"{zc} absent")
    out = tmp_path / "zc"
    bb("proxies", "import-naslib", str(zc), "--dataset", "cifar10", "--out", str(out), root=root)
    bb("proxies", "correlate", str(out), "--benchmark", "nb201", "--dataset", "cifar10-valid",
       "--metric", "valid_acc", "--n-boot", "100", root=root)
    df = pd.read_csv(out / "correlation_cifar10-valid_valid_acc.csv").set_index("proxy")
    # the independent scores rank the real NB201 accuracies as published (signed Spearman)
    assert df.loc["synflow", "spearman"] == pytest.approx(0.734, abs=0.01)
    assert df.loc["synflow", "n"] == 724 and df.loc["synflow", "n_nan"] == 1
    assert df.loc["plain", "spearman"] < 0  # signed, never an absolute value


EMBEDDED = Path(__file__).resolve().parents[1] / "tabular_data" / "embedded" / "nb201-digits.h5"


def test_quick_start_on_the_embedded_table(tmp_path: Path) -> None:
    """The README's main job, scaled down, with an empty data root: the embedded table is
    found by name and needs no import."""
    if not EMBEDDED.is_file():
        pytest.skip(f"the embedded table {EMBEDDED} is not built (tabular_data/embedded/BUILD.md)")
    root = tmp_path / "empty-root"
    assert "nb201-digits" in bb("data", "list", root=root).stdout
    doc = json.loads(bb("query", "nb201-digits", "0", "--dataset", "digits", "--epoch", "12",
                        "--seed", "1", "--json", root=root).stdout)
    assert 0 <= doc["values"]["valid_acc"] <= 100 and doc["cost_s"] > 0
    study = tmp_path / "quickstart"
    out = bb("run", "--benchmark", "nb201-digits", "--dataset", "digits", "--algorithms",
             "rs,re,reinforce,ls", "--seeds", "0-19", "--max-evals", "50", "--out", str(study),
             root=root).stdout
    assert "80 runs done" in out
    bb("report", str(study), "--no-figures", root=root)
    summary = pd.read_csv(study / "summary.csv")
    assert (summary["runs"] == 20).all() and (summary["valid_mean"] > 80).all()
    assert (study / "report" / "report.md").is_file()
