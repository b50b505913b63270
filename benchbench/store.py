"""The study folder: the one writer and reader of ``study.json``, manifests and records.

Layout (schema :data:`SCHEMA_VERSION`)::

    DIR/study.json                                   what the study is (see below)
    DIR/runs/<label>/seed-<seed:06d>/manifest.json   RunManifest.to_dict()
    DIR/runs/<label>/seed-<seed:06d>/records.csv     header = RECORD_FIELDS, one row per eval
    DIR/runs/<label>/seed-<seed:06d>/evals.csv       optional: EXTRA_FIELDS + metric:<name>
                                                     columns, one row per eval (recorded
                                                     metrics, simulated workers, resumes)
    DIR/runs/<label>/seed-<seed:06d>/diagnostics.jsonl  one-shot searches only: one JSON
                                                     object per recorded search step (its
                                                     ``eval`` and the step's diagnostics)

``study.json`` holds ``schema``; the fixed setting of every run (benchmark with its data
sha256, dataset, objective, test metric, fidelity, noise, budget, transfer datasets); the
metrics of the dataset with their split and **direction** (:meth:`StudyStore.metric`); the
algorithms (label -> algorithm and parameters) and seeds planned so far; the benchmark's
optimum; the commands that wrote it; versions and times.

Folders written by benchbench 0.1 (schema 1: no ``schema`` key, records without
``incumbent_id``) are read and migrated in memory; extending one with new runs is refused
with a one-line error saying to use a new folder.

Every file is written through a temporary file with a unique name and ``os.replace``, so a
reader never sees a torn file, and one writer at a time holds the folder's lock
(:meth:`StudyStore.lock`).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import Direction, Metric
from benchbench.trial import (
    EXTRA_FIELDS,
    EXTRA_METRIC_PREFIX,
    RECORD_FIELDS,
    RECORD_FIELDS_V1,
    RunManifest,
)

__all__ = [
    "MANIFEST_FILE",
    "DIAGNOSTICS_FILE",
    "EXTRAS_FILE",
    "RECORDS_FILE",
    "SCHEMA_VERSION",
    "STUDY_FILE",
    "RunFiles",
    "StoreError",
    "StudyStore",
    "atomic_write",
    "check_label",
    "check_seed",
    "json_default",
    "records_csv",
]

#: Version of the study-folder layout this code writes (0.1 wrote 1, implicitly).
SCHEMA_VERSION = 2
STUDY_FILE = "study.json"
MANIFEST_FILE = "manifest.json"
RECORDS_FILE = "records.csv"
EXTRAS_FILE = "evals.csv"
DIAGNOSTICS_FILE = "diagnostics.jsonl"
_LOCK_FILE = ".lock"

_ID_COLUMNS = ("arch_id", "incumbent_id")
_INT_COLUMNS = ("eval", "arch_index", "fidelity", "data_seed", "incumbent_index")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_MAX_SEED = 2**63 - 1


class StoreError(ValueError):
    """A study folder that cannot be read or written as asked (the message says why)."""


def check_label(label: str) -> str:
    """An algorithm label usable as a folder name (no path separators, no ``..``)."""
    if not isinstance(label, str) or not _LABEL.match(label) or ".." in label:
        raise StoreError(f"bad algorithm label {label!r}: use 1-64 letters, digits, '.', '_', "
                         f"'+' or '-', starting with a letter or digit (it names a folder)")
    return label


def check_seed(seed: Any) -> int:
    """A run seed: an int in ``0 .. 2**63 - 1``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= int(seed) <= _MAX_SEED:
        raise StoreError(f"bad seed {seed!r}: seeds are ints in 0..{_MAX_SEED}")
    return int(seed)


