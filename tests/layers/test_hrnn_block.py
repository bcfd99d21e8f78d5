"""HRNNBlock: HRNN's session GRU initialised from a user GRU that steps once per session.

Shape: B = 2 rows, S = 3 session slots, L = 4 steps, D = 3 features. The properties are
checked by running the same block on changed inputs (no hand-computed GRU numbers needed):

- output (i, t) predicts item a_t of session i from x̂, a_1 … a_{t-1} and earlier sessions, so
  changing a_t or later items of session i never changes outputs (i, ≤ t) nor sessions < i;
- session i's user state is computed before session i (never from session i's own items);
- a user start zeroes the user state exactly at its slot; a padded slot keeps it;
- the user state is carried from call to call.
"""

import keras
import numpy as np
import pytest

from hiertcn_keras.layers.hrnn_block import HRNNBlock

B, S, L, D, HS, HU = 2, 3, 4, 3, 5, 4


def _batch(seed=0, slots=S):
    rng = np.random.default_rng(seed)
    items = rng.normal(size=(B, slots, L, D)).astype("float32")
    mask = np.ones((B, slots, L), bool)
    mask[1, 1, 2:] = False  # a short session: two real items
    items[~mask] = 0.0
    start = np.zeros((B, slots), bool)
    start[:, 0] = True
    return items, mask, start, mask[..., 0].copy()


def _block(**kwargs):
    block = HRNNBlock(HS, HU, batch_size=B, **kwargs)
    block.build((B, S, L, D))
    return block


def _run(block, items, mask, start, session_mask, reset=True):
    if reset:
        block.reset_state()
    return keras.ops.convert_to_numpy(block(items, mask, start, session_mask))


@pytest.fixture(scope="module")
def block():
    keras.utils.set_random_seed(0)
    return _block()


def test_output_shape_and_user_state(block):
    out = _run(block, *_batch())
    assert out.shape == (B, S, L, HS)
    assert tuple(block.state.shape) == (B, HU) and not block.state.trainable


@pytest.mark.parametrize("session, step", [(0, 0), (0, 2), (1, 1), (2, 3)])
def test_causal_within_session_and_across_sessions(block, session, step):
    items, mask, start, smask = _batch()
    base = _run(block, items, mask, start, smask)
    changed = items.copy()
    changed[0, session, step:] += 1.0  # a_{step+1} … a_L of one session (0-based: items[step:])
    out = _run(block, changed, mask, start, smask)
    # Output index t has read x̂, items[0 .. t-1] only: indices ≤ step are unchanged, which also
    # means session `session` never sees its own items through the user state.
    np.testing.assert_array_equal(out[0, session, : step + 1], base[0, session, : step + 1])
    np.testing.assert_array_equal(out[0, :session], base[0, :session])  # earlier sessions
    np.testing.assert_array_equal(out[1], base[1])  # the other row
    if step + 1 < L:
        assert np.abs(out[0, session, step + 1] - base[0, session, step + 1]).max() > 1e-4
    if session + 1 < S:  # the user state does carry the session to the next one
        assert np.abs(out[0, session + 1, 0] - base[0, session + 1, 0]).max() > 1e-5


def test_user_start_resets_exactly_at_its_slot(block):
    items, mask, start, smask = _batch()
    start[0, 1] = True  # row 0: a new user begins at slot 1
    base = _run(block, items, mask, start, smask)
    changed = items.copy()
    changed[0, 0] += 1.0  # the previous user's session
    out = _run(block, changed, mask, start, smask)
    np.testing.assert_array_equal(out[0, 1:], base[0, 1:])  # nothing crosses the user boundary
    # Slot 1 equals the same sessions run as a fresh user from slot 0.
    fresh_start = np.zeros((B, S - 1), bool)
    fresh_start[:, 0] = True
    alone = _run(block, items[:, 1:], mask[:, 1:], fresh_start, smask[:, 1:])
    np.testing.assert_allclose(base[0, 1:], alone[0], rtol=1e-6, atol=1e-7)
    # Without the user start, slot 1 does depend on slot 0 (a reset one slot late, or a state
    # never carried, would make these equal).
    start[0, 1] = False
    carried_base = _run(block, items, mask, start, smask)
    carried = _run(block, changed, mask, start, smask)
    assert np.abs(carried[0, 1, 0] - carried_base[0, 1, 0]).max() > 1e-5


