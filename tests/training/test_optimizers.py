"""The optimizer (Adam / AdamW) and the plateau schedule of a training run."""

import keras
import numpy as np
import pytest

from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.training.optimizers import make_optimizer, monitor_mode, schedule_callbacks
from hiertcn_keras.training.train_config import TrainConfig

CONFIG = ModelConfig(model="hiertcn", n_items=5, n_catalogue=3, learning_rate=0.1)


def test_adam_without_weight_decay_adamw_with_it():
    assert type(make_optimizer(CONFIG)) is keras.optimizers.Adam
    adamw = make_optimizer(CONFIG.replace(weight_decay=0.01))
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == pytest.approx(0.01)


def test_adamw_decays_weights_but_not_biases():
    optimizer = make_optimizer(CONFIG.replace(weight_decay=0.5))
    kernel = keras.Variable(np.full((2, 2), 2.0, "float32"), name="kernel")
    bias = keras.Variable(np.full((2,), 2.0, "float32"), name="bias")
    optimizer.build([kernel, bias])
    # Zero gradients: Adam's step is 0, so only the decoupled decay moves the weights.
    optimizer.apply_gradients([(np.zeros((2, 2), "float32"), kernel), (np.zeros(2, "float32"), bias)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernel), 2.0 * (1 - 0.1 * 0.5), rtol=1e-6)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bias), 2.0)


def _compiled_model(learning_rate):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model


@pytest.mark.parametrize("monitor, values", [("recall@10", [0.5, 0.6, 0.6, 0.55]), ("mrp", [0.5, 0.4, 0.45, 0.4])])
def test_plateau_schedule_cuts_the_rate_after_an_epoch_without_improvement(monitor, values):
    (callback,) = schedule_callbacks(TrainConfig(monitor=monitor, lr_factor=0.5, lr_patience=1))
    model = _compiled_model(0.01)
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        logs = {f"val_{monitor}": value}
        callback.on_epoch_end(epoch, logs)
        rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    # Improvement, improvement, no improvement (cut), no improvement (cut again).
    np.testing.assert_allclose(rates, [0.01, 0.01, 0.005, 0.0025], rtol=1e-6)


def test_constant_schedule_and_no_validation_add_nothing():
    assert schedule_callbacks(TrainConfig(lr_schedule="constant")) == []
    assert schedule_callbacks(TrainConfig(validate=False)) == []
    assert monitor_mode("loss") == "min" and monitor_mode("ndcg@10") == "max"


@pytest.mark.parametrize("changes", [{"lr_schedule": "cosine"}, {"lr_factor": 1.0}, {"lr_patience": 0}])
def test_schedule_settings_are_validated(changes):
    with pytest.raises(ValueError):
        TrainConfig(**changes)
