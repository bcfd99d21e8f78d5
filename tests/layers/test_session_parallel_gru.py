"""SessionParallelGRU: GRU4Rec's lanes; the state is carried from call to call and zeroed at
exactly the steps where a session starts, mid-batch too.

Each expectation compares the layer with itself run another way (one session alone from a zero
state; one long call vs two chunks), so a reset one step late, a reset missed, or a state never
carried breaks an equality.
"""

import keras
import numpy as np

from hiertcn_keras.layers import SessionParallelGRU

B, T, F, UNITS = 2, 6, 3, (5, 4)


def _x(steps=T, seed=0):
    return np.random.default_rng(seed).normal(size=(B, steps, F)).astype("float32")


def _layer(**kwargs):
    layer = SessionParallelGRU(UNITS, batch_size=B, **kwargs)
    layer.build((B, T, F))
    return layer


def _run(layer, x, starts):
    return keras.ops.convert_to_numpy(layer(x, np.asarray(starts, bool)))


def test_a_session_starting_mid_batch_equals_that_session_alone():
    layer = _layer()
    x = _x()
    starts = np.zeros((B, T), bool)
    starts[:, 0] = True
    starts[0, 3] = True  # row 0: a new session at step 3
    packed = _run(layer, x, starts)
    layer.reset_state()
    alone = np.zeros((B, T), bool)
    alone[:, 0] = True
    shifted = np.zeros_like(x)
    shifted[:, : T - 3] = x[:, 3:]
    single = _run(layer, shifted, alone)
    np.testing.assert_allclose(packed[0, 3:], single[0, : T - 3], rtol=1e-5, atol=1e-6)
    # Without the reset, step 3 sees steps 0..2 (so the equality above is not automatic).
    layer.reset_state()
    starts[0, 3] = False
    carried = _run(layer, x, starts)
    assert np.abs(carried[0, 3] - packed[0, 3]).max() > 1e-4
    np.testing.assert_allclose(carried[:, :3], packed[:, :3], rtol=1e-6, atol=1e-7)  # steps before it


def test_state_carried_across_calls_unless_a_session_starts():
    layer = _layer()
    x = _x(2 * T)
    starts = np.zeros((B, 2 * T), bool)
    starts[:, 0] = True
    whole = _run(layer, x, starts)
    layer.reset_state()
    first = _run(layer, x[:, :T], starts[:, :T])
    second = _run(layer, x[:, T:], starts[:, T:])
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-5, atol=1e-6)
    # A start at step 0 of the second call drops the carried state exactly there.
    restart = starts[:, T:].copy()
    restart[1, 0] = True
    layer.reset_state()
    _run(layer, x[:, :T], starts[:, :T])
    after = _run(layer, x[:, T:], restart)
    layer.reset_state()
    fresh = _run(layer, x[:, T:], restart)
    np.testing.assert_array_equal(after[1], fresh[1])
    assert np.abs(after[0, 0] - fresh[0, 0]).max() > 1e-4  # row 0 still carried


def test_keras_file_round_trip(save_and_load):
    inputs = keras.Input((T, F), batch_size=B)
    starts = keras.Input((T,), batch_size=B, dtype="bool")
    outputs = SessionParallelGRU(UNITS, batch_size=B, dropout=0.2, name="gru4rec")(inputs, starts)
    model = keras.Model([inputs, starts], outputs)
    x, s = _x(), np.eye(B, T, dtype=bool)
    expected = keras.ops.convert_to_numpy(model([x, s]))
    loaded = save_and_load(model)
    layer = loaded.get_layer("gru4rec")
    assert layer.get_config()["units"] == list(UNITS) and layer.dropout == 0.2
    layer.reset_state()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded([x, s])), expected, rtol=1e-6, atol=1e-6)
