"""The official NB101 .tfrecord importer: TFRecord framing, the ModelMetrics protobuf, and the
streamed import into a table keyed by module hash.

Fixture files are written here in the exact official framing (length, masked CRC32C of the
length, payload, masked CRC32C of the payload) and payload layout, from the real specs of the
292 distinct cells of NASLib's NB101 file; their metric VALUES are fixture values made up for
the format test (marked as such below), not NB101 results.  The protobuf bytes are checked
against the ``protobuf`` library's own serializer of the official ModelMetrics schema.
"""

from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path

import numpy as np
import pytest

from benchbench.spaces import NB101Space
from benchbench.testing import check_benchmark
from tabular_data import TabularBenchmark
from tabular_data._import_nb101 import (
    EvaluationData,
    ModelMetrics,
    TFRecordError,
    _crc32c_py,
    crc32c,
    decode_model_metrics,
    encode_model_metrics,
    import_nb101_tfrecord,
    iter_tfrecords,
    masked_crc32c,
    nb101_record,
    write_tfrecords,
)

BUDGETS = (4, 12, 36, 108)


def _fixture_metrics(acc: float, budget: int, repeat: int, params: int) -> ModelMetrics:
    """FIXTURE VALUES (not NB101 results): a deterministic function of the cell's NASLib
    val_accuracy, the budget and the repeat, in the official message layout (evaluations at
    epoch 0, budget / 2 and budget)."""
    a = acc / 100 - 0.01 * repeat - (108 - budget) / 1000
    return ModelMetrics(
        [EvaluationData(0.0, 0.0, 0.1, 0.1, 0.1),
         EvaluationData(budget / 2, 5.0 * budget, a - 0.05, a - 0.06, a - 0.07),
         EvaluationData(float(budget), 10.0 * budget + repeat, a + 0.01, a, a - 0.005,
                        f"/model_dir/model.ckpt-{budget}")],
        params, 20.0 * budget)


@pytest.fixture(scope="module")
def cells(shared_data: Path) -> dict[str, tuple]:
    from tests.conftest import require

    d = json.loads(require(shared_data / "nb101" / "nb101_500_with_zc.json").read_text())
    sp = NB101Space()
    out: dict[str, tuple] = {}
    for key, rec in d["nasbench101"]["cifar10"].items():
        a = sp.parse(key)
        out.setdefault(a.module_hash, (a, rec))
    return out


@pytest.fixture(scope="module")
def fixture_file(cells: dict[str, tuple], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tfrecord") / "nasbench_fixture.tfrecord"

    def payloads():
        for h, (a, rec) in cells.items():
            for budget in BUDGETS:
                for r in range(3):
                    m = _fixture_metrics(rec["val_accuracy"], budget, r,
                                         int(round(rec["params"] * 1e6)))
                    yield nb101_record(h, budget, a.matrix, a.op_names, m)

    write_tfrecords(path, payloads())
    return path


def test_crc32c_check_value_and_fallback() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)
    assert _crc32c_py(b"123456789") == 0xE3069283
    rng = random.Random(0)
    for n in (0, 1, 7, 8, 100, 1000):
        data = bytes(rng.getrandbits(8) for _ in range(n))
        assert _crc32c_py(data) == crc32c(data)
    c = crc32c(b"abc")
    assert masked_crc32c(b"abc") == ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) % 2**32


def _official_message_class():
    """ModelMetrics built by the protobuf library from the official .proto's schema."""
    descriptor_pb2 = pytest.importorskip("google.protobuf.descriptor_pb2")
    from google.protobuf import descriptor_pool, message_factory

    f = descriptor_pb2.FileDescriptorProto(name="model_metrics_test.proto", package="nasbench",
                                           syntax="proto2")
    ev = f.message_type.add(name="EvaluationData")
    D = descriptor_pb2.FieldDescriptorProto
    for num, name in enumerate(["current_epoch", "training_time", "train_accuracy",
                                "validation_accuracy", "test_accuracy"], start=1):
        ev.field.add(name=name, number=num, type=D.TYPE_DOUBLE, label=D.LABEL_OPTIONAL)
    ev.field.add(name="checkpoint_path", number=6, type=D.TYPE_STRING, label=D.LABEL_OPTIONAL)
    mm = f.message_type.add(name="ModelMetrics")
    mm.field.add(name="evaluation_data", number=1, type=D.TYPE_MESSAGE,
                 type_name=".nasbench.EvaluationData", label=D.LABEL_REPEATED)
    mm.field.add(name="trainable_parameters", number=2, type=D.TYPE_INT32,
                 label=D.LABEL_OPTIONAL)
    mm.field.add(name="total_time", number=3, type=D.TYPE_DOUBLE, label=D.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("nasbench.ModelMetrics"))


