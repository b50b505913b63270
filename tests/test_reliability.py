"""Reliability of ``benchbench run`` (issue 10), with real processes and real signals on the
embedded table ``nb201-digits``: workers die with the study, the first Ctrl-C / SIGTERM lets
running runs finish and the second stops at once (one line saying how to resume, exit 130),
a dead worker is one line naming its run, bad input is refused before anything is written,
one writer per study folder, and kill-and-resume loops end byte-identical to an
uninterrupted study with no process or temporary file left behind."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from benchbench._procs import InterruptGuard, parent_pid_of
from benchbench.cli import main

REPO = Path(__file__).resolve().parents[1]
EMBEDDED = REPO / "tabular_data" / "embedded" / "nb201-digits.h5"

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="kills processes and reads /proc (Linux)"),
    pytest.mark.skipif(not EMBEDDED.is_file(),
                       reason=f"the embedded table {EMBEDDED} is not built"),
]


def _load_bench() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_reliability", REPO / "benchmarks" / "bench_reliability.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


br = _load_bench()
SEEDS, EVALS, WORKERS = 40, 60, 2
ALGOS = {"rs": {}, "re": {}, "reinforce": {}, "ls": {}}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty data root: the embedded table is found by name."""
    return tmp_path_factory.mktemp("empty-root")


