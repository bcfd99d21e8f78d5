"""HierTCN's module: files saved before the SessionGRU → HighLevelGRU rename still load, and
the online steps (`HierarchicalSteps`) give the offline model's numbers.

The fixture `tests/fixtures/hiertcn_v1/` was written by the code before the rename: a tiny
learned-space HierTCN `Recommender` (12 items, high_units (3, 2), one TCN block of 4 channels,
B = 2, S = 3, L = 4, decay bandwidth 3600 s) and, in `expected.npz`, one batch and the user
model's output `u` [2, 3, 4, 4] on it.
"""

from pathlib import Path

import keras
import numpy as np
import pytest

import hiertcn_keras.models  # noqa: F401  (registers the custom objects)
from hiertcn_keras.layers import HighLevelGRU
from hiertcn_keras.models import ModelConfig, build_recommender
from hiertcn_keras.models.hiertcn import HIGH_LEVEL, RESIDUAL, HierarchicalSteps

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hiertcn_v1"


def _expected():
    arrays = dict(np.load(FIXTURE / "expected.npz"))
    return {k: v for k, v in arrays.items() if k != "u"}, arrays["u"]


def test_file_saved_before_the_rename_loads_with_the_same_outputs():
    recommender = keras.models.load_model(FIXTURE / "recommender.keras")
    user_model = recommender.user_model
    gru = [layer for layer in user_model.layers if isinstance(layer, HighLevelGRU)]
    assert [layer.name for layer in gru] == ["session_gru"]  # the old layer name, the new class
    batch, expected = _expected()
    u = keras.ops.convert_to_numpy(user_model(batch, training=False))
    np.testing.assert_allclose(u, expected, rtol=1e-6, atol=1e-6)


def test_online_fold_of_the_old_file_equals_the_offline_context():
    recommender = keras.models.load_model(FIXTURE / "recommender.keras")
    user_model = recommender.user_model
    steps = HierarchicalSteps(user_model, "hiertcn")
    batch, _ = _expected()
    gru = steps.high_level
    gru.reset_state()
    context = keras.Model(user_model.inputs, gru.output[0])(batch, training=False)
    context = keras.ops.convert_to_numpy(context)  # [B, S, H]
    # Row 0: one user over three sessions; the state before session 1 is session 0 folded from
    # zero, decayed by its gap of 1800 s: exp(-1800 / 3600).
    decay = np.array([[np.exp(-1800.0 / 3600.0)]], np.float32)
    folded = steps.fold(np.zeros((1, steps.state_size), np.float32), batch["items"][0, :1], decay)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(folded), context[0, 1:2], rtol=1e-5, atol=1e-6)
    # And the low level from that context is the model's output at session 1.
    inputs = batch["inputs"][0, 1][None]
    u = steps.low_level(inputs, context[0, 1:2])
    batch_u = keras.ops.convert_to_numpy(user_model(batch, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(u)[0], batch_u[0, 1], rtol=1e-5, atol=1e-5)


def test_new_models_name_the_high_level_gru(tmp_path):
    config = ModelConfig(model="hiertcn", n_items=12, n_catalogue=11, loss="softmax", embedding_dim=4,
                         high_units=(3,), tcn_channels=(4,), kernel_size=2, batch_size=2,
                         sessions_per_batch=3, max_session_len=4, output_dim=4)
    recommender = build_recommender(config)
    assert isinstance(recommender.user_model.get_layer(HIGH_LEVEL), HighLevelGRU)
    batch, _ = _expected()
    before = keras.ops.convert_to_numpy(recommender.user_model(batch, training=False))
    recommender.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    after = keras.ops.convert_to_numpy(loaded.user_model(batch, training=False))
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)


def _residual_config(model="hiertcn", **changes):
    return ModelConfig(model=model, n_items=12, n_catalogue=11, loss="softmax", embedding_dim=4,
                       high_units=(3,), tcn_channels=(4,), low_gru_units=(4,), kernel_size=2, batch_size=2,
                       sessions_per_batch=3, max_session_len=4, output_dim=4, **{"last_item_residual": True, **changes})


def test_last_item_residual_adds_a_map_of_the_current_item_and_round_trips(tmp_path):
    recommender = build_recommender(_residual_config())
    user_model = recommender.user_model
    residual = user_model.get_layer(RESIDUAL)
    batch, _ = _expected()
    u = keras.ops.convert_to_numpy(user_model(batch, training=False))
    # Zeroing the residual's kernel leaves exactly the model without it.
    kernel = residual.kernel.numpy()
    residual.kernel.assign(np.zeros_like(kernel))
    without = keras.ops.convert_to_numpy(user_model(batch, training=False))
    residual.kernel.assign(kernel)
    items = keras.ops.convert_to_numpy(user_model.get_layer("item_embedding")(batch["inputs"]))
    np.testing.assert_allclose(u - without, items @ kernel, rtol=1e-5, atol=1e-5)
    assert np.abs(u - without).max() > 1e-4  # the path is live
    recommender.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert loaded.model_config.last_item_residual
    after = keras.ops.convert_to_numpy(loaded.user_model(batch, training=False))
    np.testing.assert_allclose(after, u, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("model", ["hiertcn", "hiergru"])
def test_online_low_level_includes_the_last_item_residual(model):
    user_model = build_recommender(_residual_config(model)).user_model
    steps = HierarchicalSteps(user_model, model)
    assert steps.residual is not None
    batch, _ = _expected()
    steps.high_level.reset_state()
    context = keras.ops.convert_to_numpy(
        keras.Model(user_model.inputs, steps.high_level.output[0])(batch, training=False))
    steps.high_level.reset_state()
    batch_u = keras.ops.convert_to_numpy(user_model(batch, training=False))
    u = steps.low_level(batch["inputs"][0, 1][None], context[0, 1:2])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(u)[0], batch_u[0, 1], rtol=1e-5, atol=1e-5)


def test_last_item_residual_is_refused_for_models_without_a_session_level():
    with pytest.raises(ValueError, match="last_item_residual needs model hiertcn or hiergru"):
        _residual_config("gru")
    recorded = {k: v for k, v in _residual_config().to_dict().items() if k != "last_item_residual"}
    assert ModelConfig.from_dict(recorded).last_item_residual is False  # configs recorded before it: off


@pytest.mark.parametrize("model, expected", [("hiertcn", True), ("hiergru", True), ("hrnn", False),
                                             ("gru", False), ("gru4rec", False), ("tcn", False)])
def test_last_item_residual_is_the_default_of_the_models_with_a_session_level(model, expected):
    config = ModelConfig(model=model, n_items=12, n_catalogue=11)
    assert config.last_item_residual is expected
    assert ModelConfig.from_dict(config.to_dict()).last_item_residual is expected  # recorded, round-trips
    plain = config.replace(last_item_residual=False)
    assert ModelConfig.from_dict(plain.to_dict()).last_item_residual is False


def test_the_papers_plain_model_has_no_residual_layer_and_loads_as_saved(tmp_path):
    recommender = build_recommender(_residual_config(last_item_residual=False))
    assert RESIDUAL not in [layer.name for layer in recommender.user_model.layers]
    recommender.save(tmp_path / "plain.keras")
    loaded = keras.models.load_model(tmp_path / "plain.keras")
    assert loaded.model_config.last_item_residual is False
    assert RESIDUAL not in [layer.name for layer in loaded.user_model.layers]
