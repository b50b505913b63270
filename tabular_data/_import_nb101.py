"""Importers for NAS-Bench-101 data (no TensorFlow).

1. The official ``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord`` (Ying et al. 2019,
   google-research/nasbench).  TFRecord framing, per record: ``uint64`` payload length
   (little-endian), ``uint32`` masked CRC32C of those 8 bytes, the payload, ``uint32`` masked
   CRC32C of the payload (mask: ``((crc >> 15) | (crc << 17)) + 0xa282ead8``).  Each payload
   is the JSON list the official ``api.py`` reads: ``[module_hash, epochs, raw_adjacency
   ('0'/'1' string of the pruned V x V matrix, row-major), raw_operations (comma-joined op
   names), base64 of a ModelMetrics protobuf]``.  ModelMetrics (``nasbench/lib/
   model_metrics.proto``, proto2): ``repeated EvaluationData evaluation_data = 1;
   optional int32 trainable_parameters = 2; optional double total_time = 3``; EvaluationData:
   ``current_epoch = 1, training_time = 2, train_accuracy = 3, validation_accuracy = 4,
   test_accuracy = 5`` (doubles), ``checkpoint_path = 6`` (string).  Both are parsed here by
   hand (:func:`decode_model_metrics`); CRC32C comes from the ``crc32c`` package (extra
   ``benchbench[nb101]``), else from a table-driven pure-Python CRC (slow: minutes per GB).

   One record is one training run (one of NB101's three repeats) of one cell with a budget of
   ``epochs`` (4, 12, 36 or 108 in the full file, 108 only in the other); its evaluation_data
   holds the state at epoch 0, at ``epochs / 2`` and at ``epochs``.  Table layout:

   ==============  ===========================================================================
   dataset         ``cifar10`` (NB101's split: 40k train, 10k validation held out of the
                   CIFAR-10 train set, the 10k test set)
   rows            one per module hash, in the file's first-seen order (keyed by cell id,
                   :class:`~benchbench.spaces.RestrictedSpace` of the file's cells)
   seeds           0, 1, 2: the repeat index, in the order the file lists a cell's runs
   epochs          each run's halfway and final epoch: 2, 4, 6, 12, 18, 36, 54, 108 (full) or
                   54, 108 (only108).  NB: each budget is its own training run with its own
                   cosine schedule, so fidelity 12 is **not** the state at epoch 12 of the
                   108-epoch run; 54 is the halfway point of the 108-epoch run, 6 of the
                   12-epoch run, ...
   train_acc       ``train_accuracy`` x 100 (percent, a fixed 10k images of the train split)
   valid_acc       ``validation_accuracy`` x 100 (percent)
   test_acc        ``test_accuracy`` x 100 (percent)
   cost_s          ``training_time`` (seconds of training up to that point of that run,
                   evaluation excluded)
   params          ``trainable_parameters`` / 1e6 (millions)
   ==============  ===========================================================================

   The file is streamed: memory holds the values (float64: ``cells x 3 x epochs x 4``, about
   80 MB for only108 and 330 MB for the full file, allocated once from the file size), the
   cells' hashes and specs, and one record at a time; the import time per GB is printed by the
   CLI and measured by ``benchmarks/bench_nb101.py``.

2. NASLib's ``nb101_500_with_zc.json`` (500 entries, ``{"nasbench101": {"cifar10": {"(56-tuple)":
   {val_accuracy, params, flops, <proxy scores>}}}}``) as a partial table.  The 500 entries are
   292 distinct cells: NASLib's tuples often differ only in vertices that pruning removes, or
   are isomorphic.  An entry's ``val_accuracy`` is one of NB101's three repeats (NASLib queried
   the official API, which draws a repeat at random); the distinct values of a cell are stored
   as its seeds 0, 1, 2 in file order (a cell never has more than three), and the seed mean is
   the mean of the repeats the file shows.  ``params`` (millions) and ``flops`` (millions) are
   the first entry's: for a few cells NASLib's entries disagree slightly, because a network's
   channel split depends on the vertex order of the spec it was built from (see
   ``benchbench.nn._nb101``); the count is kept in the provenance.  The proxy scores are not
   table metrics (they are NASLib's scores for cross-checks, ``benchbench proxies``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from benchbench.api import Direction, Metric, accuracy_metric
from benchbench.spaces.nb101 import N_CELLS, NB101Space, record_from_spec
from tabular_data._format import DatasetSpec, TableWriter, sha256_files
from tabular_data._root import table_path

__all__ = ["EvaluationData", "ModelMetrics", "TFRecordError", "crc32c", "decode_model_metrics",
           "encode_model_metrics", "import_nb101_naslib", "import_nb101_tfrecord",
           "iter_tfrecords", "masked_crc32c", "nb101_metrics", "nb101_record",
           "write_tfrecords"]

DATASET = "cifar10"
REPEATS = (0, 1, 2)
_SPLITS = {
    "train": "a fixed 10k images of NB101's 40k-image training split (official train_accuracy "
             "x 100)",
    "valid": "NB101's validation split: 10k images held out of the CIFAR-10 train set "
             "(official validation_accuracy x 100)",
    "test": "the 10k CIFAR-10 test set (official test_accuracy x 100)",
}
PARAMS = Metric("params", None, Direction.MINIMIZE, 0.0, math.inf, "M",
                "trainable parameters, millions (official trainable_parameters / 1e6)")
FLOPS = Metric("flops", None, Direction.MINIMIZE, 0.0, math.inf, "MFLOPs",
               "floating-point operations of one forward pass, millions, as NASLib computed them")


def nb101_metrics() -> tuple[Metric, ...]:
    """The metrics of an official NB101 table (all accuracies in percent)."""
    return (accuracy_metric("train", _SPLITS["train"]), accuracy_metric("valid", _SPLITS["valid"]),
            accuracy_metric("test", _SPLITS["test"]), PARAMS)


# ------------------------------------------------------------------------------ CRC32C
class TFRecordError(ValueError):
    """A TFRecord file whose framing is damaged (one line: where and what)."""


def _crc_table() -> list[int]:
    poly = 0x82F63B78  # CRC-32C (Castagnoli), reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def _crc32c_py(data: bytes) -> int:
    """Table-driven CRC-32C (pure Python; the fallback without the ``crc32c`` package)."""
    c = 0xFFFFFFFF
    t = _TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


try:  # the ``nb101`` extra: hardware / C CRC32C
    from crc32c import crc32c as _crc32c_fast
except ImportError:  # pragma: no cover - depends on the environment
    _crc32c_fast = None  # type: ignore[assignment]


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data`` (``crc32c(b"123456789") == 0xE3069283``)."""
    if _crc32c_fast is not None:
        return int(_crc32c_fast(data))
    return _crc32c_py(data)


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C: ``((crc >> 15) | (crc << 17)) + 0xa282ead8`` (mod 2^32)."""
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# -------------------------------------------------------------------------- framing
_MAX_RECORD = 1 << 26  # 64 MB: an NB101 record is ~ 1 kB


def iter_tfrecords(path: str | Path, *, check_crc: bool = True,
                   progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The payloads of the TFRecord file at ``path``, streamed.

    Raises:
        TFRecordError: a truncated record, a bad length CRC, an implausible length or a bad
            payload CRC, naming the record number and byte offset.
    """
    p = Path(path)
    with open(p, "rb", buffering=1 << 20) as f:
        yield from _iter_stream(f, p, check_crc, progress)


