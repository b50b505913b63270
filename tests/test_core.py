"""Core: seeds, metrics, light import."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from benchbench import Direction, Metric, Split, derive_seed, make_rng


def test_derived_seeds_are_stable_across_processes() -> None:
    here = [derive_seed(0, "optimizer"), derive_seed(7, "noise", 3), int(make_rng(1, "x")
                                                                        .integers(1 << 30))]
    code = ("from benchbench import derive_seed, make_rng; "
            "print(derive_seed(0, 'optimizer'), derive_seed(7, 'noise', 3), "
            "int(make_rng(1, 'x').integers(1 << 30)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert out.stdout.split() == [str(x) for x in here]
    assert derive_seed(0, "a") != derive_seed(1, "a") != derive_seed(0, "b")
    with pytest.raises(TypeError, match="seed must be an int"):
        derive_seed(1.5, "a")  # type: ignore[arg-type]


def test_metric_is_data() -> None:
    m = Metric("valid_acc", Split.VALID, Direction.MAXIMIZE, 0, 100, "%")
    assert m.better(2, 1) and not m.better(math.nan, 1)
    assert Metric.from_dict(m.to_dict()) == m
    loss = Metric("valid_loss", "valid", "min", 0, math.inf, "nats")  # type: ignore[arg-type]
    assert loss.split is Split.VALID and loss.better(1, 2)
    with pytest.raises(ValueError, match="lower 5 > upper 1"):
        Metric("x", None, Direction.MINIMIZE, 5, 1)
    with pytest.raises(ValueError):
        Metric("x", "validation", Direction.MINIMIZE)  # type: ignore[arg-type]


def test_import_benchbench_is_light() -> None:
    code = ("import sys, benchbench, benchbench.runner, benchbench.cli, tabular_data, "
            "algorithms, results; benchbench.cli.build_parser().parse_args(['data', 'list']); "
            "print(sorted(m for m in ('torch', 'matplotlib', 'xgboost', 'ray') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
