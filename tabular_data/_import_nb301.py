"""NASLib's 725 NAS-Bench-301 cells (``darts_725_with_zc.json``) as a partial DARTS table.

The file (NAS-Bench-Suite-Zero, Krishnakumar et al. 2022) maps ``{"cifar10": {compact:
{val_accuracy, params, flops, <proxy scores>, idx, arch}}}``; ``compact`` is NASLib's DARTS
form ``[[(input, op) x 8], [(input, op) x 8]]`` with ops coded in NASLib's order (see
:mod:`benchbench.spaces.darts`; checked by the parameter counts of all 725 cells and by the
YAHPO surrogate's rank agreement).  The cells are architectures NAS-Bench-301 trained;
``val_accuracy`` is their trained validation accuracy in percent (one training run, the last
recorded epoch).

Table layout:

==============  ===========================================================================
dataset         ``cifar10`` (NB301's split: validation images held out of the CIFAR-10
                training set)
rows            one per cell, keyed by the DARTS id (:class:`~benchbench.spaces.RestrictedSpace`
                of the 725 cells: optimizers only propose cells the table answers)
seeds           0 (one recorded run per cell)
epochs          98: NB301's learning curves have 98 recorded epochs (NASLib's
                ``DartsSearchSpace.max_epoch = 97``, YAHPO's epoch range 1..98);
                ``val_accuracy`` is the last
valid_acc       ``val_accuracy`` (percent)
params          ``params`` (millions; NASLib's DARTS network, ``benchbench.nn.build_darts``)
flops           ``flops`` (millions, as NASLib computed them)
==============  ===========================================================================

No cost is recorded (``cost_s`` is NaN) and there is no test metric.  The proxy scores are
not table metrics: they are NASLib's, for cross-checks (``benchbench proxies
import-naslib --space darts``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from benchbench.api import Direction, Metric, accuracy_metric
from benchbench.spaces.darts import DartsSpace
from tabular_data._format import DatasetSpec, TableWriter, sha256_files
from tabular_data._root import table_path

__all__ = ["import_nb301_naslib"]

DATASET = "cifar10"
EPOCH = 98
PARAMS = Metric("params", None, Direction.MINIMIZE, 0.0, math.inf, "M",
                "parameters, millions, of NASLib's DARTS network (C=32, 8 cells), as "
                "NAS-Bench-Suite-Zero recorded them")
FLOPS = Metric("flops", None, Direction.MINIMIZE, 0.0, math.inf, "MFLOPs",
               "floating-point operations of one forward pass, millions, as NASLib computed them")


def import_nb301_naslib(path: str | Path, *, name: str = "nb301-naslib",
                        root: str | Path | None = None, out: str | Path | None = None,
                        force: bool = False) -> Path:
    """Import NASLib's ``darts_725_with_zc.json`` as a partial DARTS table (module docstring).

    Returns the table path; importing the same file again is a no-op.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not NASLib's DARTS file, a bad cell (the message names the entry), two
            entries of one cell with different values.
        FileExistsError: a table of that name from other data, without ``force``.
    """
    from tabular_data._import_nb201 import _table_lock, verify_table

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    try:
        cells = json.loads(p.read_text())[DATASET]
        if not isinstance(cells, dict):
            raise TypeError("not a dict of cells")
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{p}: not NASLib's DARTS file ({{'cifar10': {{'[[(input, op), ...], "
                         f"[...]]': {{...}}}}}}): {type(e).__name__}: {e}") from None
    dest = Path(out) if out is not None else table_path(name, root)
    sha = sha256_files([p])
    space = DartsSpace()
    rows: dict[str, tuple[float, float, float]] = {}
    for key, rec in cells.items():
        try:
            arch = space.parse(key)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{p}: entry {key!r}: {e}") from None
        try:
            vals = (float(rec["val_accuracy"]), float(rec["params"]["score"]),
                    float(rec["flops"]["score"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{p}: entry {key!r} lacks a number for {e}") from None
        aid = space.arch_id(arch)
        if aid in rows and rows[aid] != vals:
            raise ValueError(f"{p}: two entries of cell {aid!r} disagree: {rows[aid]} vs "
                             f"{vals}")
        rows[aid] = vals
    ids = list(rows)
    table = np.asarray([rows[i] for i in ids], dtype=float)[:, :, None, None]  # (n, 3, 1, 1)
    valid = accuracy_metric("valid", "NB301's validation images (held out of the CIFAR-10 "
                            "training set), NASLib's val_accuracy of NB301's trained cells")
    spec = DatasetSpec((valid, PARAMS, FLOPS), (0,), (EPOCH,))
    prov = {"source": str(p.resolve()), "n_entries": len(cells), "n_cells": len(ids),
            "nb301_importer": "naslib"}
    with _table_lock(dest):
        if dest.exists() and not force:
            if _same_source(dest, sha):
                return dest
            raise FileExistsError(f"a table already exists at {dest} (from other data); choose "
                                  f"another --name or pass --force to replace it")
        with TableWriter(dest, name=name, space="darts", arch_ids=ids, arch_specs=ids,
                         datasets={DATASET: spec}, source_kind="nb301-naslib",
                         source_sha256=sha, version="NASLib darts_725_with_zc (98 epochs)",
                         provenance=prov, verify=verify_table) as w:
            w.write(DATASET, np.arange(len(ids)),
                    per_seed={"valid_acc": table[:, 0], "params": table[:, 1],
                              "flops": table[:, 2]})
    return dest


def _same_source(dest: Path, sha: str) -> bool:
    from tabular_data._import_nb201 import imported_from

    return imported_from(dest, sha)