@pytest.fixture(scope="module")
def reference(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The study, uninterrupted, in this process (the records do not depend on workers)."""
    from benchbench.registry import open_benchmark
    from benchbench.runner import run_study

    out = tmp_path_factory.mktemp("reference") / "study"
    with open_benchmark("nb201-digits", data_root=str(root)) as b:
        res = run_study(b, out, dataset="digits", algorithms=ALGOS, seeds=range(SEEDS),
                        max_evals=EVALS)
    assert res.done == len(ALGOS) * SEEDS
    return out


def args(out: Path, workers: int = WORKERS) -> list[str]:
    return br.study_args(out, seeds=SEEDS, evals=EVALS, workers=workers)


def statuses(out: Path) -> dict[str, str]:
    return {m.parent.relative_to(out).as_posix(): json.loads(m.read_text())["status"]
            for m in out.glob("runs/*/*/manifest.json")}


def assert_same_as(reference: Path, out: Path) -> None:
    """Every run done with records byte-identical to the reference; no temporary file."""
    c = br.compare(reference, out)
    assert (c.runs, c.identical_runs, c.not_done, c.lost, c.duplicated, c.different) == (
        len(ALGOS) * SEEDS, len(ALGOS) * SEEDS, 0, 0, 0, 0), c
    assert c.temp_files == []
    assert set(statuses(out).values()) == {"done"}


def start(out: Path, root: Path, token: str, workers: int = WORKERS) -> subprocess.Popen[str]:
    return br.launch(args(out, workers), token=token, root=root)


def wait_progress(p: subprocess.Popen[str], out: Path, more: int = 1) -> None:
    before = br.ended_runs(out)
    assert br.wait_for(lambda: p.poll() is not None or br.ended_runs(out) >= before + more, 120)
    assert p.poll() is None, f"the study ended before it could be interrupted: {p.stderr}"


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def resume_command(line: str) -> list[str]:
    """The command the interrupted line says resumes the study, as python -m argv."""
    cmd = shlex.split(line.split("resume with: ", 1)[1])
    assert cmd[0] == "benchbench"
    return cmd[1:]


# ------------------------------------------------------------------- worker processes
def _spawn_pair(tmp_path: Path, child_code: str) -> tuple[subprocess.Popen[str], int]:
    """A parent process that starts a child running ``child_code`` (with ``{main}`` = the
    parent's PID) and prints the child's PID; returns (parent, child PID)."""
    parent = textwrap.dedent(f"""
        import os, subprocess, sys, time
        code = {child_code!r}.format(main=os.getpid())
        c = subprocess.Popen([sys.executable, "-c", code])
        print(c.pid, flush=True)
        time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True,
                         cwd=REPO, start_new_session=True)
    assert p.stdout is not None
    return p, int(p.stdout.readline())


def _alive(pid: int) -> bool:
    st = br.proc_stat(pid)
    return st is not None and st[1] != "Z"


CHILD = ("import time; from benchbench._procs import die_with_parent; "
         "die_with_parent({main}); print('set', flush=True); time.sleep(60)")
#: the same without prctl and pidfd_open: the polling watchdog alone
CHILD_POLL = ("import os, time; import benchbench._procs as p; "
              "p.set_parent_death_signal = lambda *a: False; del os.pidfd_open; "
              "p.die_with_parent({main}, poll_s=0.05); time.sleep(60)")


@pytest.mark.parametrize("code", [CHILD, CHILD_POLL], ids=["pdeathsig+pidfd", "polling"])
def test_a_worker_dies_with_its_parent(tmp_path: Path, code: str) -> None:
    p, child = _spawn_pair(tmp_path, code)
    assert br.wait_for(lambda: parent_pid_of(child) == p.pid, 10)
    time.sleep(0.5)  # the child has set itself up
    assert _alive(child)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert br.wait_for(lambda: not _alive(child), 5), "the child outlived its parent"


POOL = """
import concurrent.futures as cf, multiprocessing as mp, os, sys, time
from benchbench._procs import die_with_parent

def pid(_):
    time.sleep(0.2)
    return os.getpid()

if __name__ == "__main__":
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context(sys.argv[1]),
                                initializer=die_with_parent, initargs=(os.getpid(),)) as ex:
        print(*set(ex.map(pid, range(8))), flush=True)
        time.sleep(60)
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_process_pool_with_the_initializer_dies_with_its_main_process(
        tmp_path: Path, method: str) -> None:
    """What the proxy scorer's and the table builder's pools get by adopting it."""
    script = tmp_path / "pool.py"
    script.write_text(POOL)
    p = subprocess.Popen([sys.executable, str(script), method], stdout=subprocess.PIPE,
                         text=True, cwd=REPO, start_new_session=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.stdout is not None
    workers = [int(w) for w in p.stdout.readline().split()]
    assert workers and all(_alive(w) for w in workers)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert br.wait_for(lambda: not any(_alive(w) for w in workers), 5), "workers outlived it"


def test_a_worker_whose_parent_is_already_gone_exits_at_once() -> None:
    """The race: the expected main process is neither the parent nor the parent's parent
    (it died before the initializer ran): the worker kills itself right away."""
    code = ("import os, time; from benchbench._procs import die_with_parent; "
            "die_with_parent(1); print('survived', flush=True); time.sleep(5)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=30)
    assert out.returncode == -signal.SIGKILL and "survived" not in out.stdout


def test_parent_death_signal_is_set() -> None:
    code = ("import ctypes, signal; from benchbench._procs import set_parent_death_signal; "
            "assert set_parent_death_signal(signal.SIGKILL); libc = ctypes.CDLL(None); "
            "v = ctypes.c_int(); libc.prctl(2, ctypes.byref(v), 0, 0, 0); print(v.value)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True)
    assert int(out.stdout) == signal.SIGKILL


def test_interrupt_guard_first_sets_stop_second_raises() -> None:
    old = signal.getsignal(signal.SIGTERM)
    with InterruptGuard() as g:
        os.kill(os.getpid(), signal.SIGTERM)
        assert g.stop.is_set() and g.signals == ["SIGTERM"]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is old


# ------------------------------------------------------------------------- interrupts
def test_dead_worker_then_interrupts_then_resume(
        reference: Path, root: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    # a worker killed in the middle of a run (as by the out-of-memory killer): one line
    # naming its run; the study goes on without it
    p = start(out, root, "worker")
    manifests = lambda: len(list(out.glob("runs/*/*/manifest.json")))  # noqa: E731
    # both workers are in their first run (each writes its manifest as it starts one)
    assert br.wait_for(lambda: p.poll() is not None or manifests() >= WORKERS, 120)
    workers = br.workers_of(p.pid)
    assert len(workers) == WORKERS and br.ended_runs(out) == 0
    os.kill(workers[0], signal.SIGKILL)
    so, err = p.communicate(timeout=120)
    assert p.returncode == 1, (so, err)
    assert ", 1 lost (worker process died)" in so
    line = one_line(err)
    m = re.match(rf"benchbench: error: worker process {workers[0]} killed by SIGKILL \(e\.g\. "
                 rf"by the out-of-memory killer\) while running (\w+/seed-\d{{6}}); not done: "
                 rf"resume with: benchbench run ", line)
    assert m, line
    st = statuses(out)
    assert st.pop(f"runs/{m.group(1)}") == "running"
    assert list(st.values()) == ["done"] * (len(ALGOS) * SEEDS - 1)
    assert br.survivors("worker") == []
    resume = resume_command(line)
    shutil.rmtree(out / "runs" / "rs")  # give the next steps something to interrupt

    # Ctrl-C: no further run starts, the running ones finish, one line names the command
    p = br.launch(resume, token="int1", root=root)
    wait_progress(p, out)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    line = one_line(err)
    assert re.match(r"benchbench: interrupted by SIGINT: \d+ runs done now, \d+ before, "
                    r"\d+ not done; resume with: benchbench run ", line), line
    assert resume_command(line) == resume
    # the running runs finished: only the lost run's manifest (unless removed) is 'running'
    assert [k for k, v in statuses(out).items() if v != "done"] in ([], [f"runs/{m.group(1)}"])
    assert len(statuses(out)) < len(ALGOS) * SEEDS
    assert br.survivors("int1") == []

    # SIGTERM, then Ctrl-C: stop at once (workers killed, their runs left 'running');
    # SIGTERM alone is tested in-process (tests/test_runner.py)
    p = br.launch(resume, token="int2", root=root)
    wait_progress(p, out)
    p.send_signal(signal.SIGTERM)
    time.sleep(0.005)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    line = one_line(err)
    assert line.startswith("benchbench: interrupted by SIGTERM, then SIGINT: ") or \
        line.startswith("benchbench: interrupted by SIGTERM: "), line  # ran out of work first
    assert "resume with: " in line
    assert br.survivors("int2") == []
    assert not list(out.rglob(".*.tmp"))

    again = br.launch(resume, token="resume", root=root)
    so, se = again.communicate(timeout=120)
    assert again.returncode == 0 and se == "", (so, se)
    assert_same_as(reference, out)


# --------------------------------------------------------------- kill-and-resume loops
def _check_loop(rep: Any, reference: Path) -> None:
    assert rep.orphans == [], "processes survived a killed study"
    # (a main process killed while it starts a worker can leave Python's own start-up
    # EOFError traceback of that worker: br.startup_race; anything else is a failure)
    assert rep.tracebacks == 0, [a.stderr for a in rep.attempts if "Traceback" in a.stderr]
    assert rep.attempts[-1].rc == 0, rep.attempts[-1].stderr
    for out in rep.rounds:
        assert_same_as(reference, out)


def test_startup_race_tracebacks_are_told_apart() -> None:
    eof = ("Traceback (most recent call last):\n  File \"/usr/lib/python3.11/multiprocessing/"
           "spawn.py\", line 130, in _main\n    preparation_data = reduction.pickle.load("
           "from_parent)\nEOFError: Ran out of input\n")
    assert br.startup_race(eof) and br.startup_race(eof + eof)
    other = eof.replace("EOFError: Ran out of input", "BrokenPipeError: [Errno 32] Broken pipe")
    assert not br.startup_race(other) and not br.startup_race(eof + other)
    assert not br.startup_race("") and not br.startup_race(eof.replace("spawn.py", "x.py"))


def test_kill_and_resume(reference: Path, root: Path, tmp_path: Path) -> None:
    rep = br.kill_loop(tmp_path, main_kills=1, worker_kills=1, seeds=SEEDS, evals=EVALS,
                       workers=WORKERS, seed=1, root=root)
    assert rep.main_kills >= 1 and rep.worker_kills == 1
    _check_loop(rep, reference)


@pytest.mark.slow
def test_kill_and_resume_many_times(reference: Path, root: Path, tmp_path: Path) -> None:
    rep = br.kill_loop(tmp_path, main_kills=20, worker_kills=5, seeds=SEEDS, evals=EVALS,
                       workers=WORKERS, seed=2, root=root)
    assert rep.main_kills >= 20 and rep.worker_kills == 5
    _check_loop(rep, reference)


# ---------------------------------------------------------------------- one writer only
def _two_writers(root: Path, out: Path, budgets: list[tuple[int, int]]) -> None:
    """Two ``run`` started together on one folder, once per pair of budgets: one runs, the
    other is refused with one line naming the PID and command of the first."""
    import hashlib

    for k, (ea, eb) in enumerate(budgets):
        folder = out / f"try-{k}"
        a = br.launch(br.study_args(folder, seeds=20, evals=ea, workers=1), token=f"a{k}",
                      root=root)
        b = br.launch(br.study_args(folder, seeds=20, evals=eb, workers=1), token=f"b{k}",
                      root=root)
        ra, rb = a.communicate(timeout=120), b.communicate(timeout=120)
        results = {a.pid: (a.returncode, *ra), b.pid: (b.returncode, *rb)}
        winners = [pid for pid, r in results.items() if r[0] == 0]
        assert len(winners) == 1, results
        winner = winners[0]
        loser = next(pid for pid in results if pid != winner)
        code, so, err = results[loser]
        assert code == 2 and so == "", results
        line = one_line(err)
        assert line.startswith(f"benchbench: error: study folder {str(folder)!r} is in use "
                               f"by another writer (PID {winner}: benchbench run "), line
        budget = ea if winner == a.pid else eb
        assert f"--max-evals {budget} " in line
        # the winner's study is intact and complete; the loser left no trace in it
        spec = json.loads((folder / "study.json").read_text())
        assert spec["budget"]["max_evals"] == budget and len(spec["commands"]) == 1
        st = statuses(folder)
        assert len(st) == 4 * 20 and set(st.values()) == {"done"}
        for m in folder.glob("runs/*/*/manifest.json"):
            man = json.loads(m.read_text())
            assert man["config"]["max_evals"] == budget
            assert hashlib.sha256((m.parent / "records.csv").read_bytes()).hexdigest() == \
                man["records_sha256"]
        assert not list(folder.rglob(".*.tmp"))


def test_a_second_writer_is_refused(root: Path, tmp_path: Path) -> None:
    """Different budgets, then the same configuration twice: refused too (one writer per
    folder; the second does not wait)."""
    _two_writers(root, tmp_path, [(60, 61), (60, 60)])


@pytest.mark.slow
def test_a_second_writer_is_refused_ten_times(root: Path, tmp_path: Path) -> None:
    _two_writers(root, tmp_path, [(60, 61 + k) for k in range(10)])


# ------------------------------------------------------------- refused before writing
def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}


BASE = ["run", "--benchmark", "nb201-digits", "--dataset", "digits", "--algorithms", "rs,re",
        "--max-evals", "5"]


@pytest.mark.parametrize("extra, msg", [
    (["--seeds", "0-3", "--workers", "0"], "--workers must be >= 1, got 0"),
    (["--seeds", "0-3", "--workers", "-2", "--executor", "ray"], "--workers must be >= 1"),
    (["--seeds", "0-10000000000"], "bad seed list '0-10000000000': more than 1,000,000 seeds"),
    (["--seeds", "0-599999"], "make 1,200,000 runs; a study may have at most 1,000,000"),
    (["--seeds", "9223372036854775808"], "bad seed list '9223372036854775808': bad seed "
                                         "9223372036854775808: seeds are ints in "
                                         "0..9223372036854775807"),
    (["--seeds", "1,2,1"], "seed 1 appears twice"),
    (["--seeds", "0", "--max-seconds", "nan"], "--max-seconds must be a finite number > 0"),
    (["--seeds", "0", "--max-evals", "0"], "--max-evals must be >= 1, got 0"),
    (["--seeds", "0", "--epoch", "0"], "--epoch must be >= 1, got 0"),
    (["--seeds", "0", "--epoch", "13"], "epoch 13"),
    (["--seeds", "0", "--dataset", "cifar10"], "unknown dataset 'cifar10'"),
    (["--seeds", "0", "--param", "rs.bogus=1"], "bogus"),
])
def test_bad_input_writes_nothing(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  extra: list[str], msg: str) -> None:
    out = tmp_path / "study"
    code = main([*BASE, *extra, "--out", str(out), "--data-root", str(root)])
    err = capsys.readouterr().err
    assert code == 2 and msg in one_line(err), err
    assert not out.exists()


def test_bad_input_leaves_an_existing_study_unchanged(root: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "study"
    ok = [*BASE, "--seeds", "0-1", "--out", str(out), "--data-root", str(root), "--workers", "1"]
    assert main(ok) == 0
    before = snapshot(out)
    cases = [
        (["--workers", "0"], "--workers must be >= 1"),
        (["--max-evals", "6"], "holds a study with a different budget"),
        (["--param", "rs.dedup=true"], "algorithm 'rs' was run with {} before"),
        (["--seeds", "0-99999999999"], "more than 1,000,000 seeds"),
    ]
    capsys.readouterr()
    for extra, msg in cases:
        argv = ok + extra if extra[0] != "--seeds" else [*ok[:ok.index("--seeds")],
                                                         *ok[ok.index("--seeds") + 2:], *extra]
        assert main(argv) == 2
        assert msg in one_line(capsys.readouterr().err)
        assert snapshot(out) == before, extra
    # a run of another configuration in the place of one of this study's (a hand-edited
    # folder): refused before study.json records the command
    man = out / "runs" / "re" / "seed-000001" / "manifest.json"
    doc = json.loads(man.read_text())
    doc["config_hash"] = "0" * 16
    man.write_text(json.dumps(doc))
    before = snapshot(out)
    assert main(ok) == 2
    assert "with a different configuration" in one_line(capsys.readouterr().err)
    assert snapshot(out) == before


def test_out_that_is_a_file_or_a_01_folder_is_left_alone(root: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    f = tmp_path / "file"
    f.write_text("not a folder")
    assert main([*BASE, "--seeds", "0", "--out", str(f), "--data-root", str(root)]) == 2
    assert one_line(capsys.readouterr().err).startswith("benchbench: error: ")
    assert f.read_text() == "not a folder"
    old = tmp_path / "v01"
    old.mkdir()
    (old / "study.json").write_text(json.dumps({"benchmark": "nb201-digits"}))
    before = snapshot(old)
    assert main([*BASE, "--seeds", "0", "--out", str(old), "--data-root", str(root)]) == 2
    assert "written by benchbench 0.1" in one_line(capsys.readouterr().err)
    assert snapshot(old) == before  # not even a lock file
