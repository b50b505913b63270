"""Importers for NAS-Bench-201 / NATS-Bench (topology space) data.

Three sources are understood, and :func:`import_nb201` tells them apart:

1. a NATS-Bench tss "simple" directory (``meta.pickle.pbz2`` + ``NNNNNN.pickle.pbz2``), the
   official per-epoch data;
2. an official NB201 ``.pth`` (v1_0 / v1_1 layout: ``meta_archs``, ``arch2infos{idx: {'less':
   hp-12 results, 'full': hp-200 results}}``), loaded with torch (``benchbench[torch]``);
3. the flat one-row-per-cell export (``nb201_table.csv.gz``: final epoch only, seed means,
   per-seed validation values, see the shared data README).

Splits are kept exactly as the source defines them:

=================  ===========================  ==========================================
dataset            source set                   benchbench metric
=================  ===========================  ==========================================
cifar10-valid      ``x-valid`` (25k of train)   ``valid_acc`` / ``valid_loss``
cifar10-valid      ``ori-test`` (10k test)      ``test_acc`` / ``test_loss``
cifar10            ``ori-test``                 ``test_acc`` / ``test_loss`` (no valid split)
cifar100, IN16     ``x-valid`` (half of test)   ``valid_acc`` / ``valid_loss``
cifar100, IN16     ``x-test`` (other half)      ``test_acc`` / ``test_loss``
cifar100, IN16     ``ori-test`` (whole test)    ``valtest_acc`` / ``valtest_loss``
=================  ===========================  ==========================================

Fidelity = official 0-based epoch index + 1.  Cost = cumulative recorded training seconds.

Evaluation times (official files only; the flat export has none): ``<split>_eval_s`` for each
split above, per seed and epoch, is the official API's ``'<split>-per-time'`` of
``get_more_info(index, dataset, iepoch=f-1, hp, is_random=seed)``: the sum of the run's recorded
``eval_times['<set>@i']`` over ``i = 0..f-1`` divided by ``f`` (``ResultsCount.get_eval``'s
``all_time`` over ``iepoch + 1``), i.e. the mean seconds of one evaluation pass on that set up
to fidelity ``f`` - not the time of the pass at epoch ``f`` alone (in the three official
NATS-Bench sample files every epoch of a run records the same time, so the two agree there).
It exists exactly where the API answers: at the epochs where the set's accuracy and loss are
recorded (e.g. on cifar10-valid with hp=200, ``test_eval_s`` only at 200, like ``test_acc``).
NB201's search scripts charge ``train-all-time + valid-per-time`` per query, that is
``cost_s + valid_eval_s`` (``benchbench.runner``'s ``cost="train+eval"``).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import json
import math
import os
import pickle
import re
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchbench import _safe_pickle
from benchbench.api import Direction, Metric, accuracy_metric, loss_metric
from benchbench.spaces import NB201Space
from tabular_data._format import DatasetSpec, TableWriter, sha256_files
from tabular_data._root import table_path

__all__ = ["detect_nb201_source", "import_nb201", "nb201_metrics"]

DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
#: Seeds NB201 / NATS-Bench trained, by hyper-parameter set.
KNOWN_SEEDS = {"200": (777, 888, 999), "12": (111, 777, 888, 999)}
EVAL_SETS: dict[str, dict[str, str]] = {
    "cifar10-valid": {"x-valid": "valid", "ori-test": "test"},
    "cifar10": {"ori-test": "test"},
    "cifar100": {"x-valid": "valid", "x-test": "test", "ori-test": "valtest"},
    "ImageNet16-120": {"x-valid": "valid", "x-test": "test", "ori-test": "valtest"},
}
_SET_DESC = {
    ("cifar10-valid", "valid"): "x-valid: 25k held-out images of the CIFAR-10 train set",
    ("cifar10-valid", "test"): "ori-test: the 10k CIFAR-10 test set",
    ("cifar10", "test"): "ori-test: the 10k CIFAR-10 test set (trained on all 50k)",
    ("cifar100", "valid"): "x-valid: 5k half of the CIFAR-100 test set",
    ("cifar100", "test"): "x-test: the other 5k half of the CIFAR-100 test set",
    ("cifar100", "valtest"): "ori-test: the whole 10k CIFAR-100 test set (x-valid + x-test)",
    ("ImageNet16-120", "valid"): "x-valid: 3k half of the ImageNet16-120 validation set",
    ("ImageNet16-120", "test"): "x-test: the other 3k half",
    ("ImageNet16-120", "valtest"): "ori-test: the whole 6k ImageNet16-120 validation set",
}


PARAMS = Metric("params", None, Direction.MINIMIZE, 0.0, math.inf, "M",
                "parameters, millions (NB201 'MB')")
FLOPS = Metric("flops", None, Direction.MINIMIZE, 0.0, math.inf, "MFLOPs",
               "floating-point operations of one forward pass, millions")
LATENCY = Metric("latency", None, Direction.MINIMIZE, 0.0, math.inf, "s",
                 "inference latency as NATS-Bench measured it")


def _eval_time_metric(dataset: str, split: str) -> Metric:
    """``<split>_eval_s`` (the name ``benchbench._run.eval_time_metric`` looks for): seconds
    of one evaluation pass on ``split`` of ``dataset``, as the official API's
    ``'<split>-per-time'`` defines it (see the module docstring)."""
    return Metric(f"{split}_eval_s", None, Direction.MINIMIZE, 0.0, math.inf, "s",
                  f"seconds of one evaluation pass on {_SET_DESC[dataset, split]}, as recorded: "
                  f"the mean of the run's per-epoch evaluation times over epochs 1..f (the "
                  f"official get_more_info's '{split}-per-time' at that epoch)")


def nb201_metrics(dataset: str) -> tuple[Metric, ...]:
    """All metrics an NB201 source can have on ``dataset`` (a table keeps those it has)."""
    ms = [accuracy_metric("train", "training set, running average over the epoch"),
          loss_metric("train", "training set, running average over the epoch")]
    for split in EVAL_SETS[dataset].values():
        ms += [accuracy_metric(split, _SET_DESC[dataset, split]),
               loss_metric(split, _SET_DESC[dataset, split])]
    times = [_eval_time_metric(dataset, split) for split in EVAL_SETS[dataset].values()]
    return (*ms, PARAMS, FLOPS, LATENCY, *times)


# ----------------------------------------------------------------- official formats
def _results_arrays(state: Mapping[str, Any], hp: str, specs: Mapping[str, DatasetSpec],
                    where: str) -> Iterator[tuple[str, int, dict[str, np.ndarray], np.ndarray]]:
    """Yield (dataset, seed position, {metric: (E,)}, cost (E,)) for one ArchResults-state."""
    for key, r in state["all_results"].items():
        dataset, seed = key
        if dataset not in specs:
            raise ValueError(f"{where}: unknown dataset {dataset!r}; known: {list(specs)}")
        spec = specs[dataset]
        seed = int(seed)
        if seed not in spec.seeds:
            raise ValueError(f"{where}: seed {seed} of {dataset!r} (hp={hp}) is not one of "
                             f"the NB201 seeds {spec.seeds}")
        n_e = len(spec.epochs)
        out: dict[str, np.ndarray] = {}
        label = f"{where}: {dataset} seed {seed}"
        for e, v in r["train_acc1es"].items():
            _put(out, n_e, "train_acc", int(e), v, label, hp)
        for e, v in r["train_losses"].items():
            _put(out, n_e, "train_loss", int(e), v, label, hp)
        sets = EVAL_SETS[dataset]
        for field, suffix in (("eval_acc1es", "acc"), ("eval_losses", "loss")):
            for k, v in r[field].items():
                name, _, e = k.partition("@")
                if name not in sets:
                    raise ValueError(f"{where}: {dataset} seed {seed}: unknown evaluation set "
                                     f"{name!r}; known for this dataset: {list(sets)}")
                _put(out, n_e, f"{sets[name]}_{suffix}", int(e), v, label, hp)
        out.update(_eval_seconds(r.get("eval_times") or {}, sets, out, n_e, label, hp))
        trained = ~np.isnan(out.get("train_acc", np.full(n_e, np.nan)))
        for metric, value in (("params", r.get("params")), ("flops", r.get("flop")),
                              ("latency", _mean_latency(r.get("latency")))):
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                out[metric] = np.where(trained, float(value), np.nan)
        times = np.full(n_e, np.nan)
        for e, v in r["train_times"].items():
            times[int(e)] = float(v)
        yield dataset, spec.seeds.index(seed), out, np.cumsum(times)


def _eval_seconds(times: Mapping[str, Any], sets: Mapping[str, str],
                  curves: Mapping[str, np.ndarray], n_e: int, label: str, hp: str
                  ) -> dict[str, np.ndarray]:
    """``{<split>_eval_s: (n_e,)}`` from a run's ``eval_times`` (``'<set>@<epoch>'`` ->
    seconds): at fidelity ``f``, the sum of the set's times at epochs ``0..f-1`` over ``f`` (the
    official ``'<split>-per-time'``); NaN from the first epoch without a recorded time on, and
    wherever the set's accuracy or loss is not recorded (the API has no answer there)."""
    raw: dict[str, np.ndarray] = {}
    for k, v in times.items():
        name, _, e = k.partition("@")
        if name not in sets:
            raise ValueError(f"{label}: unknown evaluation set {name!r} in eval_times; known "
                             f"for this dataset: {list(sets)}")
        _put(raw, n_e, name, int(e), v, label, hp)
    out: dict[str, np.ndarray] = {}
    for name, t in raw.items():
        split = sets[name]
        per_time = np.cumsum(t) / np.arange(1, n_e + 1)  # NaN propagates past a gap
        answered = np.ones(n_e, dtype=bool)  # ResultsCount.get_eval reads both
        for suffix in ("acc", "loss"):
            c = curves.get(f"{split}_{suffix}")
            answered &= np.zeros(n_e, dtype=bool) if c is None else ~np.isnan(c)
        out[f"{split}_eval_s"] = np.where(answered, per_time, np.nan)
    return out


