"""`train` end to end on a tiny prepared dataset: the run directory, and resuming a failed run.

The dataset is the one of `test_evaluate.py` (6 users × 4 sessions, temporal protocol, 12
catalogue items, 8 scored test events), built with `tests/data/conftest.py`'s `make_log`.
Models are tiny (widths 8, B = 2, S = 2, T = 5) and train for 2 epochs through Keras' traced
`fit` without XLA (`jit_compile=False`, the XLA compile of HierTCN alone takes ~20 s here).
"""

import json

import keras
import numpy as np
import pytest

from hiertcn_keras.artifacts.run_dir import partial_dir
from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.artifacts.output_guard import MARKER
from hiertcn_keras.models import batch_choice
from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.models.recommender import Recommender
from hiertcn_keras.training import callbacks as cb
from hiertcn_keras.training import memory_check
from hiertcn_keras.training.evaluate import batcher_for, evaluate_recommender
from hiertcn_keras.training.train_config import TrainConfig
from hiertcn_keras.training.trainer import load_run, model_config_for, train

TINY = dict(
    embedding_dim=8, high_units=(8, 8), tcn_channels=(8, 8), kernel_size=2, flat_tcn_channels=(8, 8),
    batch_size=2, sessions_per_batch=2, flat_len=5, learning_rate=1e-2,
)
METRIC_KEYS = {"recall@1", "recall@5", "recall@10", "recall@20", "mrr", "mrp", "ndcg@10", "n_events",
               "protocol", "tie_policy", "model"}


@pytest.fixture(scope="module")
def data_dir(tiny_data_dir):
    return tiny_data_dir


def quiet(epochs=2, **kwargs):
    return TrainConfig(epochs=epochs, jit_compile=False, verbose=0, patience=5, **kwargs)


@pytest.fixture(scope="module")
def finished_run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "hiertcn"
    config = model_config_for(PreparedDataset(data_dir), model="hiertcn", **TINY)
    model, history, metrics = train(data_dir, config, quiet(), out)
    return out, model, history, metrics


def test_run_dir_holds_exactly_the_artifacts(finished_run):
    out, *_ = finished_run
    names = {p.name for p in out.iterdir()}
    assert {"model.keras", "config.json", "history.json", "metrics.json"} <= names
    assert names <= {"model.keras", "config.json", "history.json", "metrics.json", "logs", MARKER}
    assert json.loads((out / MARKER).read_text())["kind"] == "run"
    assert not partial_dir(out).exists()  # the .partial working folder is gone
    assert [p.name for p in out.parent.iterdir()] == ["hiertcn"]  # no temporary leftovers


def test_model_file_loads_with_plain_load_model(finished_run, data_dir):
    out, model, *_ = finished_run
    loaded = keras.models.load_model(out / "model.keras")  # no custom_objects
    assert isinstance(loaded, Recommender) and loaded.model_config == model.model_config
    batch = next(iter(batcher_for(model.model_config, PreparedDataset(data_dir).view("test")).batches()))
    outputs = []
    for m in (model, loaded):
        m.reset_states()
        outputs.append(np.asarray(m.predict_on_batch(batch)))
    np.testing.assert_array_equal(outputs[1], outputs[0])
    same, record = load_run(out)
    assert isinstance(same, Recommender)
    assert record == json.loads((out / "config.json").read_text())


def test_config_records_model_data_and_commit(finished_run, data_dir):
    out, model, *_ = finished_run
    record = json.loads((out / "config.json").read_text())
    assert "git_commit" in record  # a commit hash (with -dirty), or None outside a checkout
    assert record["git_commit"] is None or isinstance(record["git_commit"], str)
    assert record["data"]["fingerprint"] == PreparedDataset(data_dir).fingerprint
    assert record["data"]["protocol"] == "temporal"
    assert ModelConfig.from_dict(record["model"]) == model.model_config
    assert record["train"]["epochs"] == 2 and record["train"]["jit_compile"] is False
    assert record["backend"] == keras.backend.backend()


def test_history_has_validation_metrics_per_epoch(finished_run):
    out, _, history, _ = finished_run
    on_disk = json.loads((out / "history.json").read_text())
    assert on_disk == history
    assert len(on_disk["loss"]) == 2 and len(on_disk["val_recall@10"]) == 2
    assert np.isfinite(on_disk["loss"]).all()
    assert all(0.0 <= r <= 1.0 for r in on_disk["val_recall@10"])


