"""Runner and studies on the real NB201 table: fairness, resumability, failures, parallelism."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchbench.api import BenchmarkError
from benchbench.runner import execute_run, plan_study, run_study
from tabular_data import TabularBenchmark, import_nb201

ALGOS = {"rs": {}, "re": {}, "reinforce": {}, "ls": {}}


@pytest.fixture(scope="module")
def flat(nb201_flat: Path, tmp_path_factory: pytest.TempPathFactory) -> TabularBenchmark:
    return TabularBenchmark(import_nb201(nb201_flat, out=tmp_path_factory.mktemp("t") / "t.h5"))


def records(out: Path, label: str, seed: int) -> pd.DataFrame:
    return pd.read_csv(out / "runs" / label / f"seed-{seed:06d}" / "records.csv",
                       keep_default_na=False, na_values=[""])


def manifest(out: Path, label: str, seed: int) -> dict:
    return json.loads((out / "runs" / label / f"seed-{seed:06d}" / "manifest.json").read_text())


def test_study_layout_and_record_semantics(flat: TabularBenchmark, tmp_path: Path) -> None:
    res = run_study(flat, tmp_path, dataset="cifar10-valid", algorithms=ALGOS, seeds=[0, 1, 2],
                    max_evals=40)
    assert (res.done, res.skipped, res.failed) == (12, 0, 0)
    study = json.loads((tmp_path / "study.json").read_text())
    assert study["optimum"]["objective"]["value"] == pytest.approx(91.60666665)
    assert study["benchmark"]["data_sha256"] == flat.source_sha256
    for label in ALGOS:
        df = records(tmp_path, label, 1)
        m = manifest(tmp_path, label, 1)
        assert m["status"] == "done" and len(df) == 40 == m["result"]["n_evals"]
        # what the optimizer saw is that cell's recorded run of that seed
        for _, r in df.iterrows():
            assert r.objective == flat.query(int(r.arch_index), dataset="cifar10-valid",
                                             data_seed=int(r.data_seed))["valid_acc"]
        # the incumbent is the best *observed* value; reported with seed means
        best = df.objective.cummax()
        inc = df.incumbent_index.to_numpy()
        assert (df.objective.to_numpy()[[int(np.flatnonzero(df.arch_index.to_numpy() == i)[0])
                                         for i in inc]] == best.to_numpy()).all()
        last = flat.query(int(inc[-1]), dataset="cifar10-valid")
        assert df.incumbent_valid.iloc[-1] == last["valid_acc"]
        assert df.incumbent_test.iloc[-1] == last["test_acc"] == m["result"]["final_test"]
        assert np.allclose(df.sim_time_s, df.cost_s.cumsum())


def test_common_random_numbers_across_algorithms(flat: TabularBenchmark, tmp_path: Path) -> None:
    run_study(flat, tmp_path, dataset="cifar10-valid", algorithms={"rs": {}, "ls": {}},
              seeds=[3], max_evals=150)
    a, b = records(tmp_path, "rs", 3), records(tmp_path, "ls", 3)
    seen = dict(zip(a.arch_index, a.data_seed))
    shared = [(i, s) for i, s in zip(b.arch_index, b.data_seed) if i in seen]
    assert shared and all(seen[i] == s for i, s in shared)
    # and the seeds really vary between cells (it is not a constant)
    assert len(set(a.data_seed)) == 3


def test_parallel_equals_serial_and_fresh_process(flat: TabularBenchmark, tmp_path: Path) -> None:
    run_study(flat, tmp_path / "serial", dataset="cifar10-valid", algorithms=ALGOS,
              seeds=[0, 5], max_evals=30, workers=1)
    run_study(flat, tmp_path / "par", dataset="cifar10-valid", algorithms=ALGOS,
              seeds=[0, 5], max_evals=30, workers=2)
    for label in ALGOS:
        for s in (0, 5):
            pd.testing.assert_frame_equal(records(tmp_path / "serial", label, s),
                                          records(tmp_path / "par", label, s))
    code = ("import sys, json; from benchbench.runner import plan_study, execute_run; "
            "from tabular_data import TabularBenchmark; b = TabularBenchmark(sys.argv[1]); "
            "c = plan_study(b, dataset='cifar10-valid', algorithms={'re': {}}, seeds=[5], "
            "max_evals=30)[0]; print(json.dumps([r[2] for r in execute_run(b, c)[0]]))")
    out = subprocess.run([sys.executable, "-c", code, str(flat.path)], capture_output=True,
                         text=True, check=True)
    assert json.loads(out.stdout) == records(tmp_path / "serial", "re", 5).arch_index.tolist()
    other = plan_study(flat, dataset="cifar10-valid", algorithms={"re": {}}, seeds=[6],
                       max_evals=30)[0]
    assert [r[2] for r in execute_run(flat, other)[0]] != json.loads(out.stdout)


def test_resume_skips_done_runs_and_refuses_mixing(flat: TabularBenchmark, tmp_path: Path) -> None:
    run_study(flat, tmp_path, dataset="cifar10-valid", algorithms={"rs": {}}, seeds=[0, 1],
              max_evals=20)
    # a run interrupted mid-way (manifest still 'running') is run again; done ones are skipped
    m = tmp_path / "runs" / "rs" / "seed-000001" / "manifest.json"
    doc = json.loads(m.read_text())
    doc["status"] = "running"
    m.write_text(json.dumps(doc))
    before = (tmp_path / "runs" / "rs" / "seed-000000" / "records.csv").stat().st_mtime_ns
    res = run_study(flat, tmp_path, dataset="cifar10-valid", algorithms={"rs": {}},
                    seeds=[0, 1, 2], max_evals=20)
    assert (res.done, res.skipped) == (2, 1)
    assert (tmp_path / "runs" / "rs" / "seed-000000" / "records.csv").stat().st_mtime_ns == before
    with pytest.raises(BenchmarkError, match="different budget"):
        run_study(flat, tmp_path, dataset="cifar10-valid", algorithms={"rs": {}}, seeds=[0],
                  max_evals=21)
    with pytest.raises(BenchmarkError, match="algorithm 'rs' was run with"):
        run_study(flat, tmp_path, dataset="cifar10-valid", algorithms={"rs": {"dedup": True}},
                  seeds=[0], max_evals=20)


def test_failing_run_is_recorded_not_fatal(nats_sample_dir: Path, tmp_path: Path) -> None:
    # a table with only 3 of 15,625 cells: searching it fails on the first missing cell
    b = TabularBenchmark(import_nb201(nats_sample_dir, out=tmp_path / "nats.h5"))
    res = run_study(b, tmp_path / "s", dataset="cifar10-valid", algorithms={"rs": {}},
                    seeds=[0, 1], max_evals=5)
    assert res.failed == 2 and res.done == 0
    m = manifest(tmp_path / "s", "rs", 0)
    assert m["status"] == "failed" and "MissingDataError" in m["error"]


def test_transfer_records_incumbents_on_other_datasets(flat: TabularBenchmark,
                                                        tmp_path: Path) -> None:
    run_study(flat, tmp_path, dataset="cifar10-valid", algorithms={"re": {}}, seeds=[4],
              max_evals=30, transfer=["cifar10", "cifar100"])
    res = manifest(tmp_path, "re", 4)["result"]
    inc = res["incumbent_index"]
    assert res["transfer"]["cifar10"] == {
        "valid": None, "test": flat.query(inc, dataset="cifar10")["test_acc"]}  # no valid split
    assert res["transfer"]["cifar100"]["test"] == flat.query(inc, dataset="cifar100")["test_acc"]
    assert json.loads((tmp_path / "study.json").read_text())["transfer"] == ["cifar10", "cifar100"]


def test_budget_in_simulated_seconds(flat: TabularBenchmark, tmp_path: Path) -> None:
    run_study(flat, tmp_path, dataset="cifar10-valid", algorithms={"re": {}}, seeds=[0],
              max_seconds=20000.0)
    df = records(tmp_path, "re", 0)
    assert df.sim_time_s.iloc[-2] < 20000.0 <= df.sim_time_s.iloc[-1]


def test_bad_settings_are_refused(flat: TabularBenchmark, tmp_path: Path) -> None:
    def plan(**kw):
        args = dict(dataset="cifar10-valid", algorithms={"rs": {}}, seeds=[0], max_evals=5)
        args.update(kw)
        return plan_study(flat, **args)

    with pytest.raises(BenchmarkError, match="'valid_acc' is not on dataset 'cifar100'"):
        plan(dataset="cifar100")  # the flat export has no CIFAR-100 x-valid
    with pytest.raises(BenchmarkError, match="measured on test images"):
        plan(objective="test_acc")
    # ori-test (valtest) holds the test images too: refused unless explicitly allowed
    with pytest.raises(BenchmarkError, match="measured on test images"):
        plan(dataset="cifar100", objective="valtest_acc")
    allowed = plan(dataset="cifar100", objective="valtest_acc", allow_test_objective=True)
    assert allowed[0].allow_test_objective
    with pytest.raises(BenchmarkError, match="seed means only.*--noise mean"):
        plan(objective="valid_loss", noise="seed")  # the flat export has mean losses only
    assert plan(objective="valid_loss", noise="mean")[0].noise == "mean"
    with pytest.raises(ValueError, match="give a budget"):
        plan(max_evals=None)
    with pytest.raises(ValueError, match="max_evals must be an int >= 1, got 0"):
        plan(max_evals=0)
    with pytest.raises(ValueError, match="unknown noise 'loud'"):
        plan(noise="loud")
    with pytest.raises(ValueError, match="sample_size"):
        plan(algorithms={"re": {"sample_size": 0}})
    with pytest.raises(KeyError, match="unknown dataset 'cifar-100'"):
        plan(transfer=["cifar-100"])
    with pytest.raises(KeyError, match="unknown optimizer 'smac'"):
        plan(algorithms={"smac": {}})


def test_regularized_evolution_beats_random_search(flat: TabularBenchmark, tmp_path: Path) -> None:
    """NB201 paper's ranking, on 500 seeds x 150 evaluations, cifar10-valid, per-seed noise."""
    res = run_study(flat, tmp_path, dataset="cifar10-valid", algorithms={"rs": {}, "re": {}},
                    seeds=range(500), max_evals=150, workers=2)
    assert res.done == 1000
    final = {a: np.array([manifest(tmp_path, a, s)["result"]["final_valid"] for s in range(500)])
             for a in ("rs", "re")}
    diff = final["re"] - final["rs"]
    # paired over shared seeds; the mean gain must exceed 3 standard errors
    assert diff.mean() > 3 * diff.std(ddof=1) / np.sqrt(len(diff)), (final["re"].mean(),
                                                                      final["rs"].mean())


