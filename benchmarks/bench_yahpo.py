"""Throughput of YAHPO's NB301 ONNX surrogate: the file as shipped (batch fixed at 1, one call
per cell) against the batch-rewritten model served as ``nb301-yahpo``, measured in the same run
on the same cells, one onnxruntime thread each.

Rows (cells per second, and the ratio to the shipped file's per-row calls):

* ``shipped file, 1 row per call``: onnxruntime on ``new_model.onnx`` as published, one
  ``run`` per pre-encoded cell (the best the file allows);
* ``query() one cell at a time``: benchbench's full path per cell (parse, encode, model,
  Evaluation);
* ``rewritten model, raw predict``: pre-encoded rows, chunks of 1,024 rows;
* ``query_many(), cells seen before`` / ``new cells``: benchbench's full batched path from arch
  records (encoding cached per cell / not), the path search algorithms and reports use.

The outputs of every path are checked equal (bit for bit) to the shipped file's per-row outputs.

    python benchmarks/bench_yahpo.py --cells 50000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb301"


def _rate(n: int, fn: object, repeats: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return n / best, out


def main() -> None:
    import onnxruntime as ort

    from surrogates.yahpo import MODEL_FILE, YahpoNB301, import_yahpo_nb301

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=50_000)
    ap.add_argument("--per-row-cells", type=int, default=5_000,
                    help="cells for the one-call-per-cell rows (they are slow)")
    a = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench_yahpo_"))
    t0 = time.perf_counter()
    folder = import_yahpo_nb301(SHARED / "yahpo_nb301", root=root)
    t_import = time.perf_counter() - t0
    bench = YahpoNB301(folder, threads=1)
    rng = np.random.default_rng(0)
    archs = [bench.space.sample(rng) for _ in range(a.cells)]
    fresh = [bench.space.sample(rng) for _ in range(a.cells)]
    x = bench.encode(archs)
    epochs = np.full(len(archs), 98)
    m = a.per_row_cells

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    shipped = ort.InferenceSession(str(SHARED / "yahpo_nb301" / MODEL_FILE), so,
                                   providers=["CPUExecutionProvider"])
    e98 = np.asarray([[98.0]], dtype=np.float32)

    def per_row() -> np.ndarray:
        return np.concatenate([shipped.run(None, {"x_cat": x[i:i + 1], "x_cont": e98})[0]
                               for i in range(m)])

    def one_at_a_time() -> list[float]:
        return [bench.query(archs[i], dataset="cifar10").values["valid_acc"] for i in range(m)]

    def raw() -> np.ndarray:
        return bench.predict(x, epochs)

    def many() -> object:
        return bench.query_many(archs, dataset="cifar10")

    def many_fresh() -> object:
        bench._encoder._cache.clear()
        return bench.query_many(fresh, dataset="cifar10")

    r_row, ref = _rate(m, per_row, repeats=1)
    r_one, one = _rate(m, one_at_a_time, repeats=1)
    r_raw, out = _rate(len(x), raw)
    r_many, batch = _rate(len(archs), many)
    r_fresh, _ = _rate(len(fresh), many_fresh)
    ref = np.asarray(ref)
    assert np.array_equal(np.asarray(out)[:m], ref), "batched predict != shipped per-row"
    assert np.array_equal(np.asarray(one), ref[:, 0].astype(np.float64)), "query != shipped"
    assert np.array_equal(batch.values["valid_acc"][:m],  # type: ignore[attr-defined]
                          ref[:, 0].astype(np.float64)), "query_many != shipped"

    load = os.getloadavg()
    print(f"YAHPO nb301 surrogate, one onnxruntime thread, {os.cpu_count()} cores, load "
          f"average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; import (sha256, rewrite, "
          f"batched = per-row proof on 516 rows) {t_import:.2f} s")
    rows = [("shipped file, 1 row per call", m, r_row),
            ("query() one cell at a time", m, r_one),
            ("rewritten model, raw predict", len(x), r_raw),
            ("query_many(), cells seen before", len(archs), r_many),
            ("query_many(), new cells", len(fresh), r_fresh)]
    print(f"{'path':34s} {'cells':>7s} {'cells/s':>10s} {'x shipped':>10s}")
    for name, n, r in rows:
        print(f"{name:34s} {n:7d} {r:10,.0f} {r / r_row:10.1f}")
    print(f"outputs: batched == shipped per-row on {m} cells (bit-identical)")


if __name__ == "__main__":
    main()