def _iter_stream(f: BinaryIO, p: Path, check_crc: bool,
                 progress: Callable[[int], None] | None) -> Iterator[bytes]:
    offset = 0
    n = 0
    unpack = struct.unpack
    while True:
        header = f.read(12)
        if not header:
            return
        if len(header) < 12:
            raise TFRecordError(f"{p}: truncated file: record {n} at byte {offset} has "
                                f"{len(header)} of its 12 header bytes")
        length, len_crc = unpack("<QI", header)
        if check_crc and masked_crc32c(header[:8]) != len_crc:
            raise TFRecordError(f"{p}: record {n} at byte {offset}: bad length CRC (stored "
                                f"0x{len_crc:08x}, computed 0x{masked_crc32c(header[:8]):08x}): "
                                f"the framing is damaged or this is not a TFRecord file")
        if length > _MAX_RECORD:
            raise TFRecordError(f"{p}: record {n} at byte {offset}: implausible length "
                                f"{length} bytes (an NB101 record is about 1 kB)")
        payload = f.read(length)
        tail = f.read(4)
        if len(payload) < length or len(tail) < 4:
            raise TFRecordError(f"{p}: truncated file: record {n} at byte {offset} needs "
                                f"{length + 16} bytes, the file ends after "
                                f"{12 + len(payload) + len(tail)}")
        if check_crc:
            (data_crc,) = unpack("<I", tail)
            got = masked_crc32c(payload)
            if got != data_crc:
                raise TFRecordError(f"{p}: record {n} at byte {offset}: bad payload CRC "
                                    f"(stored 0x{data_crc:08x}, computed 0x{got:08x}): the "
                                    f"record is damaged")
        offset += 16 + length
        n += 1
        if progress is not None:
            progress(16 + length)
        yield payload


