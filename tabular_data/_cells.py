"""Lists of cells to validate or build: from a cell file (:func:`read_cells`) or the final
incumbents of the runs of a study (:func:`incumbents_from_runs`, read through
:class:`benchbench.store.StudyStore`, the one reader of study folders)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchbench.store import RunFiles, StoreError, StudyStore
from tabular_data._builder import enumerable_space

__all__ = ["incumbents_from_runs", "read_cells"]


def read_cells(path: str | Path, space: str = "nb201") -> list[int]:
    """Official indices of the cells listed in ``path``, in file order: one cell string or
    official index per line; blank lines and ``#`` comments are ignored.

    Raises:
        ValueError: a line is not a cell of ``space`` (the message names file and line), the
            file lists no cell, or ``space`` cannot be enumerated.
    """
    sp = enumerable_space(space)
    out: list[int] = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            out.append(sp.index(sp.parse(int(text) if text.isdigit() else text)))
        except (ValueError, KeyError, LookupError) as e:
            raise ValueError(f"{path}:{n}: bad cell {text!r}: {e}") from None
    if not out:
        raise ValueError(f"{path} lists no cells (one cell string or official index per line)")
    return out


def incumbents_from_runs(run_dir: str | Path) -> list[int]:
    """The final incumbent (official index) of every run of the study folder ``run_dir``,
    distinct, in run order (algorithm label, then run folder).

    A finished run (manifest ``status == "done"``) gives its manifest's
    ``result["incumbent_index"]``; any other run (still running, failed, torn manifest, or
    none) the ``incumbent_index`` of the last row of its ``records.csv``.  Runs without an
    incumbent yet are skipped.

    Raises:
        FileNotFoundError: no run under ``run_dir`` has a manifest or ``records.csv``.
        ValueError: no run has an incumbent yet; a run's incumbent has no official index
            (its space cannot be enumerated, so no table holds it); a corrupt records file.
    """
    store = StudyStore(run_dir)
    out: list[int] = []
    runs = 0
    for run in store.iter_runs():
        if not (run.manifest.is_file() or run.records.is_file()):
            continue
        runs += 1
        i = _final_incumbent(store, run)
        if i is not None and i not in out:
            out.append(i)
    if not runs:
        raise FileNotFoundError(f"no records.csv under {run_dir}; give a study folder "
                                f"written by `benchbench run`")
    if not out:
        raise ValueError(f"the runs under {run_dir} have no incumbents yet")
    return out


def _final_incumbent(store: StudyStore, run: RunFiles) -> int | None:
    """The run's final incumbent index, ``None`` if it has none yet."""
    where = str(run.path)
    try:
        _, man = store.read_manifest(run)
    except StoreError:
        man = {}  # none or torn: not finished, read its records
    result = man.get("result")
    if man.get("status") == "done" and isinstance(result, dict) \
            and "incumbent_index" in result:
        return _index(result["incumbent_index"], result.get("incumbent_id", ""), where)
    if not run.records.is_file():
        return None
    try:
        df = store.read_records(run)
    except StoreError as e:
        raise StoreError(f"{where}: {e}") from None
    if df.empty:
        return None
    last = df.iloc[-1]
    return _index(last["incumbent_index"], last["incumbent_id"], where)


def _index(value: Any, arch_id: Any, where: str) -> int | None:
    """An incumbent index as recorded (``-1``, ``""`` or NaN: none) as an int or ``None``."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)) \
            or (not isinstance(value, str) and value == -1):
        if isinstance(arch_id, str) and arch_id:
            raise ValueError(f"{where}: the incumbent {arch_id!r} has no official index (its "
                             f"space cannot be enumerated), so no table holds it")
        return None
    try:
        i = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: bad incumbent_index {value!r}; expected an official "
                         f"index (int >= 0)") from None
    if isinstance(value, bool) or i != value or i < 0:
        raise ValueError(f"{where}: bad incumbent_index {value!r}; expected an official "
                         f"index (int >= 0)")
    return i
