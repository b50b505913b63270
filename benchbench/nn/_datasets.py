# TEMPORARY shim, removed at integration: the datasets moved to benchbench.nn._data.
from benchbench.nn._data import TRAIN_DATASETS, ImageData, dataset_metrics, load_dataset

__all__ = ["TRAIN_DATASETS", "ImageData", "dataset_metrics", "load_dataset"]
