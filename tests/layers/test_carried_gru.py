"""CarriedGRU: the flat GRU's state survives from call to call and is zeroed per row at user starts.

Every expectation is a comparison with the same layer run differently (one long call vs two
chunks, carried vs fresh state), so no hand-computed GRU numbers are needed: a state that is
never carried, carried for the wrong rows, or reset one step late breaks one of the equalities.
"""

import keras
import numpy as np
import pytest

from hiertcn_keras.layers.carried_gru import CarriedGRU

B, T, F, UNITS = 2, 4, 3, (5, 4)


def _x(steps=2 * T, seed=0):
    return np.random.default_rng(seed).normal(size=(B, steps, F)).astype("float32")


def _layer(**kwargs):
    layer = CarriedGRU(UNITS, batch_size=B, **kwargs)
    layer.build((B, T, F))
    return layer


def _run(layer, x, user_start, mask=None):
    return keras.ops.convert_to_numpy(layer(x, np.asarray(user_start, bool), mask))


def _states(layer):
    return [keras.ops.convert_to_numpy(s) for s in layer.states]


def test_output_shape_and_state_variables():
    layer = _layer()
    y = _run(layer, _x(T), [True, True])
    assert y.shape == (B, T, UNITS[-1])
    assert [tuple(s.shape) for s in layer.states] == [(B, 5), (B, 4)]
    assert not any(s.trainable for s in layer.states)
    # reset_after=False (TF1 GRUCell convention): the bias is [3u], not [2, 3u].
    assert tuple(layer.grus[0].cell.bias.shape) == (3 * UNITS[0],)


def test_two_chunks_equal_one_long_call_without_reset():
    layer = _layer()
    x = _x()
    whole = _run(layer, x, [True, True])  # [B, 2T, units]
    layer.reset_state()
    first = _run(layer, x[:, :T], [True, True])
    second = _run(layer, x[:, T:], [False, False])  # carried: no user starts here
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-5, atol=1e-6)
    # The carried state differs from a fresh one (a state never carried would pass the line
    # above only if the GRU ignored its initial state; this makes that explicit).
    layer.reset_state()
    fresh = _run(layer, x[:, T:], [False, False])
    assert np.abs(fresh[:, 0] - second[:, 0]).max() > 1e-3


def test_user_start_zeroes_exactly_those_rows():
    layer = _layer()
    x = _x()
    layer.reset_state()
    fresh_second = _run(layer, x[:, T:], [True, True])  # both rows from zero state
    layer.reset_state()
    _run(layer, x[:, :T], [True, True])
    carried = _states(layer)
    mixed = _run(layer, x[:, T:], [True, False])  # row 0: new user; row 1: continues
    layer.reset_state()
    _run(layer, x[:, :T], [True, True])
    continued = _run(layer, x[:, T:], [False, False])
    # Row 0 is zeroed exactly at this call's first step (not one step late): every step equals
    # the fresh run, step 0 included.
    np.testing.assert_allclose(mixed[0], fresh_second[0], rtol=1e-6, atol=1e-7)
    # Row 1 keeps its state: it equals the carried continuation, not the fresh run.
    np.testing.assert_allclose(mixed[1], continued[1], rtol=1e-6, atol=1e-7)
    assert np.abs(mixed[1, 0] - fresh_second[1, 0]).max() > 1e-3
    assert all(np.abs(s[1]).max() > 0 for s in carried)  # there was a state to keep


def test_reset_state_zeroes_every_row():
    layer = _layer()
    _run(layer, _x(T), [True, True])
    assert all(np.abs(s).max() > 0 for s in _states(layer))
    layer.reset_state()
    assert all(np.array_equal(s, np.zeros_like(s)) for s in _states(layer))


def test_trailing_padding_keeps_the_last_real_state():
    # Row 0 has 2 real steps then padding: the carried state is the state after step 2, so the
    # next chunk continues as if the padded steps were never there.
    layer = _layer()
    x = _x()
    mask = np.ones((B, T), bool)
    mask[0, 2:] = False
    _run(layer, x[:, :T], [True, True], mask)
    padded_next = _run(layer, x[:, T:], [False, False])
    layer.reset_state()
    _run(layer, x[:, :2], [True, True])  # the same real steps of row 0, without the padding
    compact_next = _run(layer, x[:, T:], [False, False])
    np.testing.assert_allclose(padded_next[0], compact_next[0], rtol=1e-5, atol=1e-6)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"units must be positive ints, got \(\)"):
        CarriedGRU(())
    with pytest.raises(ValueError, match="batch_size must be ≥ 1, got 0"):
        CarriedGRU((3,), batch_size=0)


def test_config_round_trip():
    layer = _layer(dropout=0.25, name="flat_gru")
    config = layer.get_config()
    assert config["units"] == list(UNITS) and config["batch_size"] == B and config["dropout"] == 0.25
    clone = CarriedGRU.from_config(config)
    clone.build((B, T, F))
    clone.set_weights(layer.get_weights())
    x = _x()
    np.testing.assert_array_equal(_run(clone, x, [True, True]), _run(layer, x, [True, True]))
    assert clone.get_config() == config


def test_keras_file_round_trip(save_and_load):
    x_in = keras.Input((T, F), batch_size=B, name="x")
    start_in = keras.Input((), batch_size=B, dtype="bool", name="user_start")
    mask_in = keras.Input((T,), batch_size=B, dtype="bool", name="mask")
    y = CarriedGRU(UNITS, batch_size=B, name="flat_gru")(x_in, start_in, mask_in)
    model = keras.Model([x_in, start_in, mask_in], y, name="carried_gru_model")
    loaded = save_and_load(model)
    assert isinstance(loaded.get_layer("flat_gru"), CarriedGRU)
    x = _x(T)
    mask = np.ones((B, T), bool)
    mask[1, 3:] = False
    for m in (model, loaded):
        m.get_layer("flat_gru").reset_state()
    for start in ([True, True], [False, True]):  # the second call carries row 0's state
        expected = keras.ops.convert_to_numpy(model([x, np.array(start), mask]))
        got = keras.ops.convert_to_numpy(loaded([x, np.array(start), mask]))
        np.testing.assert_array_equal(got, expected)