def test_model_metrics_bytes_equal_protobuf_library() -> None:
    cls = _official_message_class()
    ours = _fixture_metrics(93.5, 108, 1, 2_345_678)
    ref = cls()
    for ev in ours.evaluation_data:
        e = ref.evaluation_data.add()
        for name in ("current_epoch", "training_time", "train_accuracy", "validation_accuracy",
                     "test_accuracy"):
            setattr(e, name, getattr(ev, name))
        if ev.checkpoint_path:
            e.checkpoint_path = ev.checkpoint_path
    ref.trainable_parameters = ours.trainable_parameters
    ref.total_time = ours.total_time
    assert encode_model_metrics(ours) == ref.SerializeToString()
    back = decode_model_metrics(ref.SerializeToString())
    assert back == ours
    neg = cls(trainable_parameters=-5)  # int32 as a 10-byte varint
    assert decode_model_metrics(neg.SerializeToString()).trainable_parameters == -5
    with pytest.raises(ValueError, match="truncated"):
        decode_model_metrics(ref.SerializeToString()[:-3])


def test_round_trip(fixture_file: Path, cells: dict[str, tuple], tmp_path: Path) -> None:
    payloads = list(iter_tfrecords(fixture_file))
    assert len(payloads) == len(cells) * len(BUDGETS) * 3
    out = import_nb101_tfrecord(fixture_file, out=tmp_path / "nb101.h5")
    with TabularBenchmark(out) as b:
        assert b.space.size == len(cells) == 292
        assert b.fidelity("cifar10").values == (2, 4, 6, 12, 18, 36, 54, 108)
        assert b.seeds("cifar10") == (0, 1, 2)
        h, (a, rec) = next(iter(cells.items()))
        for budget in BUDGETS:
            for r in range(3):
                m = _fixture_metrics(rec["val_accuracy"], budget, r, 0).evaluation_data
                for ev in m[1:]:
                    e = b.query(h, dataset="cifar10", fidelity=int(ev.current_epoch),
                                data_seed=r)
                    assert e.values["valid_acc"] == pytest.approx(100 * ev.validation_accuracy)
                    assert e.values["train_acc"] == pytest.approx(100 * ev.train_accuracy)
                    assert e.values["test_acc"] == pytest.approx(100 * ev.test_accuracy)
                    assert e.cost_s == ev.training_time
        e = b.query(a, dataset="cifar10")
        assert e.values["params"] == pytest.approx(rec["params"])
        assert b.query(NB101Space().format(a), dataset="cifar10").arch_id == h
        check_benchmark(b, n=6)
    # importing the same bytes again is a no-op
    assert import_nb101_tfrecord(fixture_file, out=tmp_path / "nb101.h5") == out


def _records(path: Path) -> list[tuple[int, int]]:
    """(offset, payload length) of each record."""
    data = path.read_bytes()
    out, off = [], 0
    while off < len(data):
        (n,) = struct.unpack("<Q", data[off:off + 8])
        out.append((off, n))
        off += 16 + n
    return out


def _damaged(src: Path, dst: Path, edit) -> Path:
    data = bytearray(src.read_bytes())
    edit(data, _records(src))
    dst.write_bytes(bytes(data))
    return dst


def test_bad_length_crc(fixture_file: Path, tmp_path: Path) -> None:
    def edit(d, recs):
        off = recs[5][0]
        d[off + 8] ^= 0xFF
    p = _damaged(fixture_file, tmp_path / "x.tfrecord", edit)
    with pytest.raises(TFRecordError, match=r"record 5 at byte \d+: bad length CRC") as e:
        import_nb101_tfrecord(p, out=tmp_path / "x.h5")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "x.h5").exists()


