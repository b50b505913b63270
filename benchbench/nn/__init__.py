"""PyTorch networks of each search space, seeded initialisation, the image data, the trainer
and the real-training benchmark.

torch only (the ``torch`` extra): ``import benchbench`` never imports this package, and
importing it without torch raises ``ImportError`` naming the extra.  Shared by the zero-cost
proxies (networks, :func:`load_batch`) and the real-training backend (:class:`Trainer`,
:class:`TrainingBenchmark`).  The protocols (:class:`TrainConfig`, :data:`PROTOCOLS`,
:func:`get_protocol`) live in the torch-free :mod:`benchbench.protocols` and are re-exported.
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
from benchbench.nn._darts import DartsNetwork, build_darts
from benchbench.nn._data import (
    BATCH_SOURCES,
    EVAL_SPLITS,
    TRAIN_DATASETS,
    Batch,
    ImageData,
    dataset_metrics,
    load_batch,
    load_dataset,
)
from benchbench.nn._nb101 import NB101Module, NB101Network, build_nb101
from benchbench.nn._nb201 import NB201Cell, NB201Network, ResNetBasicBlock, build_nb201
from benchbench.nn._train import Trainer, TrainingRun, TrainResult
from benchbench.nn._training_benchmark import TrainingBenchmark, nb201_digits_training
from benchbench.protocols import PROTOCOLS, TrainConfig, get_protocol

register_builder("nb201", build_nb201)
register_builder("darts", build_darts)
register_builder("nb101", build_nb101)

__all__ = [
    "BATCH_SOURCES",
    "EVAL_SPLITS",
    "PROTOCOLS",
    "TRAIN_DATASETS",
    "Batch",
    "Builder",
    "DartsNetwork",
    "ImageData",
    "NB101Module",
    "NB101Network",
    "NB201Cell",
    "NB201Network",
    "ResNetBasicBlock",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingBenchmark",
    "TrainingRun",
    "build_darts",
    "build_nb101",
    "build_nb201",
    "count_flops",
    "count_params",
    "dataset_metrics",
    "get_builder",
    "get_protocol",
    "init_network",
    "load_batch",
    "load_dataset",
    "nb201_digits_training",
    "new_network",
    "register_builder",
    "registered_builders",
    "torch_threads",
]
