"""YAHPO Gym's ONNX surrogate of the NAS-Bench-301 data, served as the benchmark ``nb301-yahpo``.

The model (Pfisterer et al., "YAHPO Gym - An Efficient Multi-Objective Multi-Fidelity
Benchmark for Hyperparameter Optimization", AutoML-Conf 2022; file ``nb301/new_model.onnx``
of slds-lmu/yahpo_data, commit 3a646b8, Apache-2.0) was fitted by YAHPO on NAS-Bench-301's
training data (Siems et al. 2020): for any DARTS cell and epoch 1..98 it predicts the
validation accuracy (percent) and the runtime (seconds, up to that epoch) on CIFAR-10.  It is
**a model of the data, not the data**: its answers for cells far from the ones NB301 trained
can be wrong, no training run backs any single answer, and it is not NB301's own XGB / GIN
ensemble.  Two quirks of the model, kept as they are: it is deterministic (no seed-to-seed
noise, so ``data_seed`` is not supported) and its runtime is not always increasing in the
epoch (for some cells epoch 2 is predicted cheaper than epoch 1).

Input layout (checked against the file's README and reproduced in ``tests/test_yahpo.py``):
``x_cat`` int32 ``(n, 34)``: the codes of ``encoding.json`` (0 = ``#na#``, an inactive
choice) of ``edge_normal_0..13``, ``edge_reduce_0..13``, ``inputs_node_normal_3..5``,
``inputs_node_reduce_3..5`` (NB301's ConfigSpace names, see
:meth:`benchbench.spaces.DartsSpace.to_config`); ``x_cont`` float32 ``(n, 1)`` the raw
epoch.  Output float32 ``(n, 2)``: (validation accuracy %, runtime s).

**Batching.**  The shipped file fixes the batch dimension at 1 (one row per call).  The
graph itself never hard-codes the batch size (its only shape-dependent node,
``ConstantOfShape``, reads the batch from ``Shape``; no ``Reshape`` constants), so
:func:`rewrite_batch_dim` only declares the inputs' and output's first dimension symbolic
(``"batch"``; a ``Reshape`` whose constant shape starts with 1 would be rewritten to copy the
input's batch dimension).  :func:`import_yahpo_nb301` saves the rewritten model next to the
original and proves, before registering it, that one batched call gives the same outputs as
per-row calls of the **original** file (the README's reference rows and 512 random rows;
both sha256 and the largest difference are recorded in ``manifest.json``).

Data root layout: ``<root>/yahpo/<name>/`` holds the original files (``new_model.onnx``,
``encoding.json``, ``config_space.json``, ``LICENSE-2.0.txt``, ``README.md``), the rewritten
``new_model_batched.onnx`` and ``manifest.json``.

Needs ``onnxruntime`` (the ``onnx`` extra: ``pip install 'benchbench[onnx]'``) to query and
also the ``onnx`` package to import; neither is imported by ``import surrogates.yahpo``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import (
    ArchLike,
    Benchmark,
    BenchmarkCapabilities,
    BenchmarkError,
    Description,
    Direction,
    Evaluation,
    EvaluationBatch,
    Fidelity,
    Metric,
    Split,
    Trajectory,
    unknown,
)
from benchbench.spaces.darts import CELLS, CONFIG_PREFIX, N_NODES, OPS, DartsArch, DartsSpace

__all__ = ["BATCHED_FILE", "MODEL_FILE", "MODEL_SHA256", "REFERENCE", "YAHPO", "YahpoBackend",
           "YahpoError", "YahpoNB301", "import_yahpo_nb301", "rewrite_batch_dim"]

#: The shipped model file and its sha256 (YAHPO data commit 3a646b8, as in its README).
MODEL_FILE = "new_model.onnx"
MODEL_SHA256 = "3c6a6fb3a70998bf6c55883bdc5cc71cff190e1859468d72cc6960b88f06d280"
#: The rewritten model with a symbolic batch dimension (written at import).
BATCHED_FILE = "new_model_batched.onnx"
#: Files copied from the YAHPO folder besides the model (the README and licence if present).
_REQUIRED = ("encoding.json", "config_space.json")
_OPTIONAL = ("LICENSE-2.0.txt", "README.md")
#: Folder of the data root that holds imported YAHPO models.
_SUBDIR = "yahpo"
_KIND = "yahpo-nb301-onnx"
_DATASET = "cifar10"
_EPOCHS = tuple(range(1, 99))
_YAHPO_PREFIX = CONFIG_PREFIX.replace(":", "_COLON_")
#: x_cat column order (YAHPO's ``cat_names``).
_COLUMNS: tuple[str, ...] = tuple(
    [f"{_YAHPO_PREFIX}edge_{c}_{i}" for c in CELLS for i in range(14)]
    + [f"{_YAHPO_PREFIX}inputs_node_{c}_{k}" for c in CELLS for k in range(3, 2 + N_NODES)])

#: DARTS-V2 (quark0/darts ``genotypes.py``) -> {epoch: (valid acc %, runtime s)}, the
#: reference values of the YAHPO folder's README.
REFERENCE: dict[int, tuple[float, float]] = {
    1: (46.387184, 259.56424), 10: (76.54723, 471.80798), 50: (90.90548, 2618.556),
    98: (95.46026, 5553.875)}
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
    "reduce_concat=[2, 3, 4, 5])")
_CHUNK = 1024  # rows per onnxruntime call (faster than larger chunks: cache-resident)


class YahpoError(BenchmarkError):
    """A missing, corrupted or unverified YAHPO model folder, or a bad import source."""


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"the YAHPO NB301 surrogate needs {module!r}: pip install "
                          f"'benchbench[onnx]' (onnxruntime and onnx)") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _data_root(root: str | Path | None) -> Path:
    """The data root: ``root``, else ``$BENCHBENCH_DATA``, else ``~/.cache/benchbench``
    (the rule of ``tabular_data.data_root``; a sibling package, so not imported)."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("BENCHBENCH_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "benchbench"


