"""Scoring many cells: a cached, resumable, parallel sweep, and the one-proxy ``Proxy`` API.

A sweep writes into one directory:

* ``config.json``: the :class:`ScoreConfig` (space, benchmark, dataset, batch, network
  size, and the :data:`~algorithms.proxies.IMPLEMENTATION` that scored).  Resuming with a
  different configuration is refused; so is resuming a folder scored by another
  implementation (its scores would be mixed with scores of other definitions).
* ``scores.csv``: one row per (cell, seed, proxy) with columns :data:`SCORE_FIELDS`; rows
  are appended as cells finish, so an interrupted sweep resumes where it stopped.
  ``arch_index`` is the cell's index in the space, empty for a space that cannot be
  enumerated (read back as ``None``).  ``value``
  is written as Python's ``repr`` of the float (``nan``, ``inf`` and ``-inf`` kept); a proxy
  that raised has ``value`` ``nan`` and the error message in ``error``.  ``seconds`` is the
  proxy's own cost (see :class:`~algorithms.proxies.ProxyScore`), ``cell_seconds`` /
  ``cell_cpu_seconds`` the wall / CPU seconds of all the cell's proxies with shared passes
  (CPU time is the better cost estimate on a loaded machine: workers run single-threaded).

Each (cell, seed) draws the batch ``load_batch(source, seed=seed)`` (the same batch for every
cell) and initialises the network from ``derive_seed(seed, "proxy-init", arch_id)``, so a
score depends only on the configuration, the cell and the seed, not on the worker or order.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from algorithms.proxies._engine import (
    IMPLEMENTATION,
    IMPLEMENTATION_CHANGES,
    PROXIES,
    canonical_proxy,
    compute_proxies,
)
from benchbench.spaces import get_space, is_enumerable

__all__ = ["SCORE_FIELDS", "Proxy", "ScoreConfig", "load_scores", "num_classes_for",
           "read_cells", "sample_cells", "score_cells"]

#: Columns of ``scores.csv``.
SCORE_FIELDS: tuple[str, ...] = ("arch_id", "arch_index", "seed", "proxy", "value", "seconds",
                                 "cell_seconds", "cell_cpu_seconds", "error")


def num_classes_for(dataset: str) -> int:
    """Classes of a benchmark dataset by its name (CIFAR-10: 10, CIFAR-100: 100,
    ImageNet16-120: 120, the bundled digits: 10)."""
    d = dataset.lower().replace("_", "-")
    if d == "digits":
        return 10
    if "imagenet16" in d:
        return 120
    if "cifar100" in d or "cifar-100" in d:
        return 100
    if "cifar10" in d or "cifar-10" in d:
        return 10
    raise ValueError(f"cannot tell the number of classes of dataset {dataset!r}; known: names "
                     f"containing cifar10, cifar100 or ImageNet16, or digits (give num_classes)")


@dataclass(frozen=True)
class ScoreConfig:
    """Everything a proxy score depends on, besides the cell, the seed and the proxy.

    Attributes:
        space: search space name or import path (its network builder is the one
            ``benchbench.nn.get_builder`` has for the space's ``name``).
        benchmark, dataset: what the scores will be correlated with (recorded, and
            ``dataset`` fixes ``num_classes`` unless given).
        num_classes: classifier outputs.
        batch_source, batch_size, data_root, image_size: the data batch
            (:func:`benchbench.nn.load_batch`).
        builder_options: passed to the builder (NB201: ``channels`` C, ``cells_per_stage``
            N; defaults 16 and 5).
        implementation: :data:`~algorithms.proxies.IMPLEMENTATION` of the code that scored.
    """

    space: str = "nb201"
    benchmark: str = ""
    dataset: str = "cifar10"
    num_classes: int | None = None
    batch_source: str = "digits"
    batch_size: int = 64
    data_root: str | None = None
    image_size: int | None = None
    builder_options: dict[str, Any] = field(default_factory=dict)
    implementation: str = IMPLEMENTATION

    @property
    def classes(self) -> int:
        return self.num_classes if self.num_classes is not None else num_classes_for(self.dataset)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def batch(self, seed: int) -> Any:
        """The data batch of ``seed`` (from the cache of this process)."""
        key = (json.dumps(self.to_dict(), sort_keys=True), seed)
        if key not in _BATCHES:
            from benchbench.nn import load_batch

            random = self.batch_source == "random"
            b = load_batch(self.batch_source, batch_size=self.batch_size, seed=seed,
                           root=self.data_root, image_size=self.image_size,
                           num_classes=self.classes if random else None)
            if b.num_classes > self.classes:
                raise ValueError(f"batch source {self.batch_source!r} has {b.num_classes} "
                                 f"classes, more than the network's {self.classes}")
            _BATCHES.clear()
            _BATCHES[key] = type(b)(b.x, b.y, self.classes, b.source, b.seed)
        return _BATCHES[key]

    def builder(self) -> Any:
        """The network builder registered for the space's name
        (:func:`benchbench.nn.get_builder`; ``space`` may be an import path)."""
        from benchbench.nn import get_builder
        return get_builder(get_space(self.space).name, **self.builder_options)


_BATCHES: dict[Any, Any] = {}  # per-process cache of the current batch (not an RNG)


def _score_task(config: dict[str, Any], arch_id: str, seed: int,
                proxies: list[str], spec: str | None = None) -> list[dict[str, Any]]:
    """Score one (cell, seed): a row per proxy.  Runs in a worker process.  ``spec``: the
    cell as ``space.format`` writes it, for spaces whose ids cannot be parsed back in a fresh
    process (NB101 module hashes)."""
    cfg = ScoreConfig(**config)
    space = get_space(cfg.space)
    arch = space.parse(arch_id if spec is None else spec)
    t0, c0 = time.perf_counter(), time.process_time()
    batch = cfg.batch(seed)
    builder = cfg.builder()
    try:
        results = {p: (r.value, r.seconds, "") for p, r in compute_proxies(
            builder, arch, batch, proxies=proxies, seed=seed, arch_key=arch_id).items()}
    except Exception:
        results = {}
        for p in proxies:
            try:
                r = compute_proxies(builder, arch, batch, proxies=[p], seed=seed,
                                    arch_key=arch_id)[p]
                results[p] = (r.value, r.seconds, "")
            except Exception as e:
                results[p] = (math.nan, math.nan, f"{type(e).__name__}: {e}"[:500])
    cell_s, cell_cpu = time.perf_counter() - t0, time.process_time() - c0
    index = space.index(arch) if is_enumerable(space) else ""  # type: ignore[attr-defined]
    return [{"arch_id": arch_id, "arch_index": index, "seed": seed, "proxy": p, "value": v,
             "seconds": s, "cell_seconds": cell_s, "cell_cpu_seconds": cell_cpu, "error": err}
            for p, (v, s, err) in results.items()]


def _init_worker(main_pid: int) -> None:
    """Worker set-up: die with the scoring process, score with one torch thread."""
    import torch

    from benchbench._procs import die_with_parent

    die_with_parent(main_pid)
    torch.set_num_threads(1)


def _write_rows(f: Any, rows: list[dict[str, Any]], fields: Sequence[str]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n",
                       extrasaction="ignore")
    for r in rows:
        w.writerow({**r, **{k: repr(float(r[k])) for k in ("value", "seconds", "cell_seconds",
                                                             "cell_cpu_seconds")}})
    f.write(buf.getvalue())  # one write per cell
    f.flush()


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """Complete rows of ``scores.csv`` (a line cut short by a crash is dropped)."""
    rows = []
    with path.open(newline="") as f:
        r = csv.DictReader(f)
        for row in r:
            try:
                index = row["arch_index"]
                rows.append({"arch_id": row["arch_id"],
                             "arch_index": int(index) if index != "" else None,
                             "seed": int(row["seed"]), "proxy": row["proxy"],
                             "value": float(row["value"]), "seconds": float(row["seconds"]),
                             "cell_seconds": float(row["cell_seconds"]),
                             "cell_cpu_seconds": float(row.get("cell_cpu_seconds") or "nan"),
                             "error": row["error"] or ""})
            except (KeyError, TypeError, ValueError):
                continue
    return rows


def load_scores(out_dir: str | Path) -> tuple[ScoreConfig, Any]:
    """The configuration and the scores (a pandas DataFrame, columns :data:`SCORE_FIELDS`)
    of a sweep directory."""
    import pandas as pd

    d = Path(out_dir)
    cfg_path = d / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{d} is not a proxy-score directory: no config.json (make one "
                                f"with `benchbench proxies score ... --out {d}`)")
    cfg = ScoreConfig(**json.loads(cfg_path.read_text())["config"])
    rows = _read_rows(d / "scores.csv") if (d / "scores.csv").is_file() else []
    df = pd.DataFrame(rows, columns=list(SCORE_FIELDS))
    return cfg, df.drop_duplicates(["arch_id", "seed", "proxy"], keep="last")


def _refuse_other_implementation(d: Path, old: dict[str, Any], config: ScoreConfig) -> None:
    """A clear error when the folder was scored by another implementation of the proxies."""
    was = str(old.get("implementation", "<none recorded>"))
    if was == config.implementation:
        return
    now = config.implementation
    changes = "; ".join(
        f"{v}: {IMPLEMENTATION_CHANGES[v]}" for v in IMPLEMENTATION_CHANGES
        if was.isdigit() and now.isdigit() and int(was) < int(v) <= int(now))
    raise ValueError(
        f"{d} holds scores made by proxy implementation {was!r}; this code is implementation "
        f"{config.implementation!r}, whose definitions differ"
        + (f" ({changes})" if changes else "")
        + "; resuming would mix scores of both in one folder: score into another --out "
          "directory (or delete this one)")


def score_cells(cells: Iterable[Any], out_dir: str | Path, *, config: ScoreConfig,
                proxies: Sequence[str] = PROXIES, seeds: Sequence[int] = (0,),
                workers: int = 1, progress: bool = False) -> Any:
    """Score every cell for every seed and proxy, caching into ``out_dir``.

    Args:
        cells: arch records, cell strings or indices of ``config.space``.
        out_dir: the sweep directory (created; resumed if it holds the same configuration).
        config: see :class:`ScoreConfig`.
        proxies: proxy names (:data:`~algorithms.proxies.PROXIES`).
        seeds: initialisation / batch seeds.
        workers: local processes (each with ``torch.set_num_threads(1)``); ``1`` scores in
            this process.
        progress: show a tqdm progress bar.

    Returns:
        All scores in the directory (see :func:`load_scores`).

    Raises:
        ValueError: ``out_dir`` holds a sweep with another configuration, or one scored by
            another :data:`~algorithms.proxies.IMPLEMENTATION` of the proxies.
    """
    from benchbench.optimizer import check_param

    check_param("workers", workers, kind=int, low=1)
    names = list(dict.fromkeys(canonical_proxy(p) for p in proxies))
    seeds = [int(s) for s in seeds]
    space = get_space(config.space)
    parsed = [space.parse(c) for c in cells]
    specs = {space.arch_id(a): space.format(a) for a in parsed}
    ids = list(specs)
    config.batch(seeds[0] if seeds else 0)  # fail early on a missing dataset
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    meta = {"config": config.to_dict(), "fields": list(SCORE_FIELDS)}
    cfg_path = d / "config.json"
    if cfg_path.is_file():
        old = json.loads(cfg_path.read_text())["config"]
        _refuse_other_implementation(d, old, config)
        if old != config.to_dict():
            raise ValueError(f"{d} holds scores made with another configuration:\n  {old}\n"
                             f"not\n  {config.to_dict()}\nuse another --out directory")
    else:
        cfg_path.write_text(json.dumps(meta, indent=2))
    csv_path = d / "scores.csv"
    done: set[tuple[str, int, str]] = set()
    if csv_path.is_file():
        done = {(r["arch_id"], r["seed"], r["proxy"]) for r in _read_rows(csv_path)}
    else:
        csv_path.write_text(",".join(SCORE_FIELDS) + "\n")
    with csv_path.open(newline="") as f:  # append in the file's own columns
        fields = next(csv.reader(f))
    with csv_path.open("rb+") as fb:  # a line cut short by a crash stays apart (and ignored)
        fb.seek(-1, 2)
        if fb.read(1) != b"\n":
            fb.write(b"\n")
    tasks = []
    for a in ids:
        for s in seeds:
            todo = [p for p in names if (a, s, p) not in done]
            if todo:
                tasks.append((a, s, todo))
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(tasks), desc="proxies", unit="cell")
    cfg = config.to_dict()
    with csv_path.open("a", newline="") as f:
        if workers == 1:
            for a, s, todo in tasks:
                _write_rows(f, _score_task(cfg, a, s, todo, specs[a]), fields)
                if bar is not None:
                    bar.update()
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                     initializer=_init_worker,
                                     initargs=(os.getpid(),)) as ex:
                futures = [ex.submit(_score_task, cfg, a, s, todo, specs[a])
                           for a, s, todo in tasks]
                for fut in as_completed(futures):
                    _write_rows(f, fut.result(), fields)
                    if bar is not None:
                        bar.update()
    if bar is not None:
        bar.close()
    return load_scores(d)[1]


def read_cells(path: str | Path, space: str = "nb201") -> list[Any]:
    """Cells listed in a text file, one per line (a cell string or an index); blank lines and
    lines starting with ``#`` are skipped.  A bad line raises naming its number."""
    sp = get_space(space)
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        try:
            out.append(sp.parse(int(s) if s.isdigit() else s))
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{n}: {e}") from None
    return out


def sample_cells(n: int, *, space: str = "nb201", seed: int = 0) -> list[Any]:
    """``n`` distinct cells of ``space`` drawn with ``make_rng(seed, "proxy-sample")``.

    An enumerable space: uniformly without replacement, in index order.  Any other space:
    the first ``n`` distinct cells of ``space.sample`` (its sampling distribution), in the
    order drawn.

    Raises:
        ValueError: ``n`` out of range (``1..size`` for an enumerable space), or a space
            whose sampler keeps repeating cells (fewer than ``n`` distinct in
            ``100 * n + 1000`` draws).
    """
    from benchbench.rng import make_rng

    sp = get_space(space)
    rng = make_rng(seed, "proxy-sample")
    if is_enumerable(sp):
        size = sp.size  # type: ignore[attr-defined]
        if not 1 <= n <= size:
            raise ValueError(f"n must be in 1..{size} (the size of space {sp.name!r}), got {n}")
        idx = rng.choice(size, size=n, replace=False)
        return [sp.from_index(int(i)) for i in np.sort(idx)]  # type: ignore[attr-defined]
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    seen: dict[Any, None] = {}
    for _ in range(100 * n + 1000):
        seen.setdefault(sp.sample(rng), None)
        if len(seen) == n:
            return list(seen)
    raise ValueError(f"space {sp.name!r} gave only {len(seen)} distinct cells in "
                     f"{100 * n + 1000} samples, fewer than n={n}; ask for fewer cells")


class Proxy:
    """One zero-cost proxy as a performance estimate: ``score(arch, rng) -> (value, seconds)``.

    Args:
        name: a proxy of :data:`benchbench.registry.PROXIES` (built-ins:
            :data:`~algorithms.proxies.PROXIES`; aliases ``naswot``, ``jacov``) or the import
            path ``"package.module:NAME"`` of a
            :class:`~algorithms.proxies.ProxyDefinition`.
        config: the network and batch (default: NB201, C=16, N=5, CIFAR-10 classes, 64
            bundled digits images).

    Each call builds a fresh network initialised from a seed drawn from ``rng`` and scores it
    on the batch of seed 0 (the same batch for every architecture).

    Raises:
        UnknownNameError: an unknown name.
        ProxyContractError: a definition that breaks the contract.
    """

    def __init__(self, name: str, *, config: ScoreConfig | None = None) -> None:
        self.name = canonical_proxy(name)
        self.config = ScoreConfig() if config is None else config

    def score(self, arch: Any, rng: np.random.Generator) -> tuple[float, float]:
        """``(value, seconds)``; NaN / inf kept."""
        space = get_space(self.config.space)
        a = space.parse(arch)
        seed = int(rng.integers(2**62))
        r = compute_proxies(self.config.builder(), a, self.config.batch(0), proxies=[self.name],
                            seed=seed, arch_key=space.arch_id(a))[self.name]
        return r.value, r.seconds

    def __repr__(self) -> str:
        return f"Proxy({self.name!r})"