def _put(out: dict[str, np.ndarray], n_e: int, metric: str, epoch: int, value: float,
         label: str, hp: str) -> None:
    """Set ``out[metric][epoch]`` (a ``(n_e,)`` curve, NaN where unset) to ``value``."""
    if not 0 <= epoch < n_e:
        raise ValueError(f"{label}: epoch index {epoch} outside 0..{n_e - 1} for hp={hp}")
    out.setdefault(metric, np.full(n_e, np.nan))[epoch] = float(value)


def _mean_latency(lat: Any) -> float | None:
    if lat is None:
        return None
    vals = [float(x) for x in (lat if isinstance(lat, (list, tuple)) else [lat])]
    vals = [v for v in vals if v >= 0]
    return float(np.mean(vals)) if vals else None


def _official_specs(hp: str) -> dict[str, DatasetSpec]:
    if hp not in KNOWN_SEEDS:
        raise ValueError(f"unknown NB201 hyper-parameter set hp={hp!r}; allowed: "
                         f"{sorted(KNOWN_SEEDS)}")
    epochs = tuple(range(1, int(hp) + 1))
    return {d: DatasetSpec(nb201_metrics(d), KNOWN_SEEDS[hp], epochs) for d in DATASETS}


def _write_official(writer: TableWriter, specs: Mapping[str, DatasetSpec], hp: str,
                    states: Iterable[tuple[int, Mapping[str, Any]]], block: int = 256,
                    progress: Callable[[int], None] | None = None) -> int:
    """Stream (row, ArchResults-state) pairs in row order into ``writer``; returns #rows."""
    count = 0
    buf: list[tuple[int, Mapping[str, Any]]] = []

    def flush() -> None:
        if not buf:
            return
        rows = np.array([r for r, _ in buf], dtype=np.int64)
        per: dict[str, dict[str, np.ndarray]] = {}
        cost: dict[str, np.ndarray] = {}
        for ds, spec in specs.items():
            shape = (len(buf), len(spec.seeds), len(spec.epochs))
            per[ds] = {m.name: np.full(shape, np.nan) for m in spec.metrics}
            cost[ds] = np.full(shape, np.nan)
        for i, (row, state) in enumerate(buf):
            for ds, sp, vals, c in _results_arrays(state, hp, specs, f"cell {row}"):
                for m, v in vals.items():
                    per[ds][m][i, sp] = v
                cost[ds][i, sp] = c
        for ds in specs:
            writer.write(ds, rows, per_seed=per[ds], cost_seeds=cost[ds])
        if progress:
            progress(len(buf))
        buf.clear()

    last = -1
    for row, state in states:
        if row <= last:
            raise ValueError(f"cells must come in increasing index order ({row} after {last})")
        last = row
        if str(state.get("arch_index", row)) != str(row):
            raise ValueError(f"cell file {row} says arch_index {state.get('arch_index')}")
        buf.append((row, state))
        count += 1
        if len(buf) >= block:
            flush()
    flush()
    return count


