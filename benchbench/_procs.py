"""Worker processes that die with the process that started them, and interrupt handling.

A worker of a process pool must not outlive the study that started it: killed with
``SIGKILL`` (by a user, a batch scheduler or the out-of-memory killer), the main process
runs no cleanup, and workers left behind would keep computing and writing into the study
folder that a resumed study writes too.

:func:`die_with_parent` is a pool initializer that ties a worker to its parent:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment its
  parent dies;
* a daemon thread that kills the worker the moment the main process exits (it waits on a
  ``pidfd_open`` descriptor; where there is none, it polls ``os.getppid()`` and ``/proc``);
* both race with the main process's death (a main process that died just before they were
  set up leaves the worker to another parent), so right after them the worker checks that
  its parent is still the expected process and kills itself at once if not.

**forkserver**: a worker started by a ``forkserver`` context is a child of the fork server,
not of the main process, and the fork server does *not* die with the main process: it
exits on EOF of a pipe whose write end every worker holds too, so it waits for them while
``PR_SET_PDEATHSIG`` makes them wait for it.  The watchdog thread breaks that circle (it
watches the main process itself); once the workers are gone the fork server and the
resource tracker exit too.  The race check accepts a parent that is the fork server of
``main_pid`` (its own parent is ``main_pid``).  ``tests/test_reliability.py`` kills real
studies to check all this.

**threads**: the kernel sends the signal when the *thread* that created the worker exits.
Start pools from a thread that lives as long as the pool (the main thread, usually); a
``forkserver`` worker is forked by the fork server's only thread, so this concerns only
``spawn`` pools.

Pools that ``spawn`` their workers from the main process use it as::

    ProcessPoolExecutor(..., initializer=die_with_parent, initargs=(os.getpid(),))

:class:`InterruptGuard` turns the first ``SIGINT`` or ``SIGTERM`` into a flag that a loop
checks (stop handing out work, let running work finish) and the second into
``KeyboardInterrupt`` (stop at once).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import signal
import sys
import threading
import time
from types import FrameType, TracebackType
from typing import Any

__all__ = ["InterruptGuard", "die_with_parent", "ignore_interrupts", "interrupts_received",
           "parent_pid_of", "process_running", "set_parent_death_signal", "signal_name"]

_RECEIVED: list[str] = []  # every signal an InterruptGuard of this process has handled

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
#: ``SIGKILL`` (9; Windows has no such signal, and none of the guards that use it)
SIGKILL: int = int(getattr(signal, "SIGKILL", 9))


def set_parent_death_signal(signum: int = SIGKILL) -> bool:
    """Ask the Linux kernel to send ``signum`` to this process when its parent (thread) dies.

    Returns:
        ``True`` if set; ``False`` on other systems or when ``prctl`` is not available.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def proc_stat(pid: int) -> tuple[int, str] | None:
    """(parent PID, state letter) of process ``pid`` from ``/proc`` (``None`` if it does not
    exist or ``/proc`` is not available)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        return int(fields[1]), fields[0].decode()
    except (IndexError, ValueError):
        return None


def parent_pid_of(pid: int) -> int | None:
    """The parent PID of process ``pid`` (``None`` if unknown)."""
    st = proc_stat(pid)
    return None if st is None else st[0]


@functools.cache
def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def process_running(pid: int, since: float | None = None) -> bool:
    """Whether process ``pid`` runs: it exists and is not a zombie (a dead process its parent
    has not reaped — common in containers whose first process reaps nothing).

    Args:
        since: a time (``time.time()`` scale) the process must already have been running
            at, e.g. the modification time of a file it is said to be writing: a process
            started later only reuses the PID.  Checked where ``/proc`` tells start times.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (or not readable): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True
    fields = stat[stat.rfind(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return False
    boot = _boot_time()
    if since is not None and boot is not None:
        started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
        if started > since + 1.0:  # btime and ticks are coarse: 1 s of slack
            return False
    return True


def _parent_gone(main_pid: int) -> bool:
    """Whether this process's parent is neither ``main_pid`` nor a child of it (a fork
    server): the process that started it has died.  Without ``/proc`` a parent other than
    ``main_pid`` cannot be checked and counts as alive."""
    ppid = os.getppid()
    if ppid == main_pid:
        return False
    grandparent = parent_pid_of(ppid)
    if grandparent is None:
        return os.path.isdir("/proc")  # the parent has vanished (or /proc cannot tell)
    return grandparent != main_pid


def _die() -> None:
    if hasattr(signal, "SIGKILL"):
        os.kill(os.getpid(), SIGKILL)
    os._exit(137)


def _watch_pidfd(pidfd: int) -> None:
    """Block until the process behind ``pidfd`` exits, then die."""
    import select

    while True:
        try:
            ready, _, _ = select.select([pidfd], [], [])
        except InterruptedError:  # pragma: no cover - retried by Python itself
            continue
        if ready:
            _die()


def _watch_poll(main_pid: int, ppid: int, poll_s: float) -> None:
    """Poll until this process's parent changes or ``main_pid`` has gone, then die."""
    while True:
        time.sleep(poll_s)
        if os.getppid() != ppid or _parent_gone(main_pid):
            _die()


def die_with_parent(main_pid: int, poll_s: float = 0.5) -> None:
    """Pool initializer: make this worker die when the process that started the pool dies.

    Args:
        main_pid: PID of the process that started the pool (``os.getpid()`` there).  The
            worker's parent must be that process, or, under ``forkserver``, a fork server
            whose parent is that process.
        poll_s: the watchdog's polling interval (seconds) where ``os.pidfd_open`` is not
            available.

    Three guards: ``PR_SET_PDEATHSIG`` (Linux) kills the worker with its parent; a watchdog
    thread kills it when ``main_pid`` exits (``pidfd_open`` on Linux >= 5.3: at once, else
    by polling), which matters under ``forkserver``: a fork server outlives the main process
    as long as any of its workers lives (they hold the pipe whose EOF ends it); and a check
    right after these are set up that the parent is still the expected one (the main
    process may have died before), killing the worker at once if not.
    """
    set_parent_death_signal(SIGKILL)
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(main_pid)
        except OSError:  # gone already, or a kernel without pidfd_open
            pidfd = None
    # closes the race: a main process that died before the lines above is not our parent
    # (or our parent's parent) any more, and a PID reused since is not either
    if _parent_gone(main_pid):
        _die()
    if pidfd is not None:
        target: Any = _watch_pidfd
        args: tuple[Any, ...] = (pidfd,)
    else:
        target, args = _watch_poll, (main_pid, os.getppid(), poll_s)
    threading.Thread(target=target, args=args, daemon=True,
                     name="benchbench-parent-watchdog").start()


def ignore_interrupts() -> None:
    """Ignore ``SIGINT`` in this (worker) process: Ctrl-C reaches the whole foreground
    process group, and the main process decides what it means."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def signal_name(signum: int) -> str:
    """``"SIGINT"`` for ``signal.SIGINT`` (the number for an unknown signal)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def interrupts_received() -> int:
    """How many ``SIGINT`` / ``SIGTERM`` the :class:`InterruptGuard` objects of this process
    have handled so far (a caller compares it before and after, e.g. to ignore a late
    second Ctrl-C once a study has stopped on the first)."""
    return len(_RECEIVED)


class InterruptGuard:
    """While active, the first ``SIGINT`` / ``SIGTERM`` sets :attr:`stop` and the second
    raises ``KeyboardInterrupt`` in the main thread.

    Handlers are installed only when entered from the main thread (the only thread Python
    runs signal handlers in); elsewhere the guard does nothing but hold :attr:`stop`.  The
    previous handlers are restored on exit.

    Attributes:
        stop: set by the first interrupt (or by the owner).
        signals: names of the signals received, in order.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.signals: list[str] = []
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signal_name(signum))
        _RECEIVED.append(signal_name(signum))
        if self.stop.is_set():
            raise KeyboardInterrupt(f"second interrupt ({signal_name(signum)})")
        self.stop.set()

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                with contextlib.suppress(ValueError, OSError):  # e.g. embedded interpreters
                    self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old.clear()
