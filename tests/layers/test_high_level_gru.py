"""HighLevelGRU against an independent NumPy GRU (reset_after=False formulas), slot by slot."""

import keras
import numpy as np
import pytest

from hiertcn_keras.layers import GateBias, HighLevelGRU

UNITS = (3, 2)  # H = 5
F = 4


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_gru_step(x, h, kernel, recurrent, bias):
    """TF1 / Keras reset_after=False GRU; weight columns are laid out [z | r | h]."""
    u = h.shape[-1]
    x_z, x_r, x_h = np.split(x @ kernel + bias, 3, axis=-1)
    z = _sigmoid(x_z + h @ recurrent[:, :u])
    r = _sigmoid(x_r + h @ recurrent[:, u : 2 * u])
    candidate = np.tanh(x_h + (r * h) @ recurrent[:, 2 * u :])
    return z * h + (1 - z) * candidate


def np_high_level_gru(weights, x, start, mask, gap=None, bandwidth=None, h0=None):
    """Reference: per row and slot, reset -> decay -> context -> masked update."""
    batch, slots, _ = x.shape
    sizes = [w[1].shape[0] for w in weights]
    h0 = np.zeros((batch, sum(sizes))) if h0 is None else np.asarray(h0, "float64")
    context = np.zeros((batch, slots, sum(sizes)))
    final = np.zeros((batch, sum(sizes)))
    for b in range(batch):
        states = np.split(h0[b], np.cumsum(sizes)[:-1])
        for i in range(slots):
            if start[b, i]:
                states = [np.zeros(n) for n in sizes]
            elif bandwidth is not None and mask[b, i]:
                states = [s * np.exp(-gap[b, i] / bandwidth) for s in states]
            context[b, i] = np.concatenate(states)
            if mask[b, i]:
                layer_input, new = x[b, i], []
                for (kernel, recurrent, bias), h in zip(weights, states):
                    layer_input = np_gru_step(layer_input, h, kernel, recurrent, bias)
                    new.append(layer_input)
                states = new
        final[b] = np.concatenate(states)
    return context, final


def _layer(**kwargs):
    """A built HighLevelGRU with hand-set (seeded) weights, and those weights as NumPy."""
    layer = HighLevelGRU(UNITS, **kwargs)
    layer.build((kwargs.get("batch_size"), None, F))
    rng = np.random.default_rng(42)
    weights, width = [], F
    for cell, units in zip(layer.cells, UNITS):
        w = [
            rng.normal(scale=0.6, size=(width, 3 * units)),
            rng.normal(scale=0.6, size=(units, 3 * units)),
            rng.normal(scale=0.3, size=(3 * units,)),
        ]
        cell.set_weights([a.astype("float32") for a in w])
        weights.append(w)
        width = units
    return layer, weights


def _data(batch=2, slots=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, slots, F)).astype("float32")
    start = np.zeros((batch, slots), bool)
    start[:, 0] = True
    mask = np.ones((batch, slots), bool)
    return x, start, mask


def test_gate_biases_start_at_one_candidate_at_zero():
    layer = HighLevelGRU(UNITS)
    layer.build((None, 6, F))
    for cell, units in zip(layer.cells, UNITS):
        assert not cell.reset_after
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(cell.bias), [1.0] * (2 * units) + [0.0] * units
        )
    init = keras.initializers.deserialize(keras.initializers.serialize(GateBias(0.5, -1.0)))
    assert isinstance(init, GateBias) and init.get_config() == {
        "gate_value": 0.5,
        "candidate_value": -1.0,
    }


def test_context_is_the_state_before_each_session(np_out):
    layer, weights = _layer()
    x, start, mask = _data()
    h0 = np.random.default_rng(1).normal(size=(2, 5)).astype("float32")
    context, final = np_out(layer, x, start, mask, initial_state=h0)
    assert context.shape == (2, 4, 5) and final.shape == (2, 5)
    # A user start at slot 0: the initial state is dropped, the first session sees zeros.
    np.testing.assert_array_equal(context[:, 0], 0.0)
    # context[i] = the state after session i-1, never after session i itself.
    ref_context, ref_final = np_high_level_gru(weights, x, start, mask)
    np.testing.assert_allclose(context, ref_context, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final, ref_final, rtol=1e-5, atol=1e-6)
    one_step = np_gru_step(x[:, 0], np.zeros((2, 3)), *weights[0])
    np.testing.assert_allclose(context[:, 1, :3], one_step, rtol=1e-5, atol=1e-6)