def test_metrics_are_the_test_metrics_of_the_saved_model(finished_run, data_dir):
    out, _, _, metrics = finished_run
    on_disk = json.loads((out / "metrics.json").read_text())
    assert METRIC_KEYS <= set(on_disk)
    assert (on_disk["n_events"], on_disk["protocol"], on_disk["tie_policy"], on_disk["model"]) == (
        8, "temporal", "conservative", "hiertcn")
    loaded = keras.models.load_model(out / "model.keras")
    again = evaluate_recommender(loaded, PreparedDataset(data_dir), "test")
    assert {k: again[k] for k in METRIC_KEYS} == pytest.approx({k: on_disk[k] for k in METRIC_KEYS})
    assert on_disk == pytest.approx(metrics)


def test_killed_run_leaves_no_run_dir_and_the_rerun_resumes_from_the_backup(data_dir, tmp_path, monkeypatch):
    # A kill runs no code; an interrupt (Ctrl-C) is the kill a test can make: the checkpoint stays.
    out = tmp_path / "tcn"
    config = model_config_for(PreparedDataset(data_dir), model="tcn", **TINY)
    original = cb.EpochTimer.on_epoch_begin
    seen, weights = [], {}

    def failing(self, epoch, logs=None):
        seen.append(epoch)
        weights[("failed", epoch)] = [np.array(w) for w in self.model.trainable_weights]
        if epoch == 1:
            raise KeyboardInterrupt("killed in epoch 2")
        return original(self, epoch, logs)

    monkeypatch.setattr(cb.EpochTimer, "on_epoch_begin", failing)
    with pytest.raises(KeyboardInterrupt, match="killed in epoch 2"):
        train(data_dir, config, quiet(), out)
    assert seen == [0, 1]
    assert not out.exists()  # no final run dir for a failed run
    backup = partial_dir(out) / "backup"
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1

    seen.clear()

    def recording(self, epoch, logs=None):
        seen.append(epoch)
        weights[("rerun", epoch)] = [np.array(w) for w in self.model.trainable_weights]
        return original(self, epoch, logs)

    monkeypatch.setattr(cb.EpochTimer, "on_epoch_begin", recording)
    _, history, _ = train(data_dir, config, quiet(), out)
    assert seen == [1]  # epoch 1 (the second) only: epoch 0 is not trained again
    # The history spans both epochs: the one of the killed run (from progress.json) and the rerun's.
    assert len(history["loss"]) == 2 and len(history["val_recall@10"]) == 2
    # ... from the weights the failed run had at the end of its first epoch.
    for restored, backed_up in zip(weights[("rerun", 1)], weights[("failed", 1)]):
        np.testing.assert_array_equal(restored, backed_up)
    assert out.is_dir() and not partial_dir(out).exists()
    assert json.loads((out / "history.json").read_text()) == history



def test_the_model_pads_sessions_to_the_longest_in_the_data(tmp_path):
    # Issue 13, case 5: data prepared with --max-session-len 1000000 made training allocate
    # [B, S, 1000000, D] although no session is longer than 4.
    from hiertcn_keras.data.loaders import load_generic
    from hiertcn_keras.data.prepare import PrepareConfig, prepare

    log = tmp_path / "log.csv"
    log.write_text("user_id,item_id,timestamp\n" + "".join(
        f"u{u},i{(u + s + p) % 5},{1_600_000_000 + 7200 * s + 60 * p}\n"
        for u in range(3) for s in range(3) for p in range(4)))
    prepare(load_generic(log), PrepareConfig(max_session_len=1_000_000)).write(tmp_path / "prepared")
    assert model_config_for(PreparedDataset(tmp_path / "prepared"), model="hiertcn").max_session_len == 4


def _sized_dataset(n_train, n_catalogue=1_000):
    """What `model_config_for` reads of a prepared dataset: sizes and the events' split codes."""
    import types

    from hiertcn_keras.data.splits import split_code

    split = np.concatenate([np.full(n_train, split_code("train")), np.full(10, split_code("test"))])
    return types.SimpleNamespace(n_items=n_catalogue + 1, n_catalogue=n_catalogue, max_session_len=20,
                                 events={"split": split})


