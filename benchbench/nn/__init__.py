"""PyTorch networks of each search space, seeded initialisation and data batches.

torch only (the ``torch`` extra): ``import benchbench`` never imports this package.  Shared by
the zero-cost proxies and the real-training backend.
"""

from __future__ import annotations

from benchbench.nn._torch import require_torch

require_torch()

from benchbench.nn._build import (
    Builder,
    count_flops,
    count_params,
    get_builder,
    init_network,
    new_network,
    register_builder,
    registered_builders,
    torch_threads,
)
from benchbench.nn._data import BATCH_SOURCES, Batch, load_batch
from benchbench.nn._nb201 import NB201Cell, NB201Network, ResNetBasicBlock, build_nb201

register_builder("nb201", build_nb201)

__all__ = [
    "BATCH_SOURCES",
    "PROTOCOLS",
    "TRAIN_DATASETS",
    "Batch",
    "Builder",
    "ImageData",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingBenchmark",
    "TrainingRun",
    "dataset_metrics",
    "get_protocol",
    "load_dataset",
    "NB201Cell",
    "NB201Network",
    "ResNetBasicBlock",
    "build_nb201",
    "count_flops",
    "count_params",
    "get_builder",
    "init_network",
    "load_batch",
    "new_network",
    "register_builder",
    "registered_builders",
    "torch_threads",
]
