"""Kill-and-resume reliability of ``benchbench run`` (issue 10): nothing lost, duplicated or
changed, no process left behind, no temporary file left over.

Runs a real study through the command line on the embedded table ``nb201-digits`` (default
4 algorithms x 40 seeds x 60 evaluations, 2 workers) and kills it again and again at random
moments, resuming (running the same command) after every kill:

* ``--kills`` times the main process gets ``SIGKILL``: a quarter of them at a random moment
  of the start (imports, lock, ``study.json``, worker start), the others a random moment
  (0-250 ms) after a run has ended, with the workers busy;
* ``--worker-kills`` times one worker process gets ``SIGKILL`` first (the study must report
  the run it was running as lost and go on), then the main process.

When a study completes before the next kill lands, it is checked and a new one started (a
"round").  At the end every round's study is compared with an uninterrupted reference
study, run by the same command, and a table is printed: kills (main / worker), rounds,
runs, records lost / duplicated / different, runs not done, orphan processes (processes
started by a killed ``run`` — found by an environment variable they all inherit — alive 5 s
after the kill), leftover temporary files (``.*.tmp``), tracebacks printed (apart from the
start-up race of :func:`startup_race`, counted on its own), wall time.

    python benchmarks/bench_reliability.py [--kills 20] [--worker-kills 5] [--seeds 40]
        [--evals 60] [--workers 2] [--seed 0] [--work DIR]

Linux only (reads ``/proc``).  ``tests/test_reliability.py`` runs the same loop and checks
the study files itself.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchbench._procs import proc_stat  # (parent PID, state letter) from /proc

REPO = Path(__file__).resolve().parents[1]
#: Environment variable every process a ``run`` starts inherits: how orphans are found.
TOKEN_VAR = "BENCHBENCH_RELIABILITY_TOKEN"
ALGORITHMS = "rs,re,reinforce,ls"


# ---------------------------------------------------------------------------- processes
def _pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def processes_with_token(token: str) -> list[int]:
    """Live (not zombie) processes whose environment holds ``TOKEN_VAR=token``."""
    needle = f"{TOKEN_VAR}={token}".encode()
    out = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        st = proc_stat(pid)
        if st is not None and st[1] != "Z" and needle in env.split(b"\0"):
            out.append(pid)
    return out


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def workers_of(main: int) -> list[int]:
    """The pool workers of ``benchbench run`` process ``main``: children of its fork server
    (or its own ``multiprocessing`` children under ``spawn``)."""
    table = {p: proc_stat(p) for p in _pids()}
    children = collections.defaultdict(list)
    for p, st in table.items():
        if st is not None and st[1] != "Z":
            children[st[0]].append(p)
    out = []
    for c in children[main]:
        cmd = _cmdline(c)
        if b"multiprocessing.forkserver" in cmd:
            out.extend(children[c])
        elif b"multiprocessing.spawn" in cmd:
            out.append(c)
    return out


def survivors(token: str, timeout: float = 5.0) -> list[int]:
    """Processes with ``token`` still alive after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = processes_with_token(token)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


# -------------------------------------------------------------------------------- study
def study_args(out: Path, *, seeds: int, evals: int, workers: int,
               algorithms: str = ALGORITHMS) -> list[str]:
    """``benchbench`` arguments of the study (the same for every start and resume)."""
    return ["run", "--benchmark", "nb201-digits", "--dataset", "digits", "--algorithms",
            algorithms, "--seeds", f"0-{seeds - 1}", "--max-evals", str(evals), "--out",
            str(out), "--workers", str(workers), "--no-progress"]


