"""Real training: protocols, datasets, the trainer's reproducibility, TrainingBenchmark."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from benchbench.api import Evaluation, MissingDataError, UnknownNameError
from benchbench.nn import (
    PROTOCOLS,
    TrainConfig,
    Trainer,
    TrainingBenchmark,
    get_protocol,
    load_batch,
    load_dataset,
)

REPO = Path(__file__).resolve().parents[1]
BEST = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
        "nor_conv_3x3~2|")
#: A tiny protocol: 2 epochs of 4 steps on 128 digits.
TINY = get_protocol("digits", epochs=2, train_images=128, batch_size=32)


def test_published_protocols() -> None:
    nb201 = PROTOCOLS["nb201"]
    assert (nb201.optimizer, nb201.lr, nb201.momentum, nb201.nesterov, nb201.weight_decay,
            nb201.batch_size, nb201.epochs, nb201.schedule, nb201.lr_min) == \
        ("sgd", 0.1, 0.9, True, 5e-4, 256, 200, "cosine", 0.0)
    assert nb201.network_options == {"channels": 16, "cells_per_stage": 5}
    assert PROTOCOLS["nb201-12"].epochs == 12
    nb101 = PROTOCOLS["nb101"]
    assert (nb101.optimizer, nb101.lr, nb101.rmsprop_eps, nb101.weight_decay, nb101.epochs) == \
        ("rmsprop", 0.2, 1.0, 1e-4, 108)
    darts = PROTOCOLS["darts"]
    assert (darts.lr, darts.batch_size, darts.epochs, darts.cutout, darts.drop_path_prob,
            darts.auxiliary_weight, darts.grad_clip, darts.weight_decay) == \
        (0.025, 96, 600, 16, 0.2, 0.4, 5.0, 3e-4)
    cfg = TrainConfig.from_dict(json.loads(json.dumps(nb201.to_dict())))
    assert cfg == nb201 and hash(cfg) == hash(nb201)


@pytest.mark.parametrize("bad, word", [
    (dict(epochs=0), "epochs"), (dict(batch_size=1.5), "batch_size"),
    (dict(optimizer="adam"), "adam"), (dict(lr=-1.0), "lr"), (dict(grad_clip=0.0), "grad_clip"),
    (dict(warmup_epochs=300), "warmup_epochs"), (dict(threads=0), "threads"),
])
def test_config_rejects_bad_values(bad: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        PROTOCOLS["nb201"].replace(**bad)


def test_config_errors_name_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="unknown training setting"):
        TrainConfig.from_dict({"epochs": 3, "learning_rate": 0.1})
    with pytest.raises(UnknownNameError, match="nb201"):
        get_protocol("nb999")


def test_digits_splits_are_fixed_and_disjoint() -> None:
    d = load_dataset("digits")
    assert d.train_x.shape == (997, 1, 8, 8) and d.train_x.dtype == torch.uint8
    assert {k: v[1].shape[0] for k, v in d.eval_sets.items()} == {"valid": 400, "test": 400}
    assert d.input_shape == (3, 8, 8) and d.num_classes == 10
    n = [d.train_y.shape[0]] + [y.shape[0] for _, y in d.eval_sets.values()]
    assert sum(n) == 1797  # the three splits partition the 1,797 digits
    # the split is a fixed permutation: same checksum every time, 10 classes everywhere
    assert load_dataset("digits").sha256 == d.sha256
    assert set(d.train_y.tolist()) == set(range(10))
    x = d.normalise(d.train_x)
    assert x.shape == (997, 3, 8, 8) and abs(float(x.mean())) < 0.2
    sub = d.subset(128)
    assert sub.train_x.shape[0] == 128 and torch.equal(sub.train_x, d.subset(128).train_x)


def test_missing_local_dataset_names_the_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data_batch_1.*test_batch"):
        load_dataset("cifar10-valid", tmp_path)
    with pytest.raises(FileNotFoundError, match="train_data_batch_1"):
        load_dataset("ImageNet16-120", tmp_path)
    with pytest.raises(ValueError, match="nothing is downloaded"):
        load_dataset("cifar100")
    with pytest.raises(UnknownNameError, match="digits"):
        load_dataset("mnist")


def _write_cifar10(root: Path, per_batch: int = 8) -> None:
    """A small folder in the standard CIFAR-10 python-pickle format."""
    rng = np.random.default_rng(0)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        blob = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                b"labels": rng.integers(0, 10, per_batch).tolist()}
        with open(d / name, "wb") as f:
            pickle.dump(blob, f)


def _rows_of(batch_x, pool_x) -> np.ndarray:
    """For each batch image, the index of the nearest image of ``pool_x`` (and check it is
    the same image, standardised the same way, to float32 rounding)."""
    d = torch.cdist(batch_x.flatten(1).double(), pool_x.flatten(1).double())
    dist, idx = d.min(dim=1)
    assert float(dist.max()) < 1e-4, dist
    return idx.numpy()


def test_batches_are_cut_from_the_training_datasets(tmp_path: Path) -> None:
    """One reader and one normalisation: a proxy batch holds images of the dataset the
    trainer reads, standardised as the trainer standardises them, with their labels."""
    _write_cifar10(tmp_path)
    full = load_dataset("cifar10", tmp_path)
    b = load_batch("cifar10", batch_size=8, seed=0, root=tmp_path)
    rows = _rows_of(b.x, full.normalise(full.train_x))
    assert len(set(rows.tolist())) == 8
    np.testing.assert_array_equal(b.y.numpy(), full.train_y.numpy()[rows])
    digits = load_dataset("digits")
    xs = torch.cat([digits.train_x] + [x for x, _ in digits.eval_sets.values()])
    ys = torch.cat([digits.train_y] + [y for _, y in digits.eval_sets.values()])
    b = load_batch("digits", batch_size=16, seed=2, image_size=8)  # native size: no resampling
    rows = _rows_of(b.x, digits.normalise(xs))
    np.testing.assert_array_equal(b.y.numpy(), ys.numpy()[rows])


def test_cifar_format_splits_and_augmented_training(tmp_path: Path) -> None:
    _write_cifar10(tmp_path)
    full = load_dataset("cifar10", tmp_path)
    assert full.train_x.shape == (40, 3, 32, 32) and list(full.eval_sets) == ["test"]
    valid = load_dataset("cifar10-valid", tmp_path)
    assert valid.train_x.shape[0] == 20 and valid.eval_sets["valid"][0].shape[0] == 20
    assert (valid.crop_padding, valid.flip) == (4, True)
    cfg = get_protocol("nb201", epochs=1, batch_size=16,
                       network={"channels": 4, "cells_per_stage": 1}, cutout=8)
    r = Trainer("nb201", valid, cfg).train(BEST, seed=3)
    assert set(r.values) == {"train_acc", "train_loss", "valid_acc", "valid_loss", "test_acc",
                             "test_loss", "params", "flops"}
    r2 = Trainer("nb201", valid, cfg).train(BEST, seed=3)
    for k in r.values:
        np.testing.assert_array_equal(r.values[k], r2.values[k])


def test_continuing_a_run_equals_training_in_one_go() -> None:
    tr = Trainer("nb201", load_dataset("digits"), TINY)
    run = tr.start(BEST, seed=5)
    first = run.advance(1)
    assert list(first.epochs) == [1]
    both = run.advance(2)
    once = tr.train(BEST, seed=5)
    for k in once.values:
        np.testing.assert_array_equal(both.values[k], once.values[k])
    assert np.all(np.diff(once.cost_s) > 0) and once.values["params"][0] > 0
    other = tr.train(BEST, seed=6)
    assert not np.array_equal(other.values["train_loss"], once.values["train_loss"])
    with pytest.raises(ValueError, match="beyond the protocol"):
        run.advance(3)


_SCRIPT = """
import json, sys
from benchbench.nn import get_protocol, load_dataset, Trainer
cfg = get_protocol("digits", epochs=2, train_images=128, batch_size=32)
r = Trainer("nb201", load_dataset("digits"), cfg).train(sys.argv[1], seed=int(sys.argv[2]))
print(json.dumps({k: v.tolist() for k, v in r.values.items()}))
"""


def test_same_seed_same_curve_in_fresh_processes() -> None:
    def curve(seed: int) -> dict:
        out = subprocess.run([sys.executable, "-c", _SCRIPT, BEST, str(seed)], cwd=REPO,
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    a, b = curve(11), curve(11)
    assert a == b
    here = Trainer("nb201", load_dataset("digits"), TINY).train(BEST, seed=11)
    assert {k: v.tolist() for k, v in here.values.items()} == a
    assert torch.get_num_threads() >= 1  # the trainer restored the setting


def test_training_benchmark_caches_and_continues() -> None:
    tb = TrainingBenchmark("nb201", protocol=TINY, datasets=["digits"], mean_seeds=(0, 1))
    assert tb.kind == "training" and tb.fidelity("digits").values == (1, 2)
    assert tb.data_seeds(BEST, "digits") is None
    e1 = tb.query(BEST, dataset="digits", fidelity=1, data_seed=0)
    assert isinstance(e1, Evaluation) and e1.cost_s > 0 and tb.runs_started == 1
    e2 = tb.query(BEST, dataset="digits", fidelity=2, data_seed=0)  # continues the run
    assert tb.runs_started == 1 and e2.cost_s > e1.cost_s
    spent = tb.spent_s
    assert tb.query(BEST, dataset="digits", fidelity=2, data_seed=0) == e2  # cached
    assert tb.spent_s == spent
    mean = tb.query(BEST, dataset="digits", fidelity=2)
    e_1 = tb.query(BEST, dataset="digits", fidelity=2, data_seed=1)
    assert tb.runs_started == 2
    assert mean.values["valid_acc"] == pytest.approx((e2["valid_acc"] + e_1["valid_acc"]) / 2)
    traj = tb.trajectory(BEST, dataset="digits", data_seed=0)
    assert traj.values["valid_acc"][-1] == e2["valid_acc"]
    assert tb.describe().kind == "training"
    with pytest.raises(MissingDataError, match="epoch 3"):
        tb.query(BEST, dataset="digits", fidelity=3)
    with pytest.raises(UnknownNameError, match="cifar10"):
        tb.query(BEST, dataset="cifar10")
    with pytest.raises(MissingDataError, match="no precomputed optimum"):
        tb.optimum("valid_acc", dataset="digits")
    with pytest.raises(ValueError, match="data_seed"):
        tb.query(BEST, dataset="digits", data_seed=-1)
    clone = pickle.loads(pickle.dumps(tb))
    assert clone.name == tb.name and clone.protocol == tb.protocol


def test_runner_study_on_the_training_backend(tmp_path: Path) -> None:
    """The runner drives real training like any benchmark; the validation reads its runs."""
    import csv

    from benchbench.runner import run_study
    from tabular_data import incumbents_from_runs

    tb = TrainingBenchmark("nb201", protocol=TINY.replace(train_images=64), datasets=["digits"],
                           mean_seeds=(0,))
    res = run_study(tb, tmp_path / "study", dataset="digits", algorithms={"rs": {}},
                    seeds=[0], max_evals=3)
    assert (res.done, res.failed) == (1, 0)
    (records,) = list((tmp_path / "study").rglob("records.csv"))
    rows = list(csv.DictReader(records.open()))
    assert len(rows) == 3 and all(float(r["cost_s"]) > 0 for r in rows)
    for r in rows:  # the recorded objective is what training that cell with that seed gives
        ev = tb.query(int(r["arch_index"]), dataset="digits", data_seed=int(r["data_seed"]))
        assert float(r["objective"]) == ev["valid_acc"]
    assert incumbents_from_runs(tmp_path / "study") == [int(rows[-1]["incumbent_index"])]