def test_initial_state_is_used_without_a_user_start(np_out):
    layer, weights = _layer()
    x, start, mask = _data()
    start[:] = False
    h0 = np.random.default_rng(1).normal(size=(2, 5)).astype("float32")
    context, final = np_out(layer, x, start, mask, initial_state=h0)
    np.testing.assert_allclose(context[:, 0], h0, rtol=1e-6)
    ref_context, ref_final = np_high_level_gru(weights, x, start, mask, h0=h0)
    np.testing.assert_allclose(context, ref_context, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final, ref_final, rtol=1e-5, atol=1e-6)


def test_reset_exactly_at_a_user_start_mid_batch(np_out):
    layer, weights = _layer()
    x, start, mask = _data()
    start[0, 2] = True  # row 0: a second user starts at slot 2; row 1: one user throughout
    context, final = np_out(layer, x, start, mask)
    assert np.abs(context[0, 1]).sum() > 0
    np.testing.assert_array_equal(context[0, 2], 0.0)  # zeroed exactly here...
    fresh = np_gru_step(x[0, 2], np.zeros(3), *weights[0])
    np.testing.assert_allclose(context[0, 3, :3], fresh, rtol=1e-5, atol=1e-6)  # ...not late
    assert np.abs(context[1, 2]).sum() > 0  # the other row is untouched
    ref_context, ref_final = np_high_level_gru(weights, x, start, mask)
    np.testing.assert_allclose(context, ref_context, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final, ref_final, rtol=1e-5, atol=1e-6)


def test_padded_session_leaves_the_state_unchanged(np_out):
    layer, weights = _layer()
    x, start, mask = _data()
    mask[:, 1] = False  # a padded slot inside both rows
    mask[1, 3] = False  # and a padded tail in row 1
    context, final = np_out(layer, x, start, mask)
    np.testing.assert_array_equal(context[:, 2], context[:, 1])
    np.testing.assert_array_equal(final[1], context[1, 3])
    ref_context, ref_final = np_high_level_gru(weights, x, start, mask)
    np.testing.assert_allclose(context, ref_context, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final, ref_final, rtol=1e-5, atol=1e-6)


def test_decay_multiplies_by_exp_of_minus_gap_over_bandwidth(np_out):
    layer, weights = _layer(decay_bandwidth=100.0)
    plain, _ = _layer()  # same seeded weights, no decay
    x, start, mask = _data()
    start[1, 2] = True
    mask[0, 3] = False
    gap = np.array([[np.inf, 50.0, 200.0, 7.0], [np.nan, 0.0, np.nan, 30.0]], "float32")
    context, final = np_out(layer, x, start, mask, gap)
    # Slot 1: the state after session 0 times exp(-gap / 100): exp(-0.5) in row 0, 1 in row 1.
    after_first = np_out(plain, x[:, :1], start[:, :1], mask[:, :1])[1]
    np.testing.assert_allclose(context[0, 1], np.exp(-0.5) * after_first[0], rtol=1e-5)
    np.testing.assert_allclose(context[1, 1], after_first[1], rtol=1e-6)
    # A user start ignores its gap (inf or NaN); a padded slot (row 0, slot 3) does not decay.
    np.testing.assert_array_equal(context[:, 0], 0.0)
    np.testing.assert_array_equal(context[1, 2], 0.0)
    assert np.isfinite(context).all() and np.isfinite(final).all()
    ref_context, ref_final = np_high_level_gru(weights, x, start, mask, gap, 100.0)
    np.testing.assert_allclose(context, ref_context, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final, ref_final, rtol=1e-5, atol=1e-6)


