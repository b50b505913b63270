"""Surrogate backend: models fitted on evaluated architectures, served through the Benchmark
API (NAS-Bench-301-style), with a model card that says how far they can be trusted.

Modules: ``_features`` (feature layouts), ``_model`` (fit, noise, cost, OOD, save / load),
``_data`` (training data from a table), ``_benchmark`` (:class:`SurrogateBenchmark`),
``_card`` (model card statistics and files), ``_backend`` (the registry's ``"surrogate"``
backend).  Importing this package does not import xgboost; fitting and loading do.
"""

from __future__ import annotations

from surrogates._benchmark import SurrogateBenchmark
from surrogates._data import read_cell_file, split_rows, training_data
from surrogates._features import FEATURE_LAYOUTS, FeatureLayout, get_layout, layouts_for
from surrogates._model import (
    FORMAT_VERSION,
    FitOptions,
    SurrogateModel,
    SurrogateModelError,
    TrainingData,
    fit_model,
    load_model,
)
from surrogates.yahpo import YahpoNB301, import_yahpo_nb301

__all__ = [
    "FEATURE_LAYOUTS",
    "FORMAT_VERSION",
    "FeatureLayout",
    "FitOptions",
    "SurrogateBenchmark",
    "SurrogateModel",
    "SurrogateModelError",
    "TrainingData",
    "fit_model",
    "get_layout",
    "layouts_for",
    "load_model",
    "read_cell_file",
    "split_rows",
    "training_data",
    "YahpoNB301",
    "import_yahpo_nb301",
]