def _session(path: Path, threads: int) -> Any:
    ort = _require("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise YahpoError(f"cannot load the ONNX model {path}: "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


# ------------------------------------------------------------------------ encoding
class _Encoder:
    """DARTS records -> YAHPO's ``x_cat`` rows, from the folder's ``encoding.json``."""

    def __init__(self, encoding: dict[str, dict[str, int]]) -> None:
        missing = [c for c in _COLUMNS if c not in encoding]
        if missing:
            raise YahpoError(f"encoding.json lacks column {missing[0]!r}")
        # code of op o on config edge e of cell c; code of input pair (a, b) of node k
        self.op_code = np.zeros((2, 14, len(OPS)), dtype=np.int32)
        self.pair_code: list[dict[tuple[int, int, int], int]] = [{}, {}]
        for c, cell in enumerate(CELLS):
            for e in range(14):
                col = encoding[f"{_YAHPO_PREFIX}edge_{cell}_{e}"]
                for o, op in enumerate(OPS):
                    self.op_code[c, e, o] = col[op]
            for k in range(3, 2 + N_NODES):
                col = encoding[f"{_YAHPO_PREFIX}inputs_node_{cell}_{k}"]
                for a in range(k):
                    for b in range(a + 1, k):
                        self.pair_code[c][(k, a, b)] = col[f"{a}_{b}"]
        self._cache: dict[DartsArch, np.ndarray] = {}

    def row(self, arch: DartsArch) -> np.ndarray:
        r = self._cache.get(arch)
        if r is not None:
            return r
        r = np.zeros(len(_COLUMNS), dtype=np.int32)  # 0 = '#na#' (an edge not chosen)
        for c, cell in enumerate((arch.normal, arch.reduce)):
            oc, pc = self.op_code[c], self.pair_code[c]
            for n in range(N_NODES):
                k = n + 2
                (a, oa), (b, ob) = cell[2 * n], cell[2 * n + 1]
                start = (k - 2) * (k + 1) // 2
                r[c * 14 + start + a] = oc[start + a, oa]
                r[c * 14 + start + b] = oc[start + b, ob]
                if k > 2:
                    r[28 + c * 3 + k - 3] = pc[(k, a, b)]
        if len(self._cache) > 200_000:
            self._cache.clear()
        self._cache[arch] = r
        return r


# ------------------------------------------------------------------------- rewrite
def rewrite_batch_dim(src: str | Path, dst: str | Path) -> dict[str, Any]:
    """Save ``src`` with a symbolic first dimension (``"batch"``) on every graph input and
    output; a ``Reshape`` whose shape is a constant starting with 1 gets 0 there (ONNX:
    copy the input's dimension).  Returns what was changed.  Needs the ``onnx`` package."""
    onnx = _require("onnx")
    from onnx import numpy_helper

    model = onnx.load(str(src))
    g = model.graph
    changed: dict[str, Any] = {"io": [], "reshape": []}
    for t in list(g.input) + list(g.output):
        dims = t.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value"):
            if dims[0].dim_value != 1:
                raise YahpoError(f"{src}: input/output {t.name!r} has batch dimension "
                                 f"{dims[0].dim_value}, expected 1")
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "batch"
            changed["io"].append(t.name)
    consts = {i.name: i for i in g.initializer}
    for node in g.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = attr.t
    for node in g.node:
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[1] not in consts:
            continue
        t = consts[node.input[1]]
        shape = numpy_helper.to_array(t)
        if shape.ndim == 1 and shape.size and shape[0] == 1:
            new = shape.copy()
            new[0] = 0
            t.CopyFrom(numpy_helper.from_array(new, t.name))
            changed["reshape"].append(node.name or node.output[0])
    del g.value_info[:]  # stale shapes of intermediate tensors would pin the batch to 1
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return changed


def _verify_rows(rng: np.random.Generator, encoder: _Encoder, n: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The README's DARTS-V2 rows at its four epochs, then ``n`` uniform cells at uniform
    epochs 1..98 (rows fed to both models)."""
    space = DartsSpace()
    v2 = encoder.row(space.parse(DARTS_V2))
    x = [v2] * len(REFERENCE) + [encoder.row(space.sample(rng)) for _ in range(n)]
    e = list(REFERENCE) + rng.integers(1, 99, size=n).tolist()
    return np.stack(x), np.asarray(e, dtype=np.float32)[:, None]


def _compare(original: Path, batched: Path, x_cat: np.ndarray, x_cont: np.ndarray
             ) -> tuple[float, np.ndarray]:
    """(largest |batched - per-row original|, the per-row original outputs)."""
    one = _session(original, 1)
    rows = np.concatenate([one.run(None, {"x_cat": x_cat[i:i + 1],
                                          "x_cont": x_cont[i:i + 1]})[0]
                           for i in range(len(x_cat))])
    many = _session(batched, 1).run(None, {"x_cat": x_cat, "x_cont": x_cont})[0]
    if many.shape != rows.shape:
        raise YahpoError(f"batched model answered shape {many.shape}, expected {rows.shape}")
    return float(np.max(np.abs(many.astype(np.float64) - rows))), rows


# -------------------------------------------------------------------------- import
def _source_folder(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if p.is_file() and p.name == MODEL_FILE:
        p = p.parent
    if not p.is_dir():
        raise YahpoError(f"no YAHPO nb301 folder at {p}: give the folder holding {MODEL_FILE}, "
                         f"encoding.json and config_space.json (YAHPO data's nb301/)")
    for f in (MODEL_FILE, *_REQUIRED):
        if not (p / f).is_file():
            raise YahpoError(f"{p} lacks {f}: give the YAHPO data folder nb301/ "
                             f"({MODEL_FILE}, encoding.json, config_space.json)")
    return p


def import_yahpo_nb301(path: str | Path, *, name: str = "nb301-yahpo",
                       root: str | Path | None = None, force: bool = False,
                       n_check: int = 512) -> Path:
    """Import YAHPO's NB301 ONNX surrogate into the data root as benchmark ``name``.

    Checks the model's sha256 against :data:`MODEL_SHA256` (the published file), copies the
    folder's files to ``<root>/yahpo/<name>/``, writes the batch-rewritten model
    (:func:`rewrite_batch_dim`), proves that a batched call equals per-row calls of the
    original file on the README's reference rows and ``n_check`` random rows (and that the
    reference rows give the README's values), and writes ``manifest.json`` last (a folder
    without it is not a benchmark).

    Returns:
        The model folder.

    Raises:
        YahpoError: a missing file, a sha256 mismatch or a model that fails the checks.
        An existing import of that name is kept as it is (a no-op) unless ``force``.
    """
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        raise YahpoError(f"bad benchmark name {name!r}: use 1-64 letters, digits, '.', '_' "
                         f"or '-'")
    src = _source_folder(path)
    sha = _sha256(src / MODEL_FILE)
    if sha != MODEL_SHA256:
        raise YahpoError(f"{src / MODEL_FILE} has sha256 {sha}, not the published YAHPO "
                         f"nb301 model's {MODEL_SHA256} (corrupted or another file)")
    dest = _data_root(root) / _SUBDIR / name
    if (dest / "manifest.json").is_file() and not force:
        return dest  # the same published file (sha256 checked above): nothing to do
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest.parent))
    try:
        files = {}
        for f in (MODEL_FILE, *_REQUIRED, *_OPTIONAL):
            if (src / f).is_file():
                shutil.copyfile(src / f, tmp / f)
                files[f] = _sha256(tmp / f)
        if files[MODEL_FILE] != MODEL_SHA256:
            raise YahpoError(f"the copy of {MODEL_FILE} in {tmp} does not match its source")
        changed = rewrite_batch_dim(tmp / MODEL_FILE, tmp / BATCHED_FILE)
        files[BATCHED_FILE] = _sha256(tmp / BATCHED_FILE)
        encoder = _Encoder(json.loads((tmp / "encoding.json").read_text()))
        x_cat, x_cont = _verify_rows(np.random.default_rng(20211026), encoder, n_check)
        diff, rows = _compare(tmp / MODEL_FILE, tmp / BATCHED_FILE, x_cat, x_cont)
        ref = np.asarray([REFERENCE[e] for e in REFERENCE])
        if not np.allclose(rows[:len(REFERENCE)], ref, rtol=1e-6, atol=0):
            raise YahpoError(f"the model does not reproduce the README's reference values: "
                             f"got {rows[:len(REFERENCE)].tolist()}, expected {ref.tolist()}")
        if not diff <= 1e-4:
            raise YahpoError(f"the batched model differs from per-row calls of the original "
                             f"by up to {diff}")
        ort, onnx = _require("onnxruntime"), _require("onnx")
        manifest = {
            "kind": _KIND, "name": name, "source": str(src), "files": files,
            "model_sha256": files[MODEL_FILE], "batched_sha256": files[BATCHED_FILE],
            "rewrite": changed,
            "batching_check": {"rows": len(x_cat), "max_abs_diff": diff,
                               "identical": bool(diff == 0.0), "reference_rows_ok": True},
            "versions": {"onnxruntime": ort.__version__, "onnx": onnx.__version__},
            "yahpo_data_commit": "3a646b874bb2e3a9c10b58ae2f42158e3a54a811",
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


# ------------------------------------------------------------------------ benchmark
_VALID = Metric("valid_acc", Split.VALID, Direction.MAXIMIZE, 0.0, 100.0, "%",
                "top-1 accuracy on NB301's validation images (10k of the CIFAR-10 training "
                "set), as predicted by YAHPO's ONNX surrogate of the NAS-Bench-301 data")


class YahpoNB301(Benchmark):
    """YAHPO's NB301 surrogate behind the Benchmark API (see the module docstring).

    Dataset ``cifar10``; metric ``valid_acc`` (percent, split valid, maximised, the
    surrogate's prediction); ``cost_s`` the predicted training runtime in seconds up to the
    epoch; fidelity epochs 1..98.  Deterministic: no data seeds (``data_seed`` must be
    ``None``), no optimum, no test metric.

    Args:
        folder: an imported model folder (:func:`import_yahpo_nb301`).
        threads: onnxruntime intra-op threads (1: reproducible and fair on shared CPUs).
    """

    kind = "surrogate"
    capabilities = BenchmarkCapabilities(data_seeds=False, trajectories=True, optimum=False,
                                         cost_model=True, enumerable=False)

    def __init__(self, folder: str | Path, *, threads: int = 1) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an int >= 1, got {threads!r}")
        self.folder = Path(folder)
        self.threads = threads
        self._darts = DartsSpace()
        self.space = self._darts
        mpath = self.folder / "manifest.json"
        if not mpath.is_file():
            raise YahpoError(f"{self.folder} is not an imported YAHPO model (no manifest.json); "
                             f"run `benchbench data import nb301-yahpo PATH`")
        try:
            self.manifest = json.loads(mpath.read_text())
        except (OSError, ValueError) as e:
            raise YahpoError(f"unreadable {mpath}: {e}") from None
        if self.manifest.get("kind") != _KIND:
            raise YahpoError(f"{mpath} is not a YAHPO NB301 manifest "
                             f"(kind {self.manifest.get('kind')!r})")
        for f in (MODEL_FILE, BATCHED_FILE, *_REQUIRED):
            p = self.folder / f
            want = self.manifest.get("files", {}).get(f)
            if not p.is_file():
                raise YahpoError(f"{p} is missing; re-import the model "
                                 f"(`benchbench data import nb301-yahpo PATH --force`)")
            got = _sha256(p)
            if got != want:
                raise YahpoError(f"{p} is corrupted: sha256 {got[:16]}..., recorded "
                                 f"{str(want)[:16]}...; re-import the model (--force)")
        self._name = str(self.manifest.get("name", self.folder.name))
        self._encoder = _Encoder(json.loads((self.folder / "encoding.json").read_text()))
        self._sess = _session(self.folder / BATCHED_FILE, threads)

    # --------------------------------------------------------------- introspection
    @property
    def name(self) -> str:
        return self._name

    @property
    def datasets(self) -> tuple[str, ...]:
        return (_DATASET,)

    def metrics(self, dataset: str) -> tuple[Metric, ...]:
        self.check_dataset(dataset)
        return (_VALID,)

    def fidelity(self, dataset: str) -> Fidelity:
        self.check_dataset(dataset)
        return Fidelity(_EPOCHS)

    def describe(self) -> Description:
        m = self.manifest
        return Description(
            name=self._name, version=f"yahpo-data-{m['yahpo_data_commit'][:7]}",
            kind="surrogate", space=self.space.name, data_sha256=m["model_sha256"],
            datasets={_DATASET: (_VALID,)},
            extra={"model": "YAHPO Gym nb301 new_model.onnx (Pfisterer et al. 2022), fitted on "
                            "the NAS-Bench-301 training data (Siems et al. 2020)",
                   "model_id": f"yahpo-nb301@{m['model_sha256'][:12]}",
                   "batched_sha256": m["batched_sha256"],
                   "batching_check": m["batching_check"], "license": "Apache-2.0",
                   "cost_s": "predicted training runtime (s) up to the epoch",
                   "caveat": "a model of the NB301 data, not the data: deterministic, no "
                             "seeds, may be wrong far from NB301's trained cells",
                   "folder": str(self.folder), "threads": self.threads})

    # --------------------------------------------------------------------- queries
    def _arch(self, arch: ArchLike) -> DartsArch:
        try:
            return self._darts.parse(arch)
        except TypeError as e:
            raise BenchmarkError(f"{self._name!r} answers DARTS cells only: {e}") from None

    def _check_seed(self, data_seed: int | None) -> None:
        if data_seed is not None:
            raise BenchmarkError(f"{self._name!r} is deterministic (YAHPO's surrogate predicts "
                                 f"one value per cell and epoch): data_seed must be None, got "
                                 f"{data_seed!r}")

    def predict(self, x_cat: np.ndarray, epochs: np.ndarray) -> np.ndarray:
        """Raw model outputs ``(n, 2)`` float32 (valid acc %, runtime s) for encoded rows
        ``x_cat`` int32 ``(n, 34)`` and epochs ``(n,)``, in chunks of 1,024 rows."""
        x_cont = np.asarray(epochs, dtype=np.float32).reshape(-1, 1)
        x_cat = np.ascontiguousarray(x_cat, dtype=np.int32)
        out = [self._sess.run(None, {"x_cat": x_cat[i:i + _CHUNK],
                                     "x_cont": x_cont[i:i + _CHUNK]})[0]
               for i in range(0, len(x_cat), _CHUNK)]
        return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.float32)

    def encode(self, archs: Sequence[ArchLike]) -> np.ndarray:
        """YAHPO's ``x_cat`` rows of ``archs``, int32 ``(n, 34)``."""
        rows = [self._encoder.row(self._arch(a)) for a in archs]
        return np.stack(rows) if rows else np.zeros((0, len(_COLUMNS)), dtype=np.int32)

    def _query(self, arch: ArchLike, dataset: str, fidelity: int,
               data_seed: int | None) -> Evaluation:
        self._check_seed(data_seed)
        a = self._arch(arch)
        out = self.predict(self._encoder.row(a)[None], np.asarray([fidelity]))
        return Evaluation(self.space.arch_id(a), dataset, fidelity, None,
                          {"valid_acc": float(out[0, 0])}, float(out[0, 1]))

    def _query_many(self, archs: Sequence[ArchLike] | np.ndarray, dataset: str, fidelity: int,
                    data_seed: int | None) -> EvaluationBatch:
        self._check_seed(data_seed)
        records = [self._arch(a) for a in archs]
        x = (np.stack([self._encoder.row(a) for a in records]) if records
             else np.zeros((0, len(_COLUMNS)), dtype=np.int32))
        out = self.predict(x, np.full(len(records), fidelity))
        return EvaluationBatch(
            arch_index=np.full(len(records), -1, dtype=np.int64),
            arch_ids=tuple(self.space.arch_id(a) for a in records), dataset=dataset,
            fidelity=fidelity, data_seed=None,
            values={"valid_acc": out[:, 0].astype(np.float64)},
            cost_s=out[:, 1].astype(np.float64))

    def _trajectory(self, arch: ArchLike, dataset: str, max_fidelity: int,
                    data_seed: int | None) -> Trajectory:
        self._check_seed(data_seed)
        a = self._arch(arch)
        epochs = np.arange(1, max_fidelity + 1)
        out = self.predict(np.repeat(self._encoder.row(a)[None], len(epochs), axis=0), epochs)
        return Trajectory(arch_id=self.space.arch_id(a), dataset=dataset, data_seed=None,
                          epochs=epochs, values={"valid_acc": out[:, 0].astype(np.float64)},
                          cost_s=out[:, 1].astype(np.float64))

    def __repr__(self) -> str:
        return f"YahpoNB301({str(self.folder)!r}, threads={self.threads})"

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "threads": self.threads}

    def __setstate__(self, s: dict[str, Any]) -> None:
        self.__init__(s["folder"], threads=s["threads"])  # type: ignore[misc]


# -------------------------------------------------------------------------- backend
class YahpoBackend:
    """The ``"yahpo"`` backend of :data:`benchbench.registry.BACKENDS`: the YAHPO models
    imported into ``<data root>/yahpo/`` open by name (``nb301-yahpo``)."""

    name = "yahpo"

    def root(self, root: str | Path | None = None) -> Path:
        return _data_root(root) / _SUBDIR

    def names(self, root: str | Path | None = None) -> list[str]:
        d = self.root(root)
        if not d.is_dir():
            return []
        return sorted(p.name for p in d.iterdir()
                      if not p.name.startswith(".") and (p / "manifest.json").is_file())

    def find(self, name: str | Path, root: str | Path | None = None) -> bool:
        text = str(name)
        return "/" not in text and os.sep not in text and \
            (self.root(root) / text / "manifest.json").is_file()

    def open(self, name: str | Path, root: str | Path | None = None,
             **options: Any) -> YahpoNB301:
        bad = sorted(set(options) - {"threads"})
        if bad:
            raise ValueError(f"a YAHPO benchmark takes the option 'threads' only, got {bad}")
        folder = self.root(root) / str(name)
        if not (folder / "manifest.json").is_file():
            raise unknown(f"YAHPO model (in {self.root(root)})", str(name),
                          self.names(root) or ["<none: run `benchbench data import "
                                               "nb301-yahpo PATH`>"])
        return YahpoNB301(folder, **options)


#: The registered instance.
YAHPO = YahpoBackend()