def test_model_config_for_picks_records_and_describes_the_batch(monkeypatch):
    monkeypatch.setattr(memory_check, "available_bytes", lambda: 64 * memory_check.GIB)
    config = model_config_for(_sized_dataset(2_398_739), model="hiertcn")
    assert (config.batch_size, config.batch_by_default) == (64, True)
    assert config.learning_rate == pytest.approx(batch_choice.scaled_learning_rate(64))
    assert "chosen for 2,398,739 training events" in batch_choice.describe_batch(config, 2_398_739)
    again = ModelConfig.from_dict(config.to_dict())
    assert again == config and again.to_dict()["batch_by_default"] is True
    # A small log keeps batch 8 and the default rate: `make train` trains as before.
    small = model_config_for(_sized_dataset(80_000), model="hiertcn")
    assert (small.batch_size, small.learning_rate, small.batch_by_default) == (8, 3e-3, True)


def test_an_explicit_batch_or_rate_wins(monkeypatch):
    monkeypatch.setattr(memory_check, "available_bytes", lambda: 64 * memory_check.GIB)
    explicit = model_config_for(_sized_dataset(2_398_739), model="hiertcn", batch_size=8)
    assert (explicit.batch_size, explicit.learning_rate, explicit.batch_by_default) == (8, 3e-3, False)
    assert batch_choice.describe_batch(explicit) == "given explicitly"
    rate = model_config_for(_sized_dataset(2_398_739), model="hiertcn", learning_rate=1e-3)
    assert (rate.batch_size, rate.learning_rate) == (64, 1e-3)
    flat = model_config_for(_sized_dataset(2_398_739), model="gru")
    assert (flat.batch_size, flat.batch_by_default) == (8, False)


def test_the_default_batch_is_halved_until_its_step_fits(monkeypatch):
    # Full softmax over 19,000 items: 64 rows need several GiB of logits, 8 rows far less.
    data = _sized_dataset(2_398_739, n_catalogue=19_000)
    big = ModelConfig(n_items=19_001, n_catalogue=19_000, max_session_len=20, batch_size=64)
    available = int(memory_check.estimate_step(big.replace(batch_size=16)).total / memory_check.USABLE_SHARE) + 1
    monkeypatch.setattr(memory_check, "available_bytes", lambda: available)
    config = model_config_for(data, model="hiertcn")
    assert (config.batch_size, config.batch_by_default) == (16, True)
    assert config.learning_rate == pytest.approx(batch_choice.scaled_learning_rate(16))
    # Never below the base batch: what does not fit then is refused by the memory check, as before.
    monkeypatch.setattr(memory_check, "available_bytes", lambda: 1)
    assert model_config_for(data, model="hiertcn").batch_size == batch_choice.BASE_BATCH


def test_a_time_limit_stops_mid_epoch_and_still_writes_a_scored_run(data_dir, tmp_path, capsys):
    dataset = PreparedDataset(data_dir)
    config = model_config_for(dataset, model="hiertcn", **TINY)
    steps = len(batcher_for(config, dataset.view("train"), shuffle=True, seed=0).plan(0))
    assert steps > 1
    model, history, metrics = train(data_dir, config, TrainConfig(epochs=3, jit_compile=False, verbose=2, time_limit=1e-6), tmp_path / "run")
    # The first step passes the limit: one partial epoch of one step, validated, scored and written.
    assert int(model.optimizer.iterations.numpy()) == 1
    assert history["time_limit_reached"] == [1.0] and len(history["val_recall@10"]) == 1
    assert (metrics["stopped_by"], metrics["epochs_trained"], metrics["time_limit_s"]) == ("time_limit", 1, 1e-6)
    assert 0.0 <= metrics["recall@10"] <= 1.0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["stopped_by"] == "time_limit"
    assert "time limit of 0 s reached after step 1" in capsys.readouterr().out


@pytest.mark.slow  # trains a whole epoch; the stop itself is guarded by the test above
def test_a_run_within_its_time_limit_says_it_was_not_stopped(data_dir, tmp_path):
    config = model_config_for(PreparedDataset(data_dir), model="hiertcn", **TINY)
    _, history, metrics = train(data_dir, config, quiet(epochs=1, time_limit=3600.0), tmp_path / "run")
    assert history["time_limit_reached"] == [0.0] and metrics["stopped_by"] is None
