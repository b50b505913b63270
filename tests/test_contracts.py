"""The contract suites of :mod:`benchbench.testing`, run over everything registered: every
space, every benchmark (registered factories and the table backend's tables), every optimizer
and every proxy.  A new entry in a registry is picked up here without editing this file."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from typing import Any

import pytest

from benchbench.registry import BENCHMARKS, OPTIMIZERS, PROXIES, SPACES, open_benchmark
from benchbench.spaces import get_space
from benchbench.testing import check_benchmark, check_optimizer, check_proxy, check_space

HAS_TORCH = importlib.util.find_spec("torch") is not None

#: Small settings for registered benchmark factories that would otherwise train for hours.
_FACTORY_OPTIONS: dict[str, dict[str, Any]] = {
    "nb201-train": {"protocol": "digits", "datasets": ("digits",)},
}
#: Optimizers whose proposals do not depend on the seed given these params.
_DETERMINISTIC: set[str] = set()


@pytest.mark.parametrize("name", SPACES.names())
def test_space_contract(name: str) -> None:
    check_space(get_space(name))


def test_every_builtin_registry_entry_loads() -> None:
    for reg in (SPACES, OPTIMIZERS, PROXIES):
        for name in reg.names():
            assert reg.load(name) is not None
            assert reg.description(name), f"{reg.kind} {name!r} has no description"


@pytest.mark.parametrize("name", ["nb201-digits"])
def test_table_contract(name: str) -> None:
    with open_benchmark(name) as bench:
        check_benchmark(bench, n=8)


def test_imported_nb201_table_contract(nb201_flat: Path, tmp_path: Path) -> None:
    from tabular_data import import_nb201

    import_nb201(nb201_flat, name="nb201", root=tmp_path)
    with open_benchmark("nb201", data_root=tmp_path) as bench:
        check_benchmark(bench, n=8)


@pytest.mark.parametrize("name", BENCHMARKS.names())
def test_registered_benchmark_contract(name: str) -> None:
    if not HAS_TORCH:
        pytest.skip(f"benchmark {name!r} trains with torch, which is not installed")
    bench = open_benchmark(name, **_FACTORY_OPTIONS.get(name, {}))
    # Two epochs keep real training to seconds; the trajectory check retrains nothing new.
    check_benchmark(bench, n=2, trajectory=True)


def _optimizer_params(name: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Proxy-guided optimizers (a ``scores`` hyper-parameter) run on NASLib's real
    precomputed scores, never live torch scoring."""
    cls = OPTIMIZERS.load(name)
    if "scores" in inspect.signature(cls.__init__).parameters:
        return {"scores": str(request.getfixturevalue("naslib_score_dir"))}
    return dict(_TINY_OPTIMIZER_PARAMS.get(name, {}))


#: One-shot searches train a supernet for real: two epochs of two batches on digits.
_TINY_ONESHOT = {"epochs": 2, "max_batches": 2, "hessian_iters": 2}
_TINY_OPTIMIZER_PARAMS: dict[str, dict[str, Any]] = {
    "darts-v1": _TINY_ONESHOT, "darts-v2": _TINY_ONESHOT, "gdas": _TINY_ONESHOT,
    "rsps": {"epochs": 2, "max_batches": 2, "select_num": 3},
}


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_optimizer_contract(name: str, request: pytest.FixtureRequest) -> None:
    check_optimizer(name, get_space("nb201"), params=_optimizer_params(name, request),
                    differs_by_seed=name not in _DETERMINISTIC)


#: The black-box optimizers that must run on every registered space (issue 11).
_EVERY_SPACE_OPTIMIZERS = ("rs", "re", "reinforce", "ls")


@pytest.mark.parametrize("space", [s for s in SPACES.names() if s != "nb201"])
@pytest.mark.parametrize("name", _EVERY_SPACE_OPTIMIZERS)
def test_optimizer_contract_on_every_space(name: str, space: str) -> None:
    check_optimizer(name, get_space(space), differs_by_seed=name not in _DETERMINISTIC)


@pytest.mark.skipif(not HAS_TORCH, reason="zero-cost proxies need torch (pip install torch)")
@pytest.mark.parametrize("name", PROXIES.names())
def test_proxy_contract(name: str) -> None:
    check_proxy(name, get_space("nb201"), n=1)