def _write_official_table(out: Path, name: str, meta_archs: list[str], hp: str,
                          states: Iterable[tuple[int, Mapping[str, Any]]], *, kind: str, sha: str,
                          version: str, provenance: Mapping[str, Any],
                          progress: Callable[[int], None] | None) -> tuple[Path, int]:
    """Write a table from official ArchResults-states (NATS directory or .pth)."""
    specs = _official_specs(hp)
    with TableWriter(out, name=name, space="nb201", arch_ids=meta_archs, datasets=specs,
                     source_kind=kind, source_sha256=sha, version=version,
                     provenance={**provenance, "hp": hp}, verify=verify_table) as w:
        n = _write_official(w, specs, hp, states, progress=progress)
    return out, n


def _check_arch_strings(meta_archs: list[str]) -> None:
    space = NB201Space()
    if len(meta_archs) != space.size:
        raise ValueError(f"meta_archs lists {len(meta_archs)} cells; NB201 has {space.size}")
    for i, s in enumerate(meta_archs):
        if space.index(space.parse(s)) != i:
            raise ValueError(f"meta_archs[{i}] = {s!r} is not NB201's official cell {i} "
                             f"({space.arch_id(space.from_index(i))!r})")


_TRUST_HINT = ("import it with --trust-pickle (import_nb201(..., trust_pickle=True)) only if you "
               "trust the file")


