"""Report integrity (issue 10), on real runner studies of the embedded ``nb201-digits`` table:
every planned run (study.json algorithms × seeds) that is missing, altered or unfinished is
listed, and the report, summary.csv and the printed summary say the numbers are partial."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import results
from benchbench.registry import open_benchmark
from benchbench.runner import run_study

ALGS = {"rs": {}, "re": {}}
SEEDS = list(range(5))
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("digits") / "study"
    run_study(open_benchmark("nb201-digits"), out, dataset="digits", algorithms=ALGS,
              seeds=SEEDS, max_evals=20)
    return out


@pytest.fixture
def study(clean: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "study"
    shutil.copytree(clean, dst)
    return dst


def _run(study: Path, alg: str, seed: int) -> Path:
    return study / "runs" / alg / f"seed-{seed:06d}"


def _manifest(study: Path, alg: str, seed: int) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((_run(study, alg, seed) / "manifest.json").read_text())
    return doc


def _write_manifest(study: Path, alg: str, seed: int, doc: dict[str, Any]) -> None:
    (_run(study, alg, seed) / "manifest.json").write_text(json.dumps(doc))


def _summary(study: Path) -> tuple[pd.DataFrame, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = results.write_summary(study)
    return df, [str(w.message) for w in caught
                if issubclass(w.category, results.PartialResultsWarning)]


def test_a_complete_study_says_so(clean: Path, tmp_path: Path) -> None:
    s = results.load_study(clean)
    c = s.completeness
    assert (c.planned, c.used, c.partial) == (10, 10, False)
    assert s.planned == tuple((a, k) for a in ALGS for k in SEEDS)
    assert s.missing == s.altered == s.unfinished == ()
    df, warned = _summary(clean)
    assert warned == [] and df["planned"].tolist() == [5, 5] and df.attrs["partial"] == []
    text = results.build_report(clean, tmp_path / "rep", formats=()).read_text()
    assert "PARTIAL" not in text
    assert "Every planned run is in the numbers" in text


def test_one_deleted_run_folder(study: Path, tmp_path: Path) -> None:
    # the case that went unnoticed: a summary silently over 9 of 10 runs
    shutil.rmtree(_run(study, "re", 3))
    s = results.load_study(study)
    assert [(k.algorithm, k.seed, k.kind) for k in s.missing] == [("re", 3, "missing")]
    assert s.completeness.text().startswith("9 of 10 planned runs (1 missing")
    df, warned = _summary(study)
    assert df.set_index("algorithm").loc["re", ["runs", "planned"]].tolist() == [4, 5]
    assert len(warned) == 1 and "PARTIAL" in warned[0] and "9 of 10 planned runs" in warned[0]
    text = results.build_report(study, tmp_path / "rep", formats=()).read_text()
    head = text[:text.index("## Completeness")]
    assert "**PARTIAL RESULTS: 9 of 10 planned runs are in the numbers.**" in head
    assert "| digits | runs/re/seed-000003 | missing |" in text
    final = pd.read_csv(tmp_path / "rep" / "tables" / "final_digits.csv").set_index("algorithm")
    assert final.loc["re", "runs"] == 4 and final.loc["re", "planned"] == 5
    assert "| re | 4 of 5 |" in text  # the final table's runs column


def test_altered_missing_and_unfinished_runs_are_listed(study: Path, tmp_path: Path) -> None:
    # (1) a mid-run record edited; the final values still agree with the manifest
    p = _run(study, "rs", 1) / "records.csv"
    lines = p.read_text().splitlines(keepends=True)
    row = lines[5].split(",")
    row[5] = str(float(row[5]) + 1.0)  # the objective of evaluation 4
    lines[5] = ",".join(row)
    p.write_text("".join(lines))
    # (2) the final incumbent's value edited in the records and, consistently, in the
    # manifest: only the checksum can tell
    p = _run(study, "re", 1) / "records.csv"
    lines = p.read_text().splitlines(keepends=True)
    row = lines[-1].rstrip("\n").split(",")
    row[10] = str(float(row[10]) + 2.0)  # incumbent_test
    lines[-1] = ",".join(row) + "\n"
    p.write_text("".join(lines))
    m = _manifest(study, "re", 1)
    m["result"]["final_test"] = float(row[10])
    _write_manifest(study, "re", 1, m)
    # (3) another final incumbent in the manifest
    m = _manifest(study, "re", 2)
    m["result"]["incumbent_id"] = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    _write_manifest(study, "re", 2, m)
    # (4) a deleted run folder, (5) a run still running, (6) a failed run
    shutil.rmtree(_run(study, "rs", 3))
    m = _manifest(study, "re", 4)
    m["status"] = "running"
    _write_manifest(study, "re", 4, m)
    m = _manifest(study, "rs", 4)
    m.update(status="failed", error="RuntimeError: out of memory")
    _write_manifest(study, "rs", 4, m)

    s = results.load_study(study)
    kinds = {(k.algorithm, k.seed): (k.kind, k.reason) for k in s.skipped}
    assert set(kinds) == {("rs", 1), ("re", 1), ("re", 2), ("rs", 3), ("re", 4), ("rs", 4)}
    assert kinds[("rs", 1)][0] == "altered" and "records_sha256" in kinds[("rs", 1)][1]
    assert kinds[("re", 1)][0] == "altered" and "records_sha256" in kinds[("re", 1)][1]
    assert kinds[("re", 2)][0] == "altered" and "final incumbent_id" in kinds[("re", 2)][1]
    assert kinds[("rs", 3)][0] == "missing"
    assert kinds[("re", 4)][0] == "unfinished" and "still running" in kinds[("re", 4)][1]
    assert kinds[("rs", 4)][0] == "unfinished" and "out of memory" in kinds[("rs", 4)][1]
    assert [(k.algorithm, k.seed) for k in s.altered] == [("re", 1), ("re", 2), ("rs", 1)]
    assert [(k.algorithm, k.seed) for k in s.unfinished] == [("re", 4), ("rs", 4)]
    c = s.completeness
    assert (c.planned, c.used, c.partial) == (10, 4, True)
    assert c.text() == ("4 of 10 planned runs (1 missing, 3 altered, 2 unfinished, "
                        "0 incomparable)")
    assert {a: r.seeds.tolist() for a, r in s.runs.items()} == {"rs": [0, 2], "re": [0, 3]}

    df, warned = _summary(study)
    assert df.set_index("algorithm")[["runs", "planned"]].to_dict("list") == {
        "runs": [2, 2], "planned": [5, 5]}
    assert df.attrs["partial"] == [f"digits: {c.text()}"]
    assert warned and "4 of 10 planned runs" in warned[0]

    report = results.build_report(study, tmp_path / "rep", formats=())
    text = report.read_text()
    head = text[:text.index("## Completeness")]
    assert "**PARTIAL RESULTS: 4 of 10 planned runs are in the numbers.**" in head
    for path, kind in (("rs/seed-000001", "altered"), ("re/seed-000001", "altered"),
                       ("re/seed-000002", "altered"), ("rs/seed-000003", "missing"),
                       ("re/seed-000004", "unfinished"), ("rs/seed-000004", "unfinished")):
        assert f"| digits | runs/{path} | {kind} |" in text, path
    comp = pd.read_csv(tmp_path / "rep" / "tables" / "completeness.csv")
    assert comp[["planned", "used", "missing", "altered", "unfinished"]].iloc[0].tolist() == \
        [10, 4, 1, 3, 2]
    assert "PARTIAL" in (tmp_path / "rep" / "tables" / "final_digits.md").read_text()
    assert "PARTIAL" in (tmp_path / "rep" / "tables" / "main.md").read_text()


def test_printed_summary_of_a_partial_study(study: Path) -> None:
    # `benchbench report --summary-only` prints summary.csv: runs beside planned, and the
    # warning that the numbers are partial
    shutil.rmtree(_run(study, "rs", 0))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO),
                                                        os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "benchbench.cli", "report", str(study),
                          "--summary-only"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    header = lines[0].split()
    assert header[:4] == ["study", "algorithm", "runs", "planned"]
    assert lines[1].split()[:4] == ["digits", "rs", "4", "5"]
    assert "PARTIAL: digits: 9 of 10 planned runs (1 missing" in out.stderr


def test_runs_outside_the_plan_are_not_counted_as_planned(study: Path) -> None:
    # a run of a seed the study did not plan: left out as "unplanned", not counted against
    # the plan; a folder without a manifest for a planned run is "missing"
    src, dst = _run(study, "rs", 2), _run(study, "rs", 7)
    shutil.copytree(src, dst)
    m = _manifest(study, "rs", 7)
    m["config"]["seed"] = 7
    _write_manifest(study, "rs", 7, m)
    (_run(study, "re", 0) / "manifest.json").unlink()
    s = results.load_study(study)
    kinds = {(k.algorithm, k.seed): k.kind for k in s.skipped}
    assert kinds == {("rs", 7): "unplanned", ("re", 0): "missing"}
    c = s.completeness
    assert (c.planned, c.used, len(c.unplanned), len(c.missing)) == (10, 9, 1, 1)
