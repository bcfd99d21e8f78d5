"""GRUStack: HierGRU's session-level model, stacked `reset_after=False` GRUs returning every step."""

import keras
import numpy as np

from hiertcn_keras.layers.gru_stack import GRUStack

N, L, F, UNITS = 3, 5, 4, (6, 3)


def _x(seed=0):
    return np.random.default_rng(seed).normal(size=(N, L, F)).astype("float32")


def _stack(**kwargs):
    stack = GRUStack(UNITS, **kwargs)
    stack.build((N, L, F))
    return stack


def test_equals_keras_grus_applied_in_turn(np_out):
    stack = _stack()
    x = _x()
    out = np_out(stack, x)
    assert out.shape == (N, L, UNITS[-1])
    # The same weights in two plain Keras GRUs, one after the other.
    first = keras.layers.GRU(UNITS[0], return_sequences=True, reset_after=False)
    second = keras.layers.GRU(UNITS[1], return_sequences=True, reset_after=False)
    first.build((N, L, F))
    second.build((N, L, UNITS[0]))
    first.set_weights(stack.grus[0].get_weights())
    second.set_weights(stack.grus[1].get_weights())
    np.testing.assert_allclose(out, np_out(second, first(x)), rtol=1e-6, atol=1e-6)
    # TF1 GRUCell convention of the official code: one bias vector [3u] (reset_after=False).
    assert [tuple(g.cell.bias.shape) for g in stack.grus] == [(18,), (9,)]


def test_causal(np_out):
    stack = _stack()
    x = _x()
    base = np_out(stack, x)
    for t in range(L):
        changed = x.copy()
        changed[:, t:] += 1.0
        out = np_out(stack, changed)
        np.testing.assert_array_equal(out[:, :t], base[:, :t])  # steps before t never see it
        assert np.abs(out[:, t] - base[:, t]).max() > 1e-4


def test_compute_output_shape():
    assert GRUStack((8, 2)).compute_output_shape((None, 7, 5)) == (None, 7, 2)


def test_config_round_trip(np_out):
    stack = _stack(dropout=0.5, name="low")
    config = stack.get_config()
    assert config["units"] == list(UNITS) and config["dropout"] == 0.5
    clone = GRUStack.from_config(config)
    clone.build((N, L, F))
    clone.set_weights(stack.get_weights())
    x = _x()
    np.testing.assert_array_equal(np_out(clone, x), np_out(stack, x))  # inference: no dropout


def test_keras_file_round_trip(save_and_load, np_out):
    inputs = keras.Input((L, F))
    model = keras.Model(inputs, GRUStack(UNITS, name="stack")(inputs), name="gru_stack_model")
    loaded = save_and_load(model)
    assert isinstance(loaded.get_layer("stack"), GRUStack)
    x = _x()
    np.testing.assert_array_equal(np_out(loaded, x), np_out(model, x))
