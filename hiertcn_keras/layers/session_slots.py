"""Between packed events and session slots: AGG(session) from packed rows, and the state back to events.

Shape legend: B batch rows, S session slots, T packed steps per row (the sessions of a row
laid end to end, `hiertcn_keras.data.session_packing`), D and H feature sizes.

Every event of a packed row carries `slot`, the session slot `0..S-1` it belongs to, and
`mask` (false at padding). Both layers go through the one-hot matrix `[B, T, S]` of the real
events' slots, so they are two small batched matmuls on every backend (and their gradients
are too):

- `SlotPooling`: the masked mean of each slot's event vectors, `[B, T, D] → [B, S, D]`:
  what `SessionPooling` computes on the padded `[B, S, L, D]` layout (exact zeros for an
  empty slot);
- `SlotBroadcast`: each event reads its slot's vector, `[B, S, H] → [B, T, H]`: what tiling
  the state over a padded session's L steps does (`RepeatVector`).

Worked example, S = 2, one row: vectors [a, b, c, pad], slot [0, 0, 1, 0], mask [1, 1, 1, 0]:
`SlotPooling` gives [(a + b) / 2, c]; `SlotBroadcast` of [u, v] gives [u, u, v, 0].
"""

import keras
from keras import ops


def _one_hot(slot, mask, slots, dtype):
    """float `[B, T, S]`: 1 where a real event sits in slot s."""
    hot = ops.one_hot(ops.cast(slot, "int32"), slots, dtype=dtype)
    return hot * ops.expand_dims(ops.cast(mask, dtype), -1)


@keras.saving.register_keras_serializable(package="hiertcn")
class SlotPooling(keras.layers.Layer):
    """Masked mean of the packed events of every session slot.

    Args:
        slots: int. S.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `[B, T, D]`, a vector per packed event.
        slot: int tensor `[B, T]`, each event's slot in `0..S-1`.
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
        keep = ops.expand_dims(ops.cast(mask, "bool"), -1)
        # `where`, not a multiply, so that whatever sits at padded steps (even NaN) is dropped.
        x = ops.where(keep, x, ops.zeros_like(x))
        hot = _one_hot(slot, mask, self.slots, x.dtype)  # [B, T, S]
        total = ops.matmul(ops.transpose(hot, (0, 2, 1)), x)  # [B, S, D]
        count = ops.expand_dims(ops.sum(hot, axis=1), -1)  # [B, S, 1]
        return total / ops.maximum(count, ops.ones_like(count))

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
        slot: int tensor `[B, T]`, each event's slot in `0..S-1`.
        mask: bool tensor `[B, T]`, true at real events.

    Returns:
        Float tensor `[B, T, H]`: the slot's vector at every real event, zeros at padding.

    Example:

    >>> SlotBroadcast()(np.ones((1, 2, 3)), np.array([[0, 1, 1]]), np.ones((1, 3), bool)).shape
    (1, 3, 3)
    """

    def call(self, inputs, slot, mask):
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        hot = _one_hot(slot, mask, x.shape[1], x.dtype)  # [B, T, S]
        return ops.matmul(hot, x)
