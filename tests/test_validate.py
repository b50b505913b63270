"""Validation: retrain cells and compare them with a table (a small table built here, and the
embedded nb201-digits table when it is there)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from benchbench.protocols import get_protocol
from benchbench.store import StudyStore
from benchbench.trial import RECORD_FIELDS, RunManifest
from tabular_data import (
    TabularBenchmark,
    build_table,
    incumbents_from_runs,
    pooled_seed_std,
    read_cells,
    validate_table,
)

TINY = get_protocol("digits", epochs=2, train_images=64, batch_size=32)
EMBEDDED = Path(__file__).resolve().parents[1] / "tabular_data" / "embedded" / "nb201-digits.h5"


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> TabularBenchmark:
    out = tmp_path_factory.mktemp("val") / "small.h5"
    build_table(out, protocol=TINY, seeds=(0, 1), cells=range(30), chunk_size=16)
    return TabularBenchmark(out)


def test_pooled_sigma_matches_a_direct_computation(table: TabularBenchmark) -> None:
    from benchbench.spaces import NB201Space

    reps = sorted(set(NB201Space().class_ids("functional")[:30].tolist()))
    a = np.array([[table.query(r, dataset="digits", data_seed=s)["valid_loss"] for s in (0, 1)]
                  for r in reps])
    want = math.sqrt(np.mean(np.var(a, axis=1, ddof=1)))
    assert pooled_seed_std(table, "digits", "valid_loss", 2) == pytest.approx(want, rel=1e-12)


def test_retraining_with_a_table_seed_reproduces_its_curve(table: TabularBenchmark) -> None:
    rep = validate_table(table, [1, 5, 11, 29], seed=1, metric="valid_loss")
    assert rep.seed_in_table and rep.n_compared_exact == 4
    assert rep.n_exact == 4, rep.text()
    for c in rep.cells:
        assert c.retrained == pytest.approx(c.table_seed, abs=1e-6)
        assert c.z == pytest.approx((c.retrained - c.table_mean) / rep.sigma)
        assert c.trained_index <= c.index and c.train_s > 0


def test_retraining_with_a_new_seed_is_compared_in_sigmas(table: TabularBenchmark) -> None:
    rep = validate_table(table, list(range(0, 30, 3)), metric="valid_loss")
    assert rep.seed == 2 and not rep.seed_in_table and rep.n_compared_exact == 0
    assert all(math.isnan(c.table_seed) for c in rep.cells)
    assert 0.0 <= rep.fraction_within <= 1.0 and -1 <= rep.spearman <= 1
    d = rep.to_dict()
    assert json.loads(json.dumps(d))["cells"][0]["exact"] is None
    assert "within 2.5 sigma" in rep.text()


def _write_study(root: Path, incumbents: list[list[int]]) -> Path:
    for k, incs in enumerate(incumbents):
        d = root / "runs" / "rs" / f"seed-{k}"
        d.mkdir(parents=True)
        with (d / "records.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=RECORD_FIELDS)
            w.writeheader()
            for i, inc in enumerate(incs):
                w.writerow({**{n: "" for n in RECORD_FIELDS}, "eval": i, "incumbent_index": inc})
    return root


def test_cells_from_files_and_runs(tmp_path: Path) -> None:
    f = tmp_path / "cells.txt"
    f.write_text("12  # by index\n\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    idx = read_cells(f)
    assert idx[0] == 12 and len(idx) == 2
    f.write_text("|bad~0|\n")
    with pytest.raises(ValueError, match="cells.txt:1"):
        read_cells(f)
    study = _write_study(tmp_path / "study", [[3, 7, 7], [9, 9], [7]])
    assert incumbents_from_runs(study) == [7, 9]
    with pytest.raises(FileNotFoundError, match="records.csv"):
        incumbents_from_runs(tmp_path / "nothing")
    with pytest.raises(ValueError, match="no incumbents yet"):
        incumbents_from_runs(_write_study(tmp_path / "empty", [[], []]))


def _manifest(status: str, index: int, arch_id: str = "") -> RunManifest:
    return RunManifest(run_id="r", config={}, config_hash="h", benchmark={}, versions={},
                       seeds={}, status=status,
                       result={"incumbent_index": index, "incumbent_id": arch_id})


def test_incumbents_come_from_finished_manifests_else_records(tmp_path: Path) -> None:
    study = _write_study(tmp_path / "study", [[3, 5], [4, 6], [8]])
    store = StudyStore(study)
    # a finished run answers from its manifest (here unlike its records, to tell them apart)
    store.path.joinpath("runs", "rs", "seed-0", "manifest.json").write_text(
        json.dumps(_manifest("done", 21).to_dict()))
    # a run still going (or failed) answers from the last record
    store.path.joinpath("runs", "rs", "seed-1", "manifest.json").write_text(
        json.dumps(_manifest("running", 99).to_dict()))
    # a torn manifest counts as not finished
    store.path.joinpath("runs", "rs", "seed-2", "manifest.json").write_text("{\"stat")
    # a finished run with a manifest and no records; label "re" sorts before "rs"
    store.write_manifest(_manifest("done", 4), "re", 0)
    assert incumbents_from_runs(study) == [4, 21, 6, 8]
    store.write_manifest(_manifest("done", -1, "genotype-without-index"), "zz", 0)
    with pytest.raises(ValueError, match="'genotype-without-index' has no official index"):
        incumbents_from_runs(study)


def test_cli_validate(table: TabularBenchmark, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    from benchbench.cli import main

    study = _write_study(tmp_path / "study", [[4, 8], [8]])
    out = tmp_path / "check.json"
    assert main(["validate", "--benchmark", str(table.path), "--from-runs", str(study),
                 "--seed", "0", "--out", str(out), "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    assert [c["index"] for c in doc["cells"]] == [8] and doc["n_exact"] == 1
    assert "exact reproduction" in capsys.readouterr().out
    assert main(["validate", "--benchmark", str(table.path)]) == 2
    assert "exactly one of --cells" in capsys.readouterr().err


# ------------------------------------------------------------------ embedded table
@pytest.fixture(scope="module")
def embedded() -> TabularBenchmark:
    if not EMBEDDED.is_file():
        pytest.skip(f"the embedded table {EMBEDDED} is not built yet "
                    f"(see tabular_data/embedded/BUILD.md)")
    return TabularBenchmark(EMBEDDED)


def test_embedded_table_seed_is_reproduced_exactly(embedded: TabularBenchmark) -> None:
    rep = validate_table(embedded, [0, 1234, 15624], seed=0)
    assert rep.n_exact == rep.n_compared_exact == 3, rep.text()


@pytest.mark.slow
def test_embedded_table_new_seed_within_2_5_sigma(embedded: TabularBenchmark) -> None:
    from benchbench.spaces import NB201Space

    reps = np.unique(NB201Space().class_ids("functional"))  # 24 distinct trained networks
    cells = np.random.default_rng(7).choice(reps, 24, replace=False).tolist()
    rep = validate_table(embedded, cells, seed=5, workers=2)
    assert rep.fraction_within >= 0.9, rep.text()
    assert rep.spearman > 0.5, rep.text()