def launch(args: list[str], *, token: str, root: Path) -> subprocess.Popen[str]:
    """Start ``benchbench ARGS`` (``python -m benchbench.cli``) in its own session, with an
    empty data root (the embedded table is found by name) and ``TOKEN_VAR=token``."""
    env = {**os.environ, "BENCHBENCH_DATA": str(root), TOKEN_VAR: token,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "benchbench.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def ended_runs(out: Path) -> int:
    """Runs with a ``records.csv`` (cheap progress measure while a study runs)."""
    runs = out / "runs"
    if not runs.is_dir():
        return 0
    return sum(1 for label in runs.iterdir() for r in label.iterdir()
               if (r / "records.csv").is_file())


def wait_for(pred: Callable[[], bool], timeout: float, poll: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


@dataclass
class Attempt:
    """One start (or resume) of the study and what was done to it."""

    kind: str  # "main", "worker" or "none" (left to finish)
    rc: int
    stdout: str
    stderr: str
    main_killed: bool = False
    worker_killed: int | None = None
    orphans: list[int] = field(default_factory=list)


def attempt(args: list[str], out: Path, kind: str, *, rng: random.Random, token: str,
            root: Path) -> Attempt:
    """Start the study; ``kind`` ``"main"``: SIGKILL the main process at a random moment;
    ``"worker"``: SIGKILL one worker, then the main process; ``"none"``: let it finish."""
    p = launch(args, token=token, root=root)
    a = Attempt(kind, 0, "", "")
    if kind != "none":
        before = ended_runs(out)

        def ended() -> bool:
            return p.poll() is not None

        if kind == "main" and rng.random() < 0.25:
            wait_for(ended, rng.uniform(0.0, 1.5))  # during the start
        else:
            wait_for(lambda: ended() or ended_runs(out) > before, 120)
            wait_for(ended, rng.uniform(0.0, 0.25))
        if kind == "worker" and p.poll() is None:
            ws = workers_of(p.pid)
            if ws:
                a.worker_killed = rng.choice(ws)
                os.kill(a.worker_killed, signal.SIGKILL)
                mid = ended_runs(out)
                wait_for(lambda: ended() or ended_runs(out) > mid + 2, 60)
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            a.main_killed = True
    a.stdout, a.stderr = p.communicate()
    a.rc = p.returncode
    a.orphans = survivors(token)
    return a


@dataclass
class Comparison:
    """A study folder against the reference."""

    runs: int = 0
    records: int = 0
    lost: int = 0
    duplicated: int = 0
    different: int = 0
    not_done: int = 0
    identical_runs: int = 0
    temp_files: list[str] = field(default_factory=list)


def compare(ref: Path, out: Path) -> Comparison:
    """Records of every run of ``ref`` against ``out``: lost (rows of the reference
    missing), duplicated (rows present more often than in the reference), different (rows
    not in the reference); runs whose manifest does not say ``done``; temporary files."""
    import json

    c = Comparison()
    for man in sorted(ref.glob("runs/*/*/manifest.json")):
        rel = man.parent.relative_to(ref)
        c.runs += 1
        want = (ref / rel / "records.csv").read_bytes()
        rows = collections.Counter(want.splitlines()[1:])
        c.records += sum(rows.values())
        got_path = out / rel / "records.csv"
        got = got_path.read_bytes() if got_path.is_file() else None
        try:
            done = json.loads((out / rel / "manifest.json").read_text())["status"] == "done"
        except (OSError, ValueError, KeyError):
            done = False
        c.not_done += not done
        if got == want:
            c.identical_runs += 1
            continue
        have = collections.Counter(got.splitlines()[1:]) if got is not None else {}
        for row, n in rows.items():
            c.lost += max(0, n - have.get(row, 0))
        for row, n in have.items():
            if row in rows:
                c.duplicated += max(0, n - rows[row])
            else:
                c.different += n
    c.temp_files = sorted(str(p.relative_to(out)) for p in out.rglob(".*.tmp"))
    return c


@dataclass
class LoopReport:
    """What :func:`kill_loop` did and found."""

    rounds: list[Path] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def main_kills(self) -> int:
        return sum(a.main_killed for a in self.attempts)

    @property
    def worker_kills(self) -> int:
        return sum(a.worker_killed is not None for a in self.attempts)

    @property
    def orphans(self) -> list[int]:
        return [p for a in self.attempts for p in a.orphans]

    @property
    def tracebacks(self) -> int:
        """Attempts that printed a traceback, other than :func:`startup_race` ones."""
        return sum("Traceback" in a.stderr and not (a.main_killed and startup_race(a.stderr))
                   for a in self.attempts)

    @property
    def startup_tracebacks(self) -> int:
        """Attempts whose main process was killed while starting a worker (see
        :func:`startup_race`)."""
        return sum("Traceback" in a.stderr and a.main_killed and startup_race(a.stderr)
                   for a in self.attempts)


def startup_race(stderr: str) -> bool:
    """Whether every traceback in ``stderr`` is one Python's ``multiprocessing`` start-up
    prints when the main process dies (SIGKILL) while starting a worker: the new worker (or
    the fork server) reads EOF where the dead process was sending it what to run
    (``EOFError`` in ``multiprocessing/spawn.py``, ``forkserver.py`` or ``reduction.py``),
    before any benchbench code runs in it."""
    blocks = stderr.split("Traceback (most recent call last):")[1:]
    return bool(blocks) and all(
        re.search(r"multiprocessing/(spawn|forkserver|reduction)\.py", b)
        and re.search(r"^EOFError\b", b.strip().splitlines()[-1]) for b in blocks)


def reference_study(ref: Path, *, seeds: int, evals: int, workers: int, root: Path) -> float:
    """Run the study uninterrupted into ``ref`` (unless done already); its wall time."""
    if (ref / "study.json").is_file():
        return float("nan")
    t = time.perf_counter()
    p = launch(study_args(ref, seeds=seeds, evals=evals, workers=workers), token="reference",
               root=root)
    out, err = p.communicate()
    if p.returncode != 0:
        raise RuntimeError(f"the reference study failed: {err.strip()}")
    return time.perf_counter() - t


def kill_loop(work: Path, *, main_kills: int, worker_kills: int, seeds: int = 40,
              evals: int = 60, workers: int = 2, seed: int = 0, root: Path | None = None,
              log: Callable[[str], None] | None = None) -> LoopReport:
    """Kill and resume studies in ``work/round-N`` until ``main_kills`` kills of the main
    process and ``worker_kills`` of a worker have landed on a running study; every round
    is then resumed to completion (see the module docstring)."""
    root = root or work / "empty-root"
    rng = random.Random(seed)
    rep = LoopReport()
    t0 = time.perf_counter()
    plan = ["main"] * main_kills + ["worker"] * worker_kills
    rng.shuffle(plan)

    def start_round() -> Path:
        out = work / f"round-{len(rep.rounds)}"
        shutil.rmtree(out, ignore_errors=True)
        rep.rounds.append(out)
        return out

    out = start_round()
    n = 0
    while plan:
        kind = plan[0]
        args = study_args(out, seeds=seeds, evals=evals, workers=workers)
        a = attempt(args, out, kind, rng=rng, token=f"{os.getpid()}-{n}", root=root)
        n += 1
        rep.attempts.append(a)
        landed = a.worker_killed is not None if kind == "worker" else a.main_killed
        if log is not None:
            log(f"attempt {n}: {kind}: rc {a.rc}, main killed {a.main_killed}, worker "
                f"killed {a.worker_killed}, {ended_runs(out)} runs ended, orphans "
                f"{a.orphans}")
        if landed:
            plan.pop(0)
        if not a.main_killed:  # the study ended by itself: finish this round, start another
            if a.rc != 0:
                rep.attempts.append(attempt(args, out, "none", rng=rng,
                                            token=f"{os.getpid()}-{n}", root=root))
                n += 1
            if plan:
                out = start_round()
    args = study_args(out, seeds=seeds, evals=evals, workers=workers)
    last = attempt(args, out, "none", rng=rng, token=f"{os.getpid()}-{n}", root=root)
    rep.attempts.append(last)
    if log is not None:
        log(f"final resume: rc {last.rc}: {last.stdout.strip()} {last.stderr.strip()}")
    rep.wall_s = time.perf_counter() - t0
    return rep


# --------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="SIGKILLs of the main process")
    ap.add_argument("--worker-kills", type=int, default=5, help="SIGKILLs of a worker")
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--evals", type=int, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a temp one)")
    ap.add_argument("--verbose", action="store_true", help="one line per attempt")
    a = ap.parse_args(argv)
    if not os.path.isdir("/proc"):
        print("bench_reliability: needs Linux (/proc)", file=sys.stderr)
        return 2
    work = a.work or Path(tempfile.mkdtemp(prefix="bench_reliability_"))
    work.mkdir(parents=True, exist_ok=True)
    root = work / "empty-root"
    ref = work / f"reference-{a.seeds}x{a.evals}"
    ref_s = reference_study(ref, seeds=a.seeds, evals=a.evals, workers=a.workers, root=root)
    rep = kill_loop(work / "loop", main_kills=a.kills, worker_kills=a.worker_kills,
                    seeds=a.seeds, evals=a.evals, workers=a.workers, seed=a.seed, root=root,
                    log=print if a.verbose else None)
    total = Comparison()
    for r in rep.rounds:
        c = compare(ref, r)
        for k in ("runs", "records", "lost", "duplicated", "different", "not_done",
                  "identical_runs"):
            setattr(total, k, getattr(total, k) + getattr(c, k))
        total.temp_files += c.temp_files
    head = ("kills main", "kills worker", "rounds", "runs", "records", "lost", "duplicated",
            "different", "runs not done", "orphan processes", "temp files", "tracebacks",
            "start-up EOF tracebacks", "wall s")
    row = (rep.main_kills, rep.worker_kills, len(rep.rounds), total.runs, total.records,
           total.lost, total.duplicated, total.different, total.not_done, len(rep.orphans),
           len(total.temp_files), rep.tracebacks, rep.startup_tracebacks, f"{rep.wall_s:.1f}")
    print(f"study: nb201-digits, {ALGORITHMS}, {a.seeds} seeds x {a.evals} evals, "
          f"{a.workers} workers; reference (uninterrupted) "
          f"{'cached' if ref_s != ref_s else f'{ref_s:.1f} s'}; kill-moment seed {a.seed}")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" for _ in head) + "|")
    print("| " + " | ".join(str(x) for x in row) + " |")
    bad = (total.lost or total.duplicated or total.different or total.not_done or rep.orphans
           or total.temp_files or rep.tracebacks)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
