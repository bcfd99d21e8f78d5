"""Data-parallel training (`hiertcn_keras/training/distribute.py`) on the tiny prepared dataset.

What must hold: replica r always gets rows r·b .. r·b + b − 1 of every global batch, keeps
their carried state in its own copy of the state variable, and the replicas together compute
what one process computes on the whole batch. Two replicas need two devices: the default
suite splits the CPU into two logical devices in a subprocess (TensorFlow allows that only
before it starts); another test runs two real worker processes on 127.0.0.1.

Tolerances: a distributed step differs from a single-process step only in the order of float
additions (the replicas' gradients are summed by an all-reduce instead of inside one
matmul), about 1e-7 relative per step for float32; after 2 epochs of ~5 Adam steps the
measured differences are ~1e-7 on weights, so 1e-5 leaves room and still catches any real
difference (a replica fed the wrong rows, or a state averaged over replicas, moves weights
and states by 1e-2 or more).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from hiertcn_keras.artifacts.run_dir import partial_dir
from hiertcn_keras.cli.distribute_check import local_tf_configs, mean_training_loss
from hiertcn_keras.data.batcher import QueueBatcher
from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.models.recommender import build_recommender
from hiertcn_keras.training import callbacks as cb
from hiertcn_keras.training import distribute
from hiertcn_keras.training.evaluate import batcher_for, table_for
from hiertcn_keras.training.train_config import TrainConfig
from hiertcn_keras.training.trainer import model_config_for, train

TINY = dict(embedding_dim=8, high_units=(8, 8), tcn_channels=(8, 8), kernel_size=2, flat_tcn_channels=(8, 8),
            batch_size=2, sessions_per_batch=2, flat_len=5, learning_rate=1e-2)
# Dropout off: its random masks are drawn differently by one process and by two replicas, and
# these tests compare the two computations number for number.
TINY_FLAGS = ["--embedding-dim", "8", "--high-units", "8", "8", "--tcn-channels", "8", "8", "--batch-size", "2",
              "--sessions-per-batch", "2", "--learning-rate", "0.01", "--no-jit", "--dropout", "0",
              "--embedding-dropout", "0"]
QUIET_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def test_global_batch_must_split_evenly_over_replicas():
    with pytest.raises(ValueError, match="batch_size=6 for 4 replicas"):
        distribute.ReplicaLayout(6, 4)
    layout = distribute.ReplicaLayout(8, 4)
    assert layout.rows_per_replica == 2
    assert [layout.rows(r) for r in (0, 3)] == [slice(0, 2), slice(6, 8)]


def test_strategy_names_and_tf_config_are_checked(monkeypatch):
    with pytest.raises(ValueError, match="'horovod'"):
        TrainConfig(strategy="horovod")
    with pytest.raises(ValueError, match="'horovod'"):
        distribute.make_strategy("horovod")
    assert distribute.make_strategy("default") is None
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        distribute.make_strategy("multi-worker")
    monkeypatch.setenv("TF_CONFIG", "{cluster")
    with pytest.raises(ValueError, match="not valid JSON"):
        distribute.make_strategy("multi-worker")


@pytest.mark.parametrize("model", ["hiertcn", "gru"])
def test_carried_states_are_marked_and_become_sync_on_read(tiny_data_dir, model):
    config = model_config_for(PreparedDataset(tiny_data_dir), model=model, **TINY)
    plain = build_recommender(config)
    marked = distribute.carried_state_variables(plain)
    # HighLevelGRU: one [B, 8 + 8] state; CarriedGRU: one [B, 200] state per layer.
    expected = [(2, 16)] if model == "hiertcn" else [(2, 200), (2, 200)]
    assert [tuple(v.shape) for v in marked] == expected
    assert all(not v.trainable for v in marked)
    strategy = tf.distribute.MirroredStrategy(devices=["/cpu:0"])
    with strategy.scope(), distribute.per_replica_states():
        replicated = build_recommender(config.replace(batch_size=1))
    sync = {v.path: v.value.synchronization for v in replicated.weights}
    states = {v.path for v in distribute.carried_state_variables(replicated)}
    assert states and all(sync[p] == tf.VariableSynchronization.ON_READ for p in states)
    assert all(sync[p] != tf.VariableSynchronization.ON_READ for p in set(sync) - states)


def test_a_layer_with_unmarked_per_row_state_is_refused():
    # A layer keeping a per-row state [B, H] in a plain (unmarked) variable: a strategy would
    # mirror it, averaging the rows of different queues at every step.
    class Unmarked(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.batch_size = 4
            self.state = self.add_weight(shape=(4, 3), initializer="zeros", trainable=False, name="state")

        def call(self, x):
            return x

    inputs = keras.Input((3,), batch_size=4)
    model = keras.Model(inputs, Unmarked(name="unmarked")(inputs))
    with pytest.raises(ValueError, match="'unmarked' \\(Unmarked\\) carries per-row state"):
        distribute._check_states_are_marked(model)


def test_hrnn_marks_its_user_state(tiny_data_dir):
    config = model_config_for(PreparedDataset(tiny_data_dir), model="hrnn", **{**TINY, "hrnn_units": 8})
    model = build_recommender(config)
    distribute._check_states_are_marked(model)
    assert any("user_state" in v.path for v in distribute.carried_state_variables(model))


def test_each_replica_receives_its_own_rows_of_every_batch(tiny_data_dir):
    view = PreparedDataset(tiny_data_dir).view("train")
    config = model_config_for(PreparedDataset(tiny_data_dir), model="hiertcn", **{**TINY, "batch_size": 4})
    batcher = QueueBatcher(table_for(config, view), 4, 2, shuffle=True, seed=3)
    layout = distribute.ReplicaLayout(4, 2)
    expected = list(batcher.batches(epoch=1))
    # One worker with both replicas (MirroredStrategy): elements alternate replica 0, replica 1.
    one = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2)
    elements = list(distribute.replica_dataset(batcher, layout, one, iter([1])).as_numpy_iterator())
    assert len(elements) == 2 * len(expected)
    # Two workers of one replica each: worker 1 sees only rows 2..3 (queues 2 and 3).
    second = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    worker_1 = list(distribute.replica_dataset(batcher, layout, second, iter([1])).as_numpy_iterator())
    assert len(worker_1) == len(expected)
    for k, batch in enumerate(expected):
        for key in batch:
            np.testing.assert_array_equal(elements[2 * k][key], batch[key][0:2])
            np.testing.assert_array_equal(elements[2 * k + 1][key], batch[key][2:4])
            np.testing.assert_array_equal(worker_1[k][key], batch[key][2:4])


@pytest.mark.parametrize("model", ["hiertcn", pytest.param("gru", marks=pytest.mark.slow)])
def test_two_mirrored_replicas_compute_what_one_process_computes(tiny_data_dir, tmp_path, model):
    # Two logical CPU devices → MirroredStrategy with 2 replicas of b = 1 row each (B = 2).
    # hiertcn carries its state in HighLevelGRU, gru in CarriedGRU.
    command = [sys.executable, "-m", "hiertcn_keras.cli.distribute_check", "--data", str(tiny_data_dir),
               "--out", str(tmp_path), "--cpu-devices", "2", "--models", model, "--epochs", "2", *TINY_FLAGS]
    done = subprocess.run(command, capture_output=True, text=True, env=QUIET_ENV, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "check.json").read_text())[model]
    assert (report["replicas"], report["rows_per_replica"], report["global_batch"]) == (2, 1, 2)
    # The twin's state = replica 0's copy (row 0) and replica 1's copy (row 1) after the last
    # batch; equal to the single-process state of the same rows: each replica carried its own rows.
    assert report["max_state_difference"] < 1e-5
    assert report["max_weight_difference"] < 1e-5
    assert report["final_loss_mirrored"] == pytest.approx(report["final_loss_default"], rel=1e-5)
    # Keras' logged epoch loss counts the batch size of the call that finds the data exhausted
    # (docs/distributed.md): one process always B, two replicas 0, b or B, so with 5 steps the
    # logs read 5/6 of the true mean against 5/5 to 5/6; the final loss above is the exact check.
    assert np.allclose(report["loss_history_mirrored"], report["loss_history_default"], rtol=0.25)


def test_killed_mirrored_run_resumes_from_its_backup(tiny_data_dir, tmp_path, monkeypatch):
    # One CPU device: a 1-replica MirroredStrategy, which takes the whole distributed path (the
    # replicas' model and its twin, the distributed input, BackupAndRestore) in this process.
    config = model_config_for(PreparedDataset(tiny_data_dir), model="hiertcn", **TINY)
    train_config = TrainConfig(epochs=2, jit_compile=False, verbose=0, patience=5, strategy="mirrored")
    out = tmp_path / "run"
    original = cb.EpochTimer.on_epoch_begin
    seen = []

    def failing(self, epoch, logs=None):
        seen.append(epoch)
        if epoch == 1:
            raise RuntimeError("killed in epoch 2")
        return original(self, epoch, logs)

    monkeypatch.setattr(cb.EpochTimer, "on_epoch_begin", failing)
    with pytest.raises(RuntimeError, match="killed in epoch 2"):
        train(tiny_data_dir, config, train_config, out)
    backup = partial_dir(out) / "backup"
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1
    seen.clear()
    monkeypatch.setattr(cb.EpochTimer, "on_epoch_begin", lambda self, epoch, logs=None: (seen.append(epoch),
                                                                                       original(self, epoch, logs)))
    model, history, metrics = train(tiny_data_dir, config, train_config, out)
    assert seen == [1] and len(history["loss"]) == 2 and metrics["n_events"] == 8
    record = json.loads((out / "config.json").read_text())
    assert record["train"]["strategy"] == "mirrored"
    assert record["distribution"]["replicas"] == 1 and record["distribution"]["chief"] is True
    loaded = keras.models.load_model(out / "model.keras")  # the twin: a plain B-row Recommender
    assert type(loaded).__name__ == "Recommender" and loaded.model_config.batch_size == 2


# Three TensorFlow processes (two workers and one alone): ~25 s on 2 cores. The default suite keeps
# the two-replica check above (same all-reduce, one subprocess) and the in-process mirrored resume.
@pytest.mark.slow
def test_two_workers_on_localhost_agree_and_match_one_process(tiny_data_dir, tmp_path):
    hiertcn = str(Path(sys.executable).with_name("hiertcn"))
    common = ["train", "--data", str(tiny_data_dir), "--model", "hiertcn", "--epochs", "2", "--patience", "5",
              "--quiet", *TINY_FLAGS]
    configs = local_tf_configs(2)
    workers = [
        subprocess.Popen(
            [hiertcn, *common, "--out", str(tmp_path / "run"), "--strategy", "multi-worker"],
            env={**QUIET_ENV, "TF_CONFIG": configs[k]},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for k in range(2)
    ]
    single = subprocess.run([hiertcn, *common, "--out", str(tmp_path / "single")], capture_output=True, text=True,
                            env=QUIET_ENV, timeout=600)
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    assert single.returncode == 0, single.stderr[-3000:]

    chief, other, alone = (keras.models.load_model(tmp_path / name / "model.keras")
                           for name in ("run", "run.worker-1", "single"))
    # Both workers applied the same all-reduced gradients: bit-identical weights.
    for a, b in zip(chief.trainable_weights, other.trainable_weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # ... and the same weights and loss as one process on the whole batch (module docstring).
    for a, b in zip(chief.trainable_weights, alone.trainable_weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    dataset = PreparedDataset(tiny_data_dir)
    assert mean_training_loss(chief, dataset) == pytest.approx(mean_training_loss(alone, dataset), rel=1e-5)
    record = json.loads((tmp_path / "run" / "config.json").read_text())["distribution"]
    assert (record["replicas"], record["workers"], record["rows_per_replica"], record["chief"]) == (2, 2, 1, True)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_events"] == 8  # the chief scores
    assert json.loads((tmp_path / "run.worker-1" / "metrics.json").read_text()) == {}


def test_replica_recommender_round_trips_through_a_keras_file(tiny_data_dir, tmp_path):
    # The replicas' model is registered too: a `.keras` file of it loads without custom_objects.
    dataset = PreparedDataset(tiny_data_dir)
    config = model_config_for(dataset, model="hiertcn", **TINY)
    model = build_recommender(config, item_counts=dataset.item_counts("train"), cls=distribute.ReplicaRecommender)
    batcher = QueueBatcher(table_for(config, dataset.view("train")), config.batch_size, config.sessions_per_batch)
    batch = next(iter(batcher.batches(0)))
    model(batch)
    model.save(tmp_path / "replica.keras")
    loaded = keras.models.load_model(tmp_path / "replica.keras")
    assert type(loaded) is distribute.ReplicaRecommender
    model.reset_states()
    loaded.reset_states()
    np.testing.assert_allclose(np.asarray(loaded(batch)), np.asarray(model(batch)), atol=1e-6)


def test_packed_sessions_train_padded_under_a_strategy(tiny_data_dir):
    # Every replica's block must have one shape: a packed batcher (HierTCN's default for
    # training) feeds the replicas the padded [b, S, L] blocks of the same queue plan.
    view = PreparedDataset(tiny_data_dir).view("train")
    config = model_config_for(PreparedDataset(tiny_data_dir), model="hiertcn", **{**TINY, "batch_size": 4})
    packed = batcher_for(config, view, shuffle=True, seed=3, training=True)
    assert "slot" in next(iter(packed.batches(1)))
    padded = QueueBatcher(table_for(config, view), 4, config.sessions_per_batch, shuffle=True, seed=3)
    one = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2)
    elements = list(distribute.replica_dataset(packed, distribute.ReplicaLayout(4, 2), one, iter([1]))
                    .as_numpy_iterator())
    expected = list(padded.batches(epoch=1))
    assert len(elements) == 2 * len(expected)
    for k, batch in enumerate(expected):
        assert "slot" not in elements[2 * k]
        for key in batch:
            np.testing.assert_array_equal(elements[2 * k][key], batch[key][0:2])
