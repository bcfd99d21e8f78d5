import keras
import numpy as np
import pytest

from hiertcn_keras.layers import TCN, SessionDistributed


def _x(b=2, s=3, steps=5, f=4, seed=0):
    return np.random.default_rng(seed).normal(size=(b, s, steps, f)).astype("float32")


@pytest.mark.parametrize(
    "make_inner", [lambda: TCN((6, 6), kernel_size=3), lambda: keras.layers.Dense(3)]
)
def test_equals_time_distributed_on_same_weights(make_inner, np_out):
    inner = make_inner()
    wrapped = SessionDistributed(inner)
    x = _x()
    out = np_out(wrapped, x)
    reference = np_out(keras.layers.TimeDistributed(inner), x)  # shares `inner`'s weights
    assert out.shape == reference.shape
    np.testing.assert_allclose(out, reference, rtol=1e-6, atol=1e-6)
    assert isinstance(wrapped, keras.layers.TimeDistributed)


def test_passes_folded_mask_to_layers_that_take_one(np_out):
    inner = keras.layers.GRU(3, return_sequences=True)
    x = _x()
    mask = np.ones(x.shape[:3], bool)
    mask[0, 1, 3:] = False
    mask[1, 2, 1:] = False
    out = np_out(SessionDistributed(inner), x, mask=mask)
    reference = np_out(keras.layers.TimeDistributed(inner), x, mask=mask)
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-6)


def test_output_shape_with_unknown_batch():
    wrapped = SessionDistributed(TCN((6,), kernel_size=3))
    assert wrapped.compute_output_shape((None, 3, 5, 4)) == (None, 3, 5, 6)
    symbolic = wrapped(keras.Input((3, 5, 4)))
    assert symbolic.shape == (None, 3, 5, 6)
    with pytest.raises(ValueError, match=r"got shape \(None, 4\)"):
        SessionDistributed(keras.layers.Dense(2)).build((None, 4))


def test_config_round_trip(np_out):
    wrapped = SessionDistributed(TCN((5,), kernel_size=2), name="sd")
    x = _x()
    expected = np_out(wrapped, x)
    config = wrapped.get_config()
    assert config["layer"]["registered_name"] == "hiertcn>TCN"
    clone = SessionDistributed.from_config(config)
    clone.build(x.shape)
    clone.set_weights(wrapped.get_weights())
    np.testing.assert_array_equal(np_out(clone, x), expected)


def test_keras_file_round_trip(save_and_load, np_out):
    inputs = keras.Input((3, 5, 4))
    outputs = SessionDistributed(TCN((6, 6), kernel_size=3), name="session_tcn")(inputs)
    model = keras.Model(inputs, outputs, name="sd_model")
    loaded = save_and_load(model)
    assert isinstance(loaded.get_layer("session_tcn"), SessionDistributed)
    x = _x()
    np.testing.assert_array_equal(np_out(loaded, x), np_out(model, x))
