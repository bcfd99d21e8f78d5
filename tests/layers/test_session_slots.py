"""SlotPooling and SlotBroadcast: the padded layout's pooling and tiling, on packed rows."""

import keras
import numpy as np
import pytest

from hiertcn_keras.layers import SessionPooling
from hiertcn_keras.layers.session_slots import SlotBroadcast, SlotPooling


def _row():
    """One row: vectors a, b, c, pad; slots 0, 0, 1, (0); 2 slots plus an empty third."""
    x = np.array([[[1.0, 2.0], [3.0, 6.0], [5.0, -1.0], [np.nan, np.nan]]], "float32")
    return x, np.array([[0, 0, 1, 0]]), np.array([[True, True, True, False]])


def test_pooling_is_the_masked_mean_of_each_slot_zeros_when_empty_and_ignores_nan_padding():
    x, slot, mask = _row()
    out = keras.ops.convert_to_numpy(SlotPooling(3)(x, slot, mask))
    np.testing.assert_allclose(out, [[[2.0, 4.0], [5.0, -1.0], [0.0, 0.0]]])


def test_pooling_equals_session_pooling_on_the_padded_layout():
    rng = np.random.default_rng(0)
    lengths = [[2, 0, 3], [1, 4, 1]]
    padded = rng.normal(size=(2, 3, 4, 5)).astype("float32")
    mask = np.zeros((2, 3, 4), bool)
    for b, row in enumerate(lengths):
        for s, n in enumerate(row):
            mask[b, s, :n] = True
    packed = np.zeros((2, 8, 5), "float32")
    slot = np.zeros((2, 8), "int32")
    keep = np.zeros((2, 8), bool)
    # Row b of the packed batch holds the sessions of queue row 1 - b: slots are flat (b·S + s).
    for b in range(2):
        events = padded[1 - b][mask[1 - b]]
        packed[b, : len(events)] = events
        slot[b, : len(events)] = (1 - b) * 3 + np.nonzero(mask[1 - b])[0]
        keep[b, : len(events)] = True
    expected = keras.ops.convert_to_numpy(SessionPooling()(padded, mask))
    out = keras.ops.convert_to_numpy(SlotPooling(3)(packed, slot, keep))
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_broadcast_gives_every_real_event_its_slot_vector_and_padding_zeros():
    context = np.array([[[1.0, -2.0], [7.0, 0.5]], [[3.0, 3.0], [4.0, 4.0]]], "float32")
    slot = np.array([[0, 3, 1, 0], [2, 2, 0, 1]])  # flat slots b·S + s: events read other rows' slots
    mask = np.array([[True, True, True, False], [True, True, True, True]])
    out = keras.ops.convert_to_numpy(SlotBroadcast()(context, slot, mask))
    np.testing.assert_array_equal(out[0], [[1.0, -2.0], [4.0, 4.0], [7.0, 0.5], [0.0, 0.0]])
    np.testing.assert_array_equal(out[1], [[3.0, 3.0], [3.0, 3.0], [1.0, -2.0], [7.0, 0.5]])


def test_both_round_trip_through_a_keras_file(tmp_path):
    vectors = keras.Input((None, 2), batch_size=1)
    slot = keras.Input((None,), batch_size=1, dtype="int32")
    mask = keras.Input((None,), batch_size=1, dtype="bool")
    pooled = SlotPooling(2, name="pool")(vectors, slot, mask)
    out = SlotBroadcast(name="broadcast")(pooled, slot, mask)
    model = keras.Model([vectors, slot, mask], out)
    x, s, m = _row()
    x = np.nan_to_num(x)
    before = keras.ops.convert_to_numpy(model([x, s, m]))
    model.save(tmp_path / "slots.keras")
    loaded = keras.models.load_model(tmp_path / "slots.keras")
    assert loaded.get_layer("pool").get_config()["slots"] == 2
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded([x, s, m])), before)
    np.testing.assert_allclose(before, [[[2.0, 4.0], [2.0, 4.0], [5.0, -1.0], [0.0, 0.0]]])


@pytest.mark.parametrize("slots", [0, -1, 2.5, True])
def test_pooling_refuses_a_bad_slot_count(slots):
    with pytest.raises(ValueError, match="slots must be an int ≥ 1"):
        SlotPooling(slots)