def write_tfrecords(path: str | Path, payloads: Iterable[bytes]) -> int:
    """Write ``payloads`` in the exact TFRecord framing (correct masked CRCs); returns the
    number of records.  Used for fixtures and the benchmark's generated file."""
    n = 0
    with open(path, "wb", buffering=1 << 20) as f:
        for data in payloads:
            head = struct.pack("<Q", len(data))
            f.write(head + struct.pack("<I", masked_crc32c(head)) + data
                    + struct.pack("<I", masked_crc32c(data)))
            n += 1
    return n


# ---------------------------------------------------------------------- protobuf
@dataclass
class EvaluationData:
    """One ``EvaluationData`` message (accuracies as fractions, as the file stores them)."""

    current_epoch: float = math.nan
    training_time: float = math.nan
    train_accuracy: float = math.nan
    validation_accuracy: float = math.nan
    test_accuracy: float = math.nan
    checkpoint_path: str = ""


@dataclass
class ModelMetrics:
    """One ``ModelMetrics`` message."""

    evaluation_data: list[EvaluationData] = field(default_factory=list)
    trainable_parameters: int | None = None
    total_time: float = math.nan


_EVAL_DOUBLES = {1: "current_epoch", 2: "training_time", 3: "train_accuracy",
                 4: "validation_accuracy", 5: "test_accuracy"}