def test_corrupted_length_field(fixture_file: Path, tmp_path: Path) -> None:
    def edit(d, recs):
        d[recs[3][0] + 1] ^= 0x10  # the length changes, its CRC no longer matches
    p = _damaged(fixture_file, tmp_path / "x.tfrecord", edit)
    with pytest.raises(TFRecordError, match="record 3 .*bad length CRC"):
        list(iter_tfrecords(p))


def test_bad_payload_crc(fixture_file: Path, tmp_path: Path) -> None:
    def edit(d, recs):
        off, n = recs[7]
        d[off + 12 + n // 2] ^= 0x01
    p = _damaged(fixture_file, tmp_path / "x.tfrecord", edit)
    with pytest.raises(TFRecordError, match="record 7 at byte .*bad payload CRC"):
        import_nb101_tfrecord(p, out=tmp_path / "x.h5")


@pytest.mark.parametrize("cut", [5, 20, 3])
def test_truncated_file(fixture_file: Path, tmp_path: Path, cut: int) -> None:
    data = fixture_file.read_bytes()
    recs = _records(fixture_file)
    off, n = recs[-1]
    end = {5: off + 5, 20: off + 20, 3: off + 16 + n - 3}[cut]
    p = tmp_path / "t.tfrecord"
    p.write_bytes(data[:end])
    with pytest.raises(TFRecordError, match=f"truncated file: record {len(recs) - 1}"):
        import_nb101_tfrecord(p, out=tmp_path / "t.h5")


def test_payload_that_is_not_an_nb101_record(tmp_path: Path) -> None:
    p = tmp_path / "j.tfrecord"
    write_tfrecords(p, [b'["abc", 108]'])
    with pytest.raises(ValueError, match="record 0 is not an NB101 record"):
        import_nb101_tfrecord(p, out=tmp_path / "j.h5")


def test_hash_that_does_not_match_its_spec(cells: dict[str, tuple], tmp_path: Path) -> None:
    (h, (a, rec)), (h2, _) = list(cells.items())[:2]
    p = tmp_path / "h.tfrecord"
    write_tfrecords(p, [nb101_record(h2, 108, a.matrix, a.op_names,
                                     _fixture_metrics(90.0, 108, 0, 1))])
    with pytest.raises(ValueError, match=f"stored hash {h2} but the spec hashes to {h}"):
        import_nb101_tfrecord(p, out=tmp_path / "h.h5")


def test_fourth_repeat_refused(cells: dict[str, tuple], tmp_path: Path) -> None:
    h, (a, _) = next(iter(cells.items()))
    p = tmp_path / "r.tfrecord"
    rec = nb101_record(h, 108, a.matrix, a.op_names, _fixture_metrics(90.0, 108, 0, 1))
    write_tfrecords(p, [rec] * 4)
    with pytest.raises(ValueError, match="a 4th run of cell"):
        import_nb101_tfrecord(p, out=tmp_path / "r.h5")


def test_nan_survives() -> None:
    m = ModelMetrics([EvaluationData(1.0, math.nan, 0.5, 0.5, 0.5)], None, math.nan)
    back = decode_model_metrics(encode_model_metrics(m))
    assert math.isnan(back.evaluation_data[0].training_time)
    assert back.trainable_parameters is None
    assert np.isnan(back.total_time)


def test_value_buffer_grows_without_losing_values() -> None:
    from tabular_data._import_nb101 import _Grow

    g = _Grow(10)
    g.epoch(3)[7, 1] = (1.0, 2.0, 3.0, 4.0)
    g.params[7] = 0.5
    g.ensure(5000)
    assert g.cap >= 5000 and g.epoch(3).shape == (g.cap, 3, 4)
    assert g.epoch(3)[7, 1].tolist() == [1.0, 2.0, 3.0, 4.0] and g.params[7] == 0.5
    assert np.isnan(g.epoch(3)[4999]).all() and np.isnan(g.epoch(0)).all()
