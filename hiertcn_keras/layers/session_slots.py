"""Between packed events and session slots: AGG(session) from packed rows, and the state back to events.

Shape legend: B batch rows, S session slots per row, T packed steps per row (the batch's
sessions laid end to end, `hiertcn_keras.data.session_packing`), D and H feature sizes.

Every event of a packed batch carries `slot`, the flat index `b·S + s` of the session slot it
belongs to (a session need not sit in its slot's row), and `mask` (false at padding):

- `SlotPooling`: the masked mean of each slot's event vectors, `[B, T, D] → [B, S, D]` (a
  segment sum over the B·S slots): what `SessionPooling` computes on the padded
  `[B, S, L, D]` layout (exact zeros for an empty slot);
- `SlotBroadcast`: each event reads its slot's vector, `[B, S, H] → [B, T, H]` (a gather):
  what tiling the state over a padded session's L steps does (`RepeatVector`).

Worked example, B = 1, S = 2: vectors [a, b, c, pad], slot [0, 0, 1, 0], mask [1, 1, 1, 0]:
`SlotPooling` gives [(a + b) / 2, c]; `SlotBroadcast` of [u, v] gives [u, u, v, 0].
"""

import keras
from keras import ops


def _flat_ids(slot, mask, n_slots):
    """int32 `[B·T]`: each real event's flat slot, `n_slots` (an extra, dropped segment) at padding."""
    ids = ops.where(ops.cast(mask, "bool"), ops.cast(slot, "int32"), ops.full_like(ops.cast(slot, "int32"), n_slots))
    return ops.reshape(ids, (-1,))


@keras.saving.register_keras_serializable(package="hiertcn")
class SlotPooling(keras.layers.Layer):
    """Masked mean of the packed events of every session slot.

    Args:
        slots: int. S, the session slots per row.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `[B, T, D]`, a vector per packed event (B static).
        slot: int tensor `[B, T]`, each event's flat slot `b·S + s` in `0..B·S-1`.
        mask: bool tensor `[B, T]`, true at real events.

    Returns:
        Float tensor `[B, S, D]`: the mean of each slot's real events, exact zeros for a slot
        without any.

    Example:

    >>> pool = SlotPooling(slots=2)
    >>> pool(np.ones((1, 4, 3)), np.array([[0, 0, 1, 0]]), np.array([[1, 1, 1, 0]], bool)).shape
    (1, 2, 3)
    """

    def __init__(self, slots, **kwargs):
        super().__init__(**kwargs)
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError(f"slots must be an int ≥ 1, got {slots!r}")
        self.slots = slots

    def call(self, inputs, slot, mask):
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        batch, width = x.shape[0], x.shape[-1]
        if batch is None:
            raise ValueError("SlotPooling needs a static batch size B (the flat slots are b·S + s)")
        n = batch * self.slots
        ids = _flat_ids(slot, mask, n)
        keep = ops.expand_dims(ops.cast(mask, "bool"), -1)
        # `where`, not a multiply, so that whatever sits at padded steps (even NaN) is dropped.
        x = ops.reshape(ops.where(keep, x, ops.zeros_like(x)), (-1, width))
        total = ops.segment_sum(x, ids, num_segments=n + 1)[:n]
        count = ops.segment_sum(ops.ones_like(x[:, :1]), ids, num_segments=n + 1)[:n]
        mean = total / ops.maximum(count, ops.ones_like(count))
        return ops.reshape(mean, (batch, self.slots, width))

    def get_config(self):
        config = super().get_config()
        config.update({"slots": self.slots})
        return config


@keras.saving.register_keras_serializable(package="hiertcn")
class SlotBroadcast(keras.layers.Layer):
    """Every packed event reads the vector of its session slot.

    Args:
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `[B, S, H]`, a vector per slot.
        slot: int tensor `[B, T]`, each event's flat slot `b·S + s`.
        mask: bool tensor `[B, T]`, true at real events.

    Returns:
        Float tensor `[B, T, H]`: the slot's vector at every real event, zeros at padding.

    Example:

    >>> SlotBroadcast()(np.ones((1, 2, 3)), np.array([[0, 1, 1]]), np.ones((1, 3), bool)).shape
    (1, 3, 3)
    """

    def call(self, inputs, slot, mask):
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        flat = ops.reshape(x, (-1, x.shape[-1]))  # [B·S, H], row b·S + s
        keep = ops.cast(mask, "bool")
        ids = ops.where(keep, ops.cast(slot, "int32"), ops.zeros_like(ops.cast(slot, "int32")))
        out = ops.take(flat, ids, axis=0)  # [B, T, H]
        return ops.where(ops.expand_dims(keep, -1), out, ops.zeros_like(out))