class _ProtoError(ValueError):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = 0
    out = 0
    while True:
        if i >= len(buf):
            raise _ProtoError("truncated varint")
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            return out, i
        shift += 7
        if shift > 63:
            raise _ProtoError("varint longer than 10 bytes")


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of a message: int for varints, bytes for
    length-delimited, the 8 / 4 raw bytes for fixed64 / fixed32."""
    i = 0
    n = len(buf)
    while i < n:
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        v: int | bytes
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            if i + 8 > n:
                raise _ProtoError(f"truncated fixed64 of field {num}")
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            length, i = _varint(buf, i)
            if i + length > n:
                raise _ProtoError(f"truncated length-delimited field {num}")
            v, i = buf[i:i + length], i + length
        elif wt == 5:
            if i + 4 > n:
                raise _ProtoError(f"truncated fixed32 of field {num}")
            v, i = buf[i:i + 4], i + 4
        else:
            raise _ProtoError(f"unsupported wire type {wt} of field {num}")
        yield num, wt, v


_FIVE = struct.Struct("<xdxdxdxdxd")
_FIVE_KEYS = bytes([1 << 3 | 1, 2 << 3 | 1, 3 << 3 | 1, 4 << 3 | 1, 5 << 3 | 1])


def decode_model_metrics(buf: bytes) -> ModelMetrics:
    """Parse a serialized ``ModelMetrics`` (unknown fields skipped; ``ValueError`` if
    malformed)."""
    out = ModelMetrics()
    for num, wt, v in _fields(buf):
        if num == 1 and wt == 2:
            assert isinstance(v, bytes)
            if len(v) >= 45 and v[0:45:9] == _FIVE_KEYS:  # the usual layout: 5 doubles first
                ev = EvaluationData(*_FIVE.unpack_from(v))
                v = v[45:]
            else:
                ev = EvaluationData()
            for n2, w2, v2 in _fields(v):
                if n2 in _EVAL_DOUBLES and w2 == 1:
                    setattr(ev, _EVAL_DOUBLES[n2], struct.unpack("<d", v2)[0])
                elif n2 == 6 and w2 == 2:
                    ev.checkpoint_path = v2.decode("utf-8", "replace")
            out.evaluation_data.append(ev)
        elif num == 2 and wt == 0:
            out.trainable_parameters = v - (1 << 64) if v >= 1 << 63 else v  # int32 as varint
        elif num == 3 and wt == 1:
            out.total_time = struct.unpack("<d", v)[0]
    return out


def _put_varint(x: int) -> bytes:
    if x < 0:
        x += 1 << 64
    out = bytearray()
    while True:
        b = x & 0x7F
        x >>= 7
        if x:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_model_metrics(m: ModelMetrics) -> bytes:
    """Serialize ``m`` as protoc does (fields in number order, NaN doubles left out)."""
    parts = []
    for ev in m.evaluation_data:
        sub = bytearray()
        for num, name in _EVAL_DOUBLES.items():
            val = getattr(ev, name)
            if not math.isnan(val):
                sub += _put_varint(num << 3 | 1) + struct.pack("<d", val)
        if ev.checkpoint_path:
            raw = ev.checkpoint_path.encode("utf-8")
            sub += _put_varint(6 << 3 | 2) + _put_varint(len(raw)) + raw
        parts.append(_put_varint(1 << 3 | 2) + _put_varint(len(sub)) + bytes(sub))
    if m.trainable_parameters is not None:
        parts.append(_put_varint(2 << 3) + _put_varint(m.trainable_parameters))
    if not math.isnan(m.total_time):
        parts.append(_put_varint(3 << 3 | 1) + struct.pack("<d", m.total_time))
    return b"".join(parts)


def nb101_record(module_hash: str, epochs: int, matrix: Any, ops: Sequence[str],
                 metrics: ModelMetrics) -> bytes:
    """One payload as the official files hold it (see the module docstring)."""
    m = np.asarray(matrix, dtype=np.int64)
    raw_adj = "".join(str(int(x)) for x in m.reshape(-1))
    raw = base64.b64encode(encode_model_metrics(metrics)).decode("ascii")
    return json.dumps([module_hash, int(epochs), raw_adj, ",".join(ops), raw]).encode("utf-8")


# ----------------------------------------------------------------- tfrecord import
def _parse_payload(payload: bytes, n: int, p: Path
                   ) -> tuple[str, int, str, str, ModelMetrics]:
    try:
        h, epochs, raw_adj, raw_ops, raw = json.loads(payload.decode("utf-8"))
        metrics = decode_model_metrics(base64.b64decode(raw, validate=True))
        return str(h), int(epochs), str(raw_adj), str(raw_ops), metrics
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        raise ValueError(f"{p}: record {n} is not an NB101 record ([hash, epochs, adjacency, "
                         f"ops, base64 ModelMetrics]): {type(e).__name__}: "
                         f"{' '.join(str(e).split())[:200]}") from None


class _Grow:
    """Per-cell values, one ``(cells, repeats, 4)`` array (train, valid, test, time) per epoch
    seen, NaN where unseen; capacity grows by doubling from an estimate (the official files:
    one allocation of NB101's 423,624 cells)."""

    def __init__(self, capacity: int) -> None:
        self.cap = max(1024, capacity)
        self.v: dict[int, np.ndarray] = {}
        self.params = np.full(self.cap, np.nan)
        #: runs seen per cell and budget (4, 12, 36, 108, any other)
        self.runs = np.zeros((self.cap, 5), dtype=np.int8)

    def epoch(self, k: int) -> np.ndarray:
        a = self.v.get(k)
        if a is None:
            a = self.v[k] = np.full((self.cap, len(REPEATS), 4), np.nan)
        return a

    def ensure(self, rows: int) -> None:
        if rows <= self.cap:
            return
        cap = max(rows, 2 * self.cap)
        for k, a in self.v.items():
            b = np.full((cap, *a.shape[1:]), np.nan)
            b[:self.cap] = a
            self.v[k] = b
        pr = np.full(cap, np.nan)
        pr[:self.cap] = self.params
        runs = np.zeros((cap, 5), dtype=np.int8)
        runs[:self.cap] = self.runs
        self.params, self.runs, self.cap = pr, runs, cap


def import_nb101_tfrecord(path: str | Path, *, name: str = "nb101", root: str | Path | None = None,
                          out: str | Path | None = None, force: bool = False,
                          progress: Callable[[int], None] | None = None,
                          verify_hashes: bool = True) -> Path:
    """Import an official NB101 ``.tfrecord`` into the table ``name`` (module docstring).

    Args:
        path: ``nasbench_only108.tfrecord`` or ``nasbench_full.tfrecord``.
        name, root, out, force: as :func:`~tabular_data.import_nb201`.
        progress: called with the number of bytes read after each record.
        verify_hashes: recompute each cell's module hash from its adjacency and ops and refuse
            a record whose stored hash differs (about 80 us per cell).

    Raises:
        TFRecordError: damaged framing (truncated, bad CRC).
        ValueError: a record that is not an NB101 record, a hash that does not match its spec,
            more than three repeats of a cell at one budget, an epoch outside the budgets.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    dest = Path(out) if out is not None else table_path(name, root)
    sha = sha256_files([p])
    with _lock(dest):
        if dest.exists() and not force:
            if _same_source(dest, sha):
                return dest
            raise FileExistsError(f"a table already exists at {dest} (from other data); choose "
                                  f"another --name or pass --force to replace it")
        return _import_tfrecord(p, dest, name, sha, progress, verify_hashes)


_EPOCHS = (2, 4, 6, 12, 18, 36, 54, 108)


def _import_tfrecord(p: Path, dest: Path, name: str, sha: str,
                     progress: Callable[[int], None] | None, verify_hashes: bool) -> Path:
    space = NB101Space()
    pos = {e: k for k, e in enumerate(_EPOCHS)}
    rows: dict[str, int] = {}
    specs: list[str] = []
    ids: list[str] = []
    budget_pos = {4: 0, 12: 1, 36: 2, 108: 3}
    # ~400 bytes a record, 3 (only108) to 12 (full) records a cell
    grow = _Grow(min(N_CELLS, p.stat().st_size // 1200 + 1))
    budgets: set[int] = set()
    n_rec = 0
    for payload in iter_tfrecords(p, progress=progress):
        h, budget, raw_adj, raw_ops, m = _parse_payload(payload, n_rec, p)
        row = rows.get(h)
        if row is None:
            dim = math.isqrt(len(raw_adj))
            if dim * dim != len(raw_adj) or set(raw_adj) - {"0", "1"}:
                raise ValueError(f"{p}: record {n_rec}: adjacency {raw_adj!r} is not a square "
                                 f"0/1 matrix")
            matrix = np.array([int(c) for c in raw_adj], dtype=np.int8).reshape(dim, dim)
            try:
                arch = record_from_spec(matrix, raw_ops.split(","), remember=False)
            except ValueError as e:
                raise ValueError(f"{p}: record {n_rec} (hash {h}): {e}") from None
            if verify_hashes and arch.module_hash != h:
                raise ValueError(f"{p}: record {n_rec}: stored hash {h} but the spec hashes to "
                                 f"{arch.module_hash} (damaged record or another hash)")
            row = rows[h] = len(ids)
            ids.append(h)
            specs.append(space.format(arch))
            grow.ensure(len(ids))
        b = budget_pos.get(budget, 4)
        rep = int(grow.runs[row, b])
        if rep >= len(REPEATS):
            raise ValueError(f"{p}: record {n_rec}: a 4th run of cell {h} with a {budget}-epoch "
                             f"budget; NB101 has {len(REPEATS)} repeats")
        grow.runs[row, b] = rep + 1
        budgets.add(budget)
        for ev in m.evaluation_data:
            ep = ev.current_epoch
            if not ep > 0:  # the state at initialisation (epoch 0) is not a fidelity
                continue
            k = pos.get(int(round(ep)))
            if k is None or abs(ep - round(ep)) > 1e-6:
                raise ValueError(f"{p}: record {n_rec}: evaluation at epoch {ep}; NB101 "
                                 f"evaluates at {list(_EPOCHS)}")
            grow.epoch(k)[row, rep] = (100.0 * ev.train_accuracy, 100.0 * ev.validation_accuracy,
                                   100.0 * ev.test_accuracy, ev.training_time)
        if m.trainable_parameters is not None:
            grow.params[row] = m.trainable_parameters / 1e6
        n_rec += 1
    if not ids:
        raise ValueError(f"{p}: no records")
    present = [k for k in range(len(_EPOCHS))
               if k in grow.v and not np.isnan(grow.v[k][:len(ids), :, 1]).all()]
    epochs = tuple(_EPOCHS[k] for k in present)
    spec = DatasetSpec(nb101_metrics(), REPEATS, epochs)
    prov = {"source": str(p.resolve()), "n_records": n_rec, "n_cells": len(ids),
            "budgets": sorted(budgets), "nb101_importer": "tfrecord",
            "hashes_verified": verify_hashes}
    with TableWriter(dest, name=name, space="nb101", arch_ids=ids, arch_specs=specs,
                     datasets={DATASET: spec}, source_kind="nb101-tfrecord", source_sha256=sha,
                     version=f"NB101 tfrecord budgets {sorted(budgets)}", provenance=prov,
                     verify=_verify) as w:
        block = 8192
        for lo in range(0, len(ids), block):
            hi = min(len(ids), lo + block)
            v = np.stack([grow.v[k][lo:hi] for k in present], axis=2)  # (n, S, E, 4)
            pr = np.broadcast_to(grow.params[lo:hi, None, None], v.shape[:3]).copy()
            pr[np.isnan(v[..., 1])] = np.nan
            w.write(DATASET, np.arange(lo, hi),
                    per_seed={"train_acc": v[..., 0], "valid_acc": v[..., 1],
                              "test_acc": v[..., 2], "params": pr},
                    cost_seeds=v[..., 3])
    return dest


# ----------------------------------------------------------------- NASLib import
def import_nb101_naslib(path: str | Path, *, name: str = "nb101-naslib",
                        root: str | Path | None = None, out: str | Path | None = None,
                        force: bool = False) -> Path:
    """Import NASLib's ``nb101_500_with_zc.json`` as a partial table (module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    try:
        data = json.loads(p.read_text())
        cells = data["nasbench101"]["cifar10"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{p}: not NASLib's NB101 file ({{'nasbench101': {{'cifar10': "
                         f"{{'(56-tuple)': {{...}}}}}}}}): {type(e).__name__}: {e}") from None
    dest = Path(out) if out is not None else table_path(name, root)
    sha = sha256_files([p])
    space = NB101Space()
    rows: dict[str, int] = {}
    ids: list[str] = []
    specs: list[str] = []
    accs: list[list[float]] = []
    params: list[float] = []
    flops: list[float] = []
    conflicts = 0
    for key, rec in cells.items():
        try:
            arch = space.parse(key)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{p}: entry {key!r}: {e}") from None
        h = arch.module_hash
        for f in ("val_accuracy", "params", "flops"):
            if f not in rec:
                raise ValueError(f"{p}: entry {key!r} has no {f!r}")
        row = rows.get(h)
        if row is None:
            row = rows[h] = len(ids)
            ids.append(h)
            specs.append(space.format(arch))
            accs.append([])
            params.append(float(rec["params"]))
            flops.append(float(rec["flops"]))
        elif (float(rec["params"]), float(rec["flops"])) != (params[row], flops[row]):
            conflicts += 1
        v = float(rec["val_accuracy"])
        if v not in accs[row]:
            if len(accs[row]) == len(REPEATS):
                raise ValueError(f"{p}: cell {h} shows more than {len(REPEATS)} distinct "
                                 f"val_accuracy values; NB101 has {len(REPEATS)} repeats")
            accs[row].append(v)
    n = len(ids)
    vals = np.full((n, len(REPEATS), 1), np.nan)
    for r, a in enumerate(accs):
        vals[r, :len(a), 0] = a
    valid = accuracy_metric("valid", _SPLITS["valid"] + "; NASLib's val_accuracy, the distinct "
                            "values of a cell's entries as repeats 0..2 in file order")
    spec = DatasetSpec((valid, PARAMS, FLOPS), REPEATS, (108,))
    prov = {"source": str(p.resolve()), "n_entries": len(cells), "n_cells": n,
            "params_flops_conflicts": conflicts, "nb101_importer": "naslib"}
    with _lock(dest):
        if dest.exists() and not force:
            if _same_source(dest, sha):
                return dest
            raise FileExistsError(f"a table already exists at {dest} (from other data); choose "
                                  f"another --name or pass --force to replace it")
        with TableWriter(dest, name=name, space="nb101", arch_ids=ids, arch_specs=specs,
                         datasets={DATASET: spec}, source_kind="nb101-naslib",
                         source_sha256=sha, version="NASLib nb101_500_with_zc (108 epochs)",
                         provenance=prov, verify=_verify) as w:
            pr = np.asarray(params)[:, None, None] * np.ones((1, len(REPEATS), 1))
            fl = np.asarray(flops)[:, None, None] * np.ones((1, len(REPEATS), 1))
            mask = np.isnan(vals)
            pr[mask] = np.nan
            fl[mask] = np.nan
            w.write(DATASET, np.arange(n), per_seed={"valid_acc": vals, "params": pr,
                                                     "flops": fl})
    return dest


# ---------------------------------------------------------------------- helpers
def _lock(dest: Path) -> contextlib.AbstractContextManager[None]:
    from tabular_data._import_nb201 import _table_lock

    return _table_lock(dest)


def _verify(path: Path) -> None:
    from tabular_data._import_nb201 import verify_table

    verify_table(path)


def _same_source(dest: Path, sha: str) -> bool:
    """Whether the readable table at ``dest`` was imported from the same bytes."""
    from tabular_data._import_nb201 import imported_from

    return imported_from(dest, sha)