def test_padded_session_keeps_the_user_state(block):
    items, mask, start, smask = _batch()
    # Row 0: [s0, pad, s2] must equal [s0, s2] — the padded slot leaves the user state alone.
    padded_items, padded_mask = items.copy(), mask.copy()
    padded_items[0, 1], padded_mask[0, 1] = 0.0, False
    padded_smask = padded_mask[..., 0].copy()
    padded = _run(block, padded_items, padded_mask, start, padded_smask)
    keep = [0, 2]
    compact = _run(block, items[:, keep], mask[:, keep], start[:, keep], smask[:, keep])
    np.testing.assert_allclose(padded[0, 2], compact[0, 1], rtol=1e-6, atol=1e-7)
    # ... and so does a padded slot at the end of a call: the carried state is unchanged.
    _run(block, padded_items[:, :2], padded_mask[:, :2], start[:, :2], padded_smask[:, :2])
    after_pad = keras.ops.convert_to_numpy(block.state)
    _run(block, items[:, :1], mask[:, :1], start[:, :1], smask[:, :1])
    np.testing.assert_allclose(after_pad[0], keras.ops.convert_to_numpy(block.state)[0], rtol=1e-6, atol=1e-7)


def test_user_state_carried_across_calls(block):
    items, mask, start, smask = _batch(slots=4)
    whole = _run(block, items, mask, start, smask)  # one call over 4 slots
    block.reset_state()
    first = _run(block, items[:, :2], mask[:, :2], start[:, :2], smask[:, :2], reset=False)
    no_start = np.zeros((B, 2), bool)
    second = _run(block, items[:, 2:], mask[:, 2:], no_start, smask[:, 2:], reset=False)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-5, atol=1e-6)
    # With a user start at slot 0 of the second call, the carried state is dropped exactly there.
    restart = np.zeros((B, 2), bool)
    restart[:, 0] = True
    _run(block, items[:, :2], mask[:, :2], start[:, :2], smask[:, :2])
    reset_second = _run(block, items[:, 2:], mask[:, 2:], restart, smask[:, 2:], reset=False)
    fresh = _run(block, items[:, 2:], mask[:, 2:], restart, smask[:, 2:])
    np.testing.assert_allclose(reset_second, fresh, rtol=1e-6, atol=1e-7)
    assert np.abs(second[:, 0, 0] - fresh[:, 0, 0]).max() > 1e-5


def test_config_round_trip(block):
    config = block.get_config()
    assert (config["session_units"], config["user_units"], config["batch_size"]) == (HS, HU, B)
    clone = HRNNBlock.from_config(config)
    clone.build((B, S, L, D))
    clone.set_weights(block.get_weights())
    batch = _batch()
    np.testing.assert_array_equal(_run(clone, *batch), _run(block, *batch))


def test_keras_file_round_trip(save_and_load):
    items_in = keras.Input((S, L, D), batch_size=B, name="items")
    mask_in = keras.Input((S, L), batch_size=B, dtype="bool", name="mask")
    start_in = keras.Input((S,), batch_size=B, dtype="bool", name="user_start")
    smask_in = keras.Input((S,), batch_size=B, dtype="bool", name="session_mask")
    out = HRNNBlock(HS, HU, batch_size=B, name="hrnn")(items_in, mask_in, start_in, smask_in)
    model = keras.Model([items_in, mask_in, start_in, smask_in], out, name="hrnn_model")
    loaded = save_and_load(model)
    assert isinstance(loaded.get_layer("hrnn"), HRNNBlock)
    items, mask, start, smask = _batch()
    for m in (model, loaded):
        m.get_layer("hrnn").reset_state()
    for user_start in (start, np.zeros_like(start)):  # the second call carries the user state
        expected = keras.ops.convert_to_numpy(model([items, mask, user_start, smask]))
        got = keras.ops.convert_to_numpy(loaded([items, mask, user_start, smask]))
        np.testing.assert_array_equal(got, expected)


def test_dropout_acts_in_training_only_and_is_in_the_config():
    keras.utils.set_random_seed(0)
    block = _block(dropout=0.5)
    assert HRNNBlock.from_config(block.get_config()).dropout == 0.5
    batch = _batch()
    inference = [_run(block, *batch) for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    block.reset_state()
    trained = keras.ops.convert_to_numpy(block(*batch, training=True))
    assert np.abs(trained - inference[0]).max() > 1e-4