def test_ray_executor_matches_local(flat: TabularBenchmark, tmp_path: Path) -> None:
    """A real local Ray cluster (2 CPUs) runs the same study to the same records."""
    ray = pytest.importorskip("ray", reason="the ray executor needs pip install 'benchbench[ray]'")
    algos = {"re": {}, "reinforce": {}}
    run_study(flat, tmp_path / "local", dataset="cifar10-valid", algorithms=algos,
              seeds=[0, 1, 2], max_evals=30)
    res = run_study(flat, tmp_path / "ray", dataset="cifar10-valid", algorithms=algos,
                    seeds=[0, 1, 2], max_evals=30, executor="ray", workers=2)
    assert res.done == 6 and not ray.is_initialized()
    for label in algos:
        for s in (0, 1, 2):
            pd.testing.assert_frame_equal(records(tmp_path / "local", label, s),
                                          records(tmp_path / "ray", label, s))
            assert manifest(tmp_path / "ray", label, s)["status"] == "done"


# ------------------------------------------------------------------ interrupts (issue 10)
def _send(sig: int):
    """An ``on_progress`` callback that sends ``sig`` to this process after the 3rd run."""
    import os

    def cb(done: int, total: int) -> None:
        if done == 3:
            os.kill(os.getpid(), sig)
    return cb


