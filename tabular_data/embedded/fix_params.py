"""Give every row of the embedded ``nb201-digits.h5`` its own network's params and FLOPs.

The table was assembled (version ``trained-digits-193f4366aca2``) with member rows of each
functional class holding their representative's ``params`` / ``flops``; a member's own
network can be larger (cell 4246: 0.011054 M parameters, its representative 118: 0.004894 M).
This script recomputes the two metrics from each row's network
(:func:`tabular_data.rewrite_network_metrics`: ``count_params`` / ``count_flops`` with the
build's network options, no training), checks that every other dataset and attribute is
unchanged, and replaces the file.  It prints what changed.  Running it again changes nothing.

    python tabular_data/embedded/fix_params.py [TABLE]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import h5py
import numpy as np

from tabular_data import rewrite_network_metrics

TABLE = Path(__file__).resolve().parent / "nb201-digits.h5"


def _summary(path: Path) -> dict[str, object]:
    with h5py.File(path, "r") as f:
        g = f["datasets/digits"]
        return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "bytes": path.stat().st_size, "version": str(f.attrs["version"]),
                "params": g["params/mean"][:, -1], "flops": g["flops/mean"][:, -1]}


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else TABLE
    before = _summary(path)
    res = rewrite_network_metrics(path)
    after = _summary(path)
    print(json.dumps({k: v for k, v in res.items()}, indent=1))
    for m in ("params", "flops"):
        a, b = np.asarray(before[m]), np.asarray(after[m])
        diff = np.flatnonzero(a != b)
        print(f"{m}: {len(diff)} of {len(a)} rows changed"
              + (f"; e.g. cell 4246: {a[4246]:.6f} -> {b[4246]:.6f}" if len(diff) else ""))
    for k in ("version", "sha256", "bytes"):
        print(f"{k}: {before[k]} -> {after[k]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