def _load_pbz2(path: Path, trust_pickle: bool = False) -> Any:
    """A NATS ``.pickle.pbz2`` file, through the restricted unpickler unless ``trust_pickle``."""
    try:
        with bz2.BZ2File(path, "rb") as f:
            if trust_pickle:
                return pickle.load(f)
            return _safe_pickle.load(f, path, hint=_TRUST_HINT)
    except _safe_pickle.UnsafePickleError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError,
            IndexError, TypeError) as e:
        raise ValueError(f"{path}: not a readable NATS .pickle.pbz2 file "
                         f"({type(e).__name__}: {e})") from None


_NATS_FILE = re.compile(r"^(\d{6})\.pickle\.pbz2$")


def _nats_files(path: Path) -> list[tuple[int, Path]]:
    files = sorted((int(m.group(1)), p) for p in path.iterdir()
                   if (m := _NATS_FILE.match(p.name)))
    return files


def _import_nats_dir(path: Path, out: Path, name: str, hp: str, sha: str,
                     progress: Callable[[int], None] | None,
                     trust_pickle: bool = False) -> tuple[Path, int]:
    meta = _load_pbz2(path / "meta.pickle.pbz2", trust_pickle)
    meta_archs = list(meta["meta_archs"])
    _check_arch_strings(meta_archs)
    files = _nats_files(path)
    if not files:
        raise ValueError(f"{path}: no cell files (NNNNNN.pickle.pbz2) beside meta.pickle.pbz2")

    def states() -> Iterator[tuple[int, Mapping[str, Any]]]:
        for idx, p in files:
            d = _load_pbz2(p, trust_pickle)
            if hp not in d:
                raise ValueError(f"{p}: no results for hp={hp!r}; has {list(d)}")
            if d[hp]["arch_str"] != meta_archs[idx]:
                raise ValueError(f"{p}: arch_str {d[hp]['arch_str']!r} differs from "
                                 f"meta_archs[{idx}]")
            yield idx, d[hp]

    return _write_official_table(out, name, meta_archs, hp, states(), kind="nats-tss-simple",
                                 sha=sha, version=f"NATS-tss-v1.0 hp={hp}",
                                 provenance={"source": str(path.resolve()),
                                             "n_cell_files": len(files),
                                             **_trusted(trust_pickle)}, progress=progress)