def test_stateful_carries_rows_across_calls_and_resets_at_slot_0(np_out):
    layer, weights = _layer(stateful=True, batch_size=2)
    x, start, mask = _data(slots=6)
    start[0, 3] = True  # row 0: a new user at slot 0 of the second call; row 1 continues
    first_context, first_final = np_out(layer, x[:, :3], start[:, :3], mask[:, :3])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.state), first_final)
    second_context, _ = np_out(layer, x[:, 3:], start[:, 3:], mask[:, 3:])
    np.testing.assert_array_equal(second_context[0, 0], 0.0)  # reset
    np.testing.assert_allclose(second_context[1, 0], first_final[1], rtol=1e-6)  # carried
    ref_context, ref_final = np_high_level_gru(weights, x, start, mask)
    np.testing.assert_allclose(
        np.concatenate([first_context, second_context], axis=1), ref_context, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.state), ref_final, rtol=1e-5)
    layer.reset_state()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.state), 0.0)
    with pytest.raises(ValueError, match="got a batch of 3 rows"):
        layer(np.zeros((3, 2, F), "float32"))


def _stateful_model(batch, units=UNITS, outputs="both"):
    x = keras.Input((2, F), batch_size=batch, name="x")
    start = keras.Input((2,), batch_size=batch, dtype="bool", name="start")
    mask = keras.Input((2,), batch_size=batch, dtype="bool", name="mask")
    gru = HighLevelGRU(units, stateful=True, batch_size=batch, name="high_level")
    context, final = gru(x, start, mask)
    outputs = [context, final] if outputs == "both" else final
    model = keras.Model([x, start, mask], outputs, name="stateful_model")
    return model, gru


def test_stateful_carry_inside_jit_predict_equals_one_long_call(save_and_load, np_out):
    batch = 2
    model, gru = _stateful_model(batch)
    plain, _ = _layer()  # stateless reference with the same weights
    for cell, plain_cell in zip(gru.cells, plain.cells):
        cell.set_weights(plain_cell.get_weights())
    model.compile(optimizer="sgd", jit_compile=True)
    model.optimizer.build(model.trainable_variables)  # saved and loaded alike
    x, start, mask = _data(batch=batch, slots=6)
    start[1, 2] = True  # row 1: new user at slot 0 of the second batch
    mask[0, 5] = False  # row 0: padded last slot of the third batch

    def batches(a):  # the long [B, 6] history as three batches of 2 slots, stacked on rows
        return np.concatenate([a[:, 0:2], a[:, 2:4], a[:, 4:6]], axis=0)

    contexts, finals = model.predict(
        [batches(x), batches(start), batches(mask)], batch_size=batch, verbose=0
    )
    long_context, long_final = np_out(plain, x, start, mask)
    stitched = np.concatenate([contexts[0:2], contexts[2:4], contexts[4:6]], axis=1)
    np.testing.assert_allclose(stitched, long_context, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(finals[4:6], long_final, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gru.state), long_final, rtol=1e-5)

    # The carried state is saved with the model: both continue identically.
    loaded = save_and_load(model)
    more = [x[:, :2], np.zeros_like(start[:, :2]), mask[:, :2]]
    np.testing.assert_array_equal(np_out(loaded, more)[0], np_out(model, more)[0])