def test_first_interrupt_from_python_stops_after_the_running_run(flat: TabularBenchmark,
                                                                tmp_path: Path) -> None:
    import signal

    from benchbench.runner import StudyInterrupted

    kw = dict(dataset="cifar10-valid", algorithms={"rs": {}, "re": {}}, seeds=range(5),
              max_evals=20)
    with pytest.raises(StudyInterrupted) as e:
        run_study(flat, tmp_path, **kw, on_progress=_send(signal.SIGINT))
    assert isinstance(e.value, KeyboardInterrupt)
    r = e.value.result
    assert (r.done, r.skipped, r.not_done, r.interrupted) == (3, 0, 7, "SIGINT")
    assert "interrupted (SIGINT): 3 runs done now" in str(e.value)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    st = [json.loads(m.read_text())["status"] for m in tmp_path.glob("runs/*/*/manifest.json")]
    assert st == ["done"] * 3
    res = run_study(flat, tmp_path, **kw)  # resumes
    assert (res.done, res.skipped) == (7, 3)


def test_sigterm_to_a_pool_study_lets_running_runs_finish(flat: TabularBenchmark,
                                                           tmp_path: Path) -> None:
    import signal

    from benchbench.runner import StudyInterrupted

    with pytest.raises(StudyInterrupted) as e:
        run_study(flat, tmp_path, dataset="cifar10-valid", algorithms=ALGOS, seeds=range(10),
                  max_evals=20, workers=2, on_progress=_send(signal.SIGTERM))
    r = e.value.result
    assert r.interrupted == "SIGTERM" and r.done >= 3 and r.done + r.not_done == 40
    assert r.not_done > 0
    st = [json.loads(m.read_text())["status"] for m in tmp_path.glob("runs/*/*/manifest.json")]
    assert st == ["done"] * r.done  # none abandoned
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_second_interrupt_abandons_the_running_run_and_resume_redoes_it(
        flat: TabularBenchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import signal

    from benchbench.runner import StudyInterrupted

    kw = dict(dataset="cifar10-valid", algorithms={"re": {}}, seeds=range(4), max_evals=30)
    run_study(flat, tmp_path / "ref", **kw)
    out = tmp_path / "study"
    second = out / "runs" / "re" / "seed-000001" / "manifest.json"
    calls = []
    query = flat.query

    def interrupting(*args, **kwargs):  # Ctrl-C twice in the middle of the second run
        if second.exists():
            calls.append(1)
            if len(calls) in (2, 4):
                os.kill(os.getpid(), signal.SIGINT)
        return query(*args, **kwargs)

    monkeypatch.setattr(flat, "query", interrupting)
    with pytest.raises(StudyInterrupted) as e:
        run_study(flat, out, **kw)
    monkeypatch.undo()
    r = e.value.result
    assert (r.done, r.not_done, r.interrupted) == (1, 3, "SIGINT twice")
    st = {m.parent.name: json.loads(m.read_text())["status"]
          for m in out.glob("runs/re/*/manifest.json")}
    assert st == {"seed-000000": "done", "seed-000001": "running"}
    assert not list(out.rglob(".*.tmp"))
    res = run_study(flat, out, **kw)
    assert (res.done, res.skipped) == (3, 1)
    for s in range(4):
        assert (out / "runs" / "re" / f"seed-{s:06d}" / "records.csv").read_bytes() == (
            tmp_path / "ref" / "runs" / "re" / f"seed-{s:06d}" / "records.csv").read_bytes()


def test_workers_that_cannot_start_are_one_clear_error(flat: TabularBenchmark,
                                                       tmp_path: Path) -> None:
    import shutil

    from benchbench.executors import WorkerError

    copy = tmp_path / "t.h5"
    shutil.copy(flat.path, copy)
    b = TabularBenchmark(copy)
    copy.unlink()  # this process keeps it open; a worker cannot reopen it
    with pytest.raises(WorkerError, match=r"a worker process could not start: cannot open the "
                                          r"benchmark in a worker: .*t\.h5") as e:
        run_study(b, tmp_path / "s", dataset="cifar10-valid", algorithms={"rs": {}},
                  seeds=[0, 1], max_evals=5, workers=2)
    assert "\n" not in str(e.value)
    b.close()


def test_studies_too_large_are_refused_before_anything_is_written(flat: TabularBenchmark,
                                                                  tmp_path: Path) -> None:
    from benchbench.runner import MAX_RUNS

    out = tmp_path / "s"
    with pytest.raises(ValueError, match=r"a study of 20,000,000,000 runs \(10,000,000,000 "
                                         r"seeds x 2 algorithms\) is more than the 1,000,000"):
        run_study(flat, out, dataset="cifar10-valid", algorithms={"rs": {}, "re": {}},
                  seeds=range(10**10), max_evals=5)
    with pytest.raises(ValueError, match="is more than the 1,000,000 runs"):
        plan_study(flat, dataset="cifar10-valid", algorithms={"rs": {}}, seeds=range(MAX_RUNS + 1),
                   max_evals=5)
    with pytest.raises(ValueError, match="bad seed 9223372036854775808"):
        run_study(flat, out, dataset="cifar10-valid", algorithms={"rs": {}},
                  seeds=[0, 2**63], max_evals=5)
    with pytest.raises(ValueError, match="workers must be an int >= 1, got 0"):
        run_study(flat, out, dataset="cifar10-valid", algorithms={"rs": {}}, seeds=[0, 1],
                  max_evals=5, workers=0)
    assert not out.exists()


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc (Linux)")
def test_temporary_files_of_dead_writers_are_swept_on_resume(flat: TabularBenchmark,
                                                             tmp_path: Path) -> None:
    import os
    import time

    kw = dict(dataset="cifar10-valid", algorithms={"rs": {}}, seeds=[0, 1], max_evals=5)
    run_study(flat, tmp_path, **kw)
    run = tmp_path / "runs" / "rs" / "seed-000001"
    man = json.loads((run / "manifest.json").read_text())
    man["status"] = "running"  # killed mid-run ...
    (run / "manifest.json").write_text(json.dumps(man))
    dead = 2**22 + 12345  # above any pid_max: no such process
    for name in (f".records.csv.{dead}.0123abcd.tmp", f".manifest.json.{dead}.89abcdef.tmp"):
        (run / name).write_text("torn")  # ... while writing
    (tmp_path / f".study.json.{dead}.00000000.tmp").write_text("{")
    live = run / f".records.csv.{os.getppid()}.fedcba98.tmp"  # a writer still running
    live.write_text("partial")
    # a writer killed but not reaped (a zombie: containers whose first process reaps none)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        stat = Path(f"/proc/{zombie.pid}/stat")
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.01)
        (run / f".manifest.json.{zombie.pid}.0badc0de.tmp").write_text("torn")
        # a PID reused by a process started after the file was last written
        reused = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        old = run / f".records.csv.{reused.pid}.00c0ffee.tmp"
        old.write_text("torn")
        os.utime(old, (time.time() - 3600, time.time() - 3600))
        res = run_study(flat, tmp_path, **kw)
        reused.kill()
        reused.wait()
    finally:
        zombie.wait()
    assert (res.done, res.skipped) == (1, 1)
    assert sorted(p.name for p in tmp_path.rglob(".*.tmp")) == [live.name]