def _trusted(trust_pickle: bool) -> dict[str, bool]:
    return {"trust_pickle": True} if trust_pickle else {}


def _torch_safe_globals() -> list[Any]:
    """The numpy types an official .pth may hold (scalars, arrays, dtypes), under their numpy
    1 and numpy 2 module names, for ``torch.load(weights_only=True)``."""
    try:
        from numpy._core import multiarray as ma  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1
        from numpy.core import multiarray as ma  # type: ignore[no-redef]
    out: list[Any] = [np.dtype, np.ndarray, OrderedDict]
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out += [(ma.scalar, f"{mod}.scalar"), (ma._reconstruct, f"{mod}._reconstruct")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        out += [t for t in vars(dtypes).values()
                if isinstance(t, type) and issubclass(t, np.dtype)]
    return out


def _load_pth(path: Path, trust_pickle: bool) -> Any:
    import torch

    try:
        if trust_pickle:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(_torch_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except _safe_pickle.UnsafePickleError:
        raise
    except pickle.UnpicklingError as e:
        m = None if trust_pickle else re.search(r"GLOBAL ([\w.]+)", str(e))
        if m:
            raise _safe_pickle.refused(path, m.group(1), _TRUST_HINT) from None
        raise ValueError(f"{path}: not a readable .pth file (damaged or not a .pth: "
                         f"{' '.join(str(e).split())[-300:]})") from None
    except (OSError, EOFError, RuntimeError, ValueError, KeyError, IndexError, TypeError,
            AttributeError, ImportError, MemoryError, OverflowError) as e:
        raise ValueError(f"{path}: not a readable .pth file, damaged or not a .pth "
                         f"({type(e).__name__}: {' '.join(str(e).split())[:300]})") from None


def _import_pth(path: Path, out: Path, name: str, hp: str, sha: str,
                progress: Callable[[int], None] | None,
                trust_pickle: bool = False) -> tuple[Path, int]:
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("reading an official NB201 .pth needs PyTorch: "
                          "pip install 'benchbench[torch]' (CPU build: pip install "
                          "torch==2.13.0 first)") from None
    del torch
    # The official files are pickles of plain dicts: loaded with weights_only=True (numpy
    # scalars allowed) unless trust_pickle, which executes pickle code.
    data = _load_pth(path, trust_pickle)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: not an NB201 .pth (holds a {type(data).__name__}, not a dict)")
    for key in ("meta_archs", "arch2infos"):
        if key not in data:
            raise ValueError(f"{path}: not an NB201 .pth (no {key!r} key; has {sorted(data)})")
    meta_archs = list(data["meta_archs"])
    _check_arch_strings(meta_archs)
    _official_specs(hp)  # validates hp
    which = {"200": "full", "12": "less"}[hp]
    infos = data["arch2infos"]

    def states() -> Iterator[tuple[int, Mapping[str, Any]]]:
        for idx in sorted(int(i) for i in infos):
            entry = infos[idx]
            if which not in entry:
                raise ValueError(f"{path}: cell {idx} has no {which!r} results; "
                                 f"has {sorted(entry)}")
            yield idx, entry[which]

    return _write_official_table(out, name, meta_archs, hp, states(), kind="nb201-pth", sha=sha,
                                 version=f"NB201 .pth hp={hp}",
                                 provenance={"source": str(path.resolve()), "n_cells": len(infos),
                                             **_trusted(trust_pickle)},
                                 progress=progress)


# ------------------------------------------------------------------- flat export
FLAT_COLUMNS = (
    "index", "arch_str", "c10v_train_acc", "c10v_valid_acc", "c10v_test_acc", "c10v_train_loss",
    "c10v_valid_loss", "c10v_test_loss", "c10v_train_time_s", "c10v_n_seeds",
    "c10v_valid_acc_seeds", "c10v_params_mb", "c10_test_acc_single", "c100_valtest_acc_mean",
    "c100_valtest_acc_seeds", "c100_train_time_s", "c100_params_mb", "c100_test_acc_single",
    "in16_valtest_acc_mean", "in16_valtest_acc_seeds", "in16_train_time_s", "in16_params_mb",
    "in16_test_acc_single",
)
_ONE_RUN = " ONE training run, not a seed mean (the flat export has no seed mean)"


def _seed_matrix(col: Any, n_seeds: int) -> np.ndarray:
    """Parse ``'a;b;c'`` cells into an (A, n_seeds) array, NaN-padded."""
    out = np.full((len(col), n_seeds), np.nan)
    for i, cell in enumerate(col.tolist()):
        vals = [float(v) for v in str(cell).split(";") if v != ""]
        if len(vals) > n_seeds:
            raise ValueError(f"row {i}: {len(vals)} per-seed values, at most {n_seeds} allowed")
        out[i, :len(vals)] = vals
    return out


def _read_flat(path: Path) -> Any:
    import pandas as pd

    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError, ValueError) as e:
        raise ValueError(f"{path}: cannot read the flat NB201 export (truncated or not a "
                         f"table?): {type(e).__name__}: {' '.join(str(e).split())[:200]}"
                         ) from None


def _import_flat(path: Path, out: Path, name: str, hp: str, sha: str,
                 progress: Callable[[int], None] | None,
                 trust_pickle: bool = False) -> tuple[Path, int]:
    if hp != "200":
        raise ValueError(f"the flat NB201 export holds hp=200 final-epoch results only; "
                         f"hp={hp!r} is not in it")
    df = _read_flat(path)
    missing = [c for c in FLAT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not the flat NB201 export; missing columns {missing}")
    space = NB201Space()
    if len(df) != space.size or not (df["index"].to_numpy() == np.arange(space.size)).all():
        raise ValueError(f"{path}: expected {space.size} rows in official index order")
    meta_archs = df["arch_str"].tolist()
    _check_arch_strings(meta_archs)
    seeds = KNOWN_SEEDS["200"]
    n, e = len(df), (200,)
    by_name = {d: {m.name: m for m in nb201_metrics(d)} for d in DATASETS}

    def col(c: str) -> np.ndarray:
        return df[c].to_numpy(dtype=np.float64)[:, None]

    def described(ds: str, metric: str, extra: str) -> Metric:
        m = by_name[ds][metric]
        return Metric(m.name, m.split, m.direction, m.lower, m.upper, m.unit,
                      m.description + ";" + extra)

    seed_note = (" per-seed values in the file's order, labelled NB201's seeds 777, 888, 999 "
                 "(the file does not name them; 2-run cells get 777, 888)")
    specs = {
        "cifar10-valid": DatasetSpec(
            (by_name["cifar10-valid"]["train_acc"],
             described("cifar10-valid", "valid_acc", seed_note),
             by_name["cifar10-valid"]["test_acc"], by_name["cifar10-valid"]["train_loss"],
             by_name["cifar10-valid"]["valid_loss"], by_name["cifar10-valid"]["test_loss"],
             PARAMS), seeds, e),
        "cifar10": DatasetSpec((described("cifar10", "test_acc", _ONE_RUN),), (), e),
        "cifar100": DatasetSpec(
            (described("cifar100", "valtest_acc", seed_note),
             described("cifar100", "test_acc", _ONE_RUN), PARAMS), seeds, e),
        "ImageNet16-120": DatasetSpec(
            (described("ImageNet16-120", "valtest_acc", seed_note),
             described("ImageNet16-120", "test_acc", _ONE_RUN), PARAMS), seeds, e),
    }
    rows = np.arange(n)
    nan3 = np.full((n, len(seeds), 1), np.nan)
    with TableWriter(out, name=name, space="nb201", arch_ids=meta_archs, datasets=specs,
                     source_kind="nb201-flat", source_sha256=sha,
                     version="NB201 flat export hp=200 (final epoch)",
                     provenance={"source": str(path.resolve()), "hp": "200"},
                     verify=verify_table) as w:
        w.write("cifar10-valid", rows,
                per_seed={"valid_acc": _seed_matrix(df["c10v_valid_acc_seeds"], 3)[:, :, None]},
                mean={"train_acc": col("c10v_train_acc"), "valid_acc": col("c10v_valid_acc"),
                      "test_acc": col("c10v_test_acc"), "train_loss": col("c10v_train_loss"),
                      "valid_loss": col("c10v_valid_loss"), "test_loss": col("c10v_test_loss"),
                      "params": col("c10v_params_mb")},
                cost_seeds=nan3, cost_mean=col("c10v_train_time_s"))
        w.write("cifar10", rows, per_seed={}, mean={"test_acc": col("c10_test_acc_single")})
        for ds, p in (("cifar100", "c100"), ("ImageNet16-120", "in16")):
            w.write(ds, rows,
                    per_seed={"valtest_acc": _seed_matrix(df[f"{p}_valtest_acc_seeds"],
                                                          3)[:, :, None]},
                    mean={"valtest_acc": col(f"{p}_valtest_acc_mean"),
                          "test_acc": col(f"{p}_test_acc_single"), "params": col(f"{p}_params_mb")},
                    cost_seeds=nan3, cost_mean=col(f"{p}_train_time_s"))
        if progress:
            progress(n)
    return out, n


# ---------------------------------------------------------------------- entry point
def detect_nb201_source(path: str | Path) -> str:
    """``"nats-tss-simple"``, ``"nb201-pth"`` or ``"nb201-flat"`` for ``path`` (clear error
    otherwise)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file or directory: {p}")
    if p.is_dir():
        if (p / "meta.pickle.pbz2").is_file():
            return "nats-tss-simple"
        raise ValueError(f"{p} is a directory without meta.pickle.pbz2: not a NATS-Bench tss "
                         f"'simple' directory")
    name = p.name.lower()
    if name.endswith(".pth"):
        return "nb201-pth"
    if name.endswith((".csv", ".csv.gz", ".parquet")):
        return "nb201-flat"
    with open(p, "rb") as f:
        head = f.read(4)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        return "nb201-pth"
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(p, "rt") as g:
                if g.readline().startswith("index,arch_str"):
                    return "nb201-flat"
        except (OSError, EOFError, zlib.error, UnicodeDecodeError):
            pass
    raise ValueError(f"cannot tell what {p} is; NB201 sources are: a NATS-Bench tss 'simple' "
                     f"directory (meta.pickle.pbz2 + NNNNNN.pickle.pbz2), an official NB201 "
                     f".pth file, or the flat export (.csv, .csv.gz or .parquet)")


_IMPORTERS = {"nats-tss-simple": _import_nats_dir, "nb201-pth": _import_pth,
              "nb201-flat": _import_flat}


def import_nb201(path: str | Path, *, name: str = "nb201", root: str | Path | None = None,
                 out: str | Path | None = None, hp: str = "200", force: bool = False,
                 progress: Callable[[int], None] | None = None,
                 trust_pickle: bool = False) -> Path:
    """Import NB201 data from ``path`` into the table ``name`` of the data root.

    Args:
        path: a NATS tss "simple" directory, an official ``.pth`` or the flat export.
        name: table name (``benchbench query NAME ...``).
        root: data root (default: ``$BENCHBENCH_DATA`` or the per-user cache).
        out: write to this file instead of ``<root>/tables/<name>.h5``.
        hp: NB201 hyper-parameter set, ``"200"`` (default) or ``"12"``.
        force: overwrite an existing table of the same name.  Without it, importing the same
            source again is a no-op (if the existing table is readable; an unreadable one is
            re-imported) and importing other data under the name is refused.
        progress: called with the number of cells written after each block.
        trust_pickle: load pickles (``.pickle.pbz2``, ``.pth``) without restriction, which
            runs any code they name; the table's provenance then records
            ``"trust_pickle": true``.  By default only plain data (dicts, lists, numpy
            scalars and arrays) is loaded and anything else is refused.

    Only one import writes a table at a time (an exclusive lock on
    ``<dir>/.NAME.lock``; a second one fails with "being imported by PID ..."), each writes
    its own temporary file, and the written table is opened and read before it replaces
    the final name.

    Returns:
        The path of the written table.
    """
    dest = Path(out) if out is not None else table_path(name, root)
    kind = detect_nb201_source(path)
    path = Path(path)
    files = ([path / "meta.pickle.pbz2", *(p for _, p in _nats_files(path))]
             if kind == "nats-tss-simple" else [path])
    sha = sha256_files(files)
    with _table_lock(dest):
        if dest.exists() and not force:
            same, problem = _same_import(dest, sha, str(hp))
            if same and problem is None:
                return dest  # the same source was imported already: nothing to do
            if not same:
                raise FileExistsError(
                    f"a table already exists at {dest} "
                    f"(from other data{'' if problem is None else ': ' + problem}); choose "
                    f"another "
                    f"--name or pass --force to replace it")
            # the same source, but the table does not read back: import it again
        written, _ = _IMPORTERS[kind](path, dest, name, str(hp), sha, progress, trust_pickle)
    return written


class TableBusyError(FileExistsError):
    """Another process is importing the same table right now."""


def _table_lock(dest: Path) -> contextlib.AbstractContextManager[None]:
    """An exclusive ``flock`` on ``<dest dir>/.<table stem>.lock`` (the lock file holds the
    holder's PID); fails at once with :class:`TableBusyError` if another process has it."""
    from benchbench._lockfile import exclusive_lock

    lock = dest.parent / f".{dest.stem}.lock"
    return exclusive_lock(lock, f"{os.getpid()}\n", busy=lambda holder: TableBusyError(
        f"table {dest} is being imported by PID {holder or '?'} (lock {lock}); wait for it "
        f"to finish and run the import again"))


def verify_table(path: Path) -> None:
    """Open ``path`` as a table and read every dataset's attributes and one value; a
    ``ValueError`` naming the file and the problem if it does not read back."""
    import h5py

    from tabular_data._benchmark import TabularBenchmark

    try:
        b = TabularBenchmark(path)
        with h5py.File(path, "r") as f:
            for ds in b.datasets:
                b.metrics(ds)
                b.fidelity(ds)
                g = f[f"datasets/{ds}"]
                for key in ("seeds", "epochs", "metrics", "metric_epochs", "seed_values"):
                    _ = g.attrs[key]
                for m in json.loads(g.attrs["metrics"]):
                    ds_mean = g[f"{m['name']}/mean"]
                    if ds_mean.size:
                        _ = ds_mean[(0,) * ds_mean.ndim]
    except Exception as e:  # any failure means the table is unreadable
        raise ValueError(f"{path}: the table does not read back ({type(e).__name__}: "
                         f"{' '.join(str(e).split())[:200]})") from None


def imported_from(dest: Path, sha: str) -> bool:
    """Whether ``dest`` is a readable, verified table imported from the bytes with sha256
    ``sha`` (so importing them again has nothing to do)."""
    import h5py

    try:
        with h5py.File(dest, "r") as f:
            same = f.attrs.get("source_sha256") == sha
        verify_table(dest)
    except (OSError, ValueError):
        return False
    return bool(same)


def _same_import(dest: Path, sha: str, hp: str) -> tuple[bool, str | None]:
    """Whether the table at ``dest`` was imported from the same bytes with the same ``hp``,
    and why it is not readable (``None`` when it is)."""
    import h5py

    try:
        with h5py.File(dest, "r") as f:
            prov = json.loads(f.attrs.get("provenance", "{}"))
            same = f.attrs.get("source_sha256") == sha and str(prov.get("hp")) == hp
    except (OSError, ValueError) as e:
        return False, f"not a readable table: {type(e).__name__}: {' '.join(str(e).split())}"
    try:
        verify_table(dest)
    except ValueError as e:
        return same, str(e)
    return same, None