def test_stateful_carry_inside_jit_fit(np_out):
    batch = 2
    model, gru = _stateful_model(batch, units=(3,), outputs="final")
    plain = HighLevelGRU((3,))
    plain.build((None, None, F))
    plain.cells[0].set_weights(gru.cells[0].get_weights())
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    x, start, mask = _data(batch=2 * batch, slots=2)
    start[2:] = False  # the second batch continues the first batch's users
    # The forward pass of a train step uses the weights from before the update, so the state
    # carried out of two steps is: the first batch's state with the first weights, fed to
    # the second batch with the weights after one update; check the first step exactly
    # and the second one for being a continuation (not a restart).
    model.fit([x[:2], start[:2], mask[:2]], np.zeros((batch, 3)), batch_size=batch, verbose=0)
    first_final = np_out(plain, x[:2], start[:2], mask[:2])[1]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(gru.state), first_final, rtol=1e-5, atol=1e-6
    )
    plain.cells[0].set_weights(gru.cells[0].get_weights())  # the updated weights
    model.fit([x[2:], start[2:], mask[2:]], np.zeros((batch, 3)), batch_size=batch, verbose=0)
    continued = np_out(plain, x[2:], start[2:], mask[2:], initial_state=first_final)[1]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(gru.state), continued, rtol=1e-5, atol=1e-6
    )


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="dynamic S exists only in TF graphs"
)
def test_dynamic_number_of_slots_uses_scan_with_same_numbers(np_out):
    import tensorflow as tf

    layer, weights = _layer(decay_bandwidth=60.0)
    x, start, mask = _data(slots=5)
    start[0, 3] = True
    mask[1, 2] = False
    gap = np.full(start.shape, 30.0, "float32")
    spec = [
        tf.TensorSpec((None, None, F), "float32"),
        tf.TensorSpec((None, None), "bool"),
        tf.TensorSpec((None, None), "bool"),
        tf.TensorSpec((None, None), "float32"),
    ]
    graph_fn = tf.function(lambda *args: layer(*args), input_signature=spec)
    context, final = (t.numpy() for t in graph_fn(x, start, mask, gap))
    ref_context, ref_final = np_high_level_gru(weights, x, start, mask, gap, 60.0)
    np.testing.assert_allclose(context, ref_context, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final, ref_final, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, echoed",
    [
        ({"units": ()}, r"got \(\)"),
        ({"units": (4, 0)}, r"got \(4, 0\)"),
        ({"decay_bandwidth": 0.0}, "got 0.0"),
        ({"stateful": True}, "got None"),
        ({"stateful": True, "batch_size": 0}, "got 0"),
    ],
)
def test_validates_arguments(kwargs, echoed):
    with pytest.raises(ValueError, match=echoed):
        HighLevelGRU(**kwargs)


def test_decay_needs_gap():
    layer = HighLevelGRU((2,), decay_bandwidth=10.0)
    x, start, mask = _data()
    with pytest.raises(ValueError, match="needs `gap`"):
        layer(x, start, mask)


def test_config_round_trip(np_out):
    layer, _ = _layer(decay_bandwidth=30.0, stateful=True, batch_size=2, name="gru")
    config = layer.get_config()
    assert config["units"] == [3, 2] and config["decay_bandwidth"] == 30.0
    assert config["stateful"] and config["batch_size"] == 2
    clone = HighLevelGRU.from_config(config)
    clone.build((2, None, F))
    clone.set_weights(layer.get_weights())
    assert clone.get_config() == config
    x, start, mask = _data()
    gap = np.full(start.shape, 10.0, "float32")
    expected = np_out(layer, x, start, mask, gap)
    for got, want in zip(np_out(clone, x, start, mask, gap), expected):
        np.testing.assert_array_equal(got, want)


def test_keras_file_round_trip(save_and_load, np_out):
    x_in = keras.Input((4, F))
    start_in = keras.Input((4,), dtype="bool")
    mask_in = keras.Input((4,), dtype="bool")
    gap_in = keras.Input((4,))
    gru = HighLevelGRU(UNITS, decay_bandwidth=100.0, name="high_level")
    context, final = gru(x_in, start_in, mask_in, gap_in)
    assert context.shape == (None, 4, 5) and final.shape == (None, 5)
    model = keras.Model([x_in, start_in, mask_in, gap_in], [context, final], name="gru_model")
    x, start, mask = _data()
    start[1, 2] = True
    mask[0, 3] = False
    inputs = [x, start, mask, np.full(start.shape, 40.0, "float32")]
    loaded = save_and_load(model)
    assert isinstance(loaded.get_layer("high_level"), HighLevelGRU)
    for got, want in zip(np_out(loaded, inputs), np_out(model, inputs)):
        np.testing.assert_array_equal(got, want)


def test_step_is_one_unmasked_slot_of_the_reference():
    # `step(state, summary)` = the stacked cells only: the reference with one real slot, no
    # user start and no decay, started from `state`.
    layer, weights = _layer()
    x, start, mask = _data(slots=1)
    start[:] = False
    h0 = np.random.default_rng(2).normal(size=(2, 5)).astype("float32")
    new = keras.ops.convert_to_numpy(layer.step(h0, x[:, 0]))
    _, ref_final = np_high_level_gru(weights, x, start, mask, h0=h0)
    np.testing.assert_allclose(new, ref_final, rtol=1e-5, atol=1e-6)
