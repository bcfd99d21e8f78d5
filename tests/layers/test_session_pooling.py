import keras
import numpy as np

from hiertcn_keras.layers import SessionPooling


def _inputs():
    """x [1, 2, 3, 2] and mask [1, 2, 3]: session 0 has steps 0 and 1, session 1 none."""
    x = np.array(
        [[[[1.0, 2.0], [3.0, 6.0], [100.0, 100.0]], [[7.0, 7.0], [8.0, 8.0], [9.0, 9.0]]]],
        dtype="float32",
    )
    mask = np.array([[[True, True, False], [False, False, False]]])
    return x, mask


def test_masked_mean_hand_numbers(np_out):
    x, mask = _inputs()
    out = np_out(SessionPooling(), x, mask)
    # Session 0: ([1, 2] + [3, 6]) / 2 = [2, 4]; the padded step [100, 100] is ignored.
    # Session 1 is empty: exact zeros, not NaN (0 / 0).
    np.testing.assert_array_equal(out, [[[2.0, 4.0], [0.0, 0.0]]])


def test_float_mask_and_nan_at_padding(np_out):
    x, mask = _inputs()
    x[0, 0, 2] = np.nan  # whatever sits at a padded step must not leak
    out = np_out(SessionPooling(), x, mask.astype("float32"))
    np.testing.assert_array_equal(out, [[[2.0, 4.0], [0.0, 0.0]]])


def test_no_mask_is_plain_mean(np_out):
    x, _ = _inputs()
    np.testing.assert_allclose(np_out(SessionPooling(), x), x.mean(axis=2))


def test_config_round_trip():
    layer = SessionPooling(name="pool")
    clone = SessionPooling.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_keras_file_round_trip(save_and_load, np_out):
    x_in = keras.Input((2, 3, 2))
    m_in = keras.Input((2, 3), dtype="bool")
    pooled = SessionPooling()(x_in, m_in)
    assert pooled.shape == (None, 2, 2)
    model = keras.Model([x_in, m_in], pooled, name="pool_model")
    x, mask = _inputs()
    loaded = save_and_load(model)
    np.testing.assert_array_equal(np_out(loaded, [x, mask]), np_out(model, [x, mask]))
