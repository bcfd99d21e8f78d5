"""`--refit`: the refit dataset, the replayed learning rates, and an item first seen in validation.

A tiny log (6 users × 5 sessions of 3 clicks, temporal 80/90% cuts) in which item "late" is
first clicked in the validation period and clicked again in the test period: a model trained on
the training split alone cannot rank it; the refit model can.
"""

import importlib.util
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from hiertcn_keras.data import splits
from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.data.prepare import PrepareConfig, prepare
from hiertcn_keras.training.refit import ReplayLearningRates, refit, refit_data_for, selection_summary
from hiertcn_keras.training.train_config import TrainConfig
from hiertcn_keras.training.trainer import model_config_for, train

TINY = dict(embedding_dim=8, high_units=(8, 8), tcn_channels=(8, 8), kernel_size=2, batch_size=2,
            sessions_per_batch=2, learning_rate=1e-2)


def _make_log():
    spec = importlib.util.spec_from_file_location(
        "data_conftest", Path(__file__).resolve().parents[1] / "data" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_log


def late_item_rows():
    rng = np.random.default_rng(1)
    rows = []
    for k in range(6):
        for j in range(5):
            for p in range(3):
                item = f"i{int(rng.integers(0, 8))}"
                if j == 4 and ((k < 2 and p == 0) or (k >= 4 and p == 2)):
                    item = "late"
                rows.append((f"u{k}", item, j * 7200 + k * 600 + p * 30))
    return rows


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("late") / "prepared"
    prepare(_make_log()(late_item_rows()), PrepareConfig(max_session_len=4)).write(path)
    return path


def _late(dataset):
    return int(np.flatnonzero(dataset.items["id"].to_numpy() == "late")[0]) + 1


def test_refit_dataset_merges_validation_into_training(data_dir, tmp_path):
    dataset = PreparedDataset(data_dir)
    late = _late(dataset)
    ev = dataset.events
    assert late > dataset.n_catalogue  # not rankable: first seen in validation
    assert set(ev["split"][ev["item"] == late]) == {splits.VALID, splits.TEST}
    merged, new_index = refit_data_for(dataset, tmp_path / "refit")
    assert merged.n_catalogue > dataset.n_catalogue
    assert new_index[late] <= merged.n_catalogue  # now in the catalogue
    assert (merged.events["split"] == splits.VALID).sum() == 0
    np.testing.assert_array_equal(merged.events["split"] == splits.TEST, ev["split"] == splits.TEST)
    ids = merged.items["id"].to_numpy()
    np.testing.assert_array_equal(ids[new_index[ev["item"]] - 1], dataset.items["id"].to_numpy()[ev["item"] - 1])
    # Reused when present; refused when it belongs to other data.
    assert refit_data_for(dataset, tmp_path / "refit")[0].fingerprint == merged.fingerprint
    with pytest.raises(ValueError, match="not the refit dataset"):
        refit_data_for(merged, tmp_path / "refit")


def test_replayed_learning_rates_are_set_per_epoch():
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.Adam(1.0), loss="mse")
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    x = np.ones((4, 1), "float32")
    model.fit(x, x, epochs=3, verbose=0, callbacks=[ReplayLearningRates([0.1, 0.03, 0.01]), Record()])
    np.testing.assert_allclose(seen, [0.1, 0.03, 0.01], rtol=1e-6)


def test_refit_ranks_an_item_first_seen_in_validation(data_dir, tmp_path):
    dataset = PreparedDataset(data_dir)
    config = model_config_for(dataset, model="hiertcn", **TINY)
    loop = TrainConfig(epochs=2, patience=5, jit_compile=False, verbose=0)
    _, _, selected = train(data_dir, config, loop, tmp_path / "selection")
    epochs, rates = selection_summary(tmp_path / "selection", "recall@10")
    assert 1 <= epochs <= 2 and len(rates) == epochs
    model, history, metrics = refit(data_dir, tmp_path / "selection", loop, tmp_path / "run",
                                    refit_data=tmp_path / "refit-data")
    assert metrics["refit_epochs"] == epochs and len(history["loss"]) == epochs
    assert metrics["n_targets"] == selected["n_targets"]
    # The refit run scores the test clicks on "late" that the selection run could not.
    late_test = int(((dataset.events["item"] == _late(dataset)) & (dataset.events["split"] == splits.TEST)).sum())
    assert late_test > 0 and metrics["n_scored"] == selected["n_scored"] + late_test
    assert metrics["coverage"] > selected["coverage"]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["refit_epochs"] == epochs
    merged = PreparedDataset(tmp_path / "refit-data")
    assert model.model_config.n_catalogue == merged.n_catalogue
