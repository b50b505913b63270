"""The command line, end to end, on the real NB201 export and real training (in fresh
processes).  In-process tests of the CLI package are in test_cli_list.py."""

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

REPO = Path(__file__).resolve().parents[1]


def bb(*args: str, root: Path, check: bool = True,
       cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCHBENCH_DATA": str(root)}
    if cwd is not None:  # the package must still be importable from there
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-m", "benchbench.cli", *args], capture_output=True,
                         text=True, env=env, cwd=cwd)
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
    (("run", "--benchmark", "nope", "--dataset", "cifar10-valid", "--algorithms", "rs",
      "--seeds", "0", "--max-evals", "3", "--out", "x"),
     "unknown benchmark 'nope'; allowed: 'nats', 'nb201', 'nb201-digits', "
     "'nb201-digits-train', 'nb201-train'"),
    (("run", "--benchmark", "nb201", "--dataset", "cifar10-valid", "--algorithms",
      "rs,mine=nope", "--seeds", "0", "--max-evals", "3", "--out", "x"),
     "unknown optimizer 'nope'; allowed: .*'re'.*'rs'"),
    (("run", "--benchmark", "nb201", "--dataset", "cifar10-valid", "--algorithms",
      "mine=no_such_pkg.search:Mine", "--seeds", "0", "--max-evals", "3", "--out", "x"),
     "cannot import module 'no_such_pkg.search'"),
    (("query", "nb201-digits-train", "0", "--dataset", "digits", "--benchmark-option",
      "bogus=1"), r"cannot open benchmark 'nb201-digits-train' with options \{'bogus': 1\}.*"
                  r"its options: \[.*'mean_seeds'.*\]"),
    (("validate", "--benchmark", "nb201-digits-train", "--cells", "cells.txt"),
     "'nb201-digits-train' is a training benchmark"),
    (("list", "nope"), "unknown list kind 'nope'; allowed: 'spaces'"),
])
def test_errors_are_one_clear_line(root: Path, args: tuple[str, ...], msg: str,
                                   tmp_path: Path) -> None:
    out = bb(*args, root=root, check=False, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    import re

    assert re.search(msg, out.stderr), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.startswith("benchbench: error: ")
    assert not (tmp_path / "x").exists()  # nothing was written


def test_data_root_before_or_after_the_command(root: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"  # $BENCHBENCH_DATA: --data-root must win
    for args in (("--data-root", str(root), "data", "list"),
                 ("data", "list", "--data-root", str(root))):
        out = bb(*args, root=empty).stdout
        assert "nats " in out and "nb201 " in out and "nb201-digits-train" in out
    assert "nats " not in bb("data", "list", root=empty).stdout
    for args in (("--data-root", str(root), "query", "nats", "11", "--dataset", "cifar10-valid",
                  "--json"),
                 ("query", "nats", "11", "--dataset", "cifar10-valid", "--json", "--data-root",
                  str(root))):
        assert json.loads(bb(*args, root=empty).stdout)["index"] == 11


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


def test_real_training_from_the_cli(tmp_path: Path) -> None:
    """`nb201-digits-train` by name: query and run train for real; --benchmark-option reaches
    the factory."""
    pytest.importorskip("torch")
    root = tmp_path / "empty-root"
    q = ("query", "nb201-digits-train", "100", "--dataset", "digits", "--epoch", "2", "--json")
    seed0 = json.loads(bb(*q, "--seed", "0", root=root).stdout)
    assert seed0["benchmark"] == "nb201-digits-train" and seed0["index"] == 100
    assert seed0["epoch"] == 2 and seed0["data_seed"] == 0 and seed0["cost_s"] > 0
    assert 0 <= seed0["values"]["valid_acc"] <= 100
    # the seed mean over mean_seeds=[0] is seed 0's run (training is bit-reproducible on CPU;
    # over the default seeds (0, 1) it would differ)
    mean0 = json.loads(bb(*q, "--benchmark-option", "mean_seeds=[0]", root=root).stdout)
    assert mean0["data_seed"] is None and mean0["values"] == seed0["values"]

    # search by training 2 epochs, report the incumbents from the embedded table at 12
    study = tmp_path / "trained"
    out = bb("run", "--benchmark", "nb201-digits-train", "--dataset", "digits", "--algorithms",
             "rs,re2=re", "--param", "re2.population_size=2", "--seeds", "0-1", "--max-evals",
             "3", "--epoch", "2", "--workers", "1", "--benchmark-option", "mean_seeds=[0]",
             "--report-benchmark", "nb201-digits", "--out", str(study), root=root).stdout
    assert "4 runs done" in out
    spec = json.loads((study / "study.json").read_text())
    assert spec["benchmark"]["name"] == "nb201-digits-train"
    assert spec["benchmark"]["kind"] == "training" and spec["fidelity"] == 2
    assert spec["search"]["report_benchmark"]["name"] == "nb201-digits"
    assert spec["search"]["report_fidelity"] == 12
    assert spec["algorithms"] == {"rs": {}, "re2": {"algorithm": "re", "population_size": 2}}
    rec = pd.read_csv(study / "runs" / "re2" / "seed-000001" / "records.csv")
    assert len(rec) == 3 and (rec["cost_s"] > 0).all() and (rec["fidelity"] == 2).all()
    bb("report", str(study), "--summary-only", root=root)
    assert sorted(pd.read_csv(study / "summary.csv")["algorithm"]) == ["re2", "rs"]