def json_default(o: Any) -> Any:
    """JSON for numpy scalars and other objects (their ``str``)."""
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a uniquely named temporary file in the same folder
    and ``os.replace`` (readers see the old or the new file, never a torn one)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if isinstance(data, str):
            tmp.write_text(data)
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _json_safe(v: Any) -> Any:
    """``v`` with every non-finite float replaced by ``None`` (JSON has no NaN)."""
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, Mapping):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def records_csv(records: Sequence[Sequence[Any]]) -> str:
    """``records.csv`` text: the :data:`RECORD_FIELDS` header and one row per record."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RECORD_FIELDS)
    w.writerows(records)
    return buf.getvalue()


@dataclass(frozen=True, slots=True)
class RunFiles:
    """Where one run's files are.

    Attributes:
        label: algorithm label (folder name).
        seed: run seed from the folder name (``None`` if the name is not ``seed-N``).
        path: the run folder.
        rel: its path relative to the study folder (POSIX).
    """

    label: str
    seed: int | None
    path: Path
    rel: str

    @property
    def manifest(self) -> Path:
        return self.path / MANIFEST_FILE

    @property
    def records(self) -> Path:
        return self.path / RECORDS_FILE


class StudyStore:
    """Read and write one study folder.

    Args:
        path: the study folder (need not exist yet).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._spec: dict[str, Any] | None = None

    # ------------------------------------------------------------------- layout
    @property
    def study_file(self) -> Path:
        return self.path / STUDY_FILE

    def run_path(self, label: str, seed: int) -> Path:
        """The folder of run (``label``, ``seed``), validated so it cannot leave the study."""
        return self.path / "runs" / check_label(label) / f"seed-{check_seed(seed):06d}"

    def exists(self) -> bool:
        """Whether the folder holds a ``study.json``."""
        return self.study_file.is_file()

    # --------------------------------------------------------------------- spec
    def read_spec(self, *, raw: bool = False) -> dict[str, Any]:
        """``study.json`` as a dict, migrated to the current schema in memory (``{}`` when
        there is none).

        Raises:
            StoreError: the file is not valid JSON or not an object, or is of a newer schema.
        """
        p = self.study_file
        if not p.is_file():
            return {}
        data = p.read_bytes()
        try:
            spec = json.loads(data)
        except ValueError as e:
            raise StoreError(f"corrupt {STUDY_FILE} in {str(self.path)!r}: {e}") from None
        if not isinstance(spec, dict):
            raise StoreError(f"{STUDY_FILE} in {str(self.path)!r} is not a JSON object")
        if raw:
            return spec
        return migrate_spec(spec, where=str(self.path))

    def spec_bytes(self) -> bytes:
        """The raw bytes of ``study.json`` (``b""`` if absent), for checksums."""
        return self.study_file.read_bytes() if self.study_file.is_file() else b""

    def write_spec(self, spec: Mapping[str, Any]) -> None:
        """Write ``study.json`` (atomically, at the current schema)."""
        doc = {"schema": SCHEMA_VERSION, **{k: v for k, v in spec.items() if k != "schema"}}
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write(self.study_file, json.dumps(doc, indent=1, default=json_default))

    def metrics(self, spec: Mapping[str, Any] | None = None) -> dict[str, Metric]:
        """The study dataset's metrics by name, as recorded in ``study.json``."""
        spec = self.read_spec() if spec is None else spec
        out: dict[str, Metric] = {}
        for d in spec.get("metrics") or []:
            try:
                m = Metric.from_dict(d)
            except (KeyError, TypeError, ValueError):
                continue
            out[m.name] = m
        return out

    def metric(self, name: str, spec: Mapping[str, Any] | None = None) -> Metric | None:
        """The recorded :class:`Metric` ``name`` (``None`` if ``study.json`` lacks it)."""
        return self.metrics(spec).get(name)

    def maximize(self, name: str, spec: Mapping[str, Any] | None = None) -> bool:
        """Whether larger values of metric ``name`` are better, as recorded with the study.

        Raises:
            StoreError: the study does not record the metric's direction.
        """
        m = self.metric(name, spec)
        if m is None:
            raise StoreError(f"{str(self.path)!r}: {STUDY_FILE} records no direction for "
                             f"metric {name!r}")
        return m.direction is Direction.MAXIMIZE

    # --------------------------------------------------------------------- runs
    def iter_runs(self) -> Iterator[RunFiles]:
        """Every run folder ``runs/<label>/<run>/``, sorted by label then folder name."""
        runs = self.path / "runs"
        if not runs.is_dir():
            return
        for alg in sorted(p for p in runs.iterdir() if p.is_dir()):
            for run in sorted(p for p in alg.iterdir() if p.is_dir()):
                try:
                    seed: int | None = int(run.name.removeprefix("seed-"))
                except ValueError:
                    seed = None
                yield RunFiles(alg.name, seed, run, run.relative_to(self.path).as_posix())

    def read_manifest(self, run: RunFiles) -> tuple[bytes, dict[str, Any]]:
        """(raw bytes, parsed dict) of a run's manifest.

        Raises:
            StoreError: missing, not JSON, or not an object.
        """
        if not run.manifest.is_file():
            raise StoreError("no manifest.json")
        raw = run.manifest.read_bytes()
        try:
            doc = json.loads(raw)
        except ValueError as e:
            raise StoreError(f"corrupt manifest.json ({e})") from None
        if not isinstance(doc, dict):
            raise StoreError("corrupt manifest.json (not a JSON object)")
        return raw, doc

    def write_manifest(self, manifest: RunManifest, label: str, seed: int) -> None:
        d = self.run_path(label, seed)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write(d / MANIFEST_FILE,
                     json.dumps(manifest.to_dict(), indent=1, default=json_default))

    def write_records(self, records: Sequence[Sequence[Any]], label: str, seed: int) -> str:
        """Write a run's ``records.csv``; returns its sha256 (for the manifest)."""
        text = records_csv(records)
        d = self.run_path(label, seed)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write(d / RECORDS_FILE, text)
        return hashlib.sha256(text.encode()).hexdigest()

    def write_extras(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], label: str,
                     seed: int) -> str:
        """Write a run's ``evals.csv`` (``columns`` = :data:`EXTRA_FIELDS` then
        ``metric:<name>`` columns); returns its sha256 (for the manifest)."""
        cols = tuple(columns)
        if cols[:len(EXTRA_FIELDS)] != EXTRA_FIELDS or not all(
                c.startswith(EXTRA_METRIC_PREFIX) for c in cols[len(EXTRA_FIELDS):]):
            raise StoreError(f"evals.csv columns must be {list(EXTRA_FIELDS)} then "
                             f"'{EXTRA_METRIC_PREFIX}<name>' columns, got {list(cols)}")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        w.writerows(("" if v is None else v for v in r) for r in rows)
        text = buf.getvalue()
        d = self.run_path(label, seed)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write(d / EXTRAS_FILE, text)
        return hashlib.sha256(text.encode()).hexdigest()

    def write_diagnostics(self, rows: Sequence[Mapping[str, Any]], label: str,
                          seed: int) -> str:
        """Write a one-shot run's ``diagnostics.jsonl`` (one JSON object per line, keys
        sorted; NaN / inf written as ``null``); returns its sha256 (for the manifest)."""
        lines = []
        for r in rows:
            if not isinstance(r, Mapping):
                raise StoreError(f"a diagnostics row must be a mapping, got "
                                 f"{type(r).__name__}")
            lines.append(json.dumps(_json_safe(r), sort_keys=True, default=json_default,
                                    allow_nan=False))
        text = "".join(line + "\n" for line in lines)
        d = self.run_path(label, seed)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write(d / DIAGNOSTICS_FILE, text)
        return hashlib.sha256(text.encode()).hexdigest()

    def read_diagnostics(self, label: str, seed: int, *,
                         expect_sha256: str | None = None) -> list[dict[str, Any]]:
        """A run's ``diagnostics.jsonl`` as a list of dicts (``[]`` when the run wrote
        none).

        Raises:
            StoreError: a line that is not a JSON object, or a file whose sha256 is not
                ``expect_sha256`` (when given and not empty).
        """
        path = self.run_path(label, seed) / DIAGNOSTICS_FILE
        if not path.is_file():
            return []
        data = path.read_bytes()
        if expect_sha256 and hashlib.sha256(data).hexdigest() != expect_sha256:
            raise StoreError(f"{DIAGNOSTICS_FILE} of {label}/seed-{seed:06d} does not match "
                             f"the sha256 its manifest recorded (altered after the run)")
        out: list[dict[str, Any]] = []
        for i, line in enumerate(data.decode("utf-8").splitlines(), 1):
            try:
                row = json.loads(line)
            except ValueError as e:
                raise StoreError(f"corrupt {DIAGNOSTICS_FILE} of {label}/seed-{seed:06d}, "
                                 f"line {i}: {e}") from None
            if not isinstance(row, dict):
                raise StoreError(f"corrupt {DIAGNOSTICS_FILE} of {label}/seed-{seed:06d}, "
                                 f"line {i}: not a JSON object")
            out.append(row)
        return out

    def read_extras(self, run: RunFiles) -> Any:
        """A run's ``evals.csv`` as a DataFrame (``None`` if the run wrote none): ``eval``,
        ``worker`` and ``resumed_from`` nullable ``Int64``, ``feasible`` bool, ``start_s``
        and every ``metric:<name>`` column float64.

        Raises:
            StoreError: an unknown header.
        """
        import pandas as pd

        path = run.path / EXTRAS_FILE
        if not path.is_file():
            return None
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        cols = tuple(df.columns)
        if cols[:len(EXTRA_FIELDS)] != EXTRA_FIELDS:
            raise StoreError(f"corrupt {EXTRAS_FILE} in {run.rel}: header is not "
                             f"{list(EXTRA_FIELDS)} + metric columns")
        out: dict[str, Any] = {}
        for c in cols:
            if c in ("eval", "worker", "resumed_from"):
                out[c] = pd.to_numeric(df[c].replace("", None), errors="coerce"
                                       ).astype("Int64")
            elif c == "feasible":
                out[c] = df[c].isin(("1", "True", "true"))
            else:
                out[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        return pd.DataFrame(out)

    def read_records_raw(self, run: RunFiles) -> tuple[tuple[str, ...], bytes, bytes]:
        """(fields, body without header, whole file) of a run's ``records.csv``.

        ``fields`` is :data:`RECORD_FIELDS` or the 0.1 layout :data:`RECORD_FIELDS_V1`.

        Raises:
            StoreError: missing file or an unknown header.
        """
        if not run.records.is_file():
            raise StoreError("no records.csv")
        raw = run.records.read_bytes()
        head, _, body = raw.partition(b"\n")
        fields = tuple(head.rstrip(b"\r").decode("utf-8", "replace").split(","))
        if fields not in (RECORD_FIELDS, RECORD_FIELDS_V1):
            raise StoreError("corrupt records.csv: header is not RECORD_FIELDS")
        if body and not body.endswith(b"\n"):
            body += b"\n"
        return fields, body, raw

    def read_records(self, run: RunFiles) -> Any:
        """A run's records as a pandas DataFrame with the :data:`RECORD_FIELDS` columns
        (0.1 records get an empty ``incumbent_id`` and NaN held-out values).

        Ids are ``str``; counters, indices, fidelities and data seeds nullable ``Int64``
        (empty where the space is not enumerable, or for the seed mean); values float64
        (``nan``/``inf`` as written by Python kept).
        """
        import pandas as pd

        fields, body, _ = self.read_records_raw(run)
        df = pd.read_csv(io.BytesIO(body), header=None, names=list(fields), dtype=str,
                         keep_default_na=False)
        out: dict[str, Any] = {}
        for col in RECORD_FIELDS:
            if col not in df:
                out[col] = (pd.Series([""] * len(df), dtype=str) if col in _ID_COLUMNS
                            else pd.Series([math.nan] * len(df), dtype="float64"))
            elif col in _ID_COLUMNS:
                out[col] = df[col].astype(str)
            elif col in _INT_COLUMNS:
                out[col] = pd.to_numeric(df[col].replace("", None), errors="coerce"
                                         ).astype("Int64")
            else:
                out[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        return pd.DataFrame(out)

    def run_status(self, label: str, seed: int, config_hash: str) -> str | None:
        """``"done"`` if run (``label``, ``seed``) finished with ``config_hash``, ``None`` if
        it has not run or did not finish (a torn manifest counts as not run).

        Raises:
            StoreError: a run with a different configuration is in its place.
        """
        p = self.run_path(label, seed) / MANIFEST_FILE
        if not p.is_file():
            return None
        try:
            man = json.loads(p.read_text())
        except (OSError, ValueError):
            return None
        if man.get("config_hash") != config_hash:
            raise StoreError(
                f"{p} holds run {label}/seed-{seed:06d} with a different configuration "
                f"(hash {man.get('config_hash')} != {config_hash}); refusing to mix them: "
                f"use another output folder")
        return "done" if man.get("status") == "done" else None

    # --------------------------------------------------------------------- lock
    def lock(self, command: str = "") -> contextlib.AbstractContextManager[None]:
        """The folder's writer lock (an OS-level ``flock``), to hold in a ``with`` block.

        Raises:
            StoreError: another process holds it (the message names its PID and command).
        """
        from benchbench._lockfile import exclusive_lock

        def busy(holder: str) -> StoreError:
            return StoreError(f"study folder {str(self.path)!r} is in use by another writer "
                              f"({holder or 'unknown process'}); wait for it or use another "
                              f"folder")

        return exclusive_lock(self.path / _LOCK_FILE, f"PID {os.getpid()}: {command or '?'}",
                              busy=busy)


def migrate_spec(spec: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
    """A ``study.json`` dict at the current schema.

    Schema 1 (benchbench 0.1) had no ``schema`` key and the same other keys; migration only
    sets ``schema`` (kept as ``migrated_from`` too) and fills defaults.

    Raises:
        StoreError: a schema newer than this code reads.
    """
    out = dict(spec)
    version = out.get("schema", 1)
    if not isinstance(version, int) or version < 1:
        raise StoreError(f"{where}: {STUDY_FILE} has a bad schema {version!r}")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{where}: {STUDY_FILE} has schema {version}, newer than this "
                         f"benchbench reads ({SCHEMA_VERSION}): upgrade benchbench")
    if version < SCHEMA_VERSION:
        out["migrated_from"] = version
        out.setdefault("transfer", [])
    out["schema"] = SCHEMA_VERSION
    out.setdefault("metrics", [])
    return out


def optimum_value(spec: Mapping[str, Any], which: str) -> float:
    """The recorded seed-mean optimum of the objective (``"objective"``) or the test metric
    (``"test_metric"``); NaN when not recorded."""
    entry = (spec.get("optimum") or {}).get(which) or {}
    value = entry.get("value") if isinstance(entry, Mapping) else None
    return math.nan if value is None else float(value)
