"""The contract suites (see :mod:`benchbench.testing`)."""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from benchbench.api import (
    Benchmark,
    BenchmarkError,
    Description,
    Direction,
    Evaluation,
    Metric,
    MissingDataError,
    UnknownNameError,
)
from benchbench.optimizer import OneShotSearch, OneShotStep, Optimizer, make_optimizer
from benchbench.rng import make_rng, stable_hash
from benchbench.spaces import EnumerableSpace, SearchSpace, is_enumerable
from benchbench.trial import TrialInfo, TrialValue

__all__ = ["check_benchmark", "check_optimizer", "check_proxy", "check_space", "toy_objective"]


def _fail(rule: str) -> AssertionError:
    return AssertionError(f"contract broken: {rule}")


def _require(ok: bool, rule: str) -> None:
    if not ok:
        raise _fail(rule)


# ------------------------------------------------------------------------------ spaces
def check_space(space: SearchSpace[Any], *, n: int = 40, seed: int = 0) -> None:
    """The :class:`~benchbench.spaces.SearchSpace` contract (and the enumerable part when the
    space declares it).

    Checks, on ``n`` sampled cells: records are hashable, picklable and equal after a
    round trip through ``arch_id`` / ``parse``; ids are strings; ``canonical_id`` is stable;
    sampling and mutation are deterministic functions of the generator and mutation changes
    the cell to one of its ``neighbours``; neighbours are distinct, fixed and exclude the
    cell; encodings have one fixed length and are finite; the categorical view round-trips;
    bad input raises ``ValueError``/``TypeError``; enumerable spaces index consistently.
    """
    _require(isinstance(space, SearchSpace), f"{space!r} is not a SearchSpace")
    _require(isinstance(getattr(space, "name", None), str) and bool(space.name),
             "a space has a non-empty str name")
    rng = make_rng(seed, "contract", "space")
    archs = [space.sample(rng) for _ in range(n)]
    again = [space.sample(make_rng(seed, "contract", "space")) for _ in range(1)]
    _require(again[0] == archs[0], "sample() is a deterministic function of the generator")
    other = [space.sample(make_rng(seed + 1, "contract", "space")) for _ in range(n)]
    _require(n < 5 or other != archs, "sample() with another seed gives other cells")
    cat = space.as_categorical()
    _require(len(cat.names) == len(cat.choices) > 0 and all(len(c) > 0 for c in cat.choices),
             "as_categorical() has one non-empty choice tuple per named variable")
    enc_len = None
    for a in archs:
        _require(isinstance(a, Hashable) and hash(a) == hash(space.parse(space.arch_id(a))),
                 "arch records are hashable and parse(arch_id(a)) hashes like a")
        aid = space.arch_id(a)
        _require(isinstance(aid, str) and aid != "", "arch_id() is a non-empty str")
        _require(space.parse(aid) == a, f"parse(arch_id(a)) == a (failed for {aid!r})")
        _require(space.parse(a) == a, "parse(record) returns an equal record")
        _require(isinstance(space.format(a), str), "format() returns a str")
        _require(pickle.loads(pickle.dumps(a)) == a, "arch records survive pickling")
        cid = space.canonical_id(a)
        _require(isinstance(cid, str) and cid == space.canonical_id(space.parse(aid)),
                 "canonical_id() is a str, equal for equal cells")
        x = space.encode(a)
        _require(isinstance(x, np.ndarray) and x.ndim == 1 and bool(np.all(np.isfinite(x))),
                 "encode() returns a finite 1-d array")
        enc_len = x.shape[0] if enc_len is None else enc_len
        _require(x.shape[0] == enc_len, "encode() has one fixed length")
        _require(np.array_equal(x, space.encode(space.parse(aid))),
                 "encode() is a function of the cell")
        values = space.to_categorical(a)
        _require(len(values) == len(cat.sizes)
                 and all(0 <= int(v) < k for v, k in zip(values, cat.sizes)),
                 "to_categorical() gives one in-range choice per variable")
        _require(space.from_categorical(values) == a,
                 "from_categorical(to_categorical(a)) == a")
    for i, a in enumerate(archs[: max(1, n // 4)]):
        nb = space.neighbours(a)
        _require(len(nb) > 0, "a cell has neighbours")
        _require(a not in nb, "neighbours() excludes the cell itself")
        _require(len(set(nb)) == len(nb), "neighbours() has no duplicates")
        _require(nb == space.neighbours(a), "neighbours() has a fixed order")
        m1 = space.mutate(a, make_rng(seed, "contract", "mutate", i))
        m2 = space.mutate(a, make_rng(seed, "contract", "mutate", i))
        _require(m1 == m2, "mutate() is a deterministic function of the generator")
        _require(m1 != a, "mutate() always changes the cell")
        _require(m1 in set(nb), "mutate() returns one of neighbours()")
        _require(space.parse(space.arch_id(m1)) == m1, "mutated cells are valid cells")
    for bad in ("", "certainly not a cell of any space"):
        try:
            space.parse(bad)
        except (ValueError, TypeError):
            pass
        else:
            raise _fail(f"parse({bad!r}) raises ValueError or TypeError")
    if is_enumerable(space):
        _check_enumerable(space, archs)  # type: ignore[arg-type]


def _check_enumerable(space: EnumerableSpace[Any], archs: list[Any]) -> None:
    size = space.size
    _require(isinstance(size, int) and size > 0, "an enumerable space has size > 0")
    idx = [space.index(a) for a in archs]
    _require(all(isinstance(i, int) and 0 <= i < size for i in idx),
             "index() is an int in 0..size-1")
    _require(all(space.from_index(i) == a for i, a in zip(idx, archs)),
             "from_index(index(a)) == a")
    _require(np.array_equal(space.indices(archs), np.asarray(idx, dtype=np.int64)),
             "indices() equals index() of each")
    _require(np.array_equal(space.indices([space.arch_id(a) for a in archs]),
                            np.asarray(idx, dtype=np.int64)), "indices() accepts ids")
    for bad in (-1, size):
        try:
            space.from_index(bad)
        except (ValueError, IndexError):
            pass
        else:
            raise _fail(f"from_index({bad}) raises ValueError")


# -------------------------------------------------------------------------- benchmarks
def _same_eval(a: Evaluation, b: Evaluation, *, cost: bool = True) -> bool:
    if (a.arch_id, a.dataset, a.fidelity, a.data_seed) != (b.arch_id, b.dataset, b.fidelity,
                                                           b.data_seed):
        return False
    if set(a.values) != set(b.values):
        return False
    vals = all(_same_float(a.values[k], b.values[k]) for k in a.values)
    return vals and (not cost or _same_float(a.cost_s, b.cost_s))


def _same_float(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or x == y


def check_benchmark(bench: Benchmark, *, datasets: tuple[str, ...] | None = None, n: int = 6,
                    seed: int = 0, trajectory: bool = True, pickle_roundtrip: bool = True
                    ) -> None:
    """The :class:`~benchbench.api.Benchmark` contract on ``n`` sampled cells per dataset.

    Checks: description and metrics are well formed and JSON-serialisable; every evaluation
    carries exactly the dataset's metrics, each NaN or inside its bounds; ``fidelity=None``
    is the maximum; ``cost_s`` is NaN (a dataset without recorded time) or >= 0;
    queries are deterministic; unknown datasets and epochs raise the
    documented errors; declared capabilities hold (data seeds, optimum, cost model,
    trajectories equal repeated queries, enumeration); ``query_many`` equals ``query``;
    ``metric_epochs`` lie in the fidelity axis; the benchmark survives pickling (executors
    send it to worker processes).
    """
    _require(isinstance(bench, Benchmark), f"{bench!r} is not a Benchmark")
    caps = bench.capabilities
    desc = bench.describe()
    _require(isinstance(desc, Description), "describe() returns a Description")
    json.dumps(desc.to_dict(), default=str)
    _require(desc.name == bench.name and desc.space == bench.space.name,
             "describe() names the benchmark and its space")
    _require(len(bench.datasets) > 0, "a benchmark has datasets")
    try:
        bench.metrics("no-such-dataset")
    except UnknownNameError:
        pass
    else:
        raise _fail("an unknown dataset raises UnknownNameError")
    if caps.enumerable:
        _require(is_enumerable(bench.space), "capabilities.enumerable needs an EnumerableSpace")
    rng = make_rng(seed, "contract", "benchmark")
    costed = False
    for dataset in datasets or bench.datasets:
        metrics = bench.metrics(dataset)
        _require(len(metrics) > 0 and all(isinstance(m, Metric) for m in metrics),
                 f"metrics({dataset!r}) is a non-empty tuple of Metric")
        names = [m.name for m in metrics]
        _require(len(set(names)) == len(names), "metric names are unique")
        fid = bench.fidelity(dataset)
        _require(len(fid.values) > 0 and list(fid.values) == sorted(set(fid.values))
                 and fid.values[0] >= 1, "fidelity values are ascending ints >= 1")
        for m in metrics:
            _require(set(bench.metric_epochs(dataset, m.name)) <= set(fid.values),
                     "metric_epochs() lie in the fidelity axis")
        try:
            bench.query(bench.space.sample(rng), dataset=dataset, fidelity=fid.max + 1)
        except (MissingDataError, BenchmarkError):
            pass
        else:
            raise _fail("an epoch beyond the fidelity axis raises MissingDataError")
        archs = [bench.space.sample(rng) for _ in range(n)]
        evs = []
        for a in archs:
            ev = bench.query(a, dataset=dataset)
            _require(isinstance(ev, Evaluation), "query() returns an Evaluation")
            _require(ev.fidelity == fid.max, "fidelity=None means the maximum")
            _require(ev.arch_id == bench.space.arch_id(bench.space.parse(a)),
                     "Evaluation.arch_id is the space's arch_id")
            _require(list(ev.values) == names, "an Evaluation carries exactly the metrics")
            for m in metrics:
                v = ev.values[m.name]
                _require(isinstance(v, float), f"metric {m.name} is a float")
                _require(math.isnan(v) or m.lower <= v <= m.upper,
                         f"metric {m.name}={v} lies within its bounds "
                         f"[{m.lower}, {m.upper}]")
            _require(math.isnan(ev.cost_s) or 0 <= ev.cost_s < math.inf,
                     "cost_s is NaN (not recorded) or finite and >= 0")
            costed |= math.isfinite(ev.cost_s)
            _require(_same_eval(ev, bench.query(a, dataset=dataset, fidelity=fid.max)),
                     "query() is deterministic")
            evs.append(ev)
        batch = bench.query_many(archs, dataset=dataset)
        _require(len(batch) == n, "query_many() answers every arch")
        for i, ev in enumerate(evs):
            for k in names:
                _require(_same_float(float(batch.values[k][i]), ev.values[k]),
                         "query_many() equals query()")
        _check_seeds(bench, dataset, archs[0], fid.max)
        if trajectory:
            epochs = fid.values[: min(3, len(fid.values))]
            tr = bench.trajectory(archs[0], dataset=dataset, max_fidelity=epochs[-1])
            _require(list(tr.epochs) == list(epochs), "trajectory() covers the epochs")
            for i, e in enumerate(epochs):
                q = bench.query(archs[0], dataset=dataset, fidelity=e)
                for k in names:
                    _require(_same_float(float(tr.values[k][i]), q.values[k]),
                             "trajectory() equals repeated queries")
        _check_optimum(bench, dataset, metrics, evs, fid.max)
    if caps.cost_model:
        _require(costed, "with a cost model, some dataset has recorded costs")
    if pickle_roundtrip:
        twin = pickle.loads(pickle.dumps(bench))
        d0 = (datasets or bench.datasets)[0]
        a0 = bench.space.sample(make_rng(seed, "contract", "pickle"))
        # A training backend measures seconds: a retrained twin has the same values only.
        _require(_same_eval(twin.query(a0, dataset=d0), bench.query(a0, dataset=d0),
                            cost=desc.kind != "training"),
                 "a pickled benchmark answers as the original")


def _check_seeds(bench: Benchmark, dataset: str, arch: Any, epoch: int) -> None:
    seeds = bench.data_seeds(arch, dataset)
    if not bench.capabilities.data_seeds:
        _require(seeds == (), "without the data_seeds capability, data_seeds() is ()")
        return
    _require(seeds is None or (isinstance(seeds, tuple) and all(isinstance(s, int)
                                                                 for s in seeds)),
             "data_seeds() is None or a tuple of ints")
    s = 0 if seeds is None else (seeds[0] if seeds else None)
    if s is None:
        return
    a = bench.query(arch, dataset=dataset, fidelity=epoch, data_seed=s)
    b = bench.query(arch, dataset=dataset, fidelity=epoch, data_seed=s)
    _require(a.data_seed == s and _same_eval(a, b), "a seeded query is deterministic")


def _check_optimum(bench: Benchmark, dataset: str, metrics: tuple[Metric, ...],
                   evs: list[Evaluation], epoch: int) -> None:
    m = next((m for m in metrics if m.split is not None), metrics[0])
    if not bench.capabilities.optimum:
        try:
            bench.optimum(m.name, dataset=dataset, fidelity=epoch)
        except MissingDataError:
            return
        raise _fail("without the optimum capability, optimum() raises MissingDataError")
    try:
        opt = bench.optimum(m.name, dataset=dataset, fidelity=epoch)
    except MissingDataError:
        return  # the metric has no values at this epoch (documented)
    bench.space.parse(opt.arch_id)
    for ev in evs:
        v = ev.values[m.name]
        if math.isnan(v):
            continue
        better = v > opt.value if m.direction is Direction.MAXIMIZE else v < opt.value
        _require(not better or math.isclose(v, opt.value, rel_tol=1e-9),
                 f"optimum() of {m.name} is at least as good as any queried cell")


# -------------------------------------------------------------------------- optimizers
def toy_objective(space: SearchSpace[Any], arch: Any) -> float:
    """A deterministic stand-in objective in [0, 100) from the cell's id (for contracts)."""
    return (stable_hash("toy-objective", space.arch_id(arch)) % 10_000) / 100.0


#: Epochs offered to multi-fidelity optimizers by the contract (NB201's 12-epoch schedule).
_TOY_EPOCHS = tuple(range(1, 13))


def _drive(opt: Optimizer | OneShotSearch, space: SearchSpace[Any], seed: int,
           n: int) -> list[str]:
    multi_fidelity = isinstance(opt, Optimizer) and opt.capabilities.multi_fidelity
    if multi_fidelity:
        opt.configure_fidelity(_TOY_EPOCHS)  # type: ignore[union-attr]
    opt.setup(space, make_rng(seed, "optimizer"))
    asked: list[str] = []
    if isinstance(opt, OneShotSearch):
        for i, step in enumerate(opt.steps()):
            if i >= n:
                break
            if not isinstance(step, OneShotStep):
                step = OneShotStep(*step)
            _require(math.isfinite(step.cost_s) and step.cost_s >= 0,
                     "a one-shot step's cost_s is finite and >= 0")
            asked.append(space.arch_id(space.parse(step.arch)))
        return asked
    for _ in range(n):
        trial = opt.ask()
        if trial is None and multi_fidelity:  # told everything: its schedule is complete
            break
        _require(isinstance(trial, TrialInfo), "ask() returns a TrialInfo")
        assert trial is not None
        arch = space.parse(trial.arch)
        if trial.fidelity is not None or trial.resume:
            _require(multi_fidelity,
                     "only a multi-fidelity optimizer sets TrialInfo.fidelity or resume")
        if trial.fidelity is not None:
            _require(trial.fidelity in _TOY_EPOCHS,
                     "a multi-fidelity trial asks for one of the configured epochs")
        y = toy_objective(space, arch)
        if multi_fidelity:  # a toy learning curve, rising with the epochs to the toy value
            fid = trial.fidelity if trial.fidelity is not None else _TOY_EPOCHS[-1]
            opt.tell(trial, TrialValue(y * (1.0 - 0.5 ** fid), float(fid), True,
                                       fidelity=fid))
        else:
            opt.tell(trial, TrialValue(y, 1.0, True))
        asked.append(space.arch_id(arch))
    return asked


def check_optimizer(name: str | type[Any], space: SearchSpace[Any], *,
                    params: Mapping[str, Any] | None = None, n: int = 40, seed: int = 0,
                    differs_by_seed: bool = True) -> None:
    """The optimizer contract on ``space`` with ``n`` asks (or one-shot steps).

    Checks: the registered name or import path (or class) builds through
    :func:`~benchbench.optimizer.make_optimizer`-style validation; ``get_params()`` returns
    the given hyper-parameters unchanged, with defaults filled; unknown hyper-parameters are
    refused; every asked cell is a valid cell of ``space``; the same seed gives the same
    sequence, in a fresh object; another seed gives another (unless ``differs_by_seed`` is
    False, for a deterministic method).
    """
    params = dict(params or {})

    def build() -> Optimizer | OneShotSearch:
        if isinstance(name, str):
            return make_optimizer(name, **params)
        opt = name(**params)
        opt._validate()
        return opt  # type: ignore[no-any-return]

    opt = build()
    _require(isinstance(opt, (Optimizer, OneShotSearch)),
             "an optimizer is an Optimizer or a OneShotSearch")
    got = opt.get_params()
    _require(all(got.get(k) == v for k, v in params.items()),
             "get_params() returns the hyper-parameters as given")
    repr(opt)
    if isinstance(name, str):
        try:
            make_optimizer(name, **{**params, "no_such_hyper_parameter_x": 1})
        except ValueError:
            pass
        else:
            raise _fail("an unknown hyper-parameter is refused with ValueError")
    first = _drive(opt, space, seed, n)
    _require(len(first) > 0, "an optimizer proposes at least one cell")
    _require(_drive(build(), space, seed, n) == first,
             "the same seed gives the same proposals (fresh object)")
    if differs_by_seed:
        _require(_drive(build(), space, seed + 1, n) != first,
                 "another seed gives other proposals")


# ----------------------------------------------------------------------------- proxies
def check_proxy(name: str, space: SearchSpace[Any], *, n: int = 2, seed: int = 0,
                **config: Any) -> None:
    """The zero-cost proxy contract: ``Proxy(name).score(arch, rng) -> (value, seconds)``
    with a float value (NaN allowed, never replaced), seconds >= 0, the same value for the
    same cell and generator seed, and a registered description.  Needs torch and a network
    builder for ``space`` (``benchbench.nn.get_builder``)."""
    from algorithms.proxies import Proxy, ScoreConfig
    from benchbench.registry import PROXIES

    _require(bool(PROXIES.description(name)) if name in PROXIES else True,
             "a registered proxy has a description")
    cfg = ScoreConfig(space=space.name, **config) if config else None
    proxy = Proxy(name, config=cfg) if cfg is not None else Proxy(name)
    rng = make_rng(seed, "contract", "proxy")
    archs = [space.sample(rng) for _ in range(n)]
    for i, a in enumerate(archs):
        v1, s1 = proxy.score(a, make_rng(seed, "contract", "proxy", i))
        v2, _ = proxy.score(a, make_rng(seed, "contract", "proxy", i))
        _require(isinstance(v1, float) and isinstance(s1, float),
                 "score() returns (float value, float seconds)")
        _require(s1 >= 0, "score() seconds are >= 0")
        _require(_same_float(v1, v2), "score() is a deterministic function of the cell and "
                                      "the generator")
